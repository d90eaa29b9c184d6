import { z } from 'zod';
import { duration, double, int32, stringList, uint32 } from './schemas/common.js';

// The observability half of Istio's mesh config (istio.mesh.v1alpha1.MeshConfig): the legacy switches
// (accessLogFile, accessLogFormat, accessLogEncoding, enableTracing, defaultConfig.tracing) and the
// extension providers the Telemetry API names (MeshConfig.ExtensionProvider: tracing, access-log and
// metrics kinds), with istiod's field names (proto-JSON camelCase). mesh-config.ts composes these into the
// file's schema; model/telemetry.ts acts on them.

/** MeshConfig.ExtensionProvider.HttpHeader: a literal value or one read from the proxy's environment */
export const httpHeader = z.strictObject({
  name: z.string(),
  value: z.string().optional(),
  envName: z.string().optional(),
});
export type HttpHeader = z.infer<typeof httpHeader>;

/** MeshConfig.ExtensionProvider.HttpService (OTLP/HTTP export, Dynatrace API) */
export const httpService = z.strictObject({
  path: z.string().optional(),
  timeout: duration.optional(),
  headers: z.array(httpHeader).optional(),
});
export type HttpService = z.infer<typeof httpService>;

export const zipkinTracingProvider = z.strictObject({
  service: z.string(),
  port: uint32,
  maxTagLength: uint32.optional(),
  enable64bitTraceId: z.boolean().optional(),
  path: z.string().optional(),
  traceContextOption: z.enum(['USE_B3', 'USE_B3_WITH_W3C_PROPAGATION']).optional(),
  timeout: duration.optional(),
  headers: z.array(httpHeader).optional(),
});
export type ZipkinTracingProvider = z.infer<typeof zipkinTracingProvider>;

export const lightstepTracingProvider = z.strictObject({
  service: z.string(),
  port: uint32,
  accessToken: z.string().optional(),
  maxTagLength: uint32.optional(),
});

export const datadogTracingProvider = z.strictObject({
  service: z.string(),
  port: uint32,
  maxTagLength: uint32.optional(),
});
export type DatadogTracingProvider = z.infer<typeof datadogTracingProvider>;

export const skywalkingTracingProvider = z.strictObject({
  service: z.string(),
  port: uint32,
  accessToken: z.string().optional(),
});
export type SkywalkingTracingProvider = z.infer<typeof skywalkingTracingProvider>;

const int64Value = z.union([z.number().int(), z.string().regex(/^-?\d+$/)]);

export const stackdriverProvider = z.strictObject({
  debug: z.boolean().optional(),
  maxNumberOfAttributes: int64Value.optional(),
  maxNumberOfAnnotations: int64Value.optional(),
  maxNumberOfMessageEvents: int64Value.optional(),
  maxTagLength: uint32.optional(),
  logging: z.strictObject({ labels: z.record(z.string(), z.string()).optional() }).optional(),
});

export const opencensusProvider = z.strictObject({
  service: z.string(),
  port: uint32,
  context: z.array(z.enum(['UNSPECIFIED', 'W3C_TRACE_CONTEXT', 'GRPC_BIN', 'CLOUD_TRACE_CONTEXT', 'B3'])).optional(),
  maxTagLength: uint32.optional(),
});

export const openTelemetryTracingProvider = z
  .strictObject({
    service: z.string(),
    port: uint32,
    maxTagLength: uint32.optional(),
    http: httpService.optional(),
    grpc: z.strictObject({ timeout: duration.optional(), initialMetadata: z.array(httpHeader).optional() }).optional(),
    resourceDetectors: z
      .strictObject({
        environment: z.strictObject({}).optional(),
        dynatrace: z.strictObject({}).optional(),
      })
      .optional(),
    serviceAttributeEnrichment: z.enum(['ISTIO_CANONICAL', 'OTEL_SEMANTIC_CONVENTIONS']).optional(),
    dynatraceSampler: z
      .strictObject({
        tenant: z.string().optional(),
        clusterId: int32.optional(),
        rootSpansPerMinute: uint32.optional(),
        httpService: z.strictObject({ service: z.string(), port: uint32, http: httpService.optional() }).optional(),
      })
      .optional(),
  })
  .refine((p) => !(p.http && p.grpc), { message: 'only one of http or grpc may be set' });
export type OpenTelemetryTracingProvider = z.infer<typeof openTelemetryTracingProvider>;

export const prometheusMetricsProvider = z.strictObject({});

export const envoyFileAccessLogProvider = z.strictObject({
  path: z.string().optional(),
  logFormat: z
    .strictObject({ text: z.string().optional(), labels: z.record(z.string(), z.unknown()).optional() })
    .refine((f) => !(f.text !== undefined && f.labels !== undefined), { message: 'only one of text or labels may be set' })
    .optional(),
  omitEmptyValues: z.boolean().optional(),
});
export type EnvoyFileAccessLogProvider = z.infer<typeof envoyFileAccessLogProvider>;

export const envoyHttpGrpcV3LogProvider = z.strictObject({
  service: z.string(),
  port: uint32,
  logName: z.string().optional(),
  filterStateObjectsToLog: stringList.optional(),
  additionalRequestHeadersToLog: stringList.optional(),
  additionalResponseHeadersToLog: stringList.optional(),
  additionalResponseTrailersToLog: stringList.optional(),
});
export type EnvoyHttpGrpcV3LogProvider = z.infer<typeof envoyHttpGrpcV3LogProvider>;

export const envoyTcpGrpcV3LogProvider = z.strictObject({
  service: z.string(),
  port: uint32,
  logName: z.string().optional(),
  filterStateObjectsToLog: stringList.optional(),
});
export type EnvoyTcpGrpcV3LogProvider = z.infer<typeof envoyTcpGrpcV3LogProvider>;

export const envoyOpenTelemetryLogProvider = z.strictObject({
  service: z.string(),
  port: uint32,
  logName: z.string().optional(),
  logFormat: z.strictObject({ text: z.string().optional(), labels: z.record(z.string(), z.unknown()).optional() }).optional(),
});
export type EnvoyOpenTelemetryLogProvider = z.infer<typeof envoyOpenTelemetryLogProvider>;

export const sdsProvider = z.strictObject({ name: z.string().optional(), service: z.string().optional(), port: uint32.optional() });

/** The observability provider kinds of MeshConfig.ExtensionProvider (the ext_authz kinds are mesh-config.ts's). */
export const TELEMETRY_PROVIDER_KINDS = {
  zipkin: zipkinTracingProvider,
  lightstep: lightstepTracingProvider,
  datadog: datadogTracingProvider,
  stackdriver: stackdriverProvider,
  opencensus: opencensusProvider,
  skywalking: skywalkingTracingProvider,
  opentelemetry: openTelemetryTracingProvider,
  prometheus: prometheusMetricsProvider,
  envoyFileAccessLog: envoyFileAccessLogProvider,
  envoyHttpAls: envoyHttpGrpcV3LogProvider,
  envoyTcpAls: envoyTcpGrpcV3LogProvider,
  envoyOtelAls: envoyOpenTelemetryLogProvider,
  sds: sdsProvider,
} as const;

/** MeshConfig.DefaultProviders: providers used when no Telemetry names one */
export const defaultProviders = z.strictObject({
  tracing: stringList.optional(),
  metrics: stringList.optional(),
  accessLogging: stringList.optional(),
});
export type DefaultProviders = z.infer<typeof defaultProviders>;

const tracingCustomTag = z
  .strictObject({
    literal: z.strictObject({ value: z.string().optional() }).optional(),
    environment: z.strictObject({ name: z.string().optional(), defaultValue: z.string().optional() }).optional(),
    header: z.strictObject({ name: z.string().optional(), defaultValue: z.string().optional() }).optional(),
  })
  .refine((t) => [t.literal, t.environment, t.header].filter((v) => v !== undefined).length <= 1, { message: 'only one of literal, environment or header may be set' });
export type ProxyTracingCustomTag = z.infer<typeof tracingCustomTag>;

/**
 * ProxyConfig.Tracing (mesh config `defaultConfig.tracing`): the tracer the proxy's bootstrap carries
 * (pilot-agent writes it from PROXY_CONFIG) and the sampling/tags istiod writes into every HCM when no
 * Telemetry configures tracing.
 */
export const proxyTracing = z
  .looseObject({
    zipkin: z.strictObject({ address: z.string().optional() }).optional(),
    lightstep: z.looseObject({ address: z.string().optional() }).optional(),
    datadog: z.strictObject({ address: z.string().optional() }).optional(),
    stackdriver: z.looseObject({}).optional(),
    openCensusAgent: z.looseObject({ address: z.string().optional() }).optional(),
    customTags: z.record(z.string(), tracingCustomTag).optional(),
    maxPathTagLength: uint32.optional(),
    sampling: double.optional(),
    tlsSettings: z.looseObject({}).optional(),
    enableIstioTags: z.boolean().nullable().optional(),
  });
export type ProxyTracing = z.infer<typeof proxyTracing>;

/** `accessLogEncoding`: proto enum names, as istiod reads them (numbers 0/1 too). */
export const accessLogEncoding = z.union([z.enum(['TEXT', 'JSON']), z.literal(0).transform(() => 'TEXT' as const), z.literal(1).transform(() => 'JSON' as const)]);

/** The MeshConfig fields of this module (merged into mesh-config.ts's schema). */
export const meshTelemetryFields = {
  accessLogFile: z.string().optional(),
  accessLogFormat: z.string().optional(),
  accessLogEncoding: accessLogEncoding.optional(),
  enableTracing: z.boolean().optional(),
  enableEnvoyAccessLogService: z.boolean().optional(),
  disableEnvoyListenerLog: z.boolean().optional(),
  enablePrometheusMerge: z.boolean().nullable().optional(),
  defaultProviders: defaultProviders.optional(),
  defaultConfig: z.looseObject({ tracing: proxyTracing.optional() }).optional(),
};

/** The observability part of the mesh config the model reads (sources/mesh fills it; absent: istiod's defaults). */
export interface MeshTelemetry {
  /** MeshConfig.accessLogFile: every listener logs there when no Telemetry configures access logging */
  readonly accessLogFile?: string;
  /** MeshConfig.accessLogFormat: a text format, or a JSON object's text when the encoding is JSON */
  readonly accessLogFormat?: string;
  readonly accessLogEncoding?: 'TEXT' | 'JSON';
  /** MeshConfig.enableTracing (istiod default true): tracing on every HCM when no Telemetry configures it */
  readonly enableTracing?: boolean;
  /** MeshConfig.enableEnvoyAccessLogService: gRPC ALS to the bootstrap's envoy_accesslog_service cluster */
  readonly enableEnvoyAccessLogService?: boolean;
  readonly disableEnvoyListenerLog?: boolean;
  /** MeshConfig.defaultProviders; absent: `metrics: [prometheus]`, as Istio's chart writes the mesh config */
  readonly defaultProviders?: DefaultProviders;
  /** MeshConfig.defaultConfig.tracing: sampling, custom tags and max path tag length of the legacy path */
  readonly proxyTracing?: ProxyTracing;
}
