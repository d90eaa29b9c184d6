import { z } from 'zod';
import { envelope } from './meta.js';
import {
  double,
  duration,
  durationMin1ms,
  int32,
  portSelector,
  status,
  stringList,
  stringMap,
  uint32,
  uint64,
  workloadSelector,
  istioEnum,
} from './common.js';

// networking.istio.io DestinationRule (v1, v1beta1 and v1alpha3 share this schema). Every field of
// crd-all.gen.yaml, including `loadBalancer.backendUtilization` which the protos in the reference snapshot
// predate. Field semantics: proto/networking/v1alpha3/destination_rule.proto.

const percent0to100 = double.min(0, 'must be between 0 and 100').max(100, 'must be between 0 and 100');

// --- load balancing ------------------------------------------------------------------------------------------

export const httpCookie = z.strictObject({
  name: z.string(),
  path: z.string().optional(),
  ttl: duration.optional(),
  attributes: z.array(z.strictObject({ name: z.string(), value: z.string().optional() })).optional(),
});
export type HTTPCookie = z.infer<typeof httpCookie>;

export const consistentHashLB = z.strictObject({
  httpHeaderName: z.string().optional(),
  httpCookie: httpCookie.optional(),
  useSourceIp: z.boolean().optional(),
  httpQueryParameterName: z.string().optional(),
  ringHash: z.strictObject({ minimumRingSize: uint64.optional() }).optional(),
  maglev: z.strictObject({ tableSize: uint64.optional() }).optional(),
  /** deprecated: use `ringHash.minimumRingSize` */
  minimumRingSize: uint64.optional(),
});
export type ConsistentHashLB = z.infer<typeof consistentHashLB>;

export const localityFailover = z.strictObject({
  from: z.string().optional(),
  to: z.string().optional(),
});
export type LocalityFailover = z.infer<typeof localityFailover>;

export const localityDistribute = z.strictObject({
  from: z.string().optional(),
  to: z.record(z.string(), uint32).optional(),
});
export type LocalityDistribute = z.infer<typeof localityDistribute>;

export const localityLoadBalancerSetting = z.strictObject({
  distribute: z.array(localityDistribute).optional(),
  failover: z.array(localityFailover).optional(),
  failoverPriority: stringList.optional(),
  enabled: z.boolean().nullish(),
});
export type LocalityLoadBalancerSetting = z.infer<typeof localityLoadBalancerSetting>;

export const zoneAwareLoadBalancerSetting = z.strictObject({
  enabled: z.boolean().nullish(),
  failover: z.array(localityFailover).optional(),
  failoverPriority: stringList.optional(),
  minClusterSize: uint64.min(1, 'must be at least 1').nullish(),
});
export type ZoneAwareLoadBalancerSetting = z.infer<typeof zoneAwareLoadBalancerSetting>;

export const warmupConfiguration = z.strictObject({
  duration: durationMin1ms,
  minimumPercent: percent0to100.nullish(),
  aggression: double.min(0, 'must be at least 0').nullish(),
});
export type WarmupConfiguration = z.infer<typeof warmupConfiguration>;

export const backendUtilizationLoadBalancing = z.strictObject({
  weightExpirationPeriod: duration.optional(),
  weightUpdatePeriod: duration.optional(),
  weightStabilizationPeriod: duration.optional(),
  errorUtilizationPenaltyPercent: uint32.optional(),
  metricNamesForComputingUtilization: stringList.optional(),
});
export type BackendUtilizationLoadBalancing = z.infer<typeof backendUtilizationLoadBalancing>;

export const simpleLB = istioEnum(['UNSPECIFIED', 'LEAST_CONN', 'RANDOM', 'PASSTHROUGH', 'ROUND_ROBIN', 'LEAST_REQUEST']);
export type SimpleLB = z.infer<typeof simpleLB>;

export const loadBalancerSettings = z
  .strictObject({
    simple: simpleLB.optional(),
    consistentHash: consistentHashLB.optional(),
    backendUtilization: backendUtilizationLoadBalancing.optional(),
    localityLbSetting: localityLoadBalancerSetting.optional(),
    zoneAwareLbSetting: zoneAwareLoadBalancerSetting.optional(),
    /** deprecated: use `warmup` */
    warmupDurationSecs: durationMin1ms.optional(),
    warmup: warmupConfiguration.optional(),
  })
  .superRefine((lb, ctx) => {
    const set = (['simple', 'consistentHash', 'backendUtilization'] as const).filter((k) => lb[k] !== undefined);
    if (set.length > 1) {
      ctx.addIssue({
        code: 'custom',
        message: `only one of simple, consistentHash or backendUtilization may be set (got ${set.join(', ')})`,
      });
    }
  });
export type LoadBalancerSettings = z.infer<typeof loadBalancerSettings>;

// --- connection pool -----------------------------------------------------------------------------------------

export const tcpKeepalive = z.strictObject({
  probes: uint32.optional(),
  time: durationMin1ms.optional(),
  interval: durationMin1ms.optional(),
});
export type TcpKeepalive = z.infer<typeof tcpKeepalive>;

export const tcpSettings = z.strictObject({
  maxConnections: int32.optional(),
  connectTimeout: durationMin1ms.optional(),
  tcpKeepalive: tcpKeepalive.optional(),
  maxConnectionDuration: durationMin1ms.optional(),
  idleTimeout: duration.optional(),
});
export type TCPSettings = z.infer<typeof tcpSettings>;

export const http2KeepAlive = z.strictObject({
  interval: durationMin1ms.optional(),
  timeout: durationMin1ms.optional(),
});
export type HTTP2KeepAlive = z.infer<typeof http2KeepAlive>;

export const h2UpgradePolicy = istioEnum(['DEFAULT', 'DO_NOT_UPGRADE', 'UPGRADE']);

export const httpSettings = z.strictObject({
  http1MaxPendingRequests: int32.optional(),
  http2MaxRequests: int32.optional(),
  maxRequestsPerConnection: int32.optional(),
  maxRetries: int32.optional(),
  idleTimeout: durationMin1ms.optional(),
  h2UpgradePolicy: h2UpgradePolicy.optional(),
  useClientProtocol: z.boolean().optional(),
  maxConcurrentStreams: int32.optional(),
  http2KeepAlive: http2KeepAlive.optional(),
});
export type HTTPSettings = z.infer<typeof httpSettings>;

export const connectionPoolSettings = z.strictObject({
  tcp: tcpSettings.optional(),
  http: httpSettings.optional(),
});
export type ConnectionPoolSettings = z.infer<typeof connectionPoolSettings>;

// --- outlier detection ---------------------------------------------------------------------------------------

export const outlierDetection = z.strictObject({
  splitExternalLocalOriginErrors: z.boolean().optional(),
  consecutiveLocalOriginFailures: uint32.nullish(),
  consecutiveGatewayErrors: uint32.nullish(),
  consecutive5xxErrors: uint32.nullish(),
  interval: durationMin1ms.optional(),
  baseEjectionTime: durationMin1ms.optional(),
  maxEjectionPercent: int32.optional(),
  minHealthPercent: int32.optional(),
  /** deprecated: use `consecutive5xxErrors` / `consecutiveGatewayErrors` */
  consecutiveErrors: int32.optional(),
  outlierDetectionHttpErrorCodes: z
    .array(z.number().int('must be an integer').min(100, 'must be between 100 and 599').max(599, 'must be between 100 and 599'))
    .optional(),
});
export type OutlierDetection = z.infer<typeof outlierDetection>;

// --- TLS, proxy protocol, tunnel, retry budget ---------------------------------------------------------------

export const tlsMode = istioEnum(['DISABLE', 'SIMPLE', 'MUTUAL', 'ISTIO_MUTUAL']);
export type TLSMode = z.infer<typeof tlsMode>;

export const clientTLSSettings = z.strictObject({
  mode: tlsMode.optional(),
  clientCertificate: z.string().optional(),
  privateKey: z.string().optional(),
  caCertificates: z.string().optional(),
  credentialName: z.string().optional(),
  subjectAltNames: stringList.optional(),
  sni: z.string().optional(),
  insecureSkipVerify: z.boolean().nullish(),
  caCrl: z.string().optional(),
});
export type ClientTLSSettings = z.infer<typeof clientTLSSettings>;

export const proxyProtocol = z.strictObject({
  version: istioEnum(['V1', 'V2']).optional(),
});
export type ProxyProtocol = z.infer<typeof proxyProtocol>;

export const tunnelSettings = z.strictObject({
  protocol: z.string().optional(),
  targetHost: z.string(),
  targetPort: uint32,
});
export type TunnelSettings = z.infer<typeof tunnelSettings>;

export const retryBudget = z.strictObject({
  percent: percent0to100.nullish(),
  minRetryConcurrency: uint32.optional(),
  budgetInterval: duration.optional(),
});
export type RetryBudget = z.infer<typeof retryBudget>;

// --- traffic policy ------------------------------------------------------------------------------------------

export const portTrafficPolicy = z.strictObject({
  port: portSelector.optional(),
  loadBalancer: loadBalancerSettings.optional(),
  connectionPool: connectionPoolSettings.optional(),
  outlierDetection: outlierDetection.optional(),
  tls: clientTLSSettings.optional(),
});
export type PortTrafficPolicy = z.infer<typeof portTrafficPolicy>;

export const trafficPolicy = z.strictObject({
  loadBalancer: loadBalancerSettings.optional(),
  connectionPool: connectionPoolSettings.optional(),
  outlierDetection: outlierDetection.optional(),
  tls: clientTLSSettings.optional(),
  portLevelSettings: z.array(portTrafficPolicy).max(4096, 'must have at most 4096 items').optional(),
  tunnel: tunnelSettings.optional(),
  proxyProtocol: proxyProtocol.optional(),
  retryBudget: retryBudget.optional(),
});
export type TrafficPolicy = z.infer<typeof trafficPolicy>;

export const subset = z.strictObject({
  name: z.string(),
  labels: stringMap.optional(),
  trafficPolicy: trafficPolicy.optional(),
});
export type Subset = z.infer<typeof subset>;

export const destinationRuleSpec = z.strictObject({
  host: z.string(),
  trafficPolicy: trafficPolicy.optional(),
  subsets: z.array(subset).optional(),
  exportTo: stringList.optional(),
  workloadSelector: workloadSelector.optional(),
});
export type DestinationRuleSpec = z.infer<typeof destinationRuleSpec>;

export const destinationRule = envelope('DestinationRule', { spec: destinationRuleSpec, status });
export type DestinationRule = z.infer<typeof destinationRule>;
