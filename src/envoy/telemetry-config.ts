import type { ExtensionProvider } from '../config/mesh-config.js';
import type { HttpHeader, HttpService, OpenTelemetryTracingProvider } from '../config/mesh-telemetry.js';
import type { CustomTag } from '../config/schemas/telemetry.js';
import type { ProxyTracingCustomTag } from '../config/mesh-telemetry.js';
import type { MetricsDirection } from '../model/telemetry.js';
import { PROMETHEUS_METRIC_NAME } from '../model/telemetry.js';
import { toDuration } from './duration.js';
import { jsonToStruct } from './protos.js';
import { ANY_TYPE, anyOf } from './type-urls.js';

// Envoy's access loggers, tracers and istio.stats config as istiod writes them
// (pilot/pkg/networking/core/accesslog.go, tracing.go; pilot/pkg/model/telemetry_logging.go,
// telemetry.go generateStatsConfig). Inputs are the model's merged choices and each provider's resolved
// cluster; outputs are proto-JSON fragments the HCM / tcp_proxy / listener builders insert.
//
// Where the Envoy API meshd encodes (the revision @grpc/grpc-js-xds vendors) lacks a field istiod sets for
// newer proxies — Zipkin's collector_service/trace_context_option, HCM tracing no_context_propagation,
// formatter custom tags — meshd writes the older form istiod writes for older proxies and reports what it
// could not express (`problems`), never silently.

type J = Record<string, unknown>;

/** Where a provider's `service`/`port` lead: the outbound cluster and the authority (istiod LookupCluster). */
export interface ProviderTarget {
  readonly hostname: string;
  readonly cluster: string;
}

export const ACCESS_LOG_NAME = {
  FILE: 'envoy.access_loggers.file',
  HTTP_GRPC: 'envoy.access_loggers.http_grpc',
  TCP_GRPC: 'envoy.tcp_grpc_access_log',
  OTEL: 'envoy.access_loggers.open_telemetry',
} as const;

const CEL_FILTER_NAME = 'envoy.access_loggers.extension_filters.cel';
/** The cluster `envoy_accesslog_service` the bootstrap defines for defaultConfig.envoyAccessLogService */
export const ENVOY_ACCESS_LOG_CLUSTER = 'envoy_accesslog_service';

/** Istio's text access-log format (istiod EnvoyTextLogFormat, Istio 1.9 onwards). */
export const ISTIO_TEXT_LOG_FORMAT =
  '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% ' +
  '%RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% "%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% %BYTES_SENT% ' +
  '%DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" ' +
  '"%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER_RAW% %UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% ' +
  '%DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME% %ROUTE_NAME%\n';

/** Istio's JSON access-log format (istiod EnvoyJSONLogFormatIstio); Envoy keeps the keys' order as written. */
export const ISTIO_JSON_LOG_FORMAT: Readonly<Record<string, string>> = Object.freeze({
  authority: '%REQ(:AUTHORITY)%',
  bytes_received: '%BYTES_RECEIVED%',
  bytes_sent: '%BYTES_SENT%',
  connection_termination_details: '%CONNECTION_TERMINATION_DETAILS%',
  downstream_local_address: '%DOWNSTREAM_LOCAL_ADDRESS%',
  downstream_remote_address: '%DOWNSTREAM_REMOTE_ADDRESS%',
  duration: '%DURATION%',
  method: '%REQ(:METHOD)%',
  path: '%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%',
  protocol: '%PROTOCOL%',
  request_id: '%REQ(X-REQUEST-ID)%',
  requested_server_name: '%REQUESTED_SERVER_NAME%',
  response_code: '%RESPONSE_CODE%',
  response_code_details: '%RESPONSE_CODE_DETAILS%',
  response_flags: '%RESPONSE_FLAGS%',
  route_name: '%ROUTE_NAME%',
  start_time: '%START_TIME%',
  upstream_cluster: '%UPSTREAM_CLUSTER_RAW%',
  upstream_host: '%UPSTREAM_HOST%',
  upstream_local_address: '%UPSTREAM_LOCAL_ADDRESS%',
  upstream_service_time: '%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%',
  upstream_transport_failure_reason: '%UPSTREAM_TRANSPORT_FAILURE_REASON%',
  user_agent: '%REQ(USER-AGENT)%',
  x_forwarded_for: '%REQ(X-FORWARDED-FOR)%',
});

/** Filter-state keys the gRPC/OTel access loggers send (istiod envoyStateToLog / envoyWasmStateToLog). */
const PEER_STATE = ['upstream_peer', 'downstream_peer'];
const PEER_STATE_WITH_WASM = [...PEER_STATE, 'wasm.upstream_peer', 'wasm.upstream_peer_id', 'wasm.downstream_peer', 'wasm.downstream_peer_id'];

const REQ_WITHOUT_QUERY_FORMATTER: J = { name: 'envoy.formatter.req_without_query', typed_config: anyOf(ANY_TYPE.REQ_WITHOUT_QUERY) };

/** Formatter extensions a format needs (istiod accessLogTextFormatters: %REQ_WITHOUT_QUERY). */
function formattersFor(texts: readonly string[]): J[] {
  return texts.some((t) => t.includes('%REQ_WITHOUT_QUERY')) ? [REQ_WITHOUT_QUERY_FORMATTER] : [];
}

/** istio fileAccessLogFormat: a given format always ends in a newline. */
function textFormat(format: string | undefined): string {
  if (!format) return ISTIO_TEXT_LOG_FORMAT;
  return format.endsWith('\n') ? format : `${format}\n`;
}

function textLogFormat(format: string, omitEmptyValues = false): J {
  const formatters = formattersFor([format]);
  return {
    text_format_source: { inline_string: format },
    ...(omitEmptyValues ? { omit_empty_values: true } : {}),
    ...(formatters.length ? { formatters } : {}),
  };
}

function jsonLogFormat(labels: Readonly<Record<string, unknown>>, omitEmptyValues = false): J {
  const formatters = formattersFor(Object.values(labels).filter((v): v is string => typeof v === 'string'));
  return {
    json_format: jsonToStruct(labels),
    json_format_options: { sort_properties: false },
    ...(omitEmptyValues ? { omit_empty_values: true } : {}),
    ...(formatters.length ? { formatters } : {}),
  };
}

function accessLog(name: string, typeUrl: string, body: J): J {
  return { name, typed_config: anyOf(typeUrl, body) };
}

/**
 * istiod FileAccessLogFromMeshConfig: accessLogFile with accessLogFormat in accessLogEncoding. A JSON
 * format that does not parse as a JSON object falls back to Istio's JSON format, as istiod does
 * (`problems` says so).
 */
export function meshFileAccessLog(path: string, format: string | undefined, encoding: 'TEXT' | 'JSON' | undefined, problems: string[]): J {
  if (encoding === 'JSON') {
    let labels: Readonly<Record<string, unknown>> = ISTIO_JSON_LOG_FORMAT;
    if (format) {
      try {
        const parsed: unknown = JSON.parse(format);
        if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) labels = parsed as Record<string, unknown>;
        else problems.push('mesh config accessLogFormat is not a JSON object; Istio\'s default JSON format is used');
      } catch (err) {
        problems.push(`mesh config accessLogFormat is not valid JSON (${(err as Error).message}); Istio's default JSON format is used`);
      }
    }
    return accessLog(ACCESS_LOG_NAME.FILE, ANY_TYPE.FILE_ACCESS_LOG, { path, log_format: jsonLogFormat(labels) });
  }
  return accessLog(ACCESS_LOG_NAME.FILE, ANY_TYPE.FILE_ACCESS_LOG, { path, log_format: textLogFormat(textFormat(format)) });
}

/** istiod httpGrpcAccessLog / tcpGrpcAccessLog: enableEnvoyAccessLogService's logger to the bootstrap's cluster. */
export function meshGrpcAccessLog(kind: 'http' | 'tcp' | 'listener'): J {
  const common: J = {
    log_name: kind === 'http' ? 'http_envoy_accesslog' : kind === 'tcp' ? 'tcp_envoy_accesslog' : 'listener_envoy_accesslog',
    grpc_service: { envoy_grpc: { cluster_name: ENVOY_ACCESS_LOG_CLUSTER } },
    transport_api_version: 'V3',
    filter_state_objects_to_log: PEER_STATE_WITH_WASM,
  };
  if (kind === 'http') return accessLog(ACCESS_LOG_NAME.HTTP_GRPC, ANY_TYPE.HTTP_GRPC_ACCESS_LOG, { common_config: common });
  const al = accessLog(ACCESS_LOG_NAME.TCP_GRPC, ANY_TYPE.TCP_GRPC_ACCESS_LOG, { common_config: common });
  return kind === 'listener' ? { ...al, filter: NO_ROUTE_FILTER } : al;
}

/** Listener-level access logs record only connections no filter chain took (response flag NR). */
export const NO_ROUTE_FILTER: J = Object.freeze({ response_flag_filter: { flags: ['NR'] } });

/** The CEL filter of a Telemetry accessLogging entry (istiod buildAccessLogFilterFromTelemetry). */
export function celAccessLogFilter(expression: string): J {
  return { extension_filter: { name: CEL_FILTER_NAME, typed_config: anyOf(ANY_TYPE.CEL_ACCESS_LOG_FILTER, { expression }) } };
}

/** istiod buildAccessLogFilter: none, the one, or all of them. */
export function andFilters(filters: readonly J[]): J | undefined {
  if (filters.length === 0) return undefined;
  if (filters.length === 1) return filters[0];
  return { and_filter: { filters } };
}

/**
 * istiod telemetryAccessLog: the Envoy access logger of a provider, or undefined for kinds that log
 * nothing (tracing, metrics, ext_authz providers). `target` is the provider's resolved cluster (gRPC and
 * OTel loggers); `meshFormat` is the mesh config's format, which the built-in `envoy` provider inherits.
 */
export function providerAccessLog(
  p: ExtensionProvider,
  target: ProviderTarget | undefined,
  mesh: { accessLogFormat?: string | undefined; accessLogEncoding?: 'TEXT' | 'JSON' | undefined },
  problems: string[],
): J | undefined {
  if (p.envoyFileAccessLog) {
    const f = p.envoyFileAccessLog;
    const path = f.path || '/dev/stdout';
    if (p.name === 'envoy' && f.logFormat === undefined && !f.omitEmptyValues) {
      return meshFileAccessLog(path, mesh.accessLogFormat, mesh.accessLogEncoding ?? 'TEXT', problems);
    }
    const labels = f.logFormat?.labels;
    const log_format = labels !== undefined
      ? jsonLogFormat(Object.keys(labels).length > 0 ? labels : ISTIO_JSON_LOG_FORMAT, f.omitEmptyValues)
      : textLogFormat(textFormat(f.logFormat?.text), f.omitEmptyValues);
    return accessLog(ACCESS_LOG_NAME.FILE, ANY_TYPE.FILE_ACCESS_LOG, { path, log_format });
  }
  if (!target) return undefined;
  if (p.envoyHttpAls) {
    const a = p.envoyHttpAls;
    return accessLog(ACCESS_LOG_NAME.HTTP_GRPC, ANY_TYPE.HTTP_GRPC_ACCESS_LOG, {
      common_config: grpcCommon(a.logName || 'http_envoy_accesslog', target, a.filterStateObjectsToLog?.length ? a.filterStateObjectsToLog : PEER_STATE),
      ...(a.additionalRequestHeadersToLog?.length ? { additional_request_headers_to_log: a.additionalRequestHeadersToLog } : {}),
      ...(a.additionalResponseHeadersToLog?.length ? { additional_response_headers_to_log: a.additionalResponseHeadersToLog } : {}),
      ...(a.additionalResponseTrailersToLog?.length ? { additional_response_trailers_to_log: a.additionalResponseTrailersToLog } : {}),
    });
  }
  if (p.envoyTcpAls) {
    const a = p.envoyTcpAls;
    return accessLog(ACCESS_LOG_NAME.TCP_GRPC, ANY_TYPE.TCP_GRPC_ACCESS_LOG, {
      common_config: grpcCommon(a.logName || 'tcp_envoy_accesslog', target, a.filterStateObjectsToLog?.length ? a.filterStateObjectsToLog : PEER_STATE),
    });
  }
  if (p.envoyOtelAls) {
    const a = p.envoyOtelAls;
    const format = a.logFormat?.text || ISTIO_TEXT_LOG_FORMAT;
    const labels = a.logFormat?.labels ?? {};
    const keys = Object.keys(labels).sort();
    const formatters = formattersFor([format, ...Object.values(labels).filter((v): v is string => typeof v === 'string')]);
    return accessLog(ACCESS_LOG_NAME.OTEL, ANY_TYPE.OTEL_ACCESS_LOG, {
      common_config: grpcCommon(a.logName || 'otel_envoy_accesslog', target, PEER_STATE_WITH_WASM),
      disable_builtin_labels: true,
      body: { string_value: format },
      ...(keys.length ? { attributes: { values: keys.map((key) => ({ key, value: { string_value: typeof labels[key] === 'string' ? labels[key] : '' } })) } } : {}),
      ...(formatters.length ? { formatters } : {}),
    });
  }
  return undefined;
}

function grpcCommon(logName: string, target: ProviderTarget, filterState: readonly string[]): J {
  return {
    log_name: logName,
    grpc_service: { envoy_grpc: { cluster_name: target.cluster, authority: target.hostname } },
    transport_api_version: 'V3',
    filter_state_objects_to_log: filterState,
  };
}

/** The provider kinds that produce an access logger (istiod telemetryAccessLog). */
export function isAccessLogProvider(p: ExtensionProvider): boolean {
  return !!(p.envoyFileAccessLog || p.envoyHttpAls || p.envoyTcpAls || p.envoyOtelAls);
}

/** `service`/`port` of a provider that needs a cluster (gRPC/OTel loggers, tracers). */
export function providerService(p: ExtensionProvider): { service: string; port: number } | undefined {
  const body = p.envoyHttpAls ?? p.envoyTcpAls ?? p.envoyOtelAls ?? p.zipkin ?? p.datadog ?? p.skywalking ?? p.opentelemetry ?? p.lightstep;
  return body ? { service: body.service, port: body.port } : undefined;
}

// ---------------------------------------------------------------------------------------------------------
// tracing

/** Facts of the proxy the tracer reads: its service name and the values of Istio's span tags. */
export interface TracingProxy {
  /** node.cluster (`app.namespace`): span service name of Datadog/OTel */
  readonly serviceCluster: string;
  readonly canonicalService: string;
  readonly canonicalRevision: string;
  readonly meshId: string;
  readonly namespace: string;
  readonly clusterId: string;
  /** istiod gates the SkyWalking/router spawn_upstream_span on the proxy type */
  readonly router: boolean;
}

export interface TracingSettings {
  readonly provider?: ExtensionProvider;
  readonly target?: ProviderTarget;
  /** a second provider target (the Dynatrace sampler's own API), when it has one */
  readonly samplerTarget?: ProviderTarget;
  readonly randomSamplingPercentage: number;
  readonly enableIstioTags: boolean;
  readonly telemetryTags?: Readonly<Record<string, CustomTag>>;
  readonly proxyConfigTags?: Readonly<Record<string, ProxyTracingCustomTag>>;
  readonly maxPathTagLength?: number;
  readonly disableContextPropagation?: boolean;
}

const RBAC_SHADOW_TAGS: readonly [string, string][] = [
  ['istio.authorization.dry_run.allow_policy.name', 'istio_dry_run_allow_shadow_effective_policy_id'],
  ['istio.authorization.dry_run.allow_policy.result', 'istio_dry_run_allow_shadow_engine_result'],
  ['istio.authorization.dry_run.deny_policy.name', 'istio_dry_run_deny_shadow_effective_policy_id'],
  ['istio.authorization.dry_run.deny_policy.result', 'istio_dry_run_deny_shadow_engine_result'],
];

function literalTag(tag: string, value: string): J {
  return { tag, literal: { value } };
}

/** istiod buildServiceTags + optionalPolicyTags: what every span of an Istio proxy carries. */
function istioTags(p: TracingProxy): J[] {
  return [
    literalTag('istio.canonical_revision', p.canonicalRevision || 'latest'),
    literalTag('istio.canonical_service', p.canonicalService || 'unknown'),
    literalTag('istio.mesh_id', p.meshId || 'unknown'),
    literalTag('istio.namespace', p.namespace || 'default'),
    literalTag('istio.cluster_id', p.clusterId || 'unknown'),
    ...RBAC_SHADOW_TAGS.map(([tag, key]) => ({
      tag,
      metadata: { kind: { request: {} }, metadata_key: { key: 'envoy.filters.http.rbac', path: [{ key }] } },
    })),
  ];
}

function customTagsFrom(tags: Readonly<Record<string, CustomTag | ProxyTracingCustomTag>>, problems: string[]): J[] {
  const out: J[] = [];
  for (const [tag, t] of Object.entries(tags)) {
    if (t.environment) out.push({ tag, environment: { name: t.environment.name ?? '', ...(t.environment.defaultValue ? { default_value: t.environment.defaultValue } : {}) } });
    else if (t.header) out.push({ tag, request_header: { name: t.header.name ?? '', ...(t.header.defaultValue ? { default_value: t.header.defaultValue } : {}) } });
    else if (t.literal) out.push(literalTag(tag, t.literal.value ?? ''));
    else if ('formatter' in t && t.formatter) problems.push(`tracing custom tag ${JSON.stringify(tag)}: formatter tags need Envoy's CustomTag.value, which the Envoy API meshd encodes lacks; the tag is left out (istiod leaves it out for proxies before 1.29 too)`);
  }
  return out;
}

function percent(value: number): J {
  return { value };
}

/**
 * The HCM `tracing` block (istiod configureTracingFromTelemetry / the legacy enableTracing path): sampling
 * 100/value/100, Istio's span tags plus the custom ones sorted by tag, and the provider's tracer when one
 * is configured (the legacy path leaves the tracer to the bootstrap, defaultConfig.tracing).
 */
export function hcmTracing(s: TracingSettings, proxy: TracingProxy, problems: string[]): J {
  const out: J = {};
  let maxTagLength: number | undefined;
  let sampling = s.randomSamplingPercentage;
  if (s.provider) {
    const built = tracerOf(s.provider, s.target, s.samplerTarget, proxy, problems);
    if (built) {
      if (built.spawnUpstreamSpan) out.spawn_upstream_span = { value: true };
      out.provider = { name: built.name, typed_config: built.config };
      maxTagLength = built.maxTagLength;
      if (built.customSampler) sampling = 100;
    }
  }
  out.client_sampling = percent(100);
  out.random_sampling = percent(sampling);
  out.overall_sampling = percent(100);
  const tags: J[] = s.enableIstioTags ? istioTags(proxy) : [];
  if (s.telemetryTags && Object.keys(s.telemetryTags).length > 0) tags.push(...customTagsFrom(s.telemetryTags, problems));
  else if (s.proxyConfigTags) tags.push(...customTagsFrom(s.proxyConfigTags, problems));
  tags.sort((a, b) => ((a.tag as string) < (b.tag as string) ? -1 : (a.tag as string) > (b.tag as string) ? 1 : 0));
  if (tags.length) out.custom_tags = tags;
  const pathTag = maxTagLength || s.maxPathTagLength;
  if (pathTag) out.max_path_tag_length = { value: pathTag };
  if (s.disableContextPropagation) {
    problems.push('tracing disableContextPropagation needs HCM tracing no_context_propagation, which the Envoy API meshd encodes lacks; context is still propagated (istiod does the same for proxies before 1.30)');
  }
  return out;
}

interface BuiltTracer {
  readonly name: string;
  readonly config: J;
  readonly maxTagLength?: number;
  readonly spawnUpstreamSpan: boolean;
  readonly customSampler: boolean;
}

function header(h: HttpHeader): J {
  return { key: h.name, value: h.value ?? (h.envName ? (process.env[h.envName] ?? '') : '') };
}

/** Envoy's HttpUri requires a timeout; istiod leaves it unset when the provider has none, which Envoy refuses. */
const DEFAULT_HTTP_SERVICE_TIMEOUT = '5s';

function httpServiceOf(uri: string, cluster: string, svc: HttpService | undefined): J {
  return {
    http_uri: { uri, cluster, timeout: toDuration(svc?.timeout ?? DEFAULT_HTTP_SERVICE_TIMEOUT) },
    ...(svc?.headers?.length ? { request_headers_to_add: svc.headers.map((h) => ({ header: header(h), append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' })) } : {}),
  };
}

/** url.JoinPath(host, path) as istiod uses it for OTLP/HTTP and the Dynatrace API. */
function joinPath(host: string, path: string | undefined): string {
  const p = (path ?? '').replace(/^\/+/, '');
  return p ? `${host}/${p}` : host;
}

/** istiod configureFromProviderConfig: the tracer of a provider, or undefined (why goes to `problems`). */
function tracerOf(p: ExtensionProvider, target: ProviderTarget | undefined, samplerTarget: ProviderTarget | undefined, proxy: TracingProxy, problems: string[]): BuiltTracer | undefined {
  const needTarget = () => {
    if (!target) problems.push(`tracing provider ${JSON.stringify(p.name)}: its service has no cluster; no tracer is configured`);
    return target;
  };
  if (p.zipkin) {
    const z = p.zipkin;
    const t = needTarget();
    if (!t) return undefined;
    if (z.timeout || z.headers?.length || z.traceContextOption === 'USE_B3_WITH_W3C_PROPAGATION') {
      problems.push(`tracing provider ${JSON.stringify(p.name)}: zipkin timeout, headers and traceContextOption need Envoy's ZipkinConfig.collector_service/trace_context_option, which the Envoy API meshd encodes lacks; they are not applied (istiod does the same for proxies before 1.28/1.29)`);
    }
    return {
      name: 'envoy.tracers.zipkin',
      config: anyOf(ANY_TYPE.ZIPKIN, {
        collector_cluster: t.cluster,
        collector_endpoint: z.path || '/api/v2/spans',
        ...(z.enable64bitTraceId ? {} : { trace_id_128bit: true }),
        shared_span_context: { value: false },
        collector_endpoint_version: 'HTTP_JSON',
        collector_hostname: t.hostname,
      }),
      ...(z.maxTagLength ? { maxTagLength: z.maxTagLength } : {}),
      spawnUpstreamSpan: proxy.router,
      customSampler: false,
    };
  }
  if (p.datadog) {
    const t = needTarget();
    if (!t) return undefined;
    return {
      name: 'envoy.tracers.datadog',
      config: anyOf(ANY_TYPE.DATADOG, { collector_cluster: t.cluster, service_name: proxy.serviceCluster, collector_hostname: t.hostname }),
      ...(p.datadog.maxTagLength ? { maxTagLength: p.datadog.maxTagLength } : {}),
      spawnUpstreamSpan: proxy.router,
      customSampler: false,
    };
  }
  if (p.skywalking) {
    const t = needTarget();
    if (!t) return undefined;
    return {
      name: 'envoy.tracers.skywalking',
      config: anyOf(ANY_TYPE.SKYWALKING, { grpc_service: { envoy_grpc: { cluster_name: t.cluster, authority: t.hostname } } }),
      spawnUpstreamSpan: true,
      customSampler: false,
    };
  }
  if (p.opentelemetry) {
    const t = needTarget();
    if (!t) return undefined;
    return otelTracer(p.opentelemetry, t, samplerTarget, proxy, problems, p.name);
  }
  if (p.lightstep) {
    problems.push(`tracing provider ${JSON.stringify(p.name)}: Lightstep is deprecated and istiod configures no tracer for it (use OpenTelemetry)`);
    return undefined;
  }
  const kind = Object.keys(p).find((k) => k !== 'name') ?? 'unknown';
  problems.push(`tracing provider ${JSON.stringify(p.name)}: a ${kind} provider does not support tracing`);
  return undefined;
}

function otelTracer(o: OpenTelemetryTracingProvider, t: ProviderTarget, samplerTarget: ProviderTarget | undefined, proxy: TracingProxy, problems: string[], name: string): BuiltTracer | undefined {
  const config: J = { service_name: proxy.serviceCluster };
  if (o.http) {
    config.http_service = httpServiceOf(joinPath(t.hostname, o.http.path), t.cluster, o.http);
  } else {
    config.grpc_service = {
      envoy_grpc: { cluster_name: t.cluster, authority: t.hostname },
      ...(o.grpc?.timeout ? { timeout: toDuration(o.grpc.timeout) } : {}),
      ...(o.grpc?.initialMetadata?.length ? { initial_metadata: o.grpc.initialMetadata.map(header) } : {}),
    };
  }
  if (o.serviceAttributeEnrichment === 'OTEL_SEMANTIC_CONVENTIONS') {
    problems.push(`tracing provider ${JSON.stringify(name)}: serviceAttributeEnrichment OTEL_SEMANTIC_CONVENTIONS is not applied (service.name stays the proxy's service cluster)`);
  }
  const detectors: J[] = [];
  if (o.resourceDetectors?.environment) detectors.push({ name: 'envoy.tracers.opentelemetry.resource_detectors.environment', typed_config: anyOf(ANY_TYPE.OTEL_ENVIRONMENT_RESOURCE_DETECTOR) });
  if (o.resourceDetectors?.dynatrace) detectors.push({ name: 'envoy.tracers.opentelemetry.resource_detectors.dynatrace', typed_config: anyOf(ANY_TYPE.OTEL_DYNATRACE_RESOURCE_DETECTOR) });
  if (detectors.length) config.resource_detectors = detectors;
  let customSampler = false;
  if (o.dynatraceSampler) {
    const d = o.dynatraceSampler;
    let http_service: J;
    if (!d.httpService) {
      if (!o.http) {
        problems.push(`tracing provider ${JSON.stringify(name)}: dynatrace sampler could not get http settings. considering setting the http_service field on the dynatrace sampler`);
        return undefined;
      }
      http_service = httpServiceOf(joinPath(t.hostname, 'api/v2/samplingConfiguration'), t.cluster, { ...(o.http.timeout ? { timeout: o.http.timeout } : {}), ...(o.http.headers ? { headers: o.http.headers } : {}) });
    } else {
      if (!samplerTarget) {
        problems.push(`tracing provider ${JSON.stringify(name)}: could not find cluster for dynatrace sampler ${JSON.stringify(d.httpService.service)}`);
        return undefined;
      }
      http_service = httpServiceOf(joinPath(samplerTarget.hostname, d.httpService.http?.path), samplerTarget.cluster, d.httpService.http);
    }
    config.sampler = {
      name: 'envoy.tracers.opentelemetry.samplers.dynatrace',
      typed_config: anyOf(ANY_TYPE.OTEL_DYNATRACE_SAMPLER, {
        ...(d.tenant ? { tenant: d.tenant } : {}),
        ...(d.clusterId ? { cluster_id: d.clusterId } : {}),
        ...(d.rootSpansPerMinute ? { root_spans_per_minute: d.rootSpansPerMinute } : {}),
        http_service,
      }),
    };
    customSampler = true;
  }
  return {
    name: 'envoy.tracers.opentelemetry',
    config: anyOf(ANY_TYPE.OPENTELEMETRY, config),
    ...(o.maxTagLength ? { maxTagLength: o.maxTagLength } : {}),
    spawnUpstreamSpan: proxy.router,
    customSampler,
  };
}

/** The HCM request_id_extension: UUIDs, trace sampling by request id unless a Telemetry turns it off. */
export function requestIdExtension(useRequestIdForTraceSampling: boolean): J {
  return { typed_config: anyOf(ANY_TYPE.UUID_REQUEST_ID, { use_request_id_for_trace_sampling: { value: useRequestIdForTraceSampling } }) };
}

// ---------------------------------------------------------------------------------------------------------
// istio.stats

/**
 * stats.PluginConfig as istio-proxy's stats filter reads it (istio/api envoy/extensions/stats/config.proto,
 * istiod generateStatsConfig): sidecar inbound and gateways drop the Host-header fallback; each override names the
 * istio_* metric (without the prefix) or a custom one, the dimensions it sets, the tags it removes and
 * whether the metric is dropped; the TCP reporting interval when a Telemetry sets one.
 */
export function statsPluginConfig(disableHostHeaderFallback: boolean, direction: MetricsDirection, reportingInterval: string | undefined): J {
  const cfg: J = {};
  if (disableHostHeaderFallback) cfg.disable_host_header_fallback = true;
  if (reportingInterval !== undefined) cfg.tcp_reporting_duration = durationJson(reportingInterval);
  if (direction.overrides.length) {
    cfg.metrics = direction.overrides.map((o) => {
      const m: J = {};
      const dims = Object.fromEntries(o.tags.filter((t) => !t.remove).map((t) => [t.name, t.value]));
      if (Object.keys(dims).length) m.dimensions = dims;
      m.name = PROMETHEUS_METRIC_NAME[o.name] ?? o.name;
      const remove = o.tags.filter((t) => t.remove).map((t) => t.name);
      if (remove.length) m.tags_to_remove = remove;
      if (o.disabled) m.drop = true;
      return m;
    });
  }
  return cfg;
}

/** A Duration as proto-JSON text (`5s`, `0.500s`), the form a Struct carries into a TypedStruct. */
function durationJson(text: string): string {
  const d = toDuration(text) as { seconds?: number | string; nanos?: number };
  const seconds = Number(d.seconds ?? 0);
  const nanos = d.nanos ?? 0;
  if (nanos === 0) return `${seconds}s`;
  return `${seconds}.${String(nanos).padStart(9, '0').replace(/0+$/, '')}s`;
}
