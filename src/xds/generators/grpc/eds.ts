import { isIP } from 'node:net';
import type { PushContext } from '../../../model/push-context.js';
import type { Proxy } from '../../../model/proxy.js';
import type { Locality, ServiceEndpoint } from '../../../model/types.js';
import { parseSubsetKey } from '../../../envoy/cluster-name.js';
import { localityKey, localityOf } from '../../../envoy/locality-lb.js';
import { findSubset } from '../../../envoy/traffic-policy.js';
import { labelsMatch } from '../../../config/labels.js';

// EDS for proxyless gRPC: ClusterLoadAssignment for `outbound|PORT|SUBSET|FQDN`.
//
// Only ready endpoints are sent, all HEALTHY (istiod leaves unready and draining endpoints out unless a
// service opts into them; gRPC uses only HEALTHY/UNKNOWN ones anyway). Endpoints are grouped by locality
// (region/zone/sub_zone; a locality is always written, even empty, because gRPC rejects a group without
// one) with load_balancing_weight = number of endpoints (gRPC ignores localities of weight 0). A subset
// cluster keeps the endpoints whose pod labels carry every label of the subset; an unknown subset has no
// endpoints. Duplicate addresses (gRPC NACKs them) and non-IP addresses are left out. Any well-formed
// outbound cluster name is answered, with no endpoints when the service or port is unknown (as istiod).

export function buildClusterLoadAssignment(ctx: PushContext, proxy: Proxy, name: string): object | undefined {
  const key = parseSubsetKey(name);
  if (!key || key.direction !== 'outbound') return undefined;
  let endpoints: readonly ServiceEndpoint[] = ctx.endpoints(key.hostname, key.port);
  if (key.subset) {
    const dr = ctx.destinationRuleFor(proxy.namespace, key.hostname, ctx.proxyLabels(proxy))?.config;
    const subset = findSubset(dr, key.subset);
    endpoints = subset ? endpoints.filter((ep) => labelsMatch(subset.labels, ep.workload?.labels ?? {}, 'selects-all')) : [];
  }
  return { cluster_name: name, endpoints: groupByLocality(endpoints) };
}

function groupByLocality(endpoints: readonly ServiceEndpoint[]): object[] {
  const groups = new Map<string, { locality: Locality; eps: ServiceEndpoint[] }>();
  const seen = new Set<string>();
  for (const ep of endpoints) {
    if (!ep.ready || isIP(ep.address) === 0) continue;
    const addrKey = `${ep.address}|${ep.port}`;
    if (seen.has(addrKey)) continue;
    seen.add(addrKey);
    const k = localityKey(ep.locality);
    let g = groups.get(k);
    if (!g) groups.set(k, (g = { locality: ep.locality, eps: [] }));
    g.eps.push(ep);
  }
  return [...groups.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, g]) => ({
      locality: localityOf(g.locality),
      lb_endpoints: g.eps.map((ep) => ({
        endpoint: { address: { socket_address: { address: ep.address, port_value: ep.port } } },
        health_status: 'HEALTHY',
        load_balancing_weight: { value: 1 },
      })),
      load_balancing_weight: { value: g.eps.length },
    }));
}
