// An in-process Kubernetes API server for tests: enough of the real protocol that real kubectl 1.32 and
// @kubernetes/client-node informers drive it, plus fault injection for the failures real clusters produce.
//
// What it models: one global integer resourceVersion (etcd's revision); a bounded event history (older
// versions → 410 Gone, as the watch cache answers); LIST with pagination (limit/continue), label and field
// selectors; WATCH with replay after a resourceVersion, synthetic ADDED events for an unset/"0" version,
// selector-aware ADDED/DELETED transitions and optional BOOKMARKs; GET/POST/PUT/DELETE, JSON merge patch,
// JSON patch, strategic merge patch and server-side apply (approximations, see patch.ts), the status
// subresource, dryRun, optimistic concurrency (409), namespaces that must exist and cascade on delete,
// discovery and the minimal OpenAPI v3 kubectl needs, TokenReview, SubjectAccessReview (answered by a test's
// rule function), bearer tokens and TLS, and pods/portforward over WebSocket to where a test says a pod's port
// listens (portforward.ts).
// What it does not: RBAC, admission, CRD schema/CEL validation, SSA conflicts, protobuf — a real cluster's.

import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { randomBytes, randomUUID } from 'node:crypto';
import YAML from 'yaml';
import { clone, fieldPaths, fieldsV1, jsonPatch, mergePatch, PatchError, serverSideApply, strategicMergePatch, type Json, type JsonObject } from './patch.js';
import { parseFieldSelector, parseLabelSelector, SelectorError } from './selectors.js';
import { apiVersionOf, crdOf, defaultResources, grOf, gvPath, type ResourceDef } from './resources.js';
import { PortForwardRelay, portsOf, type PortForwardTarget } from './portforward.js';

export type Verb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete';
export type KObject = JsonObject & { metadata: JsonObject & { name: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string> } };
export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface TokenIdentity {
  readonly username: string;
  readonly uid?: string;
  readonly groups?: readonly string[];
  /** audiences the token was issued for; TokenReview checks them against spec.audiences */
  readonly audiences?: readonly string[];
}

export interface AccessReview {
  readonly user: string;
  readonly groups: readonly string[];
  readonly namespace: string;
  readonly verb: string;
  readonly group: string;
  readonly resource: string;
  readonly name: string;
}

export interface FixtureOptions {
  readonly host?: string;
  readonly port?: number;
  /** when set, every request must carry `Authorization: Bearer <one of these>` (else 401) */
  readonly tokens?: readonly string[];
  /** serve HTTPS with this certificate */
  readonly tls?: { readonly cert: string | Buffer; readonly key: string | Buffer };
  /** events kept for watch replay; a watch from an older resourceVersion gets 410 */
  readonly historySize?: number;
  readonly resources?: readonly ResourceDef[];
  /** override the served versions of a resource, by `plural.group` (e.g. serve VirtualService without v1) */
  readonly servedVersions?: Readonly<Record<string, readonly string[]>>;
  /** TokenReview: token → identity */
  readonly tokenReviews?: Readonly<Record<string, TokenIdentity>>;
  /**
   * SubjectAccessReview: may `user` do `verb` on `resource` in `namespace`? (the fixture has no RBAC; a test
   * says who is allowed). Unset: nobody is.
   */
  readonly subjectAccess?: (review: AccessReview) => { allowed: boolean; reason?: string };
  /** interval of BOOKMARK events on watches that allow them (0: never) */
  readonly bookmarkIntervalMs?: number;
  readonly namespaces?: readonly string[];
  /** serve `POST /__fixture/<fault>` control endpoints (standalone use; see main.ts) */
  readonly controlEndpoints?: boolean;
  readonly log?: (line: string) => void;
}

export interface RequestRecord {
  readonly method: string;
  readonly path: string;
  readonly query: string;
  readonly verb?: Verb;
  readonly group?: string;
  readonly version?: string;
  readonly resource?: string;
  readonly subresource?: string;
  readonly namespace?: string;
  readonly name?: string;
  readonly user?: string;
  readonly contentType?: string;
  status?: number;
}

export interface FaultRule {
  /** which requests: verbs (default all) and resource plurals (default all) */
  readonly verbs?: readonly Verb[];
  readonly resources?: readonly string[];
  /** how many matching requests it applies to (default 1) */
  readonly times?: number;
  /** answer with this HTTP status (410, 429, 500, …), or hold the request without ever sending headers */
  readonly respond: { readonly status: number; readonly retryAfterSeconds?: number } | 'hang';
}

interface Watcher {
  readonly def: ResourceDef;
  readonly version: string;
  readonly namespace?: string;
  readonly match: (o: KObject) => boolean;
  readonly res: http.ServerResponse;
  silenced: boolean;
}

interface HistoryEvent {
  readonly rv: number;
  readonly gr: string;
  readonly type: EventType;
  readonly obj: KObject;
  readonly prev?: KObject;
}

class HttpError extends Error {
  constructor(readonly code: number, readonly reason: string, message: string, readonly details?: JsonObject) {
    super(message);
  }
}

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const nowRfc3339 = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');
const isObject = (v: unknown): v is JsonObject => !!v && typeof v === 'object' && !Array.isArray(v);

export function statusObject(code: number, reason: string, message: string, details?: JsonObject): JsonObject {
  return {
    kind: 'Status', apiVersion: 'v1', metadata: {}, status: code < 400 ? 'Success' : 'Failure',
    message, reason, ...(details ? { details } : {}), code,
  };
}

/** Everything but metadata and status: a change here bumps metadata.generation. */
function specOf(o: KObject): string {
  const { metadata: _m, status: _s, ...rest } = o;
  return JSON.stringify(rest);
}

export class FakeApiServer {
  private readonly opts: FixtureOptions;
  readonly resources: ResourceDef[];
  private readonly served = new Map<string, readonly string[]>();
  private readonly store = new Map<string, Map<string, KObject>>();
  /** per object, per field manager: last applied configuration (server-side apply) */
  private readonly applied = new Map<string, Map<string, JsonObject>>();
  private history: HistoryEvent[] = [];
  private rv = 1;
  /** events at or below this revision are gone: a watch from an older version gets 410 */
  private compactedRv = 0;
  private readonly watchers = new Set<Watcher>();
  private readonly faults: (FaultRule & { left: number })[] = [];
  private readonly hung = new Set<http.ServerResponse>();
  private readonly continues = new Map<string, { items: KObject[]; rv: number }>();
  private server: http.Server | undefined;
  private readonly sockets = new Set<Socket>();
  private port = 0;
  private readonly host: string;
  readonly requests: RequestRecord[] = [];
  private readonly portForwards = new Map<string, PortForwardTarget>();
  private readonly relay = new PortForwardRelay();
  /** counts of watch requests answered 200, by `plural.group` */
  readonly watchStarts = new Map<string, number>();

  constructor(opts: FixtureOptions = {}) {
    this.opts = opts;
    this.host = opts.host ?? '127.0.0.1';
    this.resources = [...(opts.resources ?? defaultResources())];
    for (const r of this.resources) {
      this.store.set(grOf(r), new Map());
      this.served.set(grOf(r), opts.servedVersions?.[grOf(r)] ?? r.versions);
    }
    for (const ns of opts.namespaces ?? ['default', 'kube-system', 'istio-system']) {
      this.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    }
    for (const r of this.resources.filter((x) => x.custom)) this.create(crdOf(r) as KObject);
  }

  // ───────────────────────────── lifecycle ─────────────────────────────

  get url(): string {
    return `${this.opts.tls ? 'https' : 'http'}://${this.host}:${this.port}`;
  }

  get resourceVersion(): number {
    return this.rv;
  }

  async start(): Promise<string> {
    await this.listen(this.opts.port ?? 0);
    return this.url;
  }

  /** The API goes away: listener closed, every connection (watches included) cut. Objects are kept. */
  async down(): Promise<void> {
    const srv = this.server;
    this.server = undefined;
    if (!srv) return;
    for (const w of this.watchers) w.res.destroy();
    this.watchers.clear();
    for (const r of this.hung) r.destroy();
    this.hung.clear();
    this.relay.close();
    const closed = new Promise<void>((resolve) => srv.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    await closed;
  }

  /** The API comes back on the same port. */
  async up(): Promise<void> {
    if (!this.server) await this.listen(this.port);
  }

  /**
   * A restart of the API server (and its watch cache): connections cut, event history gone, and the
   * resourceVersion jumps forward by `rvJump` (an etcd restore or a new etcd member), so every client's
   * version is too old and must relist.
   */
  async restart({ rvJump = 1000, downMs = 0 }: { rvJump?: number; downMs?: number } = {}): Promise<void> {
    await this.down();
    this.rv += rvJump;
    this.compactedRv = this.rv;
    this.history = [];
    this.continues.clear();
    if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
    await this.up();
  }

  async stop(): Promise<void> {
    await this.down();
  }

  private listen(port: number): Promise<void> {
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => this.onRequest(req, res);
    const server = this.opts.tls ? https.createServer({ cert: this.opts.tls.cert, key: this.opts.tls.key }, handler) : http.createServer(handler);
    server.keepAliveTimeout = 30_000;
    server.on('upgrade', (req: http.IncomingMessage, socket: Socket, head: Buffer) => this.onUpgrade(req, socket, head));
    server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    server.on('secureConnection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, this.host, () => {
        this.port = (server.address() as AddressInfo).port;
        resolve();
      });
    });
  }

  // ───────────────────────────── pods/portforward ─────────────────────────────

  /**
   * Where port `port` of pod NAMESPACE/NAME really listens: a pods/portforward to it is relayed there
   * (the pod object must exist too). Without an entry, the forward's dial fails as in a pod where
   * nothing listens.
   */
  forwardPort(namespace: string, name: string, port: number, target: PortForwardTarget): void {
    this.portForwards.set(`${namespace}/${name}:${port}`, target);
  }

  /** Port-forward tunnels open now (one per forwarded TCP connection). */
  get openPortForwards(): number {
    return this.relay.openTunnels;
  }

  private onUpgrade(req: http.IncomingMessage, socket: Socket, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://fixture');
    const m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/portforward$/.exec(url.pathname);
    const rec: RequestRecord = { method: req.method ?? 'GET', path: url.pathname, query: url.search, ...(m ? { verb: 'create' as Verb, version: 'v1', resource: 'pods', subresource: 'portforward', namespace: m[1], name: m[2] } : {}) };
    const refuse = (code: number, reason: string, message: string) => {
      rec.status = code;
      const body = JSON.stringify(statusObject(code, reason, message));
      socket.end(`HTTP/1.1 ${code} ${http.STATUS_CODES[code]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    };
    try {
      this.authenticate(req, rec);
      if (!m) return refuse(404, 'NotFound', 'the server could not find the requested resource');
      const [, namespace, name] = m as unknown as [string, string, string];
      const pod = this.getObject(this.resourceFor('v1', 'Pod'), namespace, name);
      if (!pod) return refuse(404, 'NotFound', `pods "${name}" not found`);
      const protocol = PortForwardRelay.protocolOf(req);
      if (!protocol) return refuse(400, 'BadRequest', 'unable to upgrade connection: pods/portforward speaks WebSocket (v4.channel.k8s.io) or SPDY/3.1 (portforward.k8s.io)');
      const targetOf = (port: number) => this.portForwards.get(`${namespace}/${name}:${port}`);
      if (protocol !== 'channels') {
        rec.status = 101;
        return this.relay.relaySpdy(socket, head, targetOf, name);
      }
      const ports = portsOf(url);
      if (typeof ports === 'string') return refuse(400, 'BadRequest', ports);
      rec.status = 101;
      this.relay.relay(req, socket, head, ports, targetOf, name);
    } catch (err) {
      const e = err instanceof HttpError ? err : new HttpError(500, 'InternalError', String(err));
      refuse(e.code, e.reason, e.message);
    } finally {
      this.requests.push(rec);
      this.opts.log?.(`${rec.method} ${rec.path}${rec.query} ${rec.status ?? '-'} (upgrade)`);
    }
  }

  // ───────────────────────────── faults ─────────────────────────────

  /** Answers (or hangs) the next matching requests. */
  fail(rule: FaultRule): void {
    this.faults.push({ ...rule, left: rule.times ?? 1 });
  }

  clearFaults(): void {
    this.faults.length = 0;
  }

  /** Every open watch gets an ERROR frame (410 Expired by default) and is closed, as after compaction. */
  sendWatchError(code = 410): number {
    const n = this.watchers.size;
    const reason = code === 410 ? 'Expired' : code === 500 ? 'InternalError' : 'Unknown';
    const message = code === 410 ? `too old resource version: ${this.compactedRv} (${this.rv})` : `injected watch error ${code}`;
    if (code === 410) this.expireHistory();
    for (const w of [...this.watchers]) {
      w.res.write(JSON.stringify({ type: 'ERROR', object: statusObject(code, reason, message) }) + '\n');
      w.res.end();
      this.watchers.delete(w);
    }
    return n;
  }

  /** Compaction: every resourceVersion up to now is too old to watch from (410 when a client tries). */
  expireHistory(): void {
    this.rv++;
    this.compactedRv = this.rv;
    this.history = [];
    this.continues.clear();
  }

  /** Cuts every watch connection mid-stream (no final chunk): the client sees a broken stream. */
  dropWatches(): number {
    const n = this.watchers.size;
    for (const w of this.watchers) w.res.socket?.destroy();
    this.watchers.clear();
    return n;
  }

  /** Ends every watch cleanly, as a server-side watch timeout does. */
  endWatches(): number {
    const n = this.watchers.size;
    for (const w of this.watchers) w.res.end();
    this.watchers.clear();
    return n;
  }

  /** Open watches stop receiving events (the stream stays open and silent) until the client gives up. */
  silenceWatches(): number {
    for (const w of this.watchers) w.silenced = true;
    return this.watchers.size;
  }

  watcherCount(gr?: string): number {
    let n = 0;
    for (const w of this.watchers) if (!w.silenced && (!gr || grOf(w.def) === gr)) n++;
    return n;
  }

  // ───────────────────────────── objects (programmatic) ─────────────────────────────

  resourceFor(apiVersion: string, kind: string): ResourceDef {
    const group = apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.lastIndexOf('/')) : '';
    const r = this.resources.find((x) => x.group === group && x.kind === kind);
    if (!r) throw new Error(`fixture does not serve ${apiVersion} ${kind}`);
    return r;
  }

  resource(gr: string): ResourceDef {
    const r = this.resources.find((x) => grOf(x) === gr);
    if (!r) throw new Error(`fixture does not serve ${gr}`);
    return r;
  }

  /** Creates an object as a controller would (status kept as given). Returns the stored copy. */
  create(obj: Json | KObject): KObject {
    const o = clone(obj) as KObject;
    const def = this.resourceFor(String(o.apiVersion), String(o.kind));
    return clone(this.doCreate(def, o.metadata.namespace, o, { keepStatus: true }));
  }

  /** Replaces an object (status included) regardless of its resourceVersion. */
  update(obj: Json | KObject): KObject {
    const o = clone(obj) as KObject;
    const def = this.resourceFor(String(o.apiVersion), String(o.kind));
    delete o.metadata.resourceVersion;
    return clone(this.doUpdate(def, this.keyOf(def, o.metadata.namespace, o.metadata.name), o, { status: 'replace' }));
  }

  /** Creates or replaces. */
  put(obj: Json | KObject): KObject {
    const o = obj as KObject;
    const def = this.resourceFor(String(o.apiVersion), String(o.kind));
    return this.getObject(def, o.metadata.namespace, o.metadata.name) ? this.update(o) : this.create(o);
  }

  remove(apiVersion: string, kind: string, namespace: string | undefined, name: string): boolean {
    const def = this.resourceFor(apiVersion, kind);
    const key = this.keyOf(def, namespace, name);
    if (!this.store.get(grOf(def))!.has(key)) return false;
    this.doDelete(def, key);
    return true;
  }

  get(apiVersion: string, kind: string, namespace: string | undefined, name: string): KObject | undefined {
    const o = this.getObject(this.resourceFor(apiVersion, kind), namespace, name);
    return o && clone(o);
  }

  /** Current objects of a resource (`plural.group`), as stored (storage version). */
  list(gr: string): KObject[] {
    return [...(this.store.get(gr)?.values() ?? [])].map((o) => clone(o));
  }

  // ───────────────────────────── core write path ─────────────────────────────

  private keyOf(def: ResourceDef, ns: string | undefined, name: string): string {
    return `${def.namespaced ? (ns ?? 'default') : ''}/${name}`;
  }

  private getObject(def: ResourceDef, ns: string | undefined, name: string): KObject | undefined {
    return this.store.get(grOf(def))?.get(this.keyOf(def, ns, name));
  }

  private commit(def: ResourceDef, key: string, type: EventType, obj: KObject, prev?: KObject): KObject {
    const gr = grOf(def);
    obj.metadata.resourceVersion = String(++this.rv);
    const objects = this.store.get(gr)!;
    if (type === 'DELETED') {
      objects.delete(key);
      this.applied.delete(`${gr}|${key}`);
    } else objects.set(key, obj);
    const ev: HistoryEvent = { rv: this.rv, gr, type, obj: clone(obj), ...(prev ? { prev } : {}) };
    this.history.push(ev);
    const max = this.opts.historySize ?? 10_000;
    if (this.history.length > max) {
      const dropped = this.history.splice(0, this.history.length - max);
      this.compactedRv = dropped[dropped.length - 1]!.rv;
    }
    for (const w of this.watchers) if (grOf(w.def) === gr && !w.silenced) this.deliver(w, ev);
    return obj;
  }

  private doCreate(def: ResourceDef, urlNs: string | undefined, o: KObject, { keepStatus = false, dryRun = false, manager, operation = 'Update' }: { keepStatus?: boolean; dryRun?: boolean; manager?: string; operation?: 'Update' | 'Apply' } = {}): KObject {
    if (!isObject(o) || !isObject(o.metadata)) throw new HttpError(400, 'BadRequest', 'metadata: required');
    const meta = o.metadata;
    if (!meta.name && typeof meta.generateName === 'string') meta.name = `${meta.generateName}${randomBytes(3).toString('hex').slice(0, 5)}`;
    if (!meta.name) throw new HttpError(422, 'Invalid', `${def.kind} "" is invalid: metadata.name: Required value: name or generateName is required`);
    if (!DNS1123_SUBDOMAIN.test(meta.name) || meta.name.length > 253) {
      throw new HttpError(422, 'Invalid', `${def.kind} "${meta.name}" is invalid: metadata.name: Invalid value: "${meta.name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'`);
    }
    if (def.namespaced) {
      if (urlNs && meta.namespace && meta.namespace !== urlNs) {
        throw new HttpError(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request');
      }
      meta.namespace = urlNs ?? meta.namespace ?? 'default';
      if (!this.store.get('namespaces')!.has(`/${meta.namespace}`)) {
        throw new HttpError(404, 'NotFound', `namespaces "${meta.namespace}" not found`, { name: meta.namespace, kind: 'namespaces' });
      }
    } else delete meta.namespace;
    const key = this.keyOf(def, meta.namespace, meta.name);
    if (this.store.get(grOf(def))!.has(key)) {
      throw new HttpError(409, 'AlreadyExists', `${grOf(def)} "${meta.name}" already exists`, { name: meta.name, group: def.group, kind: def.plural });
    }
    o.apiVersion = apiVersionOf(def.group, def.versions[0]!);
    o.kind = def.kind;
    delete meta.resourceVersion;
    meta.uid = randomUUID();
    meta.generation = 1;
    meta.creationTimestamp = nowRfc3339();
    if (def.statusSubresource && def.custom && !keepStatus) delete o.status;
    if (manager) this.track(meta, manager, operation, o);
    if (dryRun) return { ...o, metadata: { ...meta, resourceVersion: String(this.rv) } } as KObject;
    return this.commit(def, key, 'ADDED', o);
  }

  private doUpdate(def: ResourceDef, key: string, next: KObject, { status = 'keep', dryRun = false, expectRv, manager, operation = 'Update' }: { status?: 'keep' | 'only' | 'replace'; dryRun?: boolean; expectRv?: string; manager?: string; operation?: 'Update' | 'Apply' } = {}): KObject {
    const old = this.store.get(grOf(def))!.get(key);
    const name = key.slice(key.indexOf('/') + 1);
    if (!old) throw new HttpError(404, 'NotFound', `${grOf(def)} "${name}" not found`, { name, group: def.group, kind: def.plural });
    if (expectRv && expectRv !== old.metadata.resourceVersion) {
      throw new HttpError(409, 'Conflict', `Operation cannot be fulfilled on ${grOf(def)} "${name}": the object has been modified; please apply your changes to the latest version and try again`, { name, group: def.group, kind: def.plural });
    }
    if (!isObject(next) || !isObject(next.metadata)) throw new HttpError(400, 'BadRequest', 'metadata: required');
    if (next.metadata.name && next.metadata.name !== old.metadata.name) {
      throw new HttpError(400, 'BadRequest', `the name of the object (${next.metadata.name}) does not match the name on the URL (${old.metadata.name})`);
    }
    let o: KObject;
    if (status === 'only') {
      o = clone(old);
      if (next.status === undefined) delete o.status;
      else o.status = clone(next.status);
    } else {
      o = clone(next);
      o.metadata = { ...clone(next.metadata), name: old.metadata.name };
      if (status === 'keep' && def.statusSubresource) {
        if (old.status === undefined) delete o.status;
        else o.status = clone(old.status);
      }
      for (const k of ['uid', 'creationTimestamp', 'namespace', 'deletionTimestamp'] as const) {
        if (old.metadata[k] === undefined) delete o.metadata[k];
        else (o.metadata as JsonObject)[k] = old.metadata[k] as Json;
      }
    }
    o.apiVersion = apiVersionOf(def.group, def.versions[0]!);
    o.kind = def.kind;
    o.metadata.generation = (Number(old.metadata.generation) || 1) + (specOf(o) !== specOf(old) ? 1 : 0);
    if (manager) this.track(o.metadata, manager, operation, o);
    const { resourceVersion: _a, managedFields: _b, ...m1 } = o.metadata;
    const { resourceVersion: _c, managedFields: _d, ...m2 } = old.metadata;
    const unchanged = JSON.stringify({ ...o, metadata: m1 }) === JSON.stringify({ ...old, metadata: m2 });
    if (dryRun || unchanged) return unchanged && !dryRun ? old : ({ ...o, metadata: { ...o.metadata, resourceVersion: old.metadata.resourceVersion } } as KObject);
    return this.commit(def, key, 'MODIFIED', o, clone(old));
  }

  private doDelete(def: ResourceDef, key: string, dryRun = false): KObject {
    const old = this.store.get(grOf(def))!.get(key);
    const name = key.slice(key.indexOf('/') + 1);
    if (!old) throw new HttpError(404, 'NotFound', `${grOf(def)} "${name}" not found`, { name, group: def.group, kind: def.plural });
    if (dryRun) return clone(old);
    if (def.kind === 'Namespace' && def.group === '') {
      // a namespace takes everything in it along (a real cluster does this through the namespace controller)
      for (const r of this.resources) {
        if (!r.namespaced) continue;
        for (const [k] of [...this.store.get(grOf(r))!]) if (k.startsWith(`${name}/`)) this.doDelete(r, k);
      }
    }
    return this.commit(def, key, 'DELETED', clone(old), clone(old));
  }

  private track(meta: JsonObject, manager: string, operation: 'Update' | 'Apply', o: KObject): void {
    const { metadata: _m, status, ...rest } = o;
    const fields = fieldsV1(fieldPaths(rest as JsonObject));
    const entries = (Array.isArray(meta.managedFields) ? meta.managedFields : []).filter(
      (e) => !(isObject(e) && e.manager === manager && e.operation === operation),
    );
    entries.push({ manager, operation, apiVersion: String(o.apiVersion), time: nowRfc3339(), fieldsType: 'FieldsV1', fieldsV1: fields });
    meta.managedFields = entries;
    void status;
  }

  // ───────────────────────────── watch delivery ─────────────────────────────

  private present(def: ResourceDef, version: string, o: KObject, inList = false): KObject {
    const out = clone(o);
    if (inList && !def.custom) {
      // built-in list items carry no kind/apiVersion on the wire (client libraries must fill them in)
      delete out.apiVersion;
      delete out.kind;
    } else {
      out.apiVersion = apiVersionOf(def.group, version);
      out.kind = def.kind;
    }
    return out;
  }

  private deliver(w: Watcher, ev: HistoryEvent): void {
    const inScope = (o: KObject | undefined) => !!o && (!w.namespace || o.metadata.namespace === w.namespace) && w.match(o);
    const now = inScope(ev.obj);
    const before = ev.type === 'MODIFIED' ? inScope(ev.prev) : now;
    let type: EventType | undefined;
    if (ev.type === 'MODIFIED') type = now && before ? 'MODIFIED' : now ? 'ADDED' : before ? 'DELETED' : undefined;
    else type = now ? ev.type : undefined;
    if (!type) return;
    w.res.write(JSON.stringify({ type, object: this.present(w.def, w.version, ev.obj) }) + '\n');
  }

  // ───────────────────────────── HTTP ─────────────────────────────

  private send(res: http.ServerResponse, code: number, body: unknown, headers: Record<string, string> = {}): void {
    if (res.headersSent || res.destroyed) return;
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(code, { 'Content-Type': typeof body === 'string' ? 'text/plain' : 'application/json', ...headers });
    res.end(text);
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const url = new URL(req.url ?? '/', 'http://fixture');
      const rec: RequestRecord = { method: req.method ?? 'GET', path: url.pathname, query: url.search, contentType: req.headers['content-type'] };
      try {
        this.handle(req, res, url, body, rec);
      } catch (err) {
        const e = err instanceof HttpError ? err : err instanceof PatchError || err instanceof SelectorError ? new HttpError(400, 'BadRequest', err.message) : new HttpError(500, 'InternalError', String((err as Error).stack ?? err));
        rec.status = e.code;
        this.send(res, e.code, statusObject(e.code, e.reason, e.message, e.details));
      } finally {
        if (rec.status === undefined) rec.status = res.statusCode;
        this.requests.push(rec);
        if (this.requests.length > 100_000) this.requests.splice(0, 50_000);
        this.opts.log?.(`${rec.method} ${rec.path}${rec.query} ${rec.status}${rec.user ? ` user=${rec.user}` : ''}`);
      }
    });
  }

  private authenticate(req: http.IncomingMessage, rec: RequestRecord): void {
    const tokens = this.opts.tokens;
    const auth = req.headers.authorization ?? '';
    const token = auth.startsWith('Bearer ') ? auth.slice(7) : undefined;
    if (token) (rec as { user?: string }).user = this.opts.tokenReviews?.[token]?.username ?? `token:${token.slice(0, 6)}…`;
    if (!tokens || tokens.length === 0) return;
    if (!token || !tokens.includes(token)) throw new HttpError(401, 'Unauthorized', 'Unauthorized');
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse, url: URL, body: string, rec: RequestRecord): void {
    const method = req.method ?? 'GET';
    const p = url.pathname;
    if (p === '/healthz' || p === '/readyz' || p === '/livez') return this.send(res, 200, 'ok');
    if (this.opts.controlEndpoints && p.startsWith('/__fixture/')) return this.control(p.slice('/__fixture/'.length), url.searchParams, res);
    this.authenticate(req, rec);
    if (method === 'GET' && this.discovery(p, res)) return;

    const route = this.route(p);
    if (!route) throw new HttpError(404, 'NotFound', 'the server could not find the requested resource');
    const { def, version, namespace, name, subresource } = route;
    const q = url.searchParams;
    const verb: Verb =
      method === 'GET' ? (name ? 'get' : q.get('watch') === 'true' || q.get('watch') === '1' ? 'watch' : 'list')
      : method === 'POST' ? 'create' : method === 'PUT' ? 'update' : method === 'PATCH' ? 'patch' : method === 'DELETE' ? 'delete'
      : (() => { throw new HttpError(405, 'MethodNotAllowed', `${method} is not supported`); })();
    Object.assign(rec, { verb, group: def.group, version, resource: def.plural, namespace, name, ...(subresource ? { subresource } : {}) });

    for (const f of this.faults) {
      if (f.left <= 0) continue;
      if (f.verbs && !f.verbs.includes(verb)) continue;
      if (f.resources && !f.resources.includes(def.plural)) continue;
      f.left--;
      if (f.respond === 'hang') {
        this.hung.add(res);
        res.on('close', () => this.hung.delete(res));
        rec.status = 0;
        return;
      }
      const { status, retryAfterSeconds } = f.respond;
      const reason = status === 410 ? 'Expired' : status === 429 ? 'TooManyRequests' : status === 500 ? 'InternalError' : status === 503 ? 'ServiceUnavailable' : 'Unknown';
      return this.send(res, status, statusObject(status, reason, `injected ${status}`, retryAfterSeconds ? { retryAfterSeconds } : undefined),
        retryAfterSeconds ? { 'Retry-After': String(retryAfterSeconds) } : {});
    }

    if (def.createOnly) {
      if (verb !== 'create') throw new HttpError(405, 'MethodNotAllowed', `${verb} is not supported on ${def.plural}`);
      return def.plural === 'subjectaccessreviews' ? this.subjectAccessReview(res, body) : this.tokenReview(res, body);
    }
    if (subresource && subresource !== 'status') throw new HttpError(404, 'NotFound', 'the server could not find the requested resource');
    if (subresource && !def.statusSubresource) throw new HttpError(404, 'NotFound', 'the server could not find the requested resource');
    const dryRun = q.getAll('dryRun').includes('All');
    const manager = q.get('fieldManager') ?? (req.headers['user-agent'] ?? 'unknown').split('/')[0]!;
    const present = (o: KObject) => this.present(def, version, o);

    switch (verb) {
      case 'watch':
        return this.watch(req, res, def, version, namespace, q);
      case 'list':
        return this.send(res, 200, this.listResponse(def, version, namespace, q));
      case 'get': {
        const o = this.getObject(def, namespace, name!);
        if (!o) throw new HttpError(404, 'NotFound', `${grOf(def)} "${name}" not found`, { name: name!, group: def.group, kind: def.plural });
        return this.send(res, 200, present(o));
      }
      case 'create': {
        if (subresource) throw new HttpError(405, 'MethodNotAllowed', 'create is not supported on a subresource');
        const o = this.parseBody(req, body) as KObject;
        return this.send(res, 201, present(this.doCreate(def, namespace, o, { dryRun, manager })));
      }
      case 'update': {
        const o = this.parseBody(req, body) as KObject;
        const key = this.keyOf(def, namespace, name!);
        const expectRv = isObject(o?.metadata) && typeof o.metadata.resourceVersion === 'string' && o.metadata.resourceVersion ? o.metadata.resourceVersion : undefined;
        if (!expectRv && def.custom) {
          throw new HttpError(422, 'Invalid', `${def.kind}.${def.group} "${name}" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update`);
        }
        return this.send(res, 200, present(this.doUpdate(def, key, o, { status: subresource ? 'only' : 'keep', dryRun, expectRv, manager })));
      }
      case 'patch':
        return this.patch(req, res, def, version, namespace, name!, subresource, body, { dryRun, manager, force: q.get('force') === 'true' });
      case 'delete': {
        if (subresource) throw new HttpError(405, 'MethodNotAllowed', 'delete is not supported on a subresource');
        const o = this.doDelete(def, this.keyOf(def, namespace, name!), dryRun);
        return this.send(res, 200, present(o));
      }
    }
  }

  /** Manual fault injection for standalone use: `curl -XPOST URL/__fixture/error410` etc. */
  private control(what: string, q: URLSearchParams, res: http.ServerResponse): void {
    const n = (k: string, d: number) => Number(q.get(k) ?? d);
    const verbs = q.get('verbs')?.split(',') as Verb[] | undefined;
    const rule = (respond: FaultRule['respond']) => this.fail({ respond, times: n('times', 1), ...(verbs ? { verbs } : {}) });
    const out: Record<string, () => unknown> = {
      error410: () => this.sendWatchError(410),
      expire: () => this.expireHistory(),
      http410: () => rule({ status: 410 }),
      http500: () => rule({ status: 500 }),
      http429: () => rule({ status: 429, retryAfterSeconds: n('retryAfter', 1) }),
      hang: () => rule('hang'),
      drop: () => this.dropWatches(),
      end: () => this.endWatches(),
      silence: () => this.silenceWatches(),
      restart: () => void this.restart({ rvJump: n('jump', 1000), downMs: n('downMs', 0) }),
      clear: () => this.clearFaults(),
    };
    const f = out[what];
    if (!f) return this.send(res, 404, { error: `unknown control ${what}; one of ${Object.keys(out).join(', ')}` });
    const result = f();
    this.send(res, 200, { ok: what, result: result ?? null, resourceVersion: this.rv });
  }

  private parseBody(req: http.IncomingMessage, body: string): Json {
    const ct = (req.headers['content-type'] ?? 'application/json').split(';')[0]!.trim();
    if (ct.includes('protobuf')) throw new HttpError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml`);
    try {
      if (ct === 'application/apply-patch+yaml' || ct === 'application/yaml') return YAML.parse(body) as Json;
      return body ? (JSON.parse(body) as Json) : {};
    } catch (err) {
      throw new HttpError(400, 'BadRequest', `error decoding request body: ${(err as Error).message}`);
    }
  }

  private patch(req: http.IncomingMessage, res: http.ServerResponse, def: ResourceDef, version: string, namespace: string | undefined, name: string, subresource: string | undefined, body: string, o: { dryRun: boolean; manager: string; force: boolean }): void {
    const ct = (req.headers['content-type'] ?? '').split(';')[0]!.trim();
    const patch = this.parseBody(req, body);
    const key = this.keyOf(def, namespace, name);
    const gr = grOf(def);
    const old = this.store.get(gr)!.get(key);
    const present = (x: KObject) => this.present(def, version, x);
    const status = subresource ? 'only' : 'keep';
    if (ct === 'application/apply-patch+yaml') {
      if (!isObject(patch)) throw new HttpError(400, 'BadRequest', 'apply patch must be an object');
      const managers = this.applied.get(`${gr}|${key}`) ?? new Map<string, JsonObject>();
      const previous = managers.get(o.manager);
      const others = [...managers].filter(([m]) => m !== o.manager).map(([, v]) => v);
      const merged = serverSideApply(old, patch, previous, others) as KObject;
      merged.metadata = { ...(isObject(merged.metadata) ? merged.metadata : {}), name } as KObject['metadata'];
      if (namespace) merged.metadata.namespace = namespace;
      let result: KObject;
      if (!old) {
        if (subresource) throw new HttpError(404, 'NotFound', `${gr} "${name}" not found`);
        result = this.doCreate(def, namespace, merged, { dryRun: o.dryRun, manager: o.manager, operation: 'Apply' });
      } else {
        result = this.doUpdate(def, key, merged, { status, dryRun: o.dryRun, manager: o.manager, operation: 'Apply' });
      }
      if (!o.dryRun) {
        managers.set(o.manager, clone(patch));
        this.applied.set(`${gr}|${key}`, managers);
      }
      return this.send(res, old ? 200 : 201, present(result));
    }
    if (!old) throw new HttpError(404, 'NotFound', `${gr} "${name}" not found`, { name, group: def.group, kind: def.plural });
    let next: Json;
    if (ct === 'application/merge-patch+json') next = mergePatch(old, patch);
    else if (ct === 'application/strategic-merge-patch+json') {
      if (def.custom) throw new HttpError(415, 'UnsupportedMediaType', 'strategic merge patch is not supported for custom resources');
      next = strategicMergePatch(old, patch);
    } else if (ct === 'application/json-patch+json') next = jsonPatch(old, patch);
    else throw new HttpError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml${def.custom ? '' : ', application/strategic-merge-patch+json'}`);
    const nextObj = next as KObject;
    const expectRv = isObject(nextObj?.metadata) && nextObj.metadata.resourceVersion !== old.metadata.resourceVersion ? nextObj.metadata.resourceVersion : undefined;
    return this.send(res, 200, present(this.doUpdate(def, key, nextObj, { status, dryRun: o.dryRun, expectRv, manager: o.manager })));
  }

  private listResponse(def: ResourceDef, version: string, namespace: string | undefined, q: URLSearchParams): JsonObject {
    const labels = parseLabelSelector(q.get('labelSelector'));
    const fields = parseFieldSelector(q.get('fieldSelector'));
    const limit = Number(q.get('limit') ?? 0);
    const cont = q.get('continue');
    let items: KObject[];
    let rv: number;
    if (cont) {
      const snap = this.continues.get(cont);
      if (!snap) throw new HttpError(410, 'Expired', 'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results.');
      this.continues.delete(cont);
      ({ items, rv } = snap);
    } else {
      const requested = q.get('resourceVersion');
      if (requested && requested !== '0' && q.get('resourceVersionMatch') === 'Exact' && Number(requested) < this.compactedRv) {
        throw new HttpError(410, 'Expired', `too old resource version: ${requested} (${this.compactedRv})`);
      }
      rv = this.rv;
      items = [...this.store.get(grOf(def))!.values()]
        .filter((o) => (!namespace || o.metadata.namespace === namespace) && labels(o.metadata.labels) && fields(o))
        .sort((a, b) => ((a.metadata.namespace ?? '') + '/' + a.metadata.name < (b.metadata.namespace ?? '') + '/' + b.metadata.name ? -1 : 1))
        .map((o) => this.present(def, version, o, true));
    }
    const metadata: JsonObject = { resourceVersion: String(rv) };
    if (limit > 0 && items.length > limit) {
      const token = randomBytes(8).toString('hex');
      this.continues.set(token, { items: items.slice(limit), rv });
      if (this.continues.size > 64) this.continues.delete(this.continues.keys().next().value!);
      metadata.continue = token;
      metadata.remainingItemCount = items.length - limit;
      items = items.slice(0, limit);
    }
    return { kind: `${def.kind}List`, apiVersion: apiVersionOf(def.group, version), metadata, items };
  }

  private watch(req: http.IncomingMessage, res: http.ServerResponse, def: ResourceDef, version: string, namespace: string | undefined, q: URLSearchParams): void {
    const labels = parseLabelSelector(q.get('labelSelector'));
    const fields = parseFieldSelector(q.get('fieldSelector'));
    const match = (o: KObject) => labels(o.metadata.labels) && fields(o);
    const from = q.get('resourceVersion');
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders(); // informers wait for headers before reading; without this they stall until their timeout
    const gr = grOf(def);
    this.watchStarts.set(gr, (this.watchStarts.get(gr) ?? 0) + 1);
    const write = (type: string, object: unknown) => res.write(JSON.stringify({ type, object }) + '\n');
    if (!from || from === '0') {
      for (const o of this.store.get(gr)!.values()) {
        if ((!namespace || o.metadata.namespace === namespace) && match(o)) write('ADDED', this.present(def, version, o));
      }
    } else {
      const n = Number(from);
      if (!Number.isFinite(n) || n < this.compactedRv) {
        write('ERROR', statusObject(410, 'Expired', `too old resource version: ${from} (${this.compactedRv})`));
        res.end();
        return;
      }
    }
    const w: Watcher = { def, version, namespace, match, res, silenced: false };
    if (from && from !== '0') for (const ev of this.history) if (ev.rv > Number(from) && ev.gr === gr) this.deliver(w, ev);
    this.watchers.add(w);
    const timers: NodeJS.Timeout[] = [];
    const bookmarkMs = this.opts.bookmarkIntervalMs ?? 0;
    if (bookmarkMs > 0 && (q.get('allowWatchBookmarks') === 'true')) {
      timers.push(setInterval(() => {
        if (!w.silenced) write('BOOKMARK', { kind: def.kind, apiVersion: apiVersionOf(def.group, version), metadata: { resourceVersion: String(this.rv) } });
      }, bookmarkMs));
    }
    const timeout = Number(q.get('timeoutSeconds') ?? 0);
    if (timeout > 0) timers.push(setTimeout(() => res.end(), timeout * 1000));
    const done = () => {
      this.watchers.delete(w);
      for (const t of timers) clearTimeout(t);
    };
    res.on('close', done); // (not req 'close': that fires once the request body is read)
  }

  private tokenReview(res: http.ServerResponse, body: string): void {
    let review: JsonObject;
    try {
      review = JSON.parse(body) as JsonObject;
    } catch {
      throw new HttpError(400, 'BadRequest', 'TokenReview body is not JSON');
    }
    const spec = isObject(review.spec) ? review.spec : {};
    const token = typeof spec.token === 'string' ? spec.token : '';
    const wanted = Array.isArray(spec.audiences) ? spec.audiences.map(String) : [];
    const id = this.opts.tokenReviews?.[token];
    let status: JsonObject;
    if (!id) status = { authenticated: false, user: {}, error: 'invalid bearer token, token lookup failed' };
    else {
      const has = id.audiences ?? ['https://kubernetes.default.svc.cluster.local'];
      const audiences = wanted.length ? wanted.filter((a) => has.includes(a)) : has;
      if (wanted.length && audiences.length === 0) {
        status = { authenticated: false, user: {}, error: `[invalid bearer token, token audiences ${JSON.stringify(has)} is invalid for the target audiences ${JSON.stringify(wanted)}]` };
      } else {
        status = { authenticated: true, user: { username: id.username, uid: id.uid ?? randomUUID(), groups: [...(id.groups ?? [])] }, audiences: [...audiences] };
      }
    }
    this.send(res, 201, { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', metadata: { creationTimestamp: null }, spec, status });
  }

  private subjectAccessReview(res: http.ServerResponse, body: string): void {
    let review: JsonObject;
    try {
      review = JSON.parse(body) as JsonObject;
    } catch {
      throw new HttpError(400, 'BadRequest', 'SubjectAccessReview body is not JSON');
    }
    const spec = isObject(review.spec) ? review.spec : {};
    const attrs = isObject(spec.resourceAttributes) ? spec.resourceAttributes : {};
    const str = (v: unknown) => (typeof v === 'string' ? v : '');
    const user = str(spec.user);
    if (!user) throw new HttpError(400, 'BadRequest', 'SubjectAccessReview: at least one of user or group must be specified');
    const answer = this.opts.subjectAccess?.({
      user, groups: Array.isArray(spec.groups) ? spec.groups.map(String) : [],
      namespace: str(attrs.namespace), verb: str(attrs.verb), group: str(attrs.group), resource: str(attrs.resource), name: str(attrs.name),
    }) ?? { allowed: false, reason: 'no rule of the fixture allows it' };
    const status: JsonObject = { allowed: answer.allowed, ...(answer.reason ? { reason: answer.reason } : {}) };
    this.send(res, 201, { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', metadata: { creationTimestamp: null }, spec, status });
  }

  /** `/api/v1/...` or `/apis/G/V/...`: `[namespaces/NS/]PLURAL[/NAME[/SUB]]` (and `/api/v1/namespaces/NAME[/status]`). */
  private route(pathname: string): { def: ResourceDef; version: string; namespace?: string; name?: string; subresource?: string } | undefined {
    const parts = pathname.split('/').filter(Boolean).map(decodeURIComponent);
    let group: string;
    let version: string | undefined;
    let rest: string[];
    if (parts[0] === 'api') [group, version, rest] = ['', parts[1], parts.slice(2)];
    else if (parts[0] === 'apis') [group, version, rest] = [parts[1] ?? '', parts[2], parts.slice(3)];
    else return undefined;
    if (!version) return undefined;
    let namespace: string | undefined;
    if (rest[0] === 'namespaces' && rest.length >= 3) {
      namespace = rest[1];
      rest = rest.slice(2);
    }
    const def = this.resources.find((r) => r.group === group && r.plural === rest[0] && this.served.get(grOf(r))!.includes(version!));
    if (!def || rest.length > 3) return undefined;
    if (!def.namespaced && namespace) {
      // `/api/v1/namespaces/NAME/status` is the namespace itself
      if (def.plural !== 'namespaces') return undefined;
    }
    if (def.plural === 'namespaces' && group === '' && namespace && rest.length <= 2) {
      return { def, version, name: namespace, ...(rest[1] ? { subresource: rest[1] } : {}) };
    }
    return { def, version, ...(def.namespaced && namespace ? { namespace } : {}), ...(rest[1] ? { name: rest[1] } : {}), ...(rest[2] ? { subresource: rest[2] } : {}) };
  }

  private groupsServed(): Map<string, string[]> {
    const groups = new Map<string, string[]>();
    for (const r of this.resources) {
      if (!r.group) continue;
      const versions = groups.get(r.group) ?? [];
      for (const v of this.served.get(grOf(r))!) if (!versions.includes(v)) versions.push(v);
      groups.set(r.group, versions);
    }
    return groups;
  }

  private discovery(p: string, res: http.ServerResponse): boolean {
    if (p === '/version') {
      this.send(res, 200, { major: '1', minor: '32', gitVersion: 'v1.32.0-meshd-fixture', gitCommit: '0000000', gitTreeState: 'clean', buildDate: '2025-01-01T00:00:00Z', goVersion: 'go1.23', compiler: 'gc', platform: 'linux/amd64' });
      return true;
    }
    if (p === '/api') {
      this.send(res, 200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: `${this.host}:${this.port}` }] });
      return true;
    }
    if (p === '/apis') {
      const groups = [...this.groupsServed()].map(([name, versions]) => {
        const gvs = versions.map((v) => ({ groupVersion: `${name}/${v}`, version: v }));
        return { name, versions: gvs, preferredVersion: gvs[0] };
      });
      this.send(res, 200, { kind: 'APIGroupList', apiVersion: 'v1', groups });
      return true;
    }
    const groupMatch = p.match(/^\/apis\/([^/]+)$/);
    if (groupMatch) {
      const versions = this.groupsServed().get(groupMatch[1]!);
      if (!versions) return false;
      const gvs = versions.map((v) => ({ groupVersion: `${groupMatch[1]}/${v}`, version: v }));
      this.send(res, 200, { kind: 'APIGroup', apiVersion: 'v1', name: groupMatch[1], versions: gvs, preferredVersion: gvs[0] });
      return true;
    }
    const gv = this.resources.flatMap((r) => this.served.get(grOf(r))!.filter((v) => gvPath(r.group, v) === p).map((v) => ({ r, v })));
    if (gv.length) {
      const resources: JsonObject[] = [];
      for (const { r } of gv) {
        const verbs = r.createOnly ? ['create'] : ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];
        resources.push({ name: r.plural, singularName: r.singular, namespaced: r.namespaced, kind: r.kind, verbs, ...(r.shortNames.length ? { shortNames: [...r.shortNames] } : {}), ...(r.categories ? { categories: [...r.categories] } : {}) });
        if (r.statusSubresource) resources.push({ name: `${r.plural}/status`, singularName: '', namespaced: r.namespaced, kind: r.kind, verbs: ['get', 'patch', 'update'] });
      }
      this.send(res, 200, { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: apiVersionOf(gv[0]!.r.group, gv[0]!.v), resources });
      return true;
    }
    if (p === '/openapi/v3') {
      const paths: JsonObject = {};
      for (const r of this.resources) for (const v of this.served.get(grOf(r))!) paths[gvPath(r.group, v).slice(1)] = { serverRelativeURL: `${gvPath(r.group, v).replace(/^\//, '/openapi/v3/')}?hash=fixture` };
      this.send(res, 200, { paths });
      return true;
    }
    if (p.startsWith('/openapi/v3/')) {
      const target = p.slice('/openapi/v3'.length);
      const defs = this.resources.flatMap((r) => this.served.get(grOf(r))!.filter((v) => gvPath(r.group, v) === target).map((v) => ({ r, v })));
      if (!defs.length) return false;
      // Just what kubectl's query-parameter verifier reads: a PATCH operation tagged with the GVK that
      // declares `fieldValidation`, so kubectl leaves validation to the server instead of wanting OpenAPI v2.
      const paths: JsonObject = {};
      for (const { r, v } of defs) {
        paths[`${target}/${r.namespaced ? 'namespaces/{namespace}/' : ''}${r.plural}/{name}`] = {
          patch: {
            'x-kubernetes-group-version-kind': { group: r.group, version: v, kind: r.kind },
            parameters: [{ name: 'fieldValidation', in: 'query', schema: { type: 'string', uniqueItems: true } }],
          },
        };
      }
      this.send(res, 200, { openapi: '3.0.0', info: { title: 'Kubernetes', version: 'v1.32.0' }, paths, components: { schemas: {} } });
      return true;
    }
    return false;
  }
}
