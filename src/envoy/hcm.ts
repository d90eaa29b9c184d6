import { jsonToStruct } from './protos.js';
import { ZERO_DURATION } from './duration.js';
import { adsConfigSource, ANY_TYPE, anyOf, FILTER_NAME, routerFilter } from './type-urls.js';
import type { J } from './json.js';

// The Envoy sidecar's network/HTTP filter building blocks, as istiod writes them
// (pilot/pkg/networking/core/httproute.go, listener*.go, xds/filters): the HttpConnectionManager, its HTTP
// filter chain, tcp_proxy, istio.stats and the listener filters.

/** `stats.PluginConfig`: istio-proxy's stats extension config. No Envoy proto knows it, hence TypedStruct. */
export const ISTIO_STATS_CONFIG_TYPE = 'type.googleapis.com/stats.PluginConfig';

/** Which side of the sidecar a filter serves: istio.stats reports as `source` outbound, `destination` inbound. */
export type ListenerClass = 'outbound' | 'inbound';

/**
 * istio.stats (istio_requests_total, istio_request_duration_milliseconds, istio_tcp_* for Prometheus) as
 * istiod configures it: an `xds.type.v3.TypedStruct` naming `stats.PluginConfig`; inbound disables the
 * Host-header fallback for the destination service (istiod disableHostHeaderFallback). `config` is the
 * PluginConfig the Telemetry API's metrics overrides produce (envoy/telemetry-config.ts statsPluginConfig).
 */
export function istioStatsFilter(cls: ListenerClass, config?: J): J {
  const value = config ?? (cls === 'inbound' ? { disable_host_header_fallback: true } : {});
  return {
    name: FILTER_NAME.ISTIO_STATS,
    typed_config: anyOf(ANY_TYPE.TYPED_STRUCT, { type_url: ISTIO_STATS_CONFIG_TYPE, value: jsonToStruct(value) }),
  };
}

export function corsFilter(): J {
  return { name: FILTER_NAME.CORS, typed_config: anyOf(ANY_TYPE.HTTP_CORS) };
}

export function grpcStatsFilter(): J {
  // istiod xdsfilters.GrpcStats: per-method stats only for known methods, emitted as filter state
  return { name: FILTER_NAME.GRPC_STATS, typed_config: anyOf(ANY_TYPE.GRPC_STATS, { emit_filter_state: true, stats_for_all_methods: { value: false } }) };
}

export function grpcWebFilter(): J {
  return { name: FILTER_NAME.GRPC_WEB, typed_config: anyOf(ANY_TYPE.GRPC_WEB) };
}

export interface HttpFilterOptions {
  readonly cls: ListenerClass;
  /** gRPC ports get the grpc_stats filter */
  readonly grpc: boolean;
  /** gRPC-Web ports also translate gRPC-Web to gRPC (grpc_web) */
  readonly grpcWeb?: boolean;
  /** security filters (RBAC …) that istiod places first, so policies act before anything else */
  readonly securityFilters?: readonly J[];
  /** the istio.stats filters the Telemetry API/mesh config select (none when metrics are off); default: one */
  readonly statsFilters?: readonly J[];
}

/**
 * The HTTP filter chain of a sidecar HCM in istiod's order: security (authn/RBAC), grpc_web (gRPC-Web
 * ports), grpc_stats (gRPC ports),
 * fault, cors, istio.stats, router (last, as Envoy requires). istio.metadata_exchange and istio.alpn are
 * istio-proxy-only extensions with no Envoy proto: not written (see README).
 */
export function sidecarHttpFilters(opts: HttpFilterOptions): J[] {
  const out: J[] = [...(opts.securityFilters ?? [])];
  if (opts.grpcWeb) out.push(grpcWebFilter());
  if (opts.grpc) out.push(grpcStatsFilter());
  out.push({ name: FILTER_NAME.FAULT, typed_config: anyOf(ANY_TYPE.HTTP_FAULT) }, corsFilter(), ...(opts.statsFilters ?? [istioStatsFilter(opts.cls)]), routerFilter());
  return out;
}

export interface HcmOptions {
  readonly statPrefix: string;
  readonly cls: ListenerClass;
  readonly httpFilters: readonly J[];
  /** outbound: the RDS route configuration name; inbound: an inline route configuration */
  readonly rdsName?: string;
  readonly routeConfig?: J;
  /** HTTP/2-only ports (http2, grpc): the codec must speak h2 from the first byte */
  readonly http2?: boolean;
  /** access loggers (envoy/telemetry-config.ts), in istiod's order */
  readonly accessLog?: readonly J[];
  /** the HCM tracing block; absent: no tracing (enableTracing false, or disabled by Telemetry) */
  readonly tracing?: J;
  /** the UUID request-id extension; default: trace sampling by request id */
  readonly requestIdExtension?: J;
}

/** envoy.filters.network.http_connection_manager as istiod builds it for sidecars (buildHTTPConnectionManager). */
export function httpConnectionManager(opts: HcmOptions): J {
  const hcm: J = { stat_prefix: opts.statPrefix };
  if (opts.accessLog?.length) hcm.access_log = opts.accessLog;
  if (opts.rdsName !== undefined) {
    // initial_fetch_timeout 0: wait for the routes indefinitely instead of serving 404s after 15 s
    hcm.rds = { config_source: { ...adsConfigSource(), initial_fetch_timeout: ZERO_DURATION }, route_config_name: opts.rdsName };
  }
  if (opts.routeConfig) hcm.route_config = opts.routeConfig;
  hcm.http_filters = opts.httpFilters;
  hcm.use_remote_address = { value: false };
  if (opts.cls === 'inbound') {
    hcm.forward_client_cert_details = 'APPEND_FORWARD';
    hcm.set_current_client_cert_details = { subject: { value: true }, dns: true, uri: true };
  }
  hcm.upgrade_configs = [{ upgrade_type: 'websocket' }];
  hcm.stream_idle_timeout = ZERO_DURATION;
  hcm.normalize_path = { value: true };
  if (opts.tracing) hcm.tracing = opts.tracing;
  hcm.request_id_extension = opts.requestIdExtension ?? { typed_config: anyOf(ANY_TYPE.UUID_REQUEST_ID, { use_request_id_for_trace_sampling: { value: true } }) };
  hcm.path_with_escaped_slashes_action = 'KEEP_UNCHANGED';
  hcm.server_name = 'istio-envoy';
  if (opts.http2) hcm.http2_protocol_options = {};
  return { name: FILTER_NAME.HTTP_CONNECTION_MANAGER, typed_config: anyOf(ANY_TYPE.HTTP_CONNECTION_MANAGER, hcm) };
}

/** tcp_proxy to one cluster (stat_prefix = the cluster, as istiod), or weighted clusters; with its access loggers. */
export function tcpProxyFilter(statPrefix: string, dest: string | readonly { name: string; weight: number }[], accessLog?: readonly J[]): J {
  const body: J = { stat_prefix: statPrefix };
  if (typeof dest === 'string') body.cluster = dest;
  else body.weighted_clusters = { clusters: dest.map((d) => ({ name: d.name, weight: d.weight })) };
  if (accessLog?.length) body.access_log = accessLog;
  return { name: FILTER_NAME.TCP_PROXY, typed_config: anyOf(ANY_TYPE.TCP_PROXY, body) };
}

export function originalDstListenerFilter(): J {
  return { name: FILTER_NAME.ORIGINAL_DST, typed_config: anyOf(ANY_TYPE.ORIGINAL_DST) };
}

export function tlsInspectorListenerFilter(filterDisabled?: J): J {
  return { name: FILTER_NAME.TLS_INSPECTOR, typed_config: anyOf(ANY_TYPE.TLS_INSPECTOR), ...(filterDisabled ? { filter_disabled: filterDisabled } : {}) };
}

export function httpInspectorListenerFilter(filterDisabled?: J): J {
  return { name: FILTER_NAME.HTTP_INSPECTOR, typed_config: anyOf(ANY_TYPE.HTTP_INSPECTOR), ...(filterDisabled ? { filter_disabled: filterDisabled } : {}) };
}

/**
 * A ListenerFilterChainMatchPredicate true on any of `ports` (istiod listenerPredicateExcludePorts: the
 * filter is disabled there). Ports are sorted; one port is a bare range, several an or_match.
 */
export function destinationPortsPredicate(ports: readonly number[]): J {
  const rules = [...ports].sort((a, b) => a - b).map((p) => ({ destination_port_range: { start: p, end: p + 1 } }));
  return rules.length === 1 ? rules[0]! : { or_match: { rules } };
}

/** Negation of destinationPortsPredicate: disabled everywhere but `ports` (listenerPredicateIncludePorts). */
export function exceptPortsPredicate(ports: readonly number[]): J {
  return { not_match: destinationPortsPredicate(ports) };
}
