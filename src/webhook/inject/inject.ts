import jsonpatch from 'fast-json-patch';
import { A } from './annotations.js';
import type { InjectionConfig } from './config.js';
import type { PodLike } from './decision.js';
import { templateFor, type WorkloadMeta } from './templates.js';

// Applies the chosen template to a pod and answers with the RFC 6902 patch from the pod the API server
// sent to the injected one (fast-json-patch's compare: a tested diff rather than hand-built operations).

type Json = Record<string, unknown>;

export interface InjectResult {
  readonly pod: Json;
  readonly patch: jsonpatch.Operation[];
}

const MAX_LABEL = 63;

/** Istio's canonical service name/revision labels. */
function canonicalLabels(labels: Record<string, string>, workloadName: string): Record<string, string> {
  const name = labels['service.istio.io/canonical-name'] ?? labels['app.kubernetes.io/name'] ?? labels.app ?? workloadName;
  const rev = labels['service.istio.io/canonical-revision'] ?? labels['app.kubernetes.io/version'] ?? labels.version ?? 'latest';
  // label values are at most 63 characters and must end alphanumeric
  const trim = (v: string) => v.slice(0, MAX_LABEL).replace(/[^A-Za-z0-9]+$/, '');
  return { 'service.istio.io/canonical-name': trim(name), 'service.istio.io/canonical-revision': trim(rev) };
}

const PLURALS: Record<string, string> = {
  Deployment: 'deployments', ReplicaSet: 'replicasets', StatefulSet: 'statefulsets', DaemonSet: 'daemonsets', Job: 'jobs',
  CronJob: 'cronjobs', Pod: 'pods', ReplicationController: 'replicationcontrollers', DeploymentConfig: 'deploymentconfigs',
};

export function ownerUri(apiVersion: string, kind: string, namespace: string, name: string): string {
  const plural = PLURALS[kind] ?? `${kind.toLowerCase()}s`;
  return `kubernetes://apis/${apiVersion}/namespaces/${namespace}/${plural}/${name}`;
}

/**
 * The workload a pod belongs to, from its controller reference as istiod derives it: a ReplicaSet named
 * `<deployment>-<pod-template-hash>` (and a pod-template-hash label) means the Deployment; else the controller.
 */
export function workloadOfPod(pod: PodLike & { metadata?: { ownerReferences?: { apiVersion?: string; kind?: string; name?: string; controller?: boolean }[] } }, namespace: string): WorkloadMeta {
  const meta = pod.metadata ?? {};
  const ref = meta.ownerReferences?.find((r) => r.controller) ?? meta.ownerReferences?.[0];
  if (ref?.kind && ref.name && ref.apiVersion) {
    const hash = meta.labels?.['pod-template-hash'];
    if (ref.kind === 'ReplicaSet' && hash && ref.name.endsWith(`-${hash}`)) {
      const name = ref.name.slice(0, -hash.length - 1);
      return { name, owner: ownerUri('apps/v1', 'Deployment', namespace, name) };
    }
    return { name: ref.name, owner: ownerUri(ref.apiVersion, ref.kind, namespace, ref.name) };
  }
  const name = meta.name ?? (meta.generateName ? meta.generateName.replace(/-$/, '') : 'unknown');
  return { name, owner: ownerUri('v1', 'Pod', namespace, name) };
}

/** User-set fields of an `istio-proxy` container in the pod spec win over the template's (Istio's overlay). */
function overlayProxy(injected: Json, user: Json | undefined): Json {
  if (!user) return injected;
  const out: Json = { ...injected };
  for (const [k, v] of Object.entries(user)) {
    if (k === 'image' && v === 'auto') continue;
    if ((k === 'env' || k === 'volumeMounts' || k === 'ports') && Array.isArray(v)) {
      const key = k === 'ports' ? 'containerPort' : 'name';
      const base = (injected[k] as Json[] | undefined) ?? [];
      const byKey = new Map(base.map((e) => [e[key], e]));
      for (const e of v as Json[]) byKey.set(e[key], e);
      out[k] = [...byKey.values()];
      continue;
    }
    if (k === 'securityContext' && v && typeof v === 'object') {
      out[k] = { ...((injected[k] as Json | undefined) ?? {}), ...(v as Json) };
      continue;
    }
    if (k === 'resources' && v && typeof v === 'object') {
      // a user-set resources block replaces the default one as a whole (requests/limits together)
      out[k] = v;
      continue;
    }
    out[k] = v;
  }
  return out;
}

export interface InjectOptions {
  readonly namespace: string;
  readonly cfg: InjectionConfig;
  /** the workload the pod belongs to; derived from ownerReferences when absent */
  readonly workload?: WorkloadMeta;
}

/** Injects into a copy of `pod`; throws InjectionError on bad annotations. */
export function injectPod(pod: Json, opts: InjectOptions): InjectResult {
  const original = pod;
  const out = structuredClone(pod) as Json & { metadata?: Json; spec?: Json };
  const meta = (out.metadata ??= {}) as { labels?: Record<string, string>; annotations?: Record<string, string> };
  const spec = (out.spec ??= {}) as Json;
  const labels = { ...(meta.labels ?? {}) };
  const annotations = { ...(meta.annotations ?? {}) };
  const workload = opts.workload ?? workloadOfPod(out as PodLike, opts.namespace);
  const template = templateFor(annotations);
  const result = template({ namespace: opts.namespace, labels, annotations, spec, workload, cfg: opts.cfg });

  // containers named istio-proxy / istio-init already in the pod customise the injected ones
  const userSet = [...((spec.containers as Json[] | undefined) ?? []), ...((spec.initContainers as Json[] | undefined) ?? [])];
  const overlay = (c: Json) => overlayProxy(c, userSet.find((u) => u.name === c.name));
  const existingInit = result.appInitContainers ?? ((spec.initContainers as Json[] | undefined) ?? []).filter((c) => c.name !== 'istio-init' && c.name !== 'istio-proxy');
  // Istio's ordering: a native istio-proxy (and its istio-init) start before the pod's own init containers;
  // without native sidecars istio-init runs last, right before the app and istio-proxy.
  const initContainers = result.native ? [...result.initContainers.map(overlay), ...existingInit] : [...existingInit, ...result.initContainers.map(overlay)];
  // iptables must exempt the user the proxy really runs as (Istio's ProxyUID from a customised istio-proxy)
  const proxyUid = (userSet.find((u) => u.name === 'istio-proxy')?.securityContext as { runAsUser?: number } | undefined)?.runAsUser;
  const init = initContainers.find((c) => c.name === 'istio-init');
  const uidAt = Array.isArray(init?.args) ? (init.args as string[]).indexOf('-u') : -1;
  if (proxyUid !== undefined && uidAt >= 0 && !userSet.some((u) => u.name === 'istio-init' && u.args)) {
    init!.args = (init!.args as string[]).map((a, i) => (i === uidAt + 1 ? String(proxyUid) : a));
  }
  // grpc-agent puts its agent first so the agent's postStart hook holds the app until the bootstrap exists.
  spec.containers = result.proxyFirst
    ? [...result.containers.map(overlay), ...result.appContainers]
    : [...result.appContainers, ...result.containers.map(overlay)];
  if (initContainers.length) spec.initContainers = initContainers;
  const existingVolumes = ((spec.volumes as Json[] | undefined) ?? []).filter((v) => !result.volumes.some((r) => r.name === v.name));
  spec.volumes = [...existingVolumes, ...result.volumes];

  const firstApp = result.appContainers[0]?.name;
  const status = {
    initContainers: result.initContainers.length ? result.initContainers.map((c) => c.name) : null,
    containers: (result.statusContainers ?? result.containers.map((c) => c.name)).length ? (result.statusContainers ?? result.containers.map((c) => c.name)) : null,
    volumes: result.volumes.map((v) => v.name),
    imagePullSecrets: null,
    revision: opts.cfg.revision,
  };
  for (const k of result.removeAnnotations ?? []) delete annotations[k];
  const common = !result.bareMetadata;
  meta.annotations = {
    ...annotations,
    ...(common ? { [A.rev]: annotations[A.rev] ?? opts.cfg.revision } : {}),
    ...(common && firstApp && !annotations[A.defaultContainer] ? { [A.defaultContainer]: firstApp } : {}),
    ...(common && firstApp && !annotations[A.defaultLogsContainer] ? { [A.defaultLogsContainer]: firstApp } : {}),
    ...result.annotations,
    [A.status]: JSON.stringify(status),
  };
  // labels the pod already has (e.g. security.istio.io/tlsMode: disabled) win over the template's
  meta.labels = { ...result.labels, ...labels, ...(common ? canonicalLabels(labels, workload.name) : {}) };
  return { pod: out, patch: jsonpatch.compare(original, out) };
}
