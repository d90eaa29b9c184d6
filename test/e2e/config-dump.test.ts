// What every proxy was sent, from a running meshd: /debug/config_dump (Envoy's ConfigDump of what the
// proxy holds), /debug/registryz, /debug/endpointz, /debug/push_status in istiod's shapes, and the xDS
// debug types istioctl asks for on the ADS port (istio.io/debug/syncz, istio.io/debug/config_dump).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { lookupType, loadDebugProtos, structToJson } from '../../src/envoy/protos.js';
import { TYPE } from '../../src/xds/resource-types.js';
import { RawAdsClient, type Response } from '../support/ads-client.js';
import type { SotwFollower } from '../support/xds-follow.js';
import { startMeshd, type Meshd } from './harness/meshd.js';
import { writeMesh } from './harness/mesh.js';
import { connectSleep, REVIEWS, reviewsMesh, SLEEP_NODE } from './harness/operator.js';
import { exitWhenIdle, tempDir } from './harness/util.js';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const ADMIN = 'type.googleapis.com/envoy.admin.v3.';
const dumpOf = (d: { configs: Obj[] }, kind: string): Obj => d.configs.find((c) => c['@type'] === `${ADMIN}${kind}`)!;

function decodeAny(a: { type_url: string; value: Uint8Array }): Obj {
  const t = lookupType(a.type_url.slice(a.type_url.lastIndexOf('/') + 1));
  return t.toObject(t.decode(a.value), { longs: String, enums: String, json: true }) as Obj;
}

describe('config dump and istiod debug pages', { timeout: 300_000 }, () => {
  const tmp = tempDir('config-dump');
  let meshd: Meshd;
  let sidecar: SotwFollower;

  before(async () => {
    writeMesh(tmp.dir, reviewsMesh());
    meshd = await startMeshd({ configDir: tmp.dir, startTimeoutMs: 120_000 });
    sidecar = await connectSleep(meshd);
  });

  after(async () => {
    sidecar?.close();
    const code = await meshd?.stop();
    tmp.remove();
    exitWhenIdle();
    assert.equal(code, 0);
  });

  test('/debug/config_dump?proxyID=POD.NS shows exactly what the sidecar holds, with versions and times', async () => {
    const dump = await meshd.getJson<{ configs: Obj[] }>('/debug/config_dump?proxyID=sleep-1.default');
    const types = dump.configs.map((c) => String(c['@type']).replace(ADMIN, ''));
    assert.deepEqual(types, ['BootstrapConfigDump', 'ClustersConfigDump', 'EndpointsConfigDump', 'ListenersConfigDump', 'ScopedRoutesConfigDump', 'RoutesConfigDump', 'SecretsConfigDump']);

    const clusters = dumpOf(dump, 'ClustersConfigDump').dynamic_active_clusters as Obj[];
    assert.deepEqual(clusters.map((c) => c.cluster.name).sort(), [...sidecar.held.get(TYPE.CDS)!.keys()].sort());
    assert.ok(clusters.some((c) => c.cluster.name === `outbound|9080|v2|${REVIEWS}`), 'the subset cluster of the DestinationRule');
    for (const c of clusters) {
      assert.equal(c.cluster['@type'], TYPE.CDS);
      assert.ok(c.version_info, 'each cluster has a version');
      assert.ok(!Number.isNaN(Date.parse(c.last_updated)), 'each cluster has a last_updated time');
    }
    const listeners = dumpOf(dump, 'ListenersConfigDump').dynamic_listeners as Obj[];
    assert.deepEqual(listeners.map((l) => l.name).sort(), [...sidecar.held.get(TYPE.LDS)!.keys()].sort());
    assert.ok(listeners.every((l) => l.active_state.listener.name === l.name && l.active_state.version_info));
    const routes = dumpOf(dump, 'RoutesConfigDump').dynamic_route_configs as Obj[];
    assert.deepEqual(routes.map((r) => r.route_config.name).sort(), [...sidecar.held.get(TYPE.RDS)!.keys()].sort());
    const endpoints = dumpOf(dump, 'EndpointsConfigDump').dynamic_endpoint_configs as Obj[];
    const v2 = endpoints.find((e) => e.endpoint_config.cluster_name === `outbound|9080|v2|${REVIEWS}`);
    assert.ok(v2, 'the v2 subset has its load assignment');
    assert.deepEqual(v2.endpoint_config.endpoints.flatMap((g: Obj) => g.lb_endpoints.map((e: Obj) => e.endpoint.address.socket_address.address)), ['10.1.0.12']);

    // the secrets the sidecar's config asks SDS for are named, and nothing else is there
    const secrets = dumpOf(dump, 'SecretsConfigDump');
    assert.ok((secrets.dynamic_warming_secrets as Obj[]).some((s) => s.name === 'default'), JSON.stringify(secrets));
    assert.doesNotMatch(JSON.stringify(dump), /PRIVATE KEY|private_key"\s*:\s*\{\s*"inline/);

    // istiod's default: without include_eds… this page includes EDS unless told not to
    const noEds = await meshd.getJson<{ configs: Obj[] }>('/debug/config_dump?proxyID=sleep-1.default&include_eds=false');
    assert.ok(!noEds.configs.some((c) => c['@type'] === `${ADMIN}EndpointsConfigDump`));
    // the full node id names the proxy too
    const byNodeId = await meshd.getJson<{ configs: Obj[] }>(`/debug/config_dump?proxyID=${encodeURIComponent(SLEEP_NODE.id)}`);
    assert.equal((dumpOf(byNodeId, 'ClustersConfigDump').dynamic_active_clusters as Obj[]).length, clusters.length);
  });

  test('config_dump answers 400 without a proxyID and 404 for a proxy that is not connected', async () => {
    const none = await meshd.getText('/debug/config_dump');
    assert.equal(none.status, 400);
    assert.match(none.body, /proxyID/);
    const missing = await meshd.getText('/debug/config_dump?proxyID=nobody.default');
    assert.equal(missing.status, 404);
    assert.match(missing.body, /nobody\.default.*not connected/);
  });

  test('/debug/registryz, /debug/endpointz and /debug/push_status have istiod\'s shapes', async () => {
    const registry = await meshd.getJson<Obj[]>('/debug/registryz');
    const reviews = registry.find((s) => s.hostname === REVIEWS);
    assert.ok(reviews);
    assert.equal(reviews.Attributes.Name, 'reviews');
    assert.equal(reviews.Attributes.Namespace, 'default');
    assert.equal(reviews.Attributes.ServiceRegistry, 'Kubernetes');
    assert.deepEqual(reviews.ports, [{ name: 'http', port: 9080, protocol: 'HTTP' }]);

    const shards = await meshd.getJson<Obj>('/debug/endpointz');
    const eps = shards[REVIEWS].default.Shards['Kubernetes/Kubernetes'] as Obj[];
    assert.deepEqual(eps.map((e) => e.Addresses[0]).sort(), ['10.1.0.11', '10.1.0.12']);
    const v1 = eps.find((e) => e.Addresses[0] === '10.1.0.11')!;
    assert.equal(v1.Labels.version, 'v1');
    assert.equal(v1.ServiceAccount, 'spiffe://cluster.local/ns/default/sa/reviews');
    assert.equal(v1.ServicePortName, 'http');
    assert.equal(v1.HealthStatus, 1);
    assert.deepEqual(Object.keys(shards[REVIEWS].default.ServiceAccounts), ['spiffe://cluster.local/ns/default/sa/reviews']);

    const status = await meshd.getJson<Obj>('/debug/push_status');
    assert.equal(typeof status, 'object');
    assert.ok(!status.pilot_eds_no_instances?.[`outbound|9080||${REVIEWS}`], 'reviews has endpoints');
  });

  test('istioctl\'s xDS debug types: istio.io/debug/syncz and istio.io/debug/config_dump on the ADS port', async () => {
    loadDebugProtos();
    const client = new RawAdsClient(meshd.grpcAddr);
    try {
      client.send({ type_url: 'istio.io/debug/syncz', node: { id: 'sidecar~127.0.0.1~istioctl.default~default.svc.cluster.local', metadata: { GENERATOR: 'event' } } });
      const syncz: Response = await client.next((r) => r.type_url === 'istio.io/debug/syncz', 60_000);
      client.ack(syncz);
      const configs = syncz.resources.map(decodeAny);
      assert.deepEqual(configs.map((c) => c.node.id), [SLEEP_NODE.id], 'the debug client itself is not a proxy');
      const meta = structToJson(lookupType('envoy.service.status.v3.ClientConfig').toObject(lookupType('envoy.service.status.v3.ClientConfig').decode(syncz.resources[0]!.value)).node.metadata);
      assert.equal(meta.NAMESPACE, 'default');
      assert.equal(meta.CLUSTER_ID, 'Kubernetes');
      const byType = Object.fromEntries((configs[0]!.generic_xds_configs as Obj[]).map((g) => [g.type_url, g]));
      for (const t of [TYPE.CDS, TYPE.LDS, TYPE.RDS, TYPE.EDS]) {
        assert.equal(byType[t]?.config_status, 'SYNCED', t);
        assert.ok(byType[t].last_updated, `${t} last_updated`);
      }

      client.send({ type_url: 'istio.io/debug/config_dump', resource_names: ['sleep-1.default'] });
      const dump = await client.next((r) => r.type_url === 'istio.io/debug/config_dump', 60_000);
      const parts = dump.resources.map(decodeAny);
      const clusters = parts.find((p) => p['@type'] === undefined && p.dynamic_active_clusters) ?? parts.find((p) => p.dynamic_active_clusters);
      assert.ok(clusters, 'a ClustersConfigDump');
      assert.deepEqual(dump.resources.map((r) => r.type_url.replace(ADMIN, '')), ['BootstrapConfigDump', 'ClustersConfigDump', 'ListenersConfigDump', 'ScopedRoutesConfigDump', 'RoutesConfigDump', 'SecretsConfigDump']);
      assert.equal((clusters.dynamic_active_clusters as Obj[]).length, sidecar.held.get(TYPE.CDS)!.size);
    } finally {
      client.close();
    }
  });
});
