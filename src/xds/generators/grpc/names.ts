import { isIP } from 'node:net';
import type { PushContext } from '../../../model/push-context.js';
import type { Proxy } from '../../../model/proxy.js';
import type { MeshService } from '../../../model/types.js';
import { parseSubsetKey } from '../../../envoy/cluster-name.js';
import { sidecarAllowsPort } from '../../../model/sidecar-scope.js';

// Resource names a proxyless gRPC client asks for, and how they resolve to services.

/** Istio's `server_listener_resource_name_template` prefix (bootstrap `xds.istio.io/grpc/lds/inbound/%s`). */
export const SERVER_LISTENER_PREFIX = 'xds.istio.io/grpc/lds/inbound/';

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** `host:port` / `[v6]:port` → parts; undefined when there is no valid port. */
export function splitHostPort(text: string): HostPort | undefined {
  const colon = text.lastIndexOf(':');
  if (colon <= 0) return undefined;
  const portText = text.slice(colon + 1);
  if (!/^\d{1,5}$/.test(portText)) return undefined;
  const port = Number(portText);
  if (port < 1 || port > 65535) return undefined;
  let host = text.slice(0, colon);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  else if (host.includes(':')) return undefined; // an unbracketed IPv6 address is ambiguous
  if (host === '') return undefined;
  return { host, port };
}

/** `xds.istio.io/grpc/lds/inbound/IP:PORT` → IP and port; undefined for any other name. */
export function parseServerListenerName(name: string): HostPort | undefined {
  if (!name.startsWith(SERVER_LISTENER_PREFIX)) return undefined;
  const hp = splitHostPort(name.slice(SERVER_LISTENER_PREFIX.length));
  return hp && isIP(hp.host) ? hp : undefined;
}

/** The proxy's DNS domain the way Istio's node.DNSDomain reads: `NAMESPACE.svc.DOMAIN`. */
export function proxyDnsDomain(ctx: PushContext, proxy: Proxy): string {
  return `${proxy.namespace}.svc.${proxy.dnsDomain || ctx.mesh.domainSuffix}`;
}

/**
 * Hostnames a client-side name may mean, most literal first (Istio lds.go tryFindFQDN, relaxed):
 * `name` → `name.PROXY_NS.svc.DOMAIN`; `name.ns` → `name.ns.svc.DOMAIN`; `name.ns.svc` → `name.ns.svc.DOMAIN`.
 * istiod expands `name.ns` / `name.ns.svc` only for the proxy's own namespace; meshd expands any namespace,
 * which only ever turns "listener does not exist" into a listener for the service the name spells.
 */
export function candidateHostnames(host: string, ctx: PushContext, proxy: Proxy): string[] {
  const domain = proxy.dnsDomain || ctx.mesh.domainSuffix;
  const out = [host];
  const dots = host.split('.').length - 1;
  if (dots === 0) out.push(`${host}.${proxy.namespace}.svc.${domain}`);
  else if (dots === 1) out.push(`${host}.svc.${domain}`);
  else if (dots === 2 && host.endsWith('.svc')) out.push(`${host}.${domain}`);
  return out;
}

export interface ResolvedTarget {
  readonly service: MeshService;
  readonly port: number;
}

/** A client listener / route name `host:port` → the service and port it addresses. */
export function resolveClientName(name: string, ctx: PushContext, proxy: Proxy): ResolvedTarget | undefined {
  const hp = splitHostPort(name);
  if (!hp) return undefined;
  for (const hostname of candidateHostnames(hp.host, ctx, proxy)) {
    const service = ctx.service(hostname);
    // a host:port the proxy's Sidecar does not import does not resolve (istiod grpcgen builds client
    // listeners from SidecarScope.Services(): a port-specific egress listener imports only its port, a
    // VirtualService destination only the ports routed to)
    if (service && service.ports.some((p) => p.port === hp.port) && sidecarAllowsPort(ctx, proxy, service, hp.port)) return { service, port: hp.port };
  }
  return undefined;
}

/** RDS names: Istio's `outbound|PORT||FQDN` (what meshd's listeners reference), or a listener-style `host:port`. */
export function parseRouteName(
  name: string,
  ctx: PushContext,
  proxy: Proxy,
): { hostname: string; port: number; service: MeshService | undefined } | undefined {
  const key = parseSubsetKey(name);
  if (key) {
    if (key.direction !== 'outbound') return undefined;
    const service = ctx.service(key.hostname);
    return { hostname: key.hostname, port: key.port, service };
  }
  const target = resolveClientName(name, ctx, proxy);
  return target ? { hostname: target.service.hostname, port: target.port, service: target.service } : undefined;
}
