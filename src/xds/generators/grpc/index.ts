import type { PushContext } from '../../../model/push-context.js';
import type { Proxy } from '../../../model/proxy.js';
import { TYPE, type TypeUrl } from '../../resource-types.js';
import type { Generator, ResourceScope } from '../generator.js';
import { buildCluster } from './cds.js';
import { buildClusterLoadAssignment } from './eds.js';
import { allClientListenerNames, buildListener } from './lds.js';
import { parseServerListenerName } from './names.js';
import { proxyViewOf, type ProxyView } from '../../../model/proxy-view.js';
import { buildRouteConfiguration } from './rds.js';
import { securityLabelKeys, workloadTlsModeKey } from '../../../security/grpc.js';
import { sidecarSelectorKeys } from '../../../model/sidecar-scope.js';

// The proxyless gRPC generator (node metadata GENERATOR=grpc): istiod's `grpc` generator contract.
// gRPC clients name every LDS/CDS resource they want; see lds.ts, rds.ts, cds.ts, eds.ts for each type
// and docs/proxyless-grpc.md for the VirtualService/DestinationRule support table.

const labelKeysCache = new WeakMap<PushContext, readonly string[]>();
const outboundKeysCache = new WeakMap<PushContext, readonly string[]>();

/**
 * Proxy label keys what a proxy consumes can depend on: the keys VirtualService matches select sources by
 * (`sourceLabels` of http routes, and of tcp/tls routes, which Envoy sidecars also select by —
 * sidecar/outbound.ts), the keys DestinationRule workload selectors match on, and those of Sidecar
 * resources (which Sidecar scopes the proxy).
 */
export function outboundLabelKeys(ctx: PushContext): readonly string[] {
  let keys = outboundKeysCache.get(ctx);
  if (!keys) {
    const set = new Set<string>();
    for (const vs of ctx.virtualServices) {
      for (const http of vs.config.spec.http ?? []) {
        for (const m of http.match ?? []) for (const k of Object.keys(m.sourceLabels ?? {})) set.add(k);
      }
      for (const r of [...(vs.config.spec.tcp ?? []), ...(vs.config.spec.tls ?? [])]) {
        for (const m of r.match ?? []) for (const k of Object.keys(m.sourceLabels ?? {})) set.add(k);
      }
    }
    for (const dr of ctx.destinationRules) {
      for (const k of Object.keys(dr.config.spec.workloadSelector?.matchLabels ?? {})) set.add(k);
    }
    // the Sidecar resource a proxy gets (egress scoping, outbound traffic policy) is chosen by these
    for (const k of sidecarSelectorKeys(ctx)) set.add(k);
    keys = [...set].sort();
    outboundKeysCache.set(ctx, keys);
  }
  return keys;
}

/**
 * Proxy label keys any output can depend on: outboundLabelKeys, and the keys PeerAuthentication and
 * AuthorizationPolicy selectors match on (plus security.istio.io/tlsMode).
 */
export function referencedLabelKeys(ctx: PushContext): readonly string[] {
  let keys = labelKeysCache.get(ctx);
  if (!keys) {
    keys = [...new Set([...outboundLabelKeys(ctx), ...securityLabelKeys(ctx)])].sort();
    labelKeysCache.set(ctx, keys);
  }
  return keys;
}

/**
 * The proxyless client's outbound view (model/proxy-view.ts): namespace and DNS domain (name resolution,
 * exportTo, DestinationRule lookup) and the labels outboundLabelKeys names. Client listeners, routes,
 * clusters and assignments are built from it; server listeners (with their mTLS and RBAC) per class.
 */
export function grpcView(ctx: PushContext, proxy: Proxy): ProxyView {
  return proxyViewOf(proxy, { labelKeys: outboundLabelKeys(ctx), labels: ctx.proxyLabels(proxy), localityMatters: false, failoverPriority: false });
}

/**
 * Everything beyond the resource name the output depends on:
 * - namespace: VirtualService/DestinationRule visibility (exportTo) and precedence, `sourceNamespace`,
 *   short-name listener resolution and virtual-host domains;
 * - DNS domain: short-name resolution and domains;
 * - the proxy's values for the label keys VirtualServices select sources by (`sourceLabels`) — only
 *   those, so replicas that differ in unrelated labels (pod-template-hash, pod-name) share resources.
 * Server listener names carry the IP themselves.
 */
export function grpcClassKey(ctx: PushContext, proxy: Proxy): string {
  const labels = ctx.proxyLabels(proxy);
  const projected = referencedLabelKeys(ctx)
    .filter((k) => k in labels)
    .map((k) => [k, labels[k]]);
  // tls: the workload's tlsMode from its pod (server listeners turn PERMISSIVE into mTLS for tlsMode=istio)
  return JSON.stringify({ ns: proxy.namespace, dns: proxy.dnsDomain || ctx.mesh.domainSuffix, labels: projected, tls: workloadTlsModeKey(ctx, proxy) });
}

export const grpcGenerator: Generator = {
  name: 'grpc',
  classKey: grpcClassKey,
  view: grpcView,
  scopeOf(type: TypeUrl, name: string): ResourceScope {
    // server listeners carry the workload's own mTLS and RBAC
    return type === TYPE.LDS && parseServerListenerName(name) ? 'class' : 'view';
  },
  wildcardNames(type: TypeUrl, ctx: PushContext, _proxy: Proxy, scope?: ResourceScope): string[] {
    // gRPC never subscribes by wildcard; istiod answers a wildcard LDS with every service listener and a
    // wildcard CDS with nothing.
    return type === TYPE.LDS && scope !== 'class' ? allClientListenerNames(ctx) : [];
  },
  generate(type: TypeUrl, ctx: PushContext, proxy: Proxy, name: string): object | undefined {
    switch (type) {
      case TYPE.LDS:
        return buildListener(ctx, proxy, name);
      case TYPE.RDS:
        return buildRouteConfiguration(ctx, proxy, name);
      case TYPE.CDS:
        return buildCluster(ctx, proxy, name);
      case TYPE.EDS:
        return buildClusterLoadAssignment(ctx, proxy, name);
      default:
        return undefined;
    }
  },
};
