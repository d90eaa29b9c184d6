import type { Destination, HTTPMatchRequest, HTTPRoute, HTTPRouteDestination } from '../../../config/schemas/virtual-service.js';
import { resolveHostname, type IndexedVirtualService, type PushContext } from '../../../model/push-context.js';
import type { Proxy } from '../../../model/proxy.js';
import type { MeshService } from '../../../model/types.js';
import { outboundClusterName, parseSubsetKey } from '../../../envoy/cluster-name.js';
import { envoyRouteMatch } from '../../../envoy/envoy-match.js';
import { hashPolicyFor, isCatchAllMatch, translateFault } from '../../../envoy/route.js';
import {
  corsPolicy,
  defaultEnvoyRetryPolicy,
  directResponseAction,
  envoyRetryPolicy,
  envoyRouteTimeout,
  headerFields,
  mirrorFraction,
  mirrorPolicy,
  redirectAction,
  rewriteFields,
} from '../../../envoy/route-actions.js';
import { destinationConsistentHash, serviceConsistentHash } from '../../../envoy/traffic-policy.js';
import { qualifiedGatewayName } from '../../../model/gateways.js';
import { labelsMatch } from '../../../config/labels.js';
import { FILTER_NAME } from '../../../envoy/type-urls.js';
import { jsonToStruct } from '../../../envoy/protos.js';
import type { J } from '../../../envoy/json.js';
import { virtualServiceVisibleFrom } from '../../../model/sidecar-scope.js';

// VirtualService http routes → envoy.config.route.v3.Route list for one service port of an Envoy sidecar
// (istiod BuildHTTPRoutesForVirtualService / TranslateRoute, sidecar flavour). See README "Envoy sidecar"
// for the field-by-field mapping.

const MESH_GATEWAY = 'mesh';

/**
 * Whether a match applies to this sidecar (istiod sourceMatchHTTP + port filter): `gateways` on the match
 * must name `mesh` (else the VirtualService's own gateways, already `mesh` for anything indexed for
 * sidecars); sourceLabels ⊆ proxy labels; sourceNamespace = proxy namespace; port = the service port.
 */
function matchApplies(
  match: HTTPMatchRequest,
  ctx: PushContext,
  proxy: Proxy,
  port: number,
  vsNamespace: string,
  gateways: ReadonlySet<string> | undefined,
): boolean {
  if (match.port !== undefined && match.port !== 0 && match.port !== port) return false;
  if (match.gateways && match.gateways.length > 0) {
    if (!gateways) {
      if (!match.gateways.includes(MESH_GATEWAY)) return false;
    } else if (!match.gateways.some((g) => gateways.has(qualifiedGatewayName(g, vsNamespace)))) return false;
  }
  if (!labelsMatch(match.sourceLabels, ctx.proxyLabels(proxy), 'selects-all')) return false;
  return !match.sourceNamespace || match.sourceNamespace === proxy.namespace;
}

function destinationHost(ctx: PushContext, vsNamespace: string, d: Destination): string {
  return resolveHostname(d.host, vsNamespace, ctx.mesh.domainSuffix);
}

/**
 * istiod GetDestinationCluster: `outbound|PORT|SUBSET|HOST` with the destination's port, else the
 * destination service's only port, else the port being routed.
 */
export function destinationCluster(ctx: PushContext, vsNamespace: string, d: Destination, listenPort: number): string {
  const host = destinationHost(ctx, vsNamespace, d);
  let port = d.port?.number;
  if (port === undefined || port === 0) {
    const svc = ctx.service(host);
    port = svc && svc.ports.length === 1 ? svc.ports[0]!.port : listenPort;
  }
  return outboundClusterName(host, port, d.subset ?? '');
}


/**
 * The tracing decorator istiod puts on every route (getRouteOperation): `host:port` of the single
 * destination cluster, else `vsName:port`, followed by the path (`prefix*`, exact path or regex).
 */
function routeOperation(route: J, vsName: string, port: number): string {
  const m = route.match as J;
  const path = typeof m.prefix === 'string' ? `${m.prefix}*` : typeof m.path === 'string' ? m.path : m.safe_regex ? (m.safe_regex as J).regex as string : '/*';
  const cluster = (route.route as J | undefined)?.cluster;
  const key = typeof cluster === 'string' ? parseSubsetKey(cluster) : undefined;
  return key ? `${key.hostname}:${key.port}${path}` : `${vsName}:${port}${path}`;
}

/** The route for a service port without a VirtualService (istiod BuildDefaultHTTPOutboundRoute). */
export function defaultHttpRoute(ctx: PushContext, proxy: Proxy, service: MeshService, port: number): J {
  const hash = hashPolicyFor(serviceConsistentHash(ctx.destinationRuleFor(proxy.namespace, service.hostname, ctx.proxyLabels(proxy))?.config, port));
  const action: J = { cluster: outboundClusterName(service.hostname, port), ...envoyRouteTimeout(undefined) };
  action.retry_policy = defaultEnvoyRetryPolicy(hash !== undefined);
  if (hash) action.hash_policy = [hash];
  return {
    name: 'default',
    match: { prefix: '/' },
    route: action,
    decorator: { operation: `${service.hostname}:${port}/*` },
  };
}

export interface BuiltRoutes {
  readonly routes: J[];
  /** some http route of the VirtualService applied to this proxy and port */
  readonly applied: boolean;
}

/** VirtualService exportTo (`.` own namespace, `*` all, else names; none = all) seen from `namespace`. */
export const exportedTo = virtualServiceVisibleFrom;

/** An HTTPRoute with the namespace its destinations are relative to (delegates keep their own). */
interface ScopedRoute {
  readonly http: HTTPRoute;
  readonly namespace: string;
  readonly vsName: string;
}

/**
 * The http routes of a root VirtualService with delegates expanded (istiod mergeVirtualServicesIfNeeded):
 * a root route with `delegate` is replaced by the delegate VirtualService's routes, each delegate match
 * merged with each root match (mergeHTTPMatchRequest); pairs that cannot both hold are dropped.
 */
function expandDelegates(ctx: PushContext, vs: IndexedVirtualService): ScopedRoute[] {
  const out: ScopedRoute[] = [];
  for (const http of vs.config.spec.http ?? []) {
    if (!http.delegate) {
      out.push({ http, namespace: vs.namespace, vsName: vs.config.metadata.name });
      continue;
    }
    const ns = http.delegate.namespace || vs.namespace;
    const delegate = ctx.virtualServices.find((d) => d.namespace === ns && d.config.metadata.name === http.delegate!.name);
    // a delegate must not itself name hosts (istiod ignores it then) and must be exported to the root's
    // namespace; a missing or invisible one routes nothing
    if (!delegate || (delegate.config.spec.hosts?.length ?? 0) > 0 || !exportedTo(delegate, vs.namespace)) continue;
    for (const child of delegate.config.spec.http ?? []) {
      if (child.delegate) continue; // istiod supports one level of delegation
      const merged = mergeMatches(http.match, child.match);
      if (merged === null) continue;
      out.push({ http: { ...child, match: merged }, namespace: delegate.namespace, vsName: delegate.config.metadata.name });
    }
  }
  return out;
}

type StringMatchT = NonNullable<HTTPMatchRequest['uri']>;

/** Root and delegate conditions on one field: the delegate's must lie within the root's; null = conflict. */
function mergeUri(root: StringMatchT | undefined, child: StringMatchT | undefined): StringMatchT | undefined | null {
  if (!root) return child;
  if (!child) return root;
  if (root.prefix !== undefined) {
    if (child.prefix !== undefined && child.prefix.startsWith(root.prefix)) return child;
    if (child.exact !== undefined && child.exact.startsWith(root.prefix)) return child;
    return null;
  }
  return JSON.stringify(root) === JSON.stringify(child) ? child : null;
}

function mergeRecords<T>(a: Record<string, T> | undefined, b: Record<string, T> | undefined): Record<string, T> | undefined | null {
  if (!a) return b;
  if (!b) return a;
  const out: Record<string, T> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    if (k in out && JSON.stringify(out[k]) !== JSON.stringify(v)) return null;
    out[k] = v;
  }
  return out;
}

function mergeOne(root: HTTPMatchRequest, child: HTTPMatchRequest): HTTPMatchRequest | null {
  const uri = mergeUri(root.uri, child.uri);
  const scheme = mergeUri(root.scheme, child.scheme);
  const method = mergeUri(root.method, child.method);
  const authority = mergeUri(root.authority, child.authority);
  const headers = mergeRecords(root.headers, child.headers);
  const withoutHeaders = mergeRecords(root.withoutHeaders, child.withoutHeaders);
  const queryParams = mergeRecords(root.queryParams, child.queryParams);
  const sourceLabels = mergeRecords(root.sourceLabels, child.sourceLabels);
  if ([uri, scheme, method, authority, headers, withoutHeaders, queryParams, sourceLabels].includes(null)) return null;
  if (root.port && child.port && root.port !== child.port) return null;
  if (root.sourceNamespace && child.sourceNamespace && root.sourceNamespace !== child.sourceNamespace) return null;
  const merged: HTTPMatchRequest = {
    ...root,
    ...child,
    name: [root.name, child.name].filter(Boolean).join('-') || undefined,
    uri: uri ?? undefined,
    scheme: scheme ?? undefined,
    method: method ?? undefined,
    authority: authority ?? undefined,
    headers: headers ?? undefined,
    withoutHeaders: withoutHeaders ?? undefined,
    queryParams: queryParams ?? undefined,
    sourceLabels: sourceLabels ?? undefined,
    port: child.port || root.port,
    sourceNamespace: child.sourceNamespace || root.sourceNamespace,
    gateways: root.gateways ?? child.gateways,
    ignoreUriCase: child.ignoreUriCase ?? root.ignoreUriCase,
  };
  for (const k of Object.keys(merged) as (keyof HTTPMatchRequest)[]) if (merged[k] === undefined) delete merged[k];
  return merged;
}

function mergeMatches(root: HTTPMatchRequest[] | undefined, child: HTTPMatchRequest[] | undefined): HTTPMatchRequest[] | undefined | null {
  if (!root || root.length === 0) return child;
  if (!child || child.length === 0) return root;
  const out: HTTPMatchRequest[] = [];
  for (const r of root) for (const c of child) {
    const m = mergeOne(r, c);
    if (m) out.push(m);
  }
  return out.length > 0 ? out : null;
}

/**
 * istiod BuildHTTPRoutesForVirtualService: per http route, one Envoy route per applicable match, up to a
 * catch-all. `gateways` (qualified `ns/name`) when building for a gateway proxy: a match's `gateways`
 * must then name one of them instead of `mesh`.
 */
export function virtualServiceHttpRoutes(
  ctx: PushContext,
  proxy: Proxy,
  vs: IndexedVirtualService,
  port: number,
  gateways?: ReadonlySet<string>,
): BuiltRoutes {
  const routes: J[] = [];
  let applied = false;
  for (const scoped of expandDelegates(ctx, vs)) {
    const matches = scoped.http.match && scoped.http.match.length > 0 ? scoped.http.match : [undefined];
    let catchAll = false;
    for (const match of matches) {
      if (match && !matchApplies(match, ctx, proxy, port, vs.namespace, gateways)) continue;
      const route = translateHttpRoute(ctx, proxy, scoped, match, port);
      applied = true;
      if (route) routes.push(route);
      if (isCatchAllMatch(envoyRouteMatch(match))) {
        catchAll = true;
        break;
      }
    }
    if (catchAll) break;
  }
  return { routes, applied };
}

function clusterWeightEntry(name: string, d: HTTPRouteDestination): J {
  const h = headerFields(d.headers);
  const entry: J = { name, weight: { value: d.weight ?? 0 }, ...h.fields };
  if (h.authority !== undefined) entry.host_rewrite_literal = h.authority;
  return entry;
}

/**
 * The `istio` filter metadata istiod attaches to what a config produced (util.BuildConfigInfoMetadata):
 * `config: /apis/networking.istio.io/v1/namespaces/NS/virtual-service/NAME` (istioctl and tests use it to
 * say which VirtualService a route came from).
 */
export function virtualServiceMetadata(namespace: string, name: string): J {
  return { filter_metadata: { istio: jsonToStruct({ config: `/apis/networking.istio.io/v1/namespaces/${namespace}/virtual-service/${name}` }) } };
}

/** istiod TranslateRoute for one (http route, match) pair. */
function translateHttpRoute(ctx: PushContext, proxy: Proxy, scoped: ScopedRoute, match: HTTPMatchRequest | undefined, port: number): J | undefined {
  const { http, namespace, vsName } = scoped;
  const out: J = {};
  const name = [http.name, match?.name].filter(Boolean).join('.');
  if (name) out.name = name;
  out.match = envoyRouteMatch(match);
  out.metadata = virtualServiceMetadata(namespace, vsName);
  // per-route upstream stats (vhost.NAME.route.PREFIX.*), opt-in through match.statPrefix as in istiod
  if (match?.statPrefix) out.stat_prefix = match.statPrefix;
  // the route's header operations; a single destination's own ones follow them (istiod order)
  const routeHeaders = headerFields(http.headers);
  Object.assign(out, routeHeaders.fields);

  const perFilter: J = {};
  if (http.redirect) {
    out.redirect = redirectAction(http.redirect, port);
  } else if (http.directResponse) {
    out.direct_response = directResponseAction(http.directResponse);
  } else {
    const dests = http.route ?? [];
    if (dests.length === 0) return undefined;
    const action: J = {};
    const clusters = dests.map((d) => ({ d, name: destinationCluster(ctx, namespace, d.destination, port) }));
    let hostRewrite: string | undefined;
    if (clusters.length === 1) {
      action.cluster = clusters[0]!.name;
      const h = headerFields(clusters[0]!.d.headers);
      for (const [k, v] of Object.entries(h.fields)) out[k] = [...((out[k] as unknown[] | undefined) ?? []), ...(v as unknown[])];
      hostRewrite = h.authority;
    } else {
      const weighted = clusters.filter((c) => (c.d.weight ?? 0) > 0);
      if (weighted.length === 0) return undefined;
      action.weighted_clusters = { clusters: weighted.map((c) => clusterWeightEntry(c.name, c.d)) };
    }
    Object.assign(action, envoyRouteTimeout(http.timeout));
    const rewrite = rewriteFields(http.rewrite);
    Object.assign(action, rewrite);
    const authority = routeHeaders.authority ?? hostRewrite;
    if (authority !== undefined && !rewrite.host_rewrite_literal) action.host_rewrite_literal = authority;

    const hashed = clusters.length === 1 ? clusters : clusters.filter((c) => (c.d.weight ?? 0) > 0);
    const hashes = hashed
      .map((c) => hashPolicyFor(destinationConsistentHash(
        ctx.destinationRuleFor(proxy.namespace, destinationHost(ctx, namespace, c.d.destination), ctx.proxyLabels(proxy))?.config,
        c.d.destination.subset, c.d.destination.port?.number || port)))
      .filter((h): h is J => h !== undefined);
    const retry = envoyRetryPolicy(http.retries, hashes.length > 0);
    if (retry) action.retry_policy = retry;

    const mirrors: J[] = [];
    if (http.mirror) {
      const f = mirrorFraction(http.mirrorPercentage, http.mirrorPercent ?? http.mirror_percent);
      if (f) mirrors.push(mirrorPolicy(destinationCluster(ctx, namespace, http.mirror, port), f));
    }
    for (const m of http.mirrors ?? []) {
      const f = mirrorFraction(m.percentage);
      if (f) mirrors.push(mirrorPolicy(destinationCluster(ctx, namespace, m.destination, port), f));
    }
    if (mirrors.length > 0) action.request_mirror_policies = mirrors;
    if (hashes.length > 0) action.hash_policy = hashes;
    out.route = action;
  }
  out.decorator = { operation: routeOperation(out, vsName, port) };

  const fault = translateFault(http.fault);
  if (fault) perFilter[FILTER_NAME.FAULT] = fault;
  if (http.corsPolicy) perFilter[FILTER_NAME.CORS] = corsPolicy(http.corsPolicy);
  if (Object.keys(perFilter).length > 0) out.typed_per_filter_config = perFilter;
  return out;
}
