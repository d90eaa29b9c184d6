import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { z } from 'zod';
import { KINDS, type Kind } from '../config/kinds.js';
import type { MeshConfig } from '../config/mesh-config.js';
import { describeOrigin } from '../config/origin.js';
import { objectKey, type ConfigStore } from '../config/store.js';
import type { ValidationMessage } from '../sources/kube/status.js';
import { endpointz, registryz } from '../model/debug.js';
import type { PushContext } from '../model/push-context.js';
import type { Logger } from '../telemetry/log.js';
import { connectionConfigDump, findConnection } from '../xds/config-dump.js';
import type { DiscoveryServer } from '../xds/server.js';
import type { MeshView } from '../cli/mesh-view.js';
import { UI_ASSETS } from './assets.gen.js';
import { configSummary, meshGraph, proxySyncs, type ConfigSummary } from './mesh-model.js';
import { Timeline } from './timeline.js';

// /ui on the monitoring port: the mesh view in a browser. The page (src/ui/web/, served from
// assets.gen.ts: no CDN, works offline) gets everything over one Server-Sent Events stream, /ui/events:
// the service graph when a new snapshot is built, the proxies' sync state and the config problems when
// they change, and timeline entries as they happen. The state is looked at every POLL_MS while a page is
// open (nothing runs when none is); the graph is built once per snapshot and sent as one string to every
// page. POST /ui/explain answers the explain form from this process's own streams and snapshot.
// Access: the debug pages' rule (loopback callers only, net/debug-http.ts), and a Host header that is an
// IP literal or `localhost`, so a web page elsewhere cannot read the mesh through DNS rebinding.

const POLL_MS = 500;
const HEARTBEAT_MS = 15_000;
/** how long the store must be quiet before the analyzers run over it again */
const ANALYSIS_QUIET_MS = 1000;
/** a page that does not read its stream is dropped once this much waits for it */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;
const MAX_EXPLAIN_BODY = 16 * 1024;
const MAX_EXPLAINS_IN_FLIGHT = 2;

export const DEFAULT_MAX_UI_CLIENTS = 16;

export interface MeshUiOptions {
  readonly discovery: DiscoveryServer;
  readonly store: ConfigStore;
  readonly mesh: () => MeshConfig;
  readonly istioNamespace: string;
  readonly log: Logger;
  /** open /ui/events streams at most (more are answered 503) */
  readonly maxClients?: number;
}

const ExplainRequest = z.object({
  proxy: z.string().min(1).max(512),
  request: z.string().min(1).max(2048),
  headers: z.array(z.string().max(1024)).max(32).default([]),
  method: z.string().max(16).optional(),
}).strict();

interface Client {
  readonly res: ServerResponse;
}

export class MeshUi {
  private readonly clients = new Set<Client>();
  private readonly timeline = new Timeline();
  private readonly maxClients: number;
  private poller: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private lastGraphVersion: string | undefined;
  private lastGraph: string | undefined;
  private lastProxies: string | undefined;
  private lastConfig: string | undefined;
  private analysis: { revision: number; byKey: ReadonlyMap<string, readonly ValidationMessage[]> } | undefined;
  private analysisTimer: NodeJS.Timeout | undefined;
  private analysisWanted: number | undefined;
  private explainsInFlight = 0;

  constructor(private readonly options: MeshUiOptions) {
    this.maxClients = options.maxClients ?? DEFAULT_MAX_UI_CLIENTS;
  }

  /** A snapshot was built: one timeline entry (recorded whether or not a page is open). */
  recordSnapshot(ctx: PushContext, events: number, buildMs: number): void {
    const e = this.timeline.add({ kind: 'snapshot', version: ctx.version, count: events, detail: `${ctx.registry.services.length} services, built in ${buildMs.toFixed(1)} ms` });
    this.broadcast('timeline', JSON.stringify([e]));
  }

  get clientCount(): number {
    return this.clients.size;
  }

  close(): void {
    for (const c of this.clients) c.res.end();
    this.clients.clear();
    this.stopPolling();
  }

  /** Answers a /ui request (the caller has checked the path and that the caller is local). */
  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    if (!localHost(req.headers.host)) {
      res.writeHead(403, { 'content-type': 'text/plain' }).end('the mesh view answers requests addressed to localhost or an IP address only\n');
      return;
    }
    const asset = url.pathname === '/ui' || url.pathname === '/ui/' ? 'index.html' : url.pathname.slice('/ui/'.length);
    if (req.method === 'POST' && asset === 'explain') return this.explain(req, res);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { 'content-type': 'text/plain', allow: 'GET' }).end('method not allowed\n');
      return;
    }
    if (asset === 'events') return this.openStream(req, res);
    if (asset === 'state') {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(`{"graph":${this.graphJson() ?? 'null'},"proxies":${JSON.stringify(proxySyncs(this.options.discovery))},"config":${JSON.stringify(this.configState())},"timeline":${JSON.stringify(this.timeline.all)}}`);
      return;
    }
    const file = Object.hasOwn(UI_ASSETS, asset) ? UI_ASSETS[asset as keyof typeof UI_ASSETS] : undefined;
    if (!file) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    const etag = `"${file.hash}"`;
    if (req.headers['if-none-match'] === etag) {
      res.writeHead(304, { etag }).end();
      return;
    }
    res.writeHead(200, {
      'content-type': file.type,
      etag,
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
      // everything the page loads comes from here: no inline script, no other origin
      'content-security-policy': "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
    });
    res.end(req.method === 'HEAD' ? undefined : file.body);
  }

  private openStream(req: IncomingMessage, res: ServerResponse): void {
    if (this.clients.size >= this.maxClients) {
      res.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '10' }).end(`the mesh view is open in ${this.maxClients} pages already (the limit)\n`);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    res.write('retry: 2000\n\n');
    const client: Client = { res };
    this.clients.add(client);
    req.socket.setNoDelay(true);
    res.on('close', () => {
      this.clients.delete(client);
      if (this.clients.size === 0) this.stopPolling();
    });
    if (!this.poller) this.startPolling();
    // the whole state at once, then changes
    const graph = this.graphJson();
    if (graph) send(client, 'graph', graph);
    send(client, 'proxies', this.lastProxies ?? JSON.stringify(proxySyncs(this.options.discovery)));
    send(client, 'config', this.lastConfig ?? JSON.stringify(this.configState()));
    send(client, 'timeline', JSON.stringify(this.timeline.all));
  }

  private startPolling(): void {
    this.timeline.observe(this.options.discovery.connections, true);
    this.lastProxies = JSON.stringify(proxySyncs(this.options.discovery));
    this.lastConfig = JSON.stringify(this.configState());
    this.poller = setInterval(() => this.look(), POLL_MS);
    this.heartbeat = setInterval(() => {
      for (const c of this.clients) c.res.write(': keep-alive\n\n');
    }, HEARTBEAT_MS);
    this.poller.unref();
    this.heartbeat.unref();
  }

  private stopPolling(): void {
    clearInterval(this.poller);
    clearInterval(this.heartbeat);
    clearTimeout(this.analysisTimer);
    this.poller = this.heartbeat = this.analysisTimer = undefined;
    this.analysisWanted = undefined;
  }

  /** One look at the daemon's state: what changed since the last goes to every open page. */
  private look(): void {
    const graphVersion = this.options.discovery.snapshot?.version;
    if (graphVersion !== this.lastGraphVersion) {
      const graph = this.graphJson();
      if (graph) this.broadcast('graph', graph);
    }
    const proxies = JSON.stringify(proxySyncs(this.options.discovery));
    if (proxies !== this.lastProxies) {
      this.lastProxies = proxies;
      this.broadcast('proxies', proxies);
    }
    const entries = this.timeline.observe(this.options.discovery.connections);
    if (entries.length > 0) this.broadcast('timeline', JSON.stringify(entries));
    const config = JSON.stringify(this.configState());
    if (config !== this.lastConfig) {
      this.lastConfig = config;
      this.broadcast('config', config);
    }
  }

  private graphJson(): string | undefined {
    const ctx = this.options.discovery.snapshot;
    if (!ctx) return undefined;
    if (ctx.version !== this.lastGraphVersion || !this.lastGraph) {
      this.lastGraphVersion = ctx.version;
      this.lastGraph = JSON.stringify(meshGraph(ctx));
    }
    return this.lastGraph;
  }

  /** Refusals now; analyzer messages from the last run, and a new run once the store has been quiet a while. */
  private configState(): ConfigSummary {
    const { store } = this.options;
    if (this.analysis?.revision !== store.revision && this.analysisWanted !== store.revision) {
      this.analysisWanted = store.revision;
      clearTimeout(this.analysisTimer);
      this.analysisTimer = setTimeout(() => void this.runAnalysis(), ANALYSIS_QUIET_MS);
      this.analysisTimer.unref();
    }
    return configSummary(store, this.analysis);
  }

  private async runAnalysis(): Promise<void> {
    const { store } = this.options;
    const revision = store.revision;
    if (revision !== this.analysisWanted) return; // changed again: the newer timer runs it
    try {
      const { analyzeStore } = await import('../analyze/controller.js');
      this.analysis = { revision, byKey: analyzeStore(store, this.options.mesh(), this.options.istioNamespace) };
    } catch (err) {
      this.options.log.warn({ err: (err as Error).message }, 'mesh view: the analyzers failed');
      this.analysis = { revision, byKey: new Map() };
    }
    this.analysisWanted = undefined;
  }

  private broadcast(event: string, data: string): void {
    for (const c of this.clients) send(c, event, data);
  }

  private async explain(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const answer = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(body));
    // a JSON content type cannot be sent cross-origin without a preflight this server never grants
    if (!/^application\/json\b/.test(req.headers['content-type'] ?? '')) return void answer(415, { error: 'send the form as application/json' });
    if (this.explainsInFlight >= MAX_EXPLAINS_IN_FLIGHT) return void answer(429, { error: 'explain is busy: try again' });
    this.explainsInFlight++;
    try {
      const text = await readBody(req, MAX_EXPLAIN_BODY);
      if (text === undefined) {
        res.setHeader('connection', 'close');
        return void answer(413, { error: `the form is larger than ${MAX_EXPLAIN_BODY} bytes` });
      }
      let parsed: z.infer<typeof ExplainRequest>;
      try {
        parsed = ExplainRequest.parse(JSON.parse(text));
      } catch (err) {
        return void answer(400, { error: err instanceof z.ZodError ? err.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ') : 'the form is not JSON' });
      }
      const { explain, formatExplanation } = await import('../cli/explain.js');
      try {
        const e = await explain(this.meshView(), { proxy: parsed.proxy, request: parsed.request, headers: parsed.headers, ...(parsed.method ? { method: parsed.method } : {}) });
        answer(200, { text: formatExplanation(e), explanation: e });
      } catch (err) {
        answer(400, { error: (err as Error).message });
      }
    } finally {
      this.explainsInFlight--;
    }
  }

  /** What explain reads, from this process: the streams' config dumps, the current snapshot, the store. */
  private meshView(): MeshView {
    const { discovery, store } = this.options;
    const roundTrip = <T>(v: unknown): T => JSON.parse(JSON.stringify(v)) as T;
    return {
      describe: 'this meshd',
      async configDump(proxyId) {
        const conn = findConnection(discovery, proxyId);
        return conn ? roundTrip(connectionConfigDump(conn, { includeEds: true })) : undefined;
      },
      services: async () => (discovery.snapshot ? roundTrip(registryz(discovery.snapshot)) : []),
      endpoints: async () => (discovery.snapshot ? roundTrip(endpointz(discovery.snapshot)) : {}),
      async objectRef(kind, namespace, name) {
        const stored = kind in KINDS ? store.get(kind as Kind, objectKey(kind as Kind, namespace, name)) : undefined;
        return { kind, namespace, name, ...(stored ? { origin: describeOrigin(stored.origin) } : {}) };
      },
    };
  }
}

function send(client: Client, event: string, data: string): void {
  const { res } = client;
  if (res.writableLength > MAX_BUFFERED_BYTES) {
    res.destroy(); // a page that stopped reading: its buffer must not grow without bound
    return;
  }
  res.write(`event: ${event}\ndata: ${data}\n\n`);
}

/** `localhost[:port]`, an IPv4 literal or a bracketed IPv6 literal, with an optional port. */
export function localHost(host: string | undefined): boolean {
  if (!host) return false;
  const m = /^(\[[^\]]+\]|[^:]+)(?::\d+)?$/.exec(host);
  if (!m) return false;
  const name = m[1]!.replace(/^\[|\]$/g, '');
  return name.toLowerCase() === 'localhost' || isIP(name) !== 0;
}

function readBody(req: IncomingMessage, limit: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (b: Buffer) => {
      size += b.length;
      if (size > limit) {
        // the rest is read and dropped (never held), and the connection closes after the answer
        chunks.length = 0;
        req.removeAllListeners('data');
        req.resume();
        resolve(undefined);
        return;
      }
      chunks.push(b);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
