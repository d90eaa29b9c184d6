import { selectorMatches, type LabelSelector } from '../../config/labels.js';
import { A, truthy } from './annotations.js';
import type { InjectionConfig } from './config.js';

// Whether a pod gets a sidecar: the union of what the four Istio webhook entries' namespace/object
// selectors admit (namespace `istio-injection=enabled`, namespace `istio.io/rev=<rev>`, pod label
// `sidecar.istio.io/inject=true` or `istio.io/rev=<rev>` in an unlabelled namespace; `istio-injection=disabled`
// and pod label `sidecar.istio.io/inject=false` exclude) and then istiod's injectRequired (host network,
// system namespaces, the inject annotation, never/always-inject selectors, already injected). meshd
// decides all of it itself from the namespace labels in its model, so a too-wide webhook selector cannot
// inject into pods Istio would have left alone.

export const IGNORED_NAMESPACES = new Set(['kube-system', 'kube-public']);

export interface PodLike {
  metadata?: { name?: string; generateName?: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: { hostNetwork?: boolean } & Record<string, unknown>;
}

export type Decision = { inject: true; reason: string } | { inject: false; reason: string };

/** What the webhook configuration's selectors admit (Istio's four sidecar-injector entries). */
export function selectedByWebhook(podLabels: Record<string, string>, nsLabels: Record<string, string>, revision: string): Decision {
  const nsInjection = nsLabels['istio-injection'];
  const nsRev = nsLabels[A.rev];
  const podInject = podLabels[A.inject];
  const podRev = podLabels[A.rev];
  if (nsInjection === 'disabled') return { inject: false, reason: 'namespace label istio-injection=disabled' };
  if (podInject === 'false') return { inject: false, reason: 'pod label sidecar.istio.io/inject=false' };
  if (nsInjection === 'enabled') return { inject: true, reason: 'namespace label istio-injection=enabled' };
  if (nsRev !== undefined) {
    return nsRev === revision ? { inject: true, reason: `namespace label istio.io/rev=${nsRev}` } : { inject: false, reason: `namespace belongs to revision ${nsRev}, not ${revision}` };
  }
  if (podRev !== undefined) {
    return podRev === revision ? { inject: true, reason: `pod label istio.io/rev=${podRev}` } : { inject: false, reason: `pod belongs to revision ${podRev}, not ${revision}` };
  }
  if (podInject === 'true') return { inject: true, reason: 'pod label sidecar.istio.io/inject=true' };
  return { inject: false, reason: 'neither the namespace nor the pod asks for injection' };
}

/** istiod's injectRequired: what the webhook itself checks once called. */
export function injectRequired(pod: PodLike, namespace: string, cfg: Pick<InjectionConfig, 'neverInjectSelector' | 'alwaysInjectSelector'>): Decision {
  const meta = pod.metadata ?? {};
  const labels = meta.labels ?? {};
  const annotations = meta.annotations ?? {};
  if (pod.spec?.hostNetwork) return { inject: false, reason: 'host networking enabled' };
  if (IGNORED_NAMESPACES.has(namespace)) return { inject: false, reason: `namespace ${namespace} is never injected` };
  if (annotations[A.status] !== undefined) return { inject: false, reason: `already injected (${A.status} present)` };
  // the label wins over the legacy annotation
  const explicit = truthy(labels[A.inject] ?? annotations[A.inject]);
  if (explicit === false) return { inject: false, reason: `${A.inject}=false` };
  if (explicit === true) return { inject: true, reason: `${A.inject}=true` };
  for (const sel of cfg.neverInjectSelector) {
    if (selectorMatches(sel as LabelSelector, labels)) return { inject: false, reason: 'pod matches neverInjectSelector' };
  }
  for (const sel of cfg.alwaysInjectSelector) {
    if (selectorMatches(sel as LabelSelector, labels)) return { inject: true, reason: 'pod matches alwaysInjectSelector' };
  }
  return { inject: true, reason: 'injection policy enabled' };
}

/** Both: the webhook's selectors, then injectRequired. */
export function decide(pod: PodLike, namespace: string, nsLabels: Record<string, string>, cfg: InjectionConfig): Decision {
  const selected = selectedByWebhook(pod.metadata?.labels ?? {}, nsLabels, cfg.revision);
  if (!selected.inject) return selected;
  const required = injectRequired(pod, namespace, cfg);
  return required.inject ? selected : required;
}
