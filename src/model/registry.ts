import type { StoredObject } from '../config/store.js';
import type { EndpointSlice, Pod, Service } from '../config/schemas/index.js';
import { protocolOf } from './protocol.js';
import { NO_LOCALITY, type Locality, type MeshService, type ServiceEndpoint, type ServicePort, type Workload } from './types.js';
import { labelsMatch } from '../config/labels.js';
import { serviceEntryServices, workloadEntryEndpoints, workloadEntryWorkloads } from './service-entries.js';

export interface RegistryInput {
  readonly services: readonly StoredObject<'Service'>[];
  readonly endpointSlices: readonly StoredObject<'EndpointSlice'>[];
  readonly pods: readonly StoredObject<'Pod'>[];
  /** ServiceEntries and WorkloadEntries (see service-entries.ts); absent means none */
  readonly serviceEntries?: readonly StoredObject<'ServiceEntry'>[];
  readonly workloadEntries?: readonly StoredObject<'WorkloadEntry'>[];
  readonly domainSuffix: string;
}

export interface Registry {
  readonly services: readonly MeshService[];
  readonly servicesByHost: ReadonlyMap<string, MeshService>;
  /** by namespace, each sorted by hostname */
  readonly servicesByNamespace: ReadonlyMap<string, readonly MeshService[]>;
  /** key `hostname|servicePort` */
  readonly endpoints: ReadonlyMap<string, readonly ServiceEndpoint[]>;
  readonly workloadsByIp: ReadonlyMap<string, Workload>;
  readonly workloadsByName: ReadonlyMap<string, Workload>;
}

const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
const LOCALITY_LABEL = 'istio-locality';
const REGION_LABEL = 'topology.kubernetes.io/region';
const ZONE_LABEL = 'topology.kubernetes.io/zone';
const SUBZONE_LABEL = 'topology.istio.io/subzone';
const TLS_MODE_LABEL = 'security.istio.io/tlsMode';

export function endpointKey(hostname: string, servicePort: number): string {
  return `${hostname}|${servicePort}`;
}

export function serviceHostname(name: string, namespace: string, domainSuffix: string): string {
  return `${name}.${namespace}.svc.${domainSuffix}`;
}

function podLocality(labels: Record<string, string>, sliceZone: string | undefined): Locality {
  const explicit = labels[LOCALITY_LABEL];
  if (explicit) {
    const [region = '', zone = '', subzone = ''] = explicit.split(/[./]/);
    return { region, zone, subzone };
  }
  const region = labels[REGION_LABEL] ?? '';
  const zone = labels[ZONE_LABEL] ?? sliceZone ?? '';
  const subzone = labels[SUBZONE_LABEL] ?? '';
  return region || zone || subzone ? { region, zone, subzone } : NO_LOCALITY;
}

function toWorkload(pod: Pod, revision: number): Workload {
  const labels = pod.metadata.labels ?? {};
  const ips = new Set<string>();
  if (pod.status?.podIP) ips.add(pod.status.podIP);
  for (const p of pod.status?.podIPs ?? []) ips.add(p.ip);
  return Object.freeze({
    name: pod.metadata.name,
    namespace: pod.metadata.namespace ?? 'default',
    labels,
    serviceAccount: pod.spec?.serviceAccountName || 'default',
    ips: [...ips],
    locality: podLocality(labels, undefined),
    tlsMode: labels[TLS_MODE_LABEL] === 'istio' ? 'istio' : 'disabled',
    revision,
  });
}

const EXPORT_TO_ANNOTATION = 'networking.istio.io/exportTo';

function exportToOf(annotation: string | undefined): { exportTo?: readonly string[] } {
  const list = (annotation ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  return list.length > 0 ? { exportTo: Object.freeze(list) } : {};
}

function toService(stored: StoredObject<'Service'>, domainSuffix: string): MeshService | undefined {
  const svc: Service = stored.object;
  if (svc.spec.type === 'ExternalName') return undefined;
  const namespace = svc.metadata.namespace ?? 'default';
  const clusterIP = svc.spec.clusterIP && svc.spec.clusterIP !== 'None' ? svc.spec.clusterIP : undefined;
  const ports: ServicePort[] = (svc.spec.ports ?? []).map((p) => ({
    name: p.name ?? '',
    port: p.port,
    targetPort: p.targetPort,
    protocol: protocolOf(p.name, p.appProtocol, p.protocol),
  }));
  return Object.freeze({
    hostname: serviceHostname(svc.metadata.name, namespace, domainSuffix),
    name: svc.metadata.name,
    namespace,
    clusterIP,
    ports,
    labels: svc.metadata.labels ?? {},
    selector: svc.spec.selector,
    ...exportToOf(svc.metadata.annotations?.[EXPORT_TO_ANNOTATION]),
    revision: stored.revision,
  });
}

/** A named targetPort resolves through the pod's container ports, as kube-proxy does. */
function resolveTargetPort(port: ServicePort, pod: Pod | undefined): number | undefined {
  if (port.targetPort === undefined) return port.port;
  if (typeof port.targetPort === 'number') return port.targetPort;
  if (/^\d+$/.test(port.targetPort)) return Number(port.targetPort);
  for (const c of pod?.spec?.containers ?? []) {
    const ports = (c as { ports?: { name?: string; containerPort?: number }[] }).ports ?? [];
    for (const cp of ports) if (cp.name === port.targetPort && cp.containerPort) return cp.containerPort;
  }
  return undefined;
}

/**
 * Builds the registry. EndpointSlices are the source of endpoints when a service has any; a service
 * without slices gets endpoints from the ready Pods its selector matches (what Kubernetes' EndpointSlice
 * controller would write), so a config directory can describe a mesh with Services and Pods alone.
 */
export function buildRegistry(input: RegistryInput): Registry {
  const workloadsByIp = new Map<string, Workload>();
  const workloadsByName = new Map<string, Workload>();
  const podsByName = new Map<string, Pod>();
  for (const { object: pod, revision } of input.pods) {
    const w = toWorkload(pod, revision);
    workloadsByName.set(`${w.namespace}/${w.name}`, w);
    podsByName.set(`${w.namespace}/${w.name}`, pod);
    for (const ip of w.ips) workloadsByIp.set(ip, w);
  }

  // VMs: WorkloadEntries are workloads too (found by IP; by name only where no Pod has it)
  const entryWorkloads = workloadEntryWorkloads(input.workloadEntries ?? []);
  for (const { workload } of entryWorkloads) {
    const key = `${workload.namespace}/${workload.name}`;
    if (!workloadsByName.has(key)) workloadsByName.set(key, workload);
    for (const ip of workload.ips) if (!workloadsByIp.has(ip)) workloadsByIp.set(ip, workload);
  }

  const services: MeshService[] = [];
  const servicesByHost = new Map<string, MeshService>();
  const byNamespacedName = new Map<string, MeshService>();
  for (const stored of input.services) {
    const svc = toService(stored, input.domainSuffix);
    if (!svc) continue;
    services.push(svc);
    servicesByHost.set(svc.hostname, svc);
    byNamespacedName.set(`${svc.namespace}/${svc.name}`, svc);
  }
  // ServiceEntry hosts beside the Kubernetes Services (a host a Service already has stays the Service's;
  // between entries the oldest wins, as istiod orders configs by creation)
  const podsByNamespace = new Map<string, { pod: Pod; workload: Workload }[]>();
  for (const [key, pod] of podsByName) {
    const w = workloadsByName.get(key);
    if (!w) continue;
    const list = podsByNamespace.get(w.namespace);
    if (list) list.push({ pod, workload: w });
    else podsByNamespace.set(w.namespace, [{ pod, workload: w }]);
  }
  const entries = [...(input.serviceEntries ?? [])].sort((a, b) => a.revision - b.revision);
  const fromEntries = serviceEntryServices(entries, entryWorkloads, (ns) => podsByNamespace.get(ns) ?? []);
  const entryHosts = new Set<MeshService>();
  for (const svc of fromEntries.services) {
    if (servicesByHost.has(svc.hostname)) continue;
    services.push(svc);
    servicesByHost.set(svc.hostname, svc);
    entryHosts.add(svc);
  }
  services.sort((a, b) => (a.hostname < b.hostname ? -1 : a.hostname > b.hostname ? 1 : 0));
  const servicesByNamespace = new Map<string, MeshService[]>();
  for (const svc of services) {
    const list = servicesByNamespace.get(svc.namespace);
    if (list) list.push(svc);
    else servicesByNamespace.set(svc.namespace, [svc]);
  }

  const endpoints = new Map<string, ServiceEndpoint[]>();
  const push = (host: string, servicePort: number, ep: ServiceEndpoint) => {
    const key = endpointKey(host, servicePort);
    let list = endpoints.get(key);
    if (!list) endpoints.set(key, (list = []));
    list.push(ep);
  };

  const servicesWithSlices = new Set<MeshService>();
  const slices = [...input.endpointSlices].sort((a, b) =>
    a.object.metadata.name < b.object.metadata.name ? -1 : 1,
  );
  for (const { object: slice } of slices) {
    const ns = slice.metadata.namespace ?? 'default';
    const svcName = slice.metadata.labels?.[SERVICE_NAME_LABEL];
    const svc = svcName ? byNamespacedName.get(`${ns}/${svcName}`) : undefined;
    if (!svc || slice.addressType === 'FQDN') continue;
    servicesWithSlices.add(svc);
    addSliceEndpoints(slice, svc, ns, workloadsByIp, workloadsByName, push);
  }

  const podsByLabel = new Map<string, Pod[]>();
  for (const { object: pod } of input.pods) {
    const ns = pod.metadata.namespace ?? 'default';
    for (const [k, v] of Object.entries(pod.metadata.labels ?? {})) {
      const key = labelIndexKey(ns, k, v);
      const list = podsByLabel.get(key);
      if (list) list.push(pod);
      else podsByLabel.set(key, [pod]);
    }
  }
  for (const svc of services) {
    if (servicesWithSlices.has(svc) || !svc.selector) continue;
    for (const pod of candidatePods(podsByLabel, svc.namespace, svc.selector)) {
      if (!labelsMatch(svc.selector, pod.metadata.labels ?? {}, 'selects-none')) continue;
      const w = workloadsByName.get(`${svc.namespace}/${pod.metadata.name}`);
      if (!w || w.ips.length === 0) continue;
      const ready = pod.status?.phase === undefined || pod.status.phase === 'Running';
      for (const port of svc.ports) {
        const target = resolveTargetPort(port, pod);
        if (target === undefined) continue;
        push(svc.hostname, port.port, {
          address: w.ips[0]!, port: target, servicePort: port.port, ready, serving: ready, terminating: false,
          locality: w.locality, workload: w,
        });
      }
    }
  }

  for (const { hostname, ep } of fromEntries.endpoints) {
    const svc = servicesByHost.get(hostname);
    if (svc && entryHosts.has(svc)) push(hostname, ep.servicePort, ep);
  }
  for (const svc of services) {
    if (svc.serviceEntry) continue;
    for (const ep of workloadEntryEndpoints(svc, entryWorkloads)) push(svc.hostname, ep.servicePort, ep);
  }

  for (const list of endpoints.values()) list.sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : a.port - b.port));
  return { services, servicesByHost, servicesByNamespace, endpoints, workloadsByIp, workloadsByName };
}

function labelIndexKey(namespace: string, key: string, value: string): string {
  return `${namespace}\u0000${key}\u0000${value}`;
}

/**
 * Pods of `namespace` that may match `selector`, in input order: those carrying its rarest label (the
 * caller checks the rest). Indexing pods by label keeps selector matching linear in the mesh size rather
 * than services × pods.
 */
function candidatePods(podsByLabel: ReadonlyMap<string, readonly Pod[]>, namespace: string, selector: Readonly<Record<string, string>>): readonly Pod[] {
  let best: readonly Pod[] | undefined;
  for (const [k, v] of Object.entries(selector)) {
    const pods = podsByLabel.get(labelIndexKey(namespace, k, v)) ?? [];
    if (!best || pods.length < best.length) best = pods;
  }
  return best ?? [];
}

function addSliceEndpoints(
  slice: EndpointSlice,
  svc: MeshService,
  ns: string,
  workloadsByIp: Map<string, Workload>,
  workloadsByName: Map<string, Workload>,
  push: (host: string, servicePort: number, ep: ServiceEndpoint) => void,
): void {
  for (const sp of svc.ports) {
    // A slice port matches a service port by name (unnamed single-port services match the unnamed slice port).
    const slicePort = (slice.ports ?? []).find((p) => (p.name ?? '') === sp.name);
    if (!slicePort?.port) continue;
    for (const ep of slice.endpoints ?? []) {
      const ref = ep.targetRef;
      const byRef = ref?.kind === 'Pod' && ref.name ? workloadsByName.get(`${ref.namespace ?? ns}/${ref.name}`) : undefined;
      const conditions = ep.conditions ?? {};
      // Kubernetes: a nil `ready` means ready; `serving` defaults to `ready`.
      const ready = conditions.ready ?? true;
      const serving = conditions.serving ?? ready;
      const terminating = conditions.terminating ?? false;
      for (const address of ep.addresses) {
        const workload = byRef ?? workloadsByIp.get(address);
        const locality = workload && workload.locality !== NO_LOCALITY
          ? workload.locality
          : ep.zone ? { region: '', zone: ep.zone, subzone: '' } : NO_LOCALITY;
        push(svc.hostname, sp.port, {
          address, port: slicePort.port, servicePort: sp.port, ready, serving, terminating, locality, workload,
        });
      }
    }
  }
}
