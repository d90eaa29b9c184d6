// The one table of every resource kind meshd reads: group, versions, plural, short names.
// CRDs, the Kubernetes informers, RBAC rules and error messages all derive from it.

export interface KindInfo {
  readonly kind: string;
  readonly group: string; // '' for the core API group
  /** served versions, preferred first (the version informers and status writes use) */
  readonly versions: readonly string[];
  /** the CRD's storage version when it is not the preferred one (Telemetry: v1 preferred, v1alpha1 stored) */
  readonly storageVersion?: string;
  readonly plural: string;
  readonly shortNames: readonly string[];
  readonly clusterScoped: boolean;
  readonly istio: boolean;
}

export const KINDS = {
  VirtualService: {
    kind: 'VirtualService', group: 'networking.istio.io', versions: ['v1', 'v1beta1', 'v1alpha3'],
    plural: 'virtualservices', shortNames: ['vs'], clusterScoped: false, istio: true,
  },
  DestinationRule: {
    kind: 'DestinationRule', group: 'networking.istio.io', versions: ['v1', 'v1beta1', 'v1alpha3'],
    plural: 'destinationrules', shortNames: ['dr'], clusterScoped: false, istio: true,
  },
  PeerAuthentication: {
    kind: 'PeerAuthentication', group: 'security.istio.io', versions: ['v1', 'v1beta1'],
    plural: 'peerauthentications', shortNames: ['pa'], clusterScoped: false, istio: true,
  },
  AuthorizationPolicy: {
    kind: 'AuthorizationPolicy', group: 'security.istio.io', versions: ['v1', 'v1beta1'],
    plural: 'authorizationpolicies', shortNames: ['ap'], clusterScoped: false, istio: true,
  },
  Telemetry: {
    kind: 'Telemetry', group: 'telemetry.istio.io', versions: ['v1', 'v1alpha1'], storageVersion: 'v1alpha1',
    plural: 'telemetries', shortNames: ['telemetry'], clusterScoped: false, istio: true,
  },
  RequestAuthentication: {
    kind: 'RequestAuthentication', group: 'security.istio.io', versions: ['v1', 'v1beta1'],
    plural: 'requestauthentications', shortNames: ['ra'], clusterScoped: false, istio: true,
  },
  Service: {
    kind: 'Service', group: '', versions: ['v1'], plural: 'services', shortNames: ['svc'],
    clusterScoped: false, istio: false,
  },
  EndpointSlice: {
    kind: 'EndpointSlice', group: 'discovery.k8s.io', versions: ['v1'], plural: 'endpointslices',
    shortNames: [], clusterScoped: false, istio: false,
  },
  Pod: {
    kind: 'Pod', group: '', versions: ['v1'], plural: 'pods', shortNames: ['po'], clusterScoped: false,
    istio: false,
  },
  Namespace: {
    kind: 'Namespace', group: '', versions: ['v1'], plural: 'namespaces', shortNames: ['ns'],
    clusterScoped: true, istio: false,
  },
} as const satisfies Record<string, KindInfo>;

export type Kind = keyof typeof KINDS;
export const ALL_KINDS = Object.keys(KINDS) as Kind[];
export const ISTIO_KINDS = ALL_KINDS.filter((k) => KINDS[k].istio);

export function apiVersionsOf(kind: Kind): string[] {
  const info: KindInfo = KINDS[kind];
  return info.versions.map((v) => (info.group ? `${info.group}/${v}` : v));
}

/** Resolves `apiVersion` + `kind` of an incoming document to a known kind, or explains why not. */
export function resolveKind(apiVersion: unknown, kind: unknown): { kind: Kind } | { error: string } {
  if (typeof kind !== 'string' || kind === '') return { error: 'kind: required' };
  if (typeof apiVersion !== 'string' || apiVersion === '') return { error: 'apiVersion: required' };
  if (!(kind in KINDS)) {
    return { error: `kind: unsupported kind ${JSON.stringify(kind)} (meshd reads ${ALL_KINDS.join(', ')})` };
  }
  const k = kind as Kind;
  const served = apiVersionsOf(k);
  if (!served.includes(apiVersion)) {
    return { error: `apiVersion: ${kind} is not served as ${JSON.stringify(apiVersion)} (served: ${served.join(', ')})` };
  }
  return { kind: k };
}

/**
 * Documents meshd does not read: Kubernetes kinds that are not part of the mesh model (Deployments,
 * ServiceAccounts… that sit beside mesh config in the same files). Istio kinds meshd does not serve are
 * NOT ignorable: a user must learn that their Gateway or ServiceEntry has no effect.
 */
export function isIgnorableKind(apiVersion: unknown, kind: unknown): boolean {
  if (typeof kind !== 'string' || typeof apiVersion !== 'string') return false;
  if (kind in KINDS) return false;
  const group = apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.lastIndexOf('/')) : '';
  return !group.endsWith('istio.io');
}
