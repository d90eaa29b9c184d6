import type { PushContext } from '../../../model/push-context.js';
import type { Proxy } from '../../../model/proxy.js';

// SCAFFOLD (owned by the sidecar-listeners work)
export function buildSidecarRouteConfiguration(_ctx: PushContext, _proxy: Proxy, _name: string): object | undefined {
  return undefined;
}
