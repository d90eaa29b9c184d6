import type { AnyConnection, DiscoveryServer } from './server.js';
import { SHORT_TYPE } from './resource-types.js';
import type { Subscription } from './connection.js';
import { DebugPageError } from '../net/debug-http.js';
import type { PushContext } from '../model/push-context.js';
import { endpointKey } from '../model/registry.js';
import { connectionConfigDump, findConnection } from './config-dump.js';

// istiod-style xDS introspection, beside the server it shows: /debug/syncz (what each proxy was sent and
// what it said back), /debug/adsz (connections and subscriptions), /debug/config_dump?proxyID=POD.NS
// (what one proxy holds, config-dump.ts) and /debug/push_status (what the current snapshot could not apply). Served to local callers only
// (net/debug-http.ts).

/** A NACK's text as shown: a client chooses its length, the page does not. */
const MAX_NACK_TEXT = 1024;

/**
 * One entry per stream: what each type was sent and what the client said back, and the write in
 * progress if any (`stalled` once it has waited past the slow threshold). Streams meshd cut because
 * their writes did not complete follow, with why and when (the last 100).
 */
export function syncz(discovery: DiscoveryServer): object[] {
  const live = discovery.connections.map((c) => ({
    proxy: c.proxy.id,
    connection: c.id,
    mode: c.mode,
    generator: c.proxy.generator,
    namespace: c.proxy.namespace,
    cluster: c.proxy.clusterId,
    istioVersion: c.proxy.istioVersion,
    controlPlane: discovery.controlPlaneId,
    sending: sendingState(discovery, c),
    types: Object.fromEntries(
      [...c.watches].map(([type, w]) => [
        SHORT_TYPE[type] ?? type,
        {
          sent: { version: w.sentVersion, nonce: w.sentNonce, at: w.sentAt?.toISOString(), resources: w.syncedTo?.resources.length ?? 0 },
          acked: { version: w.ackedVersion, nonce: w.ackedNonce, at: w.ackedAt?.toISOString() },
          synced: !w.awaitingAck && w.lastNack?.nonce !== w.sentNonce,
          lastNack: w.lastNack && { ...w.lastNack, message: boundedText(w.lastNack.message), at: w.lastNack.at.toISOString() },
        },
      ]),
    ),
  }));
  const cut = discovery.recentCuts.map((c) => ({ proxy: c.proxy, connection: c.connection, cut: { reason: c.reason, at: c.at.toISOString() } }));
  return [...live, ...cut];
}

function sendingState(discovery: DiscoveryServer, conn: AnyConnection): object | undefined {
  const w = discovery.pendingWrite(conn);
  return w && { bytes: w.bytes, pendingMs: Math.round(w.ms), stalled: w.slow };
}

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
