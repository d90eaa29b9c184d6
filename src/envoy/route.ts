import type { StringMatch } from '../config/schemas/common.js';
import type { ConsistentHashLB } from '../config/schemas/destination-rule.js';
import type { HTTPFaultInjection, HTTPMatchRequest, HTTPRetry } from '../config/schemas/virtual-service.js';
import { toDuration, ZERO_DURATION, type Duration } from './duration.js';
import { headerMatcher, isPresenceMatch, pathSpecifier, stringMatcher, type HeaderMatchStyle } from './matchers.js';
import { integerPercentToFractional, percentToFractional } from './percent.js';
import { ANY_TYPE, anyOf } from './type-urls.js';

// VirtualService HTTPRoute pieces → envoy.config.route.v3 pieces, shared by the proxyless-gRPC and the
// sidecar generators. Each function mirrors the istiod translation it is named after
// (pilot/pkg/networking/core/route); where gRPC needs a different shape the caller passes an option.

// ---------------------------------------------------------------------------------------------------------
// match

export interface RouteMatchOptions {
  readonly headerStyle: HeaderMatchStyle;
}

/** Pseudo-headers Istio matches `method`, `authority` and `scheme` against. */
export const PSEUDO_HEADER = { METHOD: ':method', AUTHORITY: ':authority', SCHEME: ':scheme' } as const;

/** Header names istiod routes on JWT claims (`@request.auth.claims.*`), which need Envoy's jwt_authn filter. */
export function isJwtClaimHeader(name: string): boolean {
  return name.startsWith('@request.auth.claims');
}

/**
 * HTTPMatchRequest → RouteMatch (istiod TranslateRouteMatch). A missing match is the catch-all `prefix: "/"`.
 * Headers are sorted by name (istiod guarantees the order), then `:method`, `:authority`, `:scheme`.
 * JWT-claim headers and query parameters are left to the caller (they are not header matchers).
 */
export function translateRouteMatch(match: HTTPMatchRequest | undefined, opts: RouteMatchOptions): Record<string, unknown> {
  if (!match) return { prefix: '/' };
  const out: Record<string, unknown> = { ...pathSpecifier(match.uri) };
  out.case_sensitive = { value: !match.ignoreUriCase };
  const headers: Record<string, unknown>[] = [];
  const sorted = (m: Record<string, StringMatch> | undefined) =>
    Object.entries(m ?? {}).filter(([name]) => !isJwtClaimHeader(name));
  for (const [name, sm] of sorted(match.headers)) headers.push(headerMatcher(name, sm, { style: opts.headerStyle }));
  for (const [name, sm] of sorted(match.withoutHeaders)) {
    headers.push(headerMatcher(name, sm, { style: opts.headerStyle, invert: true }));
  }
  headers.sort((a, b) => ((a.name as string) < (b.name as string) ? -1 : (a.name as string) > (b.name as string) ? 1 : 0));
  if (match.method) headers.push(headerMatcher(PSEUDO_HEADER.METHOD, match.method, { style: opts.headerStyle }));
  if (match.authority) headers.push(headerMatcher(PSEUDO_HEADER.AUTHORITY, match.authority, { style: opts.headerStyle }));
  if (match.scheme) headers.push(headerMatcher(PSEUDO_HEADER.SCHEME, match.scheme, { style: opts.headerStyle }));
  if (headers.length > 0) out.headers = headers;
  return out;
}

/** route.v3.QueryParameterMatcher list for `queryParams` (Envoy only: gRPC has no query string). */
export function translateQueryParams(match: HTTPMatchRequest | undefined): Record<string, unknown>[] {
  return Object.entries(match?.queryParams ?? {}).map(([name, sm]) =>
    isPresenceMatch(sm) ? { name, present_match: true } : { name, string_match: stringMatcher(sm) },
  );
}

/** istiod IsCatchAllRoute: prefix "/" (or regex ".*") with no header or query parameter conditions. */
export function isCatchAllMatch(m: Record<string, unknown>): boolean {
  const pathCatchAll = m.prefix === '/' || (m.safe_regex as { regex?: string } | undefined)?.regex === '.*';
  return pathCatchAll && !m.headers && !m.query_parameters && !m.dynamic_metadata;
}

// ---------------------------------------------------------------------------------------------------------
// destinations

export interface ClusterWeight {
  readonly name: string;
  readonly weight: number;
}

/**
 * The cluster specifier of a RouteAction. One destination → `cluster`; several → `weighted_clusters`
 * without the zero-weight ones (istiod applyHTTPRouteDestination). `total_weight` is set to the sum: the
 * field is deprecated in Envoy (which sums itself when it is unset) but clients that still read it
 * then agree with the sum, whatever the weights add up to (VirtualService weights are relative).
 * Returns undefined when every weight is 0 (nothing can be routed).
 */
export function clusterSpecifier(dests: readonly ClusterWeight[]): Record<string, unknown> | undefined {
  if (dests.length === 1) return { cluster: dests[0]!.name };
  const clusters = dests.filter((d) => d.weight > 0);
  const total = clusters.reduce((s, d) => s + d.weight, 0);
  if (clusters.length === 0 || total === 0) return undefined;
  return {
    weighted_clusters: {
      clusters: clusters.map((d) => ({ name: d.name, weight: { value: d.weight } })),
      total_weight: { value: total },
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// consistent hash

/** DestinationRule consistentHash → RouteAction.HashPolicy (istiod consistentHashToHashPolicy). */
export function hashPolicyFor(ch: ConsistentHashLB | undefined): Record<string, unknown> | undefined {
  if (!ch) return undefined;
  if (ch.httpHeaderName !== undefined) return { header: { header_name: ch.httpHeaderName } };
  if (ch.httpCookie) {
    const cookie: Record<string, unknown> = { name: ch.httpCookie.name };
    const ttl = toDuration(ch.httpCookie.ttl);
    if (ttl) cookie.ttl = ttl;
    if (ch.httpCookie.path) cookie.path = ch.httpCookie.path;
    return { cookie };
  }
  if (ch.useSourceIp) return { connection_properties: { source_ip: true } };
  if (ch.httpQueryParameterName !== undefined) return { query_parameter: { name: ch.httpQueryParameterName } };
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------
// timeout

/**
 * VirtualService `timeout` (none = no timeout, Istio's default) → RouteAction fields. istiod sets `timeout`
 * for Envoy and, for proxyless gRPC, `max_stream_duration.max_stream_duration` (gRFC A31: gRPC reads
 * only that; 0 means "use the application's deadline").
 */
export function routeTimeout(timeout: string | undefined, proxyless: boolean): Record<string, unknown> {
  const d: Duration = toDuration(timeout) ?? ZERO_DURATION;
  return proxyless ? { timeout: d, max_stream_duration: { max_stream_duration: d } } : { timeout: d };
}

// ---------------------------------------------------------------------------------------------------------
// fault

/** Istio's gRPC status names (the only values its validation accepts) → codes. */
export const GRPC_STATUS_CODES: Readonly<Record<string, number>> = Object.freeze({
  OK: 0, CANCELLED: 1, UNKNOWN: 2, INVALID_ARGUMENT: 3, DEADLINE_EXCEEDED: 4, NOT_FOUND: 5, ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7, RESOURCE_EXHAUSTED: 8, FAILED_PRECONDITION: 9, ABORTED: 10, OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12, INTERNAL: 13, UNAVAILABLE: 14, DATA_LOSS: 15, UNAUTHENTICATED: 16,
});

export function grpcStatusCode(name: string): number | undefined {
  const byName = GRPC_STATUS_CODES[name.toUpperCase()];
  if (byName !== undefined) return byName;
  return /^\d+$/.test(name) && Number(name) <= 16 ? Number(name) : undefined;
}

/**
 * HTTPFaultInjection → envoy.extensions.filters.http.fault.v3.HTTPFault as an Any (istiod TranslateFault),
 * or undefined when nothing translatable is left.
 * - delay: fixedDelay only (istiod drops exponentialDelay); `percentage` (double) → per-million,
 *   deprecated integer `percent` → per-hundred.
 * - abort: httpStatus → http_status, grpcStatus (name) → grpc_status code; http2Error is dropped.
 * - A missing percentage means "no request" in Istio's API, and Envoy reads an unset FractionalPercent as
 *   0 %; istiod leaves the field unset, which grpc-js rejects ("percentage unset" → NACK), so meshd writes
 *   the explicit 0 % every client reads the same way.
 */
export function translateFault(fault: HTTPFaultInjection | undefined): Record<string, unknown> | undefined {
  if (!fault) return undefined;
  const out: Record<string, unknown> = {};
  const d = fault.delay;
  if (d) {
    const fixed = toDuration(d.fixedDelay);
    if (fixed) {
      out.delay = {
        fixed_delay: fixed,
        percentage: d.percentage ? percentToFractional(d.percentage) : integerPercentToFractional(d.percent ?? 0),
      };
    }
  }
  const a = fault.abort;
  if (a) {
    const percentage = a.percentage ? percentToFractional(a.percentage) : integerPercentToFractional(0);
    if (a.httpStatus !== undefined) {
      out.abort = { http_status: a.httpStatus, percentage };
    } else if (a.grpcStatus !== undefined) {
      const code = grpcStatusCode(a.grpcStatus);
      if (code !== undefined) out.abort = { grpc_status: code, percentage };
    }
  }
  if (!out.delay && !out.abort) return undefined;
  return anyOf(ANY_TYPE.HTTP_FAULT, out);
}

// ---------------------------------------------------------------------------------------------------------
// retries

/** istiod's default `retry_on` (retry.DefaultPolicy) and attempts. */
export const DEFAULT_RETRY_ON = 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes';
export const DEFAULT_RETRY_ATTEMPTS = 2;

/** The `retry_on` values gRPC clients act on (gRFC A44); every other token is ignored by them. */
export const GRPC_RETRY_ON: ReadonlySet<string> = new Set([
  'cancelled', 'deadline-exceeded', 'internal', 'resource-exhausted', 'unavailable',
]);

/** `retryOn` split the way istiod does: integers that are HTTP status codes go to retriable_status_codes. */
export function parseRetryOn(retryOn: string): { tokens: string[]; statusCodes: number[] } {
  const tokens: string[] = [];
  const statusCodes: number[] = [];
  for (const raw of retryOn.split(',')) {
    const part = raw.trim();
    if (!part) continue;
    if (/^\d+$/.test(part) && Number(part) >= 100 && Number(part) <= 599) statusCodes.push(Number(part));
    else tokens.push(part);
  }
  return { tokens, statusCodes };
}

/**
 * HTTPRetry → RetryPolicy as a gRPC client reads it (istiod retry.ConvertPolicy, gRPC subset):
 * - no `retries` → istiod's default policy: 2 retries on connect-failure,refused-stream,unavailable,
 *   cancelled,retriable-status-codes, of which gRPC acts on `unavailable,cancelled`;
 * - `attempts <= 0` → no policy (retries explicitly off);
 * - `retryOn` keeps only gRPC's tokens (gRPC ignores the rest anyway); none left → no policy;
 * - perTryTimeout → per_try_timeout, backoff → retry_back_off.base_interval.
 * Envoy-only knobs (retriable_status_codes, retry_host_predicate, retryRemoteLocalities,
 * retryIgnorePreviousHosts) are not written.
 */
export function grpcRetryPolicy(retries: HTTPRetry | undefined): Record<string, unknown> | undefined {
  const grpcTokens = (retryOn: string) => parseRetryOn(retryOn).tokens.filter((t) => GRPC_RETRY_ON.has(t));
  if (!retries) {
    return { retry_on: grpcTokens(DEFAULT_RETRY_ON).join(','), num_retries: { value: DEFAULT_RETRY_ATTEMPTS } };
  }
  const attempts = retries.attempts ?? 0;
  if (attempts <= 0) return undefined;
  const tokens = grpcTokens(retries.retryOn || DEFAULT_RETRY_ON);
  if (tokens.length === 0) return undefined;
  const out: Record<string, unknown> = { retry_on: tokens.join(','), num_retries: { value: attempts } };
  const perTry = toDuration(retries.perTryTimeout);
  if (perTry) out.per_try_timeout = perTry;
  const backoff = toDuration(retries.backoff);
  if (backoff) out.retry_back_off = { base_interval: backoff };
  return out;
}
