import type { PushContext } from '../../../model/push-context.js';
import type { Proxy } from '../../../model/proxy.js';
import { parseIstioProtocol } from '../../../model/protocol.js';
import { egressListenerAllows, egressListenerForPort, sidecarFor } from '../../../model/sidecar-scope.js';
import type { MeshService, ServicePort } from '../../../model/types.js';
import { localhostFor } from './bind.js';
import { outboundServices } from './scope.js';

// A Sidecar's `egress` listeners as istiod builds outbound listeners from them (buildSidecarOutboundListeners
// over SidecarScope.EgressListeners, in order):
// - a listener with a `port` builds that port only, for its hosts' services that have the port (istiod
//   serviceMatchingListenerPort), with the protocol the Sidecar gives the port (unset: sniffed);
// - the catch-all (no port) builds every port of its hosts' services, except listeners the port-specific
//   ones already built (same bind:port: istiod's `locked` entries);
// - `captureMode: NONE` (or the proxy's interception mode NONE) binds the listener for real, on `bind` or
//   else loopback (127.0.0.1 / ::1); a `bind` without it only changes the address of a listener that
//   virtualOutbound hands connections to.
// Without a Sidecar, or one without egress, there is one catch-all pass over every visible service.
// Not served: `unix://` binds and `HTTP_PROXY` ports (istiod's UDS and HTTP-proxy listeners) — those
// egress listeners build nothing here.

export interface EgressPass {
  /** the services this egress listener sees (after exportTo and its hosts) */
  readonly services: readonly MeshService[];
  /** a port-specific egress listener's port (Sidecar protocol); undefined: the catch-all, every service port */
  readonly listenPort?: ServicePort;
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
    if (listener.bind?.startsWith('unix://')) continue;
    const bindToPort = proxyNone || listener.captureMode === 'NONE';
    const bind = listener.bind || (bindToPort ? localhostFor(proxy) : undefined);
    const services = visible.filter((s) => egressListenerAllows(listener, proxy.namespace, s));
    const number = listener.port?.number;
    if (!number) {
      passes.push({ services, bindToPort, ...(bind ? { bind } : {}) });
      continue;
    }
    const protocol = parseIstioProtocol(listener.port?.protocol);
    if (!protocol) continue; // HTTP_PROXY
    passes.push({
      services: services.filter((s) => s.ports.some((p) => p.port === number)),
      listenPort: { name: listener.port?.name ?? '', port: number, targetPort: undefined, protocol },
      bindToPort,
      ...(bind ? { bind } : {}),
    });
  }
  return passes;
}

/**
 * The services a route configuration for `port` holds (istiod buildSidecarOutboundHTTPRouteConfig with
 * GetEgressListenerForRDS): those of the first egress listener declaring the port — every one of them with
 * that port, whatever its protocol — else of the catch-all, through `catchAll` (the HTTP-on-port rule);
 * none when no egress listener covers the port.
 */
export function routeServices(ctx: PushContext, proxy: Proxy, port: number, catchAll: (s: MeshService) => boolean): MeshService[] {
  const sidecar = sidecarFor(ctx, proxy);
  const listener = sidecar ? egressListenerForPort(sidecar, port) : undefined;
  if (listener === 'none') return [];
  const visible = outboundServices(ctx, proxy);
  if (!listener) return visible.filter(catchAll);
  const own = visible.filter((s) => egressListenerAllows(listener, proxy.namespace, s));
  if (listener.port?.number) {
    if (listener.bind?.startsWith('unix://') || !parseIstioProtocol(listener.port.protocol)) return [];
    return own.filter((s) => s.ports.some((p) => p.port === port));
  }
  return own.filter(catchAll);
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
