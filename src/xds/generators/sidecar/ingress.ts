import { isIP } from 'node:net';
import type { PushContext } from '../../../model/push-context.js';
import type { Proxy } from '../../../model/proxy.js';
import type { MeshService, Protocol } from '../../../model/types.js';
import { sidecarFor } from '../../../model/sidecar-scope.js';
import { istioProtocol } from '../../../config/semantics/protocol.js';
import type { CaptureMode, IstioIngressListener } from '../../../config/schemas/sidecar.js';
import { localhostFor, wildcardFor } from './bind.js';
import { inboundServicePorts } from './scope.js';

// What a sidecar serves inbound, as istiod's buildInboundChainConfigs decides it (listener_inbound.go):
// - the proxy's Sidecar resource has `ingress` listeners: exactly those ports (istiod's default; the
//   PILOT_ENABLE_SIDECAR_SERVICE_INBOUND_LISTENER_MERGE switch that adds the Service ports is off), each
//   with its protocol, `bind`, `captureMode` and `defaultEndpoint`;
// - else, interception mode NONE: nothing (binding the workload's own ports would stop the application
//   from starting: users declare them in a Sidecar `ingress`);
// - else the service ports the workload backs (scope.ts inboundServicePorts).
// A port that binds for real (captureMode NONE, or DEFAULT on a NONE-mode proxy) becomes a listener of its
// own `BIND_PORT`; the others are chains of virtualInbound. The inbound cluster `inbound|PORT||` sends to
// the original destination, or — with `defaultEndpoint` — to a STATIC endpoint: `127.0.0.1:P` (loopback),
// `0.0.0.0:P` (the pod's IPv4 address), `[::]:P` (its IPv6 address), `unix://PATH` (a pipe).
// Not applied: ingress `tls` (istiod applies it only with ENABLE_TLS_ON_SIDECAR_INGRESS, off by default).

/** One port the sidecar serves inbound. */
export interface InboundPort {
  /** the port traffic arrives on: chain destination_port, cluster `inbound|PORT||` */
  readonly targetPort: number;
  /** the Service port (the ingress port for a Sidecar ingress listener): virtual host name, decorator */
  readonly servicePort: number;
  readonly protocol: Protocol;
  /** the Service backed; for a Sidecar ingress port without one, istiod's synthetic `SIDECAR.NAMESPACE` */
  readonly hostname: string;
  /** the Service (absent for a Sidecar ingress port no Service of the workload declares) */
  readonly service?: MeshService;
  /** the address the chains are named after and a bound listener binds */
  readonly bind: string;
  /** a real listener `BIND_PORT` instead of a virtualInbound chain */
  readonly bindToPort: boolean;
  /** the STATIC endpoint of the inbound cluster (Sidecar `defaultEndpoint`); absent: ORIGINAL_DST */
  readonly endpoint?: { readonly address: string; readonly port: number } | { readonly pipe: string };
  /** the Sidecar resource that declared the port (for chain metadata and connection pools) */
  readonly sidecar?: { readonly name: string; readonly namespace: string; readonly listener: IstioIngressListener };
}

/** istiod getBindToPort: an explicit capture mode wins, DEFAULT follows the proxy's interception mode. */
function bindsToPort(mode: CaptureMode | undefined, proxy: Proxy): boolean {
  if (!mode || mode === 'DEFAULT') return proxy.interceptionMode === 'NONE';
  return mode === 'NONE';
}

/** Go's net.IP.IsGlobalUnicast: not unspecified, loopback, link-local or multicast (private ranges count). */
function isGlobalUnicast(ip: string): boolean {
  const family = isIP(ip);
  if (family === 4) {
    const [a = 0, b = 0] = ip.split('.').map(Number);
    return !(a === 0 || a === 127 || (a === 169 && b === 254) || a >= 224);
  }
  if (family === 6) {
    const l = ip.toLowerCase();
    return !(l === '::' || l === '::1' || l.startsWith('fe8') || l.startsWith('fe9') || l.startsWith('fea') || l.startsWith('feb') || l.startsWith('ff'));
  }
  return false;
}

/** istiod getSidecarInboundBindIPs: the pod's first global unicast IP, else the wildcard. */
function defaultIngressBind(proxy: Proxy): string {
  return proxy.ips.find(isGlobalUnicast) ?? wildcardFor(proxy);
}

/**
 * istiod buildInboundClustersFromSidecar: where `defaultEndpoint` sends (undefined: the original
 * destination). Both loopback spellings mean the proxy's loopback of its own IP family.
 */
function ingressEndpoint(proxy: Proxy, defaultEndpoint: string | undefined): InboundPort['endpoint'] {
  if (!defaultEndpoint) return undefined;
  if (defaultEndpoint.startsWith('unix://')) return { pipe: defaultEndpoint.slice('unix://'.length) };
  const colon = defaultEndpoint.lastIndexOf(':');
  if (colon < 0) return undefined;
  const host = defaultEndpoint.slice(0, colon).replace(/^\[|\]$/g, '');
  const port = Number(defaultEndpoint.slice(colon + 1));
  if (!Number.isInteger(port) || port <= 0) return undefined;
  let address: string;
  if (host === '0.0.0.0') address = proxy.ips.find((ip) => isIP(ip) === 4) ?? '127.0.0.1';
  else if (host === '::') address = proxy.ips.find((ip) => isIP(ip) === 6) ?? '::1';
  else if (host === '127.0.0.1' || host === '::1') address = localhostFor(proxy);
  else return undefined; // validation allows only those four (istiod then falls back to ORIGINAL_DST)
  return { address, port };
}

/** The ports the sidecar serves inbound, by port (the first declaration of a port wins, as istiod). */
export function inboundPorts(ctx: PushContext, proxy: Proxy): InboundPort[] {
  const sidecar = sidecarFor(ctx, proxy);
  const ingress = sidecar?.spec.ingress ?? [];
  const services = inboundServicePorts(ctx, proxy);
  if (ingress.length === 0) {
    if (proxy.interceptionMode === 'NONE') return [];
    const bind = wildcardFor(proxy);
    return services.map((p) => ({
      targetPort: p.targetPort, servicePort: p.port.port, protocol: p.port.protocol, hostname: p.service.hostname, service: p.service,
      bind, bindToPort: false,
    }));
  }
  const name = sidecar!.metadata.name;
  const namespace = sidecar!.metadata.namespace ?? proxy.namespace;
  const byPort = new Map<number, InboundPort>();
  for (const listener of ingress) {
    const number = listener.port.number;
    if (byPort.has(number)) continue;
    // istiod findOrCreateService: the Service whose container port this is, else a synthetic SIDECAR.NS
    const backed = services.find((p) => p.targetPort === number);
    const endpoint = ingressEndpoint(proxy, listener.defaultEndpoint);
    byPort.set(number, {
      targetPort: number,
      servicePort: number,
      protocol: istioProtocol(listener.port.protocol ?? '') as Protocol,
      hostname: backed?.service.hostname ?? `${name}.${namespace}`,
      ...(backed ? { service: backed.service } : {}),
      bind: listener.bind || defaultIngressBind(proxy),
      bindToPort: bindsToPort(listener.captureMode, proxy),
      ...(endpoint ? { endpoint } : {}),
      sidecar: { name, namespace, listener },
    });
  }
  return [...byPort.values()].sort((a, b) => a.targetPort - b.targetPort);
}

/** Names of the listeners Sidecar ingress ports bind for real (`BIND_PORT`). */
export function boundInboundListenerNames(ctx: PushContext, proxy: Proxy): string[] {
  return inboundPorts(ctx, proxy).filter((p) => p.bindToPort).map((p) => `${p.bind}_${p.targetPort}`);
}

/**
 * What the inbound output reads of the proxy beyond the snapshot (for the class key): the resolved ports,
 * binds and endpoints — which carry the pod IP exactly when a Sidecar ingress port binds or sends to it.
 */
export function inboundPortsKey(ctx: PushContext, proxy: Proxy): string[] {
  return inboundPorts(ctx, proxy).map((p) => {
    const ep = p.endpoint ? ('pipe' in p.endpoint ? `unix://${p.endpoint.pipe}` : `${p.endpoint.address}:${p.endpoint.port}`) : '';
    return `${p.hostname}:${p.servicePort}>${p.targetPort}/${p.protocol}@${p.bind}${p.bindToPort ? '!' : ''}${ep ? `->${ep}` : ''}${p.sidecar ? `#${p.sidecar.namespace}/${p.sidecar.name}` : ''}`;
  });
}
