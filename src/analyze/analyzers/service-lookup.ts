// Istio's util.InitServiceEntryHostMap / GetDestinationHost: which hosts exist for a namespace — the
// hosts of ServiceEntries (by their exportTo) and of Kubernetes Services (by networking.istio.io/exportTo),
// each seen as a ServiceEntry with its ports.

import { EXPORT_ALL, EXPORT_LOCAL, hostToFqdn, specOf, type AnalysisContext } from '../context.js';

export interface ServiceEntrySpec {
  hosts?: string[];
  addresses?: string[];
  ports?: { number: number; name?: string; protocol?: string; targetPort?: number }[];
  exportTo?: string[];
  workloadSelector?: { labels?: Record<string, string> };
}

export interface ServiceSpec {
  type?: string;
  selector?: Record<string, string>;
  ports?: { name?: string; port: number; targetPort?: number | string; protocol?: string; appProtocol?: string }[];
}

/** scope (`*` or a namespace) + '/' + FQDN → the (possibly converted) ServiceEntry */
export type ServiceHostMap = Map<string, ServiceEntrySpec>;

const scoped = (scope: string, namespace: string, host: string) => `${scope}/${hostToFqdn(namespace, host)}`;

export function serviceHostMap(ctx: AnalysisContext): ServiceHostMap {
  const result: ServiceHostMap = new Map();
  for (const r of ctx.all('ServiceEntry')) {
    const se = specOf<ServiceEntrySpec>(r);
    let toAll = false;
    for (const h of se.hosts ?? []) {
      if (!se.exportTo?.length || toAll) {
        result.set(scoped(EXPORT_ALL, r.namespace, h), se);
        continue;
      }
      for (const ns of se.exportTo) {
        if (ns === EXPORT_ALL) {
          result.set(scoped(EXPORT_ALL, r.namespace, h), se);
          toAll = true;
        } else if (ns === EXPORT_LOCAL) result.set(scoped(r.namespace, r.namespace, h), se);
        else result.set(scoped(ns, r.namespace, h), se);
        if (toAll) break;
      }
    }
  }
  for (const r of ctx.all('Service')) {
    const svc = specOf<ServiceSpec>(r);
    const se: ServiceEntrySpec = {
      hosts: [hostToFqdn(r.namespace, r.name)],
      ports: (svc.ports ?? []).map((p) => ({ number: p.port, name: p.name ?? '', protocol: p.protocol ?? '' })),
    };
    const anno = r.annotations['networking.istio.io/exportTo'];
    const scopes = !anno ? [EXPORT_ALL] : anno.split(',').map((s) => s.trim()).map((s) => (s === EXPORT_LOCAL ? r.namespace : s));
    for (const scope of scopes) result.set(scoped(scope, r.namespace, r.name), se);
  }
  return result;
}

/** The ServiceEntry (or Service) a destination host in `sourceNs` reaches, honouring exportTo. */
export function destinationHost(sourceNs: string, exportTo: readonly string[] | undefined, host: string, hosts: ServiceHostMap): ServiceEntrySpec | undefined {
  const all = hosts.get(scoped(EXPORT_ALL, sourceNs, host));
  if (all) return all;
  if (!exportTo?.length) {
    const local = hosts.get(scoped(sourceNs, sourceNs, host));
    if (local) return local;
  } else {
    for (let e of exportTo) {
      if (e === EXPORT_LOCAL) e = sourceNs;
      const s = hosts.get(scoped(e, sourceNs, host));
      if (s) return s;
    }
  }
  for (const [key, s] of hosts) {
    const i = key.indexOf('/');
    const scope = key.slice(0, i);
    const seHost = key.slice(i + 1);
    if (!seHost.startsWith('*')) continue;
    if (scope !== EXPORT_ALL && scope !== sourceNs) continue;
    if (host.replace(/^\*/, '').endsWith(seHost.slice(1))) return s;
  }
  return undefined;
}
