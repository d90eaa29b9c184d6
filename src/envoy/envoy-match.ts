import type { StringMatch } from '../config/schemas/common.js';
import type { HTTPMatchRequest } from '../config/schemas/virtual-service.js';
import { isPresenceMatch } from './matchers.js';
import { isJwtClaimHeader, PSEUDO_HEADER } from './route.js';
import type { J } from './json.js';

// VirtualService HTTPMatchRequest → envoy.config.route.v3.RouteMatch the way current istiod writes it for
// Envoy (route.TranslateRouteMatch): `string_match` header matchers, `safe_regex` without the deprecated
// engine field, case_sensitive only when ignoreUriCase, query parameters, and JWT-claim conditions as
// dynamic-metadata matchers on the JWT payload jwt_authn stores. The proxyless generator keeps its legacy spelling
// (matchers.ts) because gRPC C-core rejects string_match.

/** envoy.type.matcher.v3.StringMatcher (istiod util.ConvertToEnvoyMatch). */
export function envoyStringMatcher(m: StringMatch, ignoreCase = false): J | undefined {
  const ic = ignoreCase ? { ignore_case: true } : {};
  if (m.exact !== undefined) return { exact: m.exact, ...ic };
  if (m.prefix !== undefined) return { prefix: m.prefix, ...ic };
  if (m.regex !== undefined) return { safe_regex: { regex: m.regex } };
  return undefined;
}

/** route.v3.HeaderMatcher (istiod translateHeaderMatch); `invert` for withoutHeaders. */
export function envoyHeaderMatcher(name: string, m: StringMatch | undefined, invert = false): J {
  const out: J = { name };
  const present = isPresenceMatch(m);
  if (present) out.present_match = true;
  else out.string_match = envoyStringMatcher(m as StringMatch);
  if (invert) {
    out.invert_match = true;
    // "absent or different": a missing header must compare as "" rather than fail the matcher
    if (!present) out.treat_missing_header_as_empty = true;
  }
  return out;
}

/** The path specifier: exact → path, prefix → prefix, regex → safe_regex; none → prefix "/". */
export function envoyPathSpecifier(uri: StringMatch | undefined): J {
  if (uri?.exact !== undefined) return { path: uri.exact };
  if (uri?.prefix !== undefined) return { prefix: uri.prefix };
  if (uri?.regex !== undefined) return { safe_regex: { regex: uri.regex } };
  return { prefix: '/' };
}

/**
 * `@request.auth.claims.a.b` / `@request.auth.claims[a][b]` → the claim path [a, b] istiod matches under the
 * JWT payload jwt_authn puts in dynamic metadata.
 */
export function jwtClaimPath(header: string): string[] {
  const rest = header.slice('@request.auth.claims'.length);
  if (rest.startsWith('[')) return [...rest.matchAll(/\[([^\]]*)\]/g)].map((m) => m[1]!);
  return rest.replace(/^\./, '').split('.').filter(Boolean);
}

/**
 * A claim condition as a MetadataMatcher on `envoy.filters.http.jwt_authn` → `payload` → claim path
 * (istiod authz.MetadataMatcherForJWTClaims): the claim may be a list (one element matches) or a string.
 */
function claimMatcher(header: string, m: StringMatch | undefined, invert: boolean): J {
  const path = ['payload', ...jwtClaimPath(header)].map((key) => ({ key }));
  const one: J = isPresenceMatch(m) ? { present_match: true } : { string_match: envoyStringMatcher(m as StringMatch) };
  const value: J = { or_match: { value_matchers: [{ list_match: { one_of: one } }, one] } };
  return { filter: 'envoy.filters.http.jwt_authn', path, value, ...(invert ? { invert: true } : {}) };
}

function byName(a: J, b: J): number {
  const x = a.name as string;
  const y = b.name as string;
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * HTTPMatchRequest → RouteMatch. Headers (and withoutHeaders, inverted) sorted by name, then `:method`,
 * `:authority`, `:scheme`; query parameters sorted by name; a missing match is the catch-all prefix "/".
 */
export function envoyRouteMatch(match: HTTPMatchRequest | undefined): J {
  if (!match) return { prefix: '/' };
  const out: J = envoyPathSpecifier(match.uri);
  if (match.ignoreUriCase) out.case_sensitive = { value: false };
  const headers: J[] = [];
  const metadata: J[] = [];
  for (const [name, sm] of Object.entries(match.headers ?? {})) {
    if (isJwtClaimHeader(name)) metadata.push(claimMatcher(name, sm, false));
    else headers.push(envoyHeaderMatcher(name, sm));
  }
  for (const [name, sm] of Object.entries(match.withoutHeaders ?? {})) {
    if (isJwtClaimHeader(name)) metadata.push(claimMatcher(name, sm, true));
    else headers.push(envoyHeaderMatcher(name, sm, true));
  }
  headers.sort(byName);
  if (match.method) headers.push(envoyHeaderMatcher(PSEUDO_HEADER.METHOD, match.method));
  if (match.authority) headers.push(envoyHeaderMatcher(PSEUDO_HEADER.AUTHORITY, match.authority));
  if (match.scheme) headers.push(envoyHeaderMatcher(PSEUDO_HEADER.SCHEME, match.scheme));
  if (headers.length > 0) out.headers = headers;
  const query = Object.entries(match.queryParams ?? {})
    .map(([name, sm]): J => (isPresenceMatch(sm) ? { name, present_match: true } : { name, string_match: envoyStringMatcher(sm) }))
    .sort(byName);
  if (query.length > 0) out.query_parameters = query;
  if (metadata.length > 0) out.dynamic_metadata = metadata;
  return out;
}
