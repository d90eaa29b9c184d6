import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ConfigStore } from '../config/store.js';
import { describeOrigin } from '../config/origin.js';
import { ALL_KINDS } from '../config/kinds.js';
import type { AnyConnection, DiscoveryServer } from '../xds/server.js';
import { SHORT_TYPE } from '../xds/resource-types.js';
import type { Subscription } from '../xds/connection.js';
import type { Metrics } from './metrics.js';

// istiod-style introspection: /debug/syncz (what each proxy was sent and what it said back),
// /debug/configz (accepted objects and refusals), /debug/adsz (connections and subscriptions).

export interface DebugSources {
  readonly store: ConfigStore;
  readonly discovery: DiscoveryServer;
  readonly metrics: Metrics;
  readonly isReady: () => boolean;
}

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
          lastNack: w.lastNack && { ...w.lastNack, at: w.lastNack.at.toISOString() },
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

export function configz(store: ConfigStore): object {
  return {
    revision: store.revision,
    objects: ALL_KINDS.flatMap((kind) =>
      store.list(kind).map((s) => ({
        kind,
        namespace: s.object.metadata.namespace,
        name: s.object.metadata.name,
        origin: describeOrigin(s.origin),
        revision: s.revision,
        object: s.object,
      })),
    ),
    rejected: store.listRejections().map((r) => ({ ...r, origin: describeOrigin(r.origin), at: r.at.toISOString() })),
  };
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body, null, 2));
}

/** One handler serves the monitoring port and the http (readiness/debug) port, as istiod does. */
export function debugHandler(src: DebugSources) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    try {
      switch (url.pathname) {
        case '/ready':
          if (src.isReady()) {
            res.writeHead(200, { 'content-type': 'text/plain' }).end('ready\n');
          } else {
            res.writeHead(503, { 'content-type': 'text/plain' }).end('not ready: first snapshot not built yet\n');
          }
          return;
        case '/metrics':
          res.writeHead(200, { 'content-type': src.metrics.registry.contentType });
          res.end(await src.metrics.registry.metrics());
          return;
        case '/debug/syncz':
          return sendJson(res, 200, syncz(src.discovery));
        case '/debug/configz':
          return sendJson(res, 200, configz(src.store));
        case '/debug/adsz':
          return sendJson(res, 200, adsz(src.discovery));
        case '/debug':
        case '/debug/':
          return sendJson(res, 200, { endpoints: ['/debug/syncz', '/debug/configz', '/debug/adsz', '/metrics', '/ready'] });
        default:
          res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      }
    } catch (err) {
      sendJson(res, 500, { error: (err as Error).message });
    }
  };
}
