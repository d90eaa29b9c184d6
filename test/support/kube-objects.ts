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
export const INVALID_ISTIO_OBJECTS: KObject[] = [
  o({ apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'bad-vs', namespace: 'default' }, spec: { hosts: ['a'], http: [{ route: [{ destination: { subset: 'v1' } }] }] } }),
  o({ apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'bad-dr', namespace: 'default' }, spec: { subsets: [] } }),
  pa('bad-pa', 'SOMETIMES'),
  ap('bad-ap', 'MAYBE'),
  o({ apiVersion: 'telemetry.istio.io/v1', kind: 'Telemetry', metadata: { name: 'bad-telemetry', namespace: 'default' }, spec: { tracing: [{ randomSamplingPercentage: 101 }] } }),
  o({ apiVersion: 'security.istio.io/v1', kind: 'RequestAuthentication', metadata: { name: 'bad-ra', namespace: 'default' }, spec: { jwtRules: [{ issuer: 'x', jwksUri: 'ftp://nope' }] } }),
];
