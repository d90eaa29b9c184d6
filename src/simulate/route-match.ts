import { metadataMatches } from './metadata-match.js';
import { re2FullMatch } from '../regex/re2.js';
import { wrapped, type Json } from './resources.js';

// Virtual host and route selection inside one RouteConfiguration, following Envoy's RouteMatcher and
// RouteEntryImplBase: the virtual host by :authority (exact, longest `*suffix`, longest `prefix*`, then
// `*`), then the first route, in order, whose every condition holds. Matchers are envoy.type.matcher.v3
// StringMatcher and config.route.v3 HeaderMatcher / QueryParameterMatcher, with Envoy's edge cases
// (missing headers, empty legacy exact values, multi-valued headers joined with ",").

/** Request headers by lower-case name (pseudo-headers included), each with all its values in order. */
export type HeaderMap = ReadonlyMap<string, readonly string[]>;

export class UnsupportedConfigError extends Error {}

// ---------------------------------------------------------------------------------------------------------
// matchers

/** envoy.type.matcher.v3.StringMatcher; `ignore_case` does not apply to safe_regex (as in Envoy). */
export function stringMatches(sm: Json, value: string): boolean {
  const ic = sm.ignore_case === true;
  const v = ic ? value.toLowerCase() : value;
  const c = (s: unknown) => (ic ? String(s).toLowerCase() : String(s));
  if (sm.exact !== undefined) return v === c(sm.exact);
  if (sm.prefix !== undefined) return v.startsWith(c(sm.prefix));
  if (sm.suffix !== undefined) return v.endsWith(c(sm.suffix));
  if (sm.contains !== undefined) return v.includes(c(sm.contains));
  if (sm.safe_regex !== undefined) return re2FullMatch(String(sm.safe_regex.regex ?? ''), value);
  throw new UnsupportedConfigError(`StringMatcher ${JSON.stringify(sm)}: no match specifier the simulator knows`);
}

/** Envoy's getAllOfHeaderAsString: all values of the header joined with ",", undefined when absent. */
export function headerValue(headers: HeaderMap, name: string): string | undefined {
  const vs = headers.get(name.toLowerCase());
  return vs && vs.length > 0 ? vs.join(',') : undefined;
}

/** config.route.v3.HeaderMatcher exactly as Envoy's HeaderUtility::matchHeaders evaluates it. */
export function headerMatches(hm: Json, headers: HeaderMap): boolean {
  const invert = hm.invert_match === true;
  const value = headerValue(headers, String(hm.name));
  const isPresent = hm.present_match !== undefined;
  if (value === undefined && hm.treat_missing_header_as_empty !== true) {
    // A missing header only satisfies `present_match: false` (or its inversion, `present_match: true` inverted).
    if (!isPresent) return false;
    return invert ? hm.present_match === true : hm.present_match === false;
  }
  const v = value ?? '';
  let match: boolean;
  if (hm.exact_match !== undefined) match = hm.exact_match === '' || v === hm.exact_match;
  else if (hm.safe_regex_match !== undefined) match = re2FullMatch(String(hm.safe_regex_match.regex ?? ''), v);
  else if (hm.range_match !== undefined) {
    // Int64Range [start, end); the whole value must be a decimal integer (absl::SimpleAtoi).
    const t = v.trim();
    match = /^[+-]?\d+$/.test(t) && BigInt(t) >= BigInt(hm.range_match.start ?? 0) && BigInt(t) < BigInt(hm.range_match.end ?? 0);
  } else if (isPresent) match = hm.present_match === true;
  else if (hm.prefix_match !== undefined) match = v.startsWith(hm.prefix_match);
  else if (hm.suffix_match !== undefined) match = v.endsWith(hm.suffix_match);
  else if (hm.contains_match !== undefined) match = v.includes(hm.contains_match);
  else if (hm.string_match !== undefined) match = stringMatches(hm.string_match, v);
  else match = true; // no specifier: any value of a present header
  return match !== invert;
}

/** Query string → parameters with percent-decoding, first value per name kept first (Envoy QueryParamsMulti). */
export function parseQuery(path: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const q = path.indexOf('?');
  if (q < 0) return out;
  const hash = path.indexOf('#', q);
  const query = path.slice(q + 1, hash < 0 ? undefined : hash);
  for (const part of query.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = decode(eq < 0 ? part : part.slice(0, eq));
    const value = eq < 0 ? '' : decode(part.slice(eq + 1));
    out.set(name, [...(out.get(name) ?? []), value]);
  }
  return out;
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** config.route.v3.QueryParameterMatcher against the first value of the parameter. */
export function queryParameterMatches(qm: Json, params: ReadonlyMap<string, readonly string[]>): boolean {
  const first = params.get(String(qm.name))?.[0];
  if (first === undefined) return false;
  if (qm.present_match === true) return true;
  if (qm.string_match === undefined) return true;
  return stringMatches(qm.string_match, first);
}

export function pathWithoutQuery(path: string): string {
  const cut = path.search(/[?#]/);
  return cut < 0 ? path : path.slice(0, cut);
}

// ---------------------------------------------------------------------------------------------------------
// virtual host

export interface VirtualHostChoice {
  readonly virtualHost: Json;
  /** Which domain entry matched (`*.foo`, `foo.*`, `*` or the exact one). */
  readonly domain: string;
}

/** Envoy's port stripping for :authority (an IPv6 literal keeps its brackets). */
export function stripPort(host: string): string {
  const m = /^(\[[^\]]*\]|[^:]*):\d+$/.exec(host);
  return m ? m[1]! : host;
}

export function selectVirtualHost(rc: Json, authority: string): VirtualHostChoice | undefined {
  let host = authority;
  if (rc.ignore_port_in_host_matching === true) host = stripPort(host);
  host = host.toLowerCase();
  const vhosts: Json[] = rc.virtual_hosts ?? [];
  const domains = vhosts.flatMap((vh) => (vh.domains ?? []).map((d: string) => ({ vh, d: d.toLowerCase() })));
  const exact = domains.find((e) => e.d === host);
  if (exact) return { virtualHost: exact.vh, domain: exact.d };
  // Longest suffix wildcard first; the wildcard never matches the empty string.
  const suffixes = domains.filter((e) => e.d.startsWith('*') && e.d !== '*').sort((a, b) => b.d.length - a.d.length);
  for (const e of suffixes) {
    const suffix = e.d.slice(1);
    if (host.length > suffix.length && host.endsWith(suffix)) return { virtualHost: e.vh, domain: e.d };
  }
  const prefixes = domains.filter((e) => e.d.endsWith('*') && e.d !== '*').sort((a, b) => b.d.length - a.d.length);
  for (const e of prefixes) {
    const prefix = e.d.slice(0, -1);
    if (host.length > prefix.length && host.startsWith(prefix)) return { virtualHost: e.vh, domain: e.d };
  }
  const any = domains.find((e) => e.d === '*');
  return any ? { virtualHost: any.vh, domain: '*' } : undefined;
}

// ---------------------------------------------------------------------------------------------------------
// route

export interface RouteRequest {
  readonly headers: HeaderMap;
  /** `:path` as Envoy routes on it (after HCM normalisation), with query string. */
  readonly path: string;
  readonly query: ReadonlyMap<string, readonly string[]>;
  readonly method: string;
  /** Sample for runtime_fraction (Envoy: a random number per request). */
  readonly random: number;
  readonly tlsPresented: boolean;
  /** dynamic metadata HTTP filters set before routing (jwt_authn's payload), filter name → value */
  readonly dynamicMetadata?: ReadonlyMap<string, unknown>;
}

/** How the path condition matched: the part `prefix_rewrite` replaces. */
export interface PathMatch {
  readonly kind: 'prefix' | 'path' | 'safe_regex' | 'path_separated_prefix' | 'connect_matcher';
  readonly matchedLength: number;
}

function pathMatches(match: Json, req: RouteRequest): PathMatch | undefined {
  const caseSensitive = wrapped<boolean>(match.case_sensitive) !== false;
  const eq = (a: string, b: string) => (caseSensitive ? a === b : a.toLowerCase() === b.toLowerCase());
  const bare = pathWithoutQuery(req.path);
  if (match.prefix !== undefined) {
    const p = String(match.prefix);
    return req.path.length >= p.length && eq(req.path.slice(0, p.length), p) ? { kind: 'prefix', matchedLength: p.length } : undefined;
  }
  if (match.path !== undefined) {
    return eq(bare, String(match.path)) ? { kind: 'path', matchedLength: bare.length } : undefined;
  }
  if (match.safe_regex !== undefined) {
    return re2FullMatch(String(match.safe_regex.regex ?? ''), bare) ? { kind: 'safe_regex', matchedLength: bare.length } : undefined;
  }
  if (match.path_separated_prefix !== undefined) {
    const p = String(match.path_separated_prefix);
    const ok = bare.length >= p.length && eq(bare.slice(0, p.length), p) && (bare.length === p.length || bare[p.length] === '/');
    return ok ? { kind: 'path_separated_prefix', matchedLength: p.length } : undefined;
  }
  if (match.connect_matcher !== undefined) {
    return req.method === 'CONNECT' ? { kind: 'connect_matcher', matchedLength: 0 } : undefined;
  }
  throw new UnsupportedConfigError(`RouteMatch ${JSON.stringify(match)}: path specifier not supported by the simulator`);
}

/** runtime_fraction: the default_value fraction (no runtime overrides), sampled with `random`. */
function runtimeFractionMatches(rf: Json | undefined, random: number): boolean {
  if (!rf) return true;
  const dv = rf.default_value ?? {};
  const denominators: Record<string, number> = { HUNDRED: 100, TEN_THOUSAND: 10_000, MILLION: 1_000_000 };
  const denominator = denominators[String(dv.denominator ?? 'HUNDRED')] ?? 100;
  return random % denominator < Number(dv.numerator ?? 0);
}

/** RouteEntryImplBase::matchRoute: every condition of config.route.v3.RouteMatch. */
export function routeMatches(match: Json, req: RouteRequest): PathMatch | undefined {
  if (match.path_match_policy !== undefined) {
    throw new UnsupportedConfigError('RouteMatch.path_match_policy (URI templates) is not supported by the simulator');
  }
  if (!runtimeFractionMatches(match.runtime_fraction, req.random)) return undefined;
  if (!(match.headers ?? []).every((h: Json) => headerMatches(h, req.headers))) return undefined;
  if (!(match.query_parameters ?? []).every((q: Json) => queryParameterMatches(q, req.query))) return undefined;
  if (match.grpc !== undefined && !(headerValue(req.headers, 'content-type') ?? '').startsWith('application/grpc')) return undefined;
  if (match.tls_context !== undefined) {
    const presented = wrapped<boolean>(match.tls_context.presented);
    if (presented !== undefined && presented !== req.tlsPresented) return undefined;
  }
  if (!((match.dynamic_metadata ?? []) as Json[]).every((m) => metadataMatches(m, req.dynamicMetadata ?? new Map()))) return undefined;
  return pathMatches(match, req);
}

export interface RouteChoice {
  readonly route: Json;
  readonly index: number;
  readonly pathMatch: PathMatch;
}

export function selectRoute(vh: Json, req: RouteRequest): RouteChoice | undefined {
  const routes: Json[] = vh.routes ?? [];
  for (let i = 0; i < routes.length; i++) {
    const pm = routeMatches(routes[i]!.match ?? {}, req);
    if (pm) return { route: routes[i]!, index: i, pathMatch: pm };
  }
  return undefined;
}
