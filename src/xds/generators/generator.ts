import type { PushContext } from '../../model/push-context.js';
import type { GeneratorName, Proxy } from '../../model/proxy.js';
import type { TypeUrl } from '../resource-types.js';

/**
 * A generator is a pure function of (snapshot, proxy facts, resource name) → resource. It never reads a
 * source or the store. `classKey` names every proxy fact its output depends on beyond the resource name:
 * proxies with equal class keys share one encoded copy of each resource (the cache key is
 * snapshot version + generator + classKey + type + name). Leaving a fact out of classKey would leak one
 * proxy's config to another, so tests pin it.
 */
export interface Generator {
  readonly name: GeneratorName;
  classKey(ctx: PushContext, proxy: Proxy): string;
  /** names a wildcard subscription (no names requested) resolves to */
  wildcardNames(type: TypeUrl, ctx: PushContext, proxy: Proxy): string[];
  /** the resource body in proto-JSON form (snake_case; nested Anys as `{'@type': …}`), or undefined if it does not exist */
  generate(type: TypeUrl, ctx: PushContext, proxy: Proxy, name: string): object | undefined;
}
