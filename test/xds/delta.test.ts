import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { ConfigStore } from '../../src/config/store.js';
import { PushContext } from '../../src/model/push-context.js';
import { silentLogger } from '../../src/telemetry/log.js';
import { Metrics } from '../../src/telemetry/metrics.js';
import { adsz, syncz } from '../../src/xds/debug.js';
import { DiscoveryServer } from '../../src/xds/server.js';
import { TYPE } from '../../src/xds/resource-types.js';
import type { Generator } from '../../src/xds/generators/generator.js';
import { encodeResource } from '../../src/xds/cache.js';
import { decodeDeltaDiscoveryResponse, encodeDeltaDiscoveryResponse } from '../../src/xds/delta-wire.js';
import { decodeMessage } from '../../src/envoy/protos.js';
import { RawAdsClient, RawDeltaClient, type DeltaResponse } from '../support/ads-client.js';

// Protocol behaviour of Delta ADS (DeltaAggregatedResources) against a tiny generator: one EDS cluster
// per service port (CDS wildcard = the services of the proxy's namespace and `default`; others only by
// name) and one ClusterLoadAssignment per cluster. Clusters carry the proxy namespace, so a cache that
// ignored the class key would be caught.

const origin = { source: 'memory', label: 'test' } as const;

function service(name: string, ns = 'default', port = 80) {
  return { apiVersion: 'v1', kind: 'Service' as const, metadata: { name, namespace: ns }, spec: { ports: [{ name: 'grpc', port }], selector: { app: name } } };
}
function pod(name: string, ip: string, app: string, ns = 'default') {
  return { apiVersion: 'v1', kind: 'Pod' as const, metadata: { name, namespace: ns, labels: { app } }, spec: {}, status: { podIP: ip, phase: 'Running' } };
}
const cluster = (svc: string, ns = 'default', port = 80) => `outbound|${port}||${svc}.${ns}.svc.cluster.local`;

let builds = 0;
const testGenerator: Generator = {
  name: 'grpc',
  classKey: (_ctx, proxy) => proxy.namespace,
  wildcardNames(type, ctx, proxy) {
    if (type !== TYPE.CDS) return [];
    return ctx.registry.services
      .filter((s) => s.namespace === 'default' || s.namespace === proxy.namespace)
      .flatMap((s) => s.ports.map((p) => `outbound|${p.port}||${s.hostname}`));
  },
  generate(type, ctx, proxy, name) {
    builds++;
    const [, port, , host] = name.split('|');
    const svc = host ? ctx.service(host) : undefined;
    if (!svc || !svc.ports.some((p) => p.port === Number(port))) return undefined;
    if (type === TYPE.CDS) {
      return { name, type: 'EDS', eds_cluster_config: { service_name: name, eds_config: { ads: {} } }, alt_stat_name: `for-${proxy.namespace}` };
    }
    if (type === TYPE.EDS) {
      const eps = ctx.endpoints(svc.hostname, Number(port));
      return { cluster_name: name, endpoints: [{ lb_endpoints: eps.map((e) => ({ endpoint: { address: { socket_address: { address: e.address, port_value: e.port } } } })) }] };
    }
    return undefined;
  },
};

const node = (pod: string, ns = 'default') => ({ id: `sidecar~10.0.0.1~${pod}.${ns}~${ns}.svc.cluster.local`, metadata: { GENERATOR: 'grpc', NAMESPACE: ns } });

describe('Delta wire encoding', () => {
  it('splices cached resources into a DeltaDiscoveryResponse that Envoy\'s proto decodes field for field', () => {
    const a = encodeResource(TYPE.CDS, 'c1', { name: 'c1', type: 'EDS', eds_cluster_config: { eds_config: { ads: {} } } });
    const bytes = encodeDeltaDiscoveryResponse({ systemVersionInfo: 'v9', typeUrl: TYPE.CDS, nonce: 'n-1', resources: [a], removed: ['gone-1', 'gone-2'], controlPlane: 'meshd' });
    const decoded = decodeDeltaDiscoveryResponse(bytes) as {
      system_version_info: string; type_url: string; nonce: string; removed_resources: string[]; control_plane: { identifier: string };
      resources: { name: string; version: string; resource: { type_url: string; value: Uint8Array } }[];
    };
    assert.equal(decoded.system_version_info, 'v9');
    assert.equal(decoded.type_url, TYPE.CDS);
    assert.equal(decoded.nonce, 'n-1');
    assert.deepEqual(decoded.removed_resources, ['gone-1', 'gone-2']);
    assert.equal(decoded.control_plane.identifier, 'meshd');
    assert.equal(decoded.resources.length, 1);
    assert.equal(decoded.resources[0]!.name, 'c1');
    assert.equal(decoded.resources[0]!.version, a.hash);
    assert.equal(decoded.resources[0]!.resource.type_url, TYPE.CDS);
    assert.deepEqual(decodeMessage('envoy.config.cluster.v3.Cluster', decoded.resources[0]!.resource.value), { name: 'c1', type: 'EDS', eds_cluster_config: { eds_config: { ads: {} } } });
  });
});

describe('ADS server (Delta)', () => {
  const store = new ConfigStore();
  const metrics = new Metrics();
  const ds = new DiscoveryServer({ log: silentLogger, metrics, generators: { grpc: testGenerator } });
  const server = new grpc.Server();
  let addr = '';
  let version = 0;
  const clients: { close(): void }[] = [];
  const connect = () => {
    const c = new RawDeltaClient(addr);
    clients.push(c);
    return c;
  };
  const push = () => {
    ds.push(new PushContext(store, `v${++version}`));
    return ds.settled();
  };
  const ofType = (type: string) => (r: DeltaResponse) => r.type_url === type;

  before(async () => {
    store.upsert('Service', service('a'), origin, 't');
    store.upsert('Service', service('b'), origin, 't');
    store.upsert('Service', service('x', 'other'), origin, 't');
    store.upsert('Pod', pod('a-1', '10.1.0.1', 'a'), origin, 't');
    store.upsert('Pod', pod('b-1', '10.1.0.2', 'b'), origin, 't');
    ds.register(server);
    const port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
    addr = `127.0.0.1:${port}`;
    await push();
  });
  after(() => {
    for (const c of clients) c.close();
    server.forceShutdown();
  });

  it('answers a first CDS request naming nothing with the wildcard set, each resource versioned by its content hash', async () => {
    const c = connect();
    c.send({ node: node('w1'), type_url: TYPE.CDS });
    const r = await c.next();
    assert.equal(r.type_url, TYPE.CDS);
    assert.equal(r.system_version_info, `v${version}`);
    assert.ok(r.nonce);
    assert.deepEqual(c.names(r).sort(), [cluster('a'), cluster('b')]);
    assert.deepEqual(r.removed_resources, []);
    for (const res of r.resources) assert.match(res.version, /^[\w-]{16}$/);
    assert.notEqual(r.resources[0]!.version, r.resources[1]!.version);
    assert.deepEqual(c.decode(r).map((x) => x.alt_stat_name), ['for-default', 'for-default']);
    c.ack(r);
    await c.quiet(TYPE.CDS, 150);
  });

  it('treats an explicit "*" as wildcard and mixes it with names outside the wildcard set', async () => {
    const c = connect();
    c.send({ node: node('w2'), type_url: TYPE.CDS, resource_names_subscribe: ['*', cluster('x', 'other')] });
    const r = await c.next();
    assert.deepEqual(c.names(r).sort(), [cluster('a'), cluster('b'), cluster('x', 'other')]);
    // leaving the wildcard keeps the explicit name and sends nothing
    c.ack(r, { unsubscribe: ['*'] });
    await c.quiet(TYPE.CDS, 150);
    const sub = (adsz(ds) as { connections: { proxy: string; mode: string; subscriptions: Record<string, unknown> }[] }).connections.find((x) => x.proxy.includes('~w2.'))!;
    assert.equal(sub.mode, 'delta');
    assert.deepEqual(sub.subscriptions.CDS, [cluster('x', 'other')]);
  });

  it('subscribes and unsubscribes EDS by name, sending only what each request adds', async () => {
    const c = connect();
    c.send({ node: node('s1'), type_url: TYPE.EDS, resource_names_subscribe: [cluster('a')] });
    const r1 = await c.next();
    assert.deepEqual(c.names(r1), [cluster('a')]);
    c.ack(r1, { subscribe: [cluster('b')] });
    const r2 = await c.next();
    assert.deepEqual(c.names(r2), [cluster('b')], 'a is not resent when b is added');
    c.ack(r2, { unsubscribe: [cluster('a')] });
    await c.quiet(TYPE.EDS, 150);
    // a change to the unsubscribed resource is not sent; a change to the subscribed one is, alone
    store.upsert('Pod', pod('a-2', '10.1.0.3', 'a'), origin, 't');
    await push();
    await c.quiet(TYPE.EDS, 150);
    store.upsert('Pod', pod('b-2', '10.1.0.4', 'b'), origin, 't');
    const next = c.next(ofType(TYPE.EDS));
    await push();
    const r3 = await next;
    assert.deepEqual(c.names(r3), [cluster('b')]);
    const cla = c.decode(r3)[0] as { endpoints: { lb_endpoints: unknown[] }[] };
    assert.equal(cla.endpoints[0]!.lb_endpoints.length, 2);
  });

  it('resends a resource on resubscription, and reports a subscribed name that does not exist as removed, once', async () => {
    const c = connect();
    c.send({ node: node('s2'), type_url: TYPE.EDS, resource_names_subscribe: [cluster('a')] });
    const r1 = await c.next();
    c.ack(r1, { unsubscribe: [cluster('a')] });
    await c.quiet(TYPE.EDS, 100);
    c.send({ type_url: TYPE.EDS, resource_names_subscribe: [cluster('a'), cluster('ghost')] });
    const r2 = await c.next();
    assert.deepEqual(c.names(r2), [cluster('a')], 'the unchanged resource comes again: the client dropped it');
    assert.equal(r2.resources[0]!.version, r1.resources[0]!.version);
    assert.deepEqual(r2.removed_resources, [cluster('ghost')]);
    c.ack(r2);
    await push();
    await c.quiet(TYPE.EDS, 150);
  });

  it('sends removed_resources when a resource leaves the snapshot, and the resource when it comes back', async () => {
    store.upsert('Service', service('c'), origin, 't');
    await push();
    const c = connect();
    c.send({ node: node('r1'), type_url: TYPE.CDS });
    const r1 = await c.next();
    assert.ok(c.names(r1).includes(cluster('c')));
    c.ack(r1);
    c.send({ type_url: TYPE.EDS, resource_names_subscribe: [cluster('c')] });
    c.ack(await c.next(ofType(TYPE.EDS)));

    const cds = c.next(ofType(TYPE.CDS));
    const eds = c.next(ofType(TYPE.EDS));
    store.delete('Service', 'Service/default/c');
    await push();
    const [rc, re] = await Promise.all([cds, eds]);
    assert.deepEqual(rc.resources, [], 'no unchanged cluster is resent');
    assert.deepEqual(rc.removed_resources, [cluster('c')]);
    assert.deepEqual(re.removed_resources, [cluster('c')]);
    assert.equal(c.state.get(TYPE.CDS)!.has(cluster('c')), false);
    c.ack(rc);
    c.ack(re);

    const back = c.next(ofType(TYPE.CDS));
    store.upsert('Service', service('c'), origin, 't');
    await push();
    const rb = await back;
    assert.deepEqual(c.names(rb), [cluster('c')]);
    assert.deepEqual(rb.removed_resources, []);
  });

  it('on reconnect, skips what the client holds at the current version and removes what it holds that is gone', async () => {
    const first = connect();
    first.send({ node: node('re'), type_url: TYPE.CDS });
    first.ack(await first.next());
    const held = first.versions(TYPE.CDS);
    assert.deepEqual(Object.keys(held).sort(), [cluster('a'), cluster('b'), cluster('c')]);
    first.close();

    // while it is away: b changes port (old cluster gone, new one added), c is deleted, a stays
    store.upsert('Service', service('b', 'default', 81), origin, 't');
    store.delete('Service', 'Service/default/c');
    await push();

    const again = connect();
    again.send({ node: node('re'), type_url: TYPE.CDS, initial_resource_versions: { ...held, [cluster('gone-long-ago')]: 'v0' } });
    const r = await again.next();
    assert.deepEqual(again.names(r), [cluster('b', 'default', 81)], 'a is not resent');
    assert.deepEqual(r.removed_resources, [cluster('b'), cluster('c'), cluster('gone-long-ago')].sort());

    // a client claiming a stale version of a resource gets it again
    const stale = connect();
    stale.send({ node: node('re2'), type_url: TYPE.CDS, initial_resource_versions: { [cluster('a')]: 'not-the-hash' } });
    const rs = await stale.next();
    assert.deepEqual(stale.names(rs).sort(), [cluster('a'), cluster('b', 'default', 81)]);

    // and a client already fully up to date still gets an (empty) answer, so it can finish warming
    const current = connect();
    current.send({ node: node('re3'), type_url: TYPE.CDS, initial_resource_versions: stale.versions(TYPE.CDS) });
    const rcur = await current.next();
    assert.deepEqual(rcur.resources, []);
    assert.deepEqual(rcur.removed_resources, []);
  });

  it('records a NACK by nonce with its error detail, counts it, does not resend, and keeps pushing later changes', async () => {
    const c = connect();
    c.send({ node: node('n1'), type_url: TYPE.EDS, resource_names_subscribe: [cluster('a')] });
    const r = await c.next();
    c.nack(r, 'bad endpoint');
    await c.quiet(TYPE.EDS, 150);
    const entry = syncz(ds).find((s) => s.nodeId.includes('~n1.')) as { mode: string; types: Record<string, { lastNack?: { message: string; nonce: string; version: string }; synced: boolean }> };
    assert.equal(entry.mode, 'delta');
    assert.equal(entry.types.EDS?.lastNack?.message, 'bad endpoint');
    assert.equal(entry.types.EDS?.lastNack?.nonce, r.nonce);
    assert.equal(entry.types.EDS?.lastNack?.version, r.system_version_info);
    assert.equal(entry.types.EDS?.synced, false);
    const text = await metrics.registry.metrics();
    assert.match(text, /pilot_total_xds_rejects\{type="eds"\} 1/);
    assert.match(text, /pilot_xds_eds_reject\{node="sidecar~10\.0\.0\.1~n1\.default~default\.svc\.cluster\.local",err="InvalidArgument"\} 1/, "err is the gRPC code, as istiod labels it");

    const next = c.next(ofType(TYPE.EDS));
    store.upsert('Pod', pod('a-3', '10.1.0.5', 'a'), origin, 't');
    await push();
    const r2 = await next;
    c.ack(r2);
    await c.quiet(TYPE.EDS, 100);
    const after = syncz(ds).find((s) => s.nodeId.includes('~n1.')) as { types: Record<string, { synced: boolean; acked: { nonce: string; version: string } }> };
    assert.equal(after.types.EDS?.synced, true);
    assert.deepEqual(after.types.EDS?.acked.nonce, r2.nonce);
    assert.deepEqual(after.types.EDS?.acked.version, r2.system_version_info);
  });

  it('applies subscription changes carried by a stale-nonce request, without taking it as an ACK', async () => {
    const c = connect();
    c.send({ node: node('st'), type_url: TYPE.EDS, resource_names_subscribe: [cluster('a')] });
    const r = await c.next();
    c.send({ type_url: TYPE.EDS, response_nonce: 'not-the-last-nonce', resource_names_subscribe: [cluster('b', 'default', 81)] });
    const r2 = await c.next();
    assert.deepEqual(c.names(r2), [cluster('b', 'default', 81)]);
    const entry = syncz(ds).find((s) => s.nodeId.includes('~st.')) as { types: Record<string, { acked: { nonce: string } }> };
    assert.equal(entry.types.EDS?.acked.nonce, '');
    assert.notEqual(r.nonce, r2.nonce);
  });

  it('pushes nothing to a delta client when a snapshot changes nothing it holds', async () => {
    const c = connect();
    c.send({ node: node('q1'), type_url: TYPE.CDS });
    c.ack(await c.next());
    c.send({ type_url: TYPE.EDS, resource_names_subscribe: [cluster('a')] });
    c.ack(await c.next(ofType(TYPE.EDS)));
    store.upsert('Pod', pod('x-1', '10.9.0.1', 'x', 'other'), origin, 't');
    await push();
    await c.quiet(TYPE.CDS, 100);
    await c.quiet(TYPE.EDS, 100);
  });

  it('shares encoded resources between SotW and Delta clients of one class, and counts both in pilot_xds', async () => {
    await push();
    const sotw = new RawAdsClient(addr);
    clients.push(sotw);
    sotw.send({ node: node('sh1', 'shared'), type_url: TYPE.CDS });
    const rs = await sotw.next();
    const before = builds;
    const delta = connect();
    delta.send({ node: node('sh2', 'shared'), type_url: TYPE.CDS });
    const rd = await delta.next();
    assert.equal(builds, before, 'the Delta client reused every resource the SotW client caused to be built');
    const sotwBytes = rs.resources.map((r) => Buffer.from(r.value).toString('hex')).sort();
    const deltaBytes = rd.resources.map((r) => Buffer.from(r.resource!.value).toString('hex')).sort();
    assert.deepEqual(deltaBytes, sotwBytes);
    const text = await metrics.registry.metrics();
    const connected = /pilot_xds\{version="unknown"\} (\d+)/.exec(text);
    assert.equal(Number(connected?.[1]), ds.connections.length);
    assert.ok(ds.connections.some((x) => x.mode === 'delta') && ds.connections.some((x) => x.mode === 'sotw'));
  });
  it('gives proxies of one class the diff their own subscription needs when they share a push', async () => {
    const plain = [connect(), connect()];
    const mixed = connect();
    for (const [i, c] of plain.entries()) c.send({ node: node(`m${i}`, 'memo'), type_url: TYPE.CDS });
    mixed.send({ node: node('m-mixed', 'memo'), type_url: TYPE.CDS, resource_names_subscribe: ['*', cluster('x', 'other')] });
    for (const c of [...plain, mixed]) c.ack(await c.next());
    // x (outside the wildcard) changes: only the client that names it hears of it
    const nextMixed = mixed.next(ofType(TYPE.CDS));
    store.upsert('Service', service('x', 'other', 90), origin, 't');
    await push();
    const rm = await nextMixed;
    assert.deepEqual(rm.removed_resources, [cluster('x', 'other')]);
    mixed.ack(rm);
    for (const c of plain) await c.quiet(TYPE.CDS, 100);
    // a cluster every one of them sees is added: all three get exactly it
    const nexts = [...plain, mixed].map((c) => c.next(ofType(TYPE.CDS)));
    store.upsert('Service', service('m1', 'memo'), origin, 't');
    await push();
    for (const r of await Promise.all(nexts)) {
      assert.deepEqual(r.resources.map((x) => x.name), [cluster('m1', 'memo')]);
      assert.deepEqual(r.removed_resources, []);
    }
  });

  it('refuses a Delta stream whose first request has no node, and ignores types it does not serve', async () => {
    const bare = connect();
    bare.send({ type_url: TYPE.CDS });
    await assert.rejects(bare.next(), (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT && /first DeltaDiscoveryRequest on a stream must carry node\.id/.test(e.details));
    const c = connect();
    c.send({ node: node('u1'), type_url: 'type.googleapis.com/envoy.service.runtime.v3.Runtime', resource_names_subscribe: ['default'] });
    c.send({ type_url: TYPE.CDS });
    const r = await c.next();
    assert.equal(r.type_url, TYPE.CDS, 'the stream carries on after a type it does not serve');
  });
});

describe('ADS server (Delta) on a guarded port', () => {
  const server = new grpc.Server();
  const store = new ConfigStore();
  const ds = new DiscoveryServer({ log: silentLogger, metrics: new Metrics(), generators: { grpc: testGenerator } });
  let addr = '';
  const clients: RawDeltaClient[] = [];

  before(async () => {
    store.upsert('Service', service('a'), origin, 't');
    ds.register(server, async (call) => {
      const token = call.metadata.get('authorization')[0];
      if (token !== 'Bearer good') throw Object.assign(new Error('no valid token'), { code: grpc.status.UNAUTHENTICATED });
      return {
        identity: { namespace: 'default', serviceAccount: 'default', identity: 'spiffe://cluster.local/ns/default/sa/default' },
        check: (proxy) => (proxy.namespace === 'default' ? undefined : `may not act for namespace ${proxy.namespace}`),
      };
    });
    const port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
    addr = `127.0.0.1:${port}`;
    ds.push(new PushContext(store, 'v1'));
  });
  after(() => {
    for (const c of clients) c.close();
    server.forceShutdown();
  });
  const connect = (token?: string) => {
    const md = new grpc.Metadata();
    if (token) md.set('authorization', `Bearer ${token}`);
    const c = new RawDeltaClient(addr, { metadata: md });
    clients.push(c);
    return c;
  };

  it('authenticates Delta streams and checks the proxy they announce, like SotW streams', async () => {
    const anon = connect();
    anon.send({ node: node('g1'), type_url: TYPE.CDS });
    await assert.rejects(anon.next(), (e: grpc.ServiceError) => e.code === grpc.status.UNAUTHENTICATED);
    const foreign = connect('good');
    foreign.send({ node: node('g2', 'other'), type_url: TYPE.CDS });
    await assert.rejects(foreign.next(), (e: grpc.ServiceError) => e.code === grpc.status.PERMISSION_DENIED && /namespace other/.test(e.details));
    const ok = connect('good');
    ok.send({ node: node('g3'), type_url: TYPE.CDS });
    const r = await ok.next();
    assert.deepEqual(ok.names(r), [cluster('a')]);
  });
});
