import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigStore } from '../../src/config/store.js';
import { PushContext } from '../../src/model/push-context.js';
import { ResourceCache, sameBody } from '../../src/xds/cache.js';
import { encodeMessage, lookupType } from '../../src/envoy/protos.js';
import { TYPE } from '../../src/xds/resource-types.js';

// Encoding is the expensive half of building a resource, so the cache encodes a body once even when
// several proxy classes (or a rebuild after an unrelated change) generate it again. These tests pin that
// sharing never changes a byte, and that meshd's Any packing gives protobufjs' bytes.

const cluster = (name: string, connectTimeoutSeconds = 1) => ({
  name,
  type: 'EDS',
  eds_cluster_config: { service_name: name, eds_config: { ads: {}, resource_api_version: 'V3' } },
  connect_timeout: { seconds: connectTimeoutSeconds, nanos: 0 },
  transport_socket: {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
      sni: `sni.${name}`,
      common_tls_context: { alpn_protocols: ['istio'] },
    },
  },
});

describe('encode cache: identical bodies are encoded once', () => {
  it('shares the encoded bytes of an identical body across classes and snapshots, and never across different bodies', () => {
    const store = new ConfigStore();
    const cache = new ResourceCache();
    cache.beginSnapshot(new PushContext(store, 'v1'));
    const name = 'outbound|80||a.default.svc.cluster.local';
    const a = cache.resource('class-a', TYPE.CDS, name, () => cluster(name))!;
    const b = cache.resource('class-b', TYPE.CDS, name, () => cluster(name))!;
    const c = cache.resource('class-c', TYPE.CDS, name, () => cluster(name, 2))!;
    assert.equal(b.any, a.any, 'class b got class a’s encoding of the same body');
    assert.notEqual(c.hash, a.hash, 'a different body is encoded on its own');
    assert.deepEqual(Buffer.from(a.any), Buffer.from(fresh(cluster(name))), 'shared bytes are the body’s own encoding');
    assert.deepEqual(Buffer.from(c.any), Buffer.from(fresh(cluster(name, 2))));
    assert.equal(cache.stats.built, 3);
    assert.equal(cache.stats.sameBody, 1);

    // The next snapshot rebuilds class d (new to the cache) with a body encoded in the previous one.
    cache.beginSnapshot(new PushContext(store, 'v2'));
    const d = cache.resource('class-d', TYPE.CDS, name, () => cluster(name))!;
    assert.equal(d.any, a.any);
    assert.equal(cache.stats.sameBody, 2);
  });

  it('keys by type and name as well as body', () => {
    const cache = new ResourceCache();
    cache.beginSnapshot(new PushContext(new ConfigStore(), 'v1'));
    const body = cluster('x');
    const x = cache.resource('k', TYPE.CDS, 'x', () => body)!;
    const y = cache.resource('k', TYPE.CDS, 'y', () => body)!;
    assert.equal(y.name, 'y');
    assert.equal(x.name, 'x');
    assert.equal(cache.stats.sameBody, 0);
  });
});

describe('sameBody', () => {
  it('is equality of JSON values with keys in the same order', () => {
    assert.ok(sameBody({ a: [1, { b: 'x' }], c: true }, { a: [1, { b: 'x' }], c: true }));
    assert.ok(!sameBody({ a: 1, b: 2 }, { b: 2, a: 1 }), 'Struct fields are encoded in key order');
    assert.ok(!sameBody({ a: [1, 2] }, { a: [1, 2, 3] }));
    assert.ok(!sameBody({ a: [] }, { a: {} }));
    assert.ok(!sameBody({ a: null }, { a: {} }));
    assert.ok(!sameBody({ a: 1 }, { a: '1' }));
    assert.ok(!sameBody({ a: undefined }, {}), 'a missed match only costs an encode');
    assert.ok(!sameBody({ a: Number.NaN }, { a: Number.NaN }));
  });

  it('a body whose Struct keys come in another order is encoded on its own', () => {
    const cache = new ResourceCache();
    cache.beginSnapshot(new PushContext(new ConfigStore(), 'v1'));
    const withMetadata = (fields: Record<string, unknown>) => ({ ...cluster('m'), metadata: { filter_metadata: { istio: { fields } } } });
    const ab = cache.resource('k1', TYPE.CDS, 'm', () => withMetadata({ a: { stringValue: '1' }, b: { stringValue: '2' } }))!;
    const ba = cache.resource('k2', TYPE.CDS, 'm', () => withMetadata({ b: { stringValue: '2' }, a: { stringValue: '1' } }))!;
    assert.notDeepEqual(Buffer.from(ab.any), Buffer.from(ba.any));
    assert.equal(cache.stats.sameBody, 0);
  });
});

/** The Any framing of src/xds/cache.ts around protobufjs' encoding with the Any packed by hand. */
function fresh(body: ReturnType<typeof cluster>): Uint8Array {
  const tls = lookupType('envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext');
  const { '@type': url, ...tlsFields } = body.transport_socket.typed_config;
  const anyType = lookupType('google.protobuf.Any');
  const clusterType = lookupType('envoy.config.cluster.v3.Cluster');
  const { transport_socket: _ts, ...rest } = body;
  const msg = clusterType.fromObject(rest) as unknown as Record<string, unknown>;
  msg.transport_socket = lookupType('envoy.config.core.v3.TransportSocket').create({
    name: body.transport_socket.name,
    typed_config: anyType.create({ type_url: url, value: tls.encode(tls.fromObject(tlsFields)).finish() }),
  });
  const value = clusterType.encode(msg).finish();
  return anyType.encode(anyType.create({ type_url: TYPE.CDS, value })).finish();
}

describe('Any packing', () => {
  it('packs a nested {"@type": …} exactly as protobufjs packs it by hand, type URL included', () => {
    const body = cluster('outbound|80||b.default.svc.cluster.local');
    const viaMeshd = encodeMessage('envoy.config.cluster.v3.Cluster', body);
    const decoded = lookupType('envoy.config.cluster.v3.Cluster').decode(viaMeshd) as unknown as { transport_socket: { typed_config: { type_url: string } } };
    assert.equal(decoded.transport_socket.typed_config.type_url, body.transport_socket.typed_config['@type']);
    const anyType = lookupType('google.protobuf.Any');
    const framed = anyType.decode(fresh(body)) as unknown as { value: Uint8Array };
    assert.deepEqual(Buffer.from(viaMeshd), Buffer.from(framed.value));
  });

  it('leaves an Any without a type URL to protobufjs', () => {
    const bytes = encodeMessage('envoy.config.core.v3.TransportSocket', { name: 'raw', typed_config: { type_url: 'x/y', value: Buffer.from([1, 2]) } });
    const back = lookupType('envoy.config.core.v3.TransportSocket').decode(bytes) as unknown as { typed_config: { type_url: string; value: Uint8Array } };
    assert.equal(back.typed_config.type_url, 'x/y');
    assert.deepEqual([...back.typed_config.value], [1, 2]);
  });
});

describe('encode cache: what a resource read is checked once per snapshot for every class', () => {
  it('reuses every class’s copy while the read object is unchanged and rebuilds every copy once it changes', () => {
    const store = new ConfigStore();
    const origin = { source: 'memory', label: 'test' } as const;
    const service = (port: number) =>
      store.upsert('Service', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'a', namespace: 'default' }, spec: { selector: { app: 'a' }, ports: [{ name: 'http', port }] } } as never, origin, 't');
    service(80);
    const cache = new ResourceCache();
    const name = 'outbound|80||a.default.svc.cluster.local';
    const build = (ctx: PushContext) => () => ({ ...cluster(name), alt_stat_name: String(ctx.service('a.default.svc.cluster.local')?.ports[0]?.port) });
    const round = (version: string) => {
      const ctx = new PushContext(store, version);
      cache.beginSnapshot(ctx);
      return ['class-a', 'class-b', 'class-c'].map((k) => cache.resource(k, TYPE.CDS, name, build(ctx))!);
    };
    round('v1');
    assert.equal(cache.stats.built, 3);
    round('v2');
    assert.deepEqual([cache.stats.built, cache.stats.reused], [3, 3], 'nothing read changed: every class reuses');
    service(81);
    const after = round('v3');
    assert.deepEqual([cache.stats.built, cache.stats.reused], [6, 3], 'the Service changed: every class rebuilds');
    for (const r of after) assert.equal((r.body as { alt_stat_name: string }).alt_stat_name, '81');
  });
});
