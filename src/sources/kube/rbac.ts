// The Kubernetes permissions meshd uses, derived from the kinds table (like the watches themselves):
// list+watch on every mesh kind, patch on the status subresource of the Istio kinds (status for refused
// objects), get/create/update on Leases (leader election), and for the CA: create TokenReviews
// (authenticating workload tokens) and get/create/update ConfigMaps (istio-ca-root-cert in every
// namespace). manifests/rbac/clusterrole.yaml is this, written out; test/sources/rbac.test.ts checks both
// against the requests the Kubernetes source and the CA really make.

import { ALL_KINDS, ISTIO_KINDS, KINDS } from '../../config/kinds.js';
import { LEASE_RESOURCE } from './resources.js';

export interface PolicyRule {
  readonly apiGroups: string[];
  readonly resources: string[];
  readonly verbs: string[];
}

export const INFORMER_VERBS = ['list', 'watch'] as const;
export const STATUS_VERBS = ['patch'] as const;
export const LEASE_VERBS = ['create', 'get', 'update'] as const;
/** The CA's calls: TokenReview for workload tokens, the root-certificate ConfigMap in every namespace. */
export const CA_PERMISSIONS: readonly { group: string; resource: string; verbs: readonly string[] }[] = [
  { group: 'authentication.k8s.io', resource: 'tokenreviews', verbs: ['create'] },
  { group: '', resource: 'configmaps', verbs: ['create', 'get', 'update'] },
];

/** (group, resource, verb) triples, `resource/subresource` for subresources. */
export function permissionTriples(): Set<string> {
  const out = new Set<string>();
  for (const k of ALL_KINDS) for (const v of INFORMER_VERBS) out.add(`${KINDS[k].group}|${KINDS[k].plural}|${v}`);
  for (const k of ISTIO_KINDS) for (const v of STATUS_VERBS) out.add(`${KINDS[k].group}|${KINDS[k].plural}/status|${v}`);
  for (const v of LEASE_VERBS) out.add(`${LEASE_RESOURCE.group}|${LEASE_RESOURCE.plural}|${v}`);
  for (const p of CA_PERMISSIONS) for (const v of p.verbs) out.add(`${p.group}|${p.resource}|${v}`);
  return out;
}

/** Rules grouped by API group and verb set, sorted, as they appear in the ClusterRole. */
export function clusterRoleRules(): PolicyRule[] {
  const byKey = new Map<string, { group: string; verbs: string[]; resources: Set<string> }>();
  const perResource = new Map<string, Set<string>>();
  for (const t of permissionTriples()) {
    const [group, resource, verb] = t.split('|') as [string, string, string];
    const k = `${group}|${resource}`;
    if (!perResource.has(k)) perResource.set(k, new Set());
    perResource.get(k)!.add(verb);
  }
  for (const [k, verbs] of perResource) {
    const [group, resource] = k.split('|') as [string, string];
    const v = [...verbs].sort();
    const key = `${group}|${v.join(',')}`;
    if (!byKey.has(key)) byKey.set(key, { group, verbs: v, resources: new Set() });
    byKey.get(key)!.resources.add(resource);
  }
  return [...byKey.values()]
    .sort((a, b) => a.group.localeCompare(b.group) || a.verbs.join().localeCompare(b.verbs.join()))
    .map((r) => ({ apiGroups: [r.group], resources: [...r.resources].sort(), verbs: r.verbs }));
}

export function clusterRoleYaml(name = 'meshd'): string {
  const lines = [
    '# Generated from src/config/kinds.ts by src/sources/kube/rbac.ts (checked by test/sources/rbac.test.ts).',
    '# Exactly what meshd uses: list/watch of every mesh kind, patch of Istio status (refused objects),',
    '# get/create/update of the leader-election Lease; for the CA, create TokenReviews and',
    '# get/create/update the istio-ca-root-cert ConfigMaps.',
    'apiVersion: rbac.authorization.k8s.io/v1',
    'kind: ClusterRole',
    'metadata:',
    `  name: ${name}`,
    '  labels:',
    '    app: meshd',
    'rules:',
  ];
  for (const r of clusterRoleRules()) {
    lines.push(`- apiGroups: [${r.apiGroups.map((g) => JSON.stringify(g)).join(', ')}]`);
    lines.push(`  resources: [${r.resources.join(', ')}]`);
    lines.push(`  verbs: [${r.verbs.join(', ')}]`);
  }
  return lines.join('\n') + '\n';
}
