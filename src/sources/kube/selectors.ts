// Mesh config `discoverySelectors` (Kubernetes LabelSelectors, matched by config/labels): a namespace is
// selected when ANY selector matches it; no selectors select everything.
import { selectorMatches, type LabelSelector, type LabelSelectorRequirement } from '../../config/labels.js';

/** Istio semantics: an empty list selects every namespace; an empty selector `{}` selects every namespace. */
export function namespaceSelected(selectors: readonly LabelSelector[] | undefined, labels: Readonly<Record<string, string>> | undefined): boolean {
  if (!selectors || selectors.length === 0) return true;
  return selectors.some((s) => selectorMatches(s, labels ?? {}));
}

/** Validates `discoverySelectors` from a mesh config document; throws with a field path on error. */
export function parseDiscoverySelectors(value: unknown, where = 'discoverySelectors'): LabelSelector[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new Error(`${where}: must be a list of label selectors`);
  return value.map((s, i) => {
    const at = `${where}[${i}]`;
    if (!s || typeof s !== 'object' || Array.isArray(s)) throw new Error(`${at}: must be a label selector`);
    const { matchLabels, matchExpressions, ...rest } = s as Record<string, unknown>;
    const extra = Object.keys(rest);
    if (extra.length) throw new Error(`${at}.${extra[0]}: unknown field`);
    if (matchLabels !== undefined && (typeof matchLabels !== 'object' || matchLabels === null || Object.values(matchLabels).some((v) => typeof v !== 'string'))) {
      throw new Error(`${at}.matchLabels: must be a map of strings`);
    }
    const exprs = (matchExpressions ?? []) as unknown[];
    if (!Array.isArray(exprs)) throw new Error(`${at}.matchExpressions: must be a list`);
    exprs.forEach((e, j) => {
      const r = e as Partial<LabelSelectorRequirement>;
      if (!r || typeof r.key !== 'string') throw new Error(`${at}.matchExpressions[${j}].key: required`);
      if (!['In', 'NotIn', 'Exists', 'DoesNotExist'].includes(String(r.operator))) {
        throw new Error(`${at}.matchExpressions[${j}].operator: must be one of In, NotIn, Exists, DoesNotExist`);
      }
      if ((r.operator === 'In' || r.operator === 'NotIn') && (!Array.isArray(r.values) || r.values.length === 0)) {
        throw new Error(`${at}.matchExpressions[${j}].values: must be non-empty for ${r.operator}`);
      }
    });
    return s as LabelSelector;
  });
}
