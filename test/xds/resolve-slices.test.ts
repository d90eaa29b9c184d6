import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigStore } from '../../src/config/store.js';
import { validateDocument } from '../../src/config/validate.js';
import { PushContext } from '../../src/model/push-context.js';
import { parseProxy } from '../../src/model/proxy.js';
import { WILDCARD_ONLY } from '../../src/xds/connection.js';
import { sidecarGenerator } from '../../src/xds/generators/sidecar/index.js';
import { PushScheduler, YIELD } from '../../src/xds/push-scheduler.js';
import { Resolver } from '../../src/xds/resolve.js';
import { TYPE } from '../../src/xds/resource-types.js';

// The first resolution of an outbound view builds thousands of resources at 1000 services (seconds of
// CPU). It is produced in slices: Resolver.prepare builds until a deadline (at least one resource per
// call) and the push scheduler gives the stream another turn after yielding to the event loop. These
// tests use deadlines already past, so each call does the minimum: no timing is asserted.

type Obj = Record<string, unknown>;

function store(services: number): ConfigStore {
  const s = new ConfigStore();
  const put = (doc: Obj) => {
    const r = validateDocument(doc);
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    s.upsert(r.value.kind, r.value.object, { source: 'memory', label: 'slices test' }, 't');
  };
  for (let i = 0; i < services; i++) {
    const name = `svc-${i}`;
    put({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'ns1' }, spec: { clusterIP: `10.96.0.${i + 1}`, selector: { app: name }, ports: [{ name: 'http', port: 5000 }] } });
    put({ apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name, namespace: 'ns1' }, spec: { host: name, subsets: [{ name: 'v1', labels: { version: 'v1' } }] } });
  }
  return s;
}

const proxy = (app: string) => parseProxy({
  id: `sidecar~10.1.0.9~${app}-1.ns1~ns1.svc.cluster.local`,
  metadata: { NAMESPACE: 'ns1', LABELS: { app }, INSTANCE_IPS: '10.1.0.9' },
});

describe('first resolution in slices', () => {
  it('prepare() builds a resource per call once the deadline has passed, and resolve() then builds nothing and equals an unsliced resolution', () => {
    const ctx = new PushContext(store(8), 'v1');
    const sliced = new Resolver({ sidecar: sidecarGenerator });
    sliced.beginSnapshot(ctx);
    const p = proxy('client');
    let calls = 0;
    const past = performance.now() - 1;
    while (!sliced.prepare(p, TYPE.CDS, WILDCARD_ONLY, past)) {
      calls++;
      assert.equal(sliced.stats.built, calls, 'one resource per call');
      assert.ok(calls < 1000, 'prepare makes progress');
    }
    const builtByPrepare = sliced.stats.built;
    assert.ok(builtByPrepare >= 8 * 2, `every outbound cluster was built in slices (${builtByPrepare})`);
    const set = sliced.resolve(p, TYPE.CDS, WILDCARD_ONLY);
    assert.equal(sliced.stats.built, builtByPrepare, 'resolve() found everything built');
    assert.equal(sliced.prepare(p, TYPE.CDS, WILDCARD_ONLY, past), true, 'a resolved subscription is ready');

    const whole = new Resolver({ sidecar: sidecarGenerator });
    whole.beginSnapshot(ctx);
    const expected = whole.resolve(p, TYPE.CDS, WILDCARD_ONLY);
    assert.deepEqual(set.resources.map((r) => [r.name, r.hash]), expected.resources.map((r) => [r.name, r.hash]));

    // another class of the same view finds the view's segment built: only its own resources are left
    const other = proxy('other');
    let otherCalls = 0;
    while (!sliced.prepare(other, TYPE.CDS, WILDCARD_ONLY, past)) otherCalls++;
    assert.ok(otherCalls <= 2, `the second class of a view has little left to build (${otherCalls} slices)`);
    assert.equal(sliced.resolve(other, TYPE.CDS, WILDCARD_ONLY).segments[0], set.segments[0]);
  });

  it('what a slice built survives a new snapshot: the next one reuses it instead of starting over', () => {
    const s = store(8);
    const resolver = new Resolver({ sidecar: sidecarGenerator });
    resolver.beginSnapshot(new PushContext(s, 'v1'));
    const p = proxy('client');
    const past = performance.now() - 1;
    for (let i = 0; i < 10; i++) resolver.prepare(p, TYPE.CDS, WILDCARD_ONLY, past);
    assert.equal(resolver.stats.built, 10);
    resolver.beginSnapshot(new PushContext(s, 'v2'));
    while (!resolver.prepare(p, TYPE.CDS, WILDCARD_ONLY, past));
    resolver.resolve(p, TYPE.CDS, WILDCARD_ONLY);
    assert.ok(resolver.stats.reused >= 10, `the 10 resources built before the snapshot are reused (${resolver.stats.reused})`);
  });
});

describe('push scheduler: a response that is not ready yields its turn', () => {
  it('other streams are served between the slices of a long response, which still goes out', async () => {
    const order: string[] = [];
    let slicesLeft = 3;
    const scheduler = new PushScheduler<string>({
      sendNext(item, done) {
        if (item === 'slow' && slicesLeft > 0) {
          slicesLeft--;
          order.push('slow: slice');
          return YIELD;
        }
        if (order.includes(`${item}: sent`)) return undefined;
        order.push(`${item}: sent`);
        queueMicrotask(() => done());
        return 10;
      },
      cut() {},
    });
    scheduler.wake('slow');
    scheduler.wake('fast');
    await scheduler.idle();
    assert.deepEqual(order.filter((o) => o.endsWith('sent')).sort(), ['fast: sent', 'slow: sent']);
    assert.ok(order.indexOf('fast: sent') < order.indexOf('slow: sent'), `fast went out while slow was being produced: ${order.join(', ')}`);
    assert.equal(order.filter((o) => o === 'slow: slice').length, 3);
  });
});
