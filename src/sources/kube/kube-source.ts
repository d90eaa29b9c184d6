// The Kubernetes source: one resilient informer per mesh kind, feeding the same store through the same
// validate/accept/refuse path as the config-dir source (../apply.ts). Namespace scoping follows mesh
// config `discoverySelectors`: objects in namespaces no selector matches are not in the store, and a
// namespace whose labels start or stop matching brings its objects in or takes them out.

import type { KubeConfig } from '@kubernetes/client-node';
import { ALL_KINDS, CONFIG_KINDS, GATEWAY_API_KINDS, ISTIO_KINDS, isClusterScoped, type Kind } from '../../config/kinds.js';
import type { Origin } from '../../config/origin.js';
import { objectKey, type ConfigStore } from '../../config/store.js';
import type { Logger } from '../../telemetry/log.js';
import type { Metrics } from '../../telemetry/metrics.js';
import { accept, admit, refuse, withdraw, type Admission, type SourceSink } from '../apply.js';
import { KubeHttp } from './client.js';
import { ResilientInformer, type BackoffOptions, type InformerState } from './informer.js';
import { LeaderElector, type LeaderElectionOptions } from './leader.js';
import { storeForm, type KubeObject } from './normalize.js';
import { CORE_EXTRA_RESOURCES, resourceOf } from './resources.js';
import type { SecretStore } from '../../config/secrets.js';
import type { LabelSelector } from '../../config/labels.js';
import { namespaceSelected } from './selectors.js';
import { StatusWriter } from './status.js';
import { IngressStatusSyncer } from './ingress-status.js';
import { GatewayApiStatusWriter } from './gateway-api-status.js';
import type { MeshConfig } from '../../config/mesh-config.js';

/** istiod's `type` label of pilot_k8s_reg_events for the registry kinds it watches */
const REGISTRY_EVENT_TYPE: Partial<Record<Kind, string>> = { Service: 'Services', EndpointSlice: 'EndpointSlice', Pod: 'Pods', Namespace: 'Namespaces' };

/** istiod's SecretsFieldSelector: Helm releases and service-account tokens are never gateway credentials. */
export const SECRETS_FIELD_SELECTOR = 'type!=helm.sh/release.v1,type!=kubernetes.io/service-account-token';

export interface KubeSourceOptions {
  readonly kc: KubeConfig;
  readonly store: ConfigStore;
  readonly log: Logger;
  readonly metrics?: Metrics | undefined;
  /** istiod's CLUSTER_ID; names the source (`kube:<cluster>`) and rejection messages (`kube(<cluster>)`) */
  readonly cluster?: string;
  /** mesh config discoverySelectors: namespaces any of them matches are in the mesh (none: all) */
  readonly discoverySelectors?: readonly LabelSelector[];
  readonly kinds?: readonly Kind[];
  readonly watchTimeoutMs?: number;
  readonly backoff?: BackoffOptions;
  readonly notServedRetryMs?: number;
  /**
   * where the cluster's Secrets go (gateway credentialName lookups, istiod's credentials controller);
   * Secrets are not watched when undefined
   */
  readonly secrets?: SecretStore;
  /** write Istio status for rejected objects, by the replica holding the Lease; off when undefined */
  readonly status?: Omit<LeaderElectionOptions, 'http' | 'log' | 'metrics'>;
  /** the current mesh config: with `status`, Ingress status.loadBalancer is written back (ingress-status.ts) */
  readonly mesh?: () => MeshConfig;
}

export class KubeSource {
  readonly sourceId: string;
  readonly cluster: string;
  readonly http: KubeHttp;
  private readonly informers = new Map<Kind, ResilientInformer>();
  /** the credential Secrets' informer (not a mesh kind: never in the config store) */
  private readonly secretInformer: ResilientInformer | undefined;
  private readonly sink: SourceSink;
  private readonly origin: Origin;
  private readonly selectors: readonly LabelSelector[];
  /** namespace → selected, as last applied */
  private readonly selected = new Map<string, boolean>();
  /** store key → fingerprint of the last object processed (skips status-only and no-op updates) */
  private readonly seen = new Map<string, string>();
  private readonly log: Logger;
  readonly leader: LeaderElector | undefined;
  readonly status: StatusWriter | undefined;
  readonly ingressStatus: IngressStatusSyncer | undefined;
  /** Gateway API status write-back (the daemon hands it each snapshot's statuses) */
  readonly gatewayApiStatus: GatewayApiStatusWriter | undefined;

  constructor(private readonly opts: KubeSourceOptions) {
    this.cluster = opts.cluster ?? 'Kubernetes';
    this.sourceId = `kube:${this.cluster}`;
    this.origin = { source: 'kube', cluster: this.cluster };
    this.log = opts.log.child({ source: 'kube', cluster: this.cluster });
    this.http = new KubeHttp(opts.kc);
    this.sink = { store: opts.store, sourceId: this.sourceId, log: this.log, metrics: opts.metrics, metricSource: 'kube' };
    this.selectors = opts.discoverySelectors ?? [];
    if (opts.status) {
      this.leader = new LeaderElector({ ...opts.status, http: this.http, log: this.log, metrics: opts.metrics });
      this.status = new StatusWriter({ http: this.http, log: this.log, metrics: opts.metrics, isLeader: () => this.leader!.isLeader });
      const mesh = opts.mesh;
      this.ingressStatus = mesh
        ? new IngressStatusSyncer({
            http: this.http, log: this.log, metrics: opts.metrics, isLeader: () => this.leader!.isLeader, mesh,
            ingresses: () => (this.informers.get('Ingress')?.list() ?? []).filter((o) => this.visible(o.metadata.namespace)),
            ingressClass: (name) => this.informers.get('IngressClass')?.get(undefined, name),
            service: (namespace, name) => this.informers.get('Service')?.get(namespace, name),
          })
        : undefined;
      this.gatewayApiStatus = new GatewayApiStatusWriter({
        http: this.http, log: this.log, metrics: opts.metrics, isLeader: () => this.leader!.isLeader,
        current: (kind, namespace, name) => this.informers.get(kind)?.get(namespace, name),
      });
      this.leader.on('leader', (isLeader) => {
        if (isLeader) {
          this.status!.resync();
          this.ingressStatus?.sync();
          this.gatewayApiStatus?.sync();
        }
      });
    } else {
      this.ingressStatus = undefined;
      this.gatewayApiStatus = undefined;
    }
    for (const kind of opts.kinds ?? ALL_KINDS) {
      const inf = new ResilientInformer({
        kc: opts.kc, http: this.http, resource: resourceOf(kind), log: this.log,
        ...(opts.watchTimeoutMs ? { watchTimeoutMs: opts.watchTimeoutMs } : {}),
        ...(opts.backoff ? { backoff: opts.backoff } : {}),
        ...(opts.notServedRetryMs ? { notServedRetryMs: opts.notServedRetryMs } : {}),
      });
      inf.on('add', (o) => {
        this.countEvent(kind, 'add');
        this.onObject(kind, o);
      });
      inf.on('update', (o) => {
        this.countEvent(kind, 'update');
        this.onObject(kind, o);
      });
      inf.on('delete', (o) => {
        this.countEvent(kind, 'delete');
        this.onDelete(kind, o);
      });
      inf.on('state', (s) => this.onState(kind, s));
      this.informers.set(kind, inf);
      opts.metrics?.kubeInformerSynced.set({ kind }, 0);
    }
    this.secretInformer = opts.secrets ? this.watchSecrets(opts.secrets) : undefined;
  }

  /**
   * Secrets as istiod's credentials controller watches them: every namespace discoverySelectors admit,
   * minus Helm releases and service-account tokens (istiod's field selector: large, never a credential).
   */
  private watchSecrets(secrets: SecretStore): ResilientInformer {
    const inf = new ResilientInformer({
      kc: this.opts.kc, http: this.http, resource: CORE_EXTRA_RESOURCES.Secret, log: this.log,
      fieldSelector: SECRETS_FIELD_SELECTOR,
      ...(this.opts.watchTimeoutMs ? { watchTimeoutMs: this.opts.watchTimeoutMs } : {}),
      ...(this.opts.backoff ? { backoff: this.opts.backoff } : {}),
    });
    const put = (o: KubeObject) => {
      const ns = o.metadata.namespace ?? 'default';
      if (!this.visible(ns)) return secrets.delete(ns, o.metadata.name);
      const refused = secrets.apply(o);
      // the reason names keys and sizes only, never a value
      if (refused) this.log.warn({ secret: `${ns}/${o.metadata.name}`, reason: refused }, 'Secret not held for gateway credentials');
    };
    inf.on('add', put);
    inf.on('update', put);
    inf.on('delete', (o) => secrets.delete(o.metadata.namespace ?? 'default', o.metadata.name));
    inf.on('state', (s) => this.opts.metrics?.kubeInformerSynced.set({ kind: 'Secret' }, s.synced ? 1 : 0));
    this.opts.metrics?.kubeInformerSynced.set({ kind: 'Secret' }, 0);
    return inf;
  }

  private allInformers(): ResilientInformer[] {
    return [...this.informers.values(), ...(this.secretInformer ? [this.secretInformer] : [])];
  }

  /** Starts every informer (returns at once; see waitSynced). */
  start(): void {
    this.log.info({ server: this.http.server, kinds: [...this.informers.keys()], discoverySelectors: this.selectors.length }, 'starting Kubernetes informers');
    for (const inf of this.allInformers()) inf.start();
    this.leader?.start();
  }

  /** Resolves when every informer has delivered its initial list. */
  async waitSynced(): Promise<void> {
    await Promise.all(this.allInformers().map((i) => i.waitSynced()));
  }

  /** Every informer has delivered its initial list (istiod's HasSynced). */
  get hasSynced(): boolean {
    return this.allInformers().every((i) => i.state.hasSynced);
  }

  /** Every informer is consistent with the API server right now. */
  get synced(): boolean {
    return this.allInformers().every((i) => i.state.synced);
  }

  states(): InformerState[] {
    return this.allInformers().map((i) => i.state);
  }

  informer(kind: Kind): ResilientInformer | undefined {
    return this.informers.get(kind);
  }

  async stop(): Promise<void> {
    await this.leader?.stop();
    this.status?.stop();
    this.ingressStatus?.stop();
    this.gatewayApiStatus?.stop();
    await Promise.all(this.allInformers().map((i) => i.stop()));
  }

  private readonly restarts = new Map<Kind, number>();

  private onState(kind: Kind, s: InformerState): void {
    this.opts.metrics?.kubeInformerSynced.set({ kind }, s.synced ? 1 : 0);
    const more = s.restarts - (this.restarts.get(kind) ?? 0);
    if (more > 0) this.opts.metrics?.kubeInformerRestarts.inc({ kind }, more);
    this.restarts.set(kind, s.restarts);
    this.log.debug({ ...s }, 'informer state');
  }

  private visible(namespace: string | undefined): boolean {
    if (this.selectors.length === 0) return true;
    if (!namespace) return true;
    return this.selected.get(namespace) ?? false;
  }

  private keyOf(kind: Kind, o: KubeObject): string {
    return objectKey(kind, isClusterScoped(kind) ? undefined : (o.metadata.namespace ?? 'default'), o.metadata.name);
  }

  /** istiod's pilot_k8s_cfg_events (Istio kinds) and pilot_k8s_reg_events (registry kinds, istiod's type names). */
  private countEvent(kind: Kind, event: 'add' | 'update' | 'delete'): void {
    const metrics = this.sink.metrics;
    if (!metrics) return;
    if (CONFIG_KINDS.includes(kind)) metrics.k8sConfigEvents.inc({ type: kind, event });
    else metrics.k8sRegistryEvents.inc({ type: REGISTRY_EVENT_TYPE[kind] ?? kind, event });
  }

  private onObject(kind: Kind, o: KubeObject): void {
    if (kind === 'Namespace') this.onNamespace(o);
    const ns = kind === 'Namespace' ? o.metadata.name : o.metadata.namespace;
    if (!this.visible(ns)) {
      this.drop(kind, o);
      return;
    }
    const isIstio = ISTIO_KINDS.includes(kind);
    // config (Istio's and the Gateway API's) is stored without its status: controllers write it, meshd too
    const doc = storeForm(o, CONFIG_KINDS.includes(kind));
    const key = this.keyOf(kind, o);
    const fingerprint = JSON.stringify(doc);
    let admission: Admission | undefined;
    if (this.seen.get(key) !== fingerprint) {
      this.seen.set(key, fingerprint);
      admission = admit(doc, this.origin);
      if (admission.ok) accept(this.sink, admission.kind, admission.key, admission.object, this.origin);
      else refuse(this.sink, this.origin, admission);
    }
    if (isIstio && this.status) this.status.observe(kind, key, o, admission);
    this.ingressInputChanged(kind, o);
    // a Gateway API object's status as it is now (someone else's write included) is compared again
    if (GATEWAY_API_KINDS.includes(kind)) this.gatewayApiStatus?.sync();
  }

  /** Ingress status reads Ingresses, IngressClasses and the ingress Service (status included). */
  private ingressInputChanged(kind: Kind, o: KubeObject): void {
    if (!this.ingressStatus) return;
    if (kind === 'Ingress' || kind === 'IngressClass') this.ingressStatus.sync();
    else if (kind === 'Service') this.ingressStatus.serviceChanged(o.metadata.namespace, o.metadata.name);
  }

  private onDelete(kind: Kind, o: KubeObject): void {
    if (kind === 'Namespace') this.onNamespace(o, true);
    this.drop(kind, o);
    this.ingressInputChanged(kind, o);
  }

  private drop(kind: Kind, o: KubeObject): void {
    const key = this.keyOf(kind, o);
    this.seen.delete(key);
    withdraw(this.sink, kind, key);
    this.status?.forget(key);
  }

  /** Tracks namespace selection; a namespace that starts or stops being selected re-syncs its objects. */
  private onNamespace(ns: KubeObject, deleted = false): void {
    if (this.selectors.length === 0) return;
    const name = ns.metadata.name;
    const now = !deleted && namespaceSelected(this.selectors, ns.metadata.labels);
    const before = this.selected.get(name) ?? false;
    if (deleted) this.selected.delete(name);
    else this.selected.set(name, now);
    if (now === before) return;
    this.log.info({ namespace: name, selected: now }, now ? 'namespace selected by discoverySelectors' : 'namespace no longer selected by discoverySelectors');
    for (const [kind, inf] of this.informers) {
      if (kind === 'Namespace') continue;
      for (const o of inf.list()) {
        if (o.metadata.namespace !== name) continue;
        if (now) this.onObject(kind, o);
        else this.drop(kind, o);
      }
    }
    for (const o of this.secretInformer?.list() ?? []) {
      if (o.metadata.namespace !== name) continue;
      if (now) this.opts.secrets!.apply(o);
      else this.opts.secrets!.delete(name, o.metadata.name);
    }
  }
}
