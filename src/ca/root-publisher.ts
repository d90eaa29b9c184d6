import { PeriodicSync } from '../sources/kube/periodic-sync.js';
import type { Logger } from '../telemetry/log.js';

// Kubernetes mode: the mesh root published as ConfigMap `istio-ca-root-cert` (key `root-cert.pem`) in every
// namespace, as istiod's namespace controller does, so pods mount it to verify meshd (istio-agent reads
// /var/run/secrets/istio/root-cert.pem from it). Kept current: on every namespace change, on a CA
// rotation, on becoming leader, and by a periodic resync that restores an edited or deleted ConfigMap.
// Only the replica holding the leader Lease writes. Namespaces kube-system, kube-public and
// kube-node-lease are skipped (istiod's default).

export const ROOT_CERT_CONFIGMAP = 'istio-ca-root-cert';
export const ROOT_CERT_KEY = 'root-cert.pem';
const SKIPPED_NAMESPACES = new Set(['kube-system', 'kube-public', 'kube-node-lease']);

/** The slice of the Kubernetes source's HTTP client this needs (KubeHttp). */
export interface KubeRequester {
  request<T = unknown>(method: 'GET' | 'POST' | 'PUT', urlPath: string, opts?: { body?: unknown; timeoutMs?: number }): Promise<T>;
}

export interface RootPublisherOptions {
  readonly http: KubeRequester;
  readonly isLeader: () => boolean;
  readonly namespaces: () => readonly string[];
  readonly rootPem: () => string;
  readonly log: Logger;
  readonly resyncMs?: number;
}

interface ConfigMap {
  metadata: { name: string; namespace: string; resourceVersion?: string; labels?: Record<string, string> };
  data?: Record<string, string>;
}

const path = (ns: string, name?: string) => `/api/v1/namespaces/${encodeURIComponent(ns)}/configmaps${name ? `/${encodeURIComponent(name)}` : ''}`;

export class RootCertPublisher {
  private readonly loop: PeriodicSync;
  /** namespace → root PEM last confirmed there */
  private readonly confirmed = new Map<string, string>();
  private readonly log: Logger;

  constructor(private readonly opts: RootPublisherOptions) {
    this.log = opts.log.child({ scope: 'ca-root-configmap' });
    // the periodic resync re-checks every namespace (repairs edits and deletions)
    this.loop = new PeriodicSync(() => this.pass(), opts.resyncMs ?? 60_000, () => this.confirmed.clear());
  }

  start(): void {
    this.loop.start();
  }

  stop(): void {
    this.loop.stop();
  }

  /** Something changed (namespaces, root, leadership): sync soon; `forget` re-checks namespaces already confirmed. */
  trigger(forget = false): void {
    if (forget) this.confirmed.clear();
    this.loop.trigger();
  }

  /** One pass over every namespace; concurrent calls coalesce into one more pass. */
  sync(): Promise<void> {
    return this.loop.sync();
  }

  private async pass(): Promise<void> {
    if (!this.opts.isLeader()) return;
    const root = this.opts.rootPem();
    let written = 0;
    for (const ns of this.opts.namespaces()) {
      if (this.loop.stopped || !this.opts.isLeader()) return;
      if (SKIPPED_NAMESPACES.has(ns) || this.confirmed.get(ns) === root) continue;
      try {
        if (await this.ensure(ns, root)) written++;
        this.confirmed.set(ns, root);
      } catch (err) {
        this.log.warn({ namespace: ns, err: (err as Error).message }, `could not publish ${ROOT_CERT_CONFIGMAP}`);
      }
    }
    if (written > 0) this.log.info({ written }, `published ${ROOT_CERT_CONFIGMAP}`);
  }

  /** Creates or updates the ConfigMap in `ns`; true when it wrote. */
  private async ensure(ns: string, root: string): Promise<boolean> {
    let current: ConfigMap | undefined;
    try {
      current = await this.opts.http.request<ConfigMap>('GET', path(ns, ROOT_CERT_CONFIGMAP), { timeoutMs: 10_000 });
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode !== 404) throw err;
    }
    const labels = { 'istio.io/config': 'true' };
    if (!current) {
      await this.opts.http.request('POST', path(ns), {
        body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: ROOT_CERT_CONFIGMAP, namespace: ns, labels }, data: { [ROOT_CERT_KEY]: root } },
        timeoutMs: 10_000,
      });
      return true;
    }
    if (current.data?.[ROOT_CERT_KEY] === root) return false;
    await this.opts.http.request('PUT', path(ns, ROOT_CERT_CONFIGMAP), {
      body: { ...current, apiVersion: 'v1', kind: 'ConfigMap', metadata: { ...current.metadata, labels: { ...current.metadata.labels, ...labels } }, data: { ...current.data, [ROOT_CERT_KEY]: root } },
      timeoutMs: 10_000,
    });
    return true;
  }
}
