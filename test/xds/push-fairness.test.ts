import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { ConfigStore } from '../../src/config/store.js';
import { PushContext } from '../../src/model/push-context.js';
import { silentLogger } from '../../src/telemetry/log.js';
import { Metrics } from '../../src/telemetry/metrics.js';
import { adsz, syncz } from '../../src/xds/debug.js';
import { DiscoveryServer, type DiscoveryServerOptions } from '../../src/xds/server.js';
import { TYPE } from '../../src/xds/resource-types.js';
import type { Generator } from '../../src/xds/generators/generator.js';
import { RawAdsClient } from '../support/ads-client.js';
import { StalledStream, frameDiscoveryRequest } from '../support/stalled-stream.js';

// The push path under clients that do not read, flood requests or subscribe to absurd numbers of names
// (issue 11 Direction 4, issue 12 items 1–3): a stalled stream holds only its own slot, is cut after the
// send timeout and shows in /debug/syncz; requests coalesce; name counts are capped; and responses are
// produced outside the data callback, so keepalive pings are answered while a sync is under way.

const origin = { source: 'memory', label: 'test' } as const;
const service = (name: string, ns = 'default') => ({
  apiVersion: 'v1', kind: 'Service' as const, metadata: { name, namespace: ns }, spec: { ports: [{ name: 'grpc', port: 80 }], selector: { app: name } },
});

/** Clusters big enough (~200 KB each) that a response never fits a reader's flow-control window. */
function bigClusterGenerator(opts: { busyMsPerClass?: number } = {}): Generator {
  const classesBuilt = new Set<string>();
  return {
    name: 'grpc',
    classKey: (_ctx, proxy) => proxy.namespace,
    wildcardNames: (type, ctx) => (type === TYPE.CDS ? ctx.registry.services.map((s) => `outbound|80||${s.hostname}`) : []),
    generate(type, ctx, proxy, name) {
      if (type !== TYPE.CDS) return undefined;
      const host = name.split('|')[3];
      if (!host || !ctx.service(host)) return undefined;
      if (opts.busyMsPerClass && !classesBuilt.has(`${proxy.namespace}\u0000${ctx.version}`)) {
        // an expensive build (a large mesh's, once per class and snapshot), without the large mesh
        classesBuilt.add(`${proxy.namespace}\u0000${ctx.version}`);
        // blocks the thread as a long generation would, without burning the shared machine's CPU
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, opts.busyMsPerClass);
      }
      return { name, type: 'EDS', eds_cluster_config: { service_name: name, eds_config: { ads: {} } }, alt_stat_name: `${proxy.namespace}-${'x'.repeat(100_000)}` };
    },
  };
}

const node = (pod: string, ns = 'default') => ({ id: `sidecar~10.0.0.1~${pod}.${ns}~${ns}.svc.cluster.local`, metadata: { GENERATOR: 'grpc', NAMESPACE: ns } });

async function until(what: string, cond: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function harness(options: Partial<DiscoveryServerOptions> & { serverOptions?: grpc.ServerOptions; generator?: Generator } = {}) {
  const store = new ConfigStore();
  const metrics = new Metrics();
  const ds = new DiscoveryServer({ log: silentLogger, metrics, generators: { grpc: options.generator ?? bigClusterGenerator() }, ...options });
  const server = new grpc.Server(options.serverOptions);
  const closers: { close(): void }[] = [];
  let version = 0;
  let addr = '';
  return {
    store, metrics, ds,
    get addr() {
      return addr;
    },
    async start(services = 2) {
      for (let i = 0; i < services; i++) store.upsert('Service', service(`s${i}`), origin, 't');
      ds.register(server);
      const port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
      addr = `127.0.0.1:${port}`;
      this.push();
    },
    push() {
      const v = `v${++version}`;
      ds.push(new PushContext(store, v));
      return v;
    },
    client() {
      const c = new RawAdsClient(addr);
      closers.push(c);
      return c;
    },
    stalled(pod: string, ns = 'default') {
      const s = new StalledStream(addr, { node: node(pod, ns), type_url: TYPE.CDS });
      closers.push(s);
      return s;
    },
    conn(pod: string) {
      return ds.connections.find((c) => c.proxy.id.includes(`~${pod}.`));
    },
    stop() {
      for (const c of closers) c.close();
      server.forceShutdown();
    },
  };
}

describe('push fairness: streams that do not read', () => {
  it('a proxy stuck on an unread stream does not delay another proxy\'s push, even with a push throttle of 1', async () => {
    const h = harness({ push: { concurrency: 1, sendTimeoutMs: 600_000 } });
    after(() => h.stop());
    await h.start();
    h.stalled('stuck');
    await until('the stuck stream\'s write in progress', () => !!h.conn('stuck') && !!h.ds.pendingWrite(h.conn('stuck')!));
    const healthy = h.client();
    healthy.send({ node: node('healthy'), type_url: TYPE.CDS });
    healthy.ack(await healthy.next(undefined, 60_000));
    h.store.upsert('Service', service('added'), origin, 't');
    const v = h.push();
    const pushed = await healthy.next((r) => r.version_info === v, 60_000);
    assert.equal(pushed.resources.length, 3);
    // …while the stuck stream still holds its first response, neither taken nor cut
    const stuck = h.conn('stuck');
    assert.ok(stuck && h.ds.pendingWrite(stuck), 'the stuck stream is still waiting on its write');
    const entry = syncz(h.ds).find((e) => e.nodeId.includes('~stuck.'))!;
    assert.ok(entry.sending && entry.sending.bytes > 200_000, '/debug/syncz shows the stuck write');
  });

  it('120 never-reading streams and 20 edits: the edits still reach healthy proxies, old and new, while the stalled streams wait', async () => {
    const h = harness({ push: { sendTimeoutMs: 600_000 } });
    after(() => h.stop());
    await h.start();
    const early = h.client();
    early.send({ node: node('early'), type_url: TYPE.CDS });
    early.ack(await early.next(undefined, 60_000));
    const stalled = Array.from({ length: 120 }, (_, i) => h.stalled(`stalled-${i}`));
    await until('120 stalled writes', () => h.ds.connections.filter((c) => h.ds.pendingWrite(c)).length >= 120);
    let last = '';
    for (let i = 0; i < 20; i++) {
      h.store.upsert('Service', service(`edit-${i}`), origin, 't');
      last = h.push();
      await new Promise((r) => setImmediate(r));
    }
    const late = h.client();
    late.send({ node: node('late'), type_url: TYPE.CDS });
    const lateFirst = await late.next(undefined, 60_000);
    assert.equal(lateFirst.version_info, last);
    assert.equal(lateFirst.resources.length, 22);
    const earlyLast = await early.next((r) => r.version_info === last, 60_000);
    assert.equal(earlyLast.resources.length, 22);
    assert.equal(stalled.filter((s) => s.closedByServer).length, 0, 'no stalled stream was cut: they did not hold the others up');
    assert.equal(h.ds.connections.length, 122);
  });

  it('a stream whose write does not complete within the send timeout is cut: listed in /debug/adsz, counted in pilot_xds_write_timeout; others are served', async () => {
    const h = harness({ push: { sendTimeoutMs: 300, slowAfterMs: 50 } });
    after(() => h.stop());
    await h.start();
    const stuck = h.stalled('cut-me');
    await until('the stalled stream to be cut', () => stuck.closedByServer);
    const cut = (adsz(h.ds) as { cut: { proxy: string; reason: string }[] }).cut.find((e) => e.proxy.includes('~cut-me.'));
    assert.match(cut?.reason ?? '', /send did not complete within \d+ ms/);
    assert.match(await h.metrics.registry.metrics(), /pilot_xds_write_timeout 1/);
    assert.equal(h.conn('cut-me'), undefined);
    const healthy = h.client();
    healthy.send({ node: node('after-cut'), type_url: TYPE.CDS });
    assert.equal((await healthy.next(undefined, 60_000)).resources.length, 2);
  });

  it('a flood of nonce-less requests on a stream that does not read coalesces: one response in flight, memory bounded', async () => {
    const h = harness({ push: { sendTimeoutMs: 600_000 } });
    after(() => h.stop());
    await h.start();
    const pushesBefore = await cdsPushes(h.metrics);
    const flood = h.stalled('flood');
    await until('the first response in flight', () => !!h.conn('flood') && !!h.ds.pendingWrite(h.conn('flood')!));
    const request = frameDiscoveryRequest({ type_url: TYPE.CDS });
    flood.sendRaw(Buffer.concat(Array.from({ length: 6000 }, () => request)));
    await until('all 6001 requests read', () => h.conn('flood')!.requests === 6001);
    await new Promise((r) => setImmediate(r));
    assert.equal((await cdsPushes(h.metrics)) - pushesBefore, 1, 'only the first request was answered; the rest wait, coalesced, behind it');
    const inFlight = h.ds.pushStats.bytesInFlight;
    assert.ok(inFlight < 1_000_000, `one ~200 KB response in flight, not one per request (${inFlight} bytes)`);
  });
});

async function cdsPushes(metrics: Metrics): Promise<number> {
  const m = /pilot_xds_pushes\{type="cds"\} (\d+)/.exec(await metrics.registry.metrics());
  return m ? Number(m[1]) : 0;
}

describe('subscription limits', () => {
  const h = harness({ limits: { namesPerConnection: 1000, namesTotal: 1500 } });
  before(() => h.start());
  after(() => h.stop());
  const names = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `outbound|80||${prefix}-${i}.default.svc.cluster.local`);

  it('refuses a stream subscribing to more names than the per-stream cap with RESOURCE_EXHAUSTED; others are unaffected', async () => {
    const ok = h.client();
    ok.send({ node: node('within'), type_url: TYPE.CDS });
    ok.ack(await ok.next(undefined, 60_000));
    const greedy = h.client();
    greedy.send({ node: node('greedy'), type_url: TYPE.EDS, resource_names: names('greedy', 1001) });
    await assert.rejects(greedy.next(undefined, 60_000), (e: grpc.ServiceError) => {
      assert.equal(e.code, grpc.status.RESOURCE_EXHAUSTED);
      assert.match(e.details, /1001 resource names, more than the 1000 allowed per stream/);
      return true;
    });
    assert.match(await h.metrics.registry.metrics(), /meshd_xds_subscription_limit_refusals_total 1/);
    h.store.upsert('Service', service('after-greedy'), origin, 't');
    const v = h.push();
    assert.equal((await ok.next((r) => r.version_info === v, 60_000)).resources.length, 3);
  });

  it('refuses the stream that takes the total over the cap, and frees a closed stream\'s share', async () => {
    const first = h.client();
    first.send({ node: node('first'), type_url: TYPE.EDS, resource_names: names('first', 800) });
    await first.next(undefined, 60_000);
    const second = h.client();
    second.send({ node: node('second'), type_url: TYPE.EDS, resource_names: names('second', 800) });
    await assert.rejects(second.next(undefined, 60_000), (e: grpc.ServiceError) => e.code === grpc.status.RESOURCE_EXHAUSTED && /allowed/.test(e.details));
    first.close();
    await until('the first stream to close', () => !h.conn('first'));
    const third = h.client();
    third.send({ node: node('third'), type_url: TYPE.EDS, resource_names: names('third', 800) });
    await third.next(undefined, 60_000);
  });

  it('refuses absurd numbers with the default limits', async () => {
    const d = harness();
    after(() => d.stop());
    await d.start();
    const absurd = d.client();
    // short names: the request stays under gRPC's 4 MB message limit, so the refusal is meshd's own
    absurd.send({ node: node('absurd'), type_url: TYPE.EDS, resource_names: Array.from({ length: 150_000 }, (_, i) => `n${i}`) });
    await assert.rejects(absurd.next(undefined, 60_000), (e: grpc.ServiceError) => e.code === grpc.status.RESOURCE_EXHAUSTED && /150000 resource names, more than the 100000 allowed per stream/.test(e.details));
    assert.equal(d.ds.connections.length, 0);
  });
});

describe('keepalive during a connect-and-sync', () => {
  it('answers keepalive pings while first responses are produced, so no stream is dropped by meshd', async () => {
    // 30 connected proxies of 30 classes ask for CDS at the same moment, three times, each class's build
    // holding the thread 100 ms per snapshot: answered inside the data callbacks, that holds the event
    // loop ~3 s while keepalive pings (every 50 ms, 1 s timeout) are in flight, and meshd closes healthy
    // connections.
    const h = harness({
      generator: bigClusterGenerator({ busyMsPerClass: 100 }),
      serverOptions: { 'grpc.keepalive_time_ms': 50, 'grpc.keepalive_timeout_ms': 1000 },
    });
    after(() => h.stop());
    await h.start();
    const clients = Array.from({ length: 30 }, () => h.client());
    clients.forEach((c, i) => c.send({ node: node(`ka-${i}`, `ns-${i}`), type_url: TYPE.EDS, resource_names: [] }));
    await Promise.all(clients.map((c) => c.next(undefined, 120_000)));
    for (let wave = 0; wave < 3; wave++) {
      if (wave > 0) h.store.upsert('Service', service(`wave-${wave}`), origin, 't');
      const v = wave > 0 ? h.push() : undefined;
      clients.forEach((c) => c.send({ type_url: TYPE.CDS }));
      await Promise.all(clients.map((c) => c.next((r) => r.type_url === TYPE.CDS && (!v || r.version_info === v), 120_000)));
    }
    assert.deepEqual(clients.filter((c) => c.error).map((c) => c.error!.message), []);
    assert.equal(h.ds.connections.length, 30);
  });
});

describe('per-connection state', () => {
  it('streams of one class subscribing alike hold references to one subscription and one resolved set, not copies', async () => {
    const h = harness();
    after(() => h.stop());
    await h.start(3);
    const names = ['outbound|80||s0.default.svc.cluster.local', 'outbound|80||s2.default.svc.cluster.local'];
    const a = h.client();
    const b = h.client();
    a.send({ node: node('ref-a'), type_url: TYPE.CDS, resource_names: names });
    b.send({ node: node('ref-b'), type_url: TYPE.CDS, resource_names: [...names].reverse() });
    await Promise.all([a.next(undefined, 60_000), b.next(undefined, 60_000)]);
    const [wa, wb] = [h.conn('ref-a')!.watch(TYPE.CDS), h.conn('ref-b')!.watch(TYPE.CDS)];
    assert.equal(wa.subscription, wb.subscription);
    assert.equal(wa.syncedTo, wb.syncedTo);
    assert.equal(wa.syncedTo?.size, 2);
  });
});
