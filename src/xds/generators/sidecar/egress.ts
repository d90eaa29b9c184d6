import type { PushContext } from '../../../model/push-context.js';
import type { Proxy } from '../../../model/proxy.js';
import { parseIstioProtocol } from '../../../model/protocol.js';
import {
  egressListenerAllows,
  egressListenerForPort,
  isCatchAllEgress,
  isHttpProxyEgress,
  sidecarFor,
  UNIX_ADDRESS_PREFIX,
} from '../../../model/sidecar-scope.js';
import type { MeshService, ServicePort } from '../../../model/types.js';
import { localhostFor } from './bind.js';
import { outboundServices } from './scope.js';

// A Sidecar's `egress` listeners as istiod builds outbound listeners from them (buildSidecarOutboundListeners
// over SidecarScope.EgressListeners, in order):
// - a listener with a `port` builds that port only, for its hosts' services that have the port (istiod
//   serviceMatchingListenerPort), with the protocol the Sidecar gives the port (unset: sniffed);
// - `port.protocol: HTTP_PROXY` builds one plain HTTP listener on that port (no sniffing, RDS `PORT`) whose
//   route configuration holds every port of every imported service: an egress HTTP proxy the application
//   is configured to use (istiod needsPortMatch false, BuildSidecarOutboundVirtualHosts with port 0);
// - `bind: unix:///path` (port 0) listens on that socket for real (an Envoy pipe address, listener
//   `unix:///path_0`), for every port of its hosts' services; its HTTP chain asks for RDS `unix:///path`;
// - the catch-all (no port) builds every port of its hosts' services, except listeners the port-specific
//   ones already built (same bind:port: istiod's `locked` entries);
// - `captureMode: NONE` (or the proxy's interception mode NONE) binds the listener for real, on `bind` or
//   else loopback (127.0.0.1 / ::1); a `bind` without it only changes the address of a listener that
//   virtualOutbound hands connections to.
// Without a Sidecar, or one without egress, there is one catch-all pass over every visible service.

export interface EgressPass {
  /** the services this egress listener sees (after exportTo and its hosts) */
  readonly services: readonly MeshService[];
  /**
   * a port-specific egress listener's port (Sidecar protocol; port 0 for a `unix://` bind); undefined: the
   * catch-all, every service port
   */
  readonly listenPort?: ServicePort;
  /** `HTTP_PROXY`: one HTTP listener on listenPort whatever the services' ports */
  readonly httpProxy?: boolean;
  /** the address every listener of the pass binds; undefined: by service (wildcard / cluster IP / SE address) */
  readonly bind?: string;
  readonly bindToPort: boolean;
}

export function egressPasses(ctx: PushContext, proxy: Proxy): EgressPass[] {
  const proxyNone = proxy.interceptionMode === 'NONE';
  const visible = outboundServices(ctx, proxy);
  const egress = sidecarFor(ctx, proxy)?.spec.egress;
  if (!egress || egress.length === 0) {
    return [{ services: visible, bindToPort: proxyNone, ...(proxyNone ? { bind: localhostFor(proxy) } : {}) }];
  }
  const passes: EgressPass[] = [];
  for (const listener of egress) {
    const unix = listener.bind?.startsWith(UNIX_ADDRESS_PREFIX) ?? false;
    // a socket path cannot be reached through virtualOutbound: always a real listener
    const bindToPort = proxyNone || listener.captureMode === 'NONE' || unix;
    const bind = listener.bind || (bindToPort ? localhostFor(proxy) : undefined);
    const services = visible.filter((s) => egressListenerAllows(listener, proxy.namespace, s));
    const where = { bindToPort, ...(bind ? { bind } : {}) };
    if (isCatchAllEgress(listener)) {
      passes.push({ services, ...where });
      continue;
    }
    const number = listener.port?.number ?? 0;
    const name = listener.port?.name ?? '';
    if (isHttpProxyEgress(listener)) {
      passes.push({ services, listenPort: { name, port: number, targetPort: undefined, protocol: 'HTTP' }, httpProxy: true, ...where });
      continue;
    }
    const protocol = parseIstioProtocol(listener.port?.protocol) ?? 'UNSUPPORTED';
    passes.push({
      services: unix ? services : services.filter((s) => s.ports.some((p) => p.port === number)),
      listenPort: { name, port: number, targetPort: undefined, protocol },
      ...where,
    });
  }
  return passes;
}

/** What one outbound route configuration holds (istiod BuildSidecarOutboundVirtualHosts). */
export interface RouteScope {
  readonly services: readonly MeshService[];
  /**
   * every HTTP or sniffed port of each service gets a virtual host (an HTTP_PROXY or `unix://` egress
   * listener: istiod's listener port 0); otherwise only the route's port
   */
  readonly everyPort: boolean;
}

/**
 * The services a route configuration for `port` (or, for port 0, the `unix://` socket `bind`) holds (istiod
 * buildSidecarOutboundHTTPRouteConfig with GetEgressListenerForRDS): those of the first egress listener
 * declaring the port — every one of them with that port, whatever its protocol — else of the catch-all,
 * through `catchAll` (the HTTP-on-port rule); none when no egress listener covers the port.
 */
export function routeScope(ctx: PushContext, proxy: Proxy, port: number, bind: string | undefined, catchAll: (s: MeshService) => boolean): RouteScope {
  const sidecar = sidecarFor(ctx, proxy);
  const listener = sidecar ? egressListenerForPort(sidecar, port, bind) : undefined;
  if (listener === 'none') return { services: [], everyPort: false };
  const visible = outboundServices(ctx, proxy);
  if (!listener) return { services: port === 0 ? [] : visible.filter(catchAll), everyPort: false };
  const own = visible.filter((s) => egressListenerAllows(listener, proxy.namespace, s));
  if (isCatchAllEgress(listener)) return { services: own.filter(catchAll), everyPort: false };
  if (port === 0 || isHttpProxyEgress(listener)) return { services: own, everyPort: true };
  return { services: own.filter((s) => s.ports.some((p) => p.port === port)), everyPort: false };
}

/**
 * Whether a VirtualService host (of a VirtualService in `vsNamespace`) gets a virtual host on the route
 * configuration for `port` (istiod: the egress listener's VirtualServices, selected by its hosts): every host
 * without a Sidecar egress section, none when no egress listener covers the port.
 */
export function routeAllowsVirtualServiceHost(ctx: PushContext, proxy: Proxy, port: number, vsNamespace: string, host: string): boolean {
  const sidecar = sidecarFor(ctx, proxy);
  const listener = sidecar ? egressListenerForPort(sidecar, port) : undefined;
  if (listener === undefined) return true;
  return listener !== 'none' && egressListenerAllows(listener, proxy.namespace, { namespace: vsNamespace, hostname: host });
}
