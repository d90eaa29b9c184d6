import type { PushContext } from '../model/push-context.js';
import type { Proxy } from '../model/proxy.js';
import { sidecarGenerator } from '../xds/generators/sidecar/index.js';
import type { Generator } from '../xds/generators/generator.js';
import { TYPE } from '../xds/resource-types.js';
import { anyType, ResourceSet, type Json } from './resources.js';
import { HCM_TYPE } from './envoy-sim.js';

// What one Envoy sidecar would hold after subscribing the way istio-proxy does: CDS and LDS by wildcard,
// RDS by every route_config_name its listeners' HTTP connection managers reference, EDS by the service
// name of every EDS cluster.

export interface GeneratedSidecar {
  readonly resources: ResourceSet;
  /** Route configuration names a listener references that the generator did not produce. */
  readonly missingRoutes: readonly string[];
}

function routeNamesOf(listener: Json): string[] {
  const chains: Json[] = [...(listener.filter_chains ?? []), ...(listener.default_filter_chain ? [listener.default_filter_chain] : [])];
  const out: string[] = [];
  for (const ch of chains) {
    for (const f of ch.filters ?? []) {
      const name = anyType(f.typed_config) === HCM_TYPE ? f.typed_config.rds?.route_config_name : undefined;
      if (typeof name === 'string') out.push(name);
    }
  }
  return out;
}

/** `generator`: the sidecar's by default; a gateway (router) proxy passes the router generator. */
export function generateSidecarResources(ctx: PushContext, proxy: Proxy, generator: Generator = sidecarGenerator): GeneratedSidecar {
  const gen = (type: (typeof TYPE)[keyof typeof TYPE], name: string) => generator.generate(type, ctx, proxy, name) as Json | undefined;
  const of = (type: (typeof TYPE)[keyof typeof TYPE], names: readonly string[]) =>
    names.map((n) => gen(type, n)).filter((r): r is Json => r !== undefined);
  const listeners = of(TYPE.LDS, generator.wildcardNames(TYPE.LDS, ctx, proxy));
  const clusters = of(TYPE.CDS, generator.wildcardNames(TYPE.CDS, ctx, proxy));
  const routeNames = [...new Set(listeners.flatMap(routeNamesOf))];
  const routes: Json[] = [];
  const missingRoutes: string[] = [];
  for (const n of routeNames) {
    const rc = gen(TYPE.RDS, n);
    if (rc) routes.push(rc);
    else missingRoutes.push(n);
  }
  const edsNames = clusters.filter((c) => c.type === 'EDS').map((c) => String(c.eds_cluster_config?.service_name || c.name));
  const endpoints = of(TYPE.EDS, [...new Set(edsNames)]);
  return { resources: new ResourceSet({ listeners, routes, clusters, endpoints } as never), missingRoutes };
}
