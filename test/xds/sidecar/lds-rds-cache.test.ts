import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigStore } from '../../../src/config/store.js';
import { PushContext, trackDependencies, type Dependency } from '../../../src/model/push-context.js';
import { buildSidecarListener, sidecarListenerNames } from '../../../src/xds/generators/sidecar/lds.js';
import { buildSidecarRouteConfiguration } from '../../../src/xds/generators/sidecar/rds.js';
import { BASE, dr, service, sidecar, vs, type Doc } from './lds-rds-fixture.js';
import { encodeSpliced } from '../../../src/envoy/encode-parts.js';
import { encodeMessage } from '../../../src/envoy/protos.js';

const ROUTE_CONFIGURATION = 'envoy.config.route.v3.RouteConfiguration';
import { addDocs } from '../../support/snapshot.js';

// The encode cache keeps a resource across snapshots while every dependency fingerprint it was built with
// is unchanged. For sidecar listeners and routes that must be sound: walk through config changes and
// insist that whenever the fingerprints say "unchanged", regenerating gives exactly the same resource.

function apply(store: ConfigStore, d: Doc): void {
  addDocs(store, [d], { label: 'cache walk' });
}

const CHANGES: Doc[] = [
  vs('reviews', { hosts: ['reviews'], http: [{ route: [{ destination: { host: 'reviews', subset: 'v1' } }] }] }),
  dr('reviews', { host: 'reviews', trafficPolicy: { loadBalancer: { consistentHash: { httpHeaderName: 'x-u' } } } }),
  vs('reviews', { hosts: ['reviews'], http: [{ match: [{ uri: { prefix: '/api' } }], delegate: { name: 'api', namespace: 'team' } }, { route: [{ destination: { host: 'reviews' } }] }] }),
  vs('api', { http: [{ route: [{ destination: { host: 'reviews.default.svc.cluster.local', subset: 'v2' } }] }] }, 'team'),
  service('extra', 'default', [{ name: 'http', port: 9080 }, { name: 'tcp', port: 6379 }], '10.96.0.70'),
  vs('mongo', { hosts: ['mongodb'], tcp: [{ route: [{ destination: { host: 'mongodb', subset: 'a' }, weight: 50 }, { destination: { host: 'mongodb', subset: 'b' }, weight: 50 }] }] }),
  vs('api-ext', { hosts: ['api.example.com'], http: [{ route: [{ destination: { host: 'ratings' } }] }] }),
  service('productpage', 'default', [{ name: 'http', port: 9080, targetPort: 8080 }], '10.96.0.12'),
  vs('reviews', { hosts: ['reviews'], gateways: ['some-gateway'], http: [{ route: [{ destination: { host: 'reviews', subset: 'v3' } }] }] }),
];

describe('sidecar LDS/RDS: dependency tracking is sound for the encode cache', () => {
  it('after each config change, every resource whose dependency fingerprints did not change regenerates identically', () => {
    const store = new ConfigStore();
    for (const d of BASE) apply(store, d);
    const p = sidecar();
    let ctx = new PushContext(store, 'v0');
    type Built = { body: string; deps: Dependency[] };
    const build = (c: PushContext): Map<string, Built> => {
      const out = new Map<string, Built>();
      const names = sidecarListenerNames(c, p).map((n) => `lds:${n}`).concat(['9080', '6379', '27017', 'legacy.default.svc.cluster.local:7000'].map((n) => `rds:${n}`));
      for (const key of names) {
        const [kind, name] = [key.slice(0, 3), key.slice(4)];
        const { value, deps } = trackDependencies(() => (kind === 'lds' ? buildSidecarListener(c, p, name) : buildSidecarRouteConfiguration(c, p, name)));
        out.set(key, { body: JSON.stringify(value), deps });
      }
      return out;
    };
    let before = build(ctx);
    let reused = 0;
    CHANGES.forEach((change, i) => {
      apply(store, change);
      const next = new PushContext(store, `v${i + 1}`);
      const after = build(next);
      for (const [key, old] of before) {
        const unchanged = old.deps.every((d) => ctx.fingerprint(d) === next.fingerprint(d));
        if (!unchanged) continue;
        reused++;
        assert.equal(after.get(key)?.body, old.body, `change ${i + 1}: ${key} kept by the cache but now generates differently`);
      }
      ctx = next;
      before = after;
    });
    assert.ok(reused > 0, 'some resources must survive unrelated changes');
  });

  it('route configurations built from kept virtual hosts equal ones built afresh, after every change, to the byte', () => {
    // serviceVirtualHost (rds.ts) keeps each virtual host per proxy object until what it read changes; a
    // proxy object of its own (a copy) starts with nothing kept, so it shows what a fresh build gives
    const store = new ConfigStore();
    for (const d of BASE) apply(store, d);
    const p = sidecar();
    const names = ['9080', '6379', '27017', 'legacy.default.svc.cluster.local:7000', 'reviews.default.svc.cluster.local:9080'];
    let kept = 0;
    let previous = new Map<string, unknown[]>();
    [undefined, ...CHANGES].forEach((change, i) => {
      if (change) apply(store, change);
      const ctx = new PushContext(store, `v${i}`);
      const now = new Map<string, unknown[]>();
      for (const name of names) {
        const reused = buildSidecarRouteConfiguration(ctx, p, name) as { virtual_hosts?: unknown[] } | undefined;
        const fresh = buildSidecarRouteConfiguration(ctx, { ...p }, name);
        assert.deepEqual(reused, fresh, `change ${i}: route ${name}`);
        if (!reused) continue;
        // encoded from memoised virtual-host bytes = protobufjs over the whole body
        const spliced = encodeSpliced(ROUTE_CONFIGURATION, reused as Record<string, unknown>, 'virtual_hosts');
        assert.ok(Buffer.from(spliced).equals(encodeMessage(ROUTE_CONFIGURATION, reused)), `change ${i}: route ${name} bytes`);
        const vhosts = reused.virtual_hosts ?? [];
        now.set(name, vhosts);
        kept += vhosts.filter((vh) => previous.get(name)?.includes(vh)).length;
      }
      previous = now;
    });
    assert.ok(kept > 0, 'unchanged virtual hosts must be kept across changes');
  });
});
