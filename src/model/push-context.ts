import type { ConfigStore, StoredObject } from '../config/store.js';
import type { AuthorizationPolicy, DestinationRule, PeerAuthentication, VirtualService } from '../config/schemas/index.js';
import { buildRegistry, endpointKey, type Registry } from './registry.js';
import type { MeshService, ServiceEndpoint, Workload } from './types.js';
import type { Proxy } from './proxy.js';

export interface MeshConfig {
  /** `cluster.local`: services are `name.ns.svc.<domainSuffix>` */
  readonly domainSuffix: string;
  readonly trustDomain: string;
  /** mesh-wide config (DestinationRules, PeerAuthentication, AuthorizationPolicy) lives here */
  readonly rootNamespace: string;
}

export const DEFAULT_MESH_CONFIG: MeshConfig = Object.freeze({
  domainSuffix: 'cluster.local',
  trustDomain: 'cluster.local',
  rootNamespace: 'istio-system',
});

export interface IndexedVirtualService {
  readonly config: VirtualService;
  readonly namespace: string;
  /** spec.hosts resolved to FQDNs relative to the VirtualService's namespace */
  readonly hosts: readonly string[];
  readonly gateways: readonly string[];
  readonly revision: number;
}

export interface IndexedDestinationRule {
  readonly config: DestinationRule;
  readonly namespace: string;
  readonly host: string;
  readonly revision: number;
}

const MESH_GATEWAY = 'mesh';

/** Istio: a name without dots is short for `name.<namespace>.svc.<domain>`; wildcards and FQDNs stay. */
export function resolveHostname(host: string, namespace: string, domainSuffix: string): string {
  if (host === '*' || host.startsWith('*') || host.includes('.')) return host;
  return `${host}.${namespace}.svc.${domainSuffix}`;
}

/** `*.example.com` matches `a.example.com` and `a.b.example.com`; `*` matches everything. */
export function hostMatches(pattern: string, hostname: string): boolean {
  if (pattern === hostname || pattern === '*') return true;
  if (pattern.startsWith('*.')) return hostname.endsWith(pattern.slice(1));
  if (pattern.startsWith('*')) return hostname.endsWith(pattern.slice(1));
  return false;
}

function visibleFrom(exportTo: readonly string[] | undefined, ownNamespace: string, proxyNamespace: string): boolean {
  if (!exportTo || exportTo.length === 0) return true;
  return exportTo.some((e) => e === '*' || (e === '.' && ownNamespace === proxyNamespace) || e === proxyNamespace);
}

function pushTo<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

function labelsMatch(selector: Readonly<Record<string, string>>, labels: Readonly<Record<string, string>>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

function byCreation<T extends { revision: number; namespace: string; config: { metadata: { name: string } } }>(a: T, b: T): number {
  return a.revision - b.revision || a.namespace.localeCompare(b.namespace) || a.config.metadata.name.localeCompare(b.config.metadata.name);
}

/**
 * One immutable view of the whole mesh, built once per push. Generators are pure functions of
 * (PushContext, Proxy, resource name) and never look anywhere else.
 */
export class PushContext {
  readonly version: string;
  readonly storeRevision: number;
  readonly mesh: MeshConfig;
  readonly registry: Registry;
  readonly virtualServices: readonly IndexedVirtualService[];
  readonly destinationRules: readonly IndexedDestinationRule[];
  readonly peerAuthentications: readonly StoredObject<'PeerAuthentication'>[];
  readonly authorizationPolicies: readonly StoredObject<'AuthorizationPolicy'>[];
  readonly namespaceLabels: ReadonlyMap<string, Readonly<Record<string, string>>>;
  readonly builtAt: Date;
  /** mesh-gateway VirtualServices by exact host, and those with wildcard hosts; each in creation order */
  private readonly vsByHost = new Map<string, IndexedVirtualService[]>();
  private readonly wildcardVs: IndexedVirtualService[] = [];
  /** DestinationRules by namespace, then by exact host or wildcard; each in creation order */
  private readonly drIndex = new Map<string, { byHost: Map<string, IndexedDestinationRule[]>; wildcard: IndexedDestinationRule[] }>();

  constructor(store: ConfigStore, version: string, mesh: MeshConfig = DEFAULT_MESH_CONFIG) {
    this.version = version;
    this.storeRevision = store.revision;
    this.mesh = mesh;
    this.builtAt = new Date();
    this.registry = buildRegistry({
      services: store.list('Service'),
      endpointSlices: store.list('EndpointSlice'),
      pods: store.list('Pod'),
      domainSuffix: mesh.domainSuffix,
    });
    this.virtualServices = store
      .list('VirtualService')
      .map((s) => {
        const ns = s.object.metadata.namespace ?? 'default';
        const spec = s.object.spec;
        return {
          config: s.object,
          namespace: ns,
          hosts: (spec.hosts ?? []).map((h) => resolveHostname(h, ns, mesh.domainSuffix)),
          gateways: spec.gateways && spec.gateways.length > 0 ? spec.gateways : [MESH_GATEWAY],
          revision: s.revision,
        };
      })
      .sort(byCreation);
    this.destinationRules = store
      .list('DestinationRule')
      .map((s) => {
        const ns = s.object.metadata.namespace ?? 'default';
        return { config: s.object, namespace: ns, host: resolveHostname(s.object.spec.host, ns, mesh.domainSuffix), revision: s.revision };
      })
      .sort(byCreation);
    this.peerAuthentications = store.list('PeerAuthentication');
    this.authorizationPolicies = store.list('AuthorizationPolicy');
    this.namespaceLabels = new Map(store.list('Namespace').map((n) => [n.object.metadata.name, n.object.metadata.labels ?? {}]));
    // Lookups run once per generated resource: index them so a push stays linear in the mesh size.
    for (const vs of this.virtualServices) {
      if (!vs.gateways.includes(MESH_GATEWAY)) continue;
      let wildcard = false;
      for (const h of new Set(vs.hosts)) {
        if (h.includes('*')) wildcard = true;
        else pushTo(this.vsByHost, h, vs);
      }
      if (wildcard) this.wildcardVs.push(vs);
    }
    for (const dr of this.destinationRules) {
      let idx = this.drIndex.get(dr.namespace);
      if (!idx) this.drIndex.set(dr.namespace, (idx = { byHost: new Map(), wildcard: [] }));
      if (dr.host.includes('*')) idx.wildcard.push(dr);
      else pushTo(idx.byHost, dr.host, dr);
    }
  }

  service(hostname: string): MeshService | undefined {
    return this.registry.servicesByHost.get(hostname);
  }

  endpoints(hostname: string, servicePort: number): readonly ServiceEndpoint[] {
    return this.registry.endpoints.get(endpointKey(hostname, servicePort)) ?? [];
  }

  /** The pod behind a proxy: by pod name first, then by any of its IPs. */
  workloadOf(proxy: Proxy): Workload | undefined {
    return this.registry.workloadsByName.get(`${proxy.namespace}/${proxy.podName}`)
      ?? proxy.ips.map((ip) => this.registry.workloadsByIp.get(ip)).find((w) => w !== undefined);
  }

  /** Labels used for `sourceLabels` matches and workload selectors: node metadata, else the pod's. */
  proxyLabels(proxy: Proxy): Readonly<Record<string, string>> {
    return Object.keys(proxy.labels).length > 0 ? proxy.labels : (this.workloadOf(proxy)?.labels ?? {});
  }

  /**
   * The VirtualService that routes `hostname` for sidecars/proxyless clients in `proxyNamespace`
   * (gateway `mesh`, visible by exportTo). An exact host beats a wildcard; then the oldest wins, as in Istio.
   */
  virtualServiceFor(proxyNamespace: string, hostname: string): IndexedVirtualService | undefined {
    const visible = (vs: IndexedVirtualService) => visibleFrom(vs.config.spec.exportTo, vs.namespace, proxyNamespace);
    return this.vsByHost.get(hostname)?.find(visible)
      ?? this.wildcardVs.find((vs) => visible(vs) && vs.hosts.some((h) => hostMatches(h, hostname)));
  }

  /**
   * Istio's DestinationRule lookup: the proxy's own namespace, then the service's namespace, then the
   * root namespace; within each an exact host beats a wildcard, and the oldest wins. A rule with a
   * `workloadSelector` applies only to matching workloads in its own namespace, and there it beats a
   * rule without one.
   */
  destinationRuleFor(
    proxyNamespace: string,
    hostname: string,
    proxyLabels: Readonly<Record<string, string>> = {},
  ): IndexedDestinationRule | undefined {
    const svcNamespace = this.service(hostname)?.namespace;
    const order = [proxyNamespace, svcNamespace, this.mesh.rootNamespace].filter((n): n is string => !!n);
    const pick = (ns: string, selected: boolean): IndexedDestinationRule | undefined => {
      const idx = this.drIndex.get(ns);
      if (!idx) return undefined;
      const applies = (dr: IndexedDestinationRule) => {
        const selector = dr.config.spec.workloadSelector?.matchLabels;
        if (selected !== (selector !== undefined)) return false;
        if (selector && (ns !== proxyNamespace || !labelsMatch(selector, proxyLabels))) return false;
        return visibleFrom(dr.config.spec.exportTo, dr.namespace, proxyNamespace);
      };
      return idx.byHost.get(hostname)?.find(applies) ?? idx.wildcard.find((dr) => applies(dr) && hostMatches(dr.host, hostname));
    };
    for (const ns of [...new Set(order)]) {
      const found = (ns === proxyNamespace ? pick(ns, true) : undefined) ?? pick(ns, false);
      if (found) return found;
    }
    return undefined;
  }

  peerAuthenticationsIn(namespace: string): readonly PeerAuthentication[] {
    return this.peerAuthentications.filter((p) => p.object.metadata.namespace === namespace).map((p) => p.object);
  }

  authorizationPoliciesIn(namespace: string): readonly AuthorizationPolicy[] {
    return this.authorizationPolicies.filter((p) => p.object.metadata.namespace === namespace).map((p) => p.object);
  }
}
