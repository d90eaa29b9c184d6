import { A, jsonMapAnnotation, proxyConfigOverride, trafficSettings, truthy, InjectionError, type TrafficSettings } from './annotations.js';
import type { InjectionConfig, ProxyResources } from './config.js';
import { rewriteProbes, shouldRewriteProbes, type Container } from './probes.js';

// Istio's injection templates as data builders: `sidecar` (istio-init + istio-proxy, Istio's proxyv2
// image talking to meshd at CA_ADDR), `gateway` (istio-proxy as a gateway: `proxy router`, no capture) and
// `grpc-agent` (proxyless gRPC: `meshd agent` writes the workload certificate and the xDS bootstrap the app
// reads through GRPC_XDS_BOOTSTRAP), `grpc-simple`. Field order, names, paths
// and values follow istio-discovery's injection-template.yaml / grpc-agent.yaml as the goldens in
// shared/istio-reference/testdata/inject show them.

type Json = Record<string, unknown>;

export interface WorkloadMeta {
  /** e.g. hello (a Deployment's name, not the pod's) */
  readonly name: string;
  /** `kubernetes://apis/apps/v1/namespaces/NS/deployments/NAME` */
  readonly owner: string;
}

export interface TemplateInput {
  readonly namespace: string;
  readonly labels: Record<string, string>;
  readonly annotations: Record<string, string>;
  readonly spec: Json;
  readonly workload: WorkloadMeta;
  readonly cfg: InjectionConfig;
}

export interface TemplateOutput {
  initContainers: Json[];
  containers: Json[];
  /** app containers after the template touched them (probes, grpc env) */
  appContainers: Container[];
  /** the pod's own init containers after the template touched them (native sidecars' probes) */
  appInitContainers?: Container[];
  volumes: Json[];
  annotations: Record<string, string>;
  labels: Record<string, string>;
  /** whether istio-proxy runs as a native sidecar (restartable init container) */
  native: boolean;
  /** the template's containers go before the app's */
  proxyFirst: boolean;
  /** pod annotations the template consumed */
  removeAnnotations?: string[];
  /** containers the status annotation lists (default: the template's own) */
  statusContainers?: string[];
  /** grpc-simple adds no revision/default-container annotations and no canonical labels */
  bareMetadata?: boolean;
  /** the pod's securityContext as the template writes it (merged over the pod's own; gateway: sysctls) */
  podSecurityContext?: Json;
}

const fieldRef = (name: string, path: string) => ({ name, valueFrom: { fieldRef: { fieldPath: path } } });
const resourceRef = (name: string, resource: string) => ({ name, valueFrom: { resourceFieldRef: { divisor: '1', resource } } });

/** Kubernetes canonical form of the CPU quantities people write (`4000m` → `4`). */
export function canonicalQuantity(q: string): string {
  const m = /^(\d+)m$/.exec(q);
  if (m && Number(m[1]) % 1000 === 0) return String(Number(m[1]) / 1000);
  return q;
}

function proxyResources(annotations: Record<string, string>, defaults: ProxyResources): ProxyResources {
  const keys = [A.proxyCPU, A.proxyMemory, A.proxyCPULimit, A.proxyMemoryLimit];
  if (!keys.some((k) => annotations[k] !== undefined)) return defaults;
  const out: ProxyResources = {};
  const q = (k: string) => (annotations[k] !== undefined ? canonicalQuantity(annotations[k]!) : undefined);
  const requests = { ...(q(A.proxyCPU) ? { cpu: q(A.proxyCPU) } : {}), ...(q(A.proxyMemory) ? { memory: q(A.proxyMemory) } : {}) };
  const limits = { ...(q(A.proxyCPULimit) ? { cpu: q(A.proxyCPULimit) } : {}), ...(q(A.proxyMemoryLimit) ? { memory: q(A.proxyMemoryLimit) } : {}) };
  if (Object.keys(limits).length) out.limits = limits;
  if (Object.keys(requests).length) out.requests = requests;
  return out;
}

/** A ContainerPort as Go's json.Marshal writes it (struct field order, empty fields omitted). */
function goContainerPort(p: Json): string {
  const ordered: Json = {};
  for (const k of ['name', 'hostPort', 'containerPort', 'protocol', 'hostIP']) {
    const v = p[k];
    if (k === 'containerPort' || (v !== undefined && v !== '' && v !== 0)) ordered[k] = v;
  }
  return JSON.stringify(ordered);
}

/**
 * ISTIO_META_POD_PORTS: the app's ports, one JSON object per line, printed byte for byte as the chart's
 * template does (`structToJSON`, the separating comma at the start of the next line), so a pod injected by
 * meshd carries the same env as one injected by istiod.
 */
function podPorts(containers: readonly Container[]): string {
  const ports = containers.flatMap((c) => (Array.isArray(c.ports) ? (c.ports as Json[]) : []));
  if (ports.length === 0) return '[\n]';
  return `[\n${ports.map((p, i) => `    ${i > 0 ? ',' : ''}${goContainerPort(p)}`).join('\n')}\n]`;
}

/** An env var as the API server returns it: an empty value is omitted (Go's omitempty), not "". */
const envValue = (name: string, value: string) => (value === '' ? { name } : { name, value });

/** `service.istio.io/workload-name` on the pod names the workload in telemetry instead of its controller. */
const WORKLOAD_NAME_LABEL = 'service.istio.io/workload-name';

function proxyImage(input: TemplateInput): string {
  return input.annotations[A.proxyImage] ?? `${input.cfg.hub}/proxyv2:${input.cfg.tag}`;
}

function excludeInboundWithStatus(t: TrafficSettings): string {
  const excluded = ['15090', '15021', ...t.excludeInboundPorts.split(',').map((s) => s.trim()).filter(Boolean)];
  if (t.statusPort !== 0) excluded.push(String(t.statusPort));
  return excluded.join(',');
}

function istioInit(input: TemplateInput, t: TrafficSettings, resources: ProxyResources, proxyMetadataEnv: Json[]): Json {
  const args = ['istio-iptables', '-p', '15001', '-z', '15006', '-u', '1337', '-m', t.interceptionMode, '-i', t.includeIPRanges, '-x', t.excludeIPRanges, '-b', t.includeInboundPorts, '-d', excludeInboundWithStatus(t)];
  if (t.includeOutboundPorts !== undefined) args.push('-q', t.includeOutboundPorts);
  if (t.excludeOutboundPorts !== undefined) args.push('-o', t.excludeOutboundPorts);
  if (t.kubevirtInterfaces !== undefined) args.push('-k', t.kubevirtInterfaces);
  if (t.excludeInterfaces !== undefined) args.push('-c', t.excludeInterfaces);
  args.push(`--log_output_level=${input.annotations[A.agentLogLevel] ?? input.cfg.logLevel}`);
  return {
    args,
    ...(proxyMetadataEnv.length ? { env: proxyMetadataEnv } : {}),
    image: proxyImage(input),
    ...(input.cfg.imagePullPolicy ? { imagePullPolicy: input.cfg.imagePullPolicy } : {}),
    name: 'istio-init',
    resources,
    securityContext: {
      allowPrivilegeEscalation: false,
      capabilities: { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] },
      privileged: false,
      readOnlyRootFilesystem: false,
      runAsGroup: 0,
      runAsNonRoot: false,
      runAsUser: 0,
    },
  };
}

function readinessProbe(annotations: Record<string, string>, port: number): Json {
  const n = (k: string) => (annotations[k] !== undefined && /^\d+$/.test(annotations[k]!) ? Number(annotations[k]) : undefined);
  const initial = n(A.readinessInitialDelay);
  return {
    failureThreshold: n(A.readinessFailureThreshold) ?? 4,
    httpGet: { path: '/healthz/ready', port },
    ...(initial !== undefined ? { initialDelaySeconds: initial } : {}),
    periodSeconds: n(A.readinessPeriod) ?? 15,
    timeoutSeconds: 3,
  };
}

const CRL_VOLUME = 'istio-ca-crl';
const SIDECAR_VOLUME_MOUNTS = [
  { mountPath: '/var/run/secrets/workload-spiffe-uds', name: 'workload-socket' },
  { mountPath: '/var/run/secrets/credential-uds', name: 'credential-socket' },
  { mountPath: '/var/run/secrets/workload-spiffe-credentials', name: 'workload-certs' },
  { mountPath: '/var/run/secrets/istio', name: 'istiod-ca-cert' },
  { mountPath: '/var/run/secrets/istio/crl', name: 'istio-ca-crl' },
  { mountPath: '/var/lib/istio/data', name: 'istio-data' },
  { mountPath: '/etc/istio/proxy', name: 'istio-envoy' },
  { mountPath: '/var/run/secrets/tokens', name: 'istio-token' },
  { mountPath: '/etc/istio/pod', name: 'istio-podinfo' },
];

const podinfoVolume = {
  downwardAPI: {
    items: [
      { fieldRef: { fieldPath: 'metadata.labels' }, path: 'labels' },
      { fieldRef: { fieldPath: 'metadata.annotations' }, path: 'annotations' },
    ],
  },
  name: 'istio-podinfo',
};
const tokenVolume = { name: 'istio-token', projected: { sources: [{ serviceAccountToken: { audience: 'istio-ca', expirationSeconds: 43200, path: 'istio-token' } }] } };
const rootCertVolume = { configMap: { name: 'istio-ca-root-cert' }, name: 'istiod-ca-cert' };

function sidecarVolumes(): Json[] {
  return [
    { emptyDir: {}, name: 'workload-socket' },
    { emptyDir: {}, name: 'credential-socket' },
    { emptyDir: {}, name: 'workload-certs' },
    { emptyDir: { medium: 'Memory' }, name: 'istio-envoy' },
    { emptyDir: {}, name: 'istio-data' },
    podinfoVolume,
    tokenVolume,
    rootCertVolume,
    { configMap: { name: 'istio-ca-crl', optional: true }, name: 'istio-ca-crl' },
  ];
}

const SCRAPE_TARGETS = 'prometheus.istio.io/scrape-targets';

/**
 * Prometheus merge: Prometheus scrapes the agent's merged endpoint (15020/stats/prometheus); the app's
 * own settings (prometheus.io/scrape|path|port, and several `port:path` in prometheus.istio.io/scrape-targets)
 * go to the agent in ISTIO_PROMETHEUS_ANNOTATIONS, which scrapes the app and merges.
 */
function prometheusAnnotations(annotations: Record<string, string>, cfg: InjectionConfig): { annotations: Record<string, string>; appScrape?: string; remove: string[] } {
  const merge = truthy(annotations[A.enablePrometheusMerge]) ?? cfg.enablePrometheusMerge;
  // `prometheus.io.scrape` is a spelling Istio honours too
  if (!merge || annotations['prometheus.io/scrape'] === 'false' || annotations['prometheus.io.scrape'] === 'false') return { annotations: {}, remove: [] };
  const app: Record<string, unknown> = {};
  for (const k of ['scrape', 'path', 'port']) if (annotations[`prometheus.io/${k}`] !== undefined) app[k] = annotations[`prometheus.io/${k}`];
  const remove: string[] = [];
  if (annotations[SCRAPE_TARGETS] !== undefined) {
    const targets = annotations[SCRAPE_TARGETS]!.split(',').map((t) => t.trim()).filter(Boolean).map((t) => {
      const i = t.indexOf(':');
      const port = i < 0 ? t : t.slice(0, i);
      if (!/^\d+$/.test(port)) throw new InjectionError(`annotation ${SCRAPE_TARGETS}: ${JSON.stringify(t)} is not PORT[:PATH]`);
      return { port, path: i < 0 ? '/metrics' : t.slice(i + 1) || '/metrics' };
    });
    if (targets[0]) {
      app.path ??= targets[0].path;
      app.port ??= targets[0].port;
    }
    app.targets = targets;
    remove.push(SCRAPE_TARGETS);
  }
  const appScrape = Object.keys(app).length ? JSON.stringify(app) : undefined;
  return { annotations: { 'prometheus.io/path': '/stats/prometheus', 'prometheus.io/port': '15020', 'prometheus.io/scrape': 'true' }, ...(appScrape ? { appScrape } : {}), remove };
}

function commonProxyEnv(input: TemplateInput, appContainers: readonly Container[], proxyConfig: Json, interceptionMode: string): Json[] {
  const { cfg, workload } = input;
  return [
    { name: 'PILOT_CERT_PROVIDER', value: 'istiod' },
    { name: 'CA_ADDR', value: cfg.discoveryAddress },
    fieldRef('POD_NAME', 'metadata.name'),
    fieldRef('POD_NAMESPACE', 'metadata.namespace'),
    fieldRef('INSTANCE_IP', 'status.podIP'),
    fieldRef('SERVICE_ACCOUNT', 'spec.serviceAccountName'),
    fieldRef('HOST_IP', 'status.hostIP'),
    resourceRef('ISTIO_CPU_LIMIT', 'limits.cpu'),
    { name: 'PROXY_CONFIG', value: `${JSON.stringify(proxyConfig)}\n` },
    { name: 'ISTIO_META_POD_PORTS', value: podPorts(appContainers) },
    envValue('ISTIO_META_APP_CONTAINERS', appContainers.map((c) => c.name).join(',')),
    resourceRef('GOMEMLIMIT', 'limits.memory'),
    { name: 'ISTIO_META_CLUSTER_ID', value: cfg.clusterId },
    fieldRef('ISTIO_META_NODE_NAME', 'spec.nodeName'),
    { name: 'ISTIO_META_INTERCEPTION_MODE', value: interceptionMode },
    { name: 'ISTIO_META_WORKLOAD_NAME', value: input.labels[WORKLOAD_NAME_LABEL] ?? workload.name },
    { name: 'ISTIO_META_OWNER', value: workload.owner },
    { name: 'ISTIO_META_MESH_ID', value: cfg.meshId },
    { name: 'TRUST_DOMAIN', value: cfg.trustDomain },
  ];
}

function proxyMetadataEnv(proxyConfig: Json): Json[] {
  const md = proxyConfig.proxyMetadata;
  if (!md || typeof md !== 'object') return [];
  return Object.entries(md as Record<string, unknown>).map(([name, value]) => ({ name, value: String(value) }));
}

function nativeSidecar(annotations: Record<string, string>, cfg: InjectionConfig): boolean {
  return truthy(annotations[A.nativeSidecar]) ?? cfg.nativeSidecars;
}

export function sidecarTemplate(input: TemplateInput): TemplateOutput {
  const { annotations, cfg } = input;
  const proxyConfig = proxyConfigOverride(annotations);
  const traffic = trafficSettings(annotations, cfg, typeof proxyConfig.interceptionMode === 'string' ? proxyConfig.interceptionMode : undefined);
  const resources = proxyResources(annotations, cfg.proxyResources);
  const appContainers = structuredClone(((input.spec.containers as Container[] | undefined) ?? []).filter((c) => c.name !== 'istio-proxy'));
  const native = nativeSidecar(annotations, cfg);
  const metadataEnv = proxyMetadataEnv(proxyConfig);
  const env = [...commonProxyEnv(input, appContainers, proxyConfig, traffic.interceptionMode), ...metadataEnv];
  const prom = prometheusAnnotations(annotations, cfg);
  if (prom.appScrape) env.push({ name: 'ISTIO_PROMETHEUS_ANNOTATIONS', value: prom.appScrape });
  // the pod's own native sidecars (restartable init containers) are probed by the kubelet too
  const appInitContainers = structuredClone(((input.spec.initContainers as Container[] | undefined) ?? []).filter((c) => c.name !== 'istio-init' && c.name !== 'istio-proxy'));
  if (shouldRewriteProbes(annotations, cfg.rewriteAppHTTPProbers) && traffic.statusPort !== 0) {
    const probers = rewriteProbes([...appContainers, ...appInitContainers.filter((c) => c.restartPolicy === 'Always')], traffic.statusPort);
    if (probers) env.push({ name: 'ISTIO_KUBE_APP_PROBERS', value: probers });
  }
  const args = ['proxy', 'sidecar', '--domain', `$(POD_NAMESPACE).svc.${cfg.domainSuffix}`,
    `--proxyLogLevel=${annotations[A.logLevel] ?? cfg.proxyLogLevel}`,
    `--proxyComponentLogLevel=${annotations[A.componentLogLevel] ?? cfg.componentLogLevel}`,
    `--log_output_level=${annotations[A.agentLogLevel] ?? cfg.logLevel}`];
  // sidecar.istio.io/userVolume(Mount): extra volumes mounted into istio-proxy (e.g. custom certificates)
  const userVolumeSpecs = jsonMapAnnotation(annotations, A.userVolume);
  const userMounts = jsonMapAnnotation(annotations, A.userVolumeMount);
  const tproxy = traffic.interceptionMode === 'TPROXY';
  const proxy: Json = {
    args,
    env,
    image: proxyImage(input),
    ...(cfg.imagePullPolicy ? { imagePullPolicy: cfg.imagePullPolicy } : {}),
    // the status port even when it is 0, as Istio's template writes it: with the agent's HTTP side off the
    // drain request cannot reach it and the kubelet's grace period ends the proxy instead
    ...(native ? { lifecycle: { preStop: { exec: { command: ['pilot-agent', 'request', `--debug-port=${traffic.statusPort}`, 'POST', 'drain'] } } } } : {}),
    name: 'istio-proxy',
    ports: [{ containerPort: 15090, name: 'http-envoy-prom', protocol: 'TCP' }],
    // status port 0 turns the agent's health endpoints off: no probes then
    ...(traffic.statusPort !== 0 ? { readinessProbe: readinessProbe(annotations, 15021) } : {}),
    resources,
    ...(native ? { restartPolicy: 'Always' } : {}),
    securityContext: {
      allowPrivilegeEscalation: false,
      capabilities: tproxy ? { add: ['NET_ADMIN'], drop: ['ALL'] } : { drop: ['ALL'] },
      privileged: false,
      readOnlyRootFilesystem: true,
      runAsGroup: 1337,
      runAsNonRoot: !tproxy,
      runAsUser: tproxy ? 0 : 1337,
    },
    ...(traffic.statusPort !== 0 ? { startupProbe: { failureThreshold: 600, httpGet: { path: '/healthz/ready', port: 15021 }, periodSeconds: 1, timeoutSeconds: 3 } } : {}),
    volumeMounts: [...SIDECAR_VOLUME_MOUNTS, ...Object.entries(userMounts).map(([name, m]) => ({ ...m, name }))],
  };
  const init = traffic.interceptionMode === 'NONE' ? [] : [istioInit(input, traffic, resources, metadataEnv)];
  const userVolumes = Object.entries(userVolumeSpecs).map(([name, v]) => ({ name, ...v }));
  return {
    initContainers: native ? [...init, proxy] : init,
    containers: native ? [] : [proxy],
    appContainers,
    appInitContainers,
    volumes: [...sidecarVolumes(), ...userVolumes],
    annotations: prom.annotations,
    labels: { 'security.istio.io/tlsMode': 'istio' },
    native,
    proxyFirst: false,
    removeAnnotations: prom.remove,
  };
}

export const GRPC_BOOTSTRAP_FILE = '/etc/istio/proxy/grpc-bootstrap.json';
const GRPC_CERT_DIR = '/var/lib/istio/data';

export function grpcAgentTemplate(input: TemplateInput): TemplateOutput {
  const { cfg, annotations, labels } = input;
  const proxyConfig = proxyConfigOverride(annotations);
  const resources = proxyResources(annotations, cfg.proxyResources);
  const appContainers = structuredClone(((input.spec.containers as Container[] | undefined) ?? []).filter((c) => c.name !== 'istio-proxy'));
  for (const c of appContainers) {
    const env = ((c.env as Json[] | undefined) ?? []).filter((e) => e.name !== 'GRPC_XDS_BOOTSTRAP' && e.name !== 'GRPC_XDS_EXPERIMENTAL_SECURITY_SUPPORT');
    c.env = [{ name: 'GRPC_XDS_EXPERIMENTAL_SECURITY_SUPPORT', value: 'true' }, { name: 'GRPC_XDS_BOOTSTRAP', value: GRPC_BOOTSTRAP_FILE }, ...env];
    c.volumeMounts = [
      ...((c.volumeMounts as Json[] | undefined) ?? []),
      { mountPath: GRPC_CERT_DIR, name: 'istio-data' },
      { mountPath: '/etc/istio/proxy', name: 'istio-xds' },
      { mountPath: '/var/run/secrets/workload-spiffe-credentials', name: 'workload-certs' },
    ];
  }
  const labelArgs = Object.entries(labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]);
  const agent: Json = {
    // The image's entrypoint is `meshd`: this runs `meshd agent` (see src/cli/program.ts for the flags).
    args: ['agent', '--ca-addr', cfg.discoveryAddress, '--xds-addr', cfg.plaintextXdsAddress, '--cert-dir', GRPC_CERT_DIR,
      '--bootstrap', GRPC_BOOTSTRAP_FILE, '--domain', cfg.domainSuffix, '--trust-domain', cfg.trustDomain,
      ...labelArgs, `--log-level=${annotations[A.agentLogLevel] === 'debug' ? 'debug' : 'info'}`],
    env: [
      ...commonProxyEnv(input, appContainers, proxyConfig, 'NONE').filter((e) => e.name !== 'ISTIO_META_INTERCEPTION_MODE'),
      { name: 'ISTIO_META_GENERATOR', value: 'grpc' },
      { name: 'OUTPUT_CERTS', value: GRPC_CERT_DIR },
      { name: 'XDS_ADDR', value: cfg.plaintextXdsAddress },
    ],
    image: cfg.agentImage,
    ...(cfg.imagePullPolicy ? { imagePullPolicy: cfg.imagePullPolicy } : {}),
    // Kubernetes starts the next container only when this hook returns: the app finds its bootstrap.
    lifecycle: { postStart: { exec: { command: ['sh', '-c', `until [ -s ${GRPC_BOOTSTRAP_FILE} ]; do sleep 0.2; done`] } } },
    name: 'istio-proxy',
    resources,
    securityContext: {
      allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, privileged: false, readOnlyRootFilesystem: true,
      runAsGroup: 1337, runAsNonRoot: true, runAsUser: 1337,
    },
    volumeMounts: [
      { mountPath: '/var/run/secrets/workload-spiffe-uds', name: 'workload-socket' },
      { mountPath: '/var/run/secrets/workload-spiffe-credentials', name: 'workload-certs' },
      { mountPath: '/var/run/secrets/istio', name: 'istiod-ca-cert' },
      { mountPath: GRPC_CERT_DIR, name: 'istio-data' },
      { mountPath: '/etc/istio/proxy', name: 'istio-xds' },
      { mountPath: '/var/run/secrets/tokens', name: 'istio-token' },
      { mountPath: '/etc/istio/pod', name: 'istio-podinfo' },
    ],
  };
  const prom = prometheusAnnotations(annotations, cfg);
  return {
    initContainers: [],
    containers: [agent],
    appContainers,
    volumes: [
      { emptyDir: {}, name: 'workload-socket' },
      { emptyDir: {}, name: 'workload-certs' },
      { emptyDir: { medium: 'Memory' }, name: 'istio-xds' },
      { emptyDir: {}, name: 'istio-data' },
      podinfoVolume,
      tokenVolume,
      rootCertVolume,
    ],
    annotations: { ...prom.annotations, [A.rewriteAppHTTPProbers]: 'false' },
    labels: {},
    native: false,
    proxyFirst: true,
    removeAnnotations: prom.remove,
    statusContainers: ['istio-proxy', ...appContainers.map((c) => c.name)],
  };
}

const GRPC_SIMPLE_DIR = '/var/lib/grpc/data/';

/**
 * `grpc-simple`: proxyless gRPC without certificates — an init container writes a plaintext xDS bootstrap
 * pointing at meshd's 15010 and the app reads it through GRPC_XDS_BOOTSTRAP (Istio's template, verbatim).
 */
export function grpcSimpleTemplate(input: TemplateInput): TemplateOutput {
  const { cfg, annotations } = input;
  const appContainers = structuredClone(((input.spec.containers as Container[] | undefined) ?? []).filter((c) => c.name !== 'istio-proxy'));
  const mount = { mountPath: GRPC_SIMPLE_DIR, name: 'grpc-io-proxyless-bootstrap' };
  for (const c of appContainers) {
    const env = ((c.env as Json[] | undefined) ?? []).filter((e) => e.name !== 'GRPC_XDS_BOOTSTRAP');
    c.env = [{ name: 'GRPC_XDS_BOOTSTRAP', value: `${GRPC_SIMPLE_DIR}bootstrap.json` }, { name: 'GRPC_GO_LOG_VERBOSITY_LEVEL', value: '99' }, { name: 'GRPC_GO_LOG_SEVERITY_LEVEL', value: 'info' }, ...env];
    c.volumeMounts = [...((c.volumeMounts as Json[] | undefined) ?? []), mount];
  }
  const [xdsHost, xdsPort] = [cfg.plaintextXdsAddress.slice(0, cfg.plaintextXdsAddress.lastIndexOf(':')), cfg.plaintextXdsAddress.slice(cfg.plaintextXdsAddress.lastIndexOf(':') + 1)];
  const istioNamespace = xdsHost.split('.')[1] ?? 'istio-system';
  const script = [
    `NODE_ID="sidecar~\${INSTANCE_IP}~\${POD_NAME}.\${POD_NAMESPACE}~${cfg.domainSuffix}"`,
    `SERVER_URI="dns:///${xdsHost.split('.')[0]}.\${ISTIO_NAMESPACE}.svc:${xdsPort}"`,
    `echo '`,
    '{',
    '  "xds_servers": [',
    '    {',
    `      "server_uri": "'\${SERVER_URI}'",`,
    '      "channel_creds": [{"type": "insecure"}],',
    '      "server_features" : ["xds_v3"]',
    '    }',
    '  ],',
    '  "node": {',
    `    "id": "'\${NODE_ID}'",`,
    '    "metadata": {',
    '      "GENERATOR": "grpc"',
    '    }',
    '  }',
    `}' > ${GRPC_SIMPLE_DIR}bootstrap.json`,
  ].join('\n');
  const init = {
    command: ['sh', '-c', script],
    env: [fieldRef('INSTANCE_IP', 'status.podIP'), fieldRef('POD_NAME', 'metadata.name'), fieldRef('POD_NAMESPACE', 'metadata.namespace'), { name: 'ISTIO_NAMESPACE', value: `${istioNamespace}\n` }],
    image: 'busybox:1.28',
    name: 'grpc-bootstrap-init',
    resources: {},
    volumeMounts: [mount],
  };
  const prom = prometheusAnnotations(annotations, cfg);
  return {
    initContainers: [init],
    containers: [],
    appContainers,
    volumes: [{ emptyDir: {}, name: 'grpc-io-proxyless-bootstrap' }],
    annotations: { ...prom.annotations, [A.rewriteAppHTTPProbers]: 'false' },
    labels: {},
    native: true,
    proxyFirst: false,
    removeAnnotations: prom.remove,
    statusContainers: appContainers.map((c) => c.name),
    bareMetadata: true,
  };
}

/**
 * `gateway` (`inject.istio.io/templates: gateway`, Istio's gateway-injection-template.yaml): a user's own
 * gateway Deployment — usually one container `istio-proxy` with `image: auto` — becomes an istio-proxy
 * running `proxy router` (a `router~` node: meshd's gateway generator serves it), no istio-init and no
 * traffic capture, readiness on 15021, and the pod may bind ports below 1024 without privileges
 * (sysctl net.ipv4.ip_unprivileged_port_start=0). Other containers in the pod stay as they are.
 */
export function gatewayTemplate(input: TemplateInput): TemplateOutput {
  const { annotations, cfg } = input;
  const proxyConfig = proxyConfigOverride(annotations);
  const interception = typeof proxyConfig.interceptionMode === 'string' ? proxyConfig.interceptionMode : 'REDIRECT';
  const appContainers = structuredClone(((input.spec.containers as Container[] | undefined) ?? []).filter((c) => c.name !== 'istio-proxy'));
  // the gateway template's env order: GOMEMLIMIT comes right after the pod ports
  const common = commonProxyEnv(input, appContainers, proxyConfig, interception);
  const memLimit = common.find((e) => e.name === 'GOMEMLIMIT')!;
  const env = common.filter((e) => e !== memLimit);
  env.splice(env.findIndex((e) => e.name === 'ISTIO_META_POD_PORTS') + 1, 0, memLimit);
  env.push(...proxyMetadataEnv(proxyConfig));
  const prom = prometheusAnnotations(annotations, cfg);
  if (prom.appScrape) env.push({ name: 'ISTIO_PROMETHEUS_ANNOTATIONS', value: prom.appScrape });
  const proxy: Json = {
    args: ['proxy', 'router', '--domain', `$(POD_NAMESPACE).svc.${cfg.domainSuffix}`,
      `--proxyLogLevel=${annotations[A.logLevel] ?? cfg.proxyLogLevel}`,
      `--proxyComponentLogLevel=${annotations[A.componentLogLevel] ?? cfg.componentLogLevel}`,
      `--log_output_level=${annotations[A.agentLogLevel] ?? cfg.logLevel}`],
    env,
    image: proxyImage(input),
    ...(cfg.imagePullPolicy ? { imagePullPolicy: cfg.imagePullPolicy } : {}),
    name: 'istio-proxy',
    ports: [{ containerPort: 15090, name: 'http-envoy-prom', protocol: 'TCP' }],
    // the gateway template reads no readiness annotations: the chart's defaults
    readinessProbe: readinessProbe({}, 15021),
    securityContext: { runAsGroup: 1337, runAsUser: 1337 },
    // the sidecar's mounts and volumes, without the CA revocation list (the gateway template mounts none)
    volumeMounts: SIDECAR_VOLUME_MOUNTS.filter((m) => m.name !== CRL_VOLUME),
  };
  return {
    initContainers: [],
    containers: [proxy],
    appContainers,
    volumes: sidecarVolumes().filter((v) => v.name !== CRL_VOLUME),
    annotations: prom.annotations,
    labels: {},
    native: false,
    proxyFirst: false,
    removeAnnotations: prom.remove,
    podSecurityContext: { sysctls: [{ name: 'net.ipv4.ip_unprivileged_port_start', value: '0' }] },
  };
}

export const TEMPLATES: Record<string, (input: TemplateInput) => TemplateOutput> = {
  sidecar: sidecarTemplate,
  gateway: gatewayTemplate,
  'grpc-agent': grpcAgentTemplate,
  'grpc-simple': grpcSimpleTemplate,
};

export function templateFor(annotations: Record<string, string>): (input: TemplateInput) => TemplateOutput {
  const names = (annotations[A.templates] ?? 'sidecar').split(',').map((s) => s.trim()).filter(Boolean);
  const name = names.length ? names[names.length - 1]! : 'sidecar';
  const t = TEMPLATES[name];
  if (!t) throw new InjectionError(`annotation ${A.templates}: unknown template ${JSON.stringify(name)} (meshd has ${Object.keys(TEMPLATES).join(', ')})`);
  return t;
}
