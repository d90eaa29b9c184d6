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

export interface CacheStats {
  hits: number;
  misses: number;
}

/**
 * Encoded resources of one snapshot. Keys carry every generator input besides the snapshot itself
 * (generator, proxy class key, type, name); a new snapshot gets a new cache, so nothing stale survives.
 */
export class SnapshotCache {
  private readonly entries = new Map<string, EncodedResource | null>();
  readonly stats: CacheStats = { hits: 0, misses: 0 };

  constructor(readonly version: string) {}

  static key(generator: string, classKey: string, typeUrl: TypeUrl, name: string): string {
    return `${generator}\u0000${classKey}\u0000${typeUrl}\u0000${name}`;
  }

  /** `null` caches "this resource does not exist" so repeated misses cost nothing either. */
  getOrBuild(key: string, build: () => EncodedResource | null): EncodedResource | null {
    const hit = this.entries.get(key);
    if (hit !== undefined) {
      this.stats.hits++;
      return hit;
    }
    this.stats.misses++;
    const built = build();
    this.entries.set(key, built);
    return built;
  }

  get size(): number {
    return this.entries.size;
  }
}
