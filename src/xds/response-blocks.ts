import type { EncodedResource } from './cache.js';

// The repeated `resources` field of a DiscoveryResponse / DeltaDiscoveryResponse is most of its bytes, and
// most of it is the same for every stream making the same step: a set's segments (shared by every proxy
// of a view or class) on a first response, the shared diff of a (from, to) pair on a push. Encoded once
// per resource list and kept while streams are still sending it, each further stream's response costs a
// copy of the block instead of protobufjs writing every resource again (at 2000 sidecars, ~15 % of
// meshd's busy time in a sync was each stream encoding its own Delta response).
//
// A block is a run of complete `resources` fields, so a response is its head fields, the blocks of its
// resource lists in order, and its tail fields — byte for byte what one writer over the whole message
// writes, since the fields stay in field-number order.

/** At most this many bytes of blocks are kept (least recently used dropped first). */
const BLOCK_BUDGET_BYTES = 48 * 2 ** 20;

export class ResponseBlocks {
  private readonly blocks = new Map<readonly EncodedResource[], Uint8Array>();
  private bytes = 0;
  hits = 0;
  misses = 0;

  constructor(
    private readonly encode: (resources: readonly EncodedResource[]) => Uint8Array,
    private readonly budget = BLOCK_BUDGET_BYTES,
  ) {}

  /** The encoded block of `resources` (an immutable, shared list: identity is the key). */
  get(resources: readonly EncodedResource[]): Uint8Array {
    let block = this.blocks.get(resources);
    if (block) {
      this.hits++;
      // most recently used last
      this.blocks.delete(resources);
      this.blocks.set(resources, block);
      return block;
    }
    this.misses++;
    block = this.encode(resources);
    if (block.length > this.budget) return block;
    this.blocks.set(resources, block);
    this.bytes += block.length;
    for (const [key, old] of this.blocks) {
      if (this.bytes <= this.budget) break;
      this.blocks.delete(key);
      this.bytes -= old.length;
    }
    return block;
  }
}

/** Concatenates a response's parts. */
export function joinParts(parts: readonly Uint8Array[]): Uint8Array {
  return Buffer.concat(parts as Uint8Array[]);
}
