import { createHash } from 'node:crypto';
import type { PushContext } from '../model/push-context.js';
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
  /** absent when the generator has no views: every resource is class-scoped */
  readonly view?: { readonly id: string; readonly proxy: Proxy };
}

/** A subscription's explicit names split by scope, with a signature per part. */
interface Part {
  readonly names: readonly string[];
  readonly signature: string;
}

export interface ResolverStats extends CacheStats {
  /** cache entries validated or built for the current snapshot */
  readonly size: number;
  /** distinct outbound views and proxy classes resolved in the current snapshot */
  readonly views: number;
  readonly classes: number;
  /** segments built (not reused from the previous snapshot) since start */
  readonly segmentsBuilt: number;
}

export class Resolver {
  private readonly cache = new ResourceCache();
  private ctx: PushContext | undefined;
  private scopes = new WeakMap<Proxy, ProxyScopes>();
  /** canonical view proxies by view key, this snapshot's and the previous one's */
  private viewProxies = new Map<string, Proxy>();
  private previousViewProxies = new Map<string, Proxy>();
  private classes = new Set<string>();
  private segments = new Map<string, ResourceSegment>();
  private previousSegments = new Map<string, ResourceSegment>();
  private sets = new Map<string, ResourceSet>();
  private previousSets = new Map<string, ResourceSet>();
  private readonly parts = new WeakMap<Subscription, Map<string, Readonly<Record<ResourceScope, Part>>>>();
  private segmentsBuilt = 0;

  constructor(private readonly generators: Partial<Record<GeneratorName, Generator>>) {}

  get snapshot(): PushContext | undefined {
    return this.ctx;
  }

  get stats(): ResolverStats {
    return { ...this.cache.stats, size: this.cache.size, views: this.viewProxies.size, classes: this.classes.size, segmentsBuilt: this.segmentsBuilt };
  }

  beginSnapshot(ctx: PushContext): void {
    this.ctx = ctx;
    this.cache.beginSnapshot(ctx);
    this.scopes = new WeakMap();
    this.previousViewProxies = this.viewProxies;
    this.viewProxies = new Map();
    this.classes = new Set();
    this.previousSegments = this.segments;
    this.segments = new Map();
    this.previousSets = this.sets;
    this.sets = new Map();
  }

  /**
   * What `sub` resolves to for `proxy` in the current snapshot: built once per (class, view, type,
   * subscription) and shared; the same object as in the previous snapshot when nothing in it changed.
   */
  resolve(proxy: Proxy, type: TypeUrl, sub: Subscription): ResourceSet {
    const ctx = this.ctx;
    if (!ctx) throw new Error('Resolver used before beginSnapshot');
    const scopes = this.scopesOf(ctx, proxy);
    const key = `${scopes.classId}\u0001${scopes.view?.id ?? ''}\u0001${type}\u0001${sub.signature}`;
    let set = this.sets.get(key);
    if (set) return set;
    const parts = this.partsOf(scopes.generator, type, sub);
    const segments: ResourceSegment[] = [];
    if (scopes.view) {
      const seg = this.segment(scopes.generator, 'view', scopes.view.id, scopes.view.proxy, type, sub.wildcard, parts.view);
      if (seg.resources.length > 0) segments.push(seg);
    }
    const own = this.segment(scopes.generator, 'class', scopes.classId, proxy, type, sub.wildcard, parts.class);
    if (own.resources.length > 0 || segments.length === 0) segments.push(own);
    const previous = this.previousSets.get(key);
    set = previous && sameItems(previous.segments, segments) ? previous : new ResourceSet(segments);
    this.sets.set(key, set);
    return set;
  }

  private scopesOf(ctx: PushContext, proxy: Proxy): ProxyScopes {
    let scopes = this.scopes.get(proxy);
    if (scopes) return scopes;
    const generator = this.generators[proxy.generator];
    if (!generator) throw new Error(`no ${proxy.generator} generator for ${proxy.id}`);
    const classId = `class\u0000${generator.name}\u0000${generator.classKey(ctx, proxy)}`;
    this.classes.add(classId);
    let view: ProxyScopes['view'];
    if (generator.view) {
      const v = generator.view(ctx, proxy);
      const key = viewKey(v);
      let canonical = this.viewProxies.get(key);
      if (!canonical) {
        canonical = this.previousViewProxies.get(key) ?? viewProxy(v);
        this.viewProxies.set(key, canonical);
      }
      view = { id: `view\u0000${key}`, proxy: canonical };
    }
    scopes = { generator, classId, ...(view ? { view } : {}) };
    this.scopes.set(proxy, scopes);
    return scopes;
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

  /** The resources of one scope: the scope's wildcard names (if subscribed) and its explicit names. */
  private segment(
    generator: Generator,
    scope: ResourceScope,
    scopeId: string,
    proxy: Proxy,
    type: TypeUrl,
    wildcard: boolean,
    part: Part,
  ): ResourceSegment {
    const key = `${scopeId}\u0001${type}\u0001${part.signature}`;
    let seg = this.segments.get(key);
    if (seg) return seg;
    const ctx = this.ctx!;
    const inScope = (name: string) => (generator.view && generator.scopeOf ? generator.scopeOf(type, name) : 'class') === scope;
    const names = wildcard
      ? [...new Set([...generator.wildcardNames(type, ctx, proxy, scope).filter(inScope), ...part.names])].sort()
      : part.names;
    const resources: EncodedResource[] = [];
    for (const name of names) {
      const r = this.cache.resource(scopeId, type, name, () => generator.generate(type, ctx, proxy, name));
      if (r) resources.push(r);
    }
    const previous = this.previousSegments.get(key);
    if (previous && sameItems(previous.resources, resources)) seg = previous;
    else {
      seg = new ResourceSegment(resources);
      this.segmentsBuilt++;
    }
    this.segments.set(key, seg);
    return seg;
  }
}

function sameItems<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
