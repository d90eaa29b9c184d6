import type { PushContext } from '../../../model/push-context.js';
import type { Proxy } from '../../../model/proxy.js';
import { TYPE, type TypeUrl } from '../../resource-types.js';
import type { Generator } from '../generator.js';
import { buildSidecarCluster, sidecarClusterNames } from './cds.js';
import { buildSidecarLoadAssignment } from './eds.js';
import { buildSidecarListener, sidecarListenerNames } from './lds.js';
import { buildSidecarRouteConfiguration } from './rds.js';
import { sidecarClassKey } from './scope.js';
import { forStockEnvoy } from './stock-envoy.js';

// The Envoy sidecar generator (istio-proxy nodes `sidecar~IP~POD.NS~NS.svc.DOMAIN` without
// GENERATOR=grpc): Istio's data-plane contract. Envoy subscribes to CDS and LDS by wildcard and to
// EDS/RDS by the names those resources reference; see cds.ts, eds.ts, lds.ts, rds.ts.

export const sidecarGenerator: Generator = {
  name: 'sidecar',
  classKey: sidecarClassKey,
  wildcardNames(type: TypeUrl, ctx: PushContext, proxy: Proxy): string[] {
    if (type === TYPE.CDS) return sidecarClusterNames(ctx, proxy);
    if (type === TYPE.LDS) return sidecarListenerNames(ctx, proxy);
    return [];
  },
  generate(type: TypeUrl, ctx: PushContext, proxy: Proxy, name: string): object | undefined {
    switch (type) {
      case TYPE.LDS: {
        const listener = buildSidecarListener(ctx, proxy, name) as Record<string, unknown> | undefined;
        return listener && !proxy.istioExtensions ? forStockEnvoy(listener) : listener;
      }
      case TYPE.RDS:
        return buildSidecarRouteConfiguration(ctx, proxy, name);
      case TYPE.CDS:
        return buildSidecarCluster(ctx, proxy, name);
      case TYPE.EDS:
        return buildSidecarLoadAssignment(ctx, proxy, name);
      default:
        return undefined;
    }
  },
};
