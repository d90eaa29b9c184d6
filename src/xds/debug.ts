import type { AnyConnection, DiscoveryServer } from './server.js';
import { SHORT_TYPE } from './resource-types.js';
import type { Subscription } from './connection.js';
import { DebugPageError } from '../net/debug-http.js';
import type { PushContext } from '../model/push-context.js';
import { endpointKey } from '../model/registry.js';
import { connectionConfigDump, findConnection } from './config-dump.js';

// istiod-style xDS introspection, beside the server it shows: /debug/syncz (what each proxy was sent and
// what it said back, in istiod's SyncStatus shape), /debug/adsz (connections, subscriptions, cut streams), /debug/config_dump?proxyID=POD.NS
// (what one proxy holds, config-dump.ts) and /debug/push_status (what the current snapshot could not apply). Served to local callers only
// (net/debug-http.ts).

/** A NACK's text as shown: a client chooses its length, the page does not. */
const MAX_NACK_TEXT = 1024;

/** What /debug/syncz shows of one type on one stream (meshd's own detail, under `types`). */
export interface SynczTypeDetail {
  readonly sent: { readonly version: string; readonly nonce: string; readonly at?: string; readonly resources: number };
  readonly acked: { readonly version: string; readonly nonce: string; readonly at?: string };
  readonly synced: boolean;
  readonly lastNack?: { readonly nonce: string; readonly version: string; readonly message: string; readonly at: string };
}

/**
 * One connected proxy in /debug/syncz: istiod's `SyncStatus` (snake_case, what Kiali and istioctl parse —
 * `proxy` is POD.NAMESPACE, `*_sent`/`*_acked` the nonces of the last response and of the last one ACKed,
 * empty fields left out as Go's omitempty does; `resources` per type URL as istiod's HEAD) with meshd's
 * own detail beside it in camelCase: the full node id, the stream, each type's versions/times/NACK, and
 * the write in progress.
 */
export interface SyncStatus {
  readonly cluster_id?: string;
  readonly proxy: string;
  readonly proxy_type?: string;
  readonly proxy_version?: string;
  readonly istio_version?: string;
  readonly cluster_sent?: string;
  readonly cluster_acked?: string;
  readonly listener_sent?: string;
  readonly listener_acked?: string;
  readonly route_sent?: string;
  readonly route_acked?: string;
  readonly endpoint_sent?: string;
  readonly endpoint_acked?: string;
  readonly extensionconfig_sent?: string;
  readonly extensionconfig_acked?: string;
  readonly resources?: Readonly<Record<string, { readonly sent?: string; readonly acked?: string; readonly sentTime?: string; readonly lastError?: string }>>;
  /** meshd: the node id the proxy sent (`sidecar~IP~POD.NS~NS.svc.DOMAIN`) */
  readonly nodeId: string;
  readonly connection: string;
  readonly mode: string;
  readonly generator: string;
  readonly namespace: string;
  readonly controlPlane: string;
  /** meshd: the write in progress, if any (`stalled` once it has waited past the slow threshold) */
  readonly sending?: { readonly bytes: number; readonly pendingMs: number; readonly stalled: boolean };
  /** meshd: per short type (CDS, EDS, LDS, RDS) */
  readonly types: Readonly<Record<string, SynczTypeDetail>>;
}

/** istiod's SyncStatus field prefix of each type meshd serves (ECDS: `extensionconfig`, never served). */
const SYNC_FIELD: Readonly<Record<string, string>> = { CDS: 'cluster', LDS: 'listener', RDS: 'route', EDS: 'endpoint' };

/** `sidecar~IP~POD.NS~NS.svc.DOMAIN` → `POD.NS`, istiod's proxy ID. */
export function proxyIdOf(nodeId: string): string {
  return nodeId.split('~')[2] ?? nodeId;
}

/**
 * /debug/syncz[?namespace=NS]: one entry per connected stream, istiod's shape with meshd's detail (see
 * SyncStatus). Streams meshd cut because their writes did not complete are in /debug/adsz (`cut`): a
 * disconnected proxy here would read as NOT SENT to Kiali.
 */
export function syncz(discovery: DiscoveryServer, query?: URLSearchParams): SyncStatus[] {
  const namespace = query?.get('namespace') || undefined;
  return discovery.connections
    .filter((c) => !namespace || c.proxy.namespace === namespace)
    .map((c) => {
      const istio: Record<string, string> = {};
      const resources: Record<string, { sent?: string; acked?: string; sentTime?: string; lastError?: string }> = {};
      const types: Record<string, SynczTypeDetail> = {};
      for (const [type, w] of c.watches) {
        const short = SHORT_TYPE[type] ?? type;
        const field = SYNC_FIELD[short];
        if (field && w.sentNonce) istio[`${field}_sent`] = w.sentNonce;
        if (field && w.ackedNonce) istio[`${field}_acked`] = w.ackedNonce;
        resources[type] = omitEmpty({ sent: w.sentNonce, acked: w.ackedNonce, sentTime: w.sentAt?.toISOString(), lastError: w.lastNack && boundedText(w.lastNack.message) });
        types[short] = {
          sent: { version: w.sentVersion, nonce: w.sentNonce, ...(w.sentAt ? { at: w.sentAt.toISOString() } : {}), resources: w.syncedTo?.resources.length ?? 0 },
          acked: { version: w.ackedVersion, nonce: w.ackedNonce, ...(w.ackedAt ? { at: w.ackedAt.toISOString() } : {}) },
          synced: !w.awaitingAck && w.lastNack?.nonce !== w.sentNonce,
          ...(w.lastNack ? { lastNack: { ...w.lastNack, message: boundedText(w.lastNack.message), at: w.lastNack.at.toISOString() } } : {}),
        };
      }
      const sending = sendingState(discovery, c);
      return {
        ...omitEmpty({ cluster_id: c.proxy.clusterId }),
        proxy: proxyIdOf(c.proxy.id),
        ...omitEmpty({ proxy_type: c.proxy.type, proxy_version: c.proxy.istioVersion, istio_version: c.proxy.istioVersion }),
        ...istio,
        ...(Object.keys(resources).length > 0 ? { resources } : {}),
        nodeId: c.proxy.id,
        connection: c.id,
        mode: c.mode,
        generator: c.proxy.generator,
        namespace: c.proxy.namespace,
        controlPlane: discovery.controlPlaneId,
        ...(sending ? { sending } : {}),
        types,
      };
    });
}

/** The fields whose value is not empty (Go's `omitempty` for strings). */
function omitEmpty<T extends Record<string, string | undefined>>(fields: T): Partial<Record<keyof T, string>> {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined && v !== '')) as Partial<Record<keyof T, string>>;
}

function sendingState(discovery: DiscoveryServer, conn: AnyConnection): SyncStatus['sending'] {
  const w = discovery.pendingWrite(conn);
  return w && { bytes: w.bytes, pendingMs: Math.round(w.ms), stalled: w.slow };
}

/** Connections and their subscriptions, and (`cut`) the streams meshd cut for not taking their writes (the last 100). */
export function adsz(discovery: DiscoveryServer): object {
  return {
    snapshot: discovery.snapshot?.version ?? null,
    cache: discovery.cacheStats,
    connections: discovery.connections.map((c) => ({
      connection: c.id,
      proxy: c.proxy.id,
      mode: c.mode,
      peer: c.peer,
      connectedAt: c.connectedAt.toISOString(),
      namespace: c.proxy.namespace,
      generator: c.proxy.generator,
      labels: c.proxy.labels,
      ips: c.proxy.ips,
      subscriptions: Object.fromEntries(
        [...c.watches].map(([type, w]) => [SHORT_TYPE[type] ?? type, describeSubscription(w.subscription)]),
      ),
    })),
    cut: discovery.recentCuts.map((c) => ({ proxy: c.proxy, connection: c.connection, reason: c.reason, at: c.at.toISOString() })),
  };
}

/** `'*'` for a wildcard subscription, else its names (Delta may mix both: `['*', …names]`). */
function describeSubscription(sub: Subscription): string | string[] {
  if (sub.wildcard && sub.names.length === 0) return '*';
  return sub.wildcard ? ['*', ...sub.names] : [...sub.names];
}

function boundedText(text: string): string {
  return text.length <= MAX_NACK_TEXT ? text : `${text.slice(0, MAX_NACK_TEXT)}… (${text.length} characters)`;
}

/**
 * /debug/config_dump?proxyID=POD.NAMESPACE (or the full node id): Envoy's ConfigDump of what the proxy
 * holds, endpoints included unless `include_eds=false` (istiod's `?types=` is not supported); 400 without
 * proxyID, 404 when the proxy is not connected (istiod's texts).
 */
export function configDumpPage(discovery: DiscoveryServer, query: URLSearchParams): object {
  const proxyId = query.get('proxyID');
  if (!proxyId) throw new DebugPageError(400, 'You must provide a proxyID in the query string');
  const conn = findConnection(discovery, proxyId);
  if (!conn) throw new DebugPageError(404, `Proxy ${JSON.stringify(proxyId)} not connected to this meshd.`);
  return connectionConfigDump(conn, { includeEds: query.get('include_eds') !== 'false' });
}

/**
 * /debug/push_status in istiod's shape (PushContext.ProxyStatus: problem code → key → {proxy?, message}):
 * `pilot_eds_no_instances` for service ports without endpoints (the cluster name as key) and
 * `meshd_config_warnings` for config the generators could not apply as written while building the
 * current snapshot (meshd_config_warnings_total counts them).
 */
export function pushStatus(ctx: PushContext | undefined, warnings: Iterable<string>): Record<string, Record<string, { proxy?: string; message: string }>> {
  const out: Record<string, Record<string, { proxy?: string; message: string }>> = {};
  if (!ctx) return out;
  for (const svc of ctx.registry.services) {
    for (const p of svc.ports) {
      if (svc.serviceEntry && svc.serviceEntry.resolution !== 'STATIC') continue; // DNS and passthrough hosts have no EDS
      if ((ctx.registry.endpoints.get(endpointKey(svc.hostname, p.port)) ?? []).length > 0) continue;
      (out.pilot_eds_no_instances ??= {})[`outbound|${p.port}||${svc.hostname}`] = { message: '' };
    }
  }
  for (const w of warnings) (out.meshd_config_warnings ??= {})[w] = { message: w };
  return out;
}
