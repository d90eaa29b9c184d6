import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { objectKey } from '../../../src/config/store.js';
import { PushContext } from '../../../src/model/push-context.js';
import { ResourceCache } from '../../../src/xds/cache.js';
import { sidecarGenerator } from '../../../src/xds/generators/sidecar/index.js';
import { TYPE, type TypeUrl } from '../../../src/xds/resource-types.js';
import { dr, pod, proxyOf, SIDECAR, storeOf, svc } from './cds-fixture.js';

// The encode cache and the sidecar clusters: replicas share one encoded copy, and a DestinationRule edit
// rebuilds only the clusters (and assignments) of the host it names — everything else is reused from the
// previous snapshot. Every cached body is compared with a fresh generation so reuse can never be stale.

describe('sidecar CDS/EDS in the encode cache', () => {
  it('replicas share; a DestinationRule edit rebuilds only its host', () => {
    const store = storeOf([
      svc('hello', [{ name: 'http', port: 80 }]),
      svc('world', [{ name: 'grpc', port: 5000 }]),
      pod('hello-1', '10.0.0.1', { app: 'hello', version: 'v1', ...SIDECAR }),
      pod('world-1', '10.0.0.2', { app: 'world', version: 'v1', ...SIDECAR }),
      dr('hello', { subsets: [{ name: 'v1', labels: { version: 'v1' } }] }),
      dr('world', { trafficPolicy: { loadBalancer: { simple: 'RANDOM' } } }),
    ]);
    const replicas = [
      proxyOf('client-5f9c-aaaaa', '10.9.0.1', { app: 'client', 'pod-template-hash': '5f9c' }),
      proxyOf('client-5f9c-bbbbb', '10.9.0.2', { app: 'client', 'pod-template-hash': '5f9c' }),
    ];
    const cache = new ResourceCache();

    const push = (version: string): Map<string, boolean> => {
      const ctx = new PushContext(store, version);
      cache.beginSnapshot(ctx);
      const rebuilt = new Map<string, boolean>();
      const classIds = new Set(replicas.map((p) => `sidecar\u0000${sidecarGenerator.classKey(ctx, p)}`));
      assert.equal(classIds.size, 1, 'replicas share one class');
      for (const p of replicas) {
        const classId = `sidecar\u0000${sidecarGenerator.classKey(ctx, p)}`;
        const cds = sidecarGenerator.wildcardNames(TYPE.CDS, ctx, p);
        const eds = cds.filter((n) => n.startsWith('outbound|'));
        for (const [type, names] of [[TYPE.CDS, cds], [TYPE.EDS, eds]] as [TypeUrl, string[]][]) {
          for (const name of names) {
            const before = cache.stats.built;
            const got = cache.resource(classId, type, name, () => sidecarGenerator.generate(type, ctx, p, name));
            const key = `${type === TYPE.CDS ? 'CDS' : 'EDS'} ${name}`;
            if (p === replicas[0]) rebuilt.set(key, cache.stats.built > before);
            else assert.equal(cache.stats.built, before, `${key}: the second replica must not rebuild`);
            assert.deepEqual(got?.body ?? null, sidecarGenerator.generate(type, ctx, p, name) ?? null, `${key} is stale`);
          }
        }
      }
      return rebuilt;
    };

    const first = push('v1');
    assert.ok([...first.values()].every(Boolean), 'first push builds everything');

    const unchanged = push('v2');
    assert.deepEqual([...unchanged.entries()].filter(([, b]) => b), [], 'an unchanged snapshot rebuilds nothing');

    store.upsert('DestinationRule', dr('hello', { subsets: [{ name: 'v1', labels: { version: 'v1' } }], trafficPolicy: { connectionPool: { tcp: { maxConnections: 5 } } } }) as never, { source: 'memory', label: 'test' }, 't');
    const edited = push('v3');
    const rebuiltNames = [...edited.entries()].filter(([, b]) => b).map(([n]) => n).sort();
    assert.deepEqual(rebuiltNames, [
      'CDS outbound|80||hello.default.svc.cluster.local',
      'CDS outbound|80|v1|hello.default.svc.cluster.local',
      'EDS outbound|80||hello.default.svc.cluster.local',
      'EDS outbound|80|v1|hello.default.svc.cluster.local',
    ].sort());
    assert.ok(!edited.get('CDS outbound|5000||world.default.svc.cluster.local'), 'world untouched');
    assert.ok(!edited.get('CDS BlackHoleCluster'));

    store.delete('DestinationRule', objectKey('DestinationRule', 'default', 'world'));
    const deleted = push('v4');
    assert.ok(deleted.get('CDS outbound|5000||world.default.svc.cluster.local'), 'world rebuilt after its rule went away');
    assert.ok(!deleted.get('CDS outbound|80||hello.default.svc.cluster.local'), 'hello untouched');
  });
});
