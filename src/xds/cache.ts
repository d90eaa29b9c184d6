import { createHash } from 'node:crypto';
import protobuf from 'protobufjs';
import { dependencyId, trackDependencies, type Dependency, type PushContext } from '../model/push-context.js';
import { encodeSpliced } from '../envoy/encode-parts.js';
import { encodeMessage } from '../envoy/protos.js';
import { TYPE, typeName, type TypeUrl } from './resource-types.js';

export interface EncodedResource {
  readonly name: string;
  readonly typeUrl: TypeUrl;
  /** the resource's bytes wrapped in google.protobuf.Any, ready to splice into a DiscoveryResponse */
  readonly any: Uint8Array;
  /** content hash of the encoded resource: the per-resource version sent to Delta clients and compared on push */
  readonly hash: string;
  readonly body: object;
}

/**
 * Repeated fields whose elements are encoded one by one and reused by identity (envoy/encode-parts.ts):
 * route configurations' virtual hosts, which the sidecar generator keeps across rebuilds.
 */
const SPLICED_FIELDS: Partial<Record<TypeUrl, string>> = { [TYPE.RDS]: 'virtual_hosts' };

export function encodeResource(typeUrl: TypeUrl, name: string, body: object): EncodedResource {
  const spliced = SPLICED_FIELDS[typeUrl];
  const value = spliced ? encodeSpliced(typeName(typeUrl), body as Record<string, unknown>, spliced) : encodeMessage(typeName(typeUrl), body);
  const any = protobuf.Writer.create().uint32((1 << 3) | 2).string(typeUrl).uint32((2 << 3) | 2).bytes(value).finish();
  const hash = createHash('sha1').update(value).digest('base64url').slice(0, 16);
  return { name, typeUrl, any, hash, body };
}

/**
 * Part of a resolved subscription that many proxies share: the resources of one scope (an outbound view,
 * or one proxy class) for one type and subscription, in name order, with a digest over names and content
 * hashes. Immutable; a segment whose resources did not change across snapshots is the same object.
 */
export class ResourceSegment {
  readonly digest: string;
  private index: Map<string, EncodedResource> | undefined;

  constructor(readonly resources: readonly EncodedResource[]) {
    const h = createHash('sha1');
    for (const r of resources) h.update(r.name).update('\u0000').update(r.hash).update('\u0000');
    this.digest = h.digest('base64url');
  }

  get(name: string): EncodedResource | undefined {
    if (!this.index) {
      if (this.resources.length <= 8) return this.resources.find((r) => r.name === name);
      this.index = new Map(this.resources.map((r) => [r.name, r]));
    }
    return this.index.get(name);
  }
}

/** name → content hash lookups over a ResourceSet (what the old per-set Map offered). */
export interface NameIndex {
  get(name: string): string | undefined;
  has(name: string): boolean;
}

/**
 * What one subscription resolves to: shared segments, disjoint by name (typically the proxy's outbound
 * view's and its class's own). Proxies with the same view, class and subscription share one set per
 * snapshot, and a set whose segments did not change across snapshots is the same object, so "the proxy
 * holds this set" is one reference. A proxy whose last-sent set has the same digest needs no push.
 */
export class ResourceSet {
  readonly digest: string;
  readonly byName: NameIndex;
  private flat: readonly EncodedResource[] | undefined;

  constructor(readonly segments: readonly ResourceSegment[]) {
    this.digest = segments.length === 1
      ? segments[0]!.digest
      : createHash('sha1').update(segments.map((s) => s.digest).join('\u0000')).digest('base64url');
    this.byName = {
      get: (name) => this.get(name)?.hash,
      has: (name) => this.get(name) !== undefined,
    };
  }

  /** every resource: the segments concatenated, each in name order */
  get resources(): readonly EncodedResource[] {
    if (this.segments.length === 1) return this.segments[0]!.resources;
    return (this.flat ??= this.segments.flatMap((s) => s.resources));
  }

  get size(): number {
    let n = 0;
    for (const s of this.segments) n += s.resources.length;
    return n;
  }

  get(name: string): EncodedResource | undefined {
    for (const s of this.segments) {
      const r = s.get(name);
      if (r) return r;
    }
    return undefined;
  }
}

/** A set of one segment holding `resources` (name order is the caller's). */
export function resourceSetOf(resources: readonly EncodedResource[]): ResourceSet {
  return new ResourceSet([new ResourceSegment(resources)]);
}

/** What changed from one set to another: resources new or with another hash, and names no longer present. */
export interface SetDiff {
  readonly changed: readonly EncodedResource[];
  readonly removed: readonly string[];
}

const diffs = new WeakMap<ResourceSet, WeakMap<ResourceSet, SetDiff>>();

/**
 * The diff from `from` to `to`, computed once per pair and shared by every connection making that step
 * (kept as long as `to` is). Segments both sets share are skipped without looking inside.
 */
export function diffSets(from: ResourceSet, to: ResourceSet): SetDiff {
  let byFrom = diffs.get(to);
  if (!byFrom) diffs.set(to, (byFrom = new WeakMap()));
  let diff = byFrom.get(from);
  if (diff) return diff;
  const changed: EncodedResource[] = [];
  const removed: string[] = [];
  if (from !== to) {
    const fromSegments = new Set(from.segments);
    const toSegments = new Set(to.segments);
    for (const seg of to.segments) {
      if (fromSegments.has(seg)) continue;
      for (const r of seg.resources) if (from.get(r.name)?.hash !== r.hash) changed.push(r);
    }
    for (const seg of from.segments) {
      if (toSegments.has(seg)) continue;
      for (const r of seg.resources) if (!to.get(r.name)) removed.push(r.name);
    }
  }
  diff = { changed, removed: removed.sort() };
  byFrom.set(from, diff);
  return diff;
}

export interface CacheStats {
  /** served from this snapshot's entries */
  hits: number;
  /** carried over from the previous snapshot because nothing the resource read had changed */
  reused: number;
  /** generated (and encoded, unless an identical body was already encoded: see `sameBody`) */
  built: number;
  /** of the built: bodies identical to one already encoded (another class, or an earlier snapshot) */
  sameBody: number;
}

interface Entry {
  readonly resource: EncodedResource | null;
  readonly reads: Reads;
}

/**
 * What a generation read from the snapshot: dependency keys and their fingerprints then. Proxy classes
 * building the same resource read the same things, so equal reads are one shared object and a new
 * snapshot checks them once for every class rather than once per class.
 */
interface Reads {
  readonly deps: readonly Dependency[];
  readonly fingerprints: readonly string[];
  /** the snapshot `unchanged` was computed for */
  checkedIn?: PushContext;
  unchanged?: boolean;
}

/**
 * How many distinct bodies of one resource name `encodeOnce` compares against. Most names have one body
 * for every class; a few (inbound listeners and clusters, per-namespace route configurations) have one
 * per class or namespace, and beyond this many an encode is cheaper than the comparisons.
 */
const DISTINCT_BODIES_PER_NAME = 16;

/** How many "this name does not exist" answers one snapshot remembers (see `resource`). */
const MAX_ABSENT_ENTRIES = 10_000;

/**
 * Whether two generated bodies are the same encoder input: equal JSON values with keys in the same
 * order (Struct and map fields are encoded in key order). A false "different" only costs an encode.
 */
export function sameBody(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameBody(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (let i = 0; i < ka.length; i++) {
    const k = ka[i]!;
    if (k !== kb[i] || !sameBody((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  }
  return true;
}

type ClassMap = Map<string, Map<string, Map<string, Entry>>>; // scope → type → name → entry

function lookup(map: ClassMap, classId: string, typeUrl: string, name: string): Entry | undefined {
  return map.get(classId)?.get(typeUrl)?.get(name);
}

function store(map: ClassMap, classId: string, typeUrl: string, name: string, entry: Entry): void {
  let byType = map.get(classId);
  if (!byType) map.set(classId, (byType = new Map()));
  let byName = byType.get(typeUrl);
  if (!byName) byType.set(typeUrl, (byName = new Map()));
  byName.set(name, entry);
}

/**
 * Encoded resources, kept across snapshots. An entry is keyed by every generator input besides the
 * snapshot — its scope (generator + outbound view, or generator + class key: see resolve.ts), type and
 * name — and remembers what it read from the
 * snapshot (dependency keys and their fingerprints). In a new snapshot an entry is reused only if every
 * fingerprint is unchanged, so a change costs work in proportion to what it touches. Entries no proxy
 * asked for during a whole snapshot are dropped at the next one (two generations).
 */
export class ResourceCache {
  private current: ClassMap = new Map();
  private previous: ClassMap = new Map();
  private ctx: PushContext | undefined;
  private entries = 0;
  /** entries recording that a name does not exist, this snapshot */
  private absent = 0;
  /** distinct encoded bodies by type and name (see `encodeOnce`), this snapshot's and the previous one's */
  private bodies = new Map<string, EncodedResource[]>();
  private previousBodies = new Map<string, EncodedResource[]>();
  /** shared Reads by their dependency keys and fingerprints (see `internReads`), two generations */
  private reads = new Map<string, Reads>();
  private previousReads = new Map<string, Reads>();
  readonly stats: CacheStats = { hits: 0, reused: 0, built: 0, sameBody: 0 };

  beginSnapshot(ctx: PushContext): void {
    this.ctx = ctx;
    this.previous = this.current;
    this.current = new Map();
    this.entries = 0;
    this.absent = 0;
    this.previousBodies = this.bodies;
    this.bodies = new Map();
    this.previousReads = this.reads;
    this.reads = new Map();
  }

  /** The encoded resource, or null if the generator says it does not exist (also cached). */
  resource(scopeId: string, typeUrl: TypeUrl, name: string, generate: () => object | undefined): EncodedResource | null {
    return this.resourceAndReads(scopeId, typeUrl, name, generate).resource;
  }

  /** `resource`, with the dependencies the resource was built from (for the resolver's segment index). */
  resourceAndReads(scopeId: string, typeUrl: TypeUrl, name: string, generate: () => object | undefined): { resource: EncodedResource | null; deps: readonly Dependency[] } {
    const ctx = this.ctx;
    if (!ctx) throw new Error('ResourceCache used before beginSnapshot');
    const hit = lookup(this.current, scopeId, typeUrl, name);
    if (hit) {
      this.stats.hits++;
      return { resource: hit.resource, deps: hit.reads.deps };
    }
    const old = lookup(this.previous, scopeId, typeUrl, name);
    if (old && this.unchangedIn(ctx, old.reads) && (old.resource || this.absent++ < MAX_ABSENT_ENTRIES)) {
      this.stats.reused++;
      store(this.current, scopeId, typeUrl, name, old);
      this.entries++;
      return { resource: old.resource, deps: old.reads.deps };
    }
    this.stats.built++;
    const { value, deps } = trackDependencies(generate);
    if (!value) {
      // Clients choose the names they subscribe to, so remembering that a name does not exist is
      // bounded: past the bound it is regenerated when asked (names that do not parse cost nothing).
      if (this.absent >= MAX_ABSENT_ENTRIES) return { resource: null, deps };
      this.absent++;
    }
    const reads = this.internReads(deps, deps.map((d) => ctx.fingerprint(d)));
    const entry: Entry = {
      resource: value ? this.encodeOnce(typeUrl, name, value) : null,
      reads,
    };
    store(this.current, scopeId, typeUrl, name, entry);
    this.entries++;
    return { resource: entry.resource, deps };
  }

  /** Counts resources a caller kept from the previous snapshot without asking (see resolve.ts). */
  noteCarried(n: number): void {
    this.stats.reused += n;
  }

  /**
   * Encodes a generated body unless an identical one of the same type and name was encoded in this
   * snapshot or the previous one. Proxy classes mostly differ in a few resources (inbound listeners,
   * namespace-relative route domains) and a rebuilt resource often comes out unchanged, while encoding
   * (protobufjs fromObject + encode) costs several times the generation; comparing the body with the
   * few distinct bodies already encoded under its name is far cheaper, and stops at the first
   * difference. Equal bodies are equal encoder input, so sharing their bytes changes no output.
   */
  private encodeOnce(typeUrl: TypeUrl, name: string, body: object): EncodedResource {
    const key = `${typeUrl}\u0000${name}`;
    const seen = this.bodies.get(key);
    let encoded = seen?.find((e) => sameBody(e.body, body));
    if (encoded) {
      this.stats.sameBody++;
      return encoded;
    }
    encoded = this.previousBodies.get(key)?.find((e) => sameBody(e.body, body));
    if (encoded) this.stats.sameBody++;
    else encoded = encodeResource(typeUrl, name, body);
    if (!seen) this.bodies.set(key, [encoded]);
    else if (seen.length < DISTINCT_BODIES_PER_NAME) seen.push(encoded);
    return encoded;
  }

  private unchangedIn(ctx: PushContext, reads: Reads): boolean {
    if (reads.checkedIn !== ctx) {
      reads.unchanged = reads.deps.every((d, i) => ctx.fingerprint(d) === reads.fingerprints[i]);
      reads.checkedIn = ctx;
    }
    return reads.unchanged === true;
  }

  /** The shared Reads equal to these (this snapshot's or the previous one's), or a new one. */
  private internReads(deps: readonly Dependency[], fingerprints: readonly string[]): Reads {
    const key = `${deps.map(dependencyId).join('\u0000')}\u0001${fingerprints.join('\u0000')}`;
    let reads = this.reads.get(key) ?? this.previousReads.get(key);
    reads ??= { deps, fingerprints };
    this.reads.set(key, reads);
    return reads;
  }

  /** entries validated or built for the current snapshot */
  get size(): number {
    return this.entries;
  }
}
