import type { PushContext } from '../../../model/push-context.js';
import type { Proxy } from '../../../model/proxy.js';
import { buildVirtualInboundListener, VIRTUAL_INBOUND } from './inbound.js';
import { buildOutboundListener, buildVirtualOutboundListener, outboundListenerNames, VIRTUAL_OUTBOUND } from './outbound.js';

// LDS for Envoy sidecars: what a wildcard subscription returns and how each name is built. The listeners
// themselves are in outbound.ts (virtualOutbound, 0.0.0.0_PORT, CLUSTERIP_PORT) and inbound.ts
// (virtualInbound). Every listener depends only on the snapshot and the facts in sidecarClassKey.
//
// Interception mode NONE (istiod buildVirtualOutboundListener / buildInboundListeners): nothing redirects
// connections, so neither virtual listener exists; outbound listeners bind 127.0.0.1_PORT for real, and
// there is no inbound listener at all — istiod builds inbound ones for NONE only from a Sidecar resource's
// `ingress` (binding the workload's own ports would stop the application from starting), and meshd does
// not serve Sidecar.

export function sidecarListenerNames(ctx: PushContext, proxy: Proxy): string[] {
  if (proxy.interceptionMode === 'NONE') return outboundListenerNames(ctx, proxy);
  return [VIRTUAL_OUTBOUND, VIRTUAL_INBOUND, ...outboundListenerNames(ctx, proxy)];
}

export function buildSidecarListener(ctx: PushContext, proxy: Proxy, name: string): object | undefined {
  const captured = proxy.interceptionMode !== 'NONE';
  if (name === VIRTUAL_OUTBOUND) return captured ? buildVirtualOutboundListener(ctx, proxy) : undefined;
  if (name === VIRTUAL_INBOUND) return captured ? buildVirtualInboundListener(ctx, proxy) : undefined;
  return buildOutboundListener(ctx, proxy, name);
}
