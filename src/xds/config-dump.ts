import { anyToProtoJson } from '../envoy/proto-json.js';
import type { EncodedResource } from './cache.js';
import type { TypeWatch } from './connection.js';
import { TYPE, type TypeUrl } from './resource-types.js';
import type { AnyConnection, DiscoveryServer } from './server.js';

// What one connected proxy holds, as Envoy's admin /config_dump shows it (envoy.admin.v3.ConfigDump) and
// istiod's /debug/config_dump answers it: the resources meshd last brought the proxy up to date with on
// its stream (the shared sets the watches point at, not a regeneration), per type, each with the version
// and time of the response that carried it. Proto-JSON as the generators emit it (snake_case, as Envoy's
// admin prints), so Envoy's dump and meshd's compare field for field.
//
// Secrets: workload certificates come from the agent over the sds-grpc cluster, and the gateway
// credentialName Secrets meshd does serve over SDS are private keys, never dumped: SecretsConfigDump holds
// only the names the proxy's listeners and clusters ask SDS for, as Envoy lists secrets it waits for.

const ADMIN = 'type.googleapis.com/envoy.admin.v3.';

/** Matches a proxy by its full node id, or `POD.NAMESPACE` as istioctl and istiod's ?proxyID= name it. */
export function proxyMatches(conn: AnyConnection, proxyId: string): boolean {
  const p = conn.proxy;
  return p.id === proxyId || `${p.podName}.${p.namespace}` === proxyId || (p.podName === proxyId && p.namespace === 'default');
}

/** The newest live stream of the proxy (a reconnect may briefly leave the old one open). */
export function findConnection(discovery: DiscoveryServer, proxyId: string): AnyConnection | undefined {
  const found = discovery.connections.filter((c) => proxyMatches(c, proxyId));
  return found.sort((a, b) => b.connectedAt.getTime() - a.connectedAt.getTime())[0];
}

/** How a resource appears in the dump: canonical proto3 JSON for people, the Any's parts for re-encoding. */
export type ResourceRendering = (r: EncodedResource) => object;

/** `{'@type': URL, …fields}` as Envoy's admin prints it (Durations "5s", bare wrappers, plain Structs). */
export const AS_PROTO_JSON: ResourceRendering = (r) => anyToProtoJson(r.any);

export interface ConfigDumpOptions {
  /** Envoy's config_dump leaves EDS out unless asked (`?include_eds`); istiod's too. */
  readonly includeEds: boolean;
  readonly render?: ResourceRendering;
}

type Json = Record<string, unknown>;

interface Held {
  readonly resource: EncodedResource;
  /** the version_info of the response that carried it (Delta: the resource's own version) */
  readonly version: string;
  readonly lastUpdated: string | undefined;
}

function held(conn: AnyConnection, type: TypeUrl): { watch: TypeWatch | undefined; items: Held[] } {
  const watch = conn.watches.get(type) as TypeWatch | undefined;
  const set = watch?.syncedTo;
  if (!watch || !set) return { watch, items: [] };
  const lastUpdated = watch.sentAt?.toISOString();
  const items = [...set.resources]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((resource) => ({ resource, version: conn.mode === 'delta' ? resource.hash : watch.sentVersion, lastUpdated }));
  return { watch, items };
}

const withTime = (lastUpdated: string | undefined): Json => (lastUpdated ? { last_updated: lastUpdated } : {});

/** envoy.admin.v3.ConfigDump of what the proxy on `conn` holds. */
export function connectionConfigDump(conn: AnyConnection, { includeEds, render = AS_PROTO_JSON }: ConfigDumpOptions): { configs: Json[] } {
  const clusters = held(conn, TYPE.CDS);
  const listeners = held(conn, TYPE.LDS);
  const routes = held(conn, TYPE.RDS);
  const endpoints = held(conn, TYPE.EDS);
  const configs: Json[] = [
    { '@type': `${ADMIN}BootstrapConfigDump` },
    {
      '@type': `${ADMIN}ClustersConfigDump`,
      version_info: clusters.watch?.sentVersion ?? '',
      dynamic_active_clusters: clusters.items.map((h) => ({
        version_info: h.version, cluster: render(h.resource), ...withTime(h.lastUpdated),
      })),
    },
  ];
  if (includeEds) {
    configs.push({
      '@type': `${ADMIN}EndpointsConfigDump`,
      dynamic_endpoint_configs: endpoints.items.map((h) => ({
        version_info: h.version, endpoint_config: render(h.resource), ...withTime(h.lastUpdated),
      })),
    });
  }
  configs.push(
    {
      '@type': `${ADMIN}ListenersConfigDump`,
      version_info: listeners.watch?.sentVersion ?? '',
      dynamic_listeners: listeners.items.map((h) => ({
        name: h.resource.name,
        active_state: { version_info: h.version, listener: render(h.resource), ...withTime(h.lastUpdated) },
      })),
    },
    { '@type': `${ADMIN}ScopedRoutesConfigDump` },
    {
      '@type': `${ADMIN}RoutesConfigDump`,
      dynamic_route_configs: routes.items.map((h) => ({
        version_info: h.version, route_config: render(h.resource), ...withTime(h.lastUpdated),
      })),
    },
    {
      '@type': `${ADMIN}SecretsConfigDump`,
      dynamic_warming_secrets: sdsSecretNames([...clusters.items, ...listeners.items]).map((name) => ({ name })),
    },
  );
  return { configs };
}

/** Names of the SDS secrets the resources reference (`sds_config`'d secret configs), sorted. */
function sdsSecretNames(items: readonly Held[]): string[] {
  const names = new Set<string>();
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) {
      for (const x of v) walk(x);
    } else if (v && typeof v === 'object') {
      const o = v as Json;
      if (typeof o.name === 'string' && o.sds_config !== undefined) names.add(o.name);
      for (const x of Object.values(o)) walk(x);
    }
  };
  for (const h of items) walk(h.resource.body);
  return [...names].sort();
}

/** istiod's per-type sync state for CSDS (envoy.service.status.v3.ConfigStatus). */
export type ConfigStatus = 'SYNCED' | 'NOT_SENT' | 'STALE' | 'ERROR';

/** istiod debugSyncStatus: a NACK of the latest response is ERROR, an unanswered one STALE. */
export function configStatus(w: TypeWatch): ConfigStatus {
  if (w.lastNack && w.lastNack.nonce === w.sentNonce) return 'ERROR';
  if (w.sentNonce === '') return 'NOT_SENT';
  return w.ackedNonce === w.sentNonce ? 'SYNCED' : 'STALE';
}
