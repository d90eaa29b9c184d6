// The Kubernetes objects of a meshd installation, written once. Each builder reads values through `Refs`:
// with concrete values (`concreteRefs`) it returns the objects `meshd install` applies and the kustomize
// base holds; with `templateRefs` the same builders return objects whose value-dependent leaves are tokens
// that src/install/chart.ts turns into Helm template actions. One source, two renderings — the test renders
// the chart's templates back with the default values and compares them with `kubectl kustomize`.

import { clusterRoleRules, roleRules } from '../sources/kube/rbac.js';
import {
  gatewayDeployment,
  gatewayHorizontalPodAutoscaler,
  gatewayPodDisruptionBudget,
  gatewayRole,
  gatewayRoleBinding,
  GATEWAYS,
  gatewayService,
  gatewayServiceAccountObject,
  type GatewayKind,
} from './gateways.js';
import { PART_OF_LABEL } from './labels.js';
import { CLUSTER_ROLE, INJECTOR_WEBHOOK, ISTIOD, MESH_CONFIGMAP, SERVICE_ACCOUNT, VALIDATOR_WEBHOOK } from './names.js';
import type { Values } from './values.js';

export type KObject = Record<string, unknown> & { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> } };

/** How builders read values. Paths are the chart's value paths (`global.hub`, `cpu.targetAverageUtilization`). */
export interface Refs {
  /** a scalar value, inline */
  value(path: string): any; // eslint-disable-line @typescript-eslint/no-explicit-any -- a number, string or token
  /** `path`, or `fallbackPath` when empty (Helm `| default .Values.fallback`) */
  orValue(path: string, fallbackPath: string): string;
  /** `path`, or a literal when empty (Helm `| default "literal"`) */
  orLiteral(path: string, literal: string): string;
  /** a structured value, written as a YAML block */
  block(path: string): unknown;
  /** a structured value, written as a YAML document inside a string (ConfigMap data) */
  yamlString(path: string): string;
  /** the field only when the boolean value at `path` is false; `undefined` omits it */
  unless<T>(path: string, field: T): T | undefined;
  /** the installation namespace (Helm: the release namespace) */
  readonly namespace: string;
  /** `name`, or `name-REVISION` for a revisioned control plane (istio-discovery's naming) */
  revisioned(name: string): string;
  /** a list item only the default revision has (the injector's istio-injection=enabled hooks); undefined drops it */
  defaultRevisionOnly<T extends object>(item: T): T | undefined;
}

function lookup(values: unknown, path: string): unknown {
  let node = values;
  for (const part of path.split('.')) {
    if (node === null || typeof node !== 'object') throw new Error(`value ${path}: no such key`);
    node = (node as Record<string, unknown>)[part];
  }
  if (node === undefined) throw new Error(`value ${path}: no such key`);
  return node;
}

export function concreteRefs(values: Values, yamlOf: (v: unknown) => string): Refs {
  return {
    value: (path) => lookup(values, path),
    orValue: (path, fallback) => String(lookup(values, path) || lookup(values, fallback)),
    orLiteral: (path, literal) => String(lookup(values, path) || literal),
    block: (path) => structuredClone(lookup(values, path)),
    yamlString: (path) => yamlOf(lookup(values, path)),
    unless: (path, field) => (lookup(values, path) ? undefined : field),
    namespace: values.global.istioNamespace,
    revisioned: (name) => (values.revision ? `${name}-${values.revision}` : name),
    defaultRevisionOnly: (item) => (values.revision ? undefined : item),
  };
}

/** Tokens understood by src/install/chart.ts (`«kind:args»`). `values` only checks that every path exists. */
export function templateRefs(values: Values): Refs {
  const check = (path: string) => {
    lookup(values, path);
    return path;
  };
  return {
    value: (path) => `«v:${check(path)}»`,
    orValue: (path, fallback) => `«or:${check(path)}:${check(fallback)}»`,
    orLiteral: (path, literal) => `«ol:${check(path)}:${literal}»`,
    block: (path) => `«y:${check(path)}»`,
    yamlString: (path) => `«ys:${check(path)}»`,
    unless: (path, field) => `«unless:${check(path)}»${String(field)}` as never,
    namespace: '«ns»',
    revisioned: (name) => `${name}«rv:${check('revision')}»`,
    defaultRevisionOnly: (item) => ({ [`«ifnot:${check('revision')}»`]: true, ...item }),
  };
}

// ---------------------------------------------------------------------------------------------------------
// names shared with the webhook server, the CA and the sidecar injector

export { CLUSTER_ROLE, INJECTOR_WEBHOOK, ISTIOD, MESH_CONFIGMAP, SERVICE_ACCOUNT };
export const SERVICE_PORTS = [
  { name: 'grpc-xds', port: 15010, targetPort: 15010, protocol: 'TCP' },
  { name: 'https-dns', port: 15012, targetPort: 15012, protocol: 'TCP' },
  { name: 'https-webhook', port: 443, targetPort: 15017, protocol: 'TCP' },
  { name: 'http-monitoring', port: 15014, targetPort: 15014, protocol: 'TCP' },
] as const;
const READY_PORT = 8080;
const MESH_CONFIG_DIR = '/etc/istio/config';
const CA_DIR = '/var/run/meshd/ca';
/** Istio's proxy uid/gid; any non-root id works for meshd itself */
const RUN_AS = 1337;

function labels(r: Refs, extra: Record<string, string> = {}): Record<string, string> {
  return { app: ISTIOD, istio: 'pilot', 'istio.io/rev': r.orLiteral('revision', 'default'), ...PART_OF_LABEL, ...extra };
}
/** one revision's pods only: revisions run side by side in one namespace (Istio's canary upgrade) */
const selector = (r: Refs) => ({ app: ISTIOD, istio: 'pilot', 'istio.io/rev': r.orLiteral('revision', 'default') });

export function namespaceObject(r: Refs): KObject {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name: r.namespace, labels: { ...PART_OF_LABEL } } };
}

export function serviceAccount(r: Refs): KObject {
  return { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: r.revisioned(SERVICE_ACCOUNT), namespace: r.namespace, labels: labels(r) } };
}

/** The ClusterRole of src/sources/kube/rbac.ts (manifests/rbac/clusterrole.yaml is the same, written out). */
export function clusterRole(r: Refs): KObject {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: { name: r.revisioned(CLUSTER_ROLE), labels: { app: 'meshd', ...PART_OF_LABEL } },
    rules: clusterRoleRules().map((rule) => ({ apiGroups: rule.apiGroups, resources: rule.resources, verbs: rule.verbs })),
  };
}

export function clusterRoleBinding(r: Refs): KObject {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: r.revisioned(CLUSTER_ROLE), labels: { app: 'meshd', ...PART_OF_LABEL } },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: r.revisioned(CLUSTER_ROLE) },
    subjects: [{ kind: 'ServiceAccount', name: r.revisioned(SERVICE_ACCOUNT), namespace: r.namespace }],
  };
}

/** The Role of src/sources/kube/rbac.ts in meshd's namespace (the CA's Secrets; manifests/rbac/role.yaml). */
export function role(r: Refs): KObject {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: { name: r.revisioned(CLUSTER_ROLE), namespace: r.namespace, labels: { app: 'meshd', ...PART_OF_LABEL } },
    rules: roleRules().map((rule) => ({ apiGroups: rule.apiGroups, resources: rule.resources, verbs: rule.verbs })),
  };
}

export function roleBinding(r: Refs): KObject {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name: r.revisioned(CLUSTER_ROLE), namespace: r.namespace, labels: { app: 'meshd', ...PART_OF_LABEL } },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: r.revisioned(CLUSTER_ROLE) },
    subjects: [{ kind: 'ServiceAccount', name: r.revisioned(SERVICE_ACCOUNT), namespace: r.namespace }],
  };
}

export function meshConfigMap(r: Refs): KObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: r.revisioned(MESH_CONFIGMAP), namespace: r.namespace, labels: labels(r) },
    data: { mesh: r.yamlString('meshConfig'), meshNetworks: 'networks: {}' },
  };
}

const meshdImage = (r: Refs) => `${r.orValue('hub', 'global.hub')}/${r.value('image')}:${r.orValue('tag', 'global.tag')}`;

export function deployment(r: Refs): KObject {
  const containerSecurity = {
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    runAsNonRoot: true,
    runAsUser: RUN_AS,
    runAsGroup: RUN_AS,
    capabilities: { drop: ['ALL'] },
  };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: r.revisioned(ISTIOD), namespace: r.namespace, labels: labels(r) },
    spec: {
      replicas: r.unless('autoscaleEnabled', r.value('replicaCount')),
      strategy: { rollingUpdate: { maxSurge: '100%', maxUnavailable: '25%' } },
      selector: { matchLabels: selector(r) },
      template: {
        metadata: { labels: labels(r, { 'sidecar.istio.io/inject': 'false' }), annotations: { 'prometheus.io/port': '15014', 'prometheus.io/scrape': 'true' } },
        spec: {
          serviceAccountName: r.revisioned(SERVICE_ACCOUNT),
          securityContext: { runAsNonRoot: true, runAsUser: RUN_AS, runAsGroup: RUN_AS, fsGroup: RUN_AS, seccompProfile: { type: 'RuntimeDefault' } },
          nodeSelector: r.block('nodeSelector'),
          containers: [
            {
              name: 'discovery',
              image: meshdImage(r),
              imagePullPolicy: r.value('imagePullPolicy'),
              args: [
                'serve',
                `--mesh-config=${MESH_CONFIG_DIR}/mesh`,
                `--ca-dir=${CA_DIR}`,
                '--log-level=info',
                // the injector's images: Istio's proxyv2 from global.hub/tag, and meshd itself for grpc-agent pods
                `--proxy-hub=${r.value('global.hub')}`,
                `--proxy-tag=${r.value('global.tag')}`,
                `--agent-image=${meshdImage(r)}`,
                `--revision=${r.orLiteral('revision', 'default')}`,
                // the name the webhooks and proxies reach this revision by (istiod-REVISION.NS.svc)
                `--ca-dns-names=${r.revisioned(ISTIOD)}.${r.namespace}.svc`,
              ],
              env: [
                { name: 'POD_NAME', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } } },
                { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } } },
                { name: 'REVISION', value: r.orLiteral('revision', 'default') },
                { name: 'CLUSTER_ID', value: 'Kubernetes' },
              ],
              ports: [
                { name: 'http-ready', containerPort: READY_PORT, protocol: 'TCP' },
                { name: 'grpc-xds', containerPort: 15010, protocol: 'TCP' },
                { name: 'https-dns', containerPort: 15012, protocol: 'TCP' },
                { name: 'http-monitoring', containerPort: 15014, protocol: 'TCP' },
                { name: 'https-webhooks', containerPort: 15017, protocol: 'TCP' },
              ],
              // /ready turns 200 once the first complete snapshot (every informer synced) is built
              readinessProbe: { httpGet: { path: '/ready', port: READY_PORT }, initialDelaySeconds: 1, periodSeconds: 3, timeoutSeconds: 5 },
              resources: r.block('resources'),
              securityContext: containerSecurity,
              volumeMounts: [
                { name: 'config-volume', mountPath: MESH_CONFIG_DIR, readOnly: true },
                { name: 'ca-dir', mountPath: CA_DIR },
                // the root filesystem is read-only: Node and the CA's temp files write here
                { name: 'tmp', mountPath: '/tmp' },
              ],
            },
          ],
          volumes: [
            { name: 'config-volume', configMap: { name: r.revisioned(MESH_CONFIGMAP) } },
            { name: 'ca-dir', emptyDir: {} },
            { name: 'tmp', emptyDir: {} },
          ],
        },
      },
    },
  };
}

export function service(r: Refs): KObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: r.revisioned(ISTIOD), namespace: r.namespace, labels: labels(r) },
    spec: { selector: selector(r), ports: SERVICE_PORTS.map((p) => ({ ...p })) },
  };
}

const podRule = [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }];
const notOptedOut = { key: 'sidecar.istio.io/inject', operator: 'NotIn', values: ['false'] };

/**
 * The injection webhooks a pod reaches by the labels of its namespace or its own (matchExpressions in the
 * API server's sense): a pod goes to the control plane of the revision it names in `istio.io/rev` (a
 * revision or a revision tag); `istio-injection=enabled` and `sidecar.istio.io/inject=true` without a
 * revision go to the default revision only, so revisions side by side never both inject one pod.
 */
export function injectionWebhooks(rev: string, service: { name: string; namespace: string }, defaultHooks: <T extends object>(item: T) => T | undefined) {
  const hook = (name: string, namespaceSelector: unknown, objectSelector: unknown) => ({
    name,
    clientConfig: { service: { name: service.name, namespace: service.namespace, path: '/inject', port: 443 } },
    sideEffects: 'None',
    rules: podRule,
    failurePolicy: 'Fail',
    reinvocationPolicy: 'Never',
    admissionReviewVersions: ['v1'],
    namespaceSelector,
    objectSelector,
  });
  return [
      hook(
        'rev.namespace.sidecar-injector.istio.io',
        { matchExpressions: [{ key: 'istio.io/rev', operator: 'In', values: [rev] }, { key: 'istio-injection', operator: 'DoesNotExist' }] },
        { matchExpressions: [notOptedOut] },
      ),
      hook(
        'rev.object.sidecar-injector.istio.io',
        { matchExpressions: [{ key: 'istio.io/rev', operator: 'DoesNotExist' }, { key: 'istio-injection', operator: 'DoesNotExist' }] },
        { matchExpressions: [notOptedOut, { key: 'istio.io/rev', operator: 'In', values: [rev] }] },
      ),
      defaultHooks(
        hook(
          'namespace.sidecar-injector.istio.io',
          { matchExpressions: [{ key: 'istio-injection', operator: 'In', values: ['enabled'] }] },
          { matchExpressions: [notOptedOut] },
        ),
      ),
      defaultHooks(
        hook(
          'object.sidecar-injector.istio.io',
          { matchExpressions: [{ key: 'istio-injection', operator: 'DoesNotExist' }, { key: 'istio.io/rev', operator: 'DoesNotExist' }] },
          { matchExpressions: [{ key: 'sidecar.istio.io/inject', operator: 'In', values: ['true'] }, { key: 'istio.io/rev', operator: 'DoesNotExist' }] },
        ),
      ),
  ].filter((h) => h !== undefined);
}

/** The revision's injector: Istio's four injection webhooks for the default revision, the two revision ones for another. */
export function mutatingWebhook(r: Refs): KObject {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: r.revisioned(INJECTOR_WEBHOOK), labels: labels(r) },
    webhooks: injectionWebhooks(r.orLiteral('revision', 'default'), { name: r.revisioned(ISTIOD), namespace: r.namespace }, r.defaultRevisionOnly),
  };
}

/**
 * Validation of every Istio networking/security object. failurePolicy Ignore until meshd has written the
 * caBundle (as istiod starts its webhook), so a fresh cluster is never locked out of its own config.
 */
export function validatingWebhook(r: Refs): KObject {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    metadata: { name: `${r.revisioned(VALIDATOR_WEBHOOK)}-${r.namespace}`, labels: labels(r) },
    webhooks: [
      {
        name: 'rev.validation.istio.io',
        clientConfig: { service: { name: r.revisioned(ISTIOD), namespace: r.namespace, path: '/validate', port: 443 } },
        rules: [{ operations: ['CREATE', 'UPDATE'], apiGroups: ['networking.istio.io', 'security.istio.io'], apiVersions: ['*'], resources: ['*'] }],
        failurePolicy: 'Ignore',
        sideEffects: 'None',
        admissionReviewVersions: ['v1'],
      },
    ],
  };
}

export function podDisruptionBudget(r: Refs): KObject {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: { name: r.revisioned(ISTIOD), namespace: r.namespace, labels: labels(r) },
    spec: { minAvailable: 1, unhealthyPodEvictionPolicy: 'AlwaysAllow', selector: { matchLabels: selector(r) } },
  };
}

export function horizontalPodAutoscaler(r: Refs): KObject {
  return {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: { name: r.revisioned(ISTIOD), namespace: r.namespace, labels: labels(r) },
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: r.revisioned(ISTIOD) },
      minReplicas: r.value('autoscaleMin'),
      maxReplicas: r.value('autoscaleMax'),
      metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: r.value('cpu.targetAverageUtilization') } } }],
    },
  };
}

/**
 * When a manifest file is part of the installation: a value path (Helm truthiness: false, 0, "", empty are
 * false), or a combination of them. The chart wraps the file in `{{- if EXPR }}` (conditionTemplate);
 * install and the kustomize base evaluate it directly (conditionHolds).
 */
export type Condition =
  | string
  | { readonly all: readonly Condition[] }
  | { readonly any: readonly Condition[] }
  | { readonly not: Condition }
  | { readonly greaterThan: readonly [path: string, than: number] };

function truthy(v: unknown): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v).length > 0;
  return true;
}

export function conditionHolds(values: unknown, c: Condition): boolean {
  if (typeof c === 'string') return truthy(lookup(values, c));
  if ('all' in c) return c.all.every((x) => conditionHolds(values, x));
  if ('any' in c) return c.any.some((x) => conditionHolds(values, x));
  if ('not' in c) return !conditionHolds(values, c.not);
  return Math.trunc(Number(lookup(values, c.greaterThan[0]))) > c.greaterThan[1];
}

/** The Helm expression of a condition: `.Values.a`, `and (…) (…)`, `or`, `not`, `gt (int .Values.a) N`. */
export function conditionTemplate(c: Condition): string {
  const arg = (x: Condition) => (typeof x === 'string' ? conditionTemplate(x) : `(${conditionTemplate(x)})`);
  if (typeof c === 'string') return `.Values.${c}`;
  if ('all' in c) return `and ${c.all.map(arg).join(' ')}`;
  if ('any' in c) return `or ${c.any.map(arg).join(' ')}`;
  if ('not' in c) return `not ${arg(c.not)}`;
  return `gt (int .Values.${c.greaterThan[0]}) ${c.greaterThan[1]}`;
}

/**
 * One manifest file of the installation: its objects, and the condition that switches it on.
 */
export interface ManifestFile {
  /** path under manifests/ (kustomize) and under the chart's templates/ */
  readonly file: string;
  readonly build: (r: Refs) => KObject[];
  readonly when?: Condition;
  /** kustomize only: Helm creates the release namespace (`--create-namespace`) */
  readonly kustomizeOnly?: boolean;
  /** kustomize: the file is another module's rendering of the same rules (RBAC), not written by render.ts */
  readonly writtenBy?: string;
}

export const MANIFEST_FILES: readonly ManifestFile[] = [
  { file: 'namespace.yaml', build: (r) => [namespaceObject(r)], kustomizeOnly: true },
  { file: 'serviceaccount.yaml', build: (r) => [serviceAccount(r)] },
  { file: 'rbac/clusterrole.yaml', build: (r) => [clusterRole(r)], writtenBy: 'src/sources/kube/rbac.ts' },
  { file: 'rbac/clusterrolebinding.yaml', build: (r) => [clusterRoleBinding(r)] },
  { file: 'rbac/role.yaml', build: (r) => [role(r)], writtenBy: 'src/sources/kube/rbac.ts' },
  { file: 'rbac/rolebinding.yaml', build: (r) => [roleBinding(r)] },
  { file: 'configmap.yaml', build: (r) => [meshConfigMap(r)] },
  { file: 'deployment.yaml', build: (r) => [deployment(r)] },
  { file: 'service.yaml', build: (r) => [service(r)] },
  { file: 'mutatingwebhook.yaml', build: (r) => [mutatingWebhook(r)] },
  { file: 'validatingwebhook.yaml', build: (r) => [validatingWebhook(r)] },
  { file: 'poddisruptionbudget.yaml', build: (r) => [podDisruptionBudget(r)], when: 'global.defaultPodDisruptionBudget.enabled' },
  { file: 'autoscale.yaml', build: (r) => [horizontalPodAutoscaler(r)], when: 'autoscaleEnabled' },
  ...gatewayFiles('ingress'),
  ...gatewayFiles('egress'),
];

/** A gateway's files (gateways.ts), under its name; all switched by `gateways.KIND.enabled`. */
function gatewayFiles(kind: GatewayKind): ManifestFile[] {
  const dir = GATEWAYS[kind].name;
  const v = (key: string) => `gateways.${kind}.${key}`;
  const enabled = v('enabled');
  return [
    { file: `${dir}/serviceaccount.yaml`, build: (r) => [gatewayServiceAccountObject(r, kind)], when: enabled },
    { file: `${dir}/role.yaml`, build: (r) => [gatewayRole(r, kind)], when: enabled },
    { file: `${dir}/rolebinding.yaml`, build: (r) => [gatewayRoleBinding(r, kind)], when: enabled },
    { file: `${dir}/service.yaml`, build: (r) => [gatewayService(r, kind)], when: enabled },
    { file: `${dir}/deployment.yaml`, build: (r) => [gatewayDeployment(r, kind)], when: enabled },
    { file: `${dir}/autoscale.yaml`, build: (r) => [gatewayHorizontalPodAutoscaler(r, kind)], when: { all: [enabled, v('autoscaleEnabled')] } },
    {
      // Istio's chart: a PDB only when more than one replica is kept (kubernetes#93476: minAvailable 1 of 1 blocks node drains)
      file: `${dir}/poddisruptionbudget.yaml`,
      build: (r) => [gatewayPodDisruptionBudget(r, kind)],
      when: {
        all: [
          enabled,
          'global.defaultPodDisruptionBudget.enabled',
          { any: [{ all: [v('autoscaleEnabled'), { greaterThan: [v('autoscaleMin'), 1] }] }, { all: [{ not: v('autoscaleEnabled') }, { greaterThan: [v('replicaCount'), 1] }] }] },
        ],
      },
    },
  ];
}

/** The objects `meshd install` applies for these values (CRDs not included), in apply order. */
export function installObjects(values: Values, yamlOf: (v: unknown) => string): KObject[] {
  const r = concreteRefs(values, yamlOf);
  return MANIFEST_FILES.filter((f) => !f.when || conditionHolds(values, f.when)).flatMap((f) => f.build(r)).map(dropUndefined);
}

/** Removes keys whose value is undefined (fields a builder left out), recursively. */
export function dropUndefined<T>(value: T): T {
  if (Array.isArray(value)) return value.map(dropUndefined) as T;
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined).map(([k, v]) => [k, dropUndefined(v)])) as T;
  }
  return value;
}
