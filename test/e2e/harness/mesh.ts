import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';

// Builders for the Kubernetes and Istio documents the e2e tests feed meshd through its config
// directory. They write what a user would write (kubectl-style YAML), one concern per file.

export const DOMAIN = 'cluster.local';
export const fqdn = (service: string, namespace = 'default') => `${service}.${namespace}.svc.${DOMAIN}`;
/** The proxyless gRPC dial target for a service port. */
export const xdsTarget = (service: string, port: number, namespace = 'default') => `xds:///${fqdn(service, namespace)}:${port}`;

export type Doc = Record<string, unknown>;

export function namespaceDoc(name: string): Doc {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name } };
}

export interface ServiceSpec {
  readonly name: string;
  readonly namespace?: string;
  readonly port: number;
  readonly portName?: string;
  readonly targetPort?: number;
  readonly selector?: Record<string, string>;
}

export function serviceDoc({ name, namespace = 'default', port, portName = 'grpc', targetPort, selector }: ServiceSpec): Doc {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace, labels: { app: name } },
    spec: {
      ...(selector ? { selector } : {}),
      ports: [{ name: portName, port, ...(targetPort !== undefined ? { targetPort } : {}) }],
    },
  };
}

export interface PodSpec {
  readonly name: string;
  readonly namespace?: string;
  readonly ip: string;
  readonly labels: Record<string, string>;
  readonly serviceAccount?: string;
}

export function podDoc({ name, namespace = 'default', ip, labels, serviceAccount }: PodSpec): Doc {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels },
    spec: { ...(serviceAccount ? { serviceAccountName: serviceAccount } : {}), containers: [{ name: 'app', image: 'greeter' }] },
    status: { phase: 'Running', podIP: ip },
  };
}

export interface SliceEndpoint {
  readonly ip: string;
  /** the Pod behind the address (targetRef), if any */
  readonly pod?: string;
  readonly ready?: boolean;
}

export interface EndpointSliceSpec {
  readonly name: string;
  readonly service: string;
  readonly namespace?: string;
  readonly portName?: string;
  readonly port: number;
  readonly endpoints: readonly SliceEndpoint[];
}

/** One slice per backend version, so versions may listen on different ports (as with OS-chosen ports). */
export function endpointSliceDoc({ name, service, namespace = 'default', portName = 'grpc', port, endpoints }: EndpointSliceSpec): Doc {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name, namespace, labels: { 'kubernetes.io/service-name': service } },
    addressType: 'IPv4',
    ports: [{ name: portName, port, protocol: 'TCP' }],
    endpoints: endpoints.map((e) => ({
      addresses: [e.ip],
      conditions: { ready: e.ready ?? true },
      ...(e.pod ? { targetRef: { kind: 'Pod', namespace, name: e.pod } } : {}),
    })),
  };
}

export function destinationRuleDoc(name: string, host: string, subsets: Record<string, Record<string, string>>, extraSpec: Doc = {}, namespace = 'default'): Doc {
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'DestinationRule',
    metadata: { name, namespace },
    spec: { host, subsets: Object.entries(subsets).map(([n, labels]) => ({ name: n, labels })), ...extraSpec },
  };
}

export function virtualServiceDoc(name: string, hosts: readonly string[], http: readonly Doc[], namespace = 'default'): Doc {
  return { apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name, namespace }, spec: { hosts, http } };
}

/** `{destination: {host, subset}, weight}` */
export function dest(host: string, subset?: string, weight?: number): Doc {
  return { destination: { host, ...(subset ? { subset } : {}) }, ...(weight !== undefined ? { weight } : {}) };
}

export function toYaml(docs: readonly Doc[], header?: string): string {
  const body = docs.map((d) => YAML.stringify(d)).join('---\n');
  return header ? `# ${header.split('\n').join('\n# ')}\n${body}` : body;
}

/** Writes `{file: docs}` into `dir` as multi-document YAML. */
export function writeMesh(dir: string, files: Record<string, readonly Doc[]>): void {
  mkdirSync(dir, { recursive: true });
  for (const [file, docs] of Object.entries(files)) writeFileSync(path.join(dir, file), toYaml(docs));
}

export interface Version {
  /** pod name, e.g. greeter-v1 */
  readonly pod: string;
  readonly version: string;
  readonly ip: string;
  readonly port: number;
}

/**
 * The standard two-version mesh of the tests: Namespace, Service `name` (port `servicePort`, selector
 * app=name), one Pod per version (labels app, version), one EndpointSlice per version (so each version
 * can listen on its own OS-chosen port), and a DestinationRule with one subset per version.
 * Returns the file map (VirtualServices are up to the test).
 */
export function versionedService(name: string, servicePort: number, versions: readonly Version[]): Record<string, Doc[]> {
  const host = fqdn(name);
  return {
    'services.yaml': [namespaceDoc('default'), serviceDoc({ name, port: servicePort, selector: { app: name } })],
    'workloads.yaml': versions.map((v) => podDoc({ name: v.pod, ip: v.ip, labels: { app: name, version: v.version }, serviceAccount: name })),
    'endpoints.yaml': versions.map((v) =>
      endpointSliceDoc({ name: `${name}-${v.version}`, service: name, port: v.port, endpoints: [{ ip: v.ip, pod: v.pod }] }),
    ),
    'destination-rule.yaml': [destinationRuleDoc(name, host, Object.fromEntries(versions.map((v) => [v.version, { version: v.version }])))],
  };
}

/**
 * The security tests' workload: Service `greeter` (port `servicePort`) backed by one pod, greeter-1 with
 * service account `greeter`, serving on 127.0.0.1:`targetPort`.
 */
export function greeterDocs(servicePort: number, targetPort: number): Doc[] {
  return [
    namespaceDoc('default'),
    serviceDoc({ name: 'greeter', port: servicePort, targetPort, selector: { app: 'greeter' } }),
    podDoc({ name: 'greeter-1', ip: '127.0.0.1', labels: { app: 'greeter' }, serviceAccount: 'greeter' }),
    endpointSliceDoc({ name: 'greeter-1', service: 'greeter', port: targetPort, endpoints: [{ ip: '127.0.0.1', pod: 'greeter-1' }] }),
  ];
}

/** PeerAuthentication `default` in `namespace` (the root namespace makes it mesh-wide) with mode STRICT. */
export function strictPeerAuthenticationDoc(namespace: string): Doc {
  return { apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name: 'default', namespace }, spec: { mtls: { mode: 'STRICT' } } };
}

/** ALLOW policy on the greeter pods that admits only service account default/client. */
export const ONLY_CLIENT_POLICY_DOC: Doc = {
  apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'only-client', namespace: 'default' },
  spec: { selector: { matchLabels: { app: 'greeter' } }, rules: [{ from: [{ source: { principals: ['cluster.local/ns/default/sa/client'] } }] }] },
};
