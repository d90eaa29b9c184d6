import { createHash } from 'node:crypto';
import client from 'prom-client';
import { meshdVersion } from './build-info.js';

// istiod's metric names (pilot/pkg/xds/monitoring.go, security/pkg/server/ca/monitoring.go), so Istio's
// Grafana dashboards and alerts work unchanged. One Metrics per daemon (tests run several in a process).

export type XdsShortType = 'cds' | 'eds' | 'lds' | 'rds' | 'sds';

/** what an Istio version looks like (1.24.2, 1.25.0-alpha.0, 1.24-dev, a build's tag): anything else is `unknown` */
const VERSION_LABEL = /^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$/;
/** distinct version labels at once; more (a client making them up) are `other` */
const MAX_VERSION_LABELS = 50;
/** node ids longer than this are cut in labels (a hash keeps them apart) */
const MAX_NODE_LABEL = 253;
/** Go's codes.Code.String(), istiod's `err` label of pilot_xds_*_reject */
const GRPC_CODE_NAMES = [
  'OK', 'Canceled', 'Unknown', 'InvalidArgument', 'DeadlineExceeded', 'NotFound', 'AlreadyExists', 'PermissionDenied',
  'ResourceExhausted', 'FailedPrecondition', 'Aborted', 'OutOfRange', 'Unimplemented', 'Internal', 'Unavailable', 'DataLoss',
  'Unauthenticated',
];

/** A node id as a label value: as sent up to MAX_NODE_LABEL characters, else cut, with a hash of the whole. */
function nodeLabel(node: string): string {
  if (node.length <= MAX_NODE_LABEL) return node;
  return `${node.slice(0, MAX_NODE_LABEL - 17)}…${createHash('sha256').update(node).digest('hex').slice(0, 16)}`;
}

export class Metrics {
  readonly registry = new client.Registry();

  /** connected xDS clients, by the ISTIO_VERSION they report: use proxyConnected/proxyLeft */
  readonly xdsClients = new client.Gauge({
    name: 'pilot_xds', help: 'Number of endpoints connected to this pilot using XDS.',
    labelNames: ['version'] as const, registers: [this.registry],
  });
  readonly pushes = new client.Counter({
    name: 'pilot_xds_pushes', help: 'Pilot build and send errors for lds, rds, cds and eds.',
    labelNames: ['type'] as const, registers: [this.registry],
  });
  readonly convergence = new client.Histogram({
    name: 'pilot_proxy_convergence_time',
    help: 'Delay in seconds between config change and a proxy receiving all required configuration.',
    buckets: [0.1, 0.5, 1, 3, 5, 10, 20, 30], registers: [this.registry],
  });
  readonly totalRejects = new client.Counter({
    name: 'pilot_total_xds_rejects', help: 'Total number of XDS responses from pilot rejected by proxy.',
    labelNames: ['type'] as const, registers: [this.registry],
  });
  /** NACKs by proxy and gRPC code, as istiod labels them (node, err): use recordReject (istiod has none for SDS) */
  readonly rejects: Partial<Record<XdsShortType, client.Gauge<'node' | 'err'>>> = {
    cds: this.rejectGauge('pilot_xds_cds_reject', 'Pilot rejected CDS.'),
    eds: this.rejectGauge('pilot_xds_eds_reject', 'Pilot rejected EDS.'),
    lds: this.rejectGauge('pilot_xds_lds_reject', 'Pilot rejected LDS.'),
    rds: this.rejectGauge('pilot_xds_rds_reject', 'Pilot rejected RDS.'),
  };
  /** connected streams per version label, so a version's series goes when its last proxy does */
  private readonly versionStreams = new Map<string, number>();
  /** connected streams per node label, and the reject series recorded for it */
  private readonly nodeStreams = new Map<string, { streams: number; rejects: Set<string> }>();
  readonly services = new client.Gauge({
    name: 'pilot_services', help: 'Total services known to pilot.', registers: [this.registry],
  });
  readonly virtualServices = new client.Gauge({
    name: 'pilot_virt_services', help: 'Total virtual services known to pilot.', registers: [this.registry],
  });
  readonly inboundUpdates = new client.Counter({
    name: 'pilot_inbound_updates', help: 'Total number of updates received by pilot.',
    labelNames: ['type'] as const, registers: [this.registry],
  });
  readonly pushTriggers = new client.Counter({
    name: 'pilot_push_triggers', help: 'Total number of times a push was triggered, labeled by reason for the push.',
    labelNames: ['type'] as const, registers: [this.registry],
  });
  // what the control-plane dashboard (Istio's pilot-dashboard) reads besides the above
  /** per xDS type (cds, eds, lds, rds…): generating and writing one response, as istiod's pushXds times it */
  readonly pushTime = new client.Histogram({
    name: 'pilot_xds_push_time', help: 'Total time in seconds Pilot takes to push lds, rds, cds and eds.',
    labelNames: ['type'] as const, buckets: [0.01, 0.1, 0.5, 1, 3, 5, 10, 20, 30], registers: [this.registry],
  });
  /** per type URL (istiod labels it with the full type URL): bytes of one response's resources */
  readonly configSizeBytes = new client.Histogram({
    name: 'pilot_xds_config_size_bytes', help: 'Distribution of configuration sizes pushed to clients',
    labelNames: ['type'] as const, buckets: [1, 10000, 1000000, 4000000, 10000000, 40000000], registers: [this.registry],
  });
  readonly totalInternalErrors = new client.Counter({
    name: 'pilot_total_xds_internal_errors', help: 'Total number of internal XDS errors in pilot.', registers: [this.registry],
  });
  /** Kubernetes registry kinds (Services, EndpointSlice, Pods, Namespaces) by informer event */
  readonly k8sRegistryEvents = new client.Counter({
    name: 'pilot_k8s_reg_events', help: 'Events from k8s registry.',
    labelNames: ['type', 'event'] as const, registers: [this.registry],
  });
  /** Istio config kinds by informer event */
  readonly k8sConfigEvents = new client.Counter({
    name: 'pilot_k8s_cfg_events', help: 'Events from k8s config.',
    labelNames: ['type', 'event'] as const, registers: [this.registry],
  });
  /** 1 for the running version (istiod: pkg/version RecordComponentBuildTag) */
  readonly build = new client.Gauge({
    name: 'istio_build', help: 'Istio component build info',
    labelNames: ['component', 'tag'] as const, registers: [this.registry],
  });
  readonly configRejections = new client.Counter({
    name: 'meshd_config_rejections_total',
    help: 'Configuration documents refused by validation, by kind and source.',
    labelNames: ['kind', 'source'] as const, registers: [this.registry],
  });
  readonly configNotServed = new client.Counter({
    name: 'meshd_config_not_served_total',
    help: 'Accepted objects of an Istio kind meshd validates but does not serve (no effect on xDS), once per object, by kind and source.',
    labelNames: ['kind', 'source'] as const, registers: [this.registry],
  });
  readonly configWarnings = new client.Counter({
    name: 'meshd_config_warnings_total',
    help: 'Accepted configuration that generators could not apply as written (e.g. a CUSTOM policy whose provider is missing), once per distinct warning and snapshot.',
    registers: [this.registry],
  });
  readonly xdsSendTime = new client.Histogram({
    name: 'pilot_xds_send_time', help: 'Total time in seconds Pilot takes to send generated configuration.',
    buckets: [0.01, 0.1, 1, 3, 5, 10, 20, 30], registers: [this.registry],
  });
  readonly writeTimeouts = new client.Counter({
    name: 'pilot_xds_write_timeout', help: 'Pilot XDS response write timeouts.', registers: [this.registry],
  });
  readonly subscriptionRefusals = new client.Counter({
    name: 'meshd_xds_subscription_limit_refusals_total',
    help: 'xDS streams refused (RESOURCE_EXHAUSTED) for subscribing to more resource names than the limits allow.',
    registers: [this.registry],
  });
  /** set by the xDS server: its push scheduler's figures */
  xdsPushStats: (() => { waiting: number; writing: number; slow: number; bytesInFlight: number }) | undefined;
  readonly xdsPushWaiting = new client.Gauge({
    name: 'meshd_xds_push_waiting', help: 'xDS streams waiting for their turn to be sent a response.', registers: [this.registry],
    collect: () => {
      if (this.xdsPushStats) this.xdsPushWaiting.set(this.xdsPushStats().waiting);
    },
  });
  readonly xdsWritesInProgress = new client.Gauge({
    name: 'meshd_xds_writes_in_progress',
    help: 'xDS responses being written (state=active counts against the push throttle; slow ones have waited longer than the slow threshold).',
    labelNames: ['state'] as const, registers: [this.registry],
    collect: () => {
      if (!this.xdsPushStats) return;
      const s = this.xdsPushStats();
      this.xdsWritesInProgress.set({ state: 'active' }, s.writing - s.slow);
      this.xdsWritesInProgress.set({ state: 'slow' }, s.slow);
    },
  });
  readonly xdsBytesInFlight = new client.Gauge({
    name: 'meshd_xds_bytes_in_flight', help: 'Bytes of xDS responses written but not yet taken by their streams.', registers: [this.registry],
    collect: () => {
      if (this.xdsPushStats) this.xdsBytesInFlight.set(this.xdsPushStats().bytesInFlight);
    },
  });
  readonly pushContextBuild = new client.Histogram({
    name: 'pilot_pushcontext_init_seconds', help: 'Total time in seconds Pilot takes to init pushContext.',
    buckets: [0.01, 0.1, 0.5, 1, 3, 5], registers: [this.registry],
  });
  readonly cacheReads = new client.Counter({
    name: 'pilot_xds_cache_reads', help: 'Total number of xds cache xdsCacheReads.',
    labelNames: ['type'] as const, registers: [this.registry],
  });
  // Kubernetes source (src/sources/kube)
  readonly kubeInformerSynced = new client.Gauge({
    name: 'meshd_kube_informer_synced',
    help: '1 while the informer for a kind is consistent with the API server (listed and watching), 0 otherwise.',
    labelNames: ['kind'] as const, registers: [this.registry],
  });
  readonly kubeInformerRestarts = new client.Counter({
    name: 'meshd_kube_informer_restarts_total',
    help: 'Informer restarts after a list/watch error (each waits a jittered backoff).',
    labelNames: ['kind'] as const, registers: [this.registry],
  });
  readonly kubeLeader = new client.Gauge({
    name: 'meshd_kube_leader', help: '1 while this replica holds the leader Lease.',
    labelNames: ['lease'] as const, registers: [this.registry],
  });
  readonly kubeStatusWrites = new client.Counter({
    name: 'meshd_kube_status_writes_total', help: 'Status subresource writes for refused Istio objects, by result (ok, stale, error).',
    labelNames: ['result'] as const, registers: [this.registry],
  });

  // istiod's JWKS resolver (pilot/pkg/model/jwks_resolver.go): RequestAuthentication keys meshd fetches.
  readonly jwksFetchSuccess = new client.Counter({
    name: 'pilot_jwks_resolver_network_fetch_success_total', help: 'Total number of successfully network fetch by pilot jwks resolver',
    registers: [this.registry],
  });
  readonly jwksFetchFailure = new client.Counter({
    name: 'pilot_jwks_resolver_network_fetch_fail_total', help: 'Total number of failed network fetch by pilot jwks resolver',
    registers: [this.registry],
  });

  // istiod's SDS for gateway certificates (pilot/pkg/xds/monitoring.go)
  readonly sdsCertificateErrors = new client.Counter({
    name: 'pilot_sds_certificate_errors_total', help: 'Total number of failures to fetch SDS key and certificate.',
    registers: [this.registry],
  });
  /** meshd's credential Secret watch: Secrets held, and Secrets refused for the store's bounds */
  readonly credentialSecrets = new client.Gauge({
    name: 'meshd_credential_secrets', help: 'Kubernetes Secrets held for gateway credentialName lookups.', registers: [this.registry],
  });
  readonly credentialSecretsRefused = new client.Counter({
    name: 'meshd_credential_secrets_refused_total', help: 'Secrets not held because they exceed the credential store bounds, by reason.',
    labelNames: ['reason'] as const, registers: [this.registry],
  });

  // Citadel (security/pkg/server/ca/monitoring.go): the CSR service on 15012.
  readonly csrCount = new client.Counter({
    name: 'citadel_server_csr_count', help: 'The number of CSRs received by Citadel server.', registers: [this.registry],
  });
  readonly authnFailures = new client.Counter({
    name: 'citadel_server_authentication_failure_count', help: 'The number of authentication failures.', registers: [this.registry],
  });
  readonly csrSignErrors = new client.Counter({
    name: 'citadel_server_csr_sign_err_count', help: 'The number of errors occurred when signing the CSR.',
    labelNames: ['error'] as const, registers: [this.registry],
  });
  readonly certIssuances = new client.Counter({
    name: 'citadel_server_success_cert_issuance_count', help: 'The number of certificates issuances that have succeeded.',
    registers: [this.registry],
  });
  /** set by the CA when it loads or rotates its root */
  rootCertNotAfter: Date | undefined;
  readonly rootCertExpirySeconds = new client.Gauge({
    name: 'citadel_server_root_cert_expiry_seconds', help: 'The time remaining, in seconds, before the root cert will expire',
    registers: [this.registry],
    collect: () => {
      if (this.rootCertNotAfter) this.rootCertExpirySeconds.set((this.rootCertNotAfter.getTime() - Date.now()) / 1000);
    },
  });
  readonly rootCertExpiryTimestamp = new client.Gauge({
    name: 'citadel_server_root_cert_expiry_timestamp', help: 'The unix timestamp, in seconds, when Citadel root cert will expire.',
    registers: [this.registry],
    collect: () => {
      if (this.rootCertNotAfter) this.rootCertExpiryTimestamp.set(this.rootCertNotAfter.getTime() / 1000);
    },
  });

  // meshd's root rotation (src/ca/rotation.ts; istiod has no such controller, hence meshd_ names)
  readonly caRotationPhase = new client.Gauge({
    name: 'meshd_ca_rotation_phase', help: 'Root rotation phase: 0 idle, 1 publishing old+new roots, 2 signing with the new CA.',
    registers: [this.registry],
  });
  readonly caRotationPending = new client.Gauge({
    name: 'meshd_ca_rotation_pending_proxies', help: 'Connected proxies the current root rotation phase waits for.',
    registers: [this.registry],
  });

  constructor() {
    client.collectDefaultMetrics({ register: this.registry });
    this.build.set({ component: 'pilot', tag: meshdVersion() }, 1);
  }

  /**
   * A proxy's stream opened. Label values are what the client sent, so they are bounded here: a version
   * that does not look like one is `unknown`, and past MAX_VERSION_LABELS distinct versions `other`.
   */
  proxyConnected(node: string, istioVersion: string | undefined): void {
    const version = this.versionLabel(istioVersion);
    this.versionStreams.set(version, (this.versionStreams.get(version) ?? 0) + 1);
    this.xdsClients.inc({ version });
    const label = nodeLabel(node);
    const entry = this.nodeStreams.get(label) ?? { streams: 0, rejects: new Set<string>() };
    entry.streams++;
    this.nodeStreams.set(label, entry);
  }

  /** A proxy's stream closed: when it was the last of its version or node, their series go too. */
  proxyLeft(node: string, istioVersion: string | undefined): void {
    const version = this.versionLabel(istioVersion);
    const left = (this.versionStreams.get(version) ?? 1) - 1;
    if (left > 0) {
      this.versionStreams.set(version, left);
      this.xdsClients.dec({ version });
    } else {
      this.versionStreams.delete(version);
      this.xdsClients.remove({ version });
    }
    const label = nodeLabel(node);
    const entry = this.nodeStreams.get(label);
    if (!entry || --entry.streams > 0) return;
    this.nodeStreams.delete(label);
    for (const series of entry.rejects) {
      const [type, err] = series.split(' ') as [XdsShortType, string];
      this.rejects[type]?.remove({ node: label, err });
    }
  }

  /** A NACK: pilot_total_xds_rejects{type} and pilot_xds_TYPE_reject{node, err = the gRPC code's name}. */
  recordReject(type: XdsShortType, node: string, grpcCode: number | undefined): void {
    this.totalRejects.inc({ type });
    const label = nodeLabel(node);
    const entry = this.nodeStreams.get(label);
    if (!entry) return; // not a connected proxy: nothing to attach a series to, nothing to remove it later
    const err = GRPC_CODE_NAMES[grpcCode ?? 2] ?? 'Unknown';
    const gauge = this.rejects[type];
    if (!gauge) return;
    entry.rejects.add(`${type} ${err}`);
    gauge.inc({ node: label, err });
  }

  private versionLabel(istioVersion: string | undefined): string {
    if (!istioVersion || !VERSION_LABEL.test(istioVersion)) return 'unknown';
    if (this.versionStreams.has(istioVersion) || this.versionStreams.size < MAX_VERSION_LABELS) return istioVersion;
    return 'other';
  }

  private rejectGauge(name: string, help: string): client.Gauge<'node' | 'err'> {
    return new client.Gauge({ name, help, labelNames: ['node', 'err'] as const, registers: [this.registry] });
  }
}
