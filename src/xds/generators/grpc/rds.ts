import { isIPv6 } from 'node:net';
import type { HTTPMatchRequest, HTTPRoute, HTTPRouteDestination } from '../../../config/schemas/virtual-service.js';
import { resolveHostname, type IndexedVirtualService, type PushContext } from '../../../model/push-context.js';
import type { Proxy } from '../../../model/proxy.js';
import type { MeshService } from '../../../model/types.js';
import { outboundClusterName } from '../../../envoy/cluster-name.js';
import {
  clusterSpecifier,
  grpcRetryPolicy,
  hashPolicyFor,
  isCatchAllMatch,
  isJwtClaimHeader,
  routeTimeout,
  translateFault,
  translateRouteMatch,
} from '../../../envoy/route.js';
import { headerMatcher, isPresenceMatch } from '../../../envoy/matchers.js';
import { destinationConsistentHash, serviceConsistentHash } from '../../../envoy/traffic-policy.js';
import { labelsMatch } from '../../../config/labels.js';
import { FILTER_NAME } from '../../../envoy/type-urls.js';
import { parseRouteName, proxyDnsDomain } from './names.js';

// RDS for proxyless gRPC (Istio grpcgen rds.go → BuildSidecarOutboundVirtualHosts, for one host).
//
// The route configuration named `outbound|PORT||FQDN` (or a listener-style `host:port`) has one virtual
// host for the service: its domains are every authority a client may dial (FQDN, FQDN., the short forms
// for the proxy's namespace, the cluster IP; each with and without `:PORT`). Its routes come from the
// VirtualService for the host, else one default route to `outbound|PORT||FQDN`.
//
// VirtualService → gRPC, route by route (istiod TranslateRoute, restricted to what gRPC implements):
//   match.uri exact/prefix/regex      → path / prefix / safe_regex (google_re2)
//   match.ignoreUriCase               → case_sensitive: false
//   match.headers / withoutHeaders    → HeaderMatcher in the deprecated exact_match / prefix_match /
//                                       safe_regex_match / present_match form (C-core 1.51 NACKs
//                                       string_match); withoutHeaders inverts, and a value condition
//                                       becomes two routes, "absent" and "present but different"
//                                       (see grpcRouteMatches)
//   match.method / authority / scheme → `:method` / `:authority` / `:scheme` header matchers
//   match.port                        → the match applies only to that service port
//   match.sourceLabels / sourceNamespace / gateways → the match applies only to proxies they select
//   match.queryParams, `@request.auth.claims.*` headers → the match is dropped: gRPC has no query string
//                                       and no JWT filter, and would otherwise ignore the condition
//   route[] (weights, subsets, ports) → cluster / weighted_clusters of `outbound|PORT|SUBSET|FQDN`
//   timeout                           → timeout + max_stream_duration.max_stream_duration (0 = none)
//   retries                           → retry_policy with gRPC's retry_on codes (none set → istiod's
//                                       default: 2 retries on unavailable,cancelled)
//   fault                             → typed_per_filter_config[envoy.filters.http.fault]
//   DestinationRule consistentHash    → hash_policy (gRPC uses header hashing; others are ignored by it)
//   redirect, directResponse, delegate → the route is dropped: gRPC accepts only forwarding routes
//                                       (grpc-js NACKs the whole RouteConfiguration otherwise)
//   rewrite, headers, mirror(s), corsPolicy, match.statPrefix, retries Envoy-only knobs → not written:
//                                       gRPC implements none of them (istiod writes them; gRPC ignores
//                                       them — except CORS, whose per-route config makes grpc-js NACK)

export function buildRouteConfiguration(ctx: PushContext, proxy: Proxy, name: string): object | undefined {
  const parsed = parseRouteName(name, ctx, proxy);
  if (!parsed) return undefined;
  const { service, port } = parsed;
  if (!service || !service.ports.some((p) => p.port === port)) return { name, virtual_hosts: [] };
  return { name, virtual_hosts: [buildVirtualHost(ctx, proxy, service, port)] };
}

function buildVirtualHost(ctx: PushContext, proxy: Proxy, service: MeshService, port: number): object {
  return {
    name: `${service.hostname}:${port}`,
    domains: virtualHostDomains(service, port, proxyDnsDomain(ctx, proxy)),
    routes: buildRoutes(ctx, proxy, service, port),
  };
}

function withPort(host: string, port: number): string[] {
  const h = isIPv6(host) ? `[${host}]` : host;
  return [h, `${h}:${port}`];
}

/**
 * istiod generateVirtualHostDomains for a Kubernetes service seen from a proxy whose DNS domain is
 * `NS.svc.DOMAIN`: FQDN, absolute FQDN (trailing dot), then `name`, `name.ns.svc`, `name.ns` (`name` only
 * from the service's own namespace), then the cluster IP — each also with `:PORT`.
 */
export function virtualHostDomains(service: MeshService, port: number, proxyDomain: string): string[] {
  const host = service.hostname;
  const out = [...withPort(host, port), ...withPort(`${host}.`, port)];
  const svcIdx = host.indexOf('.svc.');
  const proxySvcIdx = proxyDomain.indexOf('.svc.');
  if (svcIdx > 0 && proxySvcIdx > 0 && host.endsWith(proxyDomain.slice(proxySvcIdx))) {
    const nameEnd = host.indexOf('.');
    const shortName = host.slice(0, nameEnd);
    const nameNs = host.slice(0, svcIdx);
    if (host.slice(nameEnd + 1, svcIdx) === proxyDomain.slice(0, proxySvcIdx)) out.push(...withPort(shortName, port));
    out.push(...withPort(`${nameNs}.svc`, port), ...withPort(nameNs, port));
  }
  if (service.clusterIP) out.push(...withPort(service.clusterIP, port));
  return [...new Set(out)];
}

function buildRoutes(ctx: PushContext, proxy: Proxy, service: MeshService, port: number): object[] {
  const vs = ctx.virtualServiceFor(proxy.namespace, service.hostname);
  if (vs) {
    const built = virtualServiceRoutes(ctx, proxy, vs, port);
    // istiod falls back to the default route when no route of the VirtualService applies to this proxy
    // and port; routes dropped as unsupported by gRPC still count as applying (their traffic must not
    // silently reach the default destination).
    if (built.applied) return built.routes;
  }
  return [defaultRoute(ctx, proxy, service, port)];
}

function defaultRoute(ctx: PushContext, proxy: Proxy, service: MeshService, port: number): object {
  const action: Record<string, unknown> = {
    cluster: outboundClusterName(service.hostname, port),
    ...routeTimeout(undefined, true),
  };
  const retry = grpcRetryPolicy(undefined);
  if (retry) action.retry_policy = retry;
  const hash = hashPolicyFor(serviceConsistentHash(ctx.destinationRuleFor(proxy.namespace, service.hostname, ctx.proxyLabels(proxy))?.config, port));
  if (hash) action.hash_policy = [hash];
  return { name: 'default', match: { prefix: '/' }, route: action };
}

/** istiod sourceMatchHTTP: `gateways` must name `mesh`; else sourceLabels ⊆ proxy labels and sourceNamespace. */
function sourceMatches(match: HTTPMatchRequest, ctx: PushContext, proxy: Proxy): boolean {
  if (match.gateways && match.gateways.length > 0) return match.gateways.includes('mesh');
  if (!labelsMatch(match.sourceLabels, ctx.proxyLabels(proxy), 'selects-all')) return false;
  return !match.sourceNamespace || match.sourceNamespace === proxy.namespace;
}

interface TranslatedRoutes {
  readonly routes: object[];
  /** some route of the VirtualService applied to this proxy and port (even if gRPC cannot express it) */
  readonly applied: boolean;
}

/** istiod BuildHTTPRoutesForVirtualService: in order, one route per applicable match, up to a catch-all. */
function virtualServiceRoutes(ctx: PushContext, proxy: Proxy, vs: IndexedVirtualService, port: number): TranslatedRoutes {
  const routes: object[] = [];
  let applied = false;
  for (const http of vs.config.spec.http ?? []) {
    let catchAll = false;
    if (!http.match || http.match.length === 0) {
      const r = translateRoute(ctx, proxy, vs, http, undefined, port);
      if (r) {
        applied = true;
        routes.push(...(r.routes ?? []));
      }
      catchAll = true;
    } else {
      for (const match of http.match) {
        const r = translateRoute(ctx, proxy, vs, http, match, port);
        if (!r) continue;
        applied = true;
        routes.push(...(r.routes ?? []));
        if (r.catchAll) {
          catchAll = true;
          break;
        }
      }
    }
    if (catchAll) break;
  }
  return { routes, applied };
}

interface TranslatedRoute {
  /** empty when the route applies but gRPC cannot express it (it is dropped) */
  readonly routes?: object[];
  readonly catchAll: boolean;
}

function translateRoute(
  ctx: PushContext,
  proxy: Proxy,
  vs: IndexedVirtualService,
  http: HTTPRoute,
  match: HTTPMatchRequest | undefined,
  port: number,
): TranslatedRoute | undefined {
  if (match) {
    if (match.port !== undefined && match.port !== 0 && match.port !== port) return undefined;
    if (!sourceMatches(match, ctx, proxy)) return undefined;
  }
  const routeMatches = grpcRouteMatches(match);
  const hasQuery = Object.keys(match?.queryParams ?? {}).length > 0;
  const hasJwt = [...Object.keys(match?.headers ?? {}), ...Object.keys(match?.withoutHeaders ?? {})].some(isJwtClaimHeader);
  // istiod's route would carry query_parameters / dynamic_metadata matchers: not a catch-all
  const catchAll = routeMatches.length === 1 && isCatchAllMatch(routeMatches[0]!) && !hasQuery && !hasJwt;
  const dropped = { catchAll };

  if (hasQuery || hasJwt) return dropped;
  if (http.redirect || http.directResponse || http.delegate) return dropped;
  const dests = http.route ?? [];
  if (dests.length === 0) return dropped;

  const clusters = dests.map((d) => ({ name: destinationCluster(ctx, vs, d, port), weight: d.weight ?? 0 }));
  const specifier = clusterSpecifier(clusters);
  if (!specifier) return dropped;

  const action: Record<string, unknown> = { ...specifier, ...routeTimeout(http.timeout, true) };
  const retry = grpcRetryPolicy(http.retries);
  if (retry) action.retry_policy = retry;
  const hashed = dests.length === 1 ? dests : dests.filter((d) => (d.weight ?? 0) > 0);
  const hashes = hashed
    .map((d) => hashPolicyFor(destinationConsistentHash(
      ctx.destinationRuleFor(proxy.namespace, destinationHost(ctx, vs, d), ctx.proxyLabels(proxy))?.config, d.destination.subset, d.destination.port?.number)))
    .filter((h): h is Record<string, unknown> => h !== undefined);
  if (hashes.length > 0) action.hash_policy = hashes;

  const name = (http.name ?? '') + (match?.name ? `.${match.name}` : '');
  const fault = translateFault(http.fault);
  const routes = routeMatches.map((routeMatch) => {
    const route: Record<string, unknown> = {};
    if (name) route.name = name;
    route.match = routeMatch;
    route.route = action;
    if (fault) route.typed_per_filter_config = { [FILTER_NAME.FAULT]: fault };
    return route;
  });
  return { routes, catchAll };
}

/** Beyond this many `withoutHeaders` value conditions the absent/present expansion is not done. */
const MAX_WITHOUT_HEADER_EXPANSION = 3;

/**
 * The RouteMatch(es) for one HTTPMatchRequest. `withoutHeaders: {h: <value match>}` means "h is absent or
 * does not match". Envoy expresses that with invert_match + treat_missing_header_as_empty; gRPC has no
 * treat_missing_header_as_empty, and C-core 1.51 never matches an inverted value matcher on an absent
 * header (grpc-js does), so for gRPC each such condition becomes two alternative routes:
 * `h` absent (present_match inverted), or `h` present and not matching (present_match + inverted value
 * matcher) — the same on every client. Presence conditions (`h: {}`) need no expansion.
 */
function grpcRouteMatches(match: HTTPMatchRequest | undefined): Record<string, unknown>[] {
  const without = Object.entries(match?.withoutHeaders ?? {}).filter(([name]) => !isJwtClaimHeader(name));
  const valueConditions = without.filter(([, sm]) => !isPresenceMatch(sm)).length;
  if (!match || without.length === 0 || valueConditions > MAX_WITHOUT_HEADER_EXPANSION) {
    return [translateRouteMatch(match, { headerStyle: 'legacy' })];
  }
  const base = translateRouteMatch({ ...match, withoutHeaders: undefined }, { headerStyle: 'legacy' });
  let variants: Record<string, unknown>[][] = [[]];
  for (const [name, sm] of without) {
    const absent = { name, present_match: true, invert_match: true };
    if (isPresenceMatch(sm)) {
      variants = variants.map((v) => [...v, absent]);
      continue;
    }
    const differs = { ...headerMatcher(name, sm, { style: 'legacy' }), invert_match: true };
    variants = variants.flatMap((v) => [[...v, absent], [...v, { name, present_match: true }, differs]]);
  }
  return variants.map((v) => ({ ...base, headers: [...((base.headers as Record<string, unknown>[] | undefined) ?? []), ...v] }));
}

function destinationHost(ctx: PushContext, vs: IndexedVirtualService, d: HTTPRouteDestination): string {
  return resolveHostname(d.destination.host, vs.namespace, ctx.mesh.domainSuffix);
}

/**
 * istiod GetDestinationCluster: `outbound|PORT|SUBSET|HOST` with the destination's port, else the
 * destination service's only port, else the port being routed.
 */
function destinationCluster(ctx: PushContext, vs: IndexedVirtualService, d: HTTPRouteDestination, listenPort: number): string {
  const host = destinationHost(ctx, vs, d);
  let port = d.destination.port?.number;
  if (port === undefined || port === 0) {
    const svc = ctx.service(host);
    port = svc && svc.ports.length === 1 ? svc.ports[0]!.port : listenPort;
  }
  return outboundClusterName(host, port, d.destination.subset ?? '');
}

