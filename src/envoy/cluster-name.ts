// Istio's cluster naming: `DIRECTION|PORT|SUBSET|HOSTNAME` (model.BuildSubsetKey / ParseSubsetKey).

export type TrafficDirection = 'outbound' | 'inbound';

export interface SubsetKey {
  readonly direction: TrafficDirection;
  readonly port: number;
  readonly subset: string;
  readonly hostname: string;
}

export function buildSubsetKey(direction: TrafficDirection, subset: string, hostname: string, port: number): string {
  return `${direction}|${port}|${subset}|${hostname}`;
}

export function outboundClusterName(hostname: string, port: number, subset = ''): string {
  return buildSubsetKey('outbound', subset, hostname, port);
}

/** Parses `outbound|5000|v1|helloworld.default.svc.cluster.local`; undefined when it is not one. */
export function parseSubsetKey(name: string): SubsetKey | undefined {
  const parts = name.split('|');
  if (parts.length !== 4) return undefined;
  const [direction, portText, subset, hostname] = parts as [string, string, string, string];
  if (direction !== 'outbound' && direction !== 'inbound') return undefined;
  if (!/^\d{1,5}$/.test(portText)) return undefined;
  const port = Number(portText);
  if (port < 1 || port > 65535) return undefined;
  if (direction === 'outbound' && hostname === '') return undefined;
  return { direction, port, subset, hostname };
}

/** `inbound|PORT||`: the sidecar's cluster to its own workload's container port (istiod BuildInboundSubsetKey). */
export function inboundClusterName(targetPort: number): string {
  return buildSubsetKey('inbound', '', '', targetPort);
}

/** istiod's static clusters: drop, forward to the original destination (outbound), and to the local app (inbound). */
export const BLACKHOLE_CLUSTER = 'BlackHoleCluster';
export const PASSTHROUGH_CLUSTER = 'PassthroughCluster';
export const INBOUND_PASSTHROUGH_CLUSTER = 'InboundPassthroughCluster';

/**
 * `outbound_.PORT_.SUBSET_.HOSTNAME` (istiod BuildDNSSrvSubsetKey): the SNI istio-proxy sends for mTLS to
 * a cluster, and the name of the SNI-DNAT cluster an AUTO_PASSTHROUGH gateway forwards that SNI to.
 */
export function dnsSrvSubsetKey(direction: TrafficDirection, subset: string, hostname: string, port: number): string {
  return `${direction}_.${port}_.${subset}_.${hostname}`;
}

/** Parses `outbound_.9080_.v1_.reviews.default.svc.cluster.local`; undefined when it is not one. */
export function parseDnsSrvSubsetKey(name: string): SubsetKey | undefined {
  const m = /^(outbound|inbound)_\.(\d{1,5})_\.([^_]*)_\.(.+)$/.exec(name);
  if (!m) return undefined;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return undefined;
  return { direction: m[1] as TrafficDirection, port, subset: m[3]!, hostname: m[4]! };
}
