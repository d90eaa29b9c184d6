// What the injection templates are parameterised by: istio-discovery chart values and mesh config that
// matter to the sidecar, with Istio's defaults. `meshd serve` flags set the few a user changes.

export interface ProxyResources {
  requests?: { cpu?: string; memory?: string };
  limits?: { cpu?: string; memory?: string };
}

export interface LabelSelectorSpec {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }[];
}

export interface InjectionConfig {
  /** values.global.hub / tag: image `${hub}/proxyv2:${tag}` */
  readonly hub: string;
  readonly tag: string;
  /** image of the grpc-agent template's sidecar, which runs `meshd agent` */
  readonly agentImage: string;
  readonly imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
  /** revision this meshd serves (`istio.io/rev`) */
  readonly revision: string;
  /** istiod address the proxies talk to (CA_ADDR, discoveryAddress) */
  readonly discoveryAddress: string;
  /** plaintext xDS address for the grpc-agent bootstrap */
  readonly plaintextXdsAddress: string;
  readonly clusterId: string;
  readonly trustDomain: string;
  readonly domainSuffix: string;
  readonly meshId: string;
  /** Kubernetes native sidecars (istio-proxy as a restartable init container; Kubernetes ≥ 1.29) */
  readonly nativeSidecars: boolean;
  readonly neverInjectSelector: readonly LabelSelectorSpec[];
  readonly alwaysInjectSelector: readonly LabelSelectorSpec[];
  readonly proxyResources: ProxyResources;
  readonly statusPort: number;
  readonly logLevel: string;
  readonly proxyLogLevel: string;
  readonly componentLogLevel: string;
  readonly interceptionMode: 'REDIRECT' | 'TPROXY' | 'NONE';
  readonly includeIPRanges: string;
  readonly excludeIPRanges: string;
  readonly includeInboundPorts: string;
  readonly excludeInboundPorts: string;
  readonly excludeOutboundPorts: string;
  readonly includeOutboundPorts: string;
  readonly rewriteAppHTTPProbers: boolean;
  readonly enablePrometheusMerge: boolean;
  readonly holdApplicationUntilProxyStarts: boolean;
}

/** The istio-discovery chart's defaults. */
export const DEFAULT_INJECTION_CONFIG: InjectionConfig = {
  hub: 'docker.io/istio',
  tag: '1.28.0',
  agentImage: 'meshd:0.1.0',
  revision: 'default',
  discoveryAddress: 'istiod.istio-system.svc:15012',
  plaintextXdsAddress: 'istiod.istio-system.svc:15010',
  clusterId: 'Kubernetes',
  trustDomain: 'cluster.local',
  domainSuffix: 'cluster.local',
  meshId: 'cluster.local',
  nativeSidecars: true,
  neverInjectSelector: [],
  alwaysInjectSelector: [],
  proxyResources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '2', memory: '1Gi' } },
  statusPort: 15020,
  logLevel: 'default:info',
  proxyLogLevel: 'warning',
  componentLogLevel: 'misc:error',
  interceptionMode: 'REDIRECT',
  includeIPRanges: '*',
  excludeIPRanges: '',
  includeInboundPorts: '*',
  excludeInboundPorts: '',
  excludeOutboundPorts: '',
  includeOutboundPorts: '',
  rewriteAppHTTPProbers: true,
  enablePrometheusMerge: true,
  holdApplicationUntilProxyStarts: false,
};
