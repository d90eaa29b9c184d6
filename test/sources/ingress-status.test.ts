// Kubernetes Ingress status.loadBalancer write-back (src/sources/kube/ingress-status.ts) against the
// API-server fixture, objects applied and read back with real kubectl: an Ingress meshd handles shows the
// ingress Service's addresses (its load balancer's IPs/hostnames, then externalIPs; ExternalName's name);
// they follow the Service; a deleted Service clears them; Ingresses of another class are left alone; mesh
// config ingressService picks the Service. Plus istiod's address rules as pure functions.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_MESH_CONFIG, type MeshConfig } from '../../src/config/mesh-config.js';
import { ConfigStore } from '../../src/config/store.js';
import { KubeSource } from '../../src/sources/kube/kube-source.js';
import { ingressServiceAddresses, loadBalancerIngress, ingressStatusPatch } from '../../src/sources/kube/ingress-status.js';
import type { KubeObject } from '../../src/sources/kube/normalize.js';
import { silentLogger } from '../../src/telemetry/log.js';
import { FakeApiServer } from '../kube-fixture/server.js';
import { kubectlAvailable } from '../kube-fixture/kubectl.js';
import { fixtureCluster } from '../install/fixture-cluster.js';
import { kubeConfigFor, until } from '../support/kube.js';

const service = (spec: Record<string, unknown>, status: Record<string, unknown> = {}) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'istio-ingressgateway', namespace: 'istio-system' }, spec, status }) as unknown as KubeObject;

describe("istiod's ingress addresses", () => {
  it('load balancer IPs and hostnames, then externalIPs; ExternalName; no Service → none', () => {
    assert.deepEqual(ingressServiceAddresses(service({ type: 'LoadBalancer', externalIPs: ['198.51.100.7'] }, { loadBalancer: { ingress: [{ ip: '203.0.113.10' }, { hostname: 'lb.example.com' }] } })), ['203.0.113.10', 'lb.example.com', '198.51.100.7']);
    assert.deepEqual(ingressServiceAddresses(service({ type: 'ExternalName', externalName: 'gw.example.net' })), ['gw.example.net']);
    assert.deepEqual(ingressServiceAddresses(undefined), []);
  });
  it('written as ip/hostname entries sorted by hostname, then IP; a patch only when they differ, null to clear', () => {
    const want = loadBalancerIngress(['lb.example.com', '203.0.113.10', '2001:db8::1', '198.51.100.7']);
    assert.deepEqual(want, [{ ip: '198.51.100.7' }, { ip: '2001:db8::1' }, { ip: '203.0.113.10' }, { hostname: 'lb.example.com' }]);
    const ing = { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'web', namespace: 'default' }, status: { loadBalancer: { ingress: want } } } as unknown as KubeObject;
    assert.equal(ingressStatusPatch(ing, want), undefined);
    assert.deepEqual(ingressStatusPatch(ing, []), { loadBalancer: { ingress: null } });
  });
});

describe('Ingress status.loadBalancer from the ingress Service (API-server fixture, real kubectl)', { skip: !kubectlAvailable() && 'no kubectl' }, () => {
  const api = new FakeApiServer();
  const cluster = fixtureCluster(api, 'meshd-ingress-status-');
  const kubectl = (args: string[], input?: string) => cluster.kubectl().run(args, input);
  const address = async (name: string) => kubectl(['get', 'ingress', name, '-n', 'default', '-o', 'jsonpath={.status.loadBalancer.ingress}']);
  let mesh: MeshConfig = DEFAULT_MESH_CONFIG;
  let src: KubeSource | undefined;

  const MANIFEST = `
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: { name: istio }
spec: { controller: istio.io/ingress-controller }
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: web, namespace: default }
spec:
  ingressClassName: istio
  rules: [{ host: web.example.com, http: { paths: [{ path: /, pathType: Prefix, backend: { service: { name: web, port: { number: 80 } } } }] } }]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: legacy, namespace: default, annotations: { kubernetes.io/ingress.class: istio } }
spec:
  rules: [{ host: legacy.example.com, http: { paths: [{ path: /, pathType: Prefix, backend: { service: { name: web, port: { number: 80 } } } }] } }]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: other, namespace: default, annotations: { kubernetes.io/ingress.class: nginx } }
spec:
  rules: [{ host: other.example.com, http: { paths: [{ path: /, pathType: Prefix, backend: { service: { name: web, port: { number: 80 } } } }] } }]
---
apiVersion: v1
kind: Service
metadata: { name: istio-ingressgateway, namespace: istio-system }
spec:
  type: LoadBalancer
  selector: { istio: ingressgateway }
  externalIPs: [198.51.100.7]
  ports: [{ name: http2, port: 80, targetPort: 8080 }]
`;

  /** Plays the cloud's load balancer controller: writes the Service's status. */
  const setLoadBalancer = (ingress: { ip?: string; hostname?: string }[]) => {
    const s = api.get('v1', 'Service', 'istio-system', 'istio-ingressgateway')!;
    api.update({ ...s, status: { loadBalancer: { ingress } } });
  };

  it('an Ingress meshd handles shows the ingress Service\'s addresses; another class is left alone', async () => {
    await kubectl(['apply', '-f', '-'], MANIFEST);
    setLoadBalancer([{ ip: '203.0.113.10' }]);
    const url = api.url;
    src = new KubeSource({
      kc: kubeConfigFor(url), store: new ConfigStore(), log: silentLogger, mesh: () => mesh,
      status: { namespace: 'istio-system', name: 'istio-leader', identity: 'meshd-a', leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 100 },
    });
    src.start();
    await src.waitSynced();
    const both = '[{"ip":"198.51.100.7"},{"ip":"203.0.113.10"}]';
    await until('web shows the load balancer and external IP', async () => (await address('web')) === both || undefined, 60_000);
    await until('legacy (class by annotation) too', async () => (await address('legacy')) === both || undefined, 60_000);
    assert.equal(await address('other'), '', 'an nginx Ingress is not meshd\'s to write');
  });

  it('follows the Service: a hostname from the load balancer, then the Service deleted clears the address', async () => {
    setLoadBalancer([{ hostname: 'lb.example.com' }]);
    await until('web shows the hostname', async () => (await address('web')) === '[{"ip":"198.51.100.7"},{"hostname":"lb.example.com"}]' || undefined, 60_000);
    await kubectl(['delete', 'service', 'istio-ingressgateway', '-n', 'istio-system']);
    await until('web has no address', async () => (await address('web')) === '' || undefined, 60_000);
  });

  it('mesh config ingressService names the Service (in the root namespace); ExternalName gives its name', async () => {
    await kubectl(['apply', '-f', '-'], 'apiVersion: v1\nkind: Service\nmetadata: { name: edge, namespace: istio-system }\nspec: { type: ExternalName, externalName: edge.example.net }\n');
    mesh = { ...DEFAULT_MESH_CONFIG, ingress: { ingressService: 'edge' } };
    src!.ingressStatus!.sync(); // what the daemon does when the mesh config file changes
    await until('web shows the ExternalName', async () => (await address('web')) === '[{"hostname":"edge.example.net"}]' || undefined, 60_000);
    assert.equal(await address('other'), '');
    await src!.stop();
  });
});
