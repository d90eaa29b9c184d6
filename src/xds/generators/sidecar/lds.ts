import type { PushContext } from '../../../model/push-context.js';
import type { Proxy } from '../../../model/proxy.js';

// SCAFFOLD (owned by the sidecar-listeners work)
export function sidecarListenerNames(_ctx: PushContext, _proxy: Proxy): string[] {
  return [];
}
export function buildSidecarListener(_ctx: PushContext, _proxy: Proxy, _name: string): object | undefined {
  return undefined;
}
