import { z } from 'zod';
import YAML from 'yaml';
import { duration, stringList, stringMap, uint32 } from './schemas/common.js';
import { formatPath } from './validate.js';
import { TELEMETRY_PROVIDER_KINDS, meshTelemetryFields, type MeshTelemetry } from './mesh-telemetry.js';

// Istio's mesh config (istio.mesh.v1alpha1.MeshConfig) as meshd reads it: the `mesh` key of ConfigMap
// `istio`, mounted at /etc/istio/config/mesh and passed as `--mesh-config` (istiod's --meshConfig).
//
// MeshConfig has some eighty fields. This schema covers the ones meshd acts on, with their types, and
// passes every other field through untouched: an istiod mesh config loads here unchanged, and a field meshd
// does not act on is not a reason to refuse the file. A wrong type on a field meshd reads is refused with the
// file and field path. Field names are proto-JSON (camelCase), as istiod reads the file.

const extAuthzRequestBody = z.strictObject({
  maxRequestBytes: uint32.optional(),
  allowPartialMessage: z.boolean().optional(),
  packAsBytes: z.boolean().optional(),
});

/** MeshConfig.ExtensionProvider.EnvoyExternalAuthorizationHttpProvider */
export const envoyExtAuthzHttpProvider = z.strictObject({
  service: z.string(),
  port: uint32,
  timeout: duration.optional(),
  pathPrefix: z.string().optional(),
  failOpen: z.boolean().optional(),
  clearRouteCache: z.boolean().optional(),
  statusOnError: z.string().optional(),
  includeHeadersInCheck: stringList.optional(),
  includeRequestHeadersInCheck: stringList.optional(),
  includeAdditionalHeadersInCheck: stringMap.optional(),
  includeRequestBodyInCheck: extAuthzRequestBody.optional(),
  headersToUpstreamOnAllow: stringList.optional(),
  headersToDownstreamOnDeny: stringList.optional(),
  headersToDownstreamOnAllow: stringList.optional(),
});
export type EnvoyExtAuthzHttpProvider = z.infer<typeof envoyExtAuthzHttpProvider>;

/** MeshConfig.ExtensionProvider.EnvoyExternalAuthorizationGrpcProvider */
export const envoyExtAuthzGrpcProvider = z.strictObject({
  service: z.string(),
  port: uint32,
  timeout: duration.optional(),
  failOpen: z.boolean().optional(),
  clearRouteCache: z.boolean().optional(),
  statusOnError: z.string().optional(),
  includeRequestBodyInCheck: extAuthzRequestBody.optional(),
});
export type EnvoyExtAuthzGrpcProvider = z.infer<typeof envoyExtAuthzGrpcProvider>;

/**
 * One extension provider: the two ext_authz kinds (CUSTOM AuthorizationPolicy) and every observability kind
 * of MeshConfig.ExtensionProvider (mesh-telemetry.ts: tracing, access-log and metrics providers the
 * Telemetry API and defaultProviders name). A kind Istio adds later passes through untouched.
 */
export const extensionProvider = z
  .looseObject({
    name: z.string(),
    envoyExtAuthzHttp: envoyExtAuthzHttpProvider.optional(),
    envoyExtAuthzGrpc: envoyExtAuthzGrpcProvider.optional(),
    zipkin: TELEMETRY_PROVIDER_KINDS.zipkin.optional(),
    lightstep: TELEMETRY_PROVIDER_KINDS.lightstep.optional(),
    datadog: TELEMETRY_PROVIDER_KINDS.datadog.optional(),
    stackdriver: TELEMETRY_PROVIDER_KINDS.stackdriver.optional(),
    opencensus: TELEMETRY_PROVIDER_KINDS.opencensus.optional(),
    skywalking: TELEMETRY_PROVIDER_KINDS.skywalking.optional(),
    opentelemetry: TELEMETRY_PROVIDER_KINDS.opentelemetry.optional(),
    prometheus: TELEMETRY_PROVIDER_KINDS.prometheus.optional(),
    envoyFileAccessLog: TELEMETRY_PROVIDER_KINDS.envoyFileAccessLog.optional(),
    envoyHttpAls: TELEMETRY_PROVIDER_KINDS.envoyHttpAls.optional(),
    envoyTcpAls: TELEMETRY_PROVIDER_KINDS.envoyTcpAls.optional(),
    envoyOtelAls: TELEMETRY_PROVIDER_KINDS.envoyOtelAls.optional(),
    sds: TELEMETRY_PROVIDER_KINDS.sds.optional(),
  })
  .superRefine((p, ctx) => {
    const kinds = Object.keys(p).filter((k) => k !== 'name');
    if (kinds.length > 1) ctx.addIssue({ code: 'custom', message: `exactly one provider kind per entry, found ${kinds.join(', ')}` });
  });
export type ExtensionProvider = z.infer<typeof extensionProvider>;

export const meshConfigSchema = z.looseObject({
  trustDomain: z.string().min(1).optional(),
  trustDomainAliases: stringList.optional(),
  rootNamespace: z.string().min(1).optional(),
  outboundTrafficPolicy: z.looseObject({ mode: z.enum(['ALLOW_ANY', 'REGISTRY_ONLY']).optional() }).optional(),
  ingressClass: z.string().optional(),
  ingressControllerMode: z.enum(['UNSPECIFIED', 'OFF', 'DEFAULT', 'STRICT']).optional(),
  ingressService: z.string().optional(),
  ingressSelector: z.string().optional(),
  discoverySelectors: z.array(z.unknown()).optional(),
  extensionProviders: z.array(extensionProvider).optional(),
  ...meshTelemetryFields,
});
export type MeshConfigFile = z.infer<typeof meshConfigSchema>;

/**
 * The mesh config the model reads: a file (MeshConfigFile) resolved with the command line's flags and
 * istiod's defaults (sources/mesh meshFromFile). One type for the daemon, the model and the tests.
 */
export interface MeshConfig {
  /** `cluster.local`: services are `name.ns.svc.<domainSuffix>` */
  readonly domainSuffix: string;
  readonly trustDomain: string;
  /** mesh-wide config (DestinationRules, PeerAuthentication, AuthorizationPolicy) lives here */
  readonly rootNamespace: string;
  /**
   * Where sidecars send traffic for hosts outside the registry: ALLOW_ANY (default) → PassthroughCluster,
   * REGISTRY_ONLY → BlackHoleCluster / a 502 virtual host (MeshConfig.outboundTrafficPolicy.mode)
   */
  readonly outboundTrafficPolicy?: 'ALLOW_ANY' | 'REGISTRY_ONLY';
  /** trust domains also accepted as this mesh's (MeshConfig.trustDomainAliases): AuthorizationPolicy principals match under each */
  readonly trustDomainAliases?: readonly string[];
  /** MeshConfig.extensionProviders: ext_authz kinds for CUSTOM AuthorizationPolicy, the others for Telemetry */
  readonly extensionProviders?: readonly ExtensionProvider[];
  /** access logs, tracing and metrics defaults (model/telemetry.ts); absent: istiod's and Istio's chart's */
  readonly telemetry?: MeshTelemetry;
  /**
   * Kubernetes Ingress handling (MeshConfig ingressClass / ingressControllerMode / ingressService /
   * ingressSelector): which Ingresses meshd converts and which gateway pods serve them; absent: istiod's
   * defaults (class `istio`, STRICT, pods labelled istio=ingressgateway).
   */
  readonly ingress?: {
    readonly ingressClass?: string;
    readonly ingressControllerMode?: 'OFF' | 'DEFAULT' | 'STRICT';
    readonly ingressService?: string;
    readonly ingressSelector?: string;
  };
}

export const DEFAULT_MESH_CONFIG: MeshConfig = Object.freeze({
  domainSuffix: 'cluster.local',
  trustDomain: 'cluster.local',
  rootNamespace: 'istio-system',
});

/** Parses mesh config YAML; throws with `SOURCE: field.path: reason` for every problem. */
export function parseMeshConfig(text: string, source: string): MeshConfigFile {
  let raw: unknown;
  try {
    raw = YAML.parse(text);
  } catch (err) {
    throw new Error(`${source}: not YAML: ${(err as Error).message}`);
  }
  const parsed = meshConfigSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${source}: ${formatPath(i.path) || '(document)'}: ${i.message}`);
    throw new Error(lines.join('\n'));
  }
  return parsed.data;
}
