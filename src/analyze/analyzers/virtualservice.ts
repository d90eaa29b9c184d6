// Istio's virtualservice.* analyzers (pkg/config/analysis/analyzers/virtualservice): destinations that do
// not exist, subsets no DestinationRule defines, gateways that do not exist or do not carry the host,
// conflicting mesh hosts, JWT-claim routes without a RequestAuthentication.

import { hostsMatch } from '../../config/semantics/util.js';
import {
  EXPORT_ALL, EXPORT_LOCAL, MESH_GATEWAY, exportsToAll, fullName, hostToFqdn, resourceNameFromHost, selects,
  shortOrFullName, specOf, type AnalysisContext, type Analyzer,
} from '../context.js';
import { message } from '../message.js';
import type { Resource } from '../resource.js';
import { destinationHost, serviceHostMap, type ServiceEntrySpec } from './service-lookup.js';

interface Destination {
  host?: string;
  subset?: string;
  port?: { number?: number };
}
interface StringMatchMap {
  [header: string]: unknown;
}
export interface VirtualServiceSpec {
  hosts?: string[];
  gateways?: string[];
  exportTo?: string[];
  http?: {
    name?: string;
    match?: { headers?: StringMatchMap; withoutHeaders?: StringMatchMap }[];
    route?: { destination?: Destination }[];
    mirror?: Destination;
    mirrors?: { destination?: Destination }[];
  }[];
  tls?: { route?: { destination?: Destination }[] }[];
  tcp?: { route?: { destination?: Destination }[] }[];
}

interface AnnotatedDestination {
  readonly rule: 'tcp' | 'tls' | 'http' | 'http.mirror' | 'http.mirrors';
  readonly destination: Destination;
}

function routeDestinations(vs: VirtualServiceSpec): AnnotatedDestination[] {
  const out: AnnotatedDestination[] = [];
  for (const r of vs.tcp ?? []) for (const rd of r.route ?? []) out.push({ rule: 'tcp', destination: rd.destination ?? {} });
  for (const r of vs.tls ?? []) for (const rd of r.route ?? []) out.push({ rule: 'tls', destination: rd.destination ?? {} });
  for (const r of vs.http ?? []) for (const rd of r.route ?? []) out.push({ rule: 'http', destination: rd.destination ?? {} });
  return out;
}

function mirrorDestinations(vs: VirtualServiceSpec): AnnotatedDestination[] {
  const out: AnnotatedDestination[] = [];
  for (const r of vs.http ?? []) {
    if (r.mirror) out.push({ rule: 'http.mirror', destination: r.mirror });
    for (const m of r.mirrors ?? []) out.push({ rule: 'http.mirrors', destination: m.destination ?? {} });
  }
  return out;
}

const DESTINATION_HOST = 'virtualservice.DestinationHostAnalyzer';

export const destinationHostAnalyzer: Analyzer = {
  name: DESTINATION_HOST,
  description: 'Checks the destination hosts associated with each virtual service',
  analyze(ctx) {
    const hosts = serviceHostMap(ctx);
    // VirtualServices routing one of their own hosts to a subset (their subsets do not apply at an ingress)
    const subsetRoutes = new Map<string, Destination[]>();
    for (const r of ctx.all('VirtualService')) {
      const vs = specOf<VirtualServiceSpec>(r);
      for (const http of vs.http ?? []) {
        for (const rd of http.route ?? []) {
          const d = rd.destination ?? {};
          if (!d.subset) continue;
          for (const h of vs.hosts ?? []) {
            if (d.host === h) {
              const key = fullName(r);
              subsetRoutes.set(key, [...(subsetRoutes.get(key) ?? []), d]);
            }
          }
        }
      }
    }
    for (const r of ctx.all('VirtualService')) {
      const vs = specOf<VirtualServiceSpec>(r);
      const checked: [AnnotatedDestination[], string][] = [[routeDestinations(vs), 'host'], [mirrorDestinations(vs), 'mirror host']];
      for (const [destinations, refType] of checked) {
        for (const d of destinations) {
          const se = destinationHost(r.namespace, vs.exportTo, d.destination.host ?? '', hosts);
          if (se) checkServiceEntryPorts(ctx, r, d, se);
          else ctx.report(message('ReferencedResourceNotFound', r, DESTINATION_HOST, refType, d.destination.host ?? ''));
        }
      }
      // routes of a gateway-bound VirtualService without a subset to a host another VirtualService splits by subset
      if (!vs.gateways?.length) continue;
      for (const http of vs.http ?? []) {
        for (const rd of http.route ?? []) {
          if (rd.destination?.subset) continue;
          for (const [other, destinations] of subsetRoutes) {
            for (const d of destinations) {
              if (d.host === rd.destination?.host) {
                ctx.report(message('IngressRouteRulesNotAffected', r, DESTINATION_HOST, other, fullName(r)));
              }
            }
          }
        }
      }
    }
  },
};

function checkServiceEntryPorts(ctx: AnalysisContext, r: Resource, d: AnnotatedDestination, se: ServiceEntrySpec): void {
  const ports = se.ports ?? [];
  const port = d.destination.port?.number;
  if (d.destination.port === undefined || d.destination.port === null) {
    if (ports.length > 1) {
      ctx.report(message('VirtualServiceDestinationPortSelectorRequired', r, DESTINATION_HOST, d.destination.host ?? '', ports.map((p) => p.number)));
    }
    return;
  }
  if (!ports.some((p) => p.number === (port ?? 0))) {
    ctx.report(message('ReferencedResourceNotFound', r, DESTINATION_HOST, 'host:port', `${d.destination.host ?? ''}:${port ?? 0}`));
  }
}

const DESTINATION_RULE = 'virtualservice.DestinationRuleAnalyzer';

export const destinationRuleAnalyzer: Analyzer = {
  name: DESTINATION_RULE,
  description: 'Checks the destination rules associated with each virtual service',
  analyze(ctx) {
    const subsets = new Set<string>();
    for (const r of ctx.all('DestinationRule')) {
      const dr = specOf<{ host?: string; subsets?: { name?: string }[] }>(r);
      for (const ss of dr.subsets ?? []) subsets.add(`${resourceNameFromHost(r.namespace, dr.host ?? '')}+${ss.name ?? ''}`);
    }
    const defined = (ns: string, d: Destination) => !d.subset || subsets.has(`${resourceNameFromHost(ns, d.host ?? '')}+${d.subset}`);
    for (const r of ctx.all('VirtualService')) {
      const vs = specOf<VirtualServiceSpec>(r);
      for (const d of routeDestinations(vs)) {
        if (!defined(r.namespace, d.destination)) {
          ctx.report(message('ReferencedResourceNotFound', r, DESTINATION_RULE, 'host+subset in destinationrule', `${d.destination.host ?? ''}+${d.destination.subset ?? ''}`));
        }
      }
      for (const d of mirrorDestinations(vs)) {
        if (!defined(r.namespace, d.destination)) {
          ctx.report(message('ReferencedResourceNotFound', r, DESTINATION_RULE, 'mirror+subset in destinationrule', `${d.destination.host ?? ''}+${d.destination.subset ?? ''}`));
        }
      }
    }
  },
};

const GATEWAY = 'virtualservice.GatewayAnalyzer';
const INTERNAL_GATEWAY = '~istio-autogenerated-k8s-gateway~';

interface GatewaySpec {
  selector?: Record<string, string>;
  servers?: { hosts?: string[] }[];
}

/** A VirtualService host is carried by one of the (Istio) gateway's servers. */
function hostInGateway(ctx: AnalysisContext, gw: { namespace: string; name: string }, vsHosts: readonly string[], vsNamespace: string): boolean {
  const r = ctx.find('Gateway', gw.namespace, gw.name);
  if (!r) return false;
  const gatewayHosts: string[] = [];
  for (const server of specOf<GatewaySpec>(r).servers ?? []) {
    // sanitizeServerHostNamespace: `./h` is the gateway's namespace, `*/h` any, `*/*` everything
    let hosts = [...(server.hosts ?? [])];
    for (let i = 0; i < hosts.length; i++) {
      const h = hosts[i]!;
      if (!h.includes('/')) continue;
      const [ns, name] = h.split('/') as [string, string];
      if (ns === '.') hosts[i] = `${r.namespace}/${name}`;
      else if (ns === '*') {
        if (name === '*') {
          hosts = ['*'];
          break;
        }
        hosts[i] = name;
      }
    }
    gatewayHosts.push(...hosts);
  }
  const names = gatewayHosts.flatMap((h) => {
    const i = h.indexOf('/');
    if (i < 0) return [h];
    const ns = h.slice(0, i);
    return ns === vsNamespace || ns === '*' ? [h.slice(i + 1)] : [];
  });
  return names.some((gh) => vsHosts.some((vh) => hostsMatch(gh, vh)));
}

function hostInKubernetesGateway(ctx: AnalysisContext, gw: { namespace: string; name: string }, vsHosts: readonly string[]): boolean {
  const r = ctx.find('KubernetesGateway', gw.namespace, gw.name);
  const listeners = specOf<{ listeners?: { hostname?: string }[] }>(r!).listeners ?? [];
  const hosts: string[] = [];
  for (const l of listeners) {
    if (!l.hostname) return true;
    hosts.push(l.hostname);
  }
  return hosts.some((gh) => vsHosts.some((vh) => hostsMatch(gh, vh)));
}

export const gatewayAnalyzer: Analyzer = {
  name: GATEWAY,
  description: 'Checks the gateways associated with each virtual service',
  analyze(ctx) {
    for (const r of ctx.all('VirtualService')) {
      const vs = specOf<VirtualServiceSpec>(r);
      for (const gwName of vs.gateways ?? []) {
        if (gwName === MESH_GATEWAY) continue;
        if ((gwName.includes('/') ? gwName.slice(gwName.indexOf('/') + 1) : gwName).includes(INTERNAL_GATEWAY)) {
          ctx.report(message('ReferencedInternalGateway', r, GATEWAY, fullName(r), gwName));
          continue;
        }
        const gw = shortOrFullName(r.namespace, gwName);
        let exists = !!ctx.find('Gateway', gw.namespace, gw.name);
        let kubernetes = false;
        if (!exists) exists = kubernetes = !!ctx.find('KubernetesGateway', gw.namespace, gw.name);
        if (!exists) ctx.report(message('ReferencedResourceNotFound', r, GATEWAY, 'gateway', gwName));
        const hostsMatch = kubernetes ? hostInKubernetesGateway(ctx, gw, vs.hosts ?? []) : hostInGateway(ctx, gw, vs.hosts ?? [], r.namespace);
        if (!hostsMatch) ctx.report(message('VirtualServiceHostNotFoundInGateway', r, GATEWAY, vs.hosts ?? [], fullName(r), fullName(gw)));
      }
    }
  },
};

const CONFLICTING_MESH = 'virtualservice.ConflictingMeshGatewayHostsAnalyzer';

export const conflictingMeshGatewayHostsAnalyzer: Analyzer = {
  name: CONFLICTING_MESH,
  description: 'Checks if multiple virtual services associated with the mesh gateway have conflicting hosts',
  analyze(ctx) {
    const byHost = new Map<string, Resource[]>();
    for (const r of ctx.all('VirtualService')) {
      const vs = specOf<VirtualServiceSpec>(r);
      if (vs.gateways?.length && !vs.gateways.includes(MESH_GATEWAY)) continue;
      const scopes = exportsToAll(vs.exportTo) ? [EXPORT_ALL] : [...new Set(vs.exportTo!.map((e) => (e === EXPORT_LOCAL ? r.namespace : e)))];
      for (const scope of scopes) {
        for (const h of vs.hosts ?? []) {
          const key = `${scope}/${hostToFqdn(r.namespace, h)}`;
          byHost.set(key, [...(byHost.get(key) ?? []), r]);
        }
      }
    }
    const reported = new Set<string>();
    for (const [key, list] of byHost) {
      const i = key.indexOf('/');
      const scope = key.slice(0, i);
      const host = key.slice(i + 1);
      let all = list;
      if (scope !== EXPORT_ALL) {
        const visible: Resource[] = [];
        for (const [other, resources] of byHost) {
          const j = other.indexOf('/');
          if (other.slice(0, j) === EXPORT_ALL && hostsMatch(host, other.slice(j + 1))) visible.push(...resources);
        }
        all = [...list, ...visible];
      }
      if (all.length <= 1) continue;
      const names = all.map(fullName).sort().join(',');
      for (const r of all) {
        if (reported.has(fullName(r))) continue;
        reported.add(fullName(r));
        ctx.report(message('ConflictingMeshGatewayVirtualServiceHosts', r, CONFLICTING_MESH, names, key));
      }
    }
  },
};

const JWT_CLAIM = 'virtualservice.JWTClaimRouteAnalyzer';
const CLAIM_HEADER = '@request.auth.claims';

function isClaimHeader(name: string): boolean {
  if (!name.toLowerCase().startsWith(CLAIM_HEADER)) return false;
  const rest = name.slice(CLAIM_HEADER.length);
  return (rest.startsWith('.') && rest.length > 1) || (rest.startsWith('[') && rest.endsWith(']') && rest.length > 2);
}

function claimRouteKey(vs: VirtualServiceSpec): string {
  for (const http of vs.http ?? []) {
    for (const m of http.match ?? []) {
      for (const key of Object.keys(m.headers ?? {})) if (isClaimHeader(key)) return key;
      for (const key of Object.keys(m.withoutHeaders ?? {})) if (isClaimHeader(key)) return key;
    }
  }
  return '';
}

export const jwtClaimRouteAnalyzer: Analyzer = {
  name: JWT_CLAIM,
  description: 'Checks the VirtualService using JWT claim based routing has corresponding RequestAuthentication',
  analyze(ctx) {
    const byNamespace = new Map<string, (Record<string, string> | undefined)[]>();
    for (const r of ctx.all('RequestAuthentication')) {
      const ra = specOf<{ selector?: { matchLabels?: Record<string, string> } }>(r);
      byNamespace.set(r.namespace, [...(byNamespace.get(r.namespace) ?? []), ra.selector?.matchLabels]);
    }
    for (const r of ctx.all('VirtualService')) {
      const vs = specOf<VirtualServiceSpec>(r);
      const key = claimRouteKey(vs);
      if (!key) continue;
      for (const gwName of vs.gateways ?? []) {
        if (gwName === MESH_GATEWAY) continue;
        const gwRef = shortOrFullName(r.namespace, gwName);
        const gw = ctx.find('Gateway', gwRef.namespace, gwRef.name);
        if (!gw) continue;
        const selector = specOf<GatewaySpec>(gw).selector;
        for (const pod of ctx.all('Pod')) {
          if (!selects(selector, pod.labels)) continue;
          const selectors = [...(byNamespace.get(ctx.istioNamespace) ?? []), ...(byNamespace.get(pod.namespace) ?? [])];
          if (!selectors.some((s) => selects(s, pod.labels))) {
            ctx.report(message('JwtClaimBasedRoutingWithoutRequestAuthN', r, JWT_CLAIM, key, fullName(gwRef), pod.name));
          }
        }
      }
    }
  },
};

export const VIRTUAL_SERVICE_ANALYZERS: readonly Analyzer[] = [
  conflictingMeshGatewayHostsAnalyzer, destinationHostAnalyzer, destinationRuleAnalyzer, gatewayAnalyzer, jwtClaimRouteAnalyzer,
];
