// Which Istio Gateways configure a gateway proxy (`router~…` node) and how their servers merge into
// listener ports, as istiod's MergeGateways does: a Gateway applies to the proxies whose labels its
// `selector` matches (in any namespace, or only the Gateway's own with PILOT_SCOPE_GATEWAY_TO_NAMESPACE);
// a server port is translated to the targetPort of the gateway Service port with that number (service
// port 80 → listener 8080), else listened on as is; plain-text HTTP servers on one port share the route
// configuration `http.PORT`; HTTPS servers that terminate TLS get one each,
// `https.NUMBER.PORTNAME.GATEWAY.NAMESPACE`; on one port plain HTTP and TLS do not mix (the later
// server is dropped, as istiod does).

import { labelsMatch } from '../config/labels.js';
import type { Gateway, Server } from '../config/schemas/gateway.js';
import type { PushContext } from './push-context.js';
import type { Proxy } from './proxy.js';

export const MESH_GATEWAY = 'mesh';

/** A VirtualService's `gateways` entry as `namespace/name` (a short name is in the VirtualService's namespace). */
export function qualifiedGatewayName(name: string, vsNamespace: string): string {
  if (name === MESH_GATEWAY || name.includes('/')) return name;
  return `${vsNamespace}/${name}`;
}

export interface GatewayServer {
  readonly server: Server;
  /** `namespace/name` of the Gateway declaring it */
  readonly gateway: string;
  readonly gatewayNamespace: string;
  /** the route configuration it is served by (HTTP and terminating HTTPS), else undefined */
  readonly routeName: string | undefined;
}

export type PortClass = 'http' | 'tls' | 'tcp';

export interface MergedPort {
  /** the port the listener binds (after Service port → targetPort translation) */
  readonly port: number;
  readonly bind: string;
  readonly cls: PortClass;
  readonly servers: readonly GatewayServer[];
}

export interface MergedGateway {
  readonly ports: readonly MergedPort[];
  readonly serversByRoute: ReadonlyMap<string, readonly GatewayServer[]>;
  /** servers dropped on a port conflict, for logs */
  readonly dropped: readonly { server: GatewayServer; reason: string }[];
}

const HTTP_PROTOCOLS = new Set(['HTTP', 'HTTP2', 'GRPC', 'GRPC-WEB', 'HTTP_PROXY']);

export function serverProtocol(s: Server): string {
  return s.port.protocol.toUpperCase();
}

export function isPassthrough(s: Server): boolean {
  const mode = s.tls?.mode ?? 'PASSTHROUGH';
  return mode === 'PASSTHROUGH' || mode === 'AUTO_PASSTHROUGH';
}

/** HTTPS with TLS terminated at the gateway: served by an HTTP connection manager behind a TLS context. */
export function isHttpsTerminating(s: Server): boolean {
  return serverProtocol(s) === 'HTTPS' && !!s.tls && !isPassthrough(s);
}

function portClass(s: Server): PortClass {
  const p = serverProtocol(s);
  if (HTTP_PROTOCOLS.has(p)) return 'http';
  if (p === 'HTTPS' || p === 'TLS') return 'tls';
  return 'tcp';
}

/** Set on the Gateways the Gateway API conversion derives: the gateway Services whose pods serve them. */
const GATEWAY_SERVICE_ANNOTATION = 'internal.istio.io/gateway-service';

export function gatewaysForProxy(ctx: PushContext, proxy: Proxy, scopeToNamespace: boolean): Gateway[] {
  const labels = ctx.proxyLabels(proxy);
  return ctx.gateways.filter((g) => {
    if (scopeToNamespace && (g.metadata.namespace ?? 'default') !== proxy.namespace) return false;
    const gatewayServices = g.metadata.annotations?.[GATEWAY_SERVICE_ANNOTATION];
    if (gatewayServices !== undefined) return isInstanceOf(ctx, proxy, labels, gatewayServices.split(','));
    return labelsMatch(g.spec.selector, labels, 'selects-all');
  });
}

/**
 * istiod's match for a Gateway API gateway: the proxy is an instance of one of the gateway's Services (a
 * Service of that hostname, in the proxy's namespace, whose selector picks the proxy's pod).
 */
function isInstanceOf(ctx: PushContext, proxy: Proxy, labels: Readonly<Record<string, string>>, hostnames: readonly string[]): boolean {
  return ctx.servicesIn(proxy.namespace).some((s) => hostnames.includes(s.hostname) && s.selector !== undefined && labelsMatch(s.selector, labels, 'selects-none'));
}

export function mergeGateways(gateways: readonly Gateway[], resolvePort: (serverPort: number) => number): MergedGateway {
  const byPort = new Map<string, { port: number; bind: string; cls: PortClass; servers: GatewayServer[] }>();
  const serversByRoute = new Map<string, GatewayServer[]>();
  const dropped: { server: GatewayServer; reason: string }[] = [];
  const sorted = [...gateways].sort((a, b) => {
    const ta = a.metadata.creationTimestamp ?? '';
    const tb = b.metadata.creationTimestamp ?? '';
    if (ta !== tb) return ta < tb ? -1 : 1;
    const ka = `${a.metadata.namespace ?? 'default'}/${a.metadata.name}`;
    const kb = `${b.metadata.namespace ?? 'default'}/${b.metadata.name}`;
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  });
  for (const gw of sorted) {
    const ns = gw.metadata.namespace ?? 'default';
    for (const server of gw.spec.servers ?? []) {
      const port = resolvePort(server.port.number);
      const bind = server.bind ?? '';
      const cls = portClass(server);
      const routeName =
        cls === 'http'
          ? `http.${port}${bind ? `.${bind}` : ''}`
          : isHttpsTerminating(server)
            ? `https.${server.port.number}.${server.port.name}.${gw.metadata.name}.${ns}${bind ? `.${bind}` : ''}`
            : undefined;
      const entry: GatewayServer = { server, gateway: `${ns}/${gw.metadata.name}`, gatewayNamespace: ns, routeName };
      const key = `${bind}:${port}`;
      const existing = byPort.get(key);
      if (existing && existing.cls !== cls) {
        dropped.push({ server: entry, reason: `port ${port} already serves ${existing.cls.toUpperCase()} servers; a ${serverProtocol(server)} server cannot share it` });
        continue;
      }
      if (existing) existing.servers.push(entry);
      else byPort.set(key, { port, bind, cls, servers: [entry] });
      if (routeName) serversByRoute.set(routeName, [...(serversByRoute.get(routeName) ?? []), entry]);
    }
  }
  const ports = [...byPort.values()].sort((a, b) => a.port - b.port || (a.bind < b.bind ? -1 : 1));
  return { ports, serversByRoute, dropped };
}
