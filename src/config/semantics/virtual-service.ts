import type { Problem } from '../origin.js';
import { parseDuration, type StringMatch } from '../schemas/common.js';
import type {
  CorsPolicy,
  Destination,
  Headers,
  HTTPFaultInjection,
  HTTPMatchRequest,
  HTTPRoute,
  HTTPRouteDestination,
  HTTPRetry,
  RouteDestination,
  TCPRoute,
  TLSRoute,
  VirtualService,
} from '../schemas/virtual-service.js';
import {
  HEADER_NAME,
  Problems,
  at,
  checkDuration,
  checkExportTo,
  checkLabels,
  checkRegex,
  fqdnError,
  headerValueError,
  hostSubsetOf,
  hostsMatch,
  ipOrCidrError,
  isDNS1123Label,
  isIPAddress,
  isLowerDNS1123Label,
  portError,
  wildcardDomainError,
} from './util.js';

// VirtualService rules of istiod's validating webhook (pkg/config/validation: ValidateVirtualService,
// validateHTTPRoute, validateTLSRoute, validateTCPRoute and helpers), with messages that say why.

const MESH_GATEWAY = 'mesh';

/** HTTP methods a CORS policy may allow (Go's net/http method names plus `*`). */
const CORS_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', '*']);

/** `retryOn` policies Envoy understands (x-envoy-retry-on and x-envoy-retry-grpc-on). */
const RETRY_ON = new Set([
  '5xx', 'gateway-error', 'reset', 'reset-before-request', 'connect-failure', 'retriable-4xx', 'refused-stream',
  'retriable-status-codes', 'retriable-headers', 'envoy-ratelimited', 'http3-post-connect-failure',
  'cancelled', 'deadline-exceeded', 'internal', 'resource-exhausted', 'unavailable',
]);

/** HTTP status codes with a registered reason phrase (Go's http.StatusText), accepted in `retryOn`. */
const HTTP_STATUS_CODES = new Set([
  100, 101, 102, 103, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 307, 308,
  400, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416, 417, 418, 421, 422, 423,
  424, 425, 426, 428, 429, 431, 451, 500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511,
]);

/** gRPC status code names (https://github.com/grpc/grpc/blob/master/doc/statuscodes.md). */
const GRPC_STATUS = new Set([
  'OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS',
  'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED',
  'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED',
]);

const PSEUDO_HEADERS = new Set([':method', ':scheme', ':authority', ':path', ':status']);

const ONE_MB = 1024 * 1024;

/** `@request.auth.claims.sub` / `@request.auth.claims[sub]`: JWT claim based routing (gateways only). */
const isJwtClaimRoute = (name: string) => /^@request\.auth\.claims(\.|\[)./.test(name);

export function checkVirtualService(vs: VirtualService): Problem[] {
  const out = new Problems();
  const spec = vs.spec;
  const hosts = spec.hosts ?? [];
  const gateways = spec.gateways ?? [];
  const isDelegate = hosts.length === 0;

  if (isDelegate) {
    // A VirtualService without hosts can only be the target of another one's `delegate`.
    if (gateways.length > 0) out.add('spec.gateways', 'delegate virtual service (one without hosts) must have no gateways specified');
    if ((spec.tls ?? []).length > 0) out.add('spec.tls', 'delegate virtual service (one without hosts) must have no tls route specified');
    if ((spec.tcp ?? []).length > 0) out.add('spec.tcp', 'delegate virtual service (one without hosts) must have no tcp route specified');
  }

  let appliesToGateway = false;
  if (gateways.length > 0) {
    checkGatewayNames(out, 'spec.gateways', gateways);
    appliesToGateway = !gateways.includes(MESH_GATEWAY);
  }
  const appliesToMesh = !appliesToGateway;

  if (!appliesToGateway) {
    (spec.http ?? []).forEach((route, r) =>
      (route.match ?? []).forEach((m, i) => {
        for (const field of ['headers', 'withoutHeaders'] as const) {
          for (const key of Object.keys(m[field] ?? {})) {
            if (isJwtClaimRoute(key)) {
              out.add(at(at(at(`spec.http[${r}].match`, i), field), key), `JWT claim based routing (key: ${key}) is only supported for virtual services bound to gateways (spec.gateways without "mesh")`);
            }
          }
        }
      }),
    );
  }

  const sni = (spec.tls ?? []).some((t) => t.match.some((m) => m.sniHosts.length > 0));
  let allHostsValid = true;
  hosts.forEach((host, i) => {
    const err = appliesToGateway ? gatewayHostError(sni, host) : wildcardDomainError(host);
    if (err) {
      if (!isIPAddress(host)) {
        out.add(at('spec.hosts', i), err);
        allHostsValid = false;
      }
    } else if (appliesToMesh && host === '*') {
      out.add(at('spec.hosts', i), 'wildcard host * is not allowed for virtual services bound to the mesh gateway');
      allHostsValid = false;
    }
  });
  if (allHostsValid) {
    for (let i = 0; i < hosts.length; i++) {
      for (let j = i + 1; j < hosts.length; j++) {
        const a = hosts[i] as string;
        const b = hosts[j] as string;
        if (hostsMatch(a, b)) out.add(at('spec.hosts', j), `duplicate hosts in virtual service: ${a} & ${b} (one matches the other)`);
      }
    }
  }

  if ((spec.http ?? []).length === 0 && (spec.tcp ?? []).length === 0 && (spec.tls ?? []).length === 0) {
    out.add('spec', 'http, tcp or tls must be provided in virtual service');
  }
  (spec.http ?? []).forEach((route, i) => checkHTTPRoute(out, at('spec.http', i), route, isDelegate));
  (spec.tls ?? []).forEach((route, i) => checkTLSRoute(out, at('spec.tls', i), route, hosts, appliesToGateway));
  (spec.tcp ?? []).forEach((route, i) => checkTCPRoute(out, at('spec.tcp', i), route));
  checkExportTo(out, 'spec.exportTo', vs.metadata.namespace, spec.exportTo);
  return out.list;
}

/** Hosts of a gateway-bound VS: wildcard domains, plus `outbound_.PORT_._.HOST` SNI names for TLS passthrough. */
function gatewayHostError(sni: boolean, host: string): string | undefined {
  if (sni && host.startsWith('outbound_')) {
    const parts = host.split('_');
    if (parts.length < 4) return `domain name ${host} invalid, should follow 'outbound_.<PORT>_._.<HOSTNAME>' format`;
    const port = (parts[1] ?? '').replace(/^\.+|\.+$/g, '');
    const name = (parts[3] ?? '').replace(/^\.+|\.+$/g, '');
    if (!/[0-9]/.test(port)) return `domain name "${host}" invalid (label "${port}" invalid). should follow outbound_.<PORT>_._.<HOSTNAME> format`;
    if (!/[a-zA-Z]/.test(name)) return `domain name "${host}" invalid (label "${name}" invalid). should follow outbound_.<PORT>_._.<HOSTNAME> format`;
    return undefined;
  }
  return wildcardDomainError(host);
}

export function checkGatewayNames(out: Problems, path: string, names: readonly string[]): void {
  names.forEach((name, i) => {
    const p = at(path, i);
    const slash = name.indexOf('/');
    if (slash < 0) {
      // `mesh`, `my-gateway` or the legacy `my-gateway.my-namespace` form
      const err = fqdnError(name);
      if (err) out.add(p, `invalid gateway name "${name}": ${err}`);
      return;
    }
    const ns = name.slice(0, slash);
    const gw = name.slice(slash + 1);
    if (ns === '' || gw === '') {
      out.add(p, `invalid gateway "${name}": config namespace and gateway name cannot be empty (use <namespace>/<name>)`);
      return;
    }
    if (!isDNS1123Label(ns)) out.add(p, `invalid value for namespace: "${ns}" (must be a DNS-1123 label)`);
    if (!isDNS1123Label(gw)) out.add(p, `invalid value for gateway name: "${gw}" (must be a DNS-1123 label)`);
  });
}

// --- HTTP ----------------------------------------------------------------------------------------------------

function checkHTTPRoute(out: Problems, path: string, http: HTTPRoute, inDelegate: boolean): void {
  checkRouteConflicts(out, path, http, inDelegate);
  (http.match ?? []).forEach((m, i) => checkMatch(out, at(at(path, 'match'), i), m));
  checkHeaderOperations(out, at(path, 'headers'), http.headers);
  if (http.corsPolicy) checkCors(out, at(path, 'corsPolicy'), http.corsPolicy);
  if (http.fault) checkFault(out, at(path, 'fault'), http.fault);

  const mirrorPercent = http.mirrorPercent ?? http.mirror_percent;
  if (mirrorPercent !== undefined && mirrorPercent !== null && mirrorPercent > 100) {
    out.add(at(path, http.mirrorPercent != null ? 'mirrorPercent' : 'mirror_percent'), `mirror percent must have a max value of 100 (it has ${mirrorPercent})`);
  }
  const mp = http.mirrorPercentage?.value;
  if (mp !== undefined && (mp < 0 || mp > 100)) {
    out.add(at(at(path, 'mirrorPercentage'), 'value'), `mirror percentage ${mp} must be between 0 and 100`);
  }
  if (http.mirror) checkDestination(out, at(path, 'mirror'), http.mirror);
  (http.mirrors ?? []).forEach((mirror, i) => {
    const p = at(at(path, 'mirrors'), i);
    checkDestination(out, at(p, 'destination'), mirror.destination);
    const v = mirror.percentage?.value;
    if (v !== undefined && (v < 0 || v > 100)) out.add(at(at(p, 'percentage'), 'value'), `mirror percentage ${v} must be between 0 and 100`);
  });

  if (http.redirect) checkRedirect(out, at(path, 'redirect'), http.redirect);
  if (http.directResponse) checkDirectResponse(out, at(path, 'directResponse'), http.directResponse);
  if (http.retries) checkRetry(out, at(path, 'retries'), http.retries);
  checkRewrite(out, path, http);
  if (http.route) checkHTTPRouteDestinations(out, at(path, 'route'), http.route);
  checkDuration(out, at(path, 'timeout'), http.timeout);
  if (http.delegate && !http.delegate.name) {
    out.add(at(at(path, 'delegate'), 'name'), 'delegate must name the VirtualService it delegates to');
  }
}

function checkRouteConflicts(out: Problems, path: string, http: HTTPRoute, inDelegate: boolean): void {
  const hasRoute = (http.route ?? []).length > 0;
  if (http.delegate && !inDelegate) {
    // A root route hands the request to another VirtualService: only match (and delegate) belong here.
    if (http.redirect) out.add(at(path, 'redirect'), `root HTTP route${http.name ? ` ${http.name}` : ''} must not specify redirect: it delegates to ${http.delegate.namespace ? `${http.delegate.namespace}/` : ''}${http.delegate.name ?? ''}`);
    if (http.route) out.add(at(path, 'route'), `root HTTP route${http.name ? ` ${http.name}` : ''} must not specify route: it delegates to ${http.delegate.namespace ? `${http.delegate.namespace}/` : ''}${http.delegate.name ?? ''}`);
    if (http.directResponse) out.add(at(path, 'directResponse'), 'root HTTP route must not specify directResponse: it delegates');
    return;
  }
  if (inDelegate && http.delegate) {
    out.add(at(path, 'delegate'), 'delegate HTTP route cannot contain delegate (delegation is only one level deep)');
  }
  if (http.redirect) {
    if (hasRoute) out.add(path, 'HTTP route cannot contain both route and redirect');
    if (http.fault) out.add(at(path, 'fault'), 'HTTP route cannot contain both fault and redirect');
    if (http.rewrite) out.add(at(path, 'rewrite'), 'HTTP route rule cannot contain both rewrite and redirect');
    if (http.directResponse) out.add(at(path, 'directResponse'), 'HTTP route rule cannot contain both direct_response and redirect');
  } else if (http.directResponse) {
    if (hasRoute) out.add(path, 'HTTP route cannot contain both route and direct_response');
    if (http.fault) out.add(at(path, 'fault'), 'HTTP route cannot contain both fault and direct_response');
    if (http.rewrite) out.add(at(path, 'rewrite'), 'HTTP route rule cannot contain both rewrite and direct_response');
  } else if (!hasRoute) {
    out.add(path, 'HTTP route, redirect or direct_response is required (this rule has nowhere to send the request)');
  }
  if (http.mirror && (http.mirrors ?? []).length > 0) {
    out.add(path, 'HTTP route cannot contain both mirror and mirrors');
  }
}

/** Prefix must be non-empty for these fields (Envoy's StringMatcher); uri allows an empty prefix. */
function checkStringMatch(out: Problems, path: string, sm: StringMatch | undefined, allowEmptyPrefix = false): void {
  if (!sm) return;
  if (sm.prefix !== undefined && sm.prefix === '' && !allowEmptyPrefix) {
    out.add(at(path, 'prefix'), 'prefix string match should not be empty');
  }
  if (sm.regex !== undefined) checkRegex(out, at(path, 'regex'), sm.regex);
}

function checkHeaderMatchName(out: Problems, path: string, name: string): void {
  if (name === '') out.add(path, 'header name cannot be empty');
  else if (!isJwtClaimRoute(name) && !PSEUDO_HEADERS.has(name) && !HEADER_NAME.test(name)) {
    out.add(path, `header name ${JSON.stringify(name)} is not a valid header name (RFC 7230 token characters only)`);
  }
}

function checkMatch(out: Problems, path: string, m: HTTPMatchRequest): void {
  for (const [name, sm] of Object.entries(m.headers ?? {})) {
    const p = at(at(path, 'headers'), name);
    checkHeaderMatchName(out, p, name);
    checkStringMatch(out, p, sm);
  }
  for (const [name, sm] of Object.entries(m.withoutHeaders ?? {})) {
    const p = at(at(path, 'withoutHeaders'), name);
    checkHeaderMatchName(out, p, name);
    // `regex: "*"` is not RE2: Istio translates it to a presence match
    if (sm.regex !== '*') checkStringMatch(out, p, sm);
  }
  checkStringMatch(out, at(path, 'uri'), m.uri, true);
  checkStringMatch(out, at(path, 'scheme'), m.scheme);
  checkStringMatch(out, at(path, 'method'), m.method);
  checkStringMatch(out, at(path, 'authority'), m.authority);
  for (const [name, sm] of Object.entries(m.queryParams ?? {})) checkStringMatch(out, at(at(path, 'queryParams'), name), sm);
  if (m.port !== undefined && m.port !== 0) {
    const err = portError(m.port);
    if (err) out.add(at(path, 'port'), err);
  }
  checkLabels(out, at(path, 'sourceLabels'), m.sourceLabels);
  if (m.gateways) checkGatewayNames(out, at(path, 'gateways'), m.gateways);
  if (m.sourceNamespace && !isDNS1123Label(m.sourceNamespace)) {
    out.add(at(path, 'sourceNamespace'), `sourceNamespace match "${m.sourceNamespace}" is invalid (must be a namespace name)`);
  }
}

function isInternalHeader(name: string): boolean {
  return name.startsWith(':') || name.toLowerCase() === 'host';
}
function isAuthorityHeader(name: string): boolean {
  const n = name.toLowerCase();
  return n === ':authority' || n === 'host';
}

export function checkHeaderOperations(out: Problems, path: string, headers: Headers | undefined): void {
  if (!headers) return;
  const req = headers.request;
  const res = headers.response;
  const requestName = (p: string, name: string) => {
    if (name === '') out.add(p, 'header name cannot be empty');
    else if (isInternalHeader(name) && !isAuthorityHeader(name)) out.add(p, `invalid header ${JSON.stringify(name)}: header cannot have ":" prefix`);
  };
  const otherName = (p: string, name: string) => {
    if (name === '') out.add(p, 'header name cannot be empty');
    else if (name.toLowerCase() === 'host') out.add(p, `invalid header ${JSON.stringify(name)}: cannot set Host header`);
    else if (isInternalHeader(name)) out.add(p, `invalid header ${JSON.stringify(name)}: header cannot have ":" prefix`);
  };
  const value = (p: string, v: string) => {
    const err = headerValueError(v);
    if (err) out.add(p, err);
  };
  for (const op of ['add', 'set'] as const) {
    for (const [name, v] of Object.entries(req?.[op] ?? {})) {
      const p = at(at(at(path, 'request'), op), name);
      requestName(p, name);
      value(p, v);
    }
    for (const [name, v] of Object.entries(res?.[op] ?? {})) {
      const p = at(at(at(path, 'response'), op), name);
      otherName(p, name);
      value(p, v);
    }
  }
  (req?.remove ?? []).forEach((name, i) => otherName(at(at(at(path, 'request'), 'remove'), i), name));
  (res?.remove ?? []).forEach((name, i) => otherName(at(at(at(path, 'response'), 'remove'), i), name));
}

function checkCors(out: Problems, path: string, cors: CorsPolicy): void {
  (cors.allowOrigins ?? []).forEach((origin, i) => {
    const p = at(at(path, 'allowOrigins'), i);
    const match = origin.exact ?? origin.prefix ?? origin.regex ?? '';
    if (match === '') out.add(p, 'an allowOrigins entry needs a non-empty exact, prefix or regex');
    else if (origin.regex !== undefined) checkRegex(out, at(p, 'regex'), origin.regex);
  });
  (cors.allowMethods ?? []).forEach((m, i) => {
    if (!CORS_METHODS.has(m)) out.add(at(at(path, 'allowMethods'), i), `${JSON.stringify(m)} is not a supported HTTP method (${[...CORS_METHODS].join(', ')})`);
  });
  for (const field of ['allowHeaders', 'exposeHeaders'] as const) {
    (cors[field] ?? []).forEach((h, i) => {
      const p = at(at(path, field), i);
      if (h === '') out.add(p, 'header name cannot be empty');
      else if (h !== '*' && !HEADER_NAME.test(h)) out.add(p, `header name ${JSON.stringify(h)} is not a valid header name`);
    });
  }
  if (cors.maxAge !== undefined) {
    const before = out.list.length;
    checkDuration(out, at(path, 'maxAge'), cors.maxAge);
    const ns = parseDuration(cors.maxAge);
    if (out.list.length === before && ns !== undefined && ns % 1e9 !== 0) {
      out.add(at(path, 'maxAge'), `max_age duration "${cors.maxAge}" is accurate only to seconds precision`);
    }
  }
}

function percentageError(v: number): string | undefined {
  if (v < 0 || v > 100 || (v > 0 && v < 0.0001)) return `percentage ${v} is neither 0.0, nor in range [0.0001, 100.0]`;
  return undefined;
}

function checkFault(out: Problems, path: string, fault: HTTPFaultInjection): void {
  if (!fault.abort && !fault.delay) out.add(path, 'HTTP fault injection must have an abort and/or a delay');
  const abort = fault.abort;
  if (abort) {
    const p = at(path, 'abort');
    if (abort.percentage?.value !== undefined) {
      const err = percentageError(abort.percentage.value);
      if (err) out.add(at(at(p, 'percentage'), 'value'), err);
    }
    if (abort.grpcStatus !== undefined) {
      if (!GRPC_STATUS.has(abort.grpcStatus)) {
        out.add(at(p, 'grpcStatus'), `gRPC status ${JSON.stringify(abort.grpcStatus)} is not supported; use a code name such as NOT_FOUND or UNAVAILABLE (https://github.com/grpc/grpc/blob/master/doc/statuscodes.md)`);
      }
    } else if (abort.http2Error !== undefined) {
      out.add(at(p, 'http2Error'), 'HTTP/2 abort fault injection is not supported yet');
    } else if (abort.httpStatus !== undefined) {
      if (abort.httpStatus < 200 || abort.httpStatus > 600) out.add(at(p, 'httpStatus'), `HTTP status ${abort.httpStatus} is not in range 200-599`);
    } else {
      out.add(p, 'abort needs an error to return: set httpStatus or grpcStatus');
    }
  }
  const delay = fault.delay;
  if (delay) {
    const p = at(path, 'delay');
    if (delay.percentage?.value !== undefined) {
      const err = percentageError(delay.percentage.value);
      if (err) out.add(at(at(p, 'percentage'), 'value'), err);
    }
    if (delay.percent !== undefined && (delay.percent < 0 || delay.percent > 100)) {
      out.add(at(p, 'percent'), `percentage ${delay.percent} is not in range 0..100`);
    }
    if (delay.fixedDelay !== undefined) checkDuration(out, at(p, 'fixedDelay'), delay.fixedDelay);
    else if (delay.exponentialDelay !== undefined) {
      checkDuration(out, at(p, 'exponentialDelay'), delay.exponentialDelay);
      out.add(at(p, 'exponentialDelay'), 'exponentialDelay is not supported yet; use fixedDelay');
    } else {
      out.add(p, 'delay needs fixedDelay (how long to delay the request)');
    }
  }
}

export function checkDestination(out: Problems, path: string, d: Destination): void {
  const p = at(path, 'host');
  if (d.host === '') out.add(p, 'destination host is required');
  else if (d.host === '*') out.add(p, 'invalid destination host *: a destination must name one service (or a wildcard domain such as *.example.com)');
  else {
    const err = wildcardDomainError(d.host);
    if (err) out.add(p, err);
  }
  if (d.subset !== undefined) {
    if (d.subset === '') out.add(at(path, 'subset'), 'subset name cannot be empty');
    else if (!isDNS1123Label(d.subset)) out.add(at(path, 'subset'), `subset name is invalid: ${d.subset} (must be a DNS-1123 label)`);
  }
  if (d.port) {
    const err = portError(d.port.number ?? 0);
    if (err) out.add(at(at(path, 'port'), 'number'), err);
  }
}

function checkHTTPRouteDestinations(out: Problems, path: string, routes: readonly HTTPRouteDestination[]): void {
  routes.forEach((r, i) => checkHeaderOperations(out, at(at(path, i), 'headers'), r.headers));
  checkRouteDestinations(out, path, routes);
}

function checkRouteDestinations(out: Problems, path: string, routes: readonly RouteDestination[]): void {
  let total = 0;
  routes.forEach((r, i) => {
    const p = at(path, i);
    checkDestination(out, at(p, 'destination'), r.destination);
    const w = r.weight ?? 0;
    if (w < 0) out.add(at(p, 'weight'), `weight ${w} < 0`);
    total += w;
  });
  // Weights are relative (a destination gets weight/sum of the traffic), so they need not add up to 100,
  // but with several destinations at least one must get traffic.
  if (routes.length > 1 && total === 0) {
    out.add(path, `total destination weight = 0: with ${routes.length} destinations at least one needs a positive weight`);
  }
}

function checkRetry(out: Problems, path: string, r: HTTPRetry): void {
  const attempts = r.attempts ?? 0;
  if (attempts < 0) out.add(at(path, 'attempts'), 'attempts cannot be negative');
  if (attempts === 0 && (r.perTryTimeout !== undefined || (r.retryOn ?? '') !== '' || (r.retryRemoteLocalities !== undefined && r.retryRemoteLocalities !== null))) {
    out.add(path, 'http retry policy configured when attempts are set to 0 (disabled): set attempts > 0 or remove the policy');
  }
  checkDuration(out, at(path, 'perTryTimeout'), r.perTryTimeout);
  if (r.retryOn) {
    for (const policy of r.retryOn.split(',')) {
      const code = /^[-+]?\d+$/.test(policy) ? Number(policy) : 0;
      if (!HTTP_STATUS_CODES.has(code) && !RETRY_ON.has(policy)) {
        out.add(at(path, 'retryOn'), `${JSON.stringify(policy)} is not a valid retryOn policy (an HTTP status code or one of ${[...RETRY_ON].join(', ')})`);
      }
    }
  }
  checkDuration(out, at(path, 'backoff'), r.backoff);
}

function checkRedirect(out: Problems, path: string, r: NonNullable<HTTPRoute['redirect']>): void {
  if (!r.uri && !r.authority && r.port === undefined && r.derivePort === undefined && !r.scheme) {
    out.add(path, 'redirect must specify URI, authority, scheme, or port');
  }
  if (r.redirectCode !== undefined && r.redirectCode !== 0 && (r.redirectCode < 300 || r.redirectCode > 399)) {
    out.add(at(path, 'redirectCode'), `${r.redirectCode} is not a valid redirect code, must be 3xx`);
  }
  if (r.scheme && r.scheme !== 'http' && r.scheme !== 'https') {
    out.add(at(path, 'scheme'), `invalid redirect scheme ${JSON.stringify(r.scheme)}, must be "http" or "https"`);
  }
  if (r.port !== undefined && r.port > 0) {
    const err = portError(r.port);
    if (err) out.add(at(path, 'port'), err);
  }
}

function checkDirectResponse(out: Problems, path: string, d: NonNullable<HTTPRoute['directResponse']>): void {
  const size = d.body?.string !== undefined ? Buffer.byteLength(d.body.string) : d.body?.bytes !== undefined ? Buffer.from(d.body.bytes, 'base64').length : 0;
  if (size > ONE_MB) out.add(at(path, 'body'), `direct response body is ${size} bytes; large direct responses impact control plane performance and must be less than 1MB`);
  if (d.status < 200 || d.status > 600) out.add(at(path, 'status'), `HTTP status ${d.status} is not in range 200-599`);
}

function checkRewrite(out: Problems, routePath: string, http: HTTPRoute): void {
  const rw = http.rewrite;
  const path = at(routePath, 'rewrite');
  if (rw) {
    if (rw.uri && rw.uriRegexRewrite) out.add(path, 'rewrite may only contain one of uri or uriRegexRewrite');
    else if (!rw.uri && !rw.uriRegexRewrite && !rw.authority) {
      out.add(path, 'rewrite must specify at least one of uri, uriRegexRewrite, or authority');
    }
    const rr = rw.uriRegexRewrite;
    if (rr) {
      if (!rr.match || !rr.rewrite) out.add(at(path, 'uriRegexRewrite'), 'uriRegexRewrite requires both rewrite and match fields to be specified');
      else checkRegex(out, at(at(path, 'uriRegexRewrite'), 'match'), rr.match);
    }
  }
  // The authority may be rewritten in one place only.
  let current = rw?.authority ?? '';
  for (const op of ['set', 'add'] as const) {
    for (const [k, v] of Object.entries(http.headers?.request?.[op] ?? {})) {
      if (!isAuthorityHeader(k)) continue;
      if (current !== '') {
        out.add(at(at(at(at(routePath, 'headers'), 'request'), op), k), `authority header cannot be set multiple times: have ${JSON.stringify(current)}, attempting to set ${JSON.stringify(v)}`);
        return;
      }
      current = v;
    }
  }
}

// --- TLS and TCP ---------------------------------------------------------------------------------------------

function checkTLSRoute(out: Problems, path: string, tls: TLSRoute, hosts: readonly string[], appliesToGateway: boolean): void {
  if (tls.match.length === 0) out.add(at(path, 'match'), 'TLS route must have at least one match condition');
  tls.match.forEach((m, i) => {
    const p = at(at(path, 'match'), i);
    if (m.sniHosts.length === 0) out.add(at(p, 'sniHosts'), 'TLS match must have at least one SNI host');
    m.sniHosts.forEach((sni, j) => {
      const sp = at(at(p, 'sniHosts'), j);
      const err = appliesToGateway ? gatewayHostError(true, sni) : wildcardDomainError(sni);
      if (err) {
        if (!isIPAddress(sni)) out.add(sp, err);
        return; // an IP goes against the SNI spec; istiod only warns
      }
      if (!hosts.some((h) => hostSubsetOf(sni, h))) {
        out.add(sp, `SNI host "${sni}" is not a compatible subset of any of the virtual service hosts: [${hosts.join(', ')}]`);
      }
    });
    checkL4Match(out, p, m);
  });
  if ((tls.route ?? []).length === 0) out.add(at(path, 'route'), 'TLS route is required');
  checkRouteDestinations(out, at(path, 'route'), tls.route ?? []);
}

function checkTCPRoute(out: Problems, path: string, tcp: TCPRoute): void {
  (tcp.match ?? []).forEach((m, i) => checkL4Match(out, at(at(path, 'match'), i), m));
  if ((tcp.route ?? []).length === 0) out.add(at(path, 'route'), 'TCP route is required');
  checkRouteDestinations(out, at(path, 'route'), tcp.route ?? []);
}

function checkL4Match(
  out: Problems,
  path: string,
  m: { destinationSubnets?: string[] | undefined; port?: number | undefined; sourceLabels?: Record<string, string> | undefined; gateways?: string[] | undefined; sourceNamespace?: string | undefined },
): void {
  (m.destinationSubnets ?? []).forEach((s, i) => {
    const err = ipOrCidrError(s);
    if (err) out.add(at(at(path, 'destinationSubnets'), i), err);
  });
  if (m.port !== undefined && m.port !== 0) {
    const err = portError(m.port);
    if (err) out.add(at(path, 'port'), err);
  }
  checkLabels(out, at(path, 'sourceLabels'), m.sourceLabels);
  if (m.gateways) checkGatewayNames(out, at(path, 'gateways'), m.gateways);
  if (m.sourceNamespace && !isLowerDNS1123Label(m.sourceNamespace) && !isDNS1123Label(m.sourceNamespace)) {
    out.add(at(path, 'sourceNamespace'), `sourceNamespace "${m.sourceNamespace}" is invalid (must be a namespace name)`);
  }
}
