import type { PushContext } from '../../../model/push-context.js';
import type { Proxy } from '../../../model/proxy.js';
import { buildBoundInboundListener, buildVirtualInboundListener, VIRTUAL_INBOUND } from './inbound.js';
import { boundInboundListenerNames } from './ingress.js';
import { buildOutboundListener, buildVirtualOutboundListener, outboundListenerNames, VIRTUAL_OUTBOUND } from './outbound.js';

// LDS for Envoy sidecars: what a wildcard subscription returns and how each name is built. The listeners
// themselves are in outbound.ts (virtualOutbound, 0.0.0.0_PORT, CLUSTERIP_PORT) and inbound.ts
// (virtualInbound). virtualInbound depends on the facts in sidecarClassKey, the others on the outbound view's
// (scope.ts sidecarView), which include what their observability reads of the proxy.
//
// Interception mode NONE (istiod buildVirtualOutboundListener / buildInboundListeners): nothing redirects
// connections, so neither virtual listener exists; outbound listeners bind 127.0.0.1_PORT for real, and
// inbound ones exist only for a Sidecar resource's `ingress` ports (binding the workload's own ports would
// stop the application from starting): each binds `BIND_PORT` for real (ingress.ts). A captured proxy may
// have such listeners too, for ingress ports with captureMode NONE.

export function sidecarListenerNames(ctx: PushContext, proxy: Proxy): string[] {
  const bound = boundInboundListenerNames(ctx, proxy);
  if (proxy.interceptionMode === 'NONE') return [...new Set([...outboundListenerNames(ctx, proxy), ...bound])];
  return [...new Set([VIRTUAL_OUTBOUND, VIRTUAL_INBOUND, ...outboundListenerNames(ctx, proxy), ...bound])];
}

/** The listeners the proxy consumes through: virtualOutbound (when traffic is captured) and the outbound ones. */
export function sidecarOutboundListenerNames(ctx: PushContext, proxy: Proxy): string[] {
  if (proxy.interceptionMode === 'NONE') return outboundListenerNames(ctx, proxy);
  return [VIRTUAL_OUTBOUND, ...outboundListenerNames(ctx, proxy)];
}

/**
 * The listeners the workload serves through: virtualInbound (none without traffic capture) and those its
 * Sidecar's ingress ports bind for real (which take precedence over an outbound listener of that name).
 */
export function sidecarInboundListenerNames(ctx: PushContext, proxy: Proxy): string[] {
  const bound = boundInboundListenerNames(ctx, proxy);
  return [...new Set([...(proxy.interceptionMode === 'NONE' ? [] : [VIRTUAL_INBOUND]), ...bound])];
}

export function isInboundListenerName(name: string): boolean {
  return name === VIRTUAL_INBOUND;
}

export function buildSidecarListener(ctx: PushContext, proxy: Proxy, name: string): object | undefined {
  const captured = proxy.interceptionMode !== 'NONE';
  if (name === VIRTUAL_OUTBOUND) return captured ? buildVirtualOutboundListener(ctx, proxy) : undefined;
  if (name === VIRTUAL_INBOUND) return captured ? buildVirtualInboundListener(ctx, proxy) : undefined;
  // an inbound port bound for real takes its name from the outbound listeners (istiod builds inbound first)
  return buildBoundInboundListener(ctx, proxy, name) ?? buildOutboundListener(ctx, proxy, name);
}
