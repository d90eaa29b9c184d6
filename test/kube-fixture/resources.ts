// The resources the API-server fixture serves. Mesh kinds come from the project's one kinds table
// (src/config/kinds.ts): the four Istio kinds as CustomResourceDefinitions served at every version the
// table lists (one storage, identical schemas, no conversion — as Istio's CRDs are), and the Kubernetes
// kinds meshd watches. Built-ins meshd needs for leader election, the CA and webhooks are added here.

import { ALL_KINDS, KINDS, type KindInfo } from '../../src/config/kinds.js';

export interface ResourceDef {
  readonly group: string;
  /** served versions; the first is the storage version */
  readonly versions: readonly string[];
  readonly kind: string;
  readonly plural: string;
  readonly singular: string;
  readonly namespaced: boolean;
  readonly shortNames: readonly string[];
  /** PUT/PATCH on the main resource keep the stored status; `/status` changes only status */
  readonly statusSubresource: boolean;
  /** a custom resource (defined by a CRD): status is dropped on create, list items keep kind/apiVersion */
  readonly custom: boolean;
  /** create-only virtual resources (TokenReview, SubjectAccessReview) */
  readonly createOnly?: boolean;
  readonly categories?: readonly string[];
}

export const grOf = (r: Pick<ResourceDef, 'group' | 'plural'>) => (r.group ? `${r.plural}.${r.group}` : r.plural);
export const apiVersionOf = (group: string, version: string) => (group ? `${group}/${version}` : version);
export const gvPath = (group: string, version: string) => (group ? `/apis/${group}/${version}` : `/api/${version}`);

function fromKind(info: KindInfo): ResourceDef {
  return {
    group: info.group,
    versions: info.versions,
    kind: info.kind,
    plural: info.plural,
    singular: info.kind.toLowerCase(),
    namespaced: !info.clusterScoped,
    shortNames: info.shortNames,
    statusSubresource: info.istio || (info.gatewayApi === true && info.kind !== 'ReferenceGrant') || info.kind === 'Pod' || info.kind === 'Service' || info.kind === 'Namespace' || info.kind === 'Ingress',
    custom: info.istio || info.gatewayApi === true,
    ...(info.istio ? { categories: [info.group.split('.')[0]!, 'istio-io'] } : {}),
  };
}

const builtin = (group: string, version: string, kind: string, plural: string, namespaced: boolean, extra: Partial<ResourceDef> = {}): ResourceDef => ({
  group, versions: [version], kind, plural, singular: kind.toLowerCase(), namespaced, shortNames: [], statusSubresource: false, custom: false, ...extra,
});

export function defaultResources(): ResourceDef[] {
  return [
    ...ALL_KINDS.map((k) => fromKind(KINDS[k])),
    builtin('coordination.k8s.io', 'v1', 'Lease', 'leases', true),
    builtin('', 'v1', 'Secret', 'secrets', true),
    builtin('', 'v1', 'ConfigMap', 'configmaps', true, { shortNames: ['cm'] }),
    builtin('authentication.k8s.io', 'v1', 'TokenReview', 'tokenreviews', false, { createOnly: true }),
    builtin('authorization.k8s.io', 'v1', 'SubjectAccessReview', 'subjectaccessreviews', false, { createOnly: true }),
    builtin('apiextensions.k8s.io', 'v1', 'CustomResourceDefinition', 'customresourcedefinitions', false, { shortNames: ['crd', 'crds'] }),
    builtin('admissionregistration.k8s.io', 'v1', 'MutatingWebhookConfiguration', 'mutatingwebhookconfigurations', false),
    builtin('admissionregistration.k8s.io', 'v1', 'ValidatingWebhookConfiguration', 'validatingwebhookconfigurations', false),
    // what `meshd install` applies (no controllers run here: a Deployment's status is whatever a test writes)
    builtin('', 'v1', 'ServiceAccount', 'serviceaccounts', true, { shortNames: ['sa'] }),
    builtin('apps', 'v1', 'Deployment', 'deployments', true, { shortNames: ['deploy'], statusSubresource: true }),
    builtin('rbac.authorization.k8s.io', 'v1', 'ClusterRole', 'clusterroles', false),
    builtin('rbac.authorization.k8s.io', 'v1', 'ClusterRoleBinding', 'clusterrolebindings', false),
    builtin('rbac.authorization.k8s.io', 'v1', 'Role', 'roles', true),
    builtin('rbac.authorization.k8s.io', 'v1', 'RoleBinding', 'rolebindings', true),
    builtin('policy', 'v1', 'PodDisruptionBudget', 'poddisruptionbudgets', true, { shortNames: ['pdb'], statusSubresource: true }),
    builtin('autoscaling', 'v2', 'HorizontalPodAutoscaler', 'horizontalpodautoscalers', true, { shortNames: ['hpa'], statusSubresource: true }),
  ];
}

/** The CRD object a cluster with Istio installed holds for a custom resource (schema left open). */
export function crdOf(r: ResourceDef): Record<string, unknown> {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: grOf(r), labels: { 'app.kubernetes.io/part-of': 'meshd-fixture' } },
    spec: {
      group: r.group,
      names: { kind: r.kind, listKind: `${r.kind}List`, plural: r.plural, singular: r.singular, shortNames: r.shortNames, categories: r.categories ?? [] },
      scope: r.namespaced ? 'Namespaced' : 'Cluster',
      versions: r.versions.map((v, i) => ({
        name: v, served: true, storage: i === 0,
        subresources: r.statusSubresource ? { status: {} } : {},
        schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
      })),
    },
  };
}
