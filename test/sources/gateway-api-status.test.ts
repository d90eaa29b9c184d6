// Gateway API status write-back (src/sources/kube/gateway-api-status.ts) against the API-server fixture: the
// statuses the conversion computes for the Gateway API objects the Kubernetes source holds are written to
// their status subresource (Gateway Accepted/Programmed with listeners, route parents Accepted/ResolvedRefs,
// GatewayClass Accepted), a second snapshot with nothing changed writes nothing, and a condition whose
// status did not change keeps its lastTransitionTime.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigStore } from '../../src/config/store.js';
import { PushContext } from '../../src/model/push-context.js';
import { KubeSource } from '../../src/sources/kube/kube-source.js';
import { mergedStatus } from '../../src/sources/kube/gateway-api-status.js';
import { silentLogger } from '../../src/telemetry/log.js';
import { FakeApiServer } from '../kube-fixture/server.js';
import { kubeConfigFor, until } from '../support/kube.js';
import { gatewayApiObjects } from '../support/kube-objects.js';

type Cond = { type: string; status: string; lastTransitionTime: string };
const GROUP = 'gateway.networking.k8s.io';
const GATEWAY_NAME_LABEL = 'gateway.networking.k8s.io/gateway-name';

describe('Gateway API status write-back', () => {
  const api = new FakeApiServer();
  const store = new ConfigStore();
  let src: KubeSource;
  const statusOf = (kind: string, name: string, version = 'v1') => api.get(`${GROUP}/${version}`, kind, kind === 'GatewayClass' ? undefined : 'default', name)?.status as Record<string, unknown> | undefined;
  const patches = () => api.requests.filter((r) => r.verb === 'patch' && r.subresource === 'status' && r.group === GROUP).length;

  before(async () => {
    const url = await api.start();
    api.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'default' }, spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80 }, { name: 'tls', port: 443 }, { name: 'tcp', port: 9000 }] } });
    api.create({
      apiVersion: 'v1', kind: 'Service', metadata: { name: 'web-istio', namespace: 'default' },
      spec: { type: 'LoadBalancer', clusterIP: '10.96.0.80', selector: { [GATEWAY_NAME_LABEL]: 'web' }, ports: [{ name: 'http', port: 80 }, { name: 'tls', port: 443 }, { name: 'tcp', port: 9000 }] },
    });
    // the gateway's pod (what the Deployment web-istio runs): the Service has endpoints, the Gateway is programmed
    api.create({
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-istio-1', namespace: 'default', labels: { [GATEWAY_NAME_LABEL]: 'web' } },
      spec: { containers: [{ name: 'istio-proxy' }] }, status: { phase: 'Running', podIP: '10.1.0.80', conditions: [{ type: 'Ready', status: 'True' }] },
    });
    for (const o of gatewayApiObjects('default')) api.create(o);
    src = new KubeSource({ kc: kubeConfigFor(url), store, log: silentLogger, status: { namespace: 'istio-system', name: 'istio-status-leader', identity: 'gwapi-status-test', retryPeriodMs: 50 } });
    src.start();
    await src.waitSynced();
    await until('leader', () => src.leader?.isLeader === true);
  });
  after(async () => {
    await src.stop();
    await api.stop();
  });

  it("writes the conversion's statuses to every Gateway API object", async () => {
    src.gatewayApiStatus!.setDesired(new PushContext(store, 'v1').gatewayApiStatuses);
    await until('statuses written', () => ['HTTPRoute', 'GRPCRoute', 'TLSRoute', 'TCPRoute'].every((k) => statusOf(k, k === 'HTTPRoute' ? 'web' : k === 'GRPCRoute' ? 'grpc' : k.slice(0, 3).toLowerCase())) && statusOf('Gateway', 'web') && statusOf('GatewayClass', 'istio'));
    const gw = statusOf('Gateway', 'web') as { conditions: Cond[]; listeners: { name: string; attachedRoutes: number }[] };
    assert.deepEqual(gw.conditions.map((c) => `${c.type}=${c.status}`).sort(), ['Accepted=True', 'Programmed=True', 'ResolvedRefs=True']);
    assert.deepEqual(gw.listeners.map((l) => l.name), ['http', 'tls', 'tcp']);
    const route = statusOf('HTTPRoute', 'web') as { parents: { controllerName: string; parentRef: { name: string }; conditions: Cond[] }[] };
    assert.equal(route.parents[0]!.controllerName, 'istio.io/gateway-controller');
    assert.deepEqual(route.parents[0]!.conditions.map((c) => `${c.type}=${c.status}`).sort(), ['Accepted=True', 'ResolvedRefs=True']);
    const cls = statusOf('GatewayClass', 'istio') as { conditions: Cond[] };
    assert.deepEqual(cls.conditions.map((c) => `${c.type}=${c.status}`), ['Accepted=True']);
  });

  it('writes nothing when a new snapshot computes the same statuses', async () => {
    await until('informers hold the written statuses', () => (src.informer('KubernetesGateway')?.get('default', 'web')?.['status'] as { conditions?: unknown[] } | undefined)?.conditions !== undefined);
    await until('no write pending', () => { const n = patches(); return new Promise<boolean>((r) => setTimeout(() => r(patches() === n), 200)); });
    const before = patches();
    src.gatewayApiStatus!.setDesired(new PushContext(store, 'v2').gatewayApiStatuses);
    await new Promise((r) => setImmediate(r));
    await until('the pass ran', () => new Promise<boolean>((r) => setTimeout(() => r(true), 300)));
    assert.equal(patches(), before);
  });

  it("keeps a condition's lastTransitionTime while its status is unchanged, and other controllers' route parents", () => {
    const current = {
      parents: [
        { parentRef: { name: 'other' }, controllerName: 'example.com/other', conditions: [] },
        { parentRef: { name: 'web' }, controllerName: 'istio.io/gateway-controller', conditions: [{ type: 'Accepted', status: 'True', lastTransitionTime: 'T0' }] },
      ],
    };
    const want = { parents: [{ parentRef: { name: 'web' }, controllerName: 'istio.io/gateway-controller', conditions: [{ type: 'Accepted', status: 'True', lastTransitionTime: 'T1' }, { type: 'ResolvedRefs', status: 'False', lastTransitionTime: 'T1' }] }] };
    const merged = mergedStatus(want, current) as { parents: { controllerName: string; conditions: Cond[] }[] };
    assert.deepEqual(merged.parents.map((p) => p.controllerName), ['example.com/other', 'istio.io/gateway-controller']);
    assert.deepEqual(merged.parents[1]!.conditions.map((c) => c.lastTransitionTime), ['T0', 'T1']);
  });
});
