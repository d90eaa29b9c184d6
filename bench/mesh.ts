import { writeFileSync } from 'node:fs';
import path from 'node:path';

// The generated mesh of the benchmarks (xds-load.ts, cold-start.ts): S services in min(10, S) namespaces,
// each a file with its Service, two Pods (v1, v2) and a DestinationRule, plus a file with its VirtualService
// (90/10 between the subsets); client Deployments with their Services and Pods for simulated sidecars.

/** The port every generated service listens on. */
export const PORT = 5000;
const pad = (i: number) => String(i).padStart(4, '0');
export const namespaceCount = (s: number) => Math.min(10, s);

export class Mesh {
  constructor(readonly services: number) {}
  name(i: number): string {
    return `svc-${pad(i)}`;
  }
  ns(i: number): string {
    return `bench-${i % namespaceCount(this.services)}`;
  }
  fqdn(i: number): string {
    return `${this.name(i)}.${this.ns(i)}.svc.cluster.local`;
  }
  listener(i: number): string {
    return `${this.fqdn(i)}:${PORT}`;
  }
  cluster(i: number, subset: string): string {
    return `outbound|${PORT}|${subset}|${this.fqdn(i)}`;
  }
  podIp(i: number, k: number): string {
    return `10.${(i >> 8) & 255}.${i & 255}.${k}`;
  }

  pod(i: number, version: string, k: number, suffix = ''): string {
    return [
      'apiVersion: v1',
      'kind: Pod',
      'metadata:',
      `  name: ${this.name(i)}-${version}${suffix}`,
      `  namespace: ${this.ns(i)}`,
      `  labels: {app: ${this.name(i)}, version: ${version}}`,
      'spec:',
      `  serviceAccountName: ${this.name(i)}`,
      `  containers: [{name: app, image: bench/app:1, ports: [{containerPort: ${PORT}}]}]`,
      'status:',
      '  phase: Running',
      `  podIP: ${this.podIp(i, k)}`,
    ].join('\n');
  }

  destinationRule(i: number, extraPolicy = ''): string {
    return [
      'apiVersion: networking.istio.io/v1',
      'kind: DestinationRule',
      'metadata:',
      `  name: ${this.name(i)}`,
      `  namespace: ${this.ns(i)}`,
      'spec:',
      `  host: ${this.fqdn(i)}`,
      ...(extraPolicy ? [extraPolicy] : []),
      '  subsets:',
      '    - {name: v1, labels: {version: v1}}',
      '    - {name: v2, labels: {version: v2}}',
    ].join('\n');
  }

  /** Service + Pods v1/v2 + DestinationRule: one file per service, as `kubectl apply -f dir/` would see them. */
  serviceFile(i: number, drPolicy = ''): string {
    const svc = [
      'apiVersion: v1',
      'kind: Service',
      'metadata:',
      `  name: ${this.name(i)}`,
      `  namespace: ${this.ns(i)}`,
      `  labels: {app: ${this.name(i)}}`,
      'spec:',
      `  selector: {app: ${this.name(i)}}`,
      `  ports: [{name: grpc, port: ${PORT}, targetPort: ${PORT}}]`,
    ].join('\n');
    return [svc, this.pod(i, 'v1', 1), this.pod(i, 'v2', 2), this.destinationRule(i, drPolicy)].join('\n---\n') + '\n';
  }

  virtualService(i: number, w1: number, w2: number): string {
    return [
      'apiVersion: networking.istio.io/v1',
      'kind: VirtualService',
      'metadata:',
      `  name: ${this.name(i)}`,
      `  namespace: ${this.ns(i)}`,
      'spec:',
      `  hosts: [${this.fqdn(i)}]`,
      '  http:',
      '    - route:',
      `        - {destination: {host: ${this.fqdn(i)}, subset: v1}, weight: ${w1}}`,
      `        - {destination: {host: ${this.fqdn(i)}, subset: v2}, weight: ${w2}}`,
    ].join('\n') + '\n';
  }

  /** Sidecar p is replica p % R of client Deployment ⌊p / R⌋: its own Service, pods, service account. */
  client(p: number, replicas: number): { deployment: string; ns: string; pod: string; ip: string; labels: Record<string, string> } {
    const d = Math.floor(p / replicas);
    const deployment = `client-${pad(d)}`;
    return {
      deployment,
      ns: `bench-${d % namespaceCount(this.services)}`,
      pod: `${deployment}-5d8f7c9b4-${pad(p % replicas)}`,
      ip: `172.16.${(p >> 8) & 255}.${p & 255}`,
      labels: {
        app: deployment,
        version: 'v1',
        'pod-template-hash': '5d8f7c9b4',
        'security.istio.io/tlsMode': 'istio',
        'service.istio.io/canonical-name': deployment,
        'service.istio.io/canonical-revision': 'v1',
      },
    };
  }

  /** istio-proxy's node metadata for sidecar p (no GENERATOR: meshd's sidecar generator serves it). */
  sidecarMetadata(p: number, replicas: number): Record<string, unknown> {
    const c = this.client(p, replicas);
    return {
      NAMESPACE: c.ns,
      LABELS: c.labels,
      INSTANCE_IPS: c.ip,
      NAME: c.pod,
      WORKLOAD_NAME: c.deployment,
      OWNER: `kubernetes://apis/apps/v1/namespaces/${c.ns}/deployments/${c.deployment}`,
      SERVICE_ACCOUNT: c.deployment,
      ISTIO_VERSION: '1.24.0',
      INTERCEPTION_MODE: 'REDIRECT',
      CLUSTER_ID: 'Kubernetes',
      MESH_ID: 'cluster.local',
      POD_PORTS: JSON.stringify([{ name: 'grpc', containerPort: PORT, protocol: 'TCP' }]),
      APP_CONTAINERS: 'app',
      ENVOY_PROMETHEUS_PORT: 15090,
      ENVOY_STATUS_PORT: 15021,
    };
  }

  /** Each client Deployment: a Service (so its sidecars get inbound listeners) and its replicas' Pods. */
  writeClients(dir: string, proxies: number, replicas: number): number {
    const deployments = Math.ceil(proxies / replicas);
    for (let d = 0; d < deployments; d++) {
      const first = this.client(d * replicas, replicas);
      const docs = [
        [
          'apiVersion: v1',
          'kind: Service',
          'metadata:',
          `  name: ${first.deployment}`,
          `  namespace: ${first.ns}`,
          'spec:',
          `  selector: {app: ${first.deployment}}`,
          `  ports: [{name: grpc, port: ${PORT}, targetPort: ${PORT}}]`,
        ].join('\n'),
      ];
      for (let p = d * replicas; p < Math.min(proxies, (d + 1) * replicas); p++) {
        const c = this.client(p, replicas);
        docs.push(
          [
            'apiVersion: v1',
            'kind: Pod',
            'metadata:',
            `  name: ${c.pod}`,
            `  namespace: ${c.ns}`,
            `  labels: ${JSON.stringify(c.labels)}`,
            'spec:',
            `  serviceAccountName: ${c.deployment}`,
            `  containers: [{name: app, image: bench/client:1, ports: [{name: grpc, containerPort: ${PORT}}]}]`,
            'status:',
            '  phase: Running',
            `  podIP: ${c.ip}`,
          ].join('\n'),
        );
      }
      writeFileSync(path.join(dir, `${first.deployment}.yaml`), docs.join('\n---\n') + '\n');
    }
    return deployments;
  }

  write(dir: string): void {
    const nsDocs = Array.from({ length: namespaceCount(this.services) }, (_, k) => `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: bench-${k}\n`);
    writeFileSync(path.join(dir, 'namespaces.yaml'), nsDocs.join('---\n'));
    for (let i = 0; i < this.services; i++) {
      writeFileSync(path.join(dir, `${this.name(i)}.yaml`), this.serviceFile(i));
      writeFileSync(path.join(dir, `vs-${this.name(i)}.yaml`), this.virtualService(i, 90, 10));
    }
  }
}
