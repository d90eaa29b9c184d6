import protobuf from 'protobufjs';
import { encodeMessage, jsonToStruct, loadDebugProtos, lookupType } from '../envoy/protos.js';
import type { EncodedResource } from './cache.js';
import { configStatus, connectionConfigDump, findConnection } from './config-dump.js';
import type { DiscoveryServer } from './server.js';
import { encodeDiscoveryResponse } from './wire.js';

// istiod's xDS debug types (its StatusGen), on the ADS service: a DiscoveryRequest of type
// `istio.io/debug/syncz` is answered with one envoy.service.status.v3.ClientConfig per connected proxy
// (CSDS: per type SYNCED / NOT_SENT / STALE / ERROR with the NACK text), and `istio.io/debug/config_dump`
// naming one proxy (`POD.NAMESPACE`) with that proxy's envoy.admin.v3.ConfigDump entries — what
// `istioctl proxy-status` and `istioctl proxy-status POD` ask for. Answered on state-of-the-world streams
// (istioctl's), to loopback callers only, like the /debug pages: the dumps show every proxy's config.

export const DEBUG_TYPE_PREFIX = 'istio.io/debug/';
export const DEBUG_SYNCZ = `${DEBUG_TYPE_PREFIX}syncz`;
export const DEBUG_CONFIG_DUMP = `${DEBUG_TYPE_PREFIX}config_dump`;

const CLIENT_CONFIG = 'type.googleapis.com/envoy.service.status.v3.ClientConfig';

/** An RFC 3339 time as google.protobuf.Timestamp (protobufjs takes no strings for it). */
function timestamp(iso: string): { seconds: number; nanos: number } {
  const ms = Date.parse(iso);
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 };
}

/** proto-JSON → protobufjs object form: `last_updated` strings become Timestamps, recursively. */
function withTimestamps(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withTimestamps);
  if (!v || typeof v !== 'object' || v instanceof Uint8Array) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = (k === 'last_updated' || k === 'last_update_attempt') && typeof x === 'string' ? timestamp(x) : withTimestamps(x);
  return out;
}

/** A resource as protobufjs' Any object form, so the dump re-encodes the bytes meshd sent as they are. */
function anyParts(r: EncodedResource): object {
  const any = lookupType('google.protobuf.Any').decode(r.any) as unknown as { type_url: string; value: Uint8Array };
  return { type_url: any.type_url, value: any.value };
}

/** An Any, encoded, from `{'@type': URL, …fields}`. */
function encodeAny(message: Record<string, unknown>): Uint8Array {
  const url = String(message['@type']);
  const { '@type': _type, ...fields } = message;
  const value = encodeMessage(url.slice(url.lastIndexOf('/') + 1), withTimestamps(fields) as object);
  return protobuf.Writer.create().uint32((1 << 3) | 2).string(url).uint32((2 << 3) | 2).bytes(value).finish();
}

/** CSDS ClientConfig of every connected proxy, in proxy id order (istiod debugSyncz). */
export function clientConfigs(discovery: DiscoveryServer): Record<string, unknown>[] {
  const conns = [...discovery.connections].sort((a, b) => (a.proxy.id < b.proxy.id ? -1 : a.proxy.id > b.proxy.id ? 1 : 0));
  return conns.map((c) => ({
    '@type': CLIENT_CONFIG,
    node: {
      id: c.proxy.id,
      metadata: { CLUSTER_ID: c.proxy.clusterId, NAMESPACE: c.proxy.namespace, ISTIO_VERSION: c.proxy.istioVersion },
    },
    generic_xds_configs: [...c.watches]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([type, w]) => ({
        type_url: type,
        config_status: configStatus(w),
        ...(w.sentAt ? { last_updated: w.sentAt.toISOString() } : {}),
        ...(w.lastNack && w.lastNack.nonce === w.sentNonce
          ? { error_state: { last_update_attempt: w.lastNack.at.toISOString(), details: w.lastNack.message } }
          : {}),
      })),
  }));
}

/** The DiscoveryResponse answering a debug request, or a reason it cannot be answered. */
export function debugResponse(discovery: DiscoveryServer, typeUrl: string, names: readonly string[], nonce: string): { bytes: Uint8Array } | { error: string } {
  loadDebugProtos();
  let messages: Record<string, unknown>[];
  if (typeUrl === DEBUG_SYNCZ) {
    messages = clientConfigs(discovery).map((m) => {
      const node = m.node as { id: string; metadata: Record<string, unknown> };
      return { ...m, node: { id: node.id, metadata: jsonToStruct(node.metadata) } };
    });
  } else if (typeUrl === DEBUG_CONFIG_DUMP) {
    if (names.length !== 1) return { error: `${DEBUG_CONFIG_DUMP} wants exactly one resource name (POD.NAMESPACE), got ${names.length}` };
    const conn = findConnection(discovery, names[0]!);
    if (!conn) return { error: `config dump could not find connection for proxyID ${JSON.stringify(names[0])}` };
    messages = connectionConfigDump(conn, { includeEds: false, render: anyParts }).configs;
  } else {
    return { error: `unknown debug type ${JSON.stringify(typeUrl)} (meshd answers ${DEBUG_SYNCZ} and ${DEBUG_CONFIG_DUMP})` };
  }
  const resources = messages.map((m) => ({ any: encodeAny(m) }));
  const bytes = encodeDiscoveryResponse({
    versionInfo: discovery.snapshot?.version ?? '', typeUrl, nonce, resources, controlPlane: discovery.controlPlaneId,
  });
  return { bytes };
}
