import type {
  ConnectionPoolSettings,
  LoadBalancerSettings,
  LocalityLoadBalancerSetting,
  WarmupConfiguration,
} from '../config/schemas/destination-rule.js';
import type { Protocol } from '../model/types.js';
import { toDuration, type Duration } from './duration.js';
import { ANY_TYPE, anyOf } from './type-urls.js';
import type { J } from './json.js';

// DestinationRule traffic policy → the Envoy Cluster fields an Envoy sidecar enforces (istiod
// cluster_traffic_policy.go / cluster_builder.go). Outlier detection is translateOutlierDetection in
// traffic-policy.ts; TLS is upstream-tls.ts. Each function mutates a ClusterDraft, the analogue of istiod's
// clusterWrapper: a Cluster plus the HttpProtocolOptions that end up in typed_extension_protocol_options.

export const UINT32_MAX = 4294967295;
/** istiod meshconfig connectTimeout default */
export const DEFAULT_CONNECT_TIMEOUT: Duration = Object.freeze({ seconds: 10, nanos: 0 });
/** typed_extension_protocol_options key for HttpProtocolOptions */
export const HTTP_PROTOCOL_OPTIONS_KEY = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';
/** RuntimeDouble key for DestinationRule warmup.aggression (Envoy requires one; no runtime layer sets it) */
export const SLOW_START_AGGRESSION_RUNTIME_KEY = 'upstream.istio.slow_start.aggression';

/** HttpProtocolOptions under construction (envoy.extensions.upstreams.http.v3). */
export interface HttpOptionsDraft {
  common?: { idle_timeout?: Duration; max_requests_per_connection?: { value: number }; max_connection_duration?: Duration };
  upstream?: { auto_sni?: boolean; auto_san_validation?: boolean };
  /** which upstream_protocol_options oneof: explicit HTTP/2, use the downstream protocol, or (unset) explicit HTTP/1.1 */
  protocol?: 'h2' | 'downstream';
  maxConcurrentStreams?: number;
}

export interface ClusterDraft {
  readonly cluster: J;
  http?: HttpOptionsDraft;
}

function httpOptions(d: ClusterDraft): HttpOptionsDraft {
  return (d.http ??= {});
}

export function isHttp2Protocol(p: Protocol | undefined): boolean {
  return p === 'HTTP2' || p === 'GRPC' || p === 'GRPC-Web';
}

export function isHttp2Cluster(d: ClusterDraft): boolean {
  return d.http?.protocol === 'h2';
}

/**
 * istiod setUpstreamProtocol: HTTP/2 ports (http2, grpc, grpc-web) talk HTTP/2 upstream; ports whose
 * protocol is not declared (sniffed on the sidecar) use the downstream protocol.
 */
export function applyUpstreamProtocol(d: ClusterDraft, protocol: Protocol | undefined): void {
  if (isHttp2Protocol(protocol)) httpOptions(d).protocol = 'h2';
  else if (protocol === 'UNSUPPORTED') httpOptions(d).protocol = 'downstream';
}

/** istiod getDefaultCircuitBreakerThresholds: effectively unlimited (Envoy's own defaults are 1024/3). */
export function defaultThresholds(): J {
  return {
    max_connections: { value: UINT32_MAX },
    max_pending_requests: { value: UINT32_MAX },
    max_requests: { value: UINT32_MAX },
    max_retries: { value: UINT32_MAX },
    track_remaining: true,
  };
}

/**
 * istiod applyConnectionPool (inbound and outbound): connect_timeout (mesh default 10s, tcp.connectTimeout),
 * circuit_breakers from the defaults overridden by every positive limit, TCP keepalive, and
 * HttpProtocolOptions (idle timeout — http's, else tcp's —, max requests per connection, max connection
 * duration, max concurrent streams on HTTP/2 clusters, useClientProtocol).
 */
export function applyConnectionPool(d: ClusterDraft, cp: ConnectionPoolSettings | undefined): void {
  const settings = cp ?? {};
  const threshold = defaultThresholds();
  const http = settings.http;
  const tcp = settings.tcp;
  if (http) {
    if ((http.http2MaxRequests ?? 0) > 0) threshold.max_requests = { value: http.http2MaxRequests };
    if ((http.http1MaxPendingRequests ?? 0) > 0) threshold.max_pending_requests = { value: http.http1MaxPendingRequests };
    if ((http.maxRetries ?? 0) > 0) threshold.max_retries = { value: http.maxRetries };
  }
  d.cluster.connect_timeout = toDuration(tcp?.connectTimeout) ?? { ...DEFAULT_CONNECT_TIMEOUT };
  if (tcp && (tcp.maxConnections ?? 0) > 0) threshold.max_connections = { value: tcp.maxConnections };
  applyTcpKeepalive(d, tcp?.tcpKeepalive);
  d.cluster.circuit_breakers = { thresholds: [orderThreshold(threshold)] };

  const idleTimeout = toDuration(http?.idleTimeout) ?? toDuration(tcp?.idleTimeout);
  const maxRequestsPerConnection = http?.maxRequestsPerConnection ?? 0;
  const maxConcurrentStreams = http?.maxConcurrentStreams ?? 0;
  const maxConnectionDuration = toDuration(tcp?.maxConnectionDuration);
  if (idleTimeout || maxRequestsPerConnection > 0 || maxConcurrentStreams > 0 || maxConnectionDuration) {
    const o = httpOptions(d);
    o.common ??= {};
    if (idleTimeout) o.common.idle_timeout = idleTimeout;
    if (maxRequestsPerConnection > 0) o.common.max_requests_per_connection = { value: maxRequestsPerConnection };
    if (maxConnectionDuration) o.common.max_connection_duration = maxConnectionDuration;
    if (o.protocol === 'h2' && maxConcurrentStreams > 0) o.maxConcurrentStreams = maxConcurrentStreams;
  }
  if (http?.useClientProtocol) httpOptions(d).protocol = 'downstream';
}

/** Thresholds fields in proto field order, so bodies read like Envoy's config dump. */
function orderThreshold(t: J): J {
  const out: J = {};
  for (const k of ['max_connections', 'max_pending_requests', 'max_requests', 'max_retries', 'track_remaining']) if (k in t) out[k] = t[k];
  return out;
}

/**
 * istiod applyTCPKeepalive: any tcpKeepalive turns SO_KEEPALIVE on (an empty tcp_keepalive keeps the OS
 * defaults); probes, time and interval override them (time/interval in whole seconds).
 */
export function applyTcpKeepalive(d: ClusterDraft, ka: { probes?: number; time?: string; interval?: string } | undefined): void {
  if (!ka) return;
  const out: J = {};
  if ((ka.probes ?? 0) > 0) out.keepalive_probes = { value: ka.probes };
  const time = toDuration(ka.time);
  if (time) out.keepalive_time = { value: time.seconds };
  const interval = toDuration(ka.interval);
  if (interval) out.keepalive_interval = { value: interval.seconds };
  d.cluster.upstream_connection_options = { tcp_keepalive: out };
}

/**
 * istiod shouldH2Upgrade/applyH2Upgrade (outbound only): h2UpgradePolicy UPGRADE makes the cluster
 * HTTP/2 whatever the port protocol; the mesh default (DO_NOT_UPGRADE) upgrades nothing.
 */
export function applyH2Upgrade(d: ClusterDraft, cp: ConnectionPoolSettings | undefined): void {
  if (cp?.http?.h2UpgradePolicy === 'UPGRADE') {
    const o = httpOptions(d);
    o.protocol = 'h2';
  }
}

/** The mesh-wide locality LB setting istiod ships (meshconfig localityLbSetting: {enabled: true}). */
const MESH_LOCALITY_LB: LocalityLoadBalancerSetting = Object.freeze({ enabled: true });

/**
 * istiod loadbalancer.GetLocalityLbSetting: the DestinationRule's setting unless it is disabled
 * (`enabled: false` → none), else the mesh default (enabled, no distribute/failover).
 */
export function effectiveLocalityLbSetting(lb: LoadBalancerSettings | undefined): LocalityLoadBalancerSetting | undefined {
  const dr = lb?.localityLbSetting;
  if (dr) return dr.enabled === false ? undefined : dr;
  return MESH_LOCALITY_LB;
}

function slowStartConfig(legacySeconds: string | undefined, warmup: WarmupConfiguration | undefined): J | undefined {
  if (warmup) {
    const window = toDuration(warmup.duration);
    const out: J = {};
    if (window) out.slow_start_window = window;
    out.aggression = { default_value: warmup.aggression ?? 1, runtime_key: SLOW_START_AGGRESSION_RUNTIME_KEY };
    if (warmup.minimumPercent !== undefined && warmup.minimumPercent !== null) out.min_weight_percent = { value: warmup.minimumPercent };
    return out;
  }
  const window = toDuration(legacySeconds);
  return window ? { slow_start_window: window } : undefined;
}

/**
 * istiod applyLoadBalancer (outbound): locality-weighted config when locality LB can act (distribute, or
 * failover/failoverPriority with outlier detection on), then the policy — LEAST_REQUEST by default and for
 * LEAST_CONN/LEAST_REQUEST, ROUND_ROBIN, RANDOM, PASSTHROUGH (ORIGINAL_DST, CLUSTER_PROVIDED), with
 * warmup → slow_start_config on LEAST_REQUEST/ROUND_ROBIN; consistentHash → RING_HASH (minimum ring size,
 * 1024 for the deprecated form) or MAGLEV (table size). Call after outlier_detection is set.
 */
export function applyLoadBalancer(d: ClusterDraft, lb: LoadBalancerSettings | undefined): void {
  const c = d.cluster;
  const locality = effectiveLocalityLbSetting(lb);
  const enableFailover = c.outlier_detection !== undefined;
  if (
    (locality?.distribute?.length ?? 0) > 0 ||
    (enableFailover && ((locality?.failover?.length ?? 0) > 0 || (locality?.failoverPriority?.length ?? 0) > 0))
  ) {
    const common = (c.common_lb_config ??= {}) as J;
    common.locality_weighted_lb_config = {};
  }
  if (c.type === 'ORIGINAL_DST') {
    c.lb_policy = 'CLUSTER_PROVIDED';
    return;
  }
  const slowStart = slowStartConfig(lb?.warmupDurationSecs, lb?.warmup);
  const leastRequest = () => {
    c.lb_policy = 'LEAST_REQUEST';
    if (slowStart) c.least_request_lb_config = { slow_start_config: slowStart };
  };
  switch (lb?.simple) {
    case 'LEAST_CONN':
    case 'LEAST_REQUEST':
      leastRequest();
      break;
    case 'RANDOM':
      c.lb_policy = 'RANDOM';
      break;
    case 'ROUND_ROBIN':
      // ROUND_ROBIN is lb_policy's zero value: proto-JSON leaves it out
      delete c.lb_policy;
      if (slowStart) c.round_robin_lb_config = { slow_start_config: slowStart };
      break;
    case 'PASSTHROUGH':
      c.type = 'ORIGINAL_DST';
      c.lb_policy = 'CLUSTER_PROVIDED';
      delete c.load_assignment;
      delete c.eds_cluster_config;
      break;
    default:
      leastRequest();
  }
  applyConsistentHash(c, lb?.consistentHash);
}

function applyConsistentHash(c: J, ch: LoadBalancerSettings['consistentHash']): void {
  if (!ch) return;
  delete c.least_request_lb_config;
  delete c.round_robin_lb_config;
  if (ch.maglev) {
    c.lb_policy = 'MAGLEV';
    if (ch.maglev.tableSize) c.maglev_lb_config = { table_size: { value: ch.maglev.tableSize } };
  } else if (ch.ringHash) {
    c.lb_policy = 'RING_HASH';
    if (ch.ringHash.minimumRingSize) c.ring_hash_lb_config = { minimum_ring_size: { value: ch.ringHash.minimumRingSize } };
  } else {
    c.lb_policy = 'RING_HASH';
    c.ring_hash_lb_config = { minimum_ring_size: { value: ch.minimumRingSize || 1024 } };
  }
}

/**
 * istiod applyOutlierDetection's companion: with outlier detection the panic threshold is
 * minHealthPercent (0 unless set — Envoy's default 50 % is rarely right for a handful of pods).
 */
export function applyHealthyPanicThreshold(d: ClusterDraft, minHealthPercent: number | undefined): void {
  const pct = minHealthPercent ?? 0;
  if (pct < 0) return;
  const common = (d.cluster.common_lb_config ??= {}) as J;
  common.healthy_panic_threshold = { value: pct };
}

/**
 * istiod clusterWrapper.build: HttpProtocolOptions → typed_extension_protocol_options (explicit HTTP/1.1
 * when nothing chose a protocol, since Envoy requires one).
 */
export function finishHttpOptions(d: ClusterDraft): void {
  const o = d.http;
  if (!o) return;
  const body: J = {};
  if (o.common) body.common_http_protocol_options = { ...o.common };
  if (o.upstream) body.upstream_http_protocol_options = { ...o.upstream };
  if (o.protocol === 'h2') {
    body.explicit_http_config = { http2_protocol_options: o.maxConcurrentStreams ? { max_concurrent_streams: { value: o.maxConcurrentStreams } } : {} };
  } else if (o.protocol === 'downstream') {
    body.use_downstream_protocol_config = { http_protocol_options: {}, http2_protocol_options: {} };
  } else {
    body.explicit_http_config = { http_protocol_options: {} };
  }
  d.cluster.typed_extension_protocol_options = { [HTTP_PROTOCOL_OPTIONS_KEY]: anyOf(ANY_TYPE.HTTP_PROTOCOL_OPTIONS, body) };
}

/** istiod's passthrough clusters' protocol options: 5 min idle timeout, the downstream protocol. */
export function passthroughHttpProtocolOptions(): J {
  return {
    [HTTP_PROTOCOL_OPTIONS_KEY]: anyOf(ANY_TYPE.HTTP_PROTOCOL_OPTIONS, {
      common_http_protocol_options: { idle_timeout: { seconds: 300, nanos: 0 } },
      use_downstream_protocol_config: { http_protocol_options: {}, http2_protocol_options: {} },
    }),
  };
}

/** istiod maxSecondsValue: "never" for ORIGINAL_DST cleanup of inbound clusters. */
export const MAX_CLEANUP_INTERVAL: Duration = Object.freeze({ seconds: 9223372035, nanos: 0 });
