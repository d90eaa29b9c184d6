import protobuf from 'protobufjs';
import { z } from 'zod';
import { lookupType, structToJson } from '../envoy/protos.js';
import type { EncodedResource } from './cache.js';
import { joinParts, ResponseBlocks } from './response-blocks.js';

// DiscoveryRequest in, DiscoveryResponse out, at the byte level. Responses are spliced together from
// already-encoded Anys so N proxies sharing a resource cost one encode and N memcpys.

export const discoveryRequestSchema = z.object({
  version_info: z.string().default(''),
  node: z.looseObject({ id: z.string().default(''), metadata: z.record(z.string(), z.unknown()).optional() }).optional(),
  resource_names: z.array(z.string()).default([]),
  type_url: z.string().default(''),
  response_nonce: z.string().default(''),
  error_detail: z.object({ code: z.number().default(0), message: z.string().default('') }).optional(),
});
export type DiscoveryRequest = z.infer<typeof discoveryRequestSchema>;

let requestType: protobuf.Type | undefined;

/**
 * Loads the Envoy proto root now — about a second of CPU, several on a busy machine — so that it is
 * paid before meshd reports ready, not inside the first proxy's request while a sync is starting.
 */
export function loadXdsCodecs(): void {
  requestType ??= lookupType('envoy.service.discovery.v3.DiscoveryRequest');
}

export function decodeDiscoveryRequest(bytes: Buffer): DiscoveryRequest {
  requestType ??= lookupType('envoy.service.discovery.v3.DiscoveryRequest');
  const raw = requestType.toObject(requestType.decode(bytes), { longs: String, enums: String, defaults: false }) as {
    node?: { metadata?: unknown; locality?: unknown };
  };
  if (raw.node?.metadata) raw.node.metadata = structToJson(raw.node.metadata);
  return discoveryRequestSchema.parse(raw);
}

export interface ResponseParts {
  readonly versionInfo: string;
  readonly typeUrl: string;
  readonly nonce: string;
  /** each resource's Any bytes, spliced in as they are */
  readonly resources: readonly Pick<EncodedResource, 'any'>[];
  /** `resources` as shared immutable lists in order, when it is: their encodings are kept and reused (response-blocks.ts) */
  readonly sharedLists?: readonly (readonly EncodedResource[])[];
  readonly controlPlane: string;
}

function encodeResources(resources: readonly Pick<EncodedResource, 'any'>[]): Uint8Array {
  const w = protobuf.Writer.create();
  for (const r of resources) w.uint32((2 << 3) | 2).bytes(r.any);
  return w.finish();
}

/** Encoded `resources` fields of shared lists (see ResponseParts.sharedLists). */
export const sotwResourceBlocks = new ResponseBlocks(encodeResources);

export function encodeDiscoveryResponse(parts: ResponseParts): Uint8Array {
  const head = protobuf.Writer.create().uint32((1 << 3) | 2).string(parts.versionInfo).finish();
  const blocks = parts.sharedLists ? parts.sharedLists.map((l) => sotwResourceBlocks.get(l)) : [encodeResources(parts.resources)];
  const w = protobuf.Writer.create();
  w.uint32((4 << 3) | 2).string(parts.typeUrl);
  w.uint32((5 << 3) | 2).string(parts.nonce);
  // control_plane { identifier }
  w.uint32((6 << 3) | 2).fork().uint32((1 << 3) | 2).string(parts.controlPlane).ldelim();
  return joinParts([head, ...blocks, w.finish()]);
}

/** For tests and tools: a response back to JSON. */
export function decodeDiscoveryResponse(bytes: Uint8Array): Record<string, unknown> {
  const t = lookupType('envoy.service.discovery.v3.DiscoveryResponse');
  return t.toObject(t.decode(bytes), { longs: String, enums: String });
}
