import type { PushContext } from '../../../model/push-context.js';
import type { Proxy } from '../../../model/proxy.js';
import { TYPE, type TypeUrl } from '../../resource-types.js';
import type { Generator, ResourceScope } from '../generator.js';
import { buildSidecarCluster, inboundClusterNames, isInboundClusterName, outboundClusterNames, sidecarClusterNames } from './cds.js';
import { buildSidecarLoadAssignment } from './eds.js';
import {
  buildSidecarListener,
  isInboundListenerName,
  sidecarInboundListenerNames,
  sidecarListenerNames,
  sidecarOutboundListenerNames,
} from './lds.js';
import { buildSidecarRouteConfiguration } from './rds.js';
import { sidecarClassKey, sidecarView } from './scope.js';
import { forStockEnvoy } from './stock-envoy.js';

// The Envoy sidecar generator (istio-proxy nodes `sidecar~IP~POD.NS~NS.svc.DOMAIN` without
// GENERATOR=grpc): Istio's data-plane contract. Envoy subscribes to CDS and LDS by wildcard and to
// EDS/RDS by the names those resources reference; see cds.ts, eds.ts, lds.ts, rds.ts.
//
// Scopes (generator.ts): the workload's own inbound clusters (`inbound|PORT||`) and virtualInbound are
// class-scoped; everything else — outbound clusters, the three fixed clusters, every load assignment and
// route configuration, virtualOutbound and the outbound listeners — is view-scoped. What istiod writes per
// workload into outbound HCMs and tcp_proxies (sidecar/telemetry.ts: Istio's span tags when tracing is on,
// the access logs, tracer and metrics of the Telemetry objects selecting the workload) enters the view
// only when it applies (scope.ts sidecarView, telemetry.ts outboundTelemetryReads): span-tag values when
// tracing writes them, the labels of Telemetry selectors that pick the proxy. A listener a Sidecar ingress
// port binds for real (ingress.ts) is the workload's own, so class-scoped, though its name (`BIND_PORT`)
// looks like an outbound one: the class's wildcard names include it, and it replaces the view's listener
// of that name (resolve.ts), as istiod builds inbound listeners first.

export const sidecarGenerator: Generator = {
  name: 'sidecar',
  classKey: sidecarClassKey,
  view: sidecarView,
  scopeOf(type: TypeUrl, name: string): ResourceScope {
    if (type === TYPE.CDS) return isInboundClusterName(name) ? 'class' : 'view';
    if (type === TYPE.LDS) return isInboundListenerName(name) ? 'class' : 'view';
    return 'view';
  },
  wildcardNames(type: TypeUrl, ctx: PushContext, proxy: Proxy, scope?: ResourceScope): string[] {
    if (type === TYPE.CDS) {
      if (scope === 'view') return outboundClusterNames(ctx, proxy);
      return scope === 'class' ? inboundClusterNames(ctx, proxy) : sidecarClusterNames(ctx, proxy);
    }
    if (type === TYPE.LDS) {
      if (scope === 'view') return sidecarOutboundListenerNames(ctx, proxy);
      return scope === 'class' ? sidecarInboundListenerNames(ctx, proxy) : sidecarListenerNames(ctx, proxy);
    }
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
