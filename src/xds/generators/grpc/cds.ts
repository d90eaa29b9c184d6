import type { ClientTLSSettings, LoadBalancerSettings } from '../../../config/schemas/destination-rule.js';
import type { PushContext } from '../../../model/push-context.js';
import type { Proxy } from '../../../model/proxy.js';
import { parseSubsetKey } from '../../../envoy/cluster-name.js';
import {
  effectiveTrafficPolicy,
  findSubset,
  grpcCircuitBreakers,
  translateOutlierDetection,
} from '../../../envoy/traffic-policy.js';
import { adsConfigSource } from '../../../envoy/type-urls.js';
import { grpcUpstreamTransportSocket } from '../../../security/grpc.js';

// CDS for proxyless gRPC (Istio grpcgen cds.go). Clusters are named `outbound|PORT|SUBSET|FQDN`, always
// type EDS with endpoints over ADS (service_name = the cluster name). The DestinationRule the proxy sees
// for the host (its namespace, then the service's, then the root namespace) shapes them:
//
//   loadBalancer.simple ROUND_ROBIN / unset / LEAST_REQUEST / LEAST_CONN / RANDOM / PASSTHROUGH
//                                    → ROUND_ROBIN. gRPC implements round robin and ring hash only
//                                      (grpc-js NACKs LEAST_REQUEST); istiod's grpc generator also
//                                      keeps ROUND_ROBIN and only logs the others.
//   loadBalancer.consistentHash      → RING_HASH, ring_hash_lb_config.minimum_ring_size from
//                                      ringHash.minimumRingSize, else the deprecated minimumRingSize,
//                                      else 1024 (istiod ApplyRingHashLoadBalancer); capped at gRPC's
//                                      8388608. `maglev` → RING_HASH with the default ring (gRPC has no
//                                      Maglev; istiod would write MAGLEV, which gRPC NACKs).
//   outlierDetection                 → outlier_detection as istiod writes it for Envoy. gRPC (gRFC A50)
//                                      only implements success-rate and failure-percentage ejection,
//                                      which Istio's API does not expose (istiod turns success-rate
//                                      off), so it does not eject on consecutive errors.
//   connectionPool.http.http2MaxRequests → circuit_breakers.thresholds[0].max_requests (gRFC A32);
//                                      the other connection-pool settings have no gRPC equivalent.
//   subsets[].trafficPolicy, portLevelSettings → merged as istiod does (subset part by part; port-level
//                                      settings replace a part wholesale).
//   tls                              → nothing yet (plaintext). istiod's grpc generator only honours
//                                      ISTIO_MUTUAL (UpstreamTlsContext with certificate provider
//                                      instances `default`/`ROOTCA`); see `upstreamTransportSocket`.
//   warmup, localityLbSetting, tunnel, proxyProtocol, retryBudget, backendUtilization → not written
//                                      (no gRPC equivalent; istiod's grpc generator ignores them too).
//
// A cluster for a host that is not a known service is still answered (plain EDS cluster, as istiod
// does); a subset cluster only when the DestinationRule defines that subset.

const GRPC_MAX_RING_SIZE = 8388608;
const DEFAULT_MIN_RING_SIZE = 1024;

export function buildCluster(ctx: PushContext, proxy: Proxy, name: string): object | undefined {
  const key = parseSubsetKey(name);
  if (!key || key.direction !== 'outbound') return undefined;
  const service = ctx.service(key.hostname);
  const servesPort = !!service?.ports.some((p) => p.port === key.port);
  const dr = servesPort ? ctx.destinationRuleFor(proxy.namespace, key.hostname, ctx.proxyLabels(proxy))?.config : undefined;
  if (key.subset && !findSubset(dr, key.subset)) return undefined;

  const cluster: Record<string, unknown> = {
    name,
    type: 'EDS',
    eds_cluster_config: { service_name: name, eds_config: adsConfigSource() },
  };
  const policy = dr ? effectiveTrafficPolicy(dr, key.subset, key.port) : undefined;
  Object.assign(cluster, grpcLoadBalancer(policy?.loadBalancer));
  const cb = grpcCircuitBreakers(policy?.connectionPool);
  if (cb) cluster.circuit_breakers = cb;
  const od = translateOutlierDetection(policy?.outlierDetection);
  if (od) cluster.outlier_detection = od;
  const ts = upstreamTransportSocket(ctx, proxy, policy?.tls, key.hostname, key.port);
  if (ts) cluster.transport_socket = ts;
  return cluster;
}

/** DestinationRule load balancer → the lb_policy gRPC implements (see the table above). */
export function grpcLoadBalancer(lb: LoadBalancerSettings | undefined): Record<string, unknown> {
  const ch = lb?.consistentHash;
  if (!ch) return { lb_policy: 'ROUND_ROBIN' };
  let minRing: number | undefined;
  if (ch.maglev) minRing = undefined;
  else if (ch.ringHash) minRing = ch.ringHash.minimumRingSize || undefined;
  else minRing = ch.minimumRingSize || DEFAULT_MIN_RING_SIZE;
  const out: Record<string, unknown> = { lb_policy: 'RING_HASH' };
  if (minRing !== undefined) out.ring_hash_lb_config = { minimum_ring_size: { value: Math.min(minRing, GRPC_MAX_RING_SIZE) } };
  return out;
}

/**
 * The cluster's transport socket for DestinationRule `tls` (ISTIO_MUTUAL) and auto-mTLS: an
 * UpstreamTlsContext with certificate provider instances and the destination's SPIFFE SANs
 * (src/security/grpc.ts).
 */
export function upstreamTransportSocket(
  ctx: PushContext,
  proxy: Proxy,
  tls: ClientTLSSettings | undefined,
  hostname: string,
  port: number,
): Record<string, unknown> | undefined {
  return grpcUpstreamTransportSocket(ctx, proxy, tls, hostname, port);
}
