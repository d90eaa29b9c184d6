// Objects the Kubernetes-source tests create in the API-server fixture.
import type { KObject } from '../kube-fixture/server.js';

const o = (x: unknown) => x as KObject;

export const vs = (name: string, host: string, namespace = 'default', extra: Record<string, unknown> = {}) =>
  o({ apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name, namespace, ...extra }, spec: { hosts: [host], http: [{ route: [{ destination: { host } }] }] } });
export const dr = (name: string, host: string, namespace = 'default') =>
  o({ apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name, namespace }, spec: { host, subsets: [{ name: 'v1', labels: { version: 'v1' } }] } });
export const pa = (name: string, mode: string, namespace = 'default') =>
  o({ apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name, namespace }, spec: { mtls: { mode } } });
export const ap = (name: string, action: string, namespace = 'default') =>
  o({ apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name, namespace }, spec: { action, rules: [{ from: [{ source: { namespaces: [namespace] } }] }] } });
export const svc = (name: string, port: number, namespace = 'default', labels: Record<string, string> = {}) =>
  o({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace, labels }, spec: { selector: { app: name }, ports: [{ name: 'grpc', port }] } });
export const pod = (name: string, ip: string, labels: Record<string, string>, namespace = 'default') =>
  o({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace, labels }, spec: { serviceAccountName: 'default', containers: [{ name: 'app', image: 'x' }] }, status: { phase: 'Running', podIP: ip } });
export const slice = (name: string, service: string, port: number, ips: string[], namespace = 'default') =>
  o({
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name, namespace, labels: { 'kubernetes.io/service-name': service } },
    addressType: 'IPv4', ports: [{ name: 'grpc', port, protocol: 'TCP' }], endpoints: ips.map((ip) => ({ addresses: [ip], conditions: { ready: true } })),
  });
export const ns = (name: string, labels: Record<string, string> = {}) => o({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });

/** One refused object per Istio kind (schema or semantic errors). */
/** A valid object of every Istio kind beyond the four meshd served first (the sources hold them all). */
export function everyOtherIstioKind(namespace: string): KObject[] {
  const meta = (name: string) => ({ name, namespace });
  return [
    o({ apiVersion: 'networking.istio.io/v1', kind: 'Gateway', metadata: meta('gw'), spec: { selector: { istio: 'ingressgateway' }, servers: [{ port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: ['*'] }] } }),
    o({ apiVersion: 'networking.istio.io/v1', kind: 'ServiceEntry', metadata: meta('ext'), spec: { hosts: ['api.example.com'], ports: [{ number: 443, name: 'https', protocol: 'TLS' }], resolution: 'DNS', location: 'MESH_EXTERNAL' } }),
    o({ apiVersion: 'networking.istio.io/v1', kind: 'WorkloadEntry', metadata: meta('vm-1'), spec: { address: '10.9.0.1', labels: { app: 'vm' } } }),
    o({ apiVersion: 'networking.istio.io/v1', kind: 'WorkloadGroup', metadata: meta('vms'), spec: { metadata: { labels: { app: 'vm' } }, template: { serviceAccount: 'vm' } } }),
    o({ apiVersion: 'networking.istio.io/v1', kind: 'Sidecar', metadata: meta('default'), spec: { egress: [{ hosts: ['./*', 'istio-system/*'] }] } }),
    o({ apiVersion: 'networking.istio.io/v1alpha3', kind: 'EnvoyFilter', metadata: meta('ef'), spec: { configPatches: [{ applyTo: 'CLUSTER', patch: { operation: 'REMOVE' } }] } }),
    o({ apiVersion: 'networking.istio.io/v1beta1', kind: 'ProxyConfig', metadata: meta('pc'), spec: { concurrency: 2 } }),
    o({ apiVersion: 'security.istio.io/v1', kind: 'RequestAuthentication', metadata: meta('jwt'), spec: { jwtRules: [{ issuer: 'https://issuer.example.com' }] } }),
    o({ apiVersion: 'telemetry.istio.io/v1', kind: 'Telemetry', metadata: meta('tel'), spec: { tracing: [{ randomSamplingPercentage: 10 }] } }),
    o({ apiVersion: 'extensions.istio.io/v1alpha1', kind: 'WasmPlugin', metadata: meta('wasm'), spec: { url: 'oci://ghcr.io/example/plugin:1' } }),
    o({ apiVersion: 'extensions.istio.io/v1alpha1', kind: 'TrafficExtension', metadata: meta('lua'), spec: { lua: { inlineCode: 'function envoy_on_request(h) end' } } }),
  ];
}

/** A Kubernetes Ingress of class istio and its IngressClass (cluster-scoped): the Ingress kinds meshd reads. */
export function ingressObjects(namespace: string): KObject[] {
  return [
    o({ apiVersion: 'networking.k8s.io/v1', kind: 'IngressClass', metadata: { name: 'istio' }, spec: { controller: 'istio.io/ingress-controller' } }),
    o({
      apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'web', namespace },
      spec: { ingressClassName: 'istio', rules: [{ host: 'web.example.com', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } }] } }] },
    }),
  ];
}

/** One object of each Gateway API kind meshd reads (GatewayClass is cluster-scoped). */
export function gatewayApiObjects(namespace: string): KObject[] {
  const group = 'gateway.networking.k8s.io';
  return [
    o({ apiVersion: `${group}/v1`, kind: 'GatewayClass', metadata: { name: 'istio' }, spec: { controllerName: 'istio.io/gateway-controller' } }),
    o({
      apiVersion: `${group}/v1`, kind: 'Gateway', metadata: { name: 'web', namespace },
      spec: { gatewayClassName: 'istio', listeners: [{ name: 'http', port: 80, protocol: 'HTTP' }, { name: 'tls', port: 443, protocol: 'TLS', tls: { mode: 'Passthrough' } }, { name: 'tcp', port: 9000, protocol: 'TCP' }] },
    }),
    o({ apiVersion: `${group}/v1`, kind: 'HTTPRoute', metadata: { name: 'web', namespace }, spec: { parentRefs: [{ name: 'web' }], rules: [{ backendRefs: [{ name: 'web', port: 80 }] }] } }),
    o({ apiVersion: `${group}/v1`, kind: 'GRPCRoute', metadata: { name: 'grpc', namespace }, spec: { parentRefs: [{ name: 'web' }], rules: [{ backendRefs: [{ name: 'web', port: 80 }] }] } }),
    o({ apiVersion: `${group}/v1`, kind: 'TLSRoute', metadata: { name: 'tls', namespace }, spec: { parentRefs: [{ name: 'web', sectionName: 'tls' }], hostnames: ['tls.example.com'], rules: [{ backendRefs: [{ name: 'web', port: 443 }] }] } }),
    o({ apiVersion: `${group}/v1`, kind: 'TCPRoute', metadata: { name: 'tcp', namespace }, spec: { parentRefs: [{ name: 'web', sectionName: 'tcp' }], rules: [{ backendRefs: [{ name: 'web', port: 9000 }] }] } }),
    o({ apiVersion: `${group}/v1beta1`, kind: 'ReferenceGrant', metadata: { name: 'from-web', namespace }, spec: { from: [{ group, kind: 'HTTPRoute', namespace: 'default' }], to: [{ group: '', kind: 'Service' }] } }),
  ];
}

export const INVALID_ISTIO_OBJECTS: KObject[] = [
  o({ apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'bad-vs', namespace: 'default' }, spec: { hosts: ['a'], http: [{ route: [{ destination: { subset: 'v1' } }] }] } }),
  o({ apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'bad-dr', namespace: 'default' }, spec: { subsets: [] } }),
  pa('bad-pa', 'SOMETIMES'),
  ap('bad-ap', 'MAYBE'),
  o({ apiVersion: 'telemetry.istio.io/v1', kind: 'Telemetry', metadata: { name: 'bad-telemetry', namespace: 'default' }, spec: { tracing: [{ randomSamplingPercentage: 101 }] } }),
  o({ apiVersion: 'security.istio.io/v1', kind: 'RequestAuthentication', metadata: { name: 'bad-ra', namespace: 'default' }, spec: { jwtRules: [{ issuer: 'x', jwksUri: 'ftp://nope' }] } }),
  // every other Istio kind: each one is validated (Istio's CRD schema) and gets status when refused
  o({ apiVersion: 'networking.istio.io/v1', kind: 'Gateway', metadata: { name: 'bad-gw', namespace: 'default' }, spec: { servers: [{ port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: 'x' }] } }),
  o({ apiVersion: 'networking.istio.io/v1', kind: 'ServiceEntry', metadata: { name: 'bad-se', namespace: 'default' }, spec: { hosts: ['*'] } }),
  o({ apiVersion: 'networking.istio.io/v1', kind: 'WorkloadEntry', metadata: { name: 'bad-we', namespace: 'default' }, spec: { ports: { http: 99999 } } }),
  o({ apiVersion: 'networking.istio.io/v1', kind: 'WorkloadGroup', metadata: { name: 'bad-wg', namespace: 'default' }, spec: {} }),
  o({ apiVersion: 'networking.istio.io/v1', kind: 'Sidecar', metadata: { name: 'bad-sidecar', namespace: 'default' }, spec: { egress: [{ hosts: ['noslash'] }] } }),
  o({ apiVersion: 'networking.istio.io/v1alpha3', kind: 'EnvoyFilter', metadata: { name: 'bad-ef', namespace: 'default' }, spec: { configPatches: [{ applyTo: 'NOPE' }] } }),
  o({ apiVersion: 'networking.istio.io/v1beta1', kind: 'ProxyConfig', metadata: { name: 'bad-pc', namespace: 'default' }, spec: { concurrency: -1 } }),
  o({ apiVersion: 'telemetry.istio.io/v1', kind: 'Telemetry', metadata: { name: 'bad-telemetry-metrics', namespace: 'default' }, spec: { metrics: [{ providers: [{ name: '' }] }] } }),
  o({ apiVersion: 'extensions.istio.io/v1alpha1', kind: 'WasmPlugin', metadata: { name: 'bad-wasm', namespace: 'default' }, spec: { url: '' } }),
  o({ apiVersion: 'extensions.istio.io/v1alpha1', kind: 'TrafficExtension', metadata: { name: 'bad-te', namespace: 'default' }, spec: {} }),
];
