// The service registry's vocabulary: what the model derives from Services, EndpointSlices and Pods.

export type Protocol =
  | 'HTTP' | 'HTTP2' | 'HTTPS' | 'GRPC' | 'GRPC-Web' | 'TCP' | 'TLS' | 'UDP'
  | 'Mongo' | 'Redis' | 'MySQL' | 'UNSUPPORTED';

export interface ServicePort {
  readonly name: string;
  readonly port: number;
  /** number, or the name of a container port; undefined means the same as `port` */
  readonly targetPort: number | string | undefined;
  readonly protocol: Protocol;
}

export interface Locality {
  readonly region: string;
  readonly zone: string;
  readonly subzone: string;
}

export interface Workload {
  readonly name: string;
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly serviceAccount: string;
  readonly ips: readonly string[];
  readonly locality: Locality;
  /** `istio` when the pod carries a sidecar/agent (label security.istio.io/tlsMode), else `disabled` */
  readonly tlsMode: 'istio' | 'disabled';
  /** store revision of the Pod version this was built from */
  readonly revision: number;
}

export interface ServiceEndpoint {
  readonly address: string;
  /** the port the endpoint listens on (target port) */
  readonly port: number;
  /** which service port this endpoint serves */
  readonly servicePort: number;
  readonly ready: boolean;
  readonly serving: boolean;
  readonly terminating: boolean;
  readonly locality: Locality;
  /** the pod behind the address, when known (labels select DestinationRule subsets) */
  readonly workload?: Workload;
}

export interface MeshService {
  /** `name.namespace.svc.<domain>` */
  readonly hostname: string;
  readonly name: string;
  readonly namespace: string;
  readonly clusterIP?: string;
  readonly ports: readonly ServicePort[];
  readonly labels: Readonly<Record<string, string>>;
  readonly selector?: Readonly<Record<string, string>>;
  /**
   * annotation `networking.istio.io/exportTo` (comma-separated `.`, `*`, `~` or namespaces): which
   * namespaces' proxies see the service; undefined means everywhere
   */
  readonly exportTo?: readonly string[];
  /** store revision of the Service version this was built from: changes whenever the Service does */
  readonly revision: number;
  /**
   * Set for a service declared by a ServiceEntry (one MeshService per host): how its endpoints are found
   * (istiod's Resolution: STATIC/workloadSelector → EDS, DNS → STRICT_DNS, DNS_ROUND_ROBIN → LOGICAL_DNS,
   * NONE → ORIGINAL_DST), whether it is outside the mesh (no auto-mTLS), every address (VIPs/CIDRs) and
   * the SANs to verify. Undefined for Kubernetes Services.
   */
  readonly serviceEntry?: ServiceEntryFacts;
}

export interface ServiceEntryFacts {
  /** `namespace/name` of the ServiceEntry */
  readonly source: string;
  readonly resolution: 'STATIC' | 'DNS' | 'DNS_ROUND_ROBIN' | 'NONE';
  readonly meshExternal: boolean;
  readonly addresses: readonly string[];
  readonly subjectAltNames: readonly string[];
}

export const NO_LOCALITY: Locality = Object.freeze({ region: '', zone: '', subzone: '' });
