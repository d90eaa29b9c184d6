// One resilient informer per resource, over @kubernetes/client-node's ListWatch.
//
// What client-node's ListWatch does by itself: LIST, then WATCH from the list's resourceVersion; relist on
// 410 (ERROR frame or HTTP 410); re-watch from the last version after its inactivity timeout. What it does
// not, and this wrapper adds:
//  - any other error (5xx, 429, refused connection, failed LIST) stops ListWatch for good → replace it
//    with a new one (which lists again, as client-go's reflector does) after jittered exponential backoff
//    (honouring Retry-After), forever, until stop();
//  - stop() makes the aborted request surface as an "operation was aborted" error → ignored;
//  - ListWatch waits longer and longer (up to 30 s) before re-watching after clean stream ends → capped;
//  - LIST items and WATCH objects differ (kind/apiVersion, Date vs string) → one normalised shape;
//  - versions: prefer the first served one (Istio kinds: v1, then v1beta1, …), fall back on 404, and
//    treat "served at no version" as an empty, synced collection (re-probed periodically, so installing
//    the CRDs later works);
//  - state: hasSynced (initial list delivered), synced (currently consistent with the server), restarts.

import { EventEmitter } from 'node:events';
import { ListWatch, Watch, type KubeConfig, type KubernetesObject, type KubernetesListObject } from '@kubernetes/client-node';
import type { Logger } from '../../telemetry/log.js';
import { KubeApiError, type KubeHttp } from './client.js';
import { normalizeObject, type KubeObject } from './normalize.js';
import { apiVersionOf, resourcePath, type WatchedResource } from './resources.js';

export interface BackoffOptions {
  readonly initialMs: number;
  readonly maxMs: number;
}

export interface InformerOptions {
  readonly kc: KubeConfig;
  readonly http: KubeHttp;
  readonly resource: WatchedResource;
  readonly log: Logger;
  /** watch only this namespace */
  readonly namespace?: string;
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  /** client-side inactivity timeout of a watch (then it re-watches from the last version); default 30 s */
  readonly watchTimeoutMs?: number;
  readonly backoff?: BackoffOptions;
  /** how often to look again for a resource the cluster serves at no version; default 30 s */
  readonly notServedRetryMs?: number;
}

export interface InformerState {
  readonly kind: string;
  /** the initial list has been delivered (istiod's HasSynced): stays true */
  readonly hasSynced: boolean;
  /** consistent with the server right now (false from an error until the next successful list/watch) */
  readonly synced: boolean;
  /** the version being watched; undefined while unknown or when none is served */
  readonly version: string | undefined;
  readonly served: boolean;
  readonly restarts: number;
  readonly lastError: string | undefined;
}

type Events = {
  add: [KubeObject];
  update: [KubeObject, KubeObject];
  delete: [KubeObject];
  state: [InformerState];
};

const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 200, maxMs: 30_000 };
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref?.());

/** A Watch that reports when a watch request got its 200 (the stream is established). */
class ObservedWatch extends Watch {
  constructor(kc: KubeConfig, timeoutMs: number, private readonly onEstablished: () => void) {
    super(kc);
    // client-node keeps the inactivity timeout private; it is a plain field at run time
    (this as unknown as { requestTimeoutMs: number }).requestTimeoutMs = timeoutMs;
  }

  override async watch(path: string, queryParams: Record<string, string | number | boolean | undefined>, callback: (phase: string, apiObj: any, watchObj?: any) => void, done: (err: any) => void): Promise<AbortController> { // eslint-disable-line @typescript-eslint/no-explicit-any
    let finished = false;
    const ctrl = await super.watch(path, queryParams, callback, (err: unknown) => {
      finished = true;
      done(err);
    });
    if (!finished) this.onEstablished();
    return ctrl;
  }
}

export function keyOfObject(o: { metadata: { name: string; namespace?: string } }): string {
  return `${o.metadata.namespace ?? ''}/${o.metadata.name}`;
}

export class ResilientInformer extends EventEmitter<Events> {
  readonly resource: WatchedResource;
  private readonly objects = new Map<string, KubeObject>();
  private lw: ListWatch<KubernetesObject> | undefined;
  private versionIndex = 0;
  private stopped = true;
  private failures = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private st: { hasSynced: boolean; synced: boolean; version: string | undefined; served: boolean; restarts: number; lastError: string | undefined };
  private readonly syncedWaiters: (() => void)[] = [];
  private readonly log: Logger;

  constructor(private readonly opts: InformerOptions) {
    super();
    this.resource = opts.resource;
    this.log = opts.log.child({ informer: opts.resource.kind });
    this.st = { hasSynced: false, synced: false, version: undefined, served: true, restarts: 0, lastError: undefined };
  }

  get state(): InformerState {
    return { kind: this.resource.kind, ...this.st };
  }

  /** Current objects, normalised. */
  list(): KubeObject[] {
    return [...this.objects.values()];
  }

  get(namespace: string | undefined, name: string): KubeObject | undefined {
    return this.objects.get(`${namespace ?? ''}/${name}`);
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.versionIndex = 0;
    this.connect();
  }

  /** Resolves once the initial list has been delivered. */
  waitSynced(): Promise<void> {
    if (this.st.hasSynced) return Promise.resolve();
    return new Promise((resolve) => this.syncedWaiters.push(resolve));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    const lw = this.lw;
    this.lw = undefined;
    await lw?.stop();
  }

  private setState(patch: Partial<typeof this.st>): void {
    const before = JSON.stringify(this.st);
    this.st = { ...this.st, ...patch };
    if (JSON.stringify(this.st) !== before) this.emit('state', this.state);
    if (this.st.hasSynced) for (const w of this.syncedWaiters.splice(0)) w();
  }

  private get version(): string {
    return this.resource.versions[this.versionIndex]!;
  }

  /** A new ListWatch for the current version (a fresh one only when the version changes). */
  private connect(): void {
    if (this.stopped) return;
    const version = this.version;
    const r = this.resource;
    const path = resourcePath(r, version, { namespace: this.opts.namespace });
    const apiVersion = apiVersionOf(r.group, version);
    const watch = new ObservedWatch(this.opts.kc, this.opts.watchTimeoutMs ?? 30_000, () => {
      if (this.lw !== lw) return;
      this.failures = 0;
      // resuming a watch from a known version after an error makes the cache consistent again
      if (this.st.hasSynced && !this.st.synced) this.setState({ synced: true, lastError: undefined });
    });
    const listFn = async (): Promise<KubernetesListObject<KubernetesObject>> => {
      const list = await this.opts.http.request<KubernetesListObject<KubernetesObject>>('GET', path, {
        query: { labelSelector: this.opts.labelSelector, fieldSelector: this.opts.fieldSelector },
      });
      if (this.lw !== lw) return list;
      const items = (list.items ?? []).map((i) => normalizeObject(i, apiVersion, r.kind));
      // Objects gone since the last look (also across a version switch, which ListWatch cannot know).
      const present = new Set(items.map(keyOfObject));
      for (const [k, o] of [...this.objects]) {
        if (!present.has(k)) {
          this.objects.delete(k);
          this.emit('delete', o);
        }
      }
      // ListWatch applies the items synchronously once this promise resolves; mark synced right after.
      setImmediate(() => {
        if (this.lw !== lw || this.stopped) return;
        this.failures = 0;
        this.setState({ hasSynced: true, synced: true, served: true, version, lastError: undefined });
      });
      return { ...list, items };
    };
    const lw: ListWatch<KubernetesObject> = new ListWatch(path, watch, listFn, false, this.opts.labelSelector, this.opts.fieldSelector, {
      // ListWatch doubles its pause (to 30 s) after every clean stream end without events: cap it at ~1 s
      delayFn: (ms: number) => sleep(Math.min(ms, 1000) * (0.5 + Math.random() / 2)),
    });
    this.lw = lw;
    lw.on('add', (o) => lw === this.lw && this.upsert(o, apiVersion));
    lw.on('update', (o) => lw === this.lw && this.upsert(o, apiVersion));
    lw.on('delete', (o) => lw === this.lw && this.remove(o, apiVersion));
    lw.on('error', (err) => this.onError(lw, err));
    void lw.start().catch((err: unknown) => this.onError(lw, err));
  }

  private upsert(raw: KubernetesObject, apiVersion: string): void {
    const o = normalizeObject(raw, apiVersion, this.resource.kind);
    const k = keyOfObject(o);
    const old = this.objects.get(k);
    this.objects.set(k, o);
    if (!old) this.emit('add', o);
    else if (old.metadata.resourceVersion !== o.metadata.resourceVersion) this.emit('update', o, old);
  }

  private remove(raw: KubernetesObject, apiVersion: string): void {
    const o = normalizeObject(raw, apiVersion, this.resource.kind);
    const k = keyOfObject(o);
    const old = this.objects.get(k);
    if (!old) return;
    this.objects.delete(k);
    this.emit('delete', old);
  }

  private onError(lw: ListWatch<KubernetesObject>, err: unknown): void {
    if (this.stopped || lw !== this.lw) return; // the spurious "operation was aborted" of stop()/switch
    const e = err as { statusCode?: number; code?: number; message?: string; retryAfterSeconds?: number };
    const status = e.statusCode ?? (typeof e.code === 'number' ? e.code : undefined);
    if (status === 404 && err instanceof KubeApiError) {
      // the LIST said this version is not served: try the next one
      void lw.stop();
      if (this.versionIndex + 1 < this.resource.versions.length) {
        this.log.info({ version: this.version, next: this.resource.versions[this.versionIndex + 1] }, 'version not served; trying the next');
        this.versionIndex++;
        this.connect();
        return;
      }
      this.log.warn({ versions: this.resource.versions }, 'resource not served at any version; treating it as empty and looking again later');
      for (const [k, o] of [...this.objects]) {
        this.objects.delete(k);
        this.emit('delete', o);
      }
      this.setState({ hasSynced: true, synced: true, served: false, version: undefined, lastError: undefined });
      this.lw = undefined;
      this.restartTimer = setTimeout(() => {
        this.restartTimer = undefined;
        this.versionIndex = 0;
        this.connect();
      }, this.opts.notServedRetryMs ?? 30_000);
      this.restartTimer.unref?.();
      return;
    }
    this.failures++;
    const b = this.opts.backoff ?? DEFAULT_BACKOFF;
    const exp = Math.min(b.maxMs, b.initialMs * 2 ** Math.min(this.failures - 1, 20));
    const delay = Math.max(exp * (0.5 + Math.random() / 2), (e.retryAfterSeconds ?? 0) * 1000);
    const message = e.message ?? String(err);
    this.log.warn({ err: message, status, retryInMs: Math.round(delay), failures: this.failures }, 'list/watch failed; restarting');
    this.setState({ synced: false, lastError: message, restarts: this.st.restarts + 1 });
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.stopped || lw !== this.lw) return;
      // A fresh ListWatch that lists again, as client-go's reflector does after a failed list or watch.
      // Restarting the same ListWatch (resuming from its last resourceVersion) raced under load: start()
      // aborts the request in flight, that abort comes back through ListWatch's doneHandler as one more
      // error, and two watches of one resource could end up running at once, interleaving old and new
      // events — objects left stale, deleted ones back, for good (kube-faults scenarios beside a second
      // test suite at load 22). A replaced ListWatch's late events and errors are ignored (lw !== this.lw).
      void lw.stop();
      this.connect();
    }, delay);
    this.restartTimer.unref?.();
  }
}
