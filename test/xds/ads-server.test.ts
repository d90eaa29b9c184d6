import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { ConfigStore } from '../../src/config/store.js';
import { PushContext } from '../../src/model/push-context.js';
import { silentLogger } from '../../src/telemetry/log.js';
import { Metrics } from '../../src/telemetry/metrics.js';
import { syncz } from '../../src/xds/debug.js';
import { DiscoveryServer } from '../../src/xds/server.js';
import { TYPE } from '../../src/xds/resource-types.js';
import type { Generator } from '../../src/xds/generators/generator.js';
import { RawAdsClient } from '../support/ads-client.js';

// Protocol behaviour of the SotW ADS server, independent of any real generator: a tiny generator makes
// one EDS cluster per service port and one ClusterLoadAssignment per cluster, and tags every cluster
// with the proxy namespace so a cache that ignored the class key would be caught.

const origin = { source: 'memory', label: 'test' } as const;

function service(name: string, ns = 'default', port = 80) {
  return { apiVersion: 'v1', kind: 'Service' as const, metadata: { name, namespace: ns }, spec: { ports: [{ name: 'grpc', port }], selector: { app: name } } };
}
function pod(name: string, ip: string, app: string, ns = 'default') {
  return { apiVersion: 'v1', kind: 'Pod' as const, metadata: { name, namespace: ns, labels: { app } }, spec: {}, status: { podIP: ip, phase: 'Running' } };
}

let builds = 0;
const testGenerator: Generator = {
  name: 'grpc',
  classKey: (_ctx, proxy) => proxy.namespace,
  wildcardNames(type, ctx) {
    if (type !== TYPE.CDS) return [];
    return ctx.registry.services.flatMap((s) => s.ports.map((p) => `outbound|${p.port}||${s.hostname}`));
  },
  generate(type, ctx, proxy, name) {
    builds++;
    const [, port, , host] = name.split('|');
    const svc = host ? ctx.service(host) : undefined;
    if (!svc) return undefined;
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

describe('ADS server (state of the world)', () => {
  const store = new ConfigStore();
  const metrics = new Metrics();
  const ds = new DiscoveryServer({ log: silentLogger, metrics, generators: { grpc: testGenerator } });
  const server = new grpc.Server();
  let addr = '';
  let version = 0;
  const clients: RawAdsClient[] = [];
  const connect = () => {
    const c = new RawAdsClient(addr);
    clients.push(c);
    return c;
  };
  const push = () => {
    ds.push(new PushContext(store, `v${++version}`));
    return ds.settled();
  };

  before(async () => {
    store.upsert('Service', service('a'), origin, 't');
    store.upsert('Service', service('b'), origin, 't');
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

  it('answers the first request with the requested resources, a version and a nonce', async () => {
    const c = connect();
    c.send({ node: node('p1'), type_url: TYPE.CDS });
    const r = await c.next();
    assert.equal(r.type_url, TYPE.CDS);
    assert.equal(r.version_info, 'v1');
    assert.ok(r.nonce);
    const names = c.decode(r).map((x) => x.name).sort();
    assert.deepEqual(names, ['outbound|80||a.default.svc.cluster.local', 'outbound|80||b.default.svc.cluster.local']);
    c.ack(r);
    await c.quiet(TYPE.CDS, 150);
  });

  it('always answers the first request of a stream, even with a stale version and no nonce', async () => {
    const c = connect();
    c.send({ node: node('p2'), type_url: TYPE.CDS, version_info: 'v1' });
    const r = await c.next();
    assert.equal(r.resources.length, 2);
  });

  it('records a NACK by response_nonce with its error detail, does not resend, and counts it', async () => {
    const c = connect();
    c.send({ node: node('p3'), type_url: TYPE.EDS, resource_names: ['outbound|80||a.default.svc.cluster.local'] });
    const r = await c.next();
    c.send({ type_url: TYPE.EDS, version_info: '', response_nonce: r.nonce, resource_names: ['outbound|80||a.default.svc.cluster.local'], error_detail: { code: 3, message: 'bad endpoint' } });
    await c.quiet(TYPE.EDS, 150);
    const entry = syncz(ds).find((s) => s.nodeId.includes('~p3.')) as { types: Record<string, { lastNack?: { message: string; nonce: string } }> };
    assert.equal(entry.types.EDS?.lastNack?.message, 'bad endpoint');
    assert.equal(entry.types.EDS?.lastNack?.nonce, r.nonce);
    const text = await metrics.registry.metrics();
    assert.match(text, /pilot_total_xds_rejects\{type="eds"\} 1/);
    assert.match(text, /pilot_xds_eds_reject\{node="sidecar~10\.0\.0\.1~p3\.default~default\.svc\.cluster\.local",err="InvalidArgument"\} 1/, "err is the gRPC code, as istiod labels it");
  });

  it('ignores requests carrying a stale nonce', async () => {
    const c = connect();
    c.send({ node: node('p4'), type_url: TYPE.EDS, resource_names: ['outbound|80||a.default.svc.cluster.local'] });
    const r = await c.next();
    c.send({ type_url: TYPE.EDS, response_nonce: 'not-the-last-nonce', resource_names: ['outbound|80||b.default.svc.cluster.local'] });
    await c.quiet(TYPE.EDS, 150);
    c.send({ type_url: TYPE.EDS, response_nonce: r.nonce, version_info: r.version_info, resource_names: ['outbound|80||b.default.svc.cluster.local'] });
    const r2 = await c.next();
    assert.deepEqual(c.decode(r2).map((x) => x.cluster_name), ['outbound|80||b.default.svc.cluster.local']);
  });

  it('pushes only to proxies whose resources changed, and only the changed EDS resources', async () => {
    const ca = connect();
    const cb = connect();
    ca.send({ node: node('pa'), type_url: TYPE.EDS, resource_names: ['outbound|80||a.default.svc.cluster.local'] });
    cb.send({ node: node('pb'), type_url: TYPE.EDS, resource_names: ['outbound|80||b.default.svc.cluster.local'] });
    ca.ack(await ca.next());
    cb.ack(await cb.next());
    store.upsert('Pod', pod('a-2', '10.1.0.3', 'a'), origin, 't');
    const nextA = ca.next((r) => r.type_url === TYPE.EDS);
    await push();
    const ra = await nextA;
    const cla = ca.decode(ra)[0] as { endpoints: { lb_endpoints: unknown[] }[] };
    assert.equal(cla.endpoints[0]!.lb_endpoints.length, 2);
    await new Promise((r) => setTimeout(r, 200));
    await cb.quiet(TYPE.EDS, 200);
  });

  it('re-sends the whole CDS set when one cluster is added (LDS/CDS are all-resources-required)', async () => {
    const c = connect();
    c.send({ node: node('p5'), type_url: TYPE.CDS });
    c.ack(await c.next());
    store.upsert('Service', service('c'), origin, 't');
    const next = c.next((r) => r.type_url === TYPE.CDS);
    await push();
    const r = await next;
    assert.equal(r.resources.length, 3);
    // a snapshot that changes nothing this proxy sees is not sent at all
    c.ack(r);
    await push();
    await c.quiet(TYPE.CDS, 200);
  });

  it('encodes a shared resource once per snapshot for proxies with the same class key, separately otherwise', async () => {
    await push();
    const before = builds;
    const same = [connect(), connect()];
    same[0]!.send({ node: node('s1', 'shared'), type_url: TYPE.CDS });
    same[1]!.send({ node: node('s2', 'shared'), type_url: TYPE.CDS });
    const [r1, r2] = await Promise.all(same.map((c) => c.next()));
    assert.equal(builds - before, 3, 'three clusters built once for two proxies in one namespace');
    assert.deepEqual(r1!.resources.map((r) => Buffer.from(r.value).toString('hex')), r2!.resources.map((r) => Buffer.from(r.value).toString('hex')));
    const other = connect();
    other.send({ node: node('o1', 'other'), type_url: TYPE.CDS });
    const r3 = await other.next();
    assert.equal(builds - before, 6, 'a proxy with another class key gets its own copies');
    const stat = (r: typeof r3) => other.decode(r).map((x) => x.alt_stat_name);
    assert.deepEqual(new Set(stat(r3)), new Set(['for-other']), 'no resource of another namespace leaked through the cache');
  });

  it('refuses a stream whose node id is not TYPE~IP~POD.NS~DOMAIN with INVALID_ARGUMENT', async () => {
    const c = connect();
    c.send({ node: { id: 'garbage' }, type_url: TYPE.CDS });
    await assert.rejects(c.next(), (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT && /TYPE~IP~POD/.test(e.details));
  });

  it('refuses a proxy with no matching generator and says what to set', async () => {
    const c = connect();
    c.send({ node: { id: 'sidecar~10.0.0.9~x.default~default.svc.cluster.local' }, type_url: TYPE.CDS });
    await assert.rejects(c.next(), (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT && /GENERATOR=grpc/.test(e.details));
  });
});
