import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import * as grpc from '@grpc/grpc-js';
import { KINDS, type KindInfo } from './config/kinds.js';
import { ConfigStore, type StoreEvent } from './config/store.js';
import { DEFAULT_MESH_CONFIG, type MeshConfig } from './config/mesh-config.js';
import { PushContext } from './model/push-context.js';
import { DirectorySource, type ConfigFileLimits } from './sources/dir/directory-source.js';
import type { MeshConfigFileSource } from './sources/mesh/mesh-config-file.js';
import type { KubeSource, KubeSourceOptions } from './sources/kube/kube-source.js';
import type { AnalysisController } from './analyze/controller.js';
import { configz } from './config/debug.js';
import { debugHttpHandler } from './net/debug-http.js';
import { adsz, configDumpPage, pushStatus, syncz } from './xds/debug.js';
import { endpointz, registryz } from './model/debug.js';
import type { Logger } from './telemetry/log.js';
import { Metrics } from './telemetry/metrics.js';
import { Debouncer, type DebounceOptions } from './xds/debounce.js';
import { bindGrpcServer, shutdownGrpcServer } from './net/grpc-server.js';
import { DiscoveryServer, type DiscoveryServerOptions } from './xds/server.js';
import type { WorkloadAutoRegistration } from './sources/kube/autoregistration.js';
import type { Proxy } from './model/proxy.js';
import { loadXdsCodecs } from './xds/wire.js';
import { grpcGenerator } from './xds/generators/grpc/index.js';
import { sidecarGenerator } from './xds/generators/sidecar/index.js';
import { createRouterGenerator } from './xds/generators/router/index.js';
import { buildSecureServer, startRootPublisher, type SecurityOptions } from './ca/setup.js';
import type { RootCertPublisher } from './ca/root-publisher.js';
import type { SecureServer } from './ca/secure-server.js';
import { JwksResolver } from './security/jwt/jwks-resolver.js';
import { RootRotation } from './ca/rotation.js';
import { CaAdminServer } from './ca/admin.js';
import { jwksNeeds } from './security/jwt/requestauthn.js';
import { startWebhooks, type RunningWebhooks, type WebhookOptions } from './webhook/setup.js';
import { SecretStore } from './config/secrets.js';
import { SAME_NAMESPACE_ONLY, type SecretReadAuthorizer, type VerifiedIdentity } from './xds/secret-access.js';
import type { WarningSubject } from './model/push-context.js';

export interface DaemonOptions {
  readonly configDir?: string;
  /** size limits for config-dir files and documents (default DEFAULT_FILE_LIMITS) */
  readonly configLimits?: ConfigFileLimits;
  readonly grpcAddr: string;
  readonly monitoringAddr: string;
  readonly httpAddr: string;
  readonly debounce: DebounceOptions;
  /** push scheduling and subscription limits of the xDS server (defaults: DiscoveryServer's) */
  readonly xds?: Pick<DiscoveryServerOptions, 'push' | 'limits'>;
  readonly mesh?: MeshConfig;
  /** the mesh config file (`--mesh-config`): its config beats `mesh`, and its edits are followed */
  readonly meshConfigFile?: MeshConfigFileSource;
  readonly log: Logger;
  /** the Kubernetes source (informers on the cluster's API server); off when undefined */
  readonly kube?: Omit<KubeSourceOptions, 'store' | 'log' | 'metrics'>;
  /**
   * `--config-dir-secrets`: read Secret documents of the config directory as gateway credentials (Kubernetes
   * mode always watches the cluster's Secrets)
   */
  readonly configDirSecrets?: boolean;
  /** the CA and the TLS port (CSR service + xDS over TLS); off when undefined */
  readonly security?: SecurityOptions;
  /** the injection and validation webhooks (HTTPS, certificate from the CA); needs `security` */
  readonly webhook?: WebhookOptions;
  /** the CA admin endpoint (`meshd ca …`): HOST:PORT (`meshd serve`: 127.0.0.1:15013); 'off' or unset: none */
  readonly caAdminAddr?: string;
  /** how often the root rotation checks its progress (5 s) */
  readonly rotationCheckIntervalMs?: number;
  /** PILOT_SCOPE_GATEWAY_TO_NAMESPACE: a Gateway applies only to gateway pods in its own namespace */
  readonly scopeGatewayToNamespace?: boolean;
  /** RequestAuthentication JWKS fetching (security/jwt/jwks-resolver.ts) */
  readonly jwks?: { readonly refreshIntervalMs?: number; readonly extraCaPem?: string };
  /**
   * PILOT_ENABLE_ANALYSIS: run Istio's analyzers over the store and write their messages to the Istio
   * objects' status (Kubernetes source with status writing only); PILOT_ANALYSIS_INTERVAL paces it.
   */
  readonly analysis?: { readonly istioNamespace: string; readonly intervalMs?: number };
  /**
   * WorkloadEntry auto-registration (sources/kube/autoregistration.ts; Kubernetes source only):
   * PILOT_ENABLE_WORKLOAD_ENTRY_AUTOREGISTRATION (on), PILOT_WORKLOAD_ENTRY_GRACE_PERIOD (10 s),
   * ISTIO_WORKLOAD_ENTRY_VALIDATE_IDENTITY (on); instanceId names this meshd in istio.io/workloadController.
   */
  readonly autoRegistration?: { readonly enabled?: boolean; readonly gracePeriodMs?: number; readonly validateIdentity?: boolean; readonly instanceId?: string };
}

export interface ListeningAddresses {
  readonly grpcAddr: string;
  readonly monitoringAddr: string;
  readonly httpAddr: string;
  readonly secureGrpcAddr?: string;
  readonly webhookAddr?: string;
  readonly caAdminAddr?: string;
}

/** `:15010` → all interfaces; `127.0.0.1:0` → an OS-chosen port. */
export function parseAddress(addr: string): { host: string; port: number } {
  const i = addr.lastIndexOf(':');
  if (i < 0) throw new Error(`address ${JSON.stringify(addr)}: want HOST:PORT or :PORT`);
  const host = addr.slice(0, i).replace(/^\[|\]$/g, '') || '0.0.0.0';
  const port = Number(addr.slice(i + 1));
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`address ${JSON.stringify(addr)}: bad port`);
  return { host, port };
}

/** A credential Secret changed (not a store event: Secrets are never in the config store). */
interface SecretEvent {
  readonly type: 'secret';
  readonly namespace: string;
  readonly name: string;
}

function eventType(e: StoreEvent): string {
  switch (e.kind) {
    case 'EndpointSlice':
    case 'Pod':
      return 'eds';
    case 'Service':
      return 'svc';
    default:
      return 'config';
  }
}

/**
 * Wires the one-way flow: sources → store → debouncer → PushContext → DiscoveryServer → proxies.
 */
export class Daemon {
  readonly store = new ConfigStore();
  readonly metrics = new Metrics();
  readonly discovery: DiscoveryServer;
  // Keepalive pings are answered only while the event loop turns: the push scheduler keeps it turning
  // (bounded slices), so a healthy proxy is never cut for a missed ping during a large push.
  private readonly grpcServer = new grpc.Server({
    'grpc.max_receive_message_length': 16 * 1024 * 1024,
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 20_000,
  });
  private readonly httpServers: http.Server[] = [];
  private readonly sources: { stop(): Promise<void> }[] = [];
  /** the Kubernetes source, when configured */
  kube: KubeSource | undefined;
  private analysis: AnalysisController | undefined;
  private readonly debouncer: Debouncer<StoreEvent | SecretEvent>;
  /** gateway credential Secrets (Kubernetes mode, or --config-dir-secrets); undefined: no Secret source */
  readonly secrets: SecretStore | undefined;
  /** who may read their namespace's Secrets over SDS: a SubjectAccessReview in Kubernetes mode */
  private secretAuthorizer: SecretReadAuthorizer = SAME_NAMESPACE_ONLY;
  /** credential problems of the current snapshot by Gateway (`namespace/name`), for its status */
  private readonly credentialProblems = new Map<string, string[]>();
  private snapshotSeq = 0;
  private ready = false;
  /** every source has loaded its initial state (the whole config directory read, every informer synced) */
  private sourcesLoaded = false;
  private readonly log: Logger;
  private mesh: MeshConfig;
  /** generator warnings logged for the current snapshot (each distinct one once) */
  private readonly warned = new Set<string>();
  addresses: ListeningAddresses | undefined;
  /** RequestAuthentication keys fetched from jwksUri / OpenID discovery: a snapshot input */
  readonly jwks: JwksResolver;
  private jwksRebuildQueued = false;

  constructor(private readonly options: DaemonOptions) {
    this.log = options.log;
    this.jwks = new JwksResolver({
      log: this.log,
      ...(options.jwks?.refreshIntervalMs !== undefined ? { refreshIntervalMs: options.jwks.refreshIntervalMs } : {}),
      ...(options.jwks?.extraCaPem !== undefined ? { extraCaPem: options.jwks.extraCaPem } : {}),
      metrics: { fetchSuccess: this.metrics.jwksFetchSuccess, fetchFailure: this.metrics.jwksFetchFailure },
      // fetched keys are data like any source's: a change is a new snapshot (never awaited by a push)
      onChange: () => {
        if (this.jwksRebuildQueued) return;
        this.jwksRebuildQueued = true;
        setImmediate(() => {
          this.jwksRebuildQueued = false;
          if (this.ready) this.rebuild(0, Date.now());
        });
      },
    });
    this.mesh = options.meshConfigFile?.current ?? options.mesh ?? DEFAULT_MESH_CONFIG;
    this.secrets = options.kube || options.configDirSecrets
      ? new SecretStore({}, {
        onChange: (namespace, name) => {
          this.metrics.credentialSecrets.set(this.secrets?.size ?? 0);
          this.metrics.inboundUpdates.inc({ type: 'secret' });
          this.debouncer.add({ type: 'secret', namespace, name });
        },
        onRefused: (_ns, _name, reason) => this.metrics.credentialSecretsRefused.inc({ reason: reason.includes('more than') ? 'bounds' : 'malformed' }),
      })
      : undefined;
    this.discovery = new DiscoveryServer({
      log: this.log,
      metrics: this.metrics,
      generators: {
        grpc: grpcGenerator,
        sidecar: sidecarGenerator,
        router: createRouterGenerator({ scopeGatewayToNamespace: options.scopeGatewayToNamespace ?? false }),
      },
      connectionObserver: {
        onConnect: (proxy, caller, at) => this.onProxyConnect(proxy, caller, at),
        onDisconnect: (proxy, at) => this.autoRegistration?.onDisconnect(proxy, at),
      },
      secretAccess: { cached: (id) => this.secretAuthorizer.cached(id), check: (id) => this.secretAuthorizer.check(id) },
      ...options.xds,
    });
    this.discovery.register(this.grpcServer);
    // No snapshot before every source has delivered its initial state: a push from a half-read directory
    // (or half-listed cluster) would serve proxies a partial mesh and make /ready true too early.
    this.debouncer = new Debouncer(options.debounce, (events, firstAt) => {
      if (this.sourcesLoaded) this.rebuild(events.length, firstAt);
    });
    this.store.on('change', (e) => {
      this.metrics.inboundUpdates.inc({ type: eventType(e) });
      // an object of a kind meshd validates but does not serve changes no proxy's config: no push
      if (!(KINDS[e.kind] as KindInfo).served) return;
      this.debouncer.add(e);
    });
  }

  get isReady(): boolean {
    return this.ready;
  }

  async start(): Promise<ListeningAddresses> {
    loadXdsCodecs();
    const handler = debugHttpHandler({
      isReady: () => this.ready,
      metrics: { contentType: this.metrics.registry.contentType, text: () => this.metrics.registry.metrics() },
      debug: {
        syncz: (q) => syncz(this.discovery, q),
        configz: () => configz(this.store),
        adsz: () => adsz(this.discovery),
        config_dump: (q) => configDumpPage(this.discovery, q),
        registryz: () => (this.discovery.snapshot ? registryz(this.discovery.snapshot) : []),
        endpointz: () => (this.discovery.snapshot ? endpointz(this.discovery.snapshot) : {}),
        push_status: () => pushStatus(this.discovery.snapshot, this.warned),
      },
    });
    const grpcAddr = await this.bindGrpc(this.options.grpcAddr);
    const monitoringAddr = await this.listenHttp(this.options.monitoringAddr, handler);
    const httpAddr = await this.listenHttp(this.options.httpAddr, handler);
    const secureGrpcAddr = this.options.security ? await this.startSecure(this.options.security) : undefined;
    this.addresses = { grpcAddr, monitoringAddr, httpAddr, ...(secureGrpcAddr ? { secureGrpcAddr } : {}), ...(this.caAdminAddress ? { caAdminAddr: this.caAdminAddress } : {}) };
    if (this.options.configDir) {
      const dir = new DirectorySource({
        dir: this.options.configDir, store: this.store, log: this.log, metrics: this.metrics,
        ...(this.options.configLimits ? { limits: this.options.configLimits } : {}),
        ...(this.options.configDirSecrets && this.secrets ? { secrets: this.secrets } : {}),
      });
      this.sources.push(dir);
      await dir.start();
    }
    if (this.options.kube) await this.startKube(this.options.kube);
    if (this.kube && this.secure) this.rootPublisher = startRootPublisher({ kube: this.kube, ca: this.secure.ca, store: this.store, log: this.log });
    if (this.kube && this.options.autoRegistration?.enabled !== false) {
      const { WorkloadAutoRegistration } = await import('./sources/kube/autoregistration.js');
      const o = this.options.autoRegistration ?? {};
      this.autoRegistration = new WorkloadAutoRegistration({
        http: this.kube.http,
        store: this.store,
        log: this.log.child({ scope: 'autoregistration' }),
        instanceId: o.instanceId ?? hostname(),
        gracePeriodMs: o.gracePeriodMs ?? 10_000,
        validateIdentity: o.validateIdentity ?? true,
      });
    }
    if (this.options.webhook && this.secure) {
      const mesh = this.mesh;
      const started = await startWebhooks(this.options.webhook, {
        ca: this.secure.ca, store: this.store, metrics: this.metrics, log: this.log, parseAddress,
        mesh: { trustDomain: mesh.trustDomain, domainSuffix: mesh.domainSuffix },
        ...(this.kube && this.options.kube ? { kube: { http: this.kube.http, cluster: this.options.kube.cluster ?? 'Kubernetes', leader: this.kube.leader } } : {}),
      });
      this.webhooks = started.webhooks;
      this.addresses = { ...this.addresses, webhookAddr: started.addr };
    }
    // a mesh config change rebuilds everything (it is part of every cache fingerprint), as istiod pushes all
    this.options.meshConfigFile?.watch((mesh) => {
      this.mesh = mesh;
      if (this.ready) this.rebuild(0, Date.now());
      // ingressService / ingressClass may have changed what Ingress status says
      this.kube?.ingressStatus?.sync();
    });
    // The first snapshot goes out at once: there is nothing to coalesce with at start-up.
    this.sourcesLoaded = true;
    this.debouncer.flush();
    if (!this.ready) this.rebuild(0, Date.now());
    return this.addresses;
  }

  /**
   * Starts the informers and waits until every one has delivered its initial list: the first snapshot
   * (and so /ready) must never be a half-listed cluster, or connected proxies would lose config.
   */
  private async startKube(kube: NonNullable<DaemonOptions['kube']>): Promise<void> {
    // loaded here: the Kubernetes client costs seconds of start-up that a config-dir daemon never needs
    const { KubeSource } = await import('./sources/kube/kube-source.js');
    const src = new KubeSource({ ...kube, store: this.store, log: this.log, metrics: this.metrics, mesh: () => this.mesh, ...(this.secrets ? { secrets: this.secrets } : {}) });
    this.kube = src;
    const { SubjectAccessReviewAuthorizer } = await import('./sources/kube/subject-access.js');
    this.secretAuthorizer = new SubjectAccessReviewAuthorizer({ http: src.http, log: this.log.child({ scope: 'credentials' }) });
    this.sources.push(src);
    src.start();
    const progress = setInterval(() => {
      const waiting = src.states().filter((s) => !s.hasSynced).map((s) => `${s.kind}${s.lastError ? ` (${s.lastError})` : ''}`);
      this.log.info({ waiting }, 'waiting for Kubernetes informers to sync');
    }, 5000);
    progress.unref();
    try {
      await src.waitSynced();
    } finally {
      clearInterval(progress);
    }
    this.log.info({ objects: this.store.revision }, 'Kubernetes informers synced');
    const status = src.status;
    if (this.options.analysis && status) {
      const { AnalysisController } = await import('./analyze/controller.js');
      this.analysis = new AnalysisController({
        store: this.store,
        mesh: () => this.mesh,
        istioNamespace: this.options.analysis.istioNamespace,
        log: this.log.child({ scope: 'analysis' }),
        onResult: (byKey) => status.setAnalysis(byKey),
        ...(this.options.analysis.intervalMs !== undefined ? { intervalMs: this.options.analysis.intervalMs } : {}),
      });
      this.analysis.start();
    }
  }

  /** Builds a new immutable snapshot from the store and hands it to the xDS server. */
  rebuild(events: number, firstEventAt: number): PushContext {
    const t0 = performance.now();
    this.warned.clear();
    this.credentialProblems.clear();
    // start fetching keys the config now names (in the background: this snapshot has what is fetched so far)
    this.jwks.sync(jwksNeeds(this.store.list('RequestAuthentication').map((s) => s.object)));
    const ctx = new PushContext(this.store, `${new Date().toISOString()}/${++this.snapshotSeq}`, this.mesh, {
      onWarning: (w, about) => this.warnOnce(w, about),
      jwks: this.jwks.snapshot(),
      ...(this.secrets ? { secrets: this.secrets.snapshot() } : {}),
    });
    this.metrics.pushContextBuild.observe((performance.now() - t0) / 1000);
    this.metrics.services.set(ctx.registry.services.length);
    this.metrics.virtualServices.set(ctx.virtualServices.length);
    this.metrics.pushTriggers.inc({ type: this.ready ? 'config' : 'startup' });
    this.discovery.push(ctx, firstEventAt);
    this.kube?.gatewayApiStatus?.setDesired(ctx.gatewayApiStatuses);
    this.ready = true;
    this.log.info(
      { version: ctx.version, events, services: ctx.registry.services.length, virtualServices: ctx.virtualServices.length,
        destinationRules: ctx.destinationRules.length, proxies: this.discovery.connections.length, buildMs: +(performance.now() - t0).toFixed(1) },
      'push',
    );
    return ctx;
  }

  /**
   * A generator left something out or changed it (a CUSTOM policy whose provider cannot be used…): logged
   * once per snapshot. Resources are rebuilt only when what they read changed, so an unchanged problem is
   * not logged again on every push; an edit that keeps it is.
   */
  private warnOnce(warning: string, about?: WarningSubject): void {
    if (this.warned.has(warning)) return;
    this.warned.add(warning);
    this.metrics.configWarnings.inc();
    if (about?.kind === 'credential') this.metrics.sdsCertificateErrors.inc();
    if (about?.gateway) {
      const list = this.credentialProblems.get(about.gateway) ?? [];
      this.credentialProblems.set(about.gateway, [...list, warning]);
    }
    this.log.warn({ warning }, 'configuration not applied as written');
  }

  async stop(graceMs = 5000): Promise<void> {
    await this.options.meshConfigFile?.stop();
    this.debouncer.stop();
    this.analysis?.stop();
    this.jwks.stop();
    this.rotation?.stop();
    await this.caAdmin?.close();
    this.rootPublisher?.stop();
    this.autoRegistration?.stop();
    await this.webhooks?.stop();
    await Promise.all(this.sources.map((s) => s.stop()));
    this.discovery.closeAll();
    await this.secure?.stop(graceMs);
    await shutdownGrpcServer(this.grpcServer, graceMs);
    await Promise.all(
      this.httpServers.map((s) => new Promise<void>((resolve) => {
        s.close(() => resolve());
        s.closeAllConnections();
      })),
    );
  }

  private secure: SecureServer | undefined;

  /** where the CA's material comes from (`--ca-dir DIR`, `Secret NS/NAME`), when the CA runs */
  get caSource(): string | undefined {
    return this.secure?.ca.source;
  }
  private rootPublisher: RootCertPublisher | undefined;
  private autoRegistration: WorkloadAutoRegistration | undefined;

  /**
   * A proxy stream opened: a proxy asking for auto-registration (AUTO_REGISTER_GROUP) gets its WorkloadEntry,
   * or its stream ends when that cannot be done (no Kubernetes source: nowhere to write it).
   */
  private async onProxyConnect(proxy: Proxy, caller: VerifiedIdentity | undefined, at: Date): Promise<void> {
    if (this.options.autoRegistration?.enabled === false || !proxy.metadata.AUTO_REGISTER_GROUP) return;
    if (!this.autoRegistration) {
      throw Object.assign(new Error(`auto-registration of ${proxy.id} failed: WorkloadEntry auto-registration needs the Kubernetes source`), { code: grpc.status.FAILED_PRECONDITION });
    }
    await this.autoRegistration.onConnect(proxy, caller, at);
  }
  /** the webhook server and caBundle patcher, when --webhook-addr is on */
  webhooks: RunningWebhooks | undefined;

  private async startSecure(security: SecurityOptions): Promise<string> {
    const mesh = this.mesh;
    this.secure = await buildSecureServer(security, {
      trustDomain: mesh.trustDomain, metrics: this.metrics, log: this.log, discovery: this.discovery,
      onIssued: (i) => this.rotation?.recordIssuance(i),
    });
    const secure = this.secure;
    this.rotation = new RootRotation({
      ca: secure.ca, log: this.log, trustDomain: mesh.trustDomain,
      persist: secure.persist ?? (async () => {}),
      proxies: () => this.discovery.connections.map((c) => c.proxy),
      ...(this.options.rotationCheckIntervalMs !== undefined ? { checkIntervalMs: this.options.rotationCheckIntervalMs } : {}),
      metrics: { setPhase: (n) => this.metrics.caRotationPhase.set(n), setPending: (n) => this.metrics.caRotationPending.set(n) },
    });
    // new root material from the CA's source (a replaced cacerts Secret or --ca-dir files) is staged, not swapped
    secure.ca.onNewRoot = (pems) => {
      this.rotation!.stage(pems, `${secure.ca.source} (changed)`).catch((err: Error) => this.log.error({ err: err.message }, 'could not stage the new CA root'));
    };
    this.rotation.start();
    const adminAddr = this.options.caAdminAddr ?? 'off';
    if (adminAddr !== 'off') {
      this.caAdmin = new CaAdminServer(this.rotation, this.log.child({ scope: 'ca-admin' }));
      const a = parseAddress(adminAddr);
      this.caAdminAddress = await this.caAdmin.listen(a.host, a.port).catch((err: Error) => {
        throw new Error(`--ca-admin-addr ${adminAddr}: ${err.message}`);
      });
    }
    const { host, port } = parseAddress(security.addr);
    return secure.start(host, port).catch((err: Error) => {
      throw new Error(`--secure-grpc-addr ${security.addr}: ${err.message}`);
    });
  }

  /** the root rotation (`meshd ca rotate`), when the CA runs */
  rotation: RootRotation | undefined;
  private caAdmin: CaAdminServer | undefined;
  /** where the CA admin endpoint listens, when it does */
  caAdminAddress: string | undefined;

  private bindGrpc(addr: string): Promise<string> {
    const { host, port } = parseAddress(addr);
    return bindGrpcServer(this.grpcServer, host, port, grpc.ServerCredentials.createInsecure()).then(
      (bound) => `${host}:${bound}`,
      (err: Error) => {
        throw new Error(`--grpc-addr ${addr}: ${err.message}`);
      },
    );
  }

  private listenHttp(addr: string, handler: http.RequestListener): Promise<string> {
    const { host, port } = parseAddress(addr);
    const server = http.createServer(handler);
    this.httpServers.push(server);
    return new Promise((resolve, reject) => {
      server.once('error', (err) => reject(new Error(`listen ${addr}: ${err.message}`)));
      server.listen(port, host, () => resolve(`${host}:${(server.address() as AddressInfo).port}`));
    });
  }
}
