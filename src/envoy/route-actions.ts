import type { Percent } from '../config/schemas/common.js';
import type {
  CorsPolicy,
  HeaderOperations,
  HTTPDirectResponse,
  HTTPRedirect,
  HTTPRetry,
  HTTPRewrite,
} from '../config/schemas/virtual-service.js';
import { parseDuration } from '../config/schemas/common.js';
import { toDuration, ZERO_DURATION } from './duration.js';
import { envoyStringMatcher } from './envoy-match.js';
import { integerPercentToFractional, percentToFractional } from './percent.js';
import { DEFAULT_RETRY_ATTEMPTS, DEFAULT_RETRY_ON, parseRetryOn } from './route.js';
import { ANY_TYPE, anyOf } from './type-urls.js';
import type { J } from './json.js';

// VirtualService HTTPRoute pieces Envoy implements and proxyless gRPC does not, translated as istiod does
// for sidecars (pilot/pkg/networking/core/route/route.go, route/retry/retry.go).

// ---------------------------------------------------------------------------------------------------------
// redirect / direct response / rewrite

const REDIRECT_CODES: Readonly<Record<number, string>> = {
  301: 'MOVED_PERMANENTLY', 302: 'FOUND', 303: 'SEE_OTHER', 307: 'TEMPORARY_REDIRECT', 308: 'PERMANENT_REDIRECT',
};

/**
 * HTTPRedirect → RedirectAction (istiod applyRedirect). `derivePort: FROM_REQUEST_PORT` becomes the port the
 * route configuration serves (Envoy cannot derive it; istiod builds per port too); FROM_PROTOCOL_DEFAULT
 * leaves the port out. An unknown redirectCode falls back to 301 as istiod does.
 */
export function redirectAction(r: HTTPRedirect, listenPort: number): J {
  const out: J = {};
  if (r.authority) out.host_redirect = r.authority;
  if (r.uri) out.path_redirect = r.uri;
  else if (r.prefixRewrite) out.prefix_rewrite = r.prefixRewrite;
  if (r.scheme) out.scheme_redirect = r.scheme;
  if (r.port !== undefined) out.port_redirect = r.port;
  else if (r.derivePort === 'FROM_REQUEST_PORT') out.port_redirect = listenPort;
  out.response_code = REDIRECT_CODES[r.redirectCode ?? 301] ?? 'MOVED_PERMANENTLY';
  return out;
}

/** HTTPDirectResponse → DirectResponseAction with an inline body. */
export function directResponseAction(d: HTTPDirectResponse): J {
  const out: J = { status: d.status };
  if (d.body?.string !== undefined) out.body = { inline_string: d.body.string };
  else if (d.body?.bytes !== undefined) out.body = { inline_bytes: d.body.bytes };
  return out;
}

/** HTTPRewrite → RouteAction fields: prefix_rewrite, regex_rewrite, host_rewrite_literal. */
export function rewriteFields(rw: HTTPRewrite | undefined): J {
  const out: J = {};
  if (!rw) return out;
  if (rw.uri) out.prefix_rewrite = rw.uri;
  if (rw.uriRegexRewrite?.match !== undefined) {
    out.regex_rewrite = { pattern: { regex: rw.uriRegexRewrite.match }, substitution: rw.uriRegexRewrite.rewrite ?? '' };
  }
  if (rw.authority) out.host_rewrite_literal = rw.authority;
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// timeout

/**
 * Route timeout for Envoy (istiod setTimeout): the VirtualService timeout, else 0s (Istio disables Envoy's
 * 15 s default); `max_grpc_timeout` equal to it so gRPC's grpc-timeout header is honoured up to the same bound.
 */
export function envoyRouteTimeout(timeout: string | undefined): J {
  const d = toDuration(timeout) ?? ZERO_DURATION;
  return { timeout: d, max_grpc_timeout: d };
}

// ---------------------------------------------------------------------------------------------------------
// retries

/** The previous_hosts retry predicate: a retry goes to another endpoint. */
function previousHostsPredicate(): J {
  return { name: 'envoy.retry_host_predicates.previous_hosts', typed_config: anyOf(ANY_TYPE.PREVIOUS_HOSTS) };
}

/** istiod retry.DefaultPolicy (2 retries, 503 retriable); with consistent hashing no previous_hosts predicate. */
export function defaultEnvoyRetryPolicy(consistentHash: boolean): J {
  const out: J = { retry_on: DEFAULT_RETRY_ON, num_retries: { value: DEFAULT_RETRY_ATTEMPTS } };
  if (!consistentHash) out.retry_host_predicate = [previousHostsPredicate()];
  out.host_selection_retry_max_attempts = 5;
  out.retriable_status_codes = [503];
  return out;
}

/**
 * HTTPRetry → RetryPolicy (istiod retry.ConvertPolicy):
 * - none → the default policy; attempts ≤ 0 → no policy (retries off);
 * - retryOn: HTTP status codes go to retriable_status_codes (adding `retriable-status-codes` if absent);
 * - perTryTimeout → per_try_timeout; backoff → retry_back_off.base_interval;
 * - retryRemoteLocalities → retry_priority previous_priorities (update_frequency 2): retries prefer other
 *   localities;
 * - retryIgnorePreviousHosts: false removes the previous_hosts predicate.
 */
export function envoyRetryPolicy(retries: HTTPRetry | undefined, consistentHash: boolean): J | undefined {
  if (!retries) return defaultEnvoyRetryPolicy(consistentHash);
  if ((retries.attempts ?? 0) <= 0) return undefined;
  const out = defaultEnvoyRetryPolicy(consistentHash);
  out.num_retries = { value: retries.attempts };
  if (retries.retryOn) {
    const { tokens, statusCodes } = parseRetryOn(retries.retryOn);
    if (statusCodes.length > 0 && !tokens.includes('retriable-status-codes')) tokens.push('retriable-status-codes');
    out.retry_on = tokens.join(',');
    if (statusCodes.length > 0) out.retriable_status_codes = statusCodes;
    else delete out.retriable_status_codes;
  }
  const perTry = toDuration(retries.perTryTimeout);
  if (perTry) out.per_try_timeout = perTry;
  if (retries.retryRemoteLocalities) {
    out.retry_priority = {
      name: 'envoy.retry_priorities.previous_priorities',
      typed_config: anyOf(ANY_TYPE.PREVIOUS_PRIORITIES, { update_frequency: 2 }),
    };
  }
  if (retries.retryIgnorePreviousHosts === false) delete out.retry_host_predicate;
  const backoff = toDuration(retries.backoff);
  if (backoff) out.retry_back_off = { base_interval: backoff };
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// mirroring

/**
 * Mirror percentage (istiod MirrorPercent): `mirrorPercentage` (0 → no mirroring), else deprecated
 * `mirrorPercent` (0 → none), else 100 %.
 */
export function mirrorFraction(percentage: Percent | undefined, legacyPercent?: number | null): J | undefined {
  if (percentage) return (percentage.value ?? 0) > 0 ? { default_value: percentToFractional(percentage) } : undefined;
  if (legacyPercent !== undefined && legacyPercent !== null) {
    return legacyPercent > 0 ? { default_value: integerPercentToFractional(legacyPercent) } : undefined;
  }
  return { default_value: integerPercentToFractional(100) };
}

/** RouteAction.RequestMirrorPolicy (istiod TranslateRequestMirrorPolicy). */
export function mirrorPolicy(cluster: string, fraction: J): J {
  return { cluster, runtime_fraction: fraction, trace_sampled: { value: false } };
}

// ---------------------------------------------------------------------------------------------------------
// CORS

/**
 * CorsPolicy → envoy.extensions.filters.http.cors.v3.CorsPolicy for typed_per_filter_config (istiod
 * TranslateCORSPolicy): origins as string matchers (allowOrigins, else the deprecated exact allowOrigin),
 * lists joined with ",", maxAge in seconds, the filter enabled at 100 %, and unmatched preflights forwarded
 * unless `unmatchedPreflights: IGNORE`.
 */
export function corsPolicy(c: CorsPolicy): J {
  const out: J = { '@type': ANY_TYPE.CORS_POLICY };
  if (c.allowOrigins) {
    out.allow_origin_string_match = c.allowOrigins.map((m) => envoyStringMatcher(m)).filter((m) => m !== undefined);
  } else if (c.allowOrigin) {
    out.allow_origin_string_match = c.allowOrigin.map((o) => ({ exact: o }));
  }
  if (c.allowMethods) out.allow_methods = c.allowMethods.join(',');
  if (c.allowHeaders) out.allow_headers = c.allowHeaders.join(',');
  if (c.exposeHeaders) out.expose_headers = c.exposeHeaders.join(',');
  if (c.maxAge) out.max_age = String(Math.trunc((parseDuration(c.maxAge) ?? 0) / 1e9));
  if (c.allowCredentials !== undefined && c.allowCredentials !== null) out.allow_credentials = { value: c.allowCredentials };
  out.filter_enabled = { default_value: { numerator: 100, denominator: 'HUNDRED' } };
  out.forward_not_matching_preflights = { value: c.unmatchedPreflights !== 'IGNORE' };
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// headers

export interface HeaderFields {
  /** request_headers_to_add / response_headers_to_add / …_to_remove, only the non-empty ones */
  readonly fields: J;
  /** `:authority` / `host` set on requests: istiod turns it into host_rewrite_literal */
  readonly authority?: string;
}

function headerValueOptions(set: Record<string, string> | undefined, add: Record<string, string> | undefined, request: boolean): { options: J[]; authority?: string } {
  const options: J[] = [];
  let authority: string | undefined;
  for (const [key, value] of Object.entries(set ?? {})) {
    if (request && (key.toLowerCase() === ':authority' || key.toLowerCase() === 'host')) {
      authority = value;
      continue;
    }
    options.push({ header: { key, value }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' });
  }
  for (const [key, value] of Object.entries(add ?? {})) {
    options.push({ header: { key, value }, append_action: 'APPEND_IF_EXISTS_OR_ADD' });
  }
  return authority === undefined ? { options } : { options, authority };
}

/**
 * VirtualService `headers` → Route / WeightedCluster.ClusterWeight header fields (istiod
 * translateAppendHeaders): `set` overwrites, `add` appends, `remove` lists names; a request `set` of
 * `:authority`/`host` is returned as the authority to rewrite instead.
 */
export function headerFields(h: { request?: HeaderOperations; response?: HeaderOperations } | undefined): HeaderFields {
  const fields: J = {};
  if (!h) return { fields };
  const req = headerValueOptions(h.request?.set, h.request?.add, true);
  const resp = headerValueOptions(h.response?.set, h.response?.add, false);
  if (req.options.length > 0) fields.request_headers_to_add = req.options;
  if (h.request?.remove?.length) fields.request_headers_to_remove = [...h.request.remove];
  if (resp.options.length > 0) fields.response_headers_to_add = resp.options;
  if (h.response?.remove?.length) fields.response_headers_to_remove = [...h.response.remove];
  return req.authority === undefined ? { fields } : { fields, authority: req.authority };
}
