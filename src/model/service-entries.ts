import { isIP } from 'node:net';
import { labelsMatch } from '../config/labels.js';
import type { StoredObject } from '../config/store.js';
import type { ServicePortSpec, WorkloadEntrySpec } from '../config/schemas/service-entry.js';
import type { Pod } from '../config/schemas/index.js';
import { istioProtocol } from '../config/semantics/protocol.js';
import { NO_LOCALITY, type Locality, type MeshService, type Protocol, type ServiceEndpoint, type ServicePort, type Workload } from './types.js';

// ServiceEntry and WorkloadEntry in the registry, where istiod's serviceentry controller puts them:
// - each host of a ServiceEntry is a service of its own (hostname = the host, namespace = the entry's),
//   with the entry's ports, addresses, exportTo, location and resolution;
// - its endpoints: the inline `endpoints` (STATIC, or the DNS names/addresses for DNS), else — with a
//   `workloadSelector` — the Pods and WorkloadEntries of its namespace whose labels match; for DNS without
//   endpoints, the host itself; none for NONE;
// - a WorkloadEntry is a workload (its address, labels, service account, locality, network, weight) and an
//   endpoint of every Kubernetes Service of its namespace whose selector matches its labels, and of every
//   ServiceEntry whose workloadSelector does.
// A WorkloadEntry port is its `ports[servicePortName]`, else the service port's targetPort, else its number.

const TLS_MODE_LABEL = 'security.istio.io/tlsMode';

export interface WorkloadEntryWorkload extends Workload {
  readonly weight?: number;
  readonly network?: string;
  readonly ports: Readonly<Record<string, number>>;
}

/**
 * The IP a ServiceEntry address stands for as a VIP (istiod convertServices): an IP as is, a CIDR covering
 * one address (/32, /128) as that IP; a wider CIDR is no VIP (undefined).
 */
export function vipOfAddress(address: string): string | undefined {
  const slash = address.indexOf('/');
  if (slash < 0) return isIP(address) ? address : undefined;
  const ip = address.slice(0, slash);
  const family = isIP(ip);
  if (family === 0) return undefined;
  return Number(address.slice(slash + 1)) === (family === 4 ? 32 : 128) ? ip : undefined;
}

function parseLocality(locality: string | undefined): Locality {
  if (!locality) return NO_LOCALITY;
  const [region = '', zone = '', subzone = ''] = locality.split('/');
  return { region, zone, subzone };
}

function workloadOfEntry(spec: WorkloadEntrySpec, name: string, namespace: string, revision: number): WorkloadEntryWorkload {
  const labels = spec.labels ?? {};
  return Object.freeze({
    name,
    namespace,
    labels,
    serviceAccount: spec.serviceAccount || 'default',
    ips: spec.address && isIP(spec.address) ? [spec.address] : [],
    locality: parseLocality(spec.locality),
    tlsMode: labels[TLS_MODE_LABEL] === 'istio' ? 'istio' : 'disabled',
    revision,
    ports: spec.ports ?? {},
    ...(spec.weight ? { weight: spec.weight } : {}),
    ...(spec.network ? { network: spec.network } : {}),
  });
}

/** WorkloadEntries as workloads (keyed `namespace/name`), with the address each one is reached at. */
export function workloadEntryWorkloads(entries: readonly StoredObject<'WorkloadEntry'>[]): { workload: WorkloadEntryWorkload; address: string }[] {
  return entries
    .filter((e) => e.object.spec.address)
    .map((e) => ({
      workload: workloadOfEntry(e.object.spec, e.object.metadata.name, e.object.metadata.namespace ?? 'default', e.revision),
      address: e.object.spec.address!,
    }));
}

function seProtocol(port: ServicePortSpec): Protocol {
  const p = istioProtocol(port.protocol ?? '');
  if (p === 'HTTP_PROXY') return 'HTTP';
  return p as Protocol;
}

/** The endpoint port of a workload entry for a service port. */
function entryPort(ports: Readonly<Record<string, number>>, port: ServicePort): number {
  return ports[port.name] ?? (typeof port.targetPort === 'number' ? port.targetPort : port.port);
}

export interface ServiceEntryServices {
  readonly services: MeshService[];
  /** endpoints per (hostname, service port) */
  readonly endpoints: { hostname: string; ep: ServiceEndpoint }[];
}

/**
 * The services and endpoints of the ServiceEntries. `podsIn(namespace)` and the WorkloadEntry workloads
 * feed `workloadSelector` entries.
 */
export function serviceEntryServices(
  entries: readonly StoredObject<'ServiceEntry'>[],
  workloadEntries: readonly { workload: WorkloadEntryWorkload; address: string }[],
  podsIn: (namespace: string) => readonly { pod: Pod; workload: Workload }[],
): ServiceEntryServices {
  const services: MeshService[] = [];
  const endpoints: { hostname: string; ep: ServiceEndpoint }[] = [];
  for (const stored of entries) {
    const se = stored.object;
    const spec = se.spec;
    const namespace = se.metadata.namespace ?? 'default';
    const resolution = spec.resolution ?? 'NONE';
    const addresses = spec.addresses ?? [];
    const vip = addresses.map(vipOfAddress).find((a) => a !== undefined);
    const ports: ServicePort[] = (spec.ports ?? []).map((p) => ({
      name: p.name,
      port: p.number,
      targetPort: p.targetPort || undefined,
      protocol: seProtocol(p),
    }));
    for (const host of spec.hosts ?? []) {
      const svc: MeshService = Object.freeze({
        hostname: host,
        name: host,
        namespace,
        ...(vip ? { clusterIP: vip } : {}),
        ports,
        labels: se.metadata.labels ?? {},
        ...(spec.exportTo && spec.exportTo.length > 0 ? { exportTo: Object.freeze([...spec.exportTo]) } : {}),
        revision: stored.revision,
        serviceEntry: Object.freeze({
          source: `${namespace}/${se.metadata.name}`,
          resolution,
          meshExternal: (spec.location ?? 'MESH_EXTERNAL') === 'MESH_EXTERNAL',
          addresses: Object.freeze([...addresses]),
          subjectAltNames: Object.freeze([...(spec.subjectAltNames ?? [])]),
        }),
      });
      services.push(svc);
      if (resolution === 'NONE') continue;
      const add = (address: string, port: number, servicePort: number, workload: Workload | undefined, locality: Locality) =>
        endpoints.push({
          hostname: host,
          ep: { address, port, servicePort, ready: true, serving: true, terminating: false, locality, ...(workload ? { workload } : {}) },
        });
      if (spec.endpoints && spec.endpoints.length > 0) {
        spec.endpoints.forEach((ep, i) => {
          if (!ep.address) return;
          const w = workloadOfEntry(ep, `${se.metadata.name}-${i}`, namespace, stored.revision);
          for (const port of ports) add(ep.address, entryPort(w.ports, port), port.port, w, w.locality);
        });
      } else if (spec.workloadSelector) {
        const selector = spec.workloadSelector.labels ?? {};
        for (const { pod, workload } of podsIn(namespace)) {
          if (!labelsMatch(selector, pod.metadata.labels ?? {}, 'selects-all') || workload.ips.length === 0) continue;
          for (const port of ports) add(workload.ips[0]!, typeof port.targetPort === 'number' ? port.targetPort : port.port, port.port, workload, workload.locality);
        }
        for (const { workload, address } of workloadEntries) {
          if (workload.namespace !== namespace || !labelsMatch(selector, workload.labels, 'selects-all')) continue;
          for (const port of ports) add(address, entryPort(workload.ports, port), port.port, workload, workload.locality);
        }
      } else if (resolution === 'DNS' || resolution === 'DNS_ROUND_ROBIN') {
        if (!host.startsWith('*')) for (const port of ports) add(host, typeof port.targetPort === 'number' ? port.targetPort : port.port, port.port, undefined, NO_LOCALITY);
      }
    }
  }
  return { services, endpoints };
}

/** Endpoints a Kubernetes Service gets from the WorkloadEntries its selector matches (VMs behind a Service). */
export function workloadEntryEndpoints(
  svc: MeshService,
  workloadEntries: readonly { workload: WorkloadEntryWorkload; address: string }[],
): ServiceEndpoint[] {
  if (!svc.selector || Object.keys(svc.selector).length === 0) return [];
  const out: ServiceEndpoint[] = [];
  for (const { workload, address } of workloadEntries) {
    if (workload.namespace !== svc.namespace || !labelsMatch(svc.selector, workload.labels, 'selects-none')) continue;
    for (const port of svc.ports) {
      out.push({
        address, port: entryPort(workload.ports, port), servicePort: port.port, ready: true, serving: true, terminating: false,
        locality: workload.locality, workload,
      });
    }
  }
  return out;
}
