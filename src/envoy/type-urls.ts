// Type URLs and well-known names of the Envoy extensions meshd puts inside `Any`s and filter lists.
// One place to spell them (DESIGN rule 4); every type listed here is loaded by src/envoy/protos.ts.

const PREFIX = 'type.googleapis.com/';

export const ANY_TYPE = {
  HTTP_CONNECTION_MANAGER: `${PREFIX}envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`,
  ROUTER: `${PREFIX}envoy.extensions.filters.http.router.v3.Router`,
  HTTP_FAULT: `${PREFIX}envoy.extensions.filters.http.fault.v3.HTTPFault`,
  HTTP_RBAC: `${PREFIX}envoy.extensions.filters.http.rbac.v3.RBAC`,
  HTTP_EXT_AUTHZ: `${PREFIX}envoy.extensions.filters.http.ext_authz.v3.ExtAuthz`,
  JWT_AUTHN: `${PREFIX}envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication`,
  NETWORK_EXT_AUTHZ: `${PREFIX}envoy.extensions.filters.network.ext_authz.v3.ExtAuthz`,
  UPSTREAM_TLS_CONTEXT: `${PREFIX}envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext`,
  DOWNSTREAM_TLS_CONTEXT: `${PREFIX}envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext`,
  TCP_PROXY: `${PREFIX}envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy`,
  HTTP_CORS: `${PREFIX}envoy.extensions.filters.http.cors.v3.Cors`,
  CORS_POLICY: `${PREFIX}envoy.extensions.filters.http.cors.v3.CorsPolicy`,
  GRPC_STATS: `${PREFIX}envoy.extensions.filters.http.grpc_stats.v3.FilterConfig`,
  GRPC_WEB: `${PREFIX}envoy.extensions.filters.http.grpc_web.v3.GrpcWeb`,
  ORIGINAL_DST: `${PREFIX}envoy.extensions.filters.listener.original_dst.v3.OriginalDst`,
  TLS_INSPECTOR: `${PREFIX}envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector`,
  HTTP_INSPECTOR: `${PREFIX}envoy.extensions.filters.listener.http_inspector.v3.HttpInspector`,
  UUID_REQUEST_ID: `${PREFIX}envoy.extensions.request_id.uuid.v3.UuidRequestIdConfig`,
  PREVIOUS_HOSTS: `${PREFIX}envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate`,
  PREVIOUS_PRIORITIES: `${PREFIX}envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig`,
  TYPED_STRUCT: `${PREFIX}xds.type.v3.TypedStruct`,
  RAW_BUFFER: `${PREFIX}envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer`,
  HTTP_PROTOCOL_OPTIONS: `${PREFIX}envoy.extensions.upstreams.http.v3.HttpProtocolOptions`,
  // observability (telemetry-config.ts)
  FILE_ACCESS_LOG: `${PREFIX}envoy.extensions.access_loggers.file.v3.FileAccessLog`,
  HTTP_GRPC_ACCESS_LOG: `${PREFIX}envoy.extensions.access_loggers.grpc.v3.HttpGrpcAccessLogConfig`,
  TCP_GRPC_ACCESS_LOG: `${PREFIX}envoy.extensions.access_loggers.grpc.v3.TcpGrpcAccessLogConfig`,
  OTEL_ACCESS_LOG: `${PREFIX}envoy.extensions.access_loggers.open_telemetry.v3.OpenTelemetryAccessLogConfig`,
  CEL_ACCESS_LOG_FILTER: `${PREFIX}envoy.extensions.access_loggers.filters.cel.v3.ExpressionFilter`,
  REQ_WITHOUT_QUERY: `${PREFIX}envoy.extensions.formatter.req_without_query.v3.ReqWithoutQuery`,
  ZIPKIN: `${PREFIX}envoy.config.trace.v3.ZipkinConfig`,
  DATADOG: `${PREFIX}envoy.config.trace.v3.DatadogConfig`,
  OPENTELEMETRY: `${PREFIX}envoy.config.trace.v3.OpenTelemetryConfig`,
  SKYWALKING: `${PREFIX}envoy.config.trace.v3.SkyWalkingConfig`,
  OTEL_ENVIRONMENT_RESOURCE_DETECTOR: `${PREFIX}envoy.extensions.tracers.opentelemetry.resource_detectors.v3.EnvironmentResourceDetectorConfig`,
  OTEL_DYNATRACE_RESOURCE_DETECTOR: `${PREFIX}envoy.extensions.tracers.opentelemetry.resource_detectors.v3.DynatraceResourceDetectorConfig`,
  OTEL_DYNATRACE_SAMPLER: `${PREFIX}envoy.extensions.tracers.opentelemetry.samplers.v3.DynatraceSamplerConfig`,
} as const;

/** Filter names as Envoy and gRPC know them (typed_per_filter_config keys must equal the HCM filter's name). */
export const FILTER_NAME = {
  ROUTER: 'envoy.filters.http.router',
  FAULT: 'envoy.filters.http.fault',
  RBAC: 'envoy.filters.http.rbac',
  CORS: 'envoy.filters.http.cors',
  GRPC_STATS: 'envoy.filters.http.grpc_stats',
  GRPC_WEB: 'envoy.filters.http.grpc_web',
  HTTP_CONNECTION_MANAGER: 'envoy.filters.network.http_connection_manager',
  TCP_PROXY: 'envoy.filters.network.tcp_proxy',
  ORIGINAL_DST: 'envoy.filters.listener.original_dst',
  TLS_INSPECTOR: 'envoy.filters.listener.tls_inspector',
  HTTP_INSPECTOR: 'envoy.filters.listener.http_inspector',
  /** istio-proxy's stats extension (istio_requests_total & co.), HTTP and network filter alike */
  ISTIO_STATS: 'istio.stats',
} as const;

/** gRPC matches transport sockets by this exact name (grpc xds securityConfigFromCluster). */
export const TLS_TRANSPORT_SOCKET_NAME = 'envoy.transport_sockets.tls';

/** `{'@type': url, ...fields}`: the proto-JSON form of a nested Any that protobufjs encodes. */
export function anyOf(typeUrl: string, fields: object = {}): Record<string, unknown> {
  return { '@type': typeUrl, ...fields };
}

/** `{ads: {}, resource_api_version: 'V3'}`: fetch over the ADS stream the proxy already has. */
export function adsConfigSource(): Record<string, unknown> {
  return { ads: {}, resource_api_version: 'V3' };
}

export function routerFilter(): Record<string, unknown> {
  return { name: FILTER_NAME.ROUTER, typed_config: anyOf(ANY_TYPE.ROUTER) };
}

/** The fault filter with an empty config: routes turn it on through typed_per_filter_config. */
export function faultFilter(): Record<string, unknown> {
  return { name: FILTER_NAME.FAULT, typed_config: anyOf(ANY_TYPE.HTTP_FAULT) };
}
