import { createHash } from 'node:crypto';
import type { Kind } from '../config/kinds.js';
import type { ExtensionProvider } from '../config/mesh-config.js';
import type { ConfigStore, StoredObject } from '../config/store.js';
import type { AuthorizationPolicy, DestinationRule, PeerAuthentication, VirtualService } from '../config/schemas/index.js';
import { buildRegistry, endpointKey, type Registry } from './registry.js';
import type { MeshService, ServiceEndpoint, Workload } from './types.js';
import type { Proxy } from './proxy.js';
import { TelemetryIndex, type MeshTelemetry } from './telemetry.js';

export interface MeshConfig {
  /** `cluster.local`: services are `name.ns.svc.<domainSuffix>` */
  readonly domainSuffix: string;
  readonly trustDomain: string;
  /** mesh-wide config (DestinationRules, PeerAuthentication, AuthorizationPolicy) lives here */
  readonly rootNamespace: string;
  /**
   * Where sidecars send traffic for hosts outside the registry: ALLOW_ANY (default) → PassthroughCluster,
   * REGISTRY_ONLY → BlackHoleCluster / a 502 virtual host (MeshConfig.outboundTrafficPolicy.mode)
   */
  readonly outboundTrafficPolicy?: 'ALLOW_ANY' | 'REGISTRY_ONLY';
  /** trust domains also accepted as this mesh's (MeshConfig.trustDomainAliases): AuthorizationPolicy principals match under each */
  readonly trustDomainAliases?: readonly string[];
  /** MeshConfig.extensionProviders: ext_authz kinds for CUSTOM AuthorizationPolicy, the others for Telemetry */
  readonly extensionProviders?: readonly ExtensionProvider[];
  /** access logs, tracing and metrics defaults (model/telemetry.ts); absent: istiod's and Istio's chart's */
  readonly telemetry?: MeshTelemetry;
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

// Dependency tracking. While a generator runs under trackDependencies(), every lookup it makes through
// a PushContext records a key naming what it read; fingerprint(key) says what that read returns in a
// given snapshot. The encode cache keeps a resource across snapshots while every fingerprint it was
// built with is unchanged. Reads of whole collections record a coarse key covering the collection.

let recorder: Set<string> | undefined;

export function trackDependencies<T>(fn: () => T): { value: T; deps: string[] } {
  const previous = recorder;
  const deps = new Set<string>();
  recorder = deps;
  try {
    return { value: fn(), deps: [...deps] };
  } finally {
    recorder = previous;
  }
}

function dep(key: string): void {
  recorder?.add(key);
}

const SEP = '\u0000';

export interface PushContextOptions {
  /** where generators' warnings go (see warn()) */
  readonly onWarning?: (message: string) => void;
}

/**
 * One immutable view of the whole mesh, built once per push. Generators are pure functions of
 * (PushContext, Proxy, resource name) and never look anywhere else.
 */
export class PushContext {
  readonly version: string;
  readonly storeRevision: number;
  readonly mesh: MeshConfig;
  private readonly reg: Registry;
  private readonly vsList: readonly IndexedVirtualService[];
  private readonly drList: readonly IndexedDestinationRule[];
  private readonly paList: readonly StoredObject<'PeerAuthentication'>[];
  private readonly apList: readonly StoredObject<'AuthorizationPolicy'>[];
  private readonly telemetryIndex: TelemetryIndex;
  private readonly nsLabels: ReadonlyMap<string, Readonly<Record<string, string>>>;
  /** per kind: digest over every object's key and revision, the fingerprint of whole-collection reads */
  private readonly kindDigests = new Map<Kind, string>();
  private readonly fingerprints = new Map<string, string>();
  readonly builtAt: Date;
  /** mesh-gateway VirtualServices by exact host, and those with wildcard hosts; each in creation order */
  private readonly vsByHost = new Map<string, IndexedVirtualService[]>();
  private readonly wildcardVs: IndexedVirtualService[] = [];
  /** DestinationRules by namespace, then by exact host or wildcard; each in creation order */
  private readonly drIndex = new Map<string, { byHost: Map<string, IndexedDestinationRule[]>; wildcard: IndexedDestinationRule[] }>();

  /** digest of the mesh config: part of every fingerprint, so a mesh config change rebuilds everything */
  private readonly meshDigest: string;
  private readonly onWarning: ((message: string) => void) | undefined;

  constructor(store: ConfigStore, version: string, mesh: MeshConfig = DEFAULT_MESH_CONFIG, options: PushContextOptions = {}) {
    this.version = version;
    this.storeRevision = store.revision;
    this.mesh = mesh;
    this.meshDigest = createHash('sha1').update(JSON.stringify(mesh)).digest('base64url').slice(0, 12);
    this.onWarning = options.onWarning;
    this.builtAt = new Date();
    for (const kind of ['Service', 'EndpointSlice', 'Pod', 'Namespace', 'VirtualService', 'DestinationRule', 'PeerAuthentication', 'AuthorizationPolicy', 'Telemetry'] as const) {
      const h = createHash('sha1');
      for (const o of store.list(kind)) h.update(`${o.object.metadata.namespace ?? ''}/${o.object.metadata.name}@${o.revision};`);
      this.kindDigests.set(kind, h.digest('base64url'));
    }
    this.reg = buildRegistry({
      services: store.list('Service'),
      endpointSlices: store.list('EndpointSlice'),
      pods: store.list('Pod'),
      domainSuffix: mesh.domainSuffix,
    });
    this.vsList = store
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
    this.drList = store
      .list('DestinationRule')
      .map((s) => {
        const ns = s.object.metadata.namespace ?? 'default';
        return { config: s.object, namespace: ns, host: resolveHostname(s.object.spec.host, ns, mesh.domainSuffix), revision: s.revision };
      })
      .sort(byCreation);
    this.paList = store.list('PeerAuthentication');
    this.apList = store.list('AuthorizationPolicy');
    this.telemetryIndex = new TelemetryIndex(store.list('Telemetry'), mesh.rootNamespace);
    this.nsLabels = new Map(store.list('Namespace').map((n) => [n.object.metadata.name, n.object.metadata.labels ?? {}]));
    // Lookups run once per generated resource: index them so a push stays linear in the mesh size.
    for (const vs of this.vsList) {
      if (!vs.gateways.includes(MESH_GATEWAY)) continue;
      let wildcard = false;
      for (const h of new Set(vs.hosts)) {
        if (h.includes('*')) wildcard = true;
        else pushTo(this.vsByHost, h, vs);
      }
      if (wildcard) this.wildcardVs.push(vs);
    }
    for (const dr of this.drList) {
      let idx = this.drIndex.get(dr.namespace);
      if (!idx) this.drIndex.set(dr.namespace, (idx = { byHost: new Map(), wildcard: [] }));
      if (dr.host.includes('*')) idx.wildcard.push(dr);
      else pushTo(idx.byHost, dr.host, dr);
    }
  }

  // Whole-collection reads: tracked coarsely (any change to the kind invalidates what read them).
  get registry(): Registry {
    dep(`all${SEP}registry`);
    return this.reg;
  }
  get virtualServices(): readonly IndexedVirtualService[] {
    dep(`all${SEP}VirtualService`);
    return this.vsList;
  }
  get destinationRules(): readonly IndexedDestinationRule[] {
    dep(`all${SEP}DestinationRule`);
    return this.drList;
  }
  get peerAuthentications(): readonly StoredObject<'PeerAuthentication'>[] {
    dep(`all${SEP}PeerAuthentication`);
    return this.paList;
  }
  get authorizationPolicies(): readonly StoredObject<'AuthorizationPolicy'>[] {
    dep(`all${SEP}AuthorizationPolicy`);
    return this.apList;
  }
  get telemetries(): TelemetryIndex {
    dep(`all${SEP}Telemetry`);
    return this.telemetryIndex;
  }
  get namespaceLabels(): ReadonlyMap<string, Readonly<Record<string, string>>> {
    dep(`all${SEP}Namespace`);
    return this.nsLabels;
  }

  service(hostname: string): MeshService | undefined {
    dep(`svc${SEP}${hostname}`);
    return this.reg.servicesByHost.get(hostname);
  }

  endpoints(hostname: string, servicePort: number): readonly ServiceEndpoint[] {
    dep(`eps${SEP}${hostname}${SEP}${servicePort}`);
    return this.reg.endpoints.get(endpointKey(hostname, servicePort)) ?? [];
  }

  /** The pod behind a proxy: by pod name first, then by any of its IPs. */
  workloadOf(proxy: Proxy): Workload | undefined {
    dep(`wl${SEP}${proxy.namespace}/${proxy.podName}${SEP}${proxy.ips.join(',')}`);
    return this.findWorkload(`${proxy.namespace}/${proxy.podName}`, proxy.ips);
  }

  private findWorkload(name: string, ips: readonly string[]): Workload | undefined {
    return this.reg.workloadsByName.get(name)
      ?? ips.map((ip) => this.reg.workloadsByIp.get(ip)).find((w) => w !== undefined);
  }

  /**
   * What a dependency key reads in this snapshot, as a short string: equal fingerprints in two
   * snapshots mean every lookup behind the key returns the same thing. Memoised per snapshot.
   */
  fingerprint(key: string): string {
    let fp = this.fingerprints.get(key);
    if (fp === undefined) this.fingerprints.set(key, (fp = `${this.meshDigest}${SEP}${this.computeFingerprint(key)}`));
    return fp;
  }

  /**
   * Reports something a generator had to leave out or change about the user's config (a CUSTOM policy whose
   * provider is invalid, a rule that cannot apply): the daemon logs each distinct message once.
   */
  warn(message: string): void {
    this.onWarning?.(message);
  }

  private computeFingerprint(key: string): string {
    const [kind = '', a = '', b = ''] = key.split(SEP);
    const id = (o: { namespace: string; config: { metadata: { name: string } }; revision: number }) =>
      `${o.namespace}/${o.config.metadata.name}@${o.revision}`;
    switch (kind) {
      case 'svc':
        return String(this.reg.servicesByHost.get(a)?.revision ?? '-');
      case 'eps':
        return (this.reg.endpoints.get(endpointKey(a, Number(b))) ?? [])
          .map((e) => `${e.address}:${e.port}:${+e.ready}${+e.serving}${+e.terminating}:${e.locality.region}/${e.locality.zone}/${e.locality.subzone}:${e.workload?.revision ?? ''}`)
          .join(',');
      case 'wl':
        return String(this.findWorkload(a, b ? b.split(',') : [])?.revision ?? '-');
      case 'vs':
        return [...(this.vsByHost.get(a) ?? []), ...this.wildcardVs.filter((v) => v.hosts.some((h) => hostMatches(h, a)))].map(id).join(',');
      case 'dr': {
        const out: string[] = [];
        for (const idx of this.drIndex.values()) {
          for (const d of idx.byHost.get(a) ?? []) out.push(id(d));
          for (const d of idx.wildcard) if (hostMatches(d.host, a)) out.push(id(d));
        }
        return out.join(',');
      }
      case 'all':
        return a === 'registry'
          ? `${this.kindDigests.get('Service')}${this.kindDigests.get('Pod')}${this.kindDigests.get('EndpointSlice')}`
          : (this.kindDigests.get(a as Kind) ?? '-');
      default:
        throw new Error(`unknown dependency key ${JSON.stringify(key)}`);
    }
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
    dep(`vs${SEP}${hostname}`);
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
    dep(`dr${SEP}${hostname}`);
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
