import { createHash } from 'node:crypto';
import { dependencyId, trackDependencies, type Dependency, type PushContext } from '../model/push-context.js';
import type { GeneratorName, Proxy } from '../model/proxy.js';
import { viewKey, viewProxy } from '../model/proxy-view.js';
import { ResourceCache, ResourceSegment, ResourceSet, type CacheStats, type EncodedResource } from './cache.js';
import type { Subscription } from './connection.js';
import type { Generator, ResourceScope } from './generators/generator.js';
import type { TypeUrl } from './resource-types.js';

// Subscription → ResourceSet, for both protocols. A proxy's resources come from two scopes
// (generators/generator.ts): its outbound *view* (what it consumes; shared by every proxy class with that
// view, generated from the view's canonical proxy) and its *class* (what its workload serves; generated
// from the real proxy). A subscription resolves to one segment per scope; segments and sets are shared
// immutable objects, reused across snapshots while nothing in them changed. See docs/xds-cache.md.

/** A proxy's two scopes in one snapshot. */
interface ProxyScopes {
  readonly generator: Generator;
  readonly classId: string;
  /**
   * The proxy's outbound view per type, computed on first use (absent when the generator has no views:
   * every resource is class-scoped). A generator may key one type's view by more facts than another's
   * (sidecar listeners: what their observability reads of the workload).
   */
  readonly views?: Map<TypeUrl, ViewScope>;
}

interface ViewScope {
  readonly id: string;
  readonly proxy: Proxy;
}

/** What one segment is asked for: a scope of a generator, a type, and that scope's part of a subscription. */
interface SegmentRequest {
  readonly generator: Generator;
  readonly scope: ResourceScope;
  readonly scopeId: string;
  /** the proxy to generate from: the view's canonical proxy, or the real proxy for its class */
  readonly proxy: Proxy;
  readonly type: TypeUrl;
  readonly wildcard: boolean;
  readonly part: Part;
}

/** A subscription's explicit names split by scope, with a signature per part. */
interface Part {
  readonly names: readonly string[];
  readonly signature: string;
}

export interface ResolverStats extends CacheStats {
  /** cache entries validated or built for the current snapshot */
  readonly size: number;
  /** distinct outbound views (of any type: listeners may be keyed by more facts) and proxy classes resolved in the current snapshot */
  readonly views: number;
  readonly classes: number;
  /** segments built (not reused from the previous snapshot) since start */
  readonly segmentsBuilt: number;
  /** segments of the previous snapshot kept whole (nothing they read changed), and patched in place, since start */
  readonly segmentsKept: number;
  readonly segmentsPatched: number;
  /** dependencies watched for changes, and how many changed at the last snapshot */
  readonly dependencies: number;
  readonly changedDependencies: number;
}

/**
 * A segment with what it was built from: per name its resource (null: does not exist) and dependency
 * ids, and the reverse index from dependency id to the names that read it (NAMES: the wildcard name list
 * itself). Kept across snapshots: a new snapshot touches only the names whose dependencies changed.
 */
interface SegmentState {
  readonly segment: ResourceSegment;
  readonly names: readonly string[];
  readonly entries: readonly (EncodedResource | null)[];
  readonly entryDeps: readonly (readonly string[])[];
  /** dependency id → indices into `names`; NAMES for the wildcard name computation (shared with successors) */
  readonly byDep: Map<string, number[]>;
  readonly validIn: PushContext;
}

const NAMES = -1;

/** Snapshots between rebuilds of the watched-dependency registry from the live segments. */
const REGISTRY_REBUILD_EVERY = 32;

export class Resolver {
  private readonly cache = new ResourceCache();
  private ctx: PushContext | undefined;
  private scopes = new WeakMap<Proxy, ProxyScopes>();
  /** canonical view proxies by view key, this snapshot's and the previous one's */
  private viewProxies = new Map<string, Proxy>();
  private previousViewProxies = new Map<string, Proxy>();
  private classes = new Set<string>();
  private segments = new Map<string, SegmentState>();
  private previousSegments = new Map<string, SegmentState>();
  private previousCtx: PushContext | undefined;
  /** every dependency some live segment read, with its fingerprint in the current snapshot */
  private watched = new Map<string, { readonly dep: Dependency; fingerprint: string }>();
  /** dependency ids whose fingerprint changed from the previous snapshot to this one */
  private changed = new Set<string>();
  private snapshots = 0;
  private segmentsKept = 0;
  private segmentsPatched = 0;
  private sets = new Map<string, ResourceSet>();
  private previousSets = new Map<string, ResourceSet>();
  private readonly parts = new WeakMap<Subscription, Map<string, Readonly<Record<ResourceScope, Part>>>>();
  private segmentsBuilt = 0;
  /** per segment key, this snapshot: its wildcard names with what computing them read (prepare and build share it) */
  private wildcardMemo = new Map<string, { readonly names: readonly string[]; readonly deps: readonly Dependency[] }>();
  /** per segment key, this snapshot: how many of the resources to build prepare() has built */
  private warmed = new Map<string, number>();

  constructor(private readonly generators: Partial<Record<GeneratorName, Generator>>) {}

  get snapshot(): PushContext | undefined {
    return this.ctx;
  }

  get stats(): ResolverStats {
    return {
      ...this.cache.stats, size: this.cache.size, views: this.viewProxies.size, classes: this.classes.size,
      segmentsBuilt: this.segmentsBuilt, segmentsKept: this.segmentsKept, segmentsPatched: this.segmentsPatched,
      dependencies: this.watched.size, changedDependencies: this.changed.size,
    };
  }

  beginSnapshot(ctx: PushContext): void {
    this.previousCtx = this.ctx;
    this.ctx = ctx;
    this.cache.beginSnapshot(ctx);
    if (++this.snapshots % REGISTRY_REBUILD_EVERY === 0) this.rebuildWatched();
    // What changed: every dependency a live segment read, checked once (fingerprints are memoised per
    // snapshot). Work in the new snapshot then follows only these.
    this.changed = new Set();
    for (const [id, w] of this.watched) {
      const fp = ctx.fingerprint(w.dep);
      if (fp !== w.fingerprint) {
        w.fingerprint = fp;
        this.changed.add(id);
      }
    }
    this.scopes = new WeakMap();
    this.previousViewProxies = this.viewProxies;
    this.viewProxies = new Map();
    this.classes = new Set();
    this.previousSegments = this.segments;
    this.segments = new Map();
    this.previousSets = this.sets;
    this.sets = new Map();
    this.wildcardMemo = new Map();
    this.warmed = new Map();
  }

  /**
   * What `sub` resolves to for `proxy` in the current snapshot: built once per (class, view, type,
   * subscription) and shared; the same object as in the previous snapshot when nothing in it changed.
   */
  resolve(proxy: Proxy, type: TypeUrl, sub: Subscription): ResourceSet {
    const ctx = this.ctx;
    if (!ctx) throw new Error('Resolver used before beginSnapshot');
    const { key, requests } = this.requestsOf(ctx, proxy, type, sub);
    let set = this.sets.get(key);
    if (set) return set;
    const segments: ResourceSegment[] = [];
    const [first, second] = requests;
    const own = this.segment(second ?? first);
    if (second) {
      const seg = withoutNamesOf(this.segment(first), own);
      if (seg.resources.length > 0) segments.push(seg);
    }
    if (own.resources.length > 0 || segments.length === 0) segments.push(own);
    const previous = this.previousSets.get(key);
    set = previous && sameItems(previous.segments, segments) ? previous : new ResourceSet(segments);
    this.sets.set(key, set);
    return set;
  }

  /**
   * Builds part of what resolving `sub` for `proxy` needs, until `deadline` (performance.now()) passes —
   * at least one resource per call, so every call makes progress. Returns true when resolve() has nothing
   * left to generate (it then only assembles what is built). The push path calls this first and yields
   * to the event loop between calls, so the first resolution of a view at 1000 services (thousands of
   * resources, seconds of CPU) no longer runs as one synchronous call. What is built is kept in the encode
   * cache, so progress also survives a new snapshot in between (unchanged resources are reused there).
   * The granule is one resource: a single large one (a route configuration of thousands of virtual
   * hosts) is still built in one go.
   */
  prepare(proxy: Proxy, type: TypeUrl, sub: Subscription, deadline: number): boolean {
    const ctx = this.ctx;
    if (!ctx) return true;
    const { key, requests } = this.requestsOf(ctx, proxy, type, sub);
    if (this.sets.has(key)) return true;
    const progress = { built: 0 };
    for (const req of requests) if (!this.warm(req, deadline, progress)) return false;
    return true;
  }

  /** The set key of a subscription and the segment requests it resolves to (view first, then class). */
  private requestsOf(ctx: PushContext, proxy: Proxy, type: TypeUrl, sub: Subscription): { key: string; requests: [SegmentRequest] | [SegmentRequest, SegmentRequest] } {
    const scopes = this.scopesOf(ctx, proxy);
    const scope = this.viewOf(ctx, scopes, proxy, type);
    const key = `${scopes.classId}\u0001${scope?.id ?? ''}\u0001${type}\u0001${sub.signature}`;
    const parts = this.partsOf(scopes.generator, type, sub);
    const own: SegmentRequest = { generator: scopes.generator, scope: 'class', scopeId: scopes.classId, proxy, type, wildcard: sub.wildcard, part: parts.class };
    if (!scope) return { key, requests: [own] };
    const view: SegmentRequest = { generator: scopes.generator, scope: 'view', scopeId: scope.id, proxy: scope.proxy, type, wildcard: sub.wildcard, part: parts.view };
    return { key, requests: [view, own] };
  }

  /**
   * prepare() for one segment: generates (into the encode cache) the resources segment() would generate,
   * continuing where the previous call stopped; stops at the deadline once this call (`progress`, shared
   * by the segments of one prepare) has built something.
   */
  private warm(req: SegmentRequest, deadline: number, progress: { built: number }): boolean {
    const key = segmentKey(req);
    if (this.segments.has(key)) return true;
    const previous = this.previousSegments.get(key);
    const prior = previous && previous.validIn === this.previousCtx ? previous : undefined;
    const affected = prior ? this.affectedIndices(prior) : undefined;
    if (prior && affected!.size === 0) return true;
    let todo: readonly string[];
    if (prior && !affected!.has(NAMES)) {
      todo = [...affected!].map((i) => prior.names[i]!);
    } else {
      const names = this.namesOf(req);
      const priorIndex = prior ? new Map(prior.names.map((n, i) => [n, i])) : undefined;
      todo = priorIndex ? names.filter((n) => { const j = priorIndex.get(n); return j === undefined || affected!.has(j); }) : names;
    }
    const start = this.warmed.get(key) ?? 0;
    for (let i = start; i < todo.length; i++) {
      if (progress.built > 0 && performance.now() >= deadline) {
        this.warmed.set(key, i);
        return false;
      }
      this.generateOne(req, todo[i]!);
      progress.built++;
    }
    this.warmed.set(key, todo.length);
    return true;
  }

  /** A segment's names: the scope's wildcard names (if subscribed) and its explicit ones, sorted; memoised per snapshot. */
  private namesOf(req: SegmentRequest): readonly string[] {
    return this.wildcardOf(req)?.names ?? req.part.names;
  }

  private wildcardOf(req: SegmentRequest): { readonly names: readonly string[]; readonly deps: readonly Dependency[] } | undefined {
    if (!req.wildcard) return undefined;
    const key = segmentKey(req);
    let memo = this.wildcardMemo.get(key);
    if (!memo) {
      const { generator, scope, proxy, type, part } = req;
      const ctx = this.ctx!;
      // the class's names are the generator's word (a workload's own listener can take a name that is
      // otherwise an outbound one: resolve() then drops it from the view's part); the view's are filtered
      const inScope = (name: string) => scope === 'class' || (generator.view && generator.scopeOf ? generator.scopeOf(type, name) : 'class') === scope;
      const { value, deps } = trackDependencies(() => generator.wildcardNames(type, ctx, proxy, scope).filter(inScope));
      memo = { names: [...new Set([...value, ...part.names])].sort(), deps };
      this.wildcardMemo.set(key, memo);
    }
    return memo;
  }

  private scopesOf(ctx: PushContext, proxy: Proxy): ProxyScopes {
    let scopes = this.scopes.get(proxy);
    if (scopes) return scopes;
    const generator = this.generators[proxy.generator];
    if (!generator) throw new Error(`no ${proxy.generator} generator for ${proxy.id}`);
    const classId = `class\u0000${generator.name}\u0000${generator.classKey(ctx, proxy)}`;
    this.classes.add(classId);
    scopes = { generator, classId, ...(generator.view ? { views: new Map<TypeUrl, ViewScope>() } : {}) };
    this.scopes.set(proxy, scopes);
    return scopes;
  }

  /** The proxy's view for `type` and its canonical proxy (shared by every proxy with that view). */
  private viewOf(ctx: PushContext, scopes: ProxyScopes, proxy: Proxy, type: TypeUrl): ViewScope | undefined {
    const { generator, views } = scopes;
    if (!views || !generator.view) return undefined;
    let scope = views.get(type);
    if (scope) return scope;
    const v = generator.view(ctx, proxy, type);
    const key = viewKey(v);
    let canonical = this.viewProxies.get(key);
    if (!canonical) {
      canonical = this.previousViewProxies.get(key) ?? viewProxy(v);
      this.viewProxies.set(key, canonical);
    }
    views.set(type, (scope = { id: `view\u0000${key}`, proxy: canonical }));
    return scope;
  }

  /**
   * The explicit names of `sub` that belong to each scope. A part that is all of the names keeps the
   * subscription's signature, so proxies of one view share the view segment whatever their class asks.
   */
  private partsOf(generator: Generator, type: TypeUrl, sub: Subscription): Readonly<Record<ResourceScope, Part>> {
    let byType = this.parts.get(sub);
    if (!byType) this.parts.set(sub, (byType = new Map()));
    const memoKey = `${generator.name}\u0000${type}`;
    let parts = byType.get(memoKey);
    if (parts) return parts;
    const scopeOf = (name: string): ResourceScope => (generator.view && generator.scopeOf ? generator.scopeOf(type, name) : 'class');
    const view: string[] = [];
    const own: string[] = [];
    for (const name of sub.names) (scopeOf(name) === 'view' ? view : own).push(name);
    const part = (names: string[]): Part => {
      if (names.length === sub.names.length) return { names: sub.names, signature: sub.signature };
      if (names.length === 0) return { names, signature: sub.wildcard ? '*' : '' };
      return { names, signature: `${sub.wildcard ? '*+' : ''}${createHash('sha1').update(names.join('\n')).digest('base64url')}` };
    };
    parts = { view: part(view), class: part(own) };
    byType.set(memoKey, parts);
    return parts;
  }

  /**
   * The resources of one scope: the scope's wildcard names (if subscribed) and its explicit names. A
   * segment of the previous snapshot is kept whole when nothing it read changed, patched where only
   * some resources' dependencies changed, and rebuilt (reusing every resource whose dependencies did not
   * change) when its wildcard name list may have.
   */
  private segment(req: SegmentRequest): ResourceSegment {
    const key = segmentKey(req);
    let state = this.segments.get(key);
    if (state) return state.segment;
    const ctx = this.ctx!;
    const previous = this.previousSegments.get(key);
    const prior = previous && previous.validIn === this.previousCtx ? previous : undefined;
    const affected = prior ? this.affectedIndices(prior) : undefined;
    if (prior && affected!.size === 0) {
      state = { ...prior, validIn: ctx };
      this.segmentsKept++;
      this.cache.noteCarried(prior.names.length);
    } else if (prior && !affected!.has(NAMES)) {
      state = this.patch(prior, affected!, req);
      this.segmentsPatched++;
    } else if (prior && sameItems(this.namesOf(req), prior.names)) {
      // what the name list read changed, but not the list (a DestinationRule policy edit: every CDS
      // view's names read the DestinationRules, and the subsets are the same): a patch, not a rebuild
      // that re-indexes every carried resource's dependencies
      for (const d of this.wildcardOf(req)!.deps) addIndex(prior.byDep, this.watch(d), NAMES);
      state = this.patch(prior, withoutNames(affected!), req);
      this.segmentsPatched++;
    } else {
      state = this.build(prior, affected, req);
      this.segmentsBuilt++;
    }
    this.segments.set(key, state);
    return state.segment;
  }

  /** Indices of `prior` whose dependencies changed since the previous snapshot (NAMES: its name list). */
  private affectedIndices(prior: SegmentState): Set<number> {
    const out = new Set<number>();
    for (const id of this.changed) for (const i of prior.byDep.get(id) ?? []) out.add(i);
    return out;
  }

  private generateOne({ generator, scopeId, proxy, type }: SegmentRequest, name: string): { resource: EncodedResource | null; deps: string[] } {
    const ctx = this.ctx!;
    const r = this.cache.resourceAndReads(scopeId, type, name, () => generator.generate(type, ctx, proxy, name));
    const deps = r.deps.map((d) => this.watch(d));
    return { resource: r.resource, deps };
  }

  /** Registers a dependency to check at every new snapshot; returns its id. */
  private watch(d: Dependency): string {
    const id = dependencyId(d);
    if (!this.watched.has(id)) this.watched.set(id, { dep: d, fingerprint: this.ctx!.fingerprint(d) });
    return id;
  }

  /** `prior` with the resources at `affected` regenerated (same names). */
  private patch(prior: SegmentState, affected: ReadonlySet<number>, req: SegmentRequest): SegmentState {
    const entries = [...prior.entries];
    const entryDeps = [...prior.entryDeps];
    let changed = false;
    for (const i of affected) {
      const { resource, deps } = this.generateOne(req, prior.names[i]!);
      if (resource !== entries[i]) changed = true;
      entries[i] = resource;
      entryDeps[i] = deps;
      // the successor shares the index: stale ids of old dependencies only ever cause a needless check
      for (const id of deps) addIndex(prior.byDep, id, i);
    }
    this.cache.noteCarried(prior.names.length - affected.size);
    const segment = changed ? new ResourceSegment(entries.filter((r): r is EncodedResource => r !== null)) : prior.segment;
    return { segment, names: prior.names, entries, entryDeps, byDep: prior.byDep, validIn: this.ctx! };
  }

  /** Builds a segment from its names, keeping from `prior` every resource whose dependencies did not change. */
  private build(prior: SegmentState | undefined, affected: ReadonlySet<number> | undefined, req: SegmentRequest): SegmentState {
    const ctx = this.ctx!;
    const byDep = new Map<string, number[]>();
    let names = req.part.names;
    const wildcard = this.wildcardOf(req);
    if (wildcard) {
      names = wildcard.names;
      for (const d of wildcard.deps) addIndex(byDep, this.watch(d), NAMES);
    }
    const priorIndex = prior ? new Map(prior.names.map((n, i) => [n, i])) : undefined;
    const entries: (EncodedResource | null)[] = [];
    const entryDeps: (readonly string[])[] = [];
    let carried = 0;
    names.forEach((name, i) => {
      const j = priorIndex?.get(name);
      let resource: EncodedResource | null;
      let deps: readonly string[];
      if (j !== undefined && !affected!.has(j)) {
        resource = prior!.entries[j]!;
        deps = prior!.entryDeps[j]!;
        carried++;
      } else {
        ({ resource, deps } = this.generateOne(req, name));
      }
      entries.push(resource);
      entryDeps.push(deps);
      for (const id of deps) addIndex(byDep, id, i);
    });
    this.cache.noteCarried(carried);
    const resources = entries.filter((r): r is EncodedResource => r !== null);
    const segment = prior && sameItems(prior.segment.resources, resources) ? prior.segment : new ResourceSegment(resources);
    return { segment, names, entries, entryDeps, byDep, validIn: ctx };
  }

  /** Rebuilds the watched-dependency registry from the live segments (drops what no segment reads). */
  private rebuildWatched(): void {
    const live = new Set<string>();
    for (const states of [this.segments, this.previousSegments]) for (const st of states.values()) for (const id of st.byDep.keys()) live.add(id);
    for (const id of [...this.watched.keys()]) if (!live.has(id)) this.watched.delete(id);
  }
}

const narrowed = new WeakMap<ResourceSegment, WeakMap<ResourceSegment, ResourceSegment>>();

/**
 * `view` without the names `own` also has: a resource of the class's own replaces the view's of that
 * name (a Sidecar ingress port bound for real takes the name of the outbound listener on that port, as
 * istiod builds inbound listeners first). Memoised per pair, so an unchanged pair stays the same object.
 */
function withoutNamesOf(view: ResourceSegment, own: ResourceSegment): ResourceSegment {
  if (own.resources.length === 0 || !own.resources.some((r) => view.get(r.name))) return view;
  let byOwn = narrowed.get(view);
  if (!byOwn) narrowed.set(view, (byOwn = new WeakMap()));
  let out = byOwn.get(own);
  if (!out) byOwn.set(own, (out = new ResourceSegment(view.resources.filter((r) => !own.get(r.name)))));
  return out;
}

function withoutNames(affected: ReadonlySet<number>): Set<number> {
  const out = new Set(affected);
  out.delete(NAMES);
  return out;
}

function segmentKey(req: SegmentRequest): string {
  return `${req.scopeId}\u0001${req.type}\u0001${req.part.signature}`;
}

function addIndex(byDep: Map<string, number[]>, id: string, i: number): void {
  const list = byDep.get(id);
  if (!list) byDep.set(id, [i]);
  else if (list[list.length - 1] !== i) list.push(i);
}

function sameItems<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
