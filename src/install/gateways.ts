// The ingress and egress gateways of istioctl's default profile (Istio's gateways/istio-ingress and
// gateways/istio-egress charts, non-injected variant): Deployment `istio-ingressgateway` running Istio's
// proxyv2 as `pilot-agent proxy router`, Service (LoadBalancer 15021/80/443 for ingress, ClusterIP 80/443
// for egress), ServiceAccount `NAME-service-account`, Role + RoleBinding `NAME-sds` (Secrets: the gateway's
// own SDS reads, as Istio grants), HPA when autoscaling, PDB only when more than one replica is kept
// (Istio's workaround for kubernetes#93476). Built through `Refs` like objects.ts, so `meshd install`, the
// kustomize base and the chart hold the same objects.
//
// Gateways are not per revision (istioctl: "gateways are upgraded in place"): the names stay, and a
// revisioned install points them at its own control plane — istio.io/rev, CA_ADDR and discoveryAddress
// `istiod-REV.NS.svc:15012`, mesh config from ConfigMap `istio-REV`. Values: `gateways.ingress.*` and
// `gateways.egress.*` (values.ts; istioctl's `components.ingressGateways[0].enabled`,
// `values.gateways.istio-ingressgateway.X` map onto them).

import { PART_OF_LABEL } from './labels.js';
import { ISTIOD, MESH_CONFIGMAP } from './names.js';
import type { KObject, Refs } from './objects.js';

export type GatewayKind = 'ingress' | 'egress';

interface GatewayPort {
  readonly name: string;
  readonly port: number;
  readonly targetPort: number;
  readonly protocol: 'TCP';
}

interface GatewaySpec {
  readonly name: string;
  /** the chart's `labels` (selector of Deployment, Service, PDB) */
  readonly labels: Readonly<Record<string, string>>;
  /** operator.istio.io/component */
  readonly component: string;
  readonly ports: readonly GatewayPort[];
  /** Istio's legacy file-mounted certificate Secrets (optional volumes) */
  readonly secretVolumes: readonly { name: string; secretName: string; mountPath: string }[];
}

export const GATEWAYS: Readonly<Record<GatewayKind, GatewaySpec>> = {
  ingress: {
    name: 'istio-ingressgateway',
    labels: { app: 'istio-ingressgateway', istio: 'ingressgateway' },
    component: 'IngressGateways',
    ports: [
      { name: 'status-port', port: 15021, targetPort: 15021, protocol: 'TCP' },
      { name: 'http2', port: 80, targetPort: 8080, protocol: 'TCP' },
      { name: 'https', port: 443, targetPort: 8443, protocol: 'TCP' },
    ],
    secretVolumes: [
      { name: 'ingressgateway-certs', secretName: 'istio-ingressgateway-certs', mountPath: '/etc/istio/ingressgateway-certs' },
      { name: 'ingressgateway-ca-certs', secretName: 'istio-ingressgateway-ca-certs', mountPath: '/etc/istio/ingressgateway-ca-certs' },
    ],
  },
  egress: {
    name: 'istio-egressgateway',
    labels: { app: 'istio-egressgateway', istio: 'egressgateway' },
    component: 'EgressGateways',
    ports: [
      { name: 'http2', port: 80, targetPort: 8080, protocol: 'TCP' },
      { name: 'https', port: 443, targetPort: 8443, protocol: 'TCP' },
    ],
    secretVolumes: [
      { name: 'egressgateway-certs', secretName: 'istio-egressgateway-certs', mountPath: '/etc/istio/egressgateway-certs' },
      { name: 'egressgateway-ca-certs', secretName: 'istio-egressgateway-ca-certs', mountPath: '/etc/istio/egressgateway-ca-certs' },
    ],
  },
};

export const gatewayServiceAccount = (kind: GatewayKind) => `${GATEWAYS[kind].name}-service-account`;
const sdsRole = (kind: GatewayKind) => `${GATEWAYS[kind].name}-sds`;
const valuePath = (kind: GatewayKind, key: string) => `gateways.${kind}.${key}`;
/** the port pilot-agent serves /healthz/ready and merged Prometheus stats on */
const STATUS_PORT = 15021;

function metadataLabels(r: Refs, kind: GatewayKind, withSelector = true): Record<string, string> {
  const g = GATEWAYS[kind];
  return {
    ...(withSelector ? g.labels : {}),
    'istio.io/rev': r.orLiteral('revision', 'default'),
    'operator.istio.io/component': g.component,
    'app.kubernetes.io/name': g.name,
    ...PART_OF_LABEL,
  };
}

/** istiod-REV.NS.svc:15012: the revision's CA and xDS address (the chart's CA_ADDR). */
const istiodAddress = (r: Refs) => `${r.revisioned(ISTIOD)}.${r.namespace}.svc:15012`;

export function gatewayServiceAccountObject(r: Refs, kind: GatewayKind): KObject {
  return { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: gatewayServiceAccount(kind), namespace: r.namespace, labels: metadataLabels(r, kind) } };
}

export function gatewayRole(r: Refs, kind: GatewayKind): KObject {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: { name: sdsRole(kind), namespace: r.namespace, labels: metadataLabels(r, kind, false) },
    rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['get', 'watch', 'list'] }],
  };
}

export function gatewayRoleBinding(r: Refs, kind: GatewayKind): KObject {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name: sdsRole(kind), namespace: r.namespace, labels: metadataLabels(r, kind, false) },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: sdsRole(kind) },
    subjects: [{ kind: 'ServiceAccount', name: gatewayServiceAccount(kind), namespace: r.namespace }],
  };
}

export function gatewayService(r: Refs, kind: GatewayKind): KObject {
  const g = GATEWAYS[kind];
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: g.name, namespace: r.namespace, labels: metadataLabels(r, kind) },
    spec: {
      type: r.value(valuePath(kind, 'type')),
      selector: { ...g.labels },
      ports: g.ports.map((p) => ({ name: p.name, port: p.port, protocol: p.protocol, targetPort: p.targetPort })),
    },
  };
}

const fieldRef = (fieldPath: string) => ({ valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath } } });

export function gatewayDeployment(r: Refs, kind: GatewayKind): KObject {
  const g = GATEWAYS[kind];
  const podLabels = {
    ...g.labels,
    'service.istio.io/canonical-name': g.name,
    'service.istio.io/canonical-revision': r.orLiteral('revision', 'latest'),
    'istio.io/rev': r.orLiteral('revision', 'default'),
    'operator.istio.io/component': g.component,
    // the gateway IS the proxy: the injector must leave it alone
    'sidecar.istio.io/inject': 'false',
    'app.kubernetes.io/name': g.name,
    // not enrolled in the ambient data plane (Istio hardcodes this for these gateways)
    'istio.io/dataplane-mode': 'none',
  };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: g.name, namespace: r.namespace, labels: { ...metadataLabels(r, kind), 'istio.io/dataplane-mode': 'none' } },
    spec: {
      replicas: r.unless(valuePath(kind, 'autoscaleEnabled'), r.value(valuePath(kind, 'replicaCount'))),
      selector: { matchLabels: { ...g.labels } },
      strategy: { rollingUpdate: { maxSurge: '100%', maxUnavailable: '25%' } },
      template: {
        metadata: {
          labels: podLabels,
          annotations: {
            'istio.io/rev': r.orLiteral('revision', 'default'),
            'prometheus.io/port': '15020',
            'prometheus.io/scrape': 'true',
            'prometheus.io/path': '/stats/prometheus',
            'sidecar.istio.io/inject': 'false',
          },
        },
        spec: {
          securityContext: { runAsUser: 1337, runAsGroup: 1337, runAsNonRoot: true },
          serviceAccountName: gatewayServiceAccount(kind),
          containers: [
            {
              name: 'istio-proxy',
              image: `${r.value('global.hub')}/proxyv2:${r.value('global.tag')}`,
              ports: [
                ...g.ports.map((p) => ({ containerPort: p.targetPort, protocol: p.protocol })),
                { containerPort: 15090, protocol: 'TCP', name: 'http-envoy-prom' },
              ],
              args: ['proxy', 'router', '--domain', '$(POD_NAMESPACE).svc.cluster.local', '--proxyLogLevel=warning', '--proxyComponentLogLevel=misc:error', '--log_output_level=default:info'],
              securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, privileged: false, readOnlyRootFilesystem: true },
              readinessProbe: {
                failureThreshold: 30,
                httpGet: { path: '/healthz/ready', port: STATUS_PORT, scheme: 'HTTP' },
                initialDelaySeconds: 1,
                periodSeconds: 2,
                successThreshold: 1,
                timeoutSeconds: 1,
              },
              resources: r.block(valuePath(kind, 'resources')),
              env: [
                { name: 'PILOT_CERT_PROVIDER', value: 'istiod' },
                { name: 'CA_ADDR', value: istiodAddress(r) },
                // meshd's mesh config carries no defaultConfig.discoveryAddress: name the revision's istiod here
                { name: 'PROXY_CONFIG', value: `{"discoveryAddress":"${istiodAddress(r)}"}` },
                { name: 'NODE_NAME', ...fieldRef('spec.nodeName') },
                { name: 'POD_NAME', ...fieldRef('metadata.name') },
                { name: 'POD_NAMESPACE', ...fieldRef('metadata.namespace') },
                { name: 'INSTANCE_IP', ...fieldRef('status.podIP') },
                { name: 'HOST_IP', ...fieldRef('status.hostIP') },
                { name: 'ISTIO_CPU_LIMIT', valueFrom: { resourceFieldRef: { resource: 'limits.cpu', divisor: '1' } } },
                { name: 'SERVICE_ACCOUNT', ...fieldRef('spec.serviceAccountName') },
                { name: 'ISTIO_META_WORKLOAD_NAME', value: g.name },
                { name: 'ISTIO_META_OWNER', value: `kubernetes://apis/apps/v1/namespaces/${r.namespace}/deployments/${g.name}` },
                { name: 'ISTIO_META_UNPRIVILEGED_POD', value: 'true' },
                { name: 'ISTIO_META_CLUSTER_ID', value: 'Kubernetes' },
                { name: 'ISTIO_META_NODE_NAME', ...fieldRef('spec.nodeName') },
              ],
              volumeMounts: [
                { name: 'workload-socket', mountPath: '/var/run/secrets/workload-spiffe-uds' },
                { name: 'credential-socket', mountPath: '/var/run/secrets/credential-uds' },
                { name: 'workload-certs', mountPath: '/var/run/secrets/workload-spiffe-credentials' },
                { name: 'istio-envoy', mountPath: '/etc/istio/proxy' },
                { name: 'config-volume', mountPath: '/etc/istio/config' },
                { name: 'istiod-ca-cert', mountPath: '/var/run/secrets/istio' },
                { name: 'istio-token', mountPath: '/var/run/secrets/tokens', readOnly: true },
                { name: 'istio-data', mountPath: '/var/lib/istio/data' },
                { name: 'podinfo', mountPath: '/etc/istio/pod' },
                ...g.secretVolumes.map((v) => ({ name: v.name, mountPath: v.mountPath, readOnly: true })),
              ],
            },
          ],
          volumes: [
            { name: 'workload-socket', emptyDir: {} },
            { name: 'credential-socket', emptyDir: {} },
            { name: 'workload-certs', emptyDir: {} },
            { name: 'istiod-ca-cert', configMap: { name: 'istio-ca-root-cert' } },
            {
              name: 'podinfo',
              downwardAPI: { items: [{ path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } }, { path: 'annotations', fieldRef: { fieldPath: 'metadata.annotations' } }] },
            },
            { name: 'istio-envoy', emptyDir: {} },
            { name: 'istio-data', emptyDir: {} },
            { name: 'istio-token', projected: { sources: [{ serviceAccountToken: { path: 'istio-token', expirationSeconds: 43200, audience: 'istio-ca' } }] } },
            { name: 'config-volume', configMap: { name: r.revisioned(MESH_CONFIGMAP), optional: true } },
            ...g.secretVolumes.map((v) => ({ name: v.name, secret: { secretName: v.secretName, optional: true } })),
          ],
        },
      },
    },
  };
}

export function gatewayHorizontalPodAutoscaler(r: Refs, kind: GatewayKind): KObject {
  const g = GATEWAYS[kind];
  return {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: { name: g.name, namespace: r.namespace, labels: metadataLabels(r, kind) },
    spec: {
      maxReplicas: r.value(valuePath(kind, 'autoscaleMax')),
      minReplicas: r.value(valuePath(kind, 'autoscaleMin')),
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: g.name },
      metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: r.value(valuePath(kind, 'cpu.targetAverageUtilization')) } } }],
    },
  };
}

export function gatewayPodDisruptionBudget(r: Refs, kind: GatewayKind): KObject {
  const g = GATEWAYS[kind];
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: { name: g.name, namespace: r.namespace, labels: metadataLabels(r, kind) },
    spec: { minAvailable: 1, selector: { matchLabels: { ...g.labels } } },
  };
}
