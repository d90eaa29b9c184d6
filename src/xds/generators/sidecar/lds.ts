import type { PushContext } from '../../../model/push-context.js';
import type { Proxy } from '../../../model/proxy.js';
import { buildVirtualInboundListener, VIRTUAL_INBOUND } from './inbound.js';
import { buildOutboundListener, buildVirtualOutboundListener, outboundListenerNames, VIRTUAL_OUTBOUND } from './outbound.js';

// LDS for Envoy sidecars: what a wildcard subscription returns and how each name is built. The listeners
// themselves are in outbound.ts (virtualOutbound, 0.0.0.0_PORT, CLUSTERIP_PORT) and inbound.ts
// (virtualInbound). Every listener depends only on the snapshot and the facts in sidecarClassKey.

export function sidecarListenerNames(ctx: PushContext, proxy: Proxy): string[] {
  return [VIRTUAL_OUTBOUND, VIRTUAL_INBOUND, ...outboundListenerNames(ctx, proxy)];
}

export function buildSidecarListener(ctx: PushContext, proxy: Proxy, name: string): object | undefined {
  if (name === VIRTUAL_OUTBOUND) return buildVirtualOutboundListener(ctx, proxy);
  if (name === VIRTUAL_INBOUND) return buildVirtualInboundListener(ctx, proxy);
  return buildOutboundListener(ctx, proxy, name);
}
