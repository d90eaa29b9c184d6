// The Kubernetes permissions meshd uses, derived from the kinds table (like the watches themselves):
// list+watch on every mesh kind, patch on the status subresource of the Istio kinds (status for refused
// objects) and of Ingresses (status.loadBalancer), get/create/update on Leases (leader election), and for the CA: create TokenReviews
// (authenticating workload tokens) and get/create/update ConfigMaps (istio-ca-root-cert in every
// namespace); and in the CA's own namespace only (a Role, so meshd can read no other Secret), get/create
// Secrets (the CA material: `cacerts`, `istio-ca-secret`); get/update on the two webhook configurations
// (caBundle); list/watch Secrets and create SubjectAccessReviews (gateway credentials over SDS). manifests/rbac/clusterrole.yaml and
// manifests/rbac/role.yaml are this, written out; test/sources/rbac.test.ts checks them against the
// requests the Kubernetes source and the CA really make.

import { ALL_KINDS, CONFIG_KINDS, KINDS } from '../../config/kinds.js';
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

/**
 * Gateway credentials (istiod's credentials controller): list/watch Secrets everywhere — held apart from the
 * config store, served only over SDS — and ask the API server whether a gateway's service account may read
 * its namespace's Secrets (SubjectAccessReview).
 */
export const CREDENTIAL_PERMISSIONS: readonly { group: string; resource: string; verbs: readonly string[] }[] = [
  { group: '', resource: 'secrets', verbs: ['list', 'watch'] },
  { group: 'authorization.k8s.io', resource: 'subjectaccessreviews', verbs: ['create'] },
];

/** The webhooks' caBundle patcher (src/webhook/ca-bundle.ts): read and update both webhook configurations. */
export const WEBHOOK_PERMISSIONS: readonly { group: string; resource: string; verbs: readonly string[] }[] = [
  { group: 'admissionregistration.k8s.io', resource: 'mutatingwebhookconfigurations', verbs: ['get', 'update'] },
  { group: 'admissionregistration.k8s.io', resource: 'validatingwebhookconfigurations', verbs: ['get', 'update'] },
];

/**
 * WorkloadEntry auto-registration (sources/kube/autoregistration.ts): read the WorkloadGroup, create the
 * entry, patch its connection annotations, delete it after the grace period.
 */
export const AUTOREGISTRATION_PERMISSIONS: readonly { group: string; resource: string; verbs: readonly string[] }[] = [
  { group: 'networking.istio.io', resource: 'workloadentries', verbs: ['create', 'delete', 'get', 'patch'] },
  { group: 'networking.istio.io', resource: 'workloadgroups', verbs: ['get'] },
];

/**
 * The CA's calls in its own namespace (istiod's POD_NAMESPACE, istio-system): read the plugged `cacerts`
 * and istio-ca-secret, create istio-ca-secret with a new root when it is absent.
 */
export const CA_NAMESPACE_PERMISSIONS: readonly { group: string; resource: string; verbs: readonly string[] }[] = [
  { group: '', resource: 'secrets', verbs: ['create', 'get'] },
];

/** Every (group, resource, verb) triple meshd may use, cluster-wide and in its namespace. */
export function permissionTriples(): Set<string> {
  return new Set([...clusterPermissionTriples(), ...namespacePermissionTriples()]);
}

function namespacePermissionTriples(): Set<string> {
  const out = new Set<string>();
  for (const p of CA_NAMESPACE_PERMISSIONS) for (const v of p.verbs) out.add(`${p.group}|${p.resource}|${v}`);
  return out;
}

/** (group, resource, verb) triples of the ClusterRole, `resource/subresource` for subresources. */
function clusterPermissionTriples(): Set<string> {
  const out = new Set<string>();
  for (const k of ALL_KINDS) for (const v of INFORMER_VERBS) out.add(`${KINDS[k].group}|${KINDS[k].plural}|${v}`);
  // Istio status (refusals) and the Gateway API statuses (gateway-api-status.ts); ReferenceGrant has no status
  for (const k of CONFIG_KINDS.filter((c) => c !== 'ReferenceGrant')) for (const v of STATUS_VERBS) out.add(`${KINDS[k].group}|${KINDS[k].plural}/status|${v}`);
  // Ingress status.loadBalancer (ingress-status.ts), as istiod's ingress status syncer
  for (const v of STATUS_VERBS) out.add(`${KINDS.Ingress.group}|${KINDS.Ingress.plural}/status|${v}`);
  for (const v of LEASE_VERBS) out.add(`${LEASE_RESOURCE.group}|${LEASE_RESOURCE.plural}|${v}`);
  for (const p of [...CA_PERMISSIONS, ...WEBHOOK_PERMISSIONS, ...CREDENTIAL_PERMISSIONS, ...AUTOREGISTRATION_PERMISSIONS]) {
    for (const v of p.verbs) out.add(`${p.group}|${p.resource}|${v}`);
  }
  return out;
}

/** Rules grouped by API group and verb set, sorted, as they appear in the ClusterRole. */
export function clusterRoleRules(): PolicyRule[] {
  return rulesOf(clusterPermissionTriples());
}

/** The rules of the Role in meshd's namespace. */
export function roleRules(): PolicyRule[] {
  return rulesOf(namespacePermissionTriples());
}

function rulesOf(triples: Set<string>): PolicyRule[] {
  const byKey = new Map<string, { group: string; verbs: string[]; resources: Set<string> }>();
  const perResource = new Map<string, Set<string>>();
  for (const t of triples) {
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
    '# Exactly what meshd uses: list/watch of every mesh kind, patch of Istio status (refused objects) and',
    '# of Ingress status (loadBalancer), get/create/update of the leader-election Lease; for the CA, create',
    '# TokenReviews and get/create/update the istio-ca-root-cert ConfigMaps; for the webhooks, get/update of',
    '# the two webhook configurations (caBundle); for gateway credentials, list/watch Secrets (served only',
    '# over SDS) and create SubjectAccessReviews; get WorkloadGroups and get/create/patch/delete the',
    '# WorkloadEntries of auto-registered VMs. The CA Secrets of meshd\'s own namespace: role.yaml.',
    'apiVersion: rbac.authorization.k8s.io/v1',
    'kind: ClusterRole',
    'metadata:',
    `  name: ${name}`,
    '  labels:',
    '    app: meshd',
    'rules:',
  ];
  return [...lines, ...ruleLines(clusterRoleRules())].join('\n') + '\n';
}

/** The Role in meshd's namespace (`POD_NAMESPACE`, istio-system by default), bound to its service account. */
export function roleYaml(namespace = 'istio-system', name = 'meshd'): string {
  const lines = [
    '# Generated by src/sources/kube/rbac.ts (checked by test/sources/rbac.test.ts).',
    "# The CA's Secrets in meshd's own namespace only: get the plugged cacerts and istio-ca-secret, create",
    '# istio-ca-secret with a new self-signed root when it is absent.',
    'apiVersion: rbac.authorization.k8s.io/v1',
    'kind: Role',
    'metadata:',
    `  name: ${name}`,
    `  namespace: ${namespace}`,
    '  labels:',
    '    app: meshd',
    'rules:',
  ];
  return [...lines, ...ruleLines(roleRules())].join('\n') + '\n';
}

function ruleLines(rules: PolicyRule[]): string[] {
  return rules.flatMap((r) => [
    `- apiGroups: [${r.apiGroups.map((g) => JSON.stringify(g)).join(', ')}]`,
    `  resources: [${r.resources.join(', ')}]`,
    `  verbs: [${r.verbs.join(', ')}]`,
  ]);
}
