// Under every fault a real API server produces, after ≥1000 random mutations across all kinds the store
// holds exactly the fixture's state: 0 lost objects, 0 stale versions, 0 leftovers. Each scenario injects
// its fault several times while the mutations run.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ALL_KINDS } from '../../src/config/kinds.js';
import { ConfigStore } from '../../src/config/store.js';
import { KubeSource } from '../../src/sources/kube/kube-source.js';
import { silentLogger } from '../../src/telemetry/log.js';
import { Metrics } from '../../src/telemetry/metrics.js';
import { FakeApiServer, type KObject } from '../kube-fixture/server.js';
import { diffViews, fixtureView, kubeConfigFor, sleep, storeView, until } from '../support/kube.js';
import { ap, dr, ns, pa, pod, slice, svc, vs } from '../support/kube-objects.js';

const MUTATIONS = 1000;
const WATCH_TIMEOUT_MS = 1500;

/** mulberry32: a small seeded PRNG, so a failing run can be replayed */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const NAMESPACES = ['default', 'team-a', 'team-b'];
const EXTRA_NS = ['tmp-1', 'tmp-2'];

/** A random valid object of a random kind; `n` makes every update a real change. */
function randomObject(r: () => number, n: number): KObject {
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)]!;
  const namespace = pick([...NAMESPACES, ...EXTRA_NS]);
  const name = `o${Math.floor(r() * 12)}`;
  const ip = `10.${n % 250}.${Math.floor(r() * 250)}.${1 + Math.floor(r() * 250)}`;
  switch (pick(['VirtualService', 'DestinationRule', 'PeerAuthentication', 'AuthorizationPolicy', 'Service', 'EndpointSlice', 'Pod', 'Namespace'] as const)) {
    case 'VirtualService':
      return vs(name, `h${n}`, namespace);
    case 'DestinationRule':
      return dr(name, `h${n}`, namespace);
    case 'PeerAuthentication':
      return pa(name, pick(['STRICT', 'PERMISSIVE', 'DISABLE']), namespace);
    case 'AuthorizationPolicy':
      return ap(name, pick(['ALLOW', 'DENY']), namespace);
    case 'Service':
      return svc(name, 1000 + (n % 5000), namespace, { rev: String(n) });
    case 'EndpointSlice':
      return slice(name, name, 1000 + (n % 5000), [ip], namespace);
    case 'Pod':
      return pod(name, ip, { app: name, rev: String(n) }, namespace);
    case 'Namespace':
      return ns(pick(EXTRA_NS), { rev: String(n) });
  }
}

interface Scenario {
  readonly name: string;
  /** called at mutations 250, 500 and 750 */
  inject(api: FakeApiServer): Promise<void> | void;
}

const SCENARIOS: Scenario[] = [
  { name: '410 Expired ERROR frame on every watch (compaction)', inject: (api) => void api.sendWatchError(410) },
  { name: 'HTTP 410 on re-watch', inject: (api) => { api.fail({ verbs: ['watch'], respond: { status: 410 }, times: 8 }); api.endWatches(); } },
  { name: 'HTTP 500 on list and watch', inject: (api) => { api.fail({ verbs: ['watch', 'list'], respond: { status: 500 }, times: 12 }); api.dropWatches(); } },
  { name: 'HTTP 429 with Retry-After', inject: (api) => { api.fail({ verbs: ['watch', 'list'], respond: { status: 429, retryAfterSeconds: 1 }, times: 8 }); api.endWatches(); } },
  { name: 'dropped watch streams (connection cut mid-stream)', inject: (api) => void api.dropWatches() },
  { name: 'hung headers on re-watch', inject: (api) => { api.fail({ verbs: ['watch'], respond: 'hang', times: 8 }); api.endWatches(); } },
  { name: 'long silence on open watches', inject: (api) => void api.silenceWatches() },
  { name: 'API server restart with a jump in resourceVersion', inject: (api) => api.restart({ rvJump: 100_000, downMs: 200 }) },
];

/** Applies `count` successful random mutations (creates, updates, deletes); bounded at 2×count attempts. */
async function mutate(api: FakeApiServer, seed: number, count: number, onStep?: (applied: number) => Promise<void> | void): Promise<number> {
  const r = rng(seed);
  let applied = 0;
  for (let i = 0; applied < count && i < count * 2; i++) {
    const o = randomObject(r, i);
    const exists = api.get(String(o.apiVersion), String(o.kind), o.metadata.namespace, o.metadata.name);
    try {
      if (exists && r() < 0.35) api.remove(String(o.apiVersion), String(o.kind), o.metadata.namespace, o.metadata.name);
      else api.put(o);
      applied++;
      await onStep?.(applied);
    } catch {
      // e.g. a namespace that was just deleted: the API server refuses, as a real one would
    }
    if (i % 8 === 0) await sleep(1);
  }
  return applied;
}

describe('Kubernetes source under injected API faults', { timeout: 240_000 }, () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of cleanups) await c();
  });

  async function setup() {
    const api = new FakeApiServer({ historySize: 2000 });
    const url = await api.start();
    for (const n of ['team-a', 'team-b']) api.create(ns(n));
    const store = new ConfigStore();
    const metrics = new Metrics();
    const src = new KubeSource({
      kc: kubeConfigFor(url), store, log: silentLogger, metrics,
      watchTimeoutMs: WATCH_TIMEOUT_MS, backoff: { initialMs: 50, maxMs: 1000 },
    });
    src.start();
    await src.waitSynced();
    // each scenario stops its own source and API server when it ends (pass or fail): eight sources of
    // ~17 informers re-watching every 1.5 s in one process would otherwise load every later scenario
    let stopped = false;
    const stop = async () => {
      if (stopped) return;
      stopped = true;
      await src.stop();
      await api.stop();
    };
    cleanups.push(stop);
    return { api, store, src, metrics, stop };
  }

  async function converge(api: FakeApiServer, store: ConfigStore, src: KubeSource, label: string): Promise<void> {
    let diff = diffViews(fixtureView(api), storeView(store, src.sourceId));
    await until(`store to equal the fixture (${label})`, () => {
      diff = diffViews(fixtureView(api), storeView(store, src.sourceId));
      return diff.lost.length + diff.stale.length + diff.extra.length === 0;
    }, 30_000, 50).catch((err: Error) => {
      // enough to tell a slow machine from a stuck informer: which kinds differ, and each informer's state
      const kinds = new Set([...diff.lost, ...diff.stale, ...diff.extra].map((k) => k.split('/')[0]));
      const states = src.states().filter((st) => kinds.has(st.kind)).map((st) => JSON.stringify(st)).join('; ');
      throw new Error(`${err.message}: lost ${diff.lost.length} ${diff.lost.slice(0, 5)}, stale ${diff.stale.length} ${diff.stale.slice(0, 5)}, extra ${diff.extra.length} ${diff.extra.slice(0, 5)}; kinds ${[...kinds]}; informers ${states}; open watches ${api.watcherCount()}`);
    });
  }

  SCENARIOS.forEach((sc, idx) => {
    it(`${sc.name}: ${MUTATIONS} random mutations, then 0 lost or stale objects`, async () => {
      const { api, store, src, stop } = await setup();
      try {
        const t0 = Date.now();
        const applied = await mutate(api, 1000 + idx, MUTATIONS, async (i) => {
          if (i === 250 || i === 500 || i === 750) await sc.inject(api);
        });
        const mutatedMs = Date.now() - t0;
        await converge(api, store, src, sc.name);
        const objects = fixtureView(api).size;
        const restarts = src.states().reduce((n, s) => n + s.restarts, 0);
        console.log(`[${sc.name}] ${applied} mutations in ${mutatedMs} ms; converged ${Date.now() - t0 - mutatedMs} ms later; ${objects} objects equal; ${restarts} informer restarts`);
        assert.equal(applied, MUTATIONS, 'mutations applied');
        // the store can equal the fixture while an informer of a kind no mutation touched is still re-listing
        await until('every informer synced again', () => src.synced, 30_000);
      } finally {
        await stop();
      }
    });
  });

  it('while the API is down: last state kept, metrics say not synced; after it returns: converged', async () => {
    const { api, store, src, metrics } = await setup();
    await mutate(api, 77, 300);
    await converge(api, store, src, 'before the outage');
    const before = storeView(store, src.sourceId);
    await api.down();
    await until('every informer to report not synced', () => src.states().every((s) => !s.synced), 10_000);
    const text = await metrics.registry.metrics();
    for (const kind of ALL_KINDS) assert.match(text, new RegExp(`meshd_kube_informer_synced\\{kind="${kind}"\\} 0`));
    // the cluster changes while meshd cannot see it
    const applied = await mutate(api, 78, 700);
    await sleep(500);
    assert.deepEqual(storeView(store, src.sourceId), before, 'the store keeps the last state it saw while the API is down');
    await api.up();
    await converge(api, store, src, 'after the outage');
    await until('synced metrics back to 1', async () => !/meshd_kube_informer_synced\{kind="\w+"\} 0/.test(await metrics.registry.metrics()));
    console.log(`[API down] ${applied} mutations during the outage; converged after it; restarts ${src.states().reduce((n, s) => n + s.restarts, 0)}`);
  });
});
