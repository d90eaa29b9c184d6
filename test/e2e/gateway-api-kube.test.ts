// The Gateway API through a cluster: real `kubectl apply -f` of Istio's bookinfo Gateway API sample against
// the API-server fixture, with a real meshd process on the Kubernetes source. meshd writes the Gateway's and
// HTTPRoute's status (read back with kubectl) and a router proxy of the gateway's pod (an instance of its
// Service bookinfo-gateway-istio) receives the listener and the route over ADS. The gateway's Service and
// pod are applied here: meshd does not create NAME-istio itself yet.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import YAML from 'yaml';
import { FakeApiServer } from '../kube-fixture/server.js';
import { kubectlFor, type Kubectl } from '../kube-fixture/kubectl.js';
import { startMeshd, type Meshd } from './harness/meshd.js';
import { tempDir, waitUntil } from './harness/util.js';
import { RawAdsClient } from '../support/ads-client.js';
import { istioReference } from '../support/istio-reference.js';
import { toYaml } from './harness/mesh.js';

const GATEWAY_NAME_LABEL = 'gateway.networking.k8s.io/gateway-name';
const LDS = 'type.googleapis.com/envoy.config.listener.v3.Listener';
const RDS = 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration';
const HANG_ONLY_MS = 5 * 60_000;

describe('Gateway API through kubectl: status written, the gateway pod served', { timeout: 2 * HANG_ONLY_MS }, () => {
  const tmp = tempDir('gwapi-kube');
  const api = new FakeApiServer();
  let kubectl: Kubectl;
  let meshd: Meshd | undefined;
  let ads: RawAdsClient | undefined;

  before(async () => {
    const url = await api.start();
    kubectl = kubectlFor({ server: url });
    const cluster = [
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'productpage', labels: { app: 'productpage' } }, spec: { selector: { app: 'productpage' }, ports: [{ name: 'http', port: 9080 }] } },
      {
        apiVersion: 'v1', kind: 'Service', metadata: { name: 'bookinfo-gateway-istio', labels: { [GATEWAY_NAME_LABEL]: 'bookinfo-gateway' } },
        spec: { type: 'LoadBalancer', selector: { [GATEWAY_NAME_LABEL]: 'bookinfo-gateway' }, ports: [{ name: 'status-port', port: 15021 }, { name: 'http', port: 80 }] },
      },
      {
        apiVersion: 'v1', kind: 'Pod', metadata: { name: 'bookinfo-gateway-istio-1', labels: { [GATEWAY_NAME_LABEL]: 'bookinfo-gateway' } },
        spec: { containers: [{ name: 'istio-proxy', image: 'auto' }] }, status: { phase: 'Running', podIP: '10.1.2.3', conditions: [{ type: 'Ready', status: 'True' }] },
      },
    ];
    const clusterFile = path.join(tmp.dir, 'cluster.yaml');
    writeFileSync(clusterFile, toYaml(cluster));
    await kubectl.run(['apply', '-f', clusterFile]);
    meshd = await startMeshd({ configDir: tempDir('gwapi-empty').dir, extraArgs: ['--kubeconfig', kubectl.kubeconfig] });
    const sample = path.join(tmp.dir, 'bookinfo-gateway.yaml');
    writeFileSync(sample, readFileSync(istioReference('samples', 'bookinfo', 'gateway-api', 'bookinfo-gateway.yaml'), 'utf8'));
    const out = await kubectl.run(['apply', '-f', sample]);
    assert.match(out, /gateway.gateway.networking.k8s.io\/bookinfo-gateway created/);
    assert.match(out, /httproute.gateway.networking.k8s.io\/bookinfo created/);
  });

  after(async () => {
    ads?.close();
    const code = await meshd?.stop();
    await api.stop();
    kubectl?.cleanup();
    tmp.remove();
    assert.equal(code, 0, 'meshd exits 0 on SIGTERM');
  });

  test('kubectl get shows the Gateway programmed and the HTTPRoute accepted', async () => {
    type Cond = { type: string; status: string };
    const gw = await waitUntil('Gateway status', async () => {
      const o = YAML.parse(await kubectl.run(['get', 'gateways.gateway.networking.k8s.io', 'bookinfo-gateway', '-o', 'yaml'])) as { status?: { conditions?: Cond[]; listeners?: { attachedRoutes: number }[] } };
      return o.status?.conditions?.some((c) => c.type === 'Programmed') ? o.status : undefined;
    }, { timeoutMs: HANG_ONLY_MS, intervalMs: 200 });
    assert.deepEqual(gw.conditions!.map((c) => `${c.type}=${c.status}`).sort(), ['Accepted=True', 'Programmed=True', 'ResolvedRefs=True']);
    assert.equal(gw.listeners![0]!.attachedRoutes, 1);
    const route = await waitUntil('HTTPRoute status', async () => {
      const o = YAML.parse(await kubectl.run(['get', 'httproute', 'bookinfo', '-o', 'yaml'])) as { status?: { parents?: { conditions: Cond[] }[] } };
      return o.status?.parents?.length ? o.status : undefined;
    }, { timeoutMs: HANG_ONLY_MS, intervalMs: 200 });
    assert.deepEqual(route.parents![0]!.conditions.map((c) => `${c.type}=${c.status}`).sort(), ['Accepted=True', 'ResolvedRefs=True']);
  });

  test("the gateway's router proxy receives the listener and the route to productpage", async () => {
    ads = new RawAdsClient(meshd!.grpcAddr);
    const node = {
      id: 'router~10.1.2.3~bookinfo-gateway-istio-1.default~default.svc.cluster.local',
      metadata: { NAMESPACE: 'default', LABELS: { [GATEWAY_NAME_LABEL]: 'bookinfo-gateway' }, ISTIO_VERSION: '1.24.0', CLUSTER_ID: 'Kubernetes' },
    };
    ads.send({ type_url: LDS, node });
    const lds = await ads.next((r) => r.type_url === LDS && r.resources.length > 0, HANG_ONLY_MS);
    assert.deepEqual(ads.decode(lds).map((l) => l['name']), ['0.0.0.0_80']);
    ads.ack(lds);
    ads.send({ type_url: RDS, resource_names: ['http.80'] });
    const rds = await ads.next((r) => r.type_url === RDS && r.resources.length > 0, HANG_ONLY_MS);
    assert.match(JSON.stringify(ads.decode(rds)), /outbound\|9080\|\|productpage\.default\.svc\.cluster\.local/);
  });
});
