import type { PushContext } from '../../../model/push-context.js';
import type { Proxy } from '../../../model/proxy.js';

// SCAFFOLD (owned by the sidecar-clusters work)
export function sidecarClusterNames(_ctx: PushContext, _proxy: Proxy): string[] {
  return [];
}
export function buildSidecarCluster(_ctx: PushContext, _proxy: Proxy, _name: string): object | undefined {
  return undefined;
}
