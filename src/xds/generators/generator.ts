import type { PushContext } from '../../model/push-context.js';
import type { GeneratorName, Proxy } from '../../model/proxy.js';
import type { ProxyView } from '../../model/proxy-view.js';
import type { TypeUrl } from '../resource-types.js';

/**
 * Which proxy facts a resource is built from:
 * - `view`: what the proxy consumes (outbound clusters, assignments, routes, listeners). Built once per
 *   outbound view (Generator.view) from the view's canonical proxy, shared by every class with that view.
 * - `class`: what the proxy's own workload serves (inbound clusters and listeners, server listeners with
 *   their mTLS/RBAC). Built from the real proxy, once per class key.
 */
export type ResourceScope = 'view' | 'class';

/**
 * A generator is a pure function of (snapshot, proxy facts, resource name) → resource. It never reads a
 * source or the store.
 *
 * `classKey` names every proxy fact its output depends on beyond the resource name: proxies with equal
 * class keys share one encoded copy of each class-scoped resource. `view` names the facts view-scoped
 * resources depend on; those are generated from the view's canonical proxy (model/proxy-view.ts), so two
 * proxies with equal views get the same objects by construction. A generator without `view` has every
 * resource class-scoped. Leaving a fact out of classKey would leak one proxy's config to another, so
 * tests pin it.
 */
export interface Generator {
  readonly name: GeneratorName;
  classKey(ctx: PushContext, proxy: Proxy): string;
  /**
   * the proxy's outbound view for resources of `type` (see ResourceScope); absent: every resource is
   * class-scoped. A type may be keyed by more facts than another (sidecar listeners carry what their
   * observability reads of the workload; clusters, assignments and routes do not), so that a fact only
   * one type reads splits only that type's view.
   */
  view?(ctx: PushContext, proxy: Proxy, type: TypeUrl): ProxyView;
  /** which scope a (type, name) belongs to; absent: `class` */
  scopeOf?(type: TypeUrl, name: string): ResourceScope;
  /**
   * Names a wildcard subscription (no names requested) resolves to: those of `scope` only when given
   * (the view proxy is passed for `view`), else all of them.
   */
  wildcardNames(type: TypeUrl, ctx: PushContext, proxy: Proxy, scope?: ResourceScope): string[];
  /** the resource body in proto-JSON form (snake_case; nested Anys as `{'@type': …}`), or undefined if it does not exist */
  generate(type: TypeUrl, ctx: PushContext, proxy: Proxy, name: string): object | undefined;
}
