// Istio's sidecar.SelectorAnalyzer: Sidecar selectors that match no pod, several Sidecars selecting one
// pod, several selector-less Sidecars in a namespace, and Sidecars that have no effect in ambient mode.

import { selectPods, specOf, type Analyzer } from '../context.js';
import { message } from '../message.js';
import type { Resource } from '../resource.js';

const NAME = 'sidecar.SelectorAnalyzer';

export function podInAmbientMode(pod: Resource | undefined): boolean {
  return pod?.annotations['ambient.istio.io/redirection'] === 'enabled';
}

export function namespaceInAmbientMode(ns: Resource | undefined): boolean {
  if (!ns) return false;
  if (ns.labels['istio-injection'] === 'enabled') return false;
  if (ns.labels['istio.io/rev']) return false;
  return ns.labels['istio.io/dataplane-mode'] === 'ambient';
}

export const names = (list: readonly Resource[]) => list.map((r) => r.name).sort();

export const sidecarSelectorAnalyzer: Analyzer = {
  name: NAME,
  description: 'Validates that sidecars that define a workload selector match an existing workload',
  analyze(ctx) {
    const podsToSidecars = new Map<Resource, Resource[]>();
    const namespacesToSidecars = new Map<string, Resource[]>();
    for (const rs of ctx.all('Sidecar')) {
      const labels = specOf<{ workloadSelector?: { labels?: Record<string, string> } }>(rs).workloadSelector?.labels;
      if (!labels || Object.keys(labels).length === 0) {
        namespacesToSidecars.set(rs.namespace, [...(namespacesToSidecars.get(rs.namespace) ?? []), rs]);
        continue;
      }
      selectPods(ctx, rs, labels, NAME, podsToSidecars);
    }
    const reported = new Set<Resource>();
    for (const [pod, list] of podsToSidecars) {
      const ambient = podInAmbientMode(pod);
      if (list.length === 1 && !ambient) continue;
      for (const rs of list) {
        if (ambient) {
          if (!reported.has(rs)) {
            ctx.report(message('IneffectivePolicy', rs, NAME, 'selected workload is in ambient mode, the policy has no impact'));
            reported.add(rs);
          }
          continue;
        }
        ctx.report(message('ConflictingSidecarWorkloadSelectors', rs, NAME, names(list), pod.namespace, pod.name));
      }
    }
    for (const [ns, list] of namespacesToSidecars) {
      if (namespaceInAmbientMode(ctx.find('Namespace', '', ns))) {
        for (const rs of list) {
          if (reported.has(rs)) continue;
          ctx.report(message('IneffectivePolicy', rs, NAME, 'namespace is in ambient mode, the policy has no impact'));
          reported.add(rs);
        }
        continue;
      }
      if (list.length > 1) for (const rs of list) ctx.report(message('MultipleSidecarsWithoutWorkloadSelectors', rs, NAME, names(list), ns));
    }
  },
};
