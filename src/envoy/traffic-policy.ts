import type {
  ConnectionPoolSettings,
  ConsistentHashLB,
  PortTrafficPolicy,
  DestinationRule,
  OutlierDetection,
  Subset,
  TrafficPolicy,
} from '../config/schemas/destination-rule.js';
import { toDuration } from './duration.js';

// DestinationRule traffic policies: which policy applies to a (port, subset), and the pieces of a Cluster
// that do not depend on the kind of client. Mirrors istiod's MergeSubsetTrafficPolicy and
// cluster_traffic_policy.go.

/** The four policy parts that port-level settings replace. */
export interface EffectivePolicy {
  readonly loadBalancer?: TrafficPolicy['loadBalancer'];
  readonly connectionPool?: TrafficPolicy['connectionPool'];
  readonly outlierDetection?: TrafficPolicy['outlierDetection'];
  readonly tls?: TrafficPolicy['tls'];
  readonly tunnel?: TrafficPolicy['tunnel'];
  readonly proxyProtocol?: TrafficPolicy['proxyProtocol'];
  readonly retryBudget?: TrafficPolicy['retryBudget'];
}

/**
 * istiod GetPortLevelTrafficPolicy: a portLevelSettings entry for `port` replaces loadBalancer,
 * connectionPool, outlierDetection and tls wholesale — a part it omits falls back to the default, it is
 * not inherited from the destination level.
 */
export function portLevelPolicy(
  policy: TrafficPolicy | undefined,
  port: number | undefined,
): { policy: EffectivePolicy | undefined; hasPortLevel: boolean } {
  if (!policy) return { policy: undefined, hasPortLevel: false };
  const pls = port === undefined ? undefined : policy.portLevelSettings?.find((p) => p.port?.number === port);
  const base: EffectivePolicy = {
    loadBalancer: policy.loadBalancer,
    connectionPool: policy.connectionPool,
    outlierDetection: policy.outlierDetection,
    tls: policy.tls,
    tunnel: policy.tunnel,
    proxyProtocol: policy.proxyProtocol,
    retryBudget: policy.retryBudget,
  };
  if (!pls) return { policy: base, hasPortLevel: false };
  return {
    policy: {
      ...base,
      loadBalancer: pls.loadBalancer,
      connectionPool: pls.connectionPool,
      outlierDetection: pls.outlierDetection,
      tls: pls.tls,
    },
    hasPortLevel: true,
  };
}

/**
 * istiod MergeSubsetTrafficPolicy: the destination-level policy for `port`, overridden part by part by
 * the subset's policy (and wholesale by the subset's port-level settings for `port`).
 */
export function effectiveTrafficPolicy(
  dr: DestinationRule | undefined,
  subsetName: string,
  port: number | undefined,
): EffectivePolicy | undefined {
  const top = portLevelPolicy(dr?.spec.trafficPolicy, port).policy;
  if (!subsetName) return top;
  const subset = findSubset(dr, subsetName);
  const { policy: sub, hasPortLevel } = portLevelPolicy(subset?.trafficPolicy, port);
  if (!sub) return top;
  if (!top) return sub;
  const pick = <K extends keyof EffectivePolicy>(k: K, wholesale: boolean): EffectivePolicy[K] =>
    sub[k] !== undefined || wholesale ? sub[k] : top[k];
  return {
    loadBalancer: pick('loadBalancer', hasPortLevel),
    connectionPool: pick('connectionPool', hasPortLevel),
    outlierDetection: pick('outlierDetection', hasPortLevel),
    tls: pick('tls', hasPortLevel),
    tunnel: pick('tunnel', false),
    proxyProtocol: pick('proxyProtocol', false),
    retryBudget: pick('retryBudget', false),
  };
}

export function findSubset(dr: DestinationRule | undefined, name: string): Subset | undefined {
  return dr?.spec.subsets?.find((s) => s.name === name);
}

/**
 * istiod HashForHTTPDestination: the consistent hash a route destination uses — the subset's port-level
 * setting, then the subset's, then the destination's port-level setting, then the top level.
 */
export function destinationConsistentHash(
  dr: DestinationRule | undefined,
  subset: string | undefined,
  port: number | undefined,
): ConsistentHashLB | undefined {
  if (!dr) return undefined;
  const tp = dr.spec.trafficPolicy;
  const forPort = (pls: readonly PortTrafficPolicy[] | undefined) =>
    port === undefined ? undefined : pls?.find((p) => p.port?.number === port)?.loadBalancer?.consistentHash;
  const sub = subset ? findSubset(dr, subset) : undefined;
  return forPort(sub?.trafficPolicy?.portLevelSettings) ?? sub?.trafficPolicy?.loadBalancer?.consistentHash
    ?? forPort(tp?.portLevelSettings) ?? tp?.loadBalancer?.consistentHash;
}

/** istiod hashForService (a service's default route): the top level, overridden by the port's settings. */
export function serviceConsistentHash(dr: DestinationRule | undefined, port: number): ConsistentHashLB | undefined {
  const tp = dr?.spec.trafficPolicy;
  const pls = tp?.portLevelSettings?.find((p) => p.port?.number === port);
  return pls?.loadBalancer?.consistentHash ?? tp?.loadBalancer?.consistentHash;
}

/**
 * OutlierDetection → cluster.v3.OutlierDetection (istiod applyOutlierDetection): success-rate ejection
 * off, consecutive 5xx / gateway errors with 100 % enforcement when > 0, interval, base ejection time,
 * max ejection percent, local-origin split. The deprecated `consecutiveErrors` is ignored (as istiod).
 */
export function translateOutlierDetection(od: OutlierDetection | undefined): Record<string, unknown> | undefined {
  if (!od) return undefined;
  const out: Record<string, unknown> = { enforcing_success_rate: { value: 0 } };
  if (od.consecutive5xxErrors !== undefined && od.consecutive5xxErrors !== null) {
    const v = od.consecutive5xxErrors;
    out.consecutive_5xx = { value: v };
    out.enforcing_consecutive_5xx = { value: v > 0 ? 100 : 0 };
  }
  if (od.consecutiveGatewayErrors !== undefined && od.consecutiveGatewayErrors !== null) {
    const v = od.consecutiveGatewayErrors;
    out.consecutive_gateway_failure = { value: v };
    out.enforcing_consecutive_gateway_failure = { value: v > 0 ? 100 : 0 };
  }
  const interval = toDuration(od.interval);
  if (interval) out.interval = interval;
  const base = toDuration(od.baseEjectionTime);
  if (base) out.base_ejection_time = base;
  if (od.maxEjectionPercent !== undefined && od.maxEjectionPercent > 0) {
    out.max_ejection_percent = { value: Math.min(100, od.maxEjectionPercent) };
  }
  if (od.splitExternalLocalOriginErrors) {
    out.split_external_local_origin_errors = true;
    if ((od.consecutiveLocalOriginFailures ?? 0) > 0) {
      out.consecutive_local_origin_failure = { value: od.consecutiveLocalOriginFailures };
      out.enforcing_consecutive_local_origin_failure = { value: 100 };
    }
    out.enforcing_local_origin_success_rate = { value: 0 };
  }
  return out;
}

/**
 * connectionPool → cluster.v3.CircuitBreakers, the part a proxyless gRPC client enforces: only
 * `max_requests` (gRFC A32) from `http.http2MaxRequests`. Undefined when that is not set.
 */
export function grpcCircuitBreakers(cp: ConnectionPoolSettings | undefined): Record<string, unknown> | undefined {
  const max = cp?.http?.http2MaxRequests;
  if (max === undefined || max <= 0) return undefined;
  return { thresholds: [{ max_requests: { value: max } }] };
}
