import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { isIP } from 'node:net';

// The HTTP surface of the monitoring port (15014) and the readiness port (8080), as istiod serves them:
// /ready for the kubelet, /metrics for Prometheus, /debug/* for operators. Both ports listen on every
// interface by default, because the kubelet and Prometheus reach them from outside the pod; the debug pages
// show the mesh's config and every proxy's state, so they answer loopback callers only (`kubectl
// port-forward`, or a shell in the pod), as istiod answers only localhost or an authenticated caller.
// meshd has no authenticated remote access to them: stricter than istiod.

export interface DebugHttpSources {
  readonly isReady: () => boolean;
  /** Prometheus text exposition of the daemon's registry */
  readonly metrics: { readonly contentType: string; readonly text: () => Promise<string> };
  /**
   * `/debug/NAME` → the page's JSON (each built by the module it shows), given the query string; a page
   * throws DebugPageError to answer 400/404 with a message (istiod: no proxyID, proxy not connected).
   */
  readonly debug: Readonly<Record<string, (query: URLSearchParams) => unknown>>;
  /** `/ui` and below (the mesh view, src/ui/mesh-ui.ts), under the same local-callers rule; monitoring port only */
  readonly ui?: (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void>;
}

/** A debug page's refusal: answered with this status and message as text. */
export class DebugPageError extends Error {
  constructor(readonly status: 400 | 404, message: string) {
    super(message);
  }
}

/** 127.0.0.0/8, ::1, and IPv4 loopback written as IPv6 (`::ffff:127.0.0.1`). */
export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const v4 = address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
  if (isIP(v4) === 4) return v4.startsWith('127.');
  return address === '::1';
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body, null, 2));
}

export function debugHttpHandler(src: DebugHttpSources): RequestListener {
  const endpoints = [...Object.keys(src.debug).map((name) => `/debug/${name}`), '/metrics', '/ready', ...(src.ui ? ['/ui'] : [])];
  return (req: IncomingMessage, res: ServerResponse): void => {
    void handle(req, res).catch((err: Error) => {
      if (!res.headersSent) sendJson(res, 500, { error: err.message });
      else res.destroy();
    });
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname === '/ready') {
      if (src.isReady()) res.writeHead(200, { 'content-type': 'text/plain' }).end('ready\n');
      else res.writeHead(503, { 'content-type': 'text/plain' }).end('not ready: the initial config is not loaded and pushed yet\n');
      return;
    }
    if (url.pathname === '/metrics') {
      const text = await src.metrics.text();
      res.writeHead(200, { 'content-type': src.metrics.contentType }).end(text);
      return;
    }
    const ui = src.ui && (url.pathname === '/ui' || url.pathname.startsWith('/ui/'));
    if (!ui && url.pathname !== '/debug' && !url.pathname.startsWith('/debug/')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    if (!isLoopback(req.socket.remoteAddress)) {
      res.writeHead(403, { 'content-type': 'text/plain' })
        .end('debug endpoints answer local callers only: use `kubectl port-forward` to this port, or a shell in the pod\n');
      return;
    }
    if (ui) return src.ui!(req, res, url);
    const name = url.pathname.replace(/^\/debug\/?/, '');
    if (name === '') return sendJson(res, 200, { endpoints });
    const page = Object.hasOwn(src.debug, name) ? src.debug[name] : undefined;
    if (!page) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    let body: unknown;
    try {
      body = page(url.searchParams);
    } catch (err) {
      if (!(err instanceof DebugPageError)) throw err;
      res.writeHead(err.status, { 'content-type': 'text/plain' }).end(`${err.message}\n`);
      return;
    }
    sendJson(res, 200, body);
  }
}
