// HTTPRoute/GRPCRoute/TCPRoute/TLSRoute rules → Istio VirtualService route entries, as istiod converts them
// (pilot/pkg/config/kube/gateway conversion): matches, filters, retries, timeouts, weighted destinations and
// the per-rule error that ends up in the route's ResolvedRefs condition.

import type { ConfigError } from './conditions.js';
import { joinErrors } from './conditions.js';
import type {
  BackendRef,
  GRPCRouteMatch,
  GRPCRouteRule,
  HeaderFilter,
  HTTPRouteFilter,
  HTTPRouteMatch,
  HTTPRouteRule,
  L4RouteRule,
  PathModifier,
} from './objects.js';

type Json = Record<string, unknown>;

/** What a rule conversion needs to know about the world. */
export interface RouteContext {
  readonly domainSuffix: string;
  /** a Kubernetes Service namespace/name exists */
  serviceExists(namespace: string, name: string): boolean;
  /** the registry has this hostname visible from the namespace */
  hostnameExists(hostname: string, namespace: string): boolean;
  /** a ReferenceGrant lets `fromKind` objects in `fromNamespace` reach `toKind` name in `toNamespace` */
  backendAllowed(fromKind: string, toKind: string, name: string, toNamespace: string, fromNamespace: string): boolean;
}

export const REASON = {
  invalidDestination: 'InvalidDestination',
  refNotPermitted: 'RefNotPermitted',
  invalidKind: 'InvalidKind',
  backendNotFound: 'BackendNotFound',
  invalidFilter: 'InvalidFilter',
  invalidConfiguration: 'InvalidConfiguration',
} as const;

function isInvalidBackend(e: ConfigError): boolean {
  return e.reason === REASON.refNotPermitted || e.reason === REASON.backendNotFound || e.reason === REASON.invalidKind;
}

/** group/kind with defaults, as istiod's NormalizeReference (core kinds have group ""). */
export function normalizeKind(group: string | undefined, kind: string | undefined, def: { group: string; kind: string }) {
  return { group: group ?? def.group, kind: kind ?? def.kind };
}

// --- durations ------------------------------------------------------------------------------------------

const GO_DURATION = /^(?:(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns))+$/;
const UNIT_SECONDS: Record<string, number> = { h: 3600, m: 60, s: 1, ms: 1e-3, us: 1e-6, µs: 1e-6, ns: 1e-9 };

/** Go's time.ParseDuration (the Gateway API Duration format), in seconds; 0 when unparseable. */
export function parseGoDuration(s: string): number {
  if (!GO_DURATION.test(s)) return 0;
  let total = 0;
  for (const m of s.matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)/g)) total += Number(m[1]) * UNIT_SECONDS[m[2]!]!;
  return total;
}

/** protobuf JSON form of a Duration: "5s", "0.500s", "1.000000001s". */
export function protoDuration(seconds: number): string {
  const nanos = Math.round(seconds * 1e9);
  const whole = Math.trunc(nanos / 1e9);
  const frac = nanos % 1e9;
  if (frac === 0) return `${whole}s`;
  let digits = String(frac).padStart(9, '0');
  if (digits.endsWith('000000')) digits = digits.slice(0, 3);
  else if (digits.endsWith('000')) digits = digits.slice(0, 6);
  return `${whole}.${digits}s`;
}

// --- destinations -----------------------------------------------------------------------------------------

interface Destination {
  host?: string;
  port?: { number: number };
}

export function buildDestination(
  ctx: RouteContext,
  to: BackendRef,
  ns: string,
  enforceRefGrant: boolean,
  routeKind: string,
): { dest: Destination | undefined; error?: ConfigError } {
  const ref = normalizeKind(to.group, to.kind, { group: '', kind: 'Service' });
  if (enforceRefGrant && to.namespace !== undefined && to.namespace !== ns) {
    const toKind = ref.group === '' ? ref.kind : `${ref.group}/${ref.kind}`;
    if (!ctx.backendAllowed(routeKind, toKind, to.name, to.namespace, ns)) {
      return {
        dest: {},
        error: {
          reason: REASON.refNotPermitted,
          message: `backendRef ${to.name}/${to.namespace} not accessible to a ${routeKind} in namespace "${ns}" (missing a ReferenceGrant?)`,
        },
      };
    }
  }
  const namespace = to.namespace ?? ns;
  let hostname: string;
  let notFound: ConfigError | undefined;
  if (ref.group === '' && ref.kind === 'Service') {
    if (to.name.includes('.')) {
      return {
        dest: undefined,
        error: {
          reason: REASON.invalidDestination,
          message: 'service name invalid; the name of the Service must be used, not the hostname.',
        },
      };
    }
    hostname = `${to.name}.${namespace}.svc.${ctx.domainSuffix}`;
    if (!ctx.serviceExists(namespace, to.name)) {
      notFound = { reason: REASON.backendNotFound, message: `backend(${hostname}) not found` };
    }
  } else if (ref.group === 'networking.istio.io' && ref.kind === 'Hostname') {
    if (to.namespace !== undefined) {
      return { dest: undefined, error: { reason: REASON.invalidDestination, message: 'namespace may not be set with Hostname type' } };
    }
    hostname = to.name;
    if (!ctx.hostnameExists(hostname, namespace)) {
      notFound = { reason: REASON.backendNotFound, message: `backend(${hostname}) not found` };
    }
  } else if (ref.group === 'multicluster.x-k8s.io' && ref.kind === 'ServiceImport') {
    // Without MCS host support istiod treats a ServiceImport as the Service of the same name.
    hostname = `${to.name}.${namespace}.svc.${ctx.domainSuffix}`;
    if (!ctx.serviceExists(namespace, to.name)) {
      notFound = { reason: REASON.backendNotFound, message: `backend(${hostname}) not found` };
    }
  } else {
    return {
      dest: {},
      error: {
        reason: REASON.invalidKind,
        message: `referencing unsupported backendRef: group "${to.group ?? ''}" kind "${to.kind ?? ''}"`,
      },
    };
  }
  if (to.port === undefined) {
    return { dest: undefined, error: { reason: REASON.invalidDestination, message: 'port is required in backendRef' } };
  }
  return { dest: { host: hostname, port: { number: to.port } }, error: notFound };
}

function weightOf(b: BackendRef): number {
  return b.weight ?? 1;
}

function weightSum(refs: readonly BackendRef[] | undefined): number {
  return (refs ?? []).reduce((s, b) => s + weightOf(b), 0);
}

/** Routes with weight > 0, weights as istiod writes them (a single destination carries weight 0 = omitted). */
function weighted(refs: readonly BackendRef[]): { ref: BackendRef; weight: number }[] {
  const kept = refs.filter((b) => weightOf(b) !== 0).map((ref) => ({ ref, weight: weightOf(ref) }));
  if (kept.length === 1) kept[0]!.weight = 0;
  return kept;
}

type Fatal = { fatal: ConfigError };

function buildHTTPDestinations(
  ctx: RouteContext,
  refs: readonly BackendRef[] | undefined,
  ns: string,
  enforceRefGrant: boolean,
  routeKind: string,
): { routes: Json[]; backendError?: ConfigError } | Fatal {
  if (refs === undefined) return { routes: [] };
  let backendError: ConfigError | undefined;
  const routes: Json[] = [];
  for (const { ref, weight } of weighted(refs)) {
    const { dest, error } = buildDestination(ctx, ref, ns, enforceRefGrant, routeKind);
    if (error) {
      if (isInvalidBackend(error)) backendError = error;
      else return { fatal: error };
    }
    const rd: Json = { destination: dest };
    if (weight) rd.weight = weight;
    for (const f of ref.filters ?? []) {
      if (f.type === 'RequestHeaderModifier' || f.type === 'ResponseHeaderModifier') {
        const h = headerOperations(f.type === 'RequestHeaderModifier' ? f.requestHeaderModifier : f.responseHeaderModifier);
        if ('fatal' in h) return h;
        if (!h.ops) continue;
        const headers = (rd.headers ??= {}) as Json;
        headers[f.type === 'RequestHeaderModifier' ? 'request' : 'response'] = h.ops;
      } else {
        return { fatal: { reason: REASON.invalidFilter, message: `unsupported filter type "${f.type}"` } };
      }
    }
    routes.push(rd);
  }
  return { routes, backendError };
}

// --- filters --------------------------------------------------------------------------------------------

function isValidHeaderValue(v: string): boolean {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c === 0x09 || (c >= 0x20 && c !== 0x7f)) continue;
    return false;
  }
  return true;
}

function headerMap(list: readonly { name: string; value: string }[] | undefined): Record<string, string> | undefined {
  if (!list || list.length === 0) return undefined;
  const out: Record<string, string> = {};
  for (const h of list) {
    const k = h.name.toLowerCase();
    if (!(k in out)) out[k] = h.value; // "Subsequent entries with an equivalent header name MUST be ignored"
  }
  return out;
}

function headerOperations(f: HeaderFilter | undefined): { ops?: Json } | Fatal {
  if (!f) return {};
  for (const h of [...(f.set ?? []), ...(f.add ?? [])]) {
    if (!isValidHeaderValue(h.value)) {
      return { fatal: { reason: REASON.invalidFilter, message: `header "${h.name}" value contains invalid characters` } };
    }
  }
  const ops: Json = {};
  const add = headerMap(f.add);
  const set = headerMap(f.set);
  if (add) ops.add = add;
  if (f.remove && f.remove.length > 0) ops.remove = [...f.remove];
  if (set) ops.set = set;
  return { ops };
}

function redirectOf(f: NonNullable<HTTPRouteFilter['requestRedirect']>): Json {
  const r: Json = {};
  if (f.statusCode !== undefined) r.redirectCode = f.statusCode;
  if (f.hostname !== undefined) r.authority = f.hostname;
  if (f.scheme !== undefined) r.scheme = f.scheme;
  if (f.port !== undefined) r.port = f.port;
  else r.derivePort = f.scheme !== undefined ? 'FROM_PROTOCOL_DEFAULT' : 'FROM_REQUEST_PORT';
  if (f.path?.type === 'ReplaceFullPath') r.uri = f.path.replaceFullPath;
  else if (f.path?.type === 'ReplacePrefixMatch') r.prefixRewrite = f.path.replacePrefixMatch;
  return r;
}

function rewriteOf(f: { hostname?: string; path?: PathModifier } | undefined): Json | undefined {
  if (!f) return undefined;
  const r: Json = {};
  if (f.path?.type === 'ReplacePrefixMatch') {
    let uri = (f.path.replacePrefixMatch ?? '').replace(/\/$/, '');
    if (uri === '') uri = '/'; // `/` means removing the prefix
    r.uri = uri;
  } else if (f.path?.type === 'ReplaceFullPath') {
    r.uriRegexRewrite = { match: '/.*', rewrite: f.path.replaceFullPath ?? '' };
  }
  if (f.hostname !== undefined && f.hostname !== '') r.authority = f.hostname;
  return Object.keys(r).length === 0 ? undefined : r;
}

const escapeRegex = (s: string) => s.replace(/[\\.+*?()|[\]{}^$]/g, '\\$&');

function corsOf(f: NonNullable<HTTPRouteFilter['cors']>): Json {
  const c: Json = {};
  const origins: Json[] = [];
  for (const o of f.allowOrigins ?? []) {
    if (o === '') continue;
    if (o === '*') origins.push({ regex: '^[a-zA-Z][a-zA-Z0-9+.-]*://[^/\\s?#]+$' });
    else if (!o.includes('*')) origins.push({ exact: o });
    else if (o.indexOf('*') === o.length - 1) origins.push({ prefix: o.slice(0, -1) });
    else origins.push({ regex: `^${escapeRegex(o).replaceAll('\\*', '.*')}$` });
  }
  if (origins.length > 0) c.allowOrigins = origins;
  if (f.allowCredentials) c.allowCredentials = true;
  if (f.allowMethods?.length) c.allowMethods = [...f.allowMethods];
  if (f.allowHeaders?.length) c.allowHeaders = [...f.allowHeaders];
  if (f.exposeHeaders?.length) c.exposeHeaders = [...f.exposeHeaders];
  if (f.maxAge && f.maxAge > 0) c.maxAge = protoDuration(f.maxAge);
  c.unmatchedPreflights = 'IGNORE';
  return c;
}

function mirrorOf(
  ctx: RouteContext,
  f: NonNullable<HTTPRouteFilter['requestMirror']>,
  ns: string,
  enforceRefGrant: boolean,
  routeKind: string,
): { mirror?: Json; error?: ConfigError } {
  const { dest, error } = buildDestination(ctx, { ...f.backendRef, weight: 1 }, ns, enforceRefGrant, routeKind);
  if (error) return { error };
  const m: Json = { destination: dest };
  if (f.fraction) m.percentage = { value: (100 * f.fraction.numerator) / (f.fraction.denominator ?? 100) };
  else if (f.percent !== undefined) m.percentage = { value: f.percent };
  return { mirror: m };
}

// --- matches --------------------------------------------------------------------------------------------

function stringMatches(list: readonly { type?: string; name: string; value: string }[] | undefined, kind: string) {
  const out: Record<string, Json> = {};
  for (const h of list ?? []) {
    const tp = h.type ?? 'Exact';
    if (tp === 'Exact') out[h.name] = { exact: h.value };
    else if (tp === 'RegularExpression') out[h.name] = { regex: h.value };
    else return { fatal: { reason: REASON.invalidConfiguration, message: `unknown type: "${tp}" is not supported ${kind} type` } };
  }
  return { value: Object.keys(out).length > 0 ? out : undefined };
}

function uriMatch(m: HTTPRouteMatch): { value?: Json } | Fatal {
  const tp = m.path?.type ?? 'PathPrefix';
  let dest = m.path?.value ?? '/';
  switch (tp) {
    case 'PathPrefix':
      if (dest !== '/') dest = dest.replace(/\/$/, ''); // "When specified, a trailing `/` is ignored."
      return { value: { prefix: dest } };
    case 'Exact':
      return { value: { exact: dest } };
    case 'RegularExpression':
      return { value: { regex: dest } };
    default:
      return { fatal: { reason: REASON.invalidConfiguration, message: `unknown type: "${tp}" is not supported Path match type` } };
  }
}

function grpcUriMatch(m: GRPCRouteMatch): { value?: Json } | Fatal {
  const method = m.method;
  if (!method) return {};
  const tp = method.type ?? 'Exact';
  if (method.method === undefined && method.service === undefined) {
    return { fatal: { reason: REASON.invalidConfiguration, message: 'gRPC match must have method or service defined' } };
  }
  if (tp === 'Exact') {
    if (method.method === undefined) return { value: { prefix: `/${method.service}/` } };
    if (method.service === undefined) return { value: { regex: `/[^/]+/${method.method}` } };
    return { value: { exact: `/${method.service}/${method.method}` } };
  }
  if (tp === 'RegularExpression') {
    if (method.method === undefined) return { value: { regex: `/${method.service}/.+` } };
    if (method.service === undefined) return { value: { regex: `/[^/]+/${method.method}` } };
    return { value: { regex: `/${method.service}/${method.method}` } };
  }
  return { fatal: { reason: REASON.invalidConfiguration, message: `unknown type: "${tp}" is not supported Path match type` } };
}

// --- rules ------------------------------------------------------------------------------------------------

export type RuleResult<T> = { route: T; error?: ConfigError } | Fatal;

/** One HTTPRoute rule with at most one match (istiod splits multi-match rules) → one VirtualService http entry. */
export function convertHTTPRule(
  ctx: RouteContext,
  rule: HTTPRouteRule,
  match: HTTPRouteMatch | undefined,
  meta: { name: string; namespace: string },
  pos: number,
  enforceRefGrant: boolean,
): RuleResult<Json> {
  const vs: Json = { name: rule.name ?? `${meta.namespace}.${meta.name}.${pos}` };
  if (match) {
    const uri = uriMatch(match);
    if ('fatal' in uri) return uri;
    const headers = stringMatches(match.headers, 'HeaderMatch');
    if ('fatal' in headers) return headers as Fatal;
    const query = stringMatches(match.queryParams, 'QueryParams');
    if ('fatal' in query) return query as Fatal;
    const m: Json = {};
    if (headers.value) m.headers = headers.value;
    if (match.method !== undefined) m.method = { exact: match.method };
    if (query.value) m.queryParams = query.value;
    if (uri.value) m.uri = uri.value;
    vs.match = [m];
  }
  let mirrorError: ConfigError | undefined;
  for (const f of rule.filters ?? []) {
    switch (f.type) {
      case 'RequestHeaderModifier':
      case 'ResponseHeaderModifier': {
        const h = headerOperations(f.type === 'RequestHeaderModifier' ? f.requestHeaderModifier : f.responseHeaderModifier);
        if ('fatal' in h) return h;
        if (!h.ops) continue;
        const headers = (vs.headers ??= {}) as Json;
        headers[f.type === 'RequestHeaderModifier' ? 'request' : 'response'] = h.ops;
        break;
      }
      case 'RequestRedirect':
        if (f.requestRedirect) vs.redirect = redirectOf(f.requestRedirect);
        break;
      case 'RequestMirror': {
        if (!f.requestMirror) break;
        const { mirror, error } = mirrorOf(ctx, f.requestMirror, meta.namespace, enforceRefGrant, 'HTTPRoute');
        if (error) mirrorError = error;
        else ((vs.mirrors ??= []) as Json[]).push(mirror!);
        break;
      }
      case 'URLRewrite': {
        const r = rewriteOf(f.urlRewrite);
        if (r) vs.rewrite = r;
        else delete vs.rewrite;
        break;
      }
      case 'CORS':
        if (f.cors) vs.corsPolicy = corsOf(f.cors);
        break;
      default:
        return { fatal: { reason: REASON.invalidFilter, message: `unsupported filter type "${f.type}"` } };
    }
  }
  if (rule.retry) {
    const retryOn = ['connect-failure', 'refused-stream', 'unavailable', 'cancelled', ...(rule.retry.codes ?? []).map(String)];
    const attempts = rule.retry.attempts ?? 2;
    const retries: Json = {};
    if (attempts !== 0) {
      retries.attempts = attempts;
      retries.retryOn = retryOn.join(',');
    }
    if (rule.retry.backoff !== undefined) retries.backoff = protoDuration(parseGoDuration(rule.retry.backoff));
    vs.retries = retries;
  }
  if (rule.timeouts) {
    const request = rule.timeouts.request !== undefined ? parseGoDuration(rule.timeouts.request) : 0;
    if (request !== 0) vs.timeout = protoDuration(request);
    const backend = rule.timeouts.backendRequest !== undefined ? parseGoDuration(rule.timeouts.backendRequest) : 0;
    if (backend !== 0) {
      if (vs.retries) (vs.retries as Json).perTryTimeout = protoDuration(backend);
      else vs.timeout = protoDuration(backend);
    }
  }
  if (weightSum(rule.backendRefs) === 0 && vs.redirect === undefined) {
    // Per the Gateway API spec, when there are no backends with weight > 0 the answer is a 500.
    vs.directResponse = { status: 500 };
    return { route: vs, error: mirrorError };
  }
  const dests = buildHTTPDestinations(ctx, rule.backendRefs, meta.namespace, enforceRefGrant, 'HTTPRoute');
  if ('fatal' in dests) return dests;
  if (rule.backendRefs !== undefined) vs.route = dests.routes;
  return { route: vs, error: joinErrors(dests.backendError, mirrorError) };
}

export function convertGRPCRule(
  ctx: RouteContext,
  rule: GRPCRouteRule,
  match: GRPCRouteMatch | undefined,
  meta: { name: string; namespace: string },
  pos: number,
  enforceRefGrant: boolean,
): RuleResult<Json> {
  const vs: Json = { name: rule.name ?? `${meta.namespace}.${meta.name}.${pos}` };
  if (match) {
    const uri = grpcUriMatch(match);
    if ('fatal' in uri) return uri;
    const headers = stringMatches(match.headers, 'HeaderMatch');
    if ('fatal' in headers) return headers as Fatal;
    const m: Json = {};
    if (headers.value) m.headers = headers.value;
    if (uri.value) m.uri = uri.value;
    vs.match = [m];
  }
  for (const f of rule.filters ?? []) {
    switch (f.type) {
      case 'RequestHeaderModifier':
      case 'ResponseHeaderModifier': {
        const h = headerOperations(f.type === 'RequestHeaderModifier' ? f.requestHeaderModifier : f.responseHeaderModifier);
        if ('fatal' in h) return h;
        if (!h.ops) continue;
        const headers = (vs.headers ??= {}) as Json;
        headers[f.type === 'RequestHeaderModifier' ? 'request' : 'response'] = h.ops;
        break;
      }
      case 'RequestMirror': {
        if (!f.requestMirror) break;
        const { mirror, error } = mirrorOf(ctx, f.requestMirror, meta.namespace, enforceRefGrant, 'GRPCRoute');
        if (error) return { fatal: error };
        ((vs.mirrors ??= []) as Json[]).push(mirror!);
        break;
      }
      default:
        return { fatal: { reason: REASON.invalidFilter, message: `unsupported filter type "${f.type}"` } };
    }
  }
  if (weightSum(rule.backendRefs) === 0) {
    vs.directResponse = { status: 500 };
    return { route: vs };
  }
  const dests = buildHTTPDestinations(ctx, rule.backendRefs, meta.namespace, enforceRefGrant, 'GRPCRoute');
  if ('fatal' in dests) return dests;
  if (rule.backendRefs !== undefined) vs.route = dests.routes;
  return { route: vs, error: dests.backendError };
}

/** The route istiod writes when no backend has weight > 0: connections are refused by a cluster that does not exist. */
const ZERO_WEIGHT_ROUTE: Json = {
  destination: { host: 'internal.cluster.local', subset: 'zero-weight', port: { number: 65535 } },
};

function l4Destinations(
  ctx: RouteContext,
  refs: readonly BackendRef[] | undefined,
  ns: string,
  enforceRefGrant: boolean,
  routeKind: string,
): { routes?: Json[]; backendError?: ConfigError } | Fatal {
  if (refs === undefined) return {};
  let backendError: ConfigError | undefined;
  const routes: Json[] = [];
  for (const { ref, weight } of weighted(refs)) {
    const { dest, error } = buildDestination(ctx, ref, ns, enforceRefGrant, routeKind);
    if (error) {
      if (isInvalidBackend(error)) backendError = error;
      else return { fatal: error };
    }
    const rd: Json = { destination: dest };
    if (weight) rd.weight = weight;
    routes.push(rd);
  }
  return { routes, backendError };
}

export function convertTCPRule(
  ctx: RouteContext,
  rule: L4RouteRule,
  ns: string,
  enforceRefGrant: boolean,
): RuleResult<Json> {
  if (weightSum(rule.backendRefs) === 0) return { route: { route: [structuredClone(ZERO_WEIGHT_ROUTE)] } };
  const d = l4Destinations(ctx, rule.backendRefs, ns, enforceRefGrant, 'TCPRoute');
  if ('fatal' in d) return d;
  const route: Json = {};
  if (d.routes) route.route = d.routes;
  return { route, error: d.backendError };
}

export function convertTLSRule(
  ctx: RouteContext,
  rule: L4RouteRule,
  hostnames: readonly string[] | undefined,
  ns: string,
  enforceRefGrant: boolean,
): RuleResult<Json> {
  if (weightSum(rule.backendRefs) === 0) return { route: { route: [structuredClone(ZERO_WEIGHT_ROUTE)] } };
  const d = l4Destinations(ctx, rule.backendRefs, ns, enforceRefGrant, 'TLSRoute');
  if ('fatal' in d) return d;
  const route: Json = { match: [{ sniHosts: hostnames && hostnames.length > 0 ? [...hostnames] : ['*'] }] };
  if (d.routes) route.route = d.routes;
  return { route, error: d.backendError };
}

// --- ordering ---------------------------------------------------------------------------------------------

function uriRank(m: Json): number {
  const uri = m.uri as Json | undefined;
  if (!uri) return -1;
  if ('exact' in uri) return 3;
  if ('prefix' in uri) return 2;
  if ('regex' in uri) return 1;
  return -1;
}

function uriLength(m: Json): number {
  const uri = m.uri as Record<string, string> | undefined;
  if (!uri) return 0;
  return (uri.exact ?? uri.prefix ?? uri.regex ?? '').length;
}

/** Gateway API precedence: exact > prefix > regex path, longer first, method, more headers, more query params. */
export function sortHTTPRoutes(routes: Json[]): void {
  const before = (a: Json, b: Json): boolean => {
    const am = a.match as Json[] | undefined;
    const bm = b.match as Json[] | undefined;
    if (!am || am.length === 0) return false;
    if (!bm || bm.length === 0) return true;
    const m1 = am[0]!;
    const m2 = bm[0]!;
    const r1 = uriRank(m1);
    const r2 = uriRank(m2);
    if (r1 !== r2) return r1 > r2;
    const l1 = uriLength(m1);
    const l2 = uriLength(m2);
    if (l1 !== l2) return l1 > l2;
    if ((m1.method === undefined) !== (m2.method === undefined)) return m1.method !== undefined;
    const h1 = Object.keys((m1.headers as Json) ?? {}).length;
    const h2 = Object.keys((m2.headers as Json) ?? {}).length;
    if (h1 !== h2) return h1 > h2;
    return Object.keys((m1.queryParams as Json) ?? {}).length > Object.keys((m2.queryParams as Json) ?? {}).length;
  };
  // Stable sort with a strict "less" like Go's sort.SliceStable.
  const sorted = routes
    .map((r, i) => ({ r, i }))
    .sort((x, y) => (before(x.r, y.r) ? -1 : before(y.r, x.r) ? 1 : x.i - y.i));
  for (let i = 0; i < routes.length; i++) routes[i] = sorted[i]!.r;
}
