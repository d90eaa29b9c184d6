import type { EnvoyExtAuthzGrpcProvider, EnvoyExtAuthzHttpProvider, ExtensionProvider } from '../config/mesh-config.js';
import type { PushContext } from '../model/push-context.js';
import { lookupProviderCluster } from '../envoy/provider-cluster.js';
import { durationFromNanos, toDuration } from '../envoy/duration.js';
import { envoyRoot } from '../envoy/protos.js';
import type { J } from '../envoy/json.js';

// Mesh config `extensionProviders` → Envoy ext_authz filters for CUSTOM AuthorizationPolicies (istiod
// pilot/pkg/security/authz/builder/extauthz.go). A provider names a mesh service (`ns/host` or `host`) and a
// port; the filter calls it through that service's outbound cluster, which every sidecar already has.
//
// The RBAC filter in front of it (authz.ts) evaluates the CUSTOM policies' rules in shadow mode and leaves
// the id of the matching policy in dynamic metadata; ext_authz runs only when that id carries this
// provider's prefix (filter_enabled_metadata), so the authorization service is asked only about the
// requests the policies select. A provider that is missing or invalid makes the policies deny what they
// select instead (fail closed), as istiod does; why is reported as a warning.

/** What a provider resolves to: the filters' typed configs, or why it cannot be used. */
export interface ResolvedProvider {
  /** envoy.extensions.filters.http.ext_authz.v3.ExtAuthz (without filter_enabled_metadata) */
  readonly http?: J;
  /** envoy.extensions.filters.network.ext_authz.v3.ExtAuthz: gRPC providers only */
  readonly tcp?: J;
  readonly error?: string;
}

export const EXT_AUTHZ_MATCH_PREFIX = 'istio-ext-authz';
/** RBAC shadow_rules_stat_prefix of the CUSTOM RBAC filter; its metadata key is this + shadow_effective_policy_id */
export const EXT_AUTHZ_SHADOW_STAT_PREFIX = 'istio_ext_authz_';
/** envoy.config.core.v3.HttpUri.timeout is required; istiod's default is 600 s */
const DEFAULT_TIMEOUT = durationFromNanos(600e9);

function statusCodeNames(): ReadonlyMap<number, string> {
  const values = envoyRoot().lookupEnum('envoy.type.v3.StatusCode').values;
  return new Map(Object.entries(values).map(([name, code]) => [code, name]));
}
let statusCodes: ReadonlyMap<number, string> | undefined;

/** istiod parseStatusOnError: a number naming an envoy.type.v3.StatusCode. */
function statusOnError(status: string | undefined, errors: string[]): J | undefined {
  if (status === undefined || status === '') return undefined;
  statusCodes ??= statusCodeNames();
  const code = /^-?\d+$/.test(status) ? Number(status) : NaN;
  const name = statusCodes.get(code);
  if (name === undefined || name === 'Empty') {
    errors.push(`statusOnError ${JSON.stringify(status)} is not an HTTP status Envoy knows (e.g. "403", "503")`);
    return undefined;
  }
  return { code: name };
}

function lookupCluster(ctx: PushContext, service: string, port: number, errors: string[]): { hostname: string; cluster: string } | undefined {
  const found = lookupProviderCluster(ctx, service, port);
  if ('error' in found) {
    errors.push(found.error);
    return undefined;
  }
  return found;
}

function checkPort(port: number, errors: string[]): void {
  if (!(port >= 1 && port <= 65535)) errors.push(`port must be in the range [1, 65535], found ${port}`);
}

/** istiod generateHeaders: `x-*` prefix, `*-x` suffix, else exact; always case-insensitive. */
function headerPatterns(headers: readonly string[] | undefined): J | undefined {
  if (!headers || headers.length === 0) return undefined;
  return {
    patterns: headers.map((h) =>
      h.startsWith('*') ? { suffix: h.slice(1), ignore_case: true } : h.endsWith('*') ? { prefix: h.slice(0, -1), ignore_case: true } : { exact: h, ignore_case: true }),
  };
}

function withRequestBody(body: EnvoyExtAuthzHttpProvider['includeRequestBodyInCheck']): J | undefined {
  if (!body) return undefined;
  return {
    ...(body.maxRequestBytes !== undefined ? { max_request_bytes: body.maxRequestBytes } : {}),
    ...(body.allowPartialMessage ? { allow_partial_message: true } : {}),
    ...(body.packAsBytes ? { pack_as_bytes: true } : {}),
  };
}

function common(p: EnvoyExtAuthzHttpProvider | EnvoyExtAuthzGrpcProvider, status: J | undefined): J {
  const body = withRequestBody(p.includeRequestBodyInCheck);
  return {
    ...(status ? { status_on_error: status } : {}),
    ...(p.failOpen ? { failure_mode_allow: true } : {}),
    ...(p.clearRouteCache ? { clear_route_cache: true } : {}),
    transport_api_version: 'V3',
    ...(body ? { with_request_body: body } : {}),
  };
}

function resolveHttp(ctx: PushContext, p: EnvoyExtAuthzHttpProvider): ResolvedProvider {
  const errors: string[] = [];
  checkPort(p.port, errors);
  const target = lookupCluster(ctx, p.service, p.port, errors);
  const status = statusOnError(p.statusOnError, errors);
  if (p.pathPrefix && !p.pathPrefix.startsWith('/')) errors.push(`pathPrefix must begin with "/", found ${JSON.stringify(p.pathPrefix)}`);
  const lists = {
    includeRequestHeadersInCheck: p.includeRequestHeadersInCheck,
    includeHeadersInCheck: p.includeHeadersInCheck,
    headersToDownstreamOnDeny: p.headersToDownstreamOnDeny,
    headersToDownstreamOnAllow: p.headersToDownstreamOnAllow,
    headersToUpstreamOnAllow: p.headersToUpstreamOnAllow,
  };
  for (const [field, values] of Object.entries(lists)) {
    if (values?.includes('*')) errors.push(`${field}: a single wildcard "*" is not supported, use a prefix ("x-*") or suffix ("*-id") match`);
  }
  if (errors.length > 0 || !target) return { error: errors.join('; ') };

  // includeHeadersInCheck is the deprecated spelling, read only when the new field is absent
  const allowed = headerPatterns(p.includeRequestHeadersInCheck) ?? headerPatterns(p.includeHeadersInCheck);
  const additional = Object.keys(p.includeAdditionalHeadersInCheck ?? {}).sort().map((key) => ({ key, value: p.includeAdditionalHeadersInCheck![key]! }));
  const response = p.headersToUpstreamOnAllow?.length || p.headersToDownstreamOnDeny?.length || p.headersToDownstreamOnAllow?.length
    ? {
        ...(p.headersToUpstreamOnAllow?.length ? { allowed_upstream_headers: headerPatterns(p.headersToUpstreamOnAllow) } : {}),
        ...(p.headersToDownstreamOnDeny?.length ? { allowed_client_headers: headerPatterns(p.headersToDownstreamOnDeny) } : {}),
        ...(p.headersToDownstreamOnAllow?.length ? { allowed_client_headers_on_success: headerPatterns(p.headersToDownstreamOnAllow) } : {}),
      }
    : undefined;
  return {
    http: {
      ...common(p, status),
      // ExtAuthz.allowed_headers (HttpService's authorization_request.allowed_headers is deprecated)
      ...(allowed ? { allowed_headers: allowed } : {}),
      http_service: {
        // the uri is required but unused: requests go to the cluster
        server_uri: { uri: `http://${target.hostname}`, cluster: target.cluster, timeout: toDuration(p.timeout) ?? DEFAULT_TIMEOUT },
        ...(p.pathPrefix ? { path_prefix: p.pathPrefix } : {}),
        ...(additional.length > 0 ? { authorization_request: { headers_to_add: additional } } : {}),
        ...(response ? { authorization_response: response } : {}),
      },
    },
  };
}

function resolveGrpc(ctx: PushContext, p: EnvoyExtAuthzGrpcProvider): ResolvedProvider {
  const errors: string[] = [];
  checkPort(p.port, errors);
  const target = lookupCluster(ctx, p.service, p.port, errors);
  const status = statusOnError(p.statusOnError, errors);
  if (errors.length > 0 || !target) return { error: errors.join('; ') };
  // the authority names the service: the cluster name's `|` is not valid in a gRPC :authority
  const grpcService = { envoy_grpc: { cluster_name: target.cluster, authority: target.hostname }, timeout: toDuration(p.timeout) ?? DEFAULT_TIMEOUT };
  return {
    http: { ...common(p, status), grpc_service: grpcService },
    tcp: {
      stat_prefix: 'tcp.',
      grpc_service: grpcService,
      ...(p.failOpen ? { failure_mode_allow: true } : {}),
      transport_api_version: 'V3',
    },
  };
}

/** Every ext_authz provider of the mesh config by name (istiod processExtensionProvider). */
export function resolveExtensionProviders(ctx: PushContext): ReadonlyMap<string, ResolvedProvider> {
  const out = new Map<string, ResolvedProvider>();
  (ctx.mesh.extensionProviders ?? []).forEach((p: ExtensionProvider, i) => {
    if (!p.envoyExtAuthzHttp && !p.envoyExtAuthzGrpc) return;
    const problems: string[] = [];
    if (p.name === '') problems.push(`extension provider name must not be empty (extensionProviders[${i}])`);
    else if (out.has(p.name)) problems.push(`extension provider name must be unique, found a second ${JSON.stringify(p.name)}`);
    const resolved = p.envoyExtAuthzHttp ? resolveHttp(ctx, p.envoyExtAuthzHttp) : resolveGrpc(ctx, p.envoyExtAuthzGrpc!);
    if (resolved.error) problems.push(resolved.error);
    const name = p.name || `extensionProviders[${i}]`;
    out.set(name, problems.length > 0 ? { error: `extension provider ${JSON.stringify(name)}: ${problems.join('; ')}` } : resolved);
  });
  return out;
}

/** filter_enabled_metadata: run ext_authz only when the shadow RBAC matched one of this provider's policies. */
export function filterEnabledMetadata(rbacFilterName: string, provider: string): J {
  return {
    filter: rbacFilterName,
    path: [{ key: `${EXT_AUTHZ_SHADOW_STAT_PREFIX}shadow_effective_policy_id` }],
    value: { string_match: { prefix: `${EXT_AUTHZ_MATCH_PREFIX}-${provider}` } },
  };
}
