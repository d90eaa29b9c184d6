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
  /**
   * meshd turns it into xDS (the model reads it). A kind that is not served is still validated, stored and
   * reported ("validated, not served": `meshd validate`, a log line and metric per object, /debug/configz),
   * never silently ignored.
   */
  readonly served: boolean;
  /** a Kubernetes Gateway API kind (gateway.networking.k8s.io): user config, converted by the model */
  readonly gatewayApi?: boolean;
}

export const GATEWAY_API_GROUP = 'gateway.networking.k8s.io';

export const KINDS = {
  VirtualService: {
    kind: 'VirtualService', group: 'networking.istio.io', versions: ['v1', 'v1beta1', 'v1alpha3'],
    plural: 'virtualservices', shortNames: ['vs'], clusterScoped: false, istio: true, served: true,
  },
  DestinationRule: {
    kind: 'DestinationRule', group: 'networking.istio.io', versions: ['v1', 'v1beta1', 'v1alpha3'],
    plural: 'destinationrules', shortNames: ['dr'], clusterScoped: false, istio: true, served: true,
  },
  PeerAuthentication: {
    kind: 'PeerAuthentication', group: 'security.istio.io', versions: ['v1', 'v1beta1'],
    plural: 'peerauthentications', shortNames: ['pa'], clusterScoped: false, istio: true, served: true,
  },
  AuthorizationPolicy: {
    kind: 'AuthorizationPolicy', group: 'security.istio.io', versions: ['v1', 'v1beta1'],
    plural: 'authorizationpolicies', shortNames: ['ap'], clusterScoped: false, istio: true, served: true,
  },
  Gateway: {
    kind: 'Gateway', group: 'networking.istio.io', versions: ['v1', 'v1beta1', 'v1alpha3'], plural: 'gateways',
    shortNames: ['gw'], clusterScoped: false, istio: true, served: true,
  },
  ServiceEntry: {
    kind: 'ServiceEntry', group: 'networking.istio.io', versions: ['v1', 'v1beta1', 'v1alpha3'], plural: 'serviceentries',
    shortNames: ['se'], clusterScoped: false, istio: true, served: true,
  },
  WorkloadEntry: {
    kind: 'WorkloadEntry', group: 'networking.istio.io', versions: ['v1', 'v1beta1', 'v1alpha3'], plural: 'workloadentries',
    shortNames: ['we'], clusterScoped: false, istio: true, served: true,
  },
  WorkloadGroup: {
    kind: 'WorkloadGroup', group: 'networking.istio.io', versions: ['v1', 'v1beta1', 'v1alpha3'], plural: 'workloadgroups',
    shortNames: ['wg'], clusterScoped: false, istio: true, served: false,
  },
  Sidecar: {
    kind: 'Sidecar', group: 'networking.istio.io', versions: ['v1', 'v1beta1', 'v1alpha3'], plural: 'sidecars',
    shortNames: [], clusterScoped: false, istio: true, served: true,
  },
  EnvoyFilter: {
    kind: 'EnvoyFilter', group: 'networking.istio.io', versions: ['v1alpha3'], plural: 'envoyfilters',
    shortNames: [], clusterScoped: false, istio: true, served: false,
  },
  ProxyConfig: {
    kind: 'ProxyConfig', group: 'networking.istio.io', versions: ['v1beta1'], plural: 'proxyconfigs',
    shortNames: [], clusterScoped: false, istio: true, served: false,
  },
  Telemetry: {
    kind: 'Telemetry', group: 'telemetry.istio.io', versions: ['v1', 'v1alpha1'], storageVersion: 'v1alpha1',
    plural: 'telemetries', shortNames: ['telemetry'], clusterScoped: false, istio: true, served: true,
  },
  WasmPlugin: {
    kind: 'WasmPlugin', group: 'extensions.istio.io', versions: ['v1alpha1'], plural: 'wasmplugins',
    shortNames: [], clusterScoped: false, istio: true, served: false,
  },
  TrafficExtension: {
    kind: 'TrafficExtension', group: 'extensions.istio.io', versions: ['v1alpha1'], plural: 'trafficextensions',
    shortNames: [], clusterScoped: false, istio: true, served: false,
  },
  RequestAuthentication: {
    kind: 'RequestAuthentication', group: 'security.istio.io', versions: ['v1', 'v1beta1'],
    plural: 'requestauthentications', shortNames: ['ra'], clusterScoped: false, istio: true, served: true,
  },
  Service: {
    kind: 'Service', group: '', versions: ['v1'], plural: 'services', shortNames: ['svc'],
    clusterScoped: false, istio: false, served: true,
  },
  EndpointSlice: {
    kind: 'EndpointSlice', group: 'discovery.k8s.io', versions: ['v1'], plural: 'endpointslices',
    shortNames: [], clusterScoped: false, istio: false, served: true,
  },
  Pod: {
    kind: 'Pod', group: '', versions: ['v1'], plural: 'pods', shortNames: ['po'], clusterScoped: false,
    istio: false, served: true,
  },
  Namespace: {
    kind: 'Namespace', group: '', versions: ['v1'], plural: 'namespaces', shortNames: ['ns'],
    clusterScoped: true, istio: false, served: true,
  },
  // Kubernetes Ingress (class `istio`): the model converts it to a Gateway + VirtualServices as istiod does
  Ingress: {
    kind: 'Ingress', group: 'networking.k8s.io', versions: ['v1'], plural: 'ingresses', shortNames: ['ing'],
    clusterScoped: false, istio: false, served: true,
  },
  IngressClass: {
    kind: 'IngressClass', group: 'networking.k8s.io', versions: ['v1'], plural: 'ingressclasses', shortNames: [],
    clusterScoped: true, istio: false, served: true,
  },
  // Kubernetes Gateway API (the CRDs' own schemas and CEL rules: schemas/gateway-api.ts). The table is keyed
  // by a name unique per group+kind: Gateway API's `Gateway` is `KubernetesGateway` (istiod's own name for
  // it), every other kind keeps its kind name. Documents are resolved by group+kind (kindOf).
  GatewayClass: {
    kind: 'GatewayClass', group: GATEWAY_API_GROUP, versions: ['v1', 'v1beta1'], plural: 'gatewayclasses', shortNames: ['gc'],
    clusterScoped: true, istio: false, served: true, gatewayApi: true,
  },
  KubernetesGateway: {
    kind: 'Gateway', group: GATEWAY_API_GROUP, versions: ['v1', 'v1beta1'], plural: 'gateways', shortNames: ['gtw'],
    clusterScoped: false, istio: false, served: true, gatewayApi: true,
  },
  HTTPRoute: {
    kind: 'HTTPRoute', group: GATEWAY_API_GROUP, versions: ['v1', 'v1beta1'], plural: 'httproutes', shortNames: [],
    clusterScoped: false, istio: false, served: true, gatewayApi: true,
  },
  GRPCRoute: {
    kind: 'GRPCRoute', group: GATEWAY_API_GROUP, versions: ['v1'], plural: 'grpcroutes', shortNames: [],
    clusterScoped: false, istio: false, served: true, gatewayApi: true,
  },
  TCPRoute: {
    kind: 'TCPRoute', group: GATEWAY_API_GROUP, versions: ['v1', 'v1alpha2'], plural: 'tcproutes', shortNames: [],
    clusterScoped: false, istio: false, served: true, gatewayApi: true,
  },
  TLSRoute: {
    kind: 'TLSRoute', group: GATEWAY_API_GROUP, versions: ['v1', 'v1alpha3', 'v1alpha2'], plural: 'tlsroutes', shortNames: [],
    clusterScoped: false, istio: false, served: true, gatewayApi: true,
  },
  ReferenceGrant: {
    kind: 'ReferenceGrant', group: GATEWAY_API_GROUP, versions: ['v1', 'v1beta1'], storageVersion: 'v1beta1', plural: 'referencegrants',
    shortNames: ['refgrant'], clusterScoped: false, istio: false, served: true, gatewayApi: true,
  },
} as const satisfies Record<string, KindInfo>;

/** A kind's key in KINDS: unique per group+kind (not always the kind's name: see KubernetesGateway). */
export type Kind = keyof typeof KINDS;
export const ALL_KINDS = Object.keys(KINDS) as Kind[];
export const ISTIO_KINDS = ALL_KINDS.filter((k) => KINDS[k].istio);
/** Istio kinds meshd validates and stores but does not (yet) turn into xDS. */
export const VALIDATED_ONLY_KINDS = ALL_KINDS.filter((k) => !(KINDS[k] as KindInfo).served);
/** The Kubernetes Gateway API kinds meshd reads. */
export const GATEWAY_API_KINDS = ALL_KINDS.filter((k) => (KINDS[k] as KindInfo).gatewayApi === true);
/** Config users write (Istio's and the Gateway API's), as opposed to the Kubernetes objects meshd observes. */
export const CONFIG_KINDS = ALL_KINDS.filter((k) => KINDS[k].istio || (KINDS[k] as KindInfo).gatewayApi === true);

const BY_GROUP_KIND = new Map<string, Kind>(ALL_KINDS.map((k) => [`${KINDS[k].group}/${KINDS[k].kind}`, k]));

/** The KINDS key of group + kind (`networking.istio.io` + `Gateway` → Gateway; the Gateway API's → KubernetesGateway). */
export function kindOf(group: string, kind: string): Kind | undefined {
  return BY_GROUP_KIND.get(`${group}/${kind}`);
}

/** The API group of an apiVersion (`networking.istio.io/v1` → networking.istio.io, `v1` → ''). */
export function groupOf(apiVersion: string): string {
  return apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.lastIndexOf('/')) : '';
}

/** How meshd names a kind to people: its kind name, group-qualified where two groups share it (`Gateway.gateway.networking.k8s.io`). */
export function displayKind(kind: Kind): string {
  const info: KindInfo = KINDS[kind];
  const shared = ALL_KINDS.some((k) => k !== kind && KINDS[k].kind === info.kind);
  return shared && !info.istio ? `${info.kind}.${info.group}` : info.kind;
}

/** Cluster-scoped kinds (Namespace, IngressClass) have no namespace in their key; every other kind does. */
export function isClusterScoped(kind: string): boolean {
  return kind in KINDS && (KINDS[kind as Kind] as KindInfo).clusterScoped;
}

export function apiVersionsOf(kind: Kind): string[] {
  const info: KindInfo = KINDS[kind];
  return info.versions.map((v) => (info.group ? `${info.group}/${v}` : v));
}

/** Resolves `apiVersion` + `kind` of an incoming document (group + kind) to a known kind, or explains why not. */
export function resolveKind(apiVersion: unknown, kind: unknown): { kind: Kind } | { error: string; kind?: Kind } {
  if (typeof kind !== 'string' || kind === '') return { error: 'kind: required' };
  if (typeof apiVersion !== 'string' || apiVersion === '') return { error: 'apiVersion: required' };
  const k = kindOf(groupOf(apiVersion), kind);
  if (k === undefined) {
    const sameName = ALL_KINDS.filter((c) => KINDS[c].kind === kind);
    if (sameName.length === 0) {
      return { error: `kind: unsupported kind ${JSON.stringify(kind)} (meshd reads ${[...new Set(ALL_KINDS.map((c) => KINDS[c].kind))].join(', ')})` };
    }
    const served = sameName.flatMap((c) => apiVersionsOf(c));
    return { error: `apiVersion: ${kind} is not served as ${JSON.stringify(apiVersion)} (served: ${served.join(', ')})` };
  }
  const served = apiVersionsOf(k);
  if (!served.includes(apiVersion)) {
    return { error: `apiVersion: ${kind} is not served as ${JSON.stringify(apiVersion)} (served: ${served.join(', ')})`, kind: k };
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
  const group = groupOf(apiVersion);
  // a kind meshd reads, in its own group (Gateway API kinds included)
  if (kindOf(group, kind) !== undefined) return false;
  return !group.endsWith('istio.io');
}
