import type { AnyConnection, DiscoveryServer } from './server.js';
import { SHORT_TYPE } from './resource-types.js';
import type { Subscription } from './connection.js';

// istiod-style xDS introspection, beside the server it shows: /debug/syncz (what each proxy was sent and
// what it said back) and /debug/adsz (connections and subscriptions). Served to local callers only
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
