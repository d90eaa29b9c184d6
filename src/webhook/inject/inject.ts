import jsonpatch from 'fast-json-patch';
import { A } from './annotations.js';
import type { InjectionConfig } from './config.js';
import type { PodLike } from './decision.js';
import { canonicalQuantity, templateFor, type WorkloadMeta } from './templates.js';

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

/**
 * Lists in a Container that a strategic merge patch merges item by item, by this key (corev1's
 * `patchMergeKey` tags); every other list is replaced whole.
 */
const MERGE_KEYS: Record<string, string> = { env: 'name', ports: 'containerPort', volumeMounts: 'mountPath', volumeDevices: 'devicePath', resizePolicy: 'resourceName' };

/** Kubernetes' canonical spelling of each quantity under `resources` (Go's Quantity marshalling). */
function canonicalResources(resources: unknown): unknown {
  if (!resources || typeof resources !== 'object') return resources;
  return Object.fromEntries(Object.entries(resources as Json).map(([k, v]) => [k, v && typeof v === 'object' && !Array.isArray(v)
    ? Object.fromEntries(Object.entries(v as Json).map(([r, q]) => [r, typeof q === 'string' ? canonicalQuantity(q) : q]))
    : v]));
}

function strategicMerge(base: unknown, patch: unknown, listKey?: string): unknown {
  if (Array.isArray(patch)) {
    if (!listKey || !Array.isArray(base)) return patch;
    const out = [...(base as Json[])];
    for (const item of patch as Json[]) {
      const at = out.findIndex((e) => e[listKey] === item[listKey]);
      if (at >= 0) out[at] = strategicMerge(out[at], item) as Json;
      else out.push(item);
    }
    return out;
  }
  if (!patch || typeof patch !== 'object' || !base || typeof base !== 'object' || Array.isArray(base)) return patch;
  const out: Json = { ...(base as Json) };
  for (const [k, v] of Object.entries(patch as Json)) {
    // a null in a strategic merge patch deletes the field
    if (v === null) delete out[k];
    else out[k] = strategicMerge(out[k], v);
  }
  return out;
}

/** A user's container as istiod reads it: `image: auto` means "the injected image", quantities canonical. */
function userContainer(user: Json): Json {
  const out: Json = { ...user };
  if (out.image === 'auto') delete out.image;
  if (out.resources) out.resources = canonicalResources(out.resources);
  return out;
}

/**
 * A container of the pod named like one of the template's (istio-proxy, istio-init) customises it: Istio
 * applies the pod's container to the template's as a strategic merge patch (objects merged field by field,
 * so a user's `resources.limits.cpu` keeps the template's memory values; env/ports/volumeMounts by their
 * keys). The app containers the grpc templates rewrite are built from the pod's own, so need no merge.
 */
function overlay(injected: Json, user: Json | undefined): Json {
  if (!user) return injected;
  const out: Json = { ...injected };
  for (const [k, v] of Object.entries(userContainer(user))) {
    if (v === null) delete out[k];
    else out[k] = strategicMerge(injected[k], v, MERGE_KEYS[k]);
  }
  return out;
}

/** The pod's container of that name, looked for in its containers first, then its init containers (istiod's FindContainerFromPod). */
function podContainer(spec: Json, name: string): Json | undefined {
  const find = (list: unknown) => (Array.isArray(list) ? (list as Json[]).find((c) => c.name === name) : undefined);
  return find(spec.containers) ?? find(spec.initContainers);
}

export interface InjectOptions {
  readonly namespace: string;
  readonly cfg: InjectionConfig;
  /** the workload the pod belongs to; derived from ownerReferences when absent */
  readonly workload?: WorkloadMeta;
}

/**
 * `proxy.istio.io/overrides`: the pod's own versions of the template's containers, as the user wrote them
 * (`image: auto` dropped), so a later re-injection can apply them again over a newer template; istiod
 * writes it only when there is at least one.
 */
function proxyOverrides(originalSpec: Json, status: { initContainers: string[] | null; containers: string[] | null }): string | undefined {
  const found = (names: string[] | null) => (names ?? []).map((n) => podContainer(originalSpec, n)).filter((c): c is Json => c !== undefined).map(userContainer);
  const containers = found(status.containers);
  const initContainers = found(status.initContainers);
  if (!containers.length && !initContainers.length) return undefined;
  return JSON.stringify({ ...(containers.length ? { containers } : {}), ...(initContainers.length ? { initContainers } : {}) });
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
  const customised = (c: Json) => overlay(c, podContainer(spec, String(c.name)));
  const existingInit = result.appInitContainers ?? ((spec.initContainers as Json[] | undefined) ?? []).filter((c) => c.name !== 'istio-init' && c.name !== 'istio-proxy');
  // Istio's ordering: a native istio-proxy (and its istio-init) start before the pod's own init containers;
  // without native sidecars istio-init runs last, right before the app and istio-proxy.
  const initContainers = result.native ? [...result.initContainers.map(customised), ...existingInit] : [...existingInit, ...result.initContainers.map(customised)];
  // iptables must exempt the user the proxy really runs as (Istio's ProxyUID from a customised istio-proxy)
  const proxyUid = (podContainer(spec, 'istio-proxy')?.securityContext as { runAsUser?: number } | undefined)?.runAsUser;
  const init = initContainers.find((c) => c.name === 'istio-init');
  const uidAt = Array.isArray(init?.args) ? (init.args as string[]).indexOf('-u') : -1;
  if (proxyUid !== undefined && uidAt >= 0 && !podContainer(spec, 'istio-init')?.args) {
    init!.args = (init!.args as string[]).map((a, i) => (i === uidAt + 1 ? String(proxyUid) : a));
  }
  // grpc-agent puts its agent first so the agent's postStart hook holds the app until the bootstrap exists.
  spec.containers = result.proxyFirst
    ? [...result.containers.map(customised), ...result.appContainers]
    : [...result.appContainers, ...result.containers.map(customised)];
  if (initContainers.length) spec.initContainers = initContainers;
  // the template's pod securityContext is applied over the pod's own, as istiod overlays the template pod
  if (result.podSecurityContext) spec.securityContext = strategicMerge(spec.securityContext ?? {}, result.podSecurityContext);
  // the template's volumes first, then the pod's own (the order istiod's merge of the template pod leaves)
  const existingVolumes = ((spec.volumes as Json[] | undefined) ?? []).filter((v) => !result.volumes.some((r) => r.name === v.name));
  spec.volumes = [...result.volumes, ...existingVolumes];

  const firstApp = result.appContainers[0]?.name;
  const initNames = result.initContainers.map((c) => String(c.name));
  const containerNames = result.statusContainers ?? result.containers.map((c) => String(c.name));
  const status = {
    initContainers: initNames.length ? initNames : null,
    containers: containerNames.length ? containerNames : null,
    volumes: result.volumes.map((v) => v.name),
    imagePullSecrets: null,
    revision: opts.cfg.revision,
  };
  for (const k of result.removeAnnotations ?? []) delete annotations[k];
  const overrides = proxyOverrides((original.spec as Json | undefined) ?? {}, status);
  const common = !result.bareMetadata;
  meta.annotations = {
    ...annotations,
    ...(common ? { [A.rev]: annotations[A.rev] ?? opts.cfg.revision } : {}),
    ...(common && firstApp && !annotations[A.defaultContainer] ? { [A.defaultContainer]: firstApp } : {}),
    ...(common && firstApp && !annotations[A.defaultLogsContainer] ? { [A.defaultLogsContainer]: firstApp } : {}),
    ...result.annotations,
    ...(overrides ? { [A.proxyOverrides]: overrides } : {}),
    [A.status]: JSON.stringify(status),
  };
  // labels the pod already has (e.g. security.istio.io/tlsMode: disabled) win over the template's
  meta.labels = { ...result.labels, ...labels, ...(common ? canonicalLabels(labels, workload.name) : {}) };
  return { pod: out, patch: jsonpatch.compare(original, out) };
}
