import type { LocalityLoadBalancerSetting } from '../config/schemas/destination-rule.js';
import type { Locality } from '../model/types.js';
import type { J } from './json.js';

// Locality-aware load balancing on the EDS side (istiod pilot/pkg/networking/core/loadbalancer): what a
// DestinationRule's localityLbSetting (or the mesh default, enabled) does to a ClusterLoadAssignment's
// locality groups, relative to the proxy's own locality and labels.
//
//   distribute         the first rule whose `from` matches the proxy's locality reweights the groups its
//                      `to` patterns match (weight ∝ endpoints, ceil) and empties every other group
//   failover (default) with outlier detection on: priority 0 same region/zone/subzone, 1 same zone, 2 same
//                      region, 3 elsewhere, 4 for regions a `failover` rule for the proxy's region skips
//   failoverPriority   with outlier detection on: endpoints split by how many leading labels (optionally
//                      `label=value`) they share with the proxy, then `failover` if also given
// Priorities are then renumbered 0..N without gaps, as Envoy requires.

/** Labels istiod puts on proxies and endpoints for failoverPriority (besides the pod's own). */
export const TOPOLOGY_REGION = 'topology.kubernetes.io/region';
export const TOPOLOGY_ZONE = 'topology.kubernetes.io/zone';
export const TOPOLOGY_SUBZONE = 'topology.istio.io/subzone';

export function localityKey(l: Locality): string {
  return `${l.region}/${l.zone}/${l.subzone}`;
}

/** core.v3.Locality in proto-JSON (empty parts left out). */
export function localityOf(l: Locality): Record<string, string> {
  const out: Record<string, string> = {};
  if (l.region) out.region = l.region;
  if (l.zone) out.zone = l.zone;
  if (l.subzone) out.sub_zone = l.subzone;
  return out;
}

/** Labels + the topology labels of a locality (what failoverPriority compares). */
export function withTopologyLabels(labels: Readonly<Record<string, string>>, l: Locality): Record<string, string> {
  const out: Record<string, string> = { ...labels };
  if (l.region && !(TOPOLOGY_REGION in out)) out[TOPOLOGY_REGION] = l.region;
  if (l.zone && !(TOPOLOGY_ZONE in out)) out[TOPOLOGY_ZONE] = l.zone;
  if (l.subzone && !(TOPOLOGY_SUBZONE in out)) out[TOPOLOGY_SUBZONE] = l.subzone;
  return out;
}

export interface LbEndpointEntry {
  /** the LbEndpoint body */
  readonly body: J;
  /** the endpoint's labels (pod labels + topology) for failoverPriority */
  readonly labels: Readonly<Record<string, string>>;
  readonly weight: number;
}

export interface LocalityGroup {
  readonly locality: Locality;
  entries: LbEndpointEntry[];
  weight: number;
  priority: number;
}

/** istiod util.LocalityMatch: `region/zone/subzone` with `*` (or a missing part) matching anything. */
export function localityMatches(l: Locality, rule: string | undefined): boolean {
  const [region = '', zone = '', subzone = ''] = (rule ?? '').split('/');
  const regionOk = region === '*' || l.region === region;
  const zoneOk = zone === '*' || zone === '' || l.zone === zone;
  const subzoneOk = subzone === '*' || subzone === '' || l.subzone === subzone;
  return regionOk && zoneOk && subzoneOk;
}

/** istiod util.LbPriority */
export function lbPriority(proxy: Locality, ep: Locality): number {
  if (proxy.region !== ep.region) return 3;
  if (proxy.zone !== ep.zone) return 2;
  return proxy.subzone === ep.subzone ? 0 : 1;
}

/** Applies localityLbSetting to `groups` in place / by replacement; returns the resulting groups. */
export function applyLocalityLoadBalancing(
  groups: LocalityGroup[],
  proxyLocality: Locality,
  proxyLabels: Readonly<Record<string, string>>,
  setting: LocalityLoadBalancerSetting | undefined,
  enableFailover: boolean,
): LocalityGroup[] {
  if (!setting) return groups;
  if ((setting.distribute?.length ?? 0) > 0) {
    applyLocalityWeights(groups, proxyLocality, setting.distribute!);
    return groups;
  }
  if (!enableFailover) return groups;
  if ((setting.failoverPriority?.length ?? 0) > 0) {
    const split = applyFailoverPriorities(groups, proxyLabels, setting.failoverPriority!);
    if ((setting.failover?.length ?? 0) > 0) applyLocalityFailover(split, proxyLocality, setting.failover!);
    return split;
  }
  applyLocalityFailover(groups, proxyLocality, setting.failover ?? []);
  return groups;
}

function applyLocalityWeights(groups: LocalityGroup[], proxy: Locality, distribute: NonNullable<LocalityLoadBalancerSetting['distribute']>): void {
  const rule = distribute.find((d) => localityMatches(proxy, d.from));
  if (!rule) return;
  const unmatched = new Set(groups.map((_, i) => i));
  for (const [pattern, weight] of Object.entries(rule.to ?? {})) {
    const claimed = new Map<number, number>();
    let total = 0;
    groups.forEach((g, i) => {
      if (unmatched.has(i) && localityMatches(g.locality, pattern)) {
        unmatched.delete(i);
        claimed.set(i, g.weight);
        total += g.weight;
      }
    });
    for (const [i, original] of claimed) {
      const w = (original * weight) / total;
      if (w > 0) groups[i]!.weight = Math.ceil(w);
    }
  }
  for (const i of unmatched) groups[i]!.entries = [];
}

function renumber(groups: LocalityGroup[]): void {
  const distinct = [...new Set(groups.map((g) => g.priority))].sort((a, b) => a - b);
  const rank = new Map(distinct.map((p, i) => [p, i]));
  for (const g of groups) g.priority = rank.get(g.priority)!;
}

function applyLocalityFailover(groups: LocalityGroup[], proxy: Locality, failover: NonNullable<LocalityLoadBalancerSetting['failover']>): void {
  for (const g of groups) {
    let p = lbPriority(proxy, g.locality);
    if (p === 3) {
      const rule = failover.find((f) => f.from === proxy.region);
      if (rule && g.locality.region !== rule.to) p = 4;
    }
    g.priority = g.priority * 5 + p;
  }
  renumber(groups);
}

function applyFailoverPriorities(groups: LocalityGroup[], proxyLabels: Readonly<Record<string, string>>, priorities: readonly string[]): LocalityGroup[] {
  if (Object.keys(proxyLabels).length === 0 || groups.length === 0) return groups;
  const names: string[] = [];
  const overrides = new Map<string, string>();
  for (const p of priorities) {
    const [name = '', value] = p.split('=');
    names.push(name);
    if (value !== undefined && p.split('=').length === 2) overrides.set(name, value);
  }
  const out: LocalityGroup[] = [];
  for (const g of groups) {
    const byPriority = new Map<number, LbEndpointEntry[]>();
    for (const e of g.entries) {
      let priority = 0;
      for (let j = 0; j < names.length; j++) {
        const label = names[j]!;
        const want = overrides.has(label) ? overrides.get(label) : proxyLabels[label];
        if (want !== e.labels[label]) {
          priority = names.length - j;
          break;
        }
      }
      const list = byPriority.get(priority);
      if (list) list.push(e);
      else byPriority.set(priority, [e]);
    }
    for (const p of [...byPriority.keys()].sort((a, b) => a - b)) {
      const entries = byPriority.get(p)!;
      out.push({ locality: g.locality, entries, weight: entries.reduce((s, e) => s + e.weight, 0), priority: p });
    }
  }
  renumber(out);
  return out;
}

/** LocalityLbEndpoints bodies; `locality` is always written (istiod writes an empty one too). */
export function localityLbEndpoints(groups: readonly LocalityGroup[]): J[] {
  return groups.map((g) => ({
    locality: localityOf(g.locality),
    lb_endpoints: g.entries.map((e) => e.body),
    load_balancing_weight: { value: g.weight },
    ...(g.priority > 0 ? { priority: g.priority } : {}),
  }));
}
