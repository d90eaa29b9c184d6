import { hostMatches, type PushContext } from '../../../model/push-context.js';
import type { Proxy } from '../../../model/proxy.js';
import type { MeshService, ServicePort } from '../../../model/types.js';
import { PASSTHROUGH_CLUSTER } from '../../../envoy/cluster-name.js';
import { envoyRouteTimeout } from '../../../envoy/route-actions.js';
import { virtualHostDomains } from '../grpc/rds.js';
import { proxyDnsDomain } from '../grpc/names.js';
import { defaultHttpRoute, exportedTo, virtualServiceHttpRoutes } from './http-routes.js';
import { listenerProtocol } from './protocols.js';
import { outboundServices } from './scope.js';
import { routeAllowsVirtualServiceHost, routeScope } from './egress.js';
import { egressCluster } from './outbound.js';
import { outboundTrafficPolicyFor, UNIX_ADDRESS_PREFIX } from '../../../model/sidecar-scope.js';
import type { J } from '../../../envoy/json.js';
import { DependencyMemo } from '../../../model/dependency-memo.js';

// RDS for Envoy sidecars (istiod BuildSidecarOutboundVirtualHosts / buildSidecarOutboundHTTPRouteConfig).
//
// `PORT` (what the outbound 0.0.0.0_PORT listener's HCM asks for): a virtual host per visible service with an
// HTTP (or protocol-sniffed) port PORT, named `FQDN:PORT`, whose domains are every authority a client may
// use for it (FQDN, the short forms relative to the proxy's namespace, the cluster IP; each with and without
// `:PORT`), with the VirtualService's routes or the default route; then `allow_any` (`*` → PassthroughCluster)
// so requests to unknown hosts still leave the pod (outboundTrafficPolicy ALLOW_ANY, meshd's default;
// REGISTRY_ONLY puts `block_all`, a 502 direct response, there instead).
// `FQDN:PORT` (the route of a sniffed port's cluster-IP listener): the same for that one service.
// Under a Sidecar with port-specific egress listeners, a route for PORT holds the services of the egress
// listener for that port only (egress.ts routeScope); the route of an HTTP_PROXY egress port, and
// `unix:///path` (a socket egress listener's), hold a virtual host for every HTTP or sniffed port of that
// listener's services, since the application names the authority (istiod listener port 0).

interface RouteContent {
  readonly port: number;
  /** (service, port) pairs that get a virtual host, services in hostname order */
  readonly hosts: readonly { readonly service: MeshService; readonly port: number }[];
  /** VirtualService hosts without a registry service get virtual hosts too (`PORT` routes of one port) */
  readonly nonServiceHosts: boolean;
}

const httpOrSniffed = (p: ServicePort) => listenerProtocol(p.protocol) === 'HTTP' || listenerProtocol(p.protocol) === 'AUTO';

function routeContent(ctx: PushContext, proxy: Proxy, name: string): RouteContent | undefined {
  const httpOn = (s: MeshService, port: number) => s.ports.some((p) => p.port === port && httpOrSniffed(p));
  const content = (port: number, host?: string): RouteContent => {
    const scope = routeScope(ctx, proxy, port, port === 0 ? name : undefined, (s) => httpOn(s, port));
    const services = host === undefined ? scope.services : scope.services.filter((s) => s.hostname === host);
    // an HTTP proxy or socket route: every HTTP or sniffed port of its services (istiod listener port 0)
    const hosts = scope.everyPort
      ? services.flatMap((service) => service.ports.filter(httpOrSniffed).map((p) => ({ service, port: p.port })))
      : services.map((service) => ({ service, port }));
    return { port, hosts, nonServiceHosts: host === undefined && !scope.everyPort };
  };
  if (name.startsWith(UNIX_ADDRESS_PREFIX)) return content(0);
  if (/^\d{1,5}$/.test(name)) return content(Number(name));
  const colon = name.lastIndexOf(':');
  if (colon <= 0 || !/^\d{1,5}$/.test(name.slice(colon + 1))) return undefined;
  return content(Number(name.slice(colon + 1)), name.slice(0, colon));
}

/**
 * Built virtual hosts per proxy (in practice an outbound view's canonical proxy, which stays the same object
 * while the view exists), keyed by port and hostname: a virtual host depends on its own service,
 * VirtualService and DestinationRules, not on the rest of the route configuration, so it is rebuilt only
 * when one of those changes (and its encoding, memoised by identity, is reused: xds/encode-parts.ts).
 */
const builtVirtualHosts = new WeakMap<Proxy, DependencyMemo<J>>();

function serviceVirtualHost(ctx: PushContext, proxy: Proxy, service: MeshService, port: number): J {
  let memo = builtVirtualHosts.get(proxy);
  if (!memo) builtVirtualHosts.set(proxy, (memo = new DependencyMemo()));
  return memo.get(ctx, `${port}\u0000${service.hostname}`, () => {
    // the service object comes from the caller's read of the service list; depend on this one service
    ctx.service(service.hostname);
    return buildServiceVirtualHost(ctx, proxy, service, port);
  });
}

function buildServiceVirtualHost(ctx: PushContext, proxy: Proxy, service: MeshService, port: number): J {
  const vs = ctx.virtualServiceFor(proxy.namespace, service.hostname);
  let routes: J[] | undefined;
  if (vs && (vs.config.spec.http?.length ?? 0) > 0) {
    const built = virtualServiceHttpRoutes(ctx, proxy, vs, port);
    // istiod keeps the default route when no route of the VirtualService applies here
    if (built.applied) routes = built.routes;
  }
  return {
    name: `${service.hostname}:${port}`,
    domains: virtualHostDomains(service, port, proxyDnsDomain(ctx, proxy)),
    routes: routes ?? [defaultHttpRoute(ctx, proxy, service, port)],
    include_request_attempt_count: true,
  };
}

/**
 * Virtual hosts for VirtualService hosts that are no registry service (istiod
 * buildSidecarVirtualHostsForVirtualService with no service behind a host, e.g. `hosts: [httpbin.org]` for
 * egress under ALLOW_ANY): on every route configuration, domains the host and `host:PORT`, routes the
 * VirtualService's for this port. A wildcard host that matches some visible service is left to those
 * services' virtual hosts, as istiod does. Under a Sidecar, only hosts its egress listener for the port imports.
 */
function nonServiceVirtualHosts(ctx: PushContext, proxy: Proxy, port: number, services: readonly MeshService[]): J[] {
  const out: J[] = [];
  const claimed = new Set<string>();
  for (const vs of ctx.virtualServices) {
    if (!vs.gateways.includes('mesh') || !exportedTo(vs, proxy.namespace) || (vs.config.spec.http?.length ?? 0) === 0) continue;
    // the registry lookup first: it settles most hosts without scanning every visible service
    const hosts = vs.hosts.filter((h) => !claimed.has(h) && !ctx.service(h) && !services.some((s) => hostMatches(h, s.hostname))
      && routeAllowsVirtualServiceHost(ctx, proxy, port, vs.namespace, h));
    if (hosts.length === 0) continue;
    const built = virtualServiceHttpRoutes(ctx, proxy, vs, port);
    if (built.routes.length === 0) continue;
    for (const h of hosts) {
      claimed.add(h);
      out.push({ name: `${h}:${port}`, domains: [h, `${h}:${port}`], routes: built.routes, include_request_attempt_count: true });
    }
  }
  return out;
}

/**
 * istiod's catch-all for ALLOW_ANY: any other authority goes to the original destination (PassthroughCluster),
 * or to the Sidecar's egressProxy cluster when it names one. The common one is one shared object, so its
 * encoding is reused too (envoy/encode-parts.ts).
 */
export function allowAnyVirtualHost(cluster = PASSTHROUGH_CLUSTER): J {
  if (cluster === PASSTHROUGH_CLUSTER) return ALLOW_ANY_VIRTUAL_HOST;
  return allowAnyTo(cluster);
}

function allowAnyTo(cluster: string): J {
  return {
    name: 'allow_any',
    domains: ['*'],
    routes: [{ name: 'allow_any', match: { prefix: '/' }, route: { cluster, ...envoyRouteTimeout(undefined) } }],
    include_request_attempt_count: true,
  };
}

const ALLOW_ANY_VIRTUAL_HOST: J = allowAnyTo(PASSTHROUGH_CLUSTER);

/** istiod's catch-all for REGISTRY_ONLY: unknown authorities get a 502 from the sidecar. */
const BLOCK_ALL_VIRTUAL_HOST: J = {
  name: 'block_all',
  domains: ['*'],
  routes: [{ name: 'block_all', match: { prefix: '/' }, direct_response: { status: 502 } }],
  include_request_attempt_count: true,
};

export function buildSidecarRouteConfiguration(ctx: PushContext, proxy: Proxy, name: string): object | undefined {
  const content = routeContent(ctx, proxy, name);
  if (!content) return undefined;
  const virtualHosts = content.hosts.map((h) => serviceVirtualHost(ctx, proxy, h.service, h.port));
  if (content.nonServiceHosts) virtualHosts.push(...nonServiceVirtualHosts(ctx, proxy, content.port, outboundServices(ctx, proxy)));
  // two services can claim one authority (e.g. equal short names from different namespaces): Envoy rejects
  // duplicate domains across virtual hosts, so the first (by hostname) keeps it, as istiod dedupes. A
  // virtual host that loses a domain is copied: built ones are shared (serviceVirtualHost).
  const seen = new Set<string>();
  const deduped: J[] = [];
  for (const vh of virtualHosts) {
    const domains = vh.domains as string[];
    const kept = domains.filter((d) => (seen.has(d) ? false : (seen.add(d), true)));
    if (kept.length === domains.length) deduped.push(vh);
    else if (kept.length > 0) deduped.push({ ...vh, domains: kept });
  }
  return {
    name,
    virtual_hosts: [
      ...deduped,
      outboundTrafficPolicyFor(ctx, proxy) === 'REGISTRY_ONLY' ? BLOCK_ALL_VIRTUAL_HOST : allowAnyVirtualHost(egressCluster(ctx, proxy)),
    ],
    validate_clusters: { value: false },
  };
}
