import { createHash } from 'node:crypto';
import protobuf from 'protobufjs';
import { encodeMessage } from './protos.js';
import { typeName, type TypeUrl } from './resource-types.js';

export interface EncodedResource {
  readonly name: string;
  readonly typeUrl: TypeUrl;
  /** the resource's bytes wrapped in google.protobuf.Any, ready to splice into a DiscoveryResponse */
  readonly any: Uint8Array;
  /** content hash of the encoded resource: the per-resource version sent to Delta clients and compared on push */
  readonly hash: string;
  readonly body: object;
}

export function encodeResource(typeUrl: TypeUrl, name: string, body: object): EncodedResource {
  const value = encodeMessage(typeName(typeUrl), body);
  const any = protobuf.Writer.create().uint32((1 << 3) | 2).string(typeUrl).uint32((2 << 3) | 2).bytes(value).finish();
  const hash = createHash('sha1').update(value).digest('base64url').slice(0, 16);
  return { name, typeUrl, any, hash, body };
}

/**
 * The resources one subscription resolves to, in name order, with a digest over names and content
 * hashes. Proxies of one class watching the same names share one ResourceSet per snapshot; a proxy
 * whose last-sent set has the same digest needs no push, whatever the number of resources.
 */
export interface ResourceSet {
  readonly resources: readonly EncodedResource[];
  readonly byName: ReadonlyMap<string, string>;
  readonly digest: string;
}

export function resourceSetOf(resources: readonly EncodedResource[]): ResourceSet {
  const h = createHash('sha1');
  const byName = new Map<string, string>();
  for (const r of resources) {
    h.update(r.name).update('\u0000').update(r.hash).update('\u0000');
    byName.set(r.name, r.hash);
  }
  return { resources, byName, digest: h.digest('base64url') };
}

export interface CacheStats {
  hits: number;
  misses: number;
}

/**
 * Encoded resources of one snapshot. Entries are keyed by every generator input besides the snapshot
 * itself — the proxy class (generator + class key), the type and the name — in nested maps, so a
 * lookup hashes only the resource name. A new snapshot gets a new cache: nothing stale survives.
 */
export class SnapshotCache {
  private readonly classes = new Map<string, Map<string, Map<string, EncodedResource | null>>>();
  private readonly sets = new Map<string, ResourceSet>();
  readonly stats: CacheStats = { hits: 0, misses: 0 };
  private entries = 0;

  constructor(readonly version: string) {}

  /** `null` caches "this resource does not exist" so repeated misses cost nothing either. */
  resource(classId: string, typeUrl: TypeUrl, name: string, build: () => EncodedResource | null): EncodedResource | null {
    let byType = this.classes.get(classId);
    if (!byType) this.classes.set(classId, (byType = new Map()));
    let byName = byType.get(typeUrl);
    if (!byName) byType.set(typeUrl, (byName = new Map()));
    const hit = byName.get(name);
    if (hit !== undefined) {
      this.stats.hits++;
      return hit;
    }
    this.stats.misses++;
    const built = build();
    byName.set(name, built);
    this.entries++;
    return built;
  }

  /** The resolved subscription for a class, type and name-set signature, built once per snapshot. */
  resourceSet(classId: string, typeUrl: TypeUrl, signature: string, build: () => ResourceSet): ResourceSet {
    const key = `${classId}\u0000${typeUrl}\u0000${signature}`;
    let set = this.sets.get(key);
    if (!set) this.sets.set(key, (set = build()));
    return set;
  }

  get size(): number {
    return this.entries;
  }
}
