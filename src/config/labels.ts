// Label selection: one function for every equality selector in the mesh, and Kubernetes' LabelSelector
// (matchLabels + matchExpressions) built on it. What an empty selector selects differs by API, so every
// caller says which meaning it wants:
//   'selects-all'   Istio's workload selectors (PeerAuthentication/AuthorizationPolicy `selector`,
//                   DestinationRule `workloadSelector`), subset labels, `sourceLabels`, Kubernetes
//                   LabelSelectors (discoverySelectors, the injector's never/alwaysInjectSelector): no
//                   label to match means every workload
//   'selects-none'  a Kubernetes Service's `spec.selector`: a Service without one (or with `{}`) has no
//                   Pod endpoints; its EndpointSlices are managed by someone else

export type Labels = Readonly<Record<string, string>>;

export type EmptySelector = 'selects-all' | 'selects-none';

/** True when every `key: value` of the selector is among the labels; an absent or empty selector per `ifEmpty`. */
export function labelsMatch(selector: Labels | undefined, labels: Labels, ifEmpty: EmptySelector): boolean {
  let empty = true;
  for (const key in selector) {
    empty = false;
    if (labels[key] !== selector[key]) return false;
  }
  return !empty || ifEmpty === 'selects-all';
}

export interface LabelSelectorRequirement {
  readonly key: string;
  readonly operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  readonly values?: readonly string[];
}

/** Kubernetes metav1.LabelSelector; `{}` selects everything. */
export interface LabelSelector {
  readonly matchLabels?: Labels;
  readonly matchExpressions?: readonly LabelSelectorRequirement[];
}

export function selectorMatches(sel: LabelSelector, labels: Labels): boolean {
  if (!labelsMatch(sel.matchLabels, labels, 'selects-all')) return false;
  for (const e of sel.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    const values = e.values ?? [];
    switch (e.operator) {
      case 'In':
        if (!has || !values.includes(labels[e.key]!)) return false;
        break;
      case 'NotIn':
        if (has && values.includes(labels[e.key]!)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}
