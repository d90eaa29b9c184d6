import { connectionFacts, selectFilterChain, selectListener, type ConnectionFacts } from './listener-match.js';
import { re2GlobalReplace } from '../regex/re2.js';
import { anyType, requestSchema, ResourceSet, wrapped, type Json, type SimRequest, type SimRequestInput } from './resources.js';
import {
  headerValue, parseQuery, pathWithoutQuery, selectRoute, selectVirtualHost, stripPort, type PathMatch, type RouteRequest,
} from './route-match.js';

// What Envoy would do with one request, given one proxy's LDS/RDS/CDS: listener → filter chain →
// network filter (HCM or tcp_proxy) → route configuration → virtual host → route → action, and the
// chosen clusters' CDS facts. Every step names what it chose so a test (or a user) can see why.

export const HCM_TYPE = 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
export const TCP_PROXY_TYPE = 'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';
export const FAULT_FILTER = 'envoy.filters.http.fault';
export const CORS_FILTER = 'envoy.filters.http.cors';

export interface WeightedCluster {
  readonly name: string;
  readonly weight: number;
}

export interface ClusterFacts {
  readonly name: string;
  /** false when the route names a cluster CDS does not have (Envoy answers 503 NC). */
  readonly found: boolean;
  readonly type?: string;
  readonly lbPolicy?: string;
  readonly edsServiceName?: string;
  /** The transport socket's type (e.g. UpstreamTlsContext), if the cluster always uses one. */
  readonly transportSocket?: string;
  readonly tls?: Json;
  /** transport_socket_matches names (auto-mTLS). */
  readonly transportSocketMatches: readonly string[];
  /** connect_timeout (Envoy's default 5s when unset). */
  readonly connectTimeout?: string;
  /** The DEFAULT-priority circuit breaker thresholds Envoy enforces (its defaults 1024/1024/1024/3 when unset). */
  readonly circuitBreakers?: CircuitBreakerFacts;
  readonly outlierDetection?: Json;
  /** common_lb_config.healthy_panic_threshold in percent (Envoy's default 50). */
  readonly healthyPanicThreshold?: number;
  /** slow_start_config of the lb policy that uses it (ROUND_ROBIN, LEAST_REQUEST); Envoy ignores it elsewhere. */
  readonly slowStart?: Json;
  /** common_lb_config.locality_weighted_lb_config: Envoy honours the assignment's locality weights. */
  readonly localityWeightedLb?: boolean;
  /** Upstream HTTP as the cluster's HttpProtocolOptions set it. */
  readonly upstreamHttp?: UpstreamHttpFacts;
  /** upstream_connection_options.tcp_keepalive, when SO_KEEPALIVE is on. */
  readonly tcpKeepalive?: Json;
  /** The EDS assignment's locality groups, when the resource set holds it (priority 0 is tried first). */
  readonly localities?: readonly LocalityFacts[];
  readonly resource: Json | undefined;
}

export interface CircuitBreakerFacts {
  readonly maxConnections: number;
  readonly maxPendingRequests: number;
  readonly maxRequests: number;
  readonly maxRetries: number;
}

export interface UpstreamHttpFacts {
  /** `http/1.1` and `h2` from explicit_http_config, `downstream` from use_downstream_protocol_config. */
  readonly protocol: 'http/1.1' | 'h2' | 'downstream';
  readonly idleTimeout?: string;
  readonly maxRequestsPerConnection?: number;
}

export interface LocalityFacts {
  /** `region/zone/subzone`, empty parts kept (`//` for endpoints without a locality). */
  readonly locality: string;
  readonly priority: number;
  readonly weight?: number;
  /** `address:port` of every endpoint in the group. */
  readonly endpoints: readonly string[];
}

export interface HeaderMutations {
  readonly requestHeadersToAdd: readonly Json[];
  readonly requestHeadersToRemove: readonly string[];
  readonly responseHeadersToAdd: readonly Json[];
  readonly responseHeadersToRemove: readonly string[];
}

export interface RouteOutcome {
  readonly routeConfiguration: string;
  readonly virtualHost: string;
  readonly domain: string;
  /** Route name (Istio names routes after the VirtualService rule) and index in the virtual host. */
  readonly routeName?: string;
  readonly routeIndex: number;
  readonly pathMatch: PathMatch;
  readonly action: 'route' | 'redirect' | 'direct_response' | 'non_forwarding' | 'filter_action';
  /** RouteAction: cluster or weighted clusters (weight as configured; total as Envoy computes). */
  readonly clusters: readonly WeightedCluster[];
  readonly totalWeight: number;
  /** The cluster the request's `random` value picks among weighted clusters (Envoy: random % total). */
  readonly pickedCluster?: string;
  readonly clusterHeader?: string;
  readonly timeout?: string;
  readonly retryPolicy?: Json;
  readonly hashPolicy: readonly Json[];
  readonly mirrors: readonly Json[];
  /** The :path and :authority sent upstream after prefix/regex/host rewrites. */
  readonly upstreamPath?: string;
  readonly upstreamAuthority?: string;
  readonly redirect?: { readonly location: string; readonly status: number; readonly config: Json };
  readonly directResponse?: { readonly status: number; readonly body?: string };
  /** typed_per_filter_config merged route over virtual host over route configuration (most specific wins). */
  readonly perFilterConfig: Readonly<Record<string, Json>>;
  readonly fault?: Json;
  readonly cors?: Json;
  readonly headers: {
    readonly route: HeaderMutations;
    readonly virtualHost: HeaderMutations;
    readonly routeConfiguration: HeaderMutations;
  };
  readonly route: Json;
}

export interface SimResult {
  readonly listener?: string;
  readonly handedOffFrom?: string;
  readonly connection?: ConnectionFacts;
  readonly filterChain?: string;
  readonly defaultFilterChain?: boolean;
  /** The chain's transport socket type (e.g. DownstreamTlsContext for mTLS), if it terminates TLS. */
  readonly filterChainTransportSocket?: string;
  readonly networkFilters: readonly string[];
  readonly httpFilters: readonly string[];
  /** tcp_proxy destinations (TCP and TLS passthrough chains). */
  readonly tcpClusters?: readonly WeightedCluster[];
  readonly http?: RouteOutcome;
  readonly clusters: readonly ClusterFacts[];
  /** Set when Envoy would not forward: which step found nothing. */
  readonly failure?: 'no_listener' | 'no_filter_chain' | 'no_route_configuration' | 'no_virtual_host' | 'no_route' | 'no_network_filter';
  readonly detail?: string;
}

// ---------------------------------------------------------------------------------------------------------

export function simulate(resources: ResourceSet, input: SimRequestInput): SimResult {
  const parsed = requestSchema.safeParse(input);
  if (!parsed.success) throw new Error(`simulator request: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const req = parsed.data;
  const empty = { networkFilters: [], httpFilters: [], clusters: [] };

  const lc = selectListener(resources.listeners, req);
  if (!lc) return { ...empty, failure: 'no_listener', detail: `no listener on ${req.destinationIp}:${req.entryPort || req.port}` };
  const base = { listener: lc.listener.name as string, ...(lc.handedOffFrom ? { handedOffFrom: lc.handedOffFrom } : {}) };
  const facts = connectionFacts(lc.listener, req);
  const fc = selectFilterChain(lc.listener, facts);
  if (!fc) return { ...empty, ...base, connection: facts, failure: 'no_filter_chain', detail: `listener ${base.listener} has no chain for ${JSON.stringify(facts)}` };
  const filters: Json[] = fc.chain.filters ?? [];
  const chainInfo = {
    ...base, connection: facts, filterChain: String(fc.chain.name ?? ''), defaultFilterChain: fc.isDefault,
    ...(fc.chain.transport_socket ? { filterChainTransportSocket: anyType(fc.chain.transport_socket.typed_config) } : {}),
    networkFilters: filters.map((f) => String(f.name ?? anyType(f.typed_config))),
  };

  const hcm = filters.find((f) => anyType(f.typed_config) === HCM_TYPE)?.typed_config;
  const tcp = filters.find((f) => anyType(f.typed_config) === TCP_PROXY_TYPE)?.typed_config;
  if (!hcm) {
    if (!tcp) return { ...chainInfo, httpFilters: [], clusters: [], failure: 'no_network_filter', detail: 'the chain has neither an HTTP connection manager nor tcp_proxy' };
    const tcpClusters = tcp.weighted_clusters
      ? (tcp.weighted_clusters.clusters ?? []).map((c: Json) => ({ name: String(c.name), weight: Number(wrapped<number>(c.weight) ?? 0) }))
      : [{ name: String(tcp.cluster), weight: 1 }];
    return { ...chainInfo, httpFilters: [], tcpClusters, clusters: tcpClusters.map((c: WeightedCluster) => clusterFacts(resources, c.name)) };
  }

  const httpFilters = (hcm.http_filters ?? []).map((f: Json) => String(f.name));
  const rc = hcm.route_config ?? (hcm.rds ? resources.routes.get(String(hcm.rds.route_config_name)) : undefined);
  if (!rc) {
    return { ...chainInfo, httpFilters, clusters: [], failure: 'no_route_configuration', detail: `route configuration ${JSON.stringify(hcm.rds?.route_config_name)} is not in RDS` };
  }
  const rreq = httpRequest(hcm, req, facts);
  const authority = headerValue(rreq.headers, ':authority') ?? '';
  const vhc = selectVirtualHost(rc, authority);
  if (!vhc) return { ...chainInfo, httpFilters, clusters: [], failure: 'no_virtual_host', detail: `route configuration ${rc.name} has no virtual host for ${JSON.stringify(authority)}` };
  const choice = selectRoute(vhc.virtualHost, rreq);
  if (!choice) {
    return { ...chainInfo, httpFilters, clusters: [], failure: 'no_route', detail: `virtual host ${vhc.virtualHost.name} has no route for ${rreq.method} ${rreq.path}` };
  }
  const outcome = routeOutcome(rc, vhc.virtualHost, vhc.domain, choice.route, choice.index, choice.pathMatch, rreq, req);
  const names = outcome.clusters.map((c) => c.name);
  for (const m of outcome.mirrors) if (m.cluster) names.push(String(m.cluster));
  return { ...chainInfo, httpFilters, http: outcome, clusters: [...new Set(names)].map((n) => clusterFacts(resources, n)) };
}

// ---------------------------------------------------------------------------------------------------------
// HTTP request as the router sees it

/** RFC 3986 remove_dot_segments, as HCM normalize_path does. */
function removeDotSegments(path: string): string {
  const out: string[] = [];
  for (const seg of path.split('/').slice(1)) {
    if (seg === '.') continue;
    if (seg === '..') out.pop();
    else out.push(seg);
  }
  const last = path.split('/').pop();
  return `/${out.join('/')}${last === '.' || last === '..' ? '/' : ''}`;
}

function httpRequest(hcm: Json, req: SimRequest, facts: ConnectionFacts): RouteRequest {
  let path = req.path;
  const extra = Object.entries(req.query).map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
  if (extra) path += (path.includes('?') ? '&' : '?') + extra;
  const q = path.search(/[?#]/);
  let bare = q < 0 ? path : path.slice(0, q);
  const rest = q < 0 ? '' : path.slice(q);
  if (wrapped<boolean>(hcm.normalize_path) === true) bare = removeDotSegments(bare);
  if (hcm.merge_slashes === true) bare = bare.replace(/\/{2,}/g, '/');
  path = bare + rest;

  const headers = new Map<string, string[]>();
  for (const [k, v] of Object.entries(req.headers)) headers.set(k.toLowerCase(), Array.isArray(v) ? [...v] : [v]);
  let authority = req.host ?? headerValue(headers, ':authority') ?? headerValue(headers, 'host') ?? `${req.destinationIp}:${req.port}`;
  headers.delete('host');
  // HCM host port stripping happens before routing (strip_any_host_port / strip_matching_host_port).
  if (hcm.strip_any_host_port === true) authority = stripPort(authority);
  else if (hcm.strip_matching_host_port === true && authority.endsWith(`:${facts.destinationPort}`)) authority = stripPort(authority);
  headers.set(':authority', [authority]);
  headers.set(':path', [path]);
  headers.set(':method', [req.method.toUpperCase()]);
  headers.set(':scheme', [req.scheme]);
  return {
    headers, path, query: parseQuery(path), method: req.method.toUpperCase(), random: req.random,
    tlsPresented: facts.transportProtocol === 'tls',
  };
}

// ---------------------------------------------------------------------------------------------------------
// route action

function mutations(level: Json): HeaderMutations {
  return {
    requestHeadersToAdd: level.request_headers_to_add ?? [],
    requestHeadersToRemove: level.request_headers_to_remove ?? [],
    responseHeadersToAdd: level.response_headers_to_add ?? [],
    responseHeadersToRemove: level.response_headers_to_remove ?? [],
  };
}

const REDIRECT_CODES: Readonly<Record<string, number>> = {
  MOVED_PERMANENTLY: 301, FOUND: 302, SEE_OTHER: 303, TEMPORARY_REDIRECT: 307, PERMANENT_REDIRECT: 308,
};

/** Envoy's path rewrite: prefix_rewrite replaces what the path condition matched; regex_rewrite the path part. */
function rewritePath(cfg: Json, path: string, pm: PathMatch): string {
  if (cfg.prefix_rewrite !== undefined) {
    if (pm.kind === 'path') return String(cfg.prefix_rewrite) + path.slice(pathWithoutQuery(path).length);
    return String(cfg.prefix_rewrite) + path.slice(pm.matchedLength);
  }
  if (cfg.regex_rewrite !== undefined) {
    const bare = pathWithoutQuery(path);
    const rewritten = re2GlobalReplace(String(cfg.regex_rewrite.pattern?.regex ?? ''), bare, String(cfg.regex_rewrite.substitution ?? ''));
    return rewritten + path.slice(bare.length);
  }
  return path;
}

function redirectOutcome(r: Json, rreq: RouteRequest, pm: PathMatch): { location: string; status: number; config: Json } {
  const scheme = r.https_redirect === true ? 'https' : String(r.scheme_redirect ?? headerValue(rreq.headers, ':scheme') ?? 'http');
  const authority = headerValue(rreq.headers, ':authority') ?? '';
  let host = r.host_redirect !== undefined ? String(r.host_redirect) : authority;
  if (r.port_redirect !== undefined) host = `${stripPort(host)}:${r.port_redirect}`;
  let path: string;
  if (r.path_redirect !== undefined) {
    const p = String(r.path_redirect);
    path = p.includes('?') ? p : p + rreq.path.slice(pathWithoutQuery(rreq.path).length);
  } else {
    path = rewritePath(r, rreq.path, pm);
  }
  if (r.strip_query === true) path = pathWithoutQuery(path);
  return { location: `${scheme}://${host}${path}`, status: REDIRECT_CODES[String(r.response_code ?? 'MOVED_PERMANENTLY')] ?? 301, config: r };
}

function routeOutcome(rc: Json, vh: Json, domain: string, route: Json, index: number, pm: PathMatch, rreq: RouteRequest, req: SimRequest): RouteOutcome {
  const perFilterConfig: Record<string, Json> = {
    ...(rc.typed_per_filter_config ?? {}), ...(vh.typed_per_filter_config ?? {}), ...(route.typed_per_filter_config ?? {}),
  };
  const common = {
    routeConfiguration: String(rc.name), virtualHost: String(vh.name), domain, routeIndex: index, pathMatch: pm, route,
    ...(route.name ? { routeName: String(route.name) } : {}),
    perFilterConfig,
    ...(perFilterConfig[FAULT_FILTER] ? { fault: perFilterConfig[FAULT_FILTER] } : {}),
    headers: { route: mutations(route), virtualHost: mutations(vh), routeConfiguration: mutations(rc) },
  };
  const none = { clusters: [], totalWeight: 0, hashPolicy: [], mirrors: [] };
  const cors = perFilterConfig[CORS_FILTER] ?? route.route?.cors ?? vh.cors;
  const withCors = cors ? { cors } : {};
  if (route.redirect) return { ...common, ...none, ...withCors, action: 'redirect', redirect: redirectOutcome(route.redirect, rreq, pm) };
  if (route.direct_response) {
    const body = route.direct_response.body;
    const text = body?.inline_string ?? (body?.inline_bytes !== undefined ? Buffer.from(String(body.inline_bytes), 'base64').toString() : undefined);
    return {
      ...common, ...none, ...withCors, action: 'direct_response',
      directResponse: { status: Number(route.direct_response.status), ...(text !== undefined ? { body: text } : {}) },
    };
  }
  if (route.non_forwarding_action) return { ...common, ...none, action: 'non_forwarding' };
  if (!route.route) return { ...common, ...none, action: 'filter_action' };

  const a: Json = route.route;
  let clusters: WeightedCluster[] = [];
  if (a.cluster !== undefined) clusters = [{ name: String(a.cluster), weight: 1 }];
  else if (a.weighted_clusters) {
    clusters = (a.weighted_clusters.clusters ?? []).map((c: Json) => ({ name: String(c.name), weight: Number(wrapped<number>(c.weight) ?? 0) }));
  }
  const totalWeight = clusters.reduce((s, c) => s + c.weight, 0);
  let pickedCluster: string | undefined;
  if (clusters.length === 1) pickedCluster = clusters[0]!.name;
  else if (totalWeight > 0) {
    // WeightedClusterEntry selection: random % total, walking the cumulative weights.
    let at = req.random % totalWeight;
    for (const c of clusters) {
      if (at < c.weight) { pickedCluster = c.name; break; }
      at -= c.weight;
    }
  }
  const upstreamPath = rewritePath(a, rreq.path, pm);
  const authority = headerValue(rreq.headers, ':authority') ?? '';
  const upstreamAuthority = a.host_rewrite_literal !== undefined ? String(a.host_rewrite_literal) : authority;
  return {
    ...common, ...withCors, action: 'route', clusters, totalWeight,
    ...(pickedCluster !== undefined ? { pickedCluster } : {}),
    ...(a.cluster_header !== undefined ? { clusterHeader: String(a.cluster_header) } : {}),
    // Envoy's route timeout defaults to 15 s when unset; Istio writes 0s (none) explicitly.
    timeout: durationText(a.timeout) ?? '15s',
    ...(a.retry_policy ?? vh.retry_policy ? { retryPolicy: a.retry_policy ?? vh.retry_policy } : {}),
    hashPolicy: a.hash_policy ?? [],
    mirrors: a.request_mirror_policies ?? [],
    upstreamPath, upstreamAuthority,
  };
}

/** google.protobuf.Duration as proto-JSON may carry it: "1.5s" or {seconds, nanos}. */
export function durationText(d: unknown): string | undefined {
  if (d === undefined || d === null) return undefined;
  if (typeof d === 'string') return d;
  const o = d as { seconds?: number | string; nanos?: number };
  const total = Number(o.seconds ?? 0) + Number(o.nanos ?? 0) / 1e9;
  return `${Number(total.toFixed(9))}s`;
}

// ---------------------------------------------------------------------------------------------------------
// clusters

export function clusterFacts(resources: ResourceSet, name: string): ClusterFacts {
  const c = resources.clusters.get(name);
  if (!c) return { name, found: false, transportSocketMatches: [], resource: undefined };
  const ts = c.transport_socket?.typed_config;
  const discovery = typeof c.type === 'string' ? c.type : c.cluster_type ? `cluster_type:${c.cluster_type.name}` : 'STATIC';
  const lbPolicy = String(c.lb_policy ?? 'ROUND_ROBIN');
  // EDS asks for service_name, or the cluster's own name without one
  const assignment = discovery === 'EDS' ? resources.endpoints.get(String(c.eds_cluster_config?.service_name || name)) : undefined;
  const slowStart = (lbPolicy === 'ROUND_ROBIN' ? c.round_robin_lb_config : lbPolicy === 'LEAST_REQUEST' ? c.least_request_lb_config : undefined)?.slow_start_config;
  const upstreamHttp = upstreamHttpFacts(c);
  return {
    name, found: true, type: discovery, lbPolicy,
    ...(c.eds_cluster_config?.service_name ? { edsServiceName: String(c.eds_cluster_config.service_name) } : {}),
    ...(ts ? { transportSocket: anyType(ts) } : {}),
    ...(ts && anyType(ts).endsWith('UpstreamTlsContext') ? { tls: ts } : {}),
    transportSocketMatches: (c.transport_socket_matches ?? []).map((m: Json) => String(m.name)),
    connectTimeout: durationText(c.connect_timeout) ?? '5s',
    circuitBreakers: circuitBreakerFacts(c.circuit_breakers),
    ...(c.outlier_detection ? { outlierDetection: c.outlier_detection } : {}),
    // type.v3.Percent, not a wrapper
    healthyPanicThreshold: Number(c.common_lb_config?.healthy_panic_threshold?.value ?? 50),
    ...(slowStart ? { slowStart } : {}),
    localityWeightedLb: c.common_lb_config?.locality_weighted_lb_config !== undefined,
    ...(upstreamHttp ? { upstreamHttp } : {}),
    ...(c.upstream_connection_options?.tcp_keepalive ? { tcpKeepalive: c.upstream_connection_options.tcp_keepalive } : {}),
    ...(assignment ? { localities: localityFacts(assignment) } : {}),
    resource: c,
  };
}

/** Envoy's thresholds for RoutingPriority DEFAULT: the configured ones, its built-in defaults for the rest. */
function circuitBreakerFacts(cb: Json | undefined): CircuitBreakerFacts {
  const t: Json = (cb?.thresholds ?? []).find((x: Json) => (x.priority ?? 'DEFAULT') === 'DEFAULT') ?? {};
  const num = (v: unknown, dflt: number) => Number(wrapped<number>(v) ?? dflt);
  return {
    maxConnections: num(t.max_connections, 1024),
    maxPendingRequests: num(t.max_pending_requests, 1024),
    maxRequests: num(t.max_requests, 1024),
    maxRetries: num(t.max_retries, 3),
  };
}

const HTTP_PROTOCOL_OPTIONS = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

function upstreamHttpFacts(c: Json): UpstreamHttpFacts | undefined {
  const o: Json | undefined = c.typed_extension_protocol_options?.[HTTP_PROTOCOL_OPTIONS];
  if (!o) return undefined;
  const protocol = o.use_downstream_protocol_config ? 'downstream' : o.explicit_http_config?.http2_protocol_options ? 'h2' : 'http/1.1';
  const common: Json = o.common_http_protocol_options ?? {};
  const idleTimeout = durationText(common.idle_timeout);
  const maxRequests = wrapped<number>(common.max_requests_per_connection);
  return {
    protocol,
    ...(idleTimeout !== undefined ? { idleTimeout } : {}),
    ...(maxRequests !== undefined ? { maxRequestsPerConnection: Number(maxRequests) } : {}),
  };
}

function localityFacts(cla: Json): LocalityFacts[] {
  return (cla.endpoints ?? []).map((g: Json) => {
    const l: Json = g.locality ?? {};
    const weight = wrapped<number>(g.load_balancing_weight);
    return {
      locality: `${l.region ?? ''}/${l.zone ?? ''}/${l.sub_zone ?? ''}`,
      priority: Number(g.priority ?? 0),
      ...(weight !== undefined ? { weight: Number(weight) } : {}),
      endpoints: (g.lb_endpoints ?? []).map((e: Json) => {
        const sa = e.endpoint?.address?.socket_address ?? {};
        return `${sa.address}:${sa.port_value}`;
      }),
    };
  });
}

export { ResourceSet };
