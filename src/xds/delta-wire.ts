import protobuf from 'protobufjs';
import { z } from 'zod';
import { lookupType, structToJson } from '../envoy/protos.js';
import type { EncodedResource } from './cache.js';
import { joinParts, ResponseBlocks } from './response-blocks.js';

// DeltaDiscoveryRequest in, DeltaDiscoveryResponse out, at the byte level, like wire.ts does for the
// state-of-the-world messages: each Resource wraps the Any bytes the encode cache already holds, so
// Delta and SotW clients of one class share one encoded copy of every resource.

export const deltaDiscoveryRequestSchema = z.object({
  node: z.looseObject({ id: z.string().default(''), metadata: z.record(z.string(), z.unknown()).optional() }).optional(),
  type_url: z.string().default(''),
  resource_names_subscribe: z.array(z.string()).default([]),
  resource_names_unsubscribe: z.array(z.string()).default([]),
  /** what a (re)connecting client already holds: resource name → the version it was sent */
  initial_resource_versions: z.record(z.string(), z.string()).default({}),
  response_nonce: z.string().default(''),
  error_detail: z.object({ code: z.number().default(0), message: z.string().default('') }).optional(),
});
export type DeltaDiscoveryRequest = z.infer<typeof deltaDiscoveryRequestSchema>;

let requestType: protobuf.Type | undefined;

export function decodeDeltaDiscoveryRequest(bytes: Buffer): DeltaDiscoveryRequest {
  requestType ??= lookupType('envoy.service.discovery.v3.DeltaDiscoveryRequest');
  const raw = requestType.toObject(requestType.decode(bytes), { longs: String, enums: String, defaults: false }) as {
    node?: { metadata?: unknown };
  };
  if (raw.node?.metadata) raw.node.metadata = structToJson(raw.node.metadata);
  return deltaDiscoveryRequestSchema.parse(raw);
}

export interface DeltaResponseParts {
  readonly systemVersionInfo: string;
  readonly typeUrl: string;
  readonly nonce: string;
  /** added or changed resources; each one's content hash is its Resource.version */
  readonly resources: readonly EncodedResource[];
  /**
   * `resources` as shared immutable lists in order (a set's segments, a shared diff), when it is: each
   * list's encoding is then kept and reused by other streams (response-blocks.ts)
   */
  readonly sharedLists?: readonly (readonly EncodedResource[])[];
  readonly removed: readonly string[];
  readonly controlPlane: string;
}

function encodeResources(resources: readonly EncodedResource[]): Uint8Array {
  const w = protobuf.Writer.create();
  for (const r of resources) {
    // Resource { version = 1; resource = 2 (Any); name = 3 }
    w.uint32((2 << 3) | 2).fork();
    w.uint32((1 << 3) | 2).string(r.hash);
    w.uint32((2 << 3) | 2).bytes(r.any);
    w.uint32((3 << 3) | 2).string(r.name);
    w.ldelim();
  }
  return w.finish();
}

/** Encoded `resources` fields of shared lists (see DeltaResponseParts.sharedLists). */
export const deltaResourceBlocks = new ResponseBlocks(encodeResources);

export function encodeDeltaDiscoveryResponse(parts: DeltaResponseParts): Uint8Array {
  const head = protobuf.Writer.create().uint32((1 << 3) | 2).string(parts.systemVersionInfo).finish();
  const blocks = parts.sharedLists ? parts.sharedLists.map((l) => deltaResourceBlocks.get(l)) : [encodeResources(parts.resources)];
  const w = protobuf.Writer.create();
  w.uint32((4 << 3) | 2).string(parts.typeUrl);
  w.uint32((5 << 3) | 2).string(parts.nonce);
  for (const name of parts.removed) w.uint32((6 << 3) | 2).string(name);
  // control_plane { identifier }
  w.uint32((7 << 3) | 2).fork().uint32((1 << 3) | 2).string(parts.controlPlane).ldelim();
  return joinParts([head, ...blocks, w.finish()]);
}

/** For tests and tools: a Delta response back to JSON. */
export function decodeDeltaDiscoveryResponse(bytes: Uint8Array): Record<string, unknown> {
  const t = lookupType('envoy.service.discovery.v3.DeltaDiscoveryResponse');
  return t.toObject(t.decode(bytes), { longs: String, enums: String });
}
