import type { PushContext } from './push-context.js';
import { endpointKey } from './registry.js';
import type { MeshService, ServiceEndpoint } from './types.js';

// /debug/registryz and /debug/endpointz: the service registry of the current snapshot in istiod's JSON
// shapes (model.Service; EndpointIndex.Shardz of model.IstioEndpoint), so scripts written against istiod's
// pages read meshd's. Only what the registry holds: Services, EndpointSlices and Pods (labels, service
// account, locality), and ServiceEntry hosts. No secrets live here.

/** istiod's model.Resolution numbering. */
const RESOLUTION = { ClientSideLB: 0, DNSLB: 1, Passthrough: 2, DNSRoundRobinLB: 3 } as const;
/** istiod's model.HealthStatus numbering. */
const HEALTH = { Healthy: 1, UnHealthy: 2, Draining: 3, Terminating: 4 } as const;

/** The shard istiod files a service's endpoints under: `provider/cluster`. */
function shardKey(svc: MeshService): string {
  return svc.serviceEntry ? 'External/Kubernetes' : 'Kubernetes/Kubernetes';
}

function resolution(svc: MeshService): number {
  switch (svc.serviceEntry?.resolution) {
    case 'DNS': return RESOLUTION.DNSLB;
    case 'DNS_ROUND_ROBIN': return RESOLUTION.DNSRoundRobinLB;
    case 'NONE': return RESOLUTION.Passthrough;
    default: return RESOLUTION.ClientSideLB;
  }
}

/** One model.Service per service, sorted by hostname (istiod /debug/registryz). */
export function registryz(ctx: PushContext): object[] {
  return ctx.registry.services.map((svc) => {
    const vips = svc.serviceEntry ? svc.serviceEntry.addresses : svc.clusterIP ? [svc.clusterIP] : [];
    return {
      Attributes: {
        ServiceRegistry: svc.serviceEntry ? 'External' : 'Kubernetes',
        Name: svc.serviceEntry ? svc.hostname : svc.name,
        Namespace: svc.namespace,
        Labels: svc.labels,
        ExportTo: svc.exportTo ?? null,
        LabelSelectors: svc.selector ?? null,
        ...(svc.serviceEntry ? { ServiceEntry: svc.serviceEntry.source } : {}),
      },
      ports: svc.ports.map((p) => ({ name: p.name, port: p.port, protocol: p.protocol })),
      hostname: svc.hostname,
      ...(vips.length > 0 ? { clusterVIPs: { Addresses: { Kubernetes: vips } }, defaultAddress: vips[0] } : { defaultAddress: '0.0.0.0' }),
      Resolution: resolution(svc),
      MeshExternal: svc.serviceEntry?.meshExternal ?? false,
      ResourceVersion: String(svc.revision),
    };
  });
}

function istioEndpoint(ctx: PushContext, svc: MeshService, e: ServiceEndpoint): object {
  const port = svc.ports.find((p) => p.port === e.servicePort);
  const w = e.workload;
  const loc = e.locality;
  const locality = loc.region || loc.zone || loc.subzone ? [loc.region, loc.zone, loc.subzone].join('/').replace(/\/+$/, '') : '';
  return {
    Labels: w?.labels ?? null,
    Addresses: [e.address],
    ServicePortName: port?.name ?? '',
    ServiceAccount: w ? `spiffe://${ctx.mesh.trustDomain}/ns/${w.namespace}/sa/${w.serviceAccount}` : '',
    Network: '',
    Locality: { Label: locality, ClusterID: 'Kubernetes' },
    EndpointPort: e.port,
    LbWeight: 0,
    TLSMode: w?.tlsMode ?? 'disabled',
    Namespace: w?.namespace ?? svc.namespace,
    WorkloadName: w?.name ?? '',
    HostName: '',
    SubDomain: '',
    HealthStatus: e.terminating ? HEALTH.Terminating : e.ready ? HEALTH.Healthy : HEALTH.UnHealthy,
    SendUnhealthyEndpoints: false,
    NodeName: '',
  };
}

/** hostname → namespace → {Shards: {provider/cluster: IstioEndpoint[]}, ServiceAccounts} (istiod /debug/endpointz). */
export function endpointz(ctx: PushContext): Record<string, Record<string, object>> {
  const out: Record<string, Record<string, object>> = {};
  for (const svc of ctx.registry.services) {
    const endpoints = svc.ports.flatMap((p) => ctx.registry.endpoints.get(endpointKey(svc.hostname, p.port)) ?? []).map((e) => istioEndpoint(ctx, svc, e));
    const accounts = [...new Set(endpoints.map((e) => (e as { ServiceAccount: string }).ServiceAccount).filter(Boolean))].sort();
    (out[svc.hostname] ??= {})[svc.namespace] = {
      Shards: { [shardKey(svc)]: endpoints },
      ServiceAccounts: Object.fromEntries(accounts.map((a) => [a, {}])),
    };
  }
  return out;
}
