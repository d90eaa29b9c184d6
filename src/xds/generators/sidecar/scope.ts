import type { PushContext } from '../../../model/push-context.js';
import type { Proxy } from '../../../model/proxy.js';

// SCAFFOLD (owned by the sidecar-clusters work): what a sidecar sees and serves.

/** Every proxy fact beyond the resource name the sidecar output depends on (see Generator.classKey). */
export function sidecarClassKey(_ctx: PushContext, proxy: Proxy): string {
  return JSON.stringify({ id: proxy.id });
}
