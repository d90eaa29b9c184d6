import { createHash } from 'node:crypto';
import { GATEWAY_API_KINDS, type Kind } from '../config/kinds.js';
import { labelsMatch } from '../config/labels.js';
import { DEFAULT_MESH_CONFIG, type MeshConfig } from '../config/mesh-config.js';
import { ingressDerivedConfig } from './ingress.js';
import { gatewayApiDerivedConfig } from './gateway-api.js';
import type { StatusWrite } from '../config/gateway-api/objects.js';
import type { ConfigStore, StoredObject } from '../config/store.js';
import { secretKey, type CredentialSecret, type SecretSnapshot } from '../config/secrets.js';
import type { AuthorizationPolicy, DestinationRule, Gateway, PeerAuthentication, RequestAuthentication, VirtualService } from '../config/schemas/index.js';
import { buildRegistry, endpointKey, type Registry } from './registry.js';
import type { MeshService, ServiceEndpoint, Workload } from './types.js';
import type { Proxy } from './proxy.js';
import { TelemetryIndex } from './telemetry.js';
import { isViewProxy } from './proxy-view.js';

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

function byCreation<T extends { revision: number; namespace: string; config: { metadata: { name: string } } }>(a: T, b: T): number {
  return a.revision - b.revision || a.namespace.localeCompare(b.namespace) || a.config.metadata.name.localeCompare(b.config.metadata.name);
}

// Dependency tracking. While a generator runs under trackDependencies(), every lookup it makes through
// a PushContext records a Dependency naming what it read; fingerprint(dependency) says what that read
// returns in a given snapshot. The encode cache keeps a resource across snapshots while every
// fingerprint it was built with is unchanged. Reads of whole collections record a coarse dependency
// covering the collection; they are kept narrow (the service list does not change when a Pod does).

/** Kinds whose whole collection a generator can read (see the getters below). */
export type CollectionKind = 'VirtualService' | 'DestinationRule' | 'PeerAuthentication' | 'AuthorizationPolicy' | 'RequestAuthentication' | 'Gateway' | 'Telemetry' | 'Namespace' | 'Sidecar';

/** What one lookup through a PushContext read. */
export type Dependency =
  /** the service with this hostname (any field) */
  | { readonly kind: 'service'; readonly hostname: string }
  /** the endpoints of hostname:servicePort, with what they carry of their pods */
  | { readonly kind: 'endpoints'; readonly hostname: string; readonly port: number }
  /** only the identities (SPIFFE IDs) of the workloads behind hostname:servicePort */
  | { readonly kind: 'serviceAccounts'; readonly hostname: string; readonly port: number }
  /** the workload behind a proxy: by pod name, then by IP */
  | { readonly kind: 'workload'; readonly name: string; readonly ips: readonly string[] }
  /** the mesh-gateway VirtualServices that can route this hostname */
  | { readonly kind: 'virtualServices'; readonly hostname: string }
  /** the DestinationRules that can apply to this hostname, in any namespace */
  | { readonly kind: 'destinationRules'; readonly hostname: string }
  /** every Service (the list, each one's fields), not their endpoints or pods */
  | { readonly kind: 'services' }
  /** the Services of one namespace */
  | { readonly kind: 'servicesIn'; readonly namespace: string }
  /** the whole registry — services, endpoints and pods (only code outside the generators reads it) */
  | { readonly kind: 'registry' }
  | { readonly kind: 'collection'; readonly of: CollectionKind }
  /** the JWKS meshd fetched for a jwtRule source (issuer + jwksUri) */
  | { readonly kind: 'jwks'; readonly source: string }
  /** one credential Secret (gateway credentialName), by namespace and name */
  | { readonly kind: 'secret'; readonly namespace: string; readonly name: string }
  /** the mesh config: every generation reads it (see trackDependencies) */
  | { readonly kind: 'mesh' };

/** A Dependency as a string, unique per dependency: what the recorder and the cache key by. */
export function dependencyId(d: Dependency): string {
  switch (d.kind) {
    case 'service':
    case 'virtualServices':
    case 'destinationRules':
      return `${d.kind}${SEP}${d.hostname}`;
    case 'endpoints':
    case 'serviceAccounts':
      return `${d.kind}${SEP}${d.hostname}${SEP}${d.port}`;
    case 'workload':
      return `workload${SEP}${d.name}${SEP}${d.ips.join(',')}`;
    case 'servicesIn':
      return `servicesIn${SEP}${d.namespace}`;
    case 'collection':
      return `collection${SEP}${d.of}`;
    case 'jwks':
      return `jwks${SEP}${d.source}`;
    case 'secret':
      return `secret${SEP}${d.namespace}${SEP}${d.name}`;
    case 'services':
    case 'registry':
    case 'mesh':
      return d.kind;
  }
}

let recorder: Map<string, Dependency> | undefined;

const MESH: Dependency = Object.freeze({ kind: 'mesh' });

/**
 * Runs `fn`, recording what it reads through a PushContext. Every generation depends on the mesh config
 * (generators read `ctx.mesh` directly), so that is always among the dependencies: a resource that
 * reads nothing else is still rebuilt when the mesh config changes.
 */
export function trackDependencies<T>(fn: () => T): { value: T; deps: Dependency[] } {
  const previous = recorder;
  const deps = new Map<string, Dependency>([[dependencyId(MESH), MESH]]);
  recorder = deps;
  try {
    return { value: fn(), deps: [...deps.values()] };
  } finally {
    recorder = previous;
  }
}

/**
 * Records `deps` as read by whatever generation is being tracked now: for a part reused from an earlier
 * build (dependency-memo.ts), whose reads must still count for the resource it goes into.
 */
export function recordDependencies(deps: readonly Dependency[]): void {
  for (const d of deps) dep(d);
}

function dep(d: Dependency): void {
  if (recorder) {
    const id = dependencyId(d);
    if (!recorder.has(id)) recorder.set(id, d);
  }
}

const SEP = '\u0000';

/**
 * A function of the snapshot alone, computed at most once per snapshot (memoised on the PushContext):
 * for facts generators and cache keys derive from whole collections.
 */
export function perSnapshot<T>(compute: (ctx: PushContext) => T): (ctx: PushContext) => T {
  const memo = new WeakMap<PushContext, { readonly value: T }>();
  return (ctx) => {
    let m = memo.get(ctx);
    if (!m) memo.set(ctx, (m = { value: compute(ctx) }));
    return m.value;
  };
}

/**
 * What a warning is about, when it is more than a log line: a gateway credential that cannot be served
 * (counted as istiod's pilot_sds_certificate_errors_total; with `gateway` = `namespace/name`, reported on
 * that Gateway's status).
 */
export interface WarningSubject {
  readonly kind: 'credential';
  readonly gateway?: string;
}

export interface PushContextOptions {
  /** where generators' warnings go (see warn()) */
  readonly onWarning?: (message: string, about?: WarningSubject) => void;
  /**
   * JWKS fetched for RequestAuthentication jwtRules (security/jwt/jwks-resolver.ts), by jwksSourceKey():
   * data like any other source's, so a fetch or a refresh that changes keys is a new snapshot
   */
  readonly jwks?: ReadonlyMap<string, string>;
  /**
   * the credential Secrets gateways name (config/secrets.ts), as of this snapshot; undefined when meshd has
   * no Secret source at all (config-dir mode without --config-dir-secrets)
   */
  readonly secrets?: SecretSnapshot;
}

/** The key of a fetched JWKS: its issuer and jwksUri (empty: found by OpenID discovery from the issuer). */
export function jwksSourceKey(issuer: string, jwksUri: string): string {
  return `${issuer}\u0000${jwksUri}`;
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
  private readonly gwList: readonly Gateway[];
  /** the status the Gateway API conversion computed for each Gateway API object (written back in Kubernetes mode) */
  readonly gatewayApiStatuses: readonly StatusWrite[];
  private readonly raList: readonly StoredObject<'RequestAuthentication'>[];
  private readonly sidecarList: readonly StoredObject<'Sidecar'>[];
  private readonly jwksKeys: ReadonlyMap<string, string>;
  private readonly secretMap: SecretSnapshot | undefined;
  private readonly nsLabels: ReadonlyMap<string, Readonly<Record<string, string>>>;
  /** per kind: digest over every object's key and revision, the fingerprint of whole-collection reads */
  private readonly kindDigests = new Map<Kind, string>();
  private readonly fingerprints = new Map<string, string>();
  /** serviceAccounts() by endpoint key, memoised */
  private readonly identities = new Map<string, readonly string[]>();
  readonly builtAt: Date;
  /** mesh-gateway VirtualServices by exact host, and those with wildcard hosts; each in creation order */
  private readonly vsByHost = new Map<string, IndexedVirtualService[]>();
  private readonly wildcardVs: IndexedVirtualService[] = [];
  /** DestinationRules by namespace, then by exact host or wildcard; each in creation order */
  private readonly drIndex = new Map<string, { byHost: Map<string, IndexedDestinationRule[]>; wildcard: IndexedDestinationRule[] }>();

  /** digest of the mesh config: part of every fingerprint, so a mesh config change rebuilds everything */
  private readonly meshDigest: string;
  private readonly onWarning: ((message: string, about?: WarningSubject) => void) | undefined;

  constructor(store: ConfigStore, version: string, mesh: MeshConfig = DEFAULT_MESH_CONFIG, options: PushContextOptions = {}) {
    this.version = version;
    this.storeRevision = store.revision;
    this.mesh = mesh;
    this.meshDigest = createHash('sha1').update(JSON.stringify(mesh)).digest('base64url').slice(0, 12);
    this.onWarning = options.onWarning;
    this.builtAt = new Date();
    for (const kind of ['Service', 'EndpointSlice', 'Pod', 'Namespace', 'VirtualService', 'DestinationRule', 'PeerAuthentication', 'AuthorizationPolicy', 'RequestAuthentication', 'ServiceEntry', 'WorkloadEntry', 'Gateway', 'Sidecar', 'Telemetry', 'Ingress', 'IngressClass', ...GATEWAY_API_KINDS] as const) {
      const h = createHash('sha1');
      for (const o of store.list(kind)) h.update(`${o.object.metadata.namespace ?? ''}/${o.object.metadata.name}@${o.revision};`);
      this.kindDigests.set(kind, h.digest('base64url'));
    }
    this.reg = buildRegistry({
      services: store.list('Service'),
      endpointSlices: store.list('EndpointSlice'),
      pods: store.list('Pod'),
      serviceEntries: store.list('ServiceEntry'),
      workloadEntries: store.list('WorkloadEntry'),
      domainSuffix: mesh.domainSuffix,
    });
    // Kubernetes Ingresses as the Gateways and VirtualServices istiod converts them to (model/ingress.ts):
    // read like the user's own, so their collections' digests cover the Ingresses (and the Services whose
    // named ports they resolve) too
    const fromIngress = ingressDerivedConfig(store.list('Ingress'), store.list('IngressClass'), this.reg.services, mesh, options.onWarning);
    if (store.list('Ingress').length > 0) {
      const ingressDigest = `${this.kindDigests.get('Ingress')}${this.kindDigests.get('IngressClass')}${this.kindDigests.get('Service')}`;
      for (const kind of ['Gateway', 'VirtualService'] as const) this.kindDigests.set(kind, `${this.kindDigests.get(kind)}+${ingressDigest}`);
    }
    // Gateway API objects likewise (model/gateway-api.ts): their Gateways/VirtualServices depend on the Gateway
    // API objects, the registry (ports, endpoints of the gateway Services) and the Secrets certificateRefs name
    const gatewayApiObjects = GATEWAY_API_KINDS.flatMap((k) => store.list(k) as readonly StoredObject[]);
    const fromGatewayApi = gatewayApiDerivedConfig(gatewayApiObjects, this.reg.services, this.reg.endpoints, mesh, options.secrets);
    this.gatewayApiStatuses = fromGatewayApi.statuses;
    if (gatewayApiObjects.length > 0) {
      const secrets = createHash('sha1');
      for (const s of options.secrets?.values() ?? []) secrets.update(`${s.namespace}/${s.name}@${s.digest};`);
      const gatewayApiDigest = `${GATEWAY_API_KINDS.map((k) => this.kindDigests.get(k)).join('')}${this.kindDigests.get('Service')}${this.kindDigests.get('EndpointSlice')}${this.kindDigests.get('Pod')}${secrets.digest('base64url')}`;
      for (const kind of ['Gateway', 'VirtualService'] as const) this.kindDigests.set(kind, `${this.kindDigests.get(kind)}+${gatewayApiDigest}`);
    }
    this.vsList = [...store.list('VirtualService').map((s) => ({ config: s.object, revision: s.revision })), ...fromIngress.virtualServices, ...fromGatewayApi.virtualServices]
      .map((s) => {
        const ns = s.config.metadata.namespace ?? 'default';
        const spec = s.config.spec;
        return {
          config: s.config,
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
    this.gwList = [...store.list('Gateway').map((g) => g.object), ...fromIngress.gateways, ...fromGatewayApi.gateways];
    this.raList = [...store.list('RequestAuthentication')].sort((a, b) => a.revision - b.revision);
    this.sidecarList = [...store.list('Sidecar')].sort((a, b) => a.revision - b.revision);
    this.jwksKeys = options.jwks ?? new Map();
    this.secretMap = options.secrets;
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

  // Whole-collection reads: tracked coarsely (any change to the collection invalidates what read them).
  /** The whole registry, for code outside the generators (counts, summaries): depends on every Pod too. */
  get registry(): Registry {
    dep({ kind: 'registry' });
    return this.reg;
  }
  /** Every service, sorted by hostname. */
  get services(): readonly MeshService[] {
    dep({ kind: 'services' });
    return this.reg.services;
  }
  /** The services of one namespace, sorted by hostname. */
  servicesIn(namespace: string): readonly MeshService[] {
    dep({ kind: 'servicesIn', namespace });
    return this.reg.servicesByNamespace.get(namespace) ?? [];
  }
  get virtualServices(): readonly IndexedVirtualService[] {
    dep({ kind: 'collection', of: 'VirtualService' });
    return this.vsList;
  }
  get destinationRules(): readonly IndexedDestinationRule[] {
    dep({ kind: 'collection', of: 'DestinationRule' });
    return this.drList;
  }
  get peerAuthentications(): readonly StoredObject<'PeerAuthentication'>[] {
    dep({ kind: 'collection', of: 'PeerAuthentication' });
    return this.paList;
  }
  get authorizationPolicies(): readonly StoredObject<'AuthorizationPolicy'>[] {
    dep({ kind: 'collection', of: 'AuthorizationPolicy' });
    return this.apList;
  }
  get telemetries(): TelemetryIndex {
    dep({ kind: 'collection', of: 'Telemetry' });
    return this.telemetryIndex;
  }
  /** Sidecar resources, oldest first (istiod picks the oldest when several apply). */
  get sidecars(): readonly StoredObject<'Sidecar'>[] {
    dep({ kind: 'collection', of: 'Sidecar' });
    return this.sidecarList;
  }
  get gateways(): readonly Gateway[] {
    dep({ kind: 'collection', of: 'Gateway' });
    return this.gwList;
  }
  get requestAuthentications(): readonly StoredObject<'RequestAuthentication'>[] {
    dep({ kind: 'collection', of: 'RequestAuthentication' });
    return this.raList;
  }

  /** The fetched JWKS of a jwtRule without inline `jwks` (undefined: not fetched yet, or the fetch failed). */
  jwks(issuer: string, jwksUri: string): string | undefined {
    const key = jwksSourceKey(issuer, jwksUri);
    dep({ kind: 'jwks', source: key });
    return this.jwksKeys.get(key);
  }

  /** whether this snapshot knows the cluster's Secrets (else credential references cannot be checked) */
  get hasSecretSource(): boolean {
    return this.secretMap !== undefined;
  }

  /** A credential Secret (gateway `credentialName`), or undefined when it does not exist. */
  secret(namespace: string, name: string): CredentialSecret | undefined {
    dep({ kind: 'secret', namespace, name });
    return this.secretMap?.get(secretKey(namespace, name));
  }

  get namespaceLabels(): ReadonlyMap<string, Readonly<Record<string, string>>> {
    dep({ kind: 'collection', of: 'Namespace' });
    return this.nsLabels;
  }

  service(hostname: string): MeshService | undefined {
    dep({ kind: 'service', hostname });
    return this.reg.servicesByHost.get(hostname);
  }

  endpoints(hostname: string, servicePort: number): readonly ServiceEndpoint[] {
    dep({ kind: 'endpoints', hostname, port: servicePort });
    return this.reg.endpoints.get(endpointKey(hostname, servicePort)) ?? [];
  }

  /**
   * SPIFFE identities of the workloads behind hostname:servicePort, sorted (SAN matching): a read of its
   * own, so a new Pod under an identity already there changes no cluster.
   */
  serviceAccounts(hostname: string, servicePort: number): readonly string[] {
    dep({ kind: 'serviceAccounts', hostname, port: servicePort });
    return this.identitiesBehind(hostname, servicePort);
  }

  private identitiesBehind(hostname: string, servicePort: number): readonly string[] {
    const key = endpointKey(hostname, servicePort);
    let ids = this.identities.get(key);
    if (!ids) {
      const out = new Set<string>();
      for (const ep of this.reg.endpoints.get(key) ?? []) {
        const w = ep.workload;
        if (w) out.add(`spiffe://${this.mesh.trustDomain}/ns/${w.namespace}/sa/${w.serviceAccount}`);
      }
      this.identities.set(key, (ids = [...out].sort()));
    }
    return ids;
  }

  /** The pod behind a proxy: by pod name first, then by any of its IPs. A view proxy has none. */
  workloadOf(proxy: Proxy): Workload | undefined {
    if (isViewProxy(proxy)) return undefined;
    const name = `${proxy.namespace}/${proxy.podName}`;
    dep({ kind: 'workload', name, ips: proxy.ips });
    return this.findWorkload(name, proxy.ips);
  }

  private findWorkload(name: string, ips: readonly string[]): Workload | undefined {
    return this.reg.workloadsByName.get(name)
      ?? ips.map((ip) => this.reg.workloadsByIp.get(ip)).find((w) => w !== undefined);
  }

  /**
   * What a dependency reads in this snapshot, as a short string: equal fingerprints in two
   * snapshots mean every lookup behind it returns the same thing. Memoised per snapshot.
   */
  fingerprint(d: Dependency): string {
    const id = dependencyId(d);
    let fp = this.fingerprints.get(id);
    if (fp === undefined) this.fingerprints.set(id, (fp = `${this.meshDigest}${SEP}${this.computeFingerprint(d)}`));
    return fp;
  }

  /**
   * Reports something a generator had to leave out or change about the user's config (a CUSTOM policy whose
   * provider is invalid, a rule that cannot apply): the daemon logs each distinct message once.
   */
  warn(message: string, about?: WarningSubject): void {
    this.onWarning?.(message, about);
  }

  private computeFingerprint(d: Dependency): string {
    const id = (o: { namespace: string; config: { metadata: { name: string } }; revision: number }) =>
      `${o.namespace}/${o.config.metadata.name}@${o.revision}`;
    switch (d.kind) {
      case 'service':
        return String(this.reg.servicesByHost.get(d.hostname)?.revision ?? '-');
      case 'endpoints':
        return (this.reg.endpoints.get(endpointKey(d.hostname, d.port)) ?? [])
          .map((e) => `${e.address}:${e.port}:${+e.ready}${+e.serving}${+e.terminating}:${e.locality.region}/${e.locality.zone}/${e.locality.subzone}:${e.workload?.revision ?? ''}`)
          .join(',');
      case 'serviceAccounts':
        return this.identitiesBehind(d.hostname, d.port).join(',');
      case 'workload':
        return String(this.findWorkload(d.name, d.ips)?.revision ?? '-');
      case 'virtualServices':
        return [...(this.vsByHost.get(d.hostname) ?? []), ...this.wildcardVs.filter((v) => v.hosts.some((h) => hostMatches(h, d.hostname)))].map(id).join(',');
      case 'destinationRules': {
        const out: string[] = [];
        for (const idx of this.drIndex.values()) {
          for (const r of idx.byHost.get(d.hostname) ?? []) out.push(id(r));
          for (const r of idx.wildcard) if (hostMatches(r.host, d.hostname)) out.push(id(r));
        }
        return out.join(',');
      }
      case 'services':
        return `${this.kindDigests.get('Service') ?? '-'}${this.kindDigests.get('ServiceEntry') ?? '-'}`;
      case 'servicesIn':
        return (this.reg.servicesByNamespace.get(d.namespace) ?? []).map((s) => `${s.name}@${s.revision}`).join(',');
      case 'registry':
        return `${this.kindDigests.get('Service')}${this.kindDigests.get('Pod')}${this.kindDigests.get('EndpointSlice')}${this.kindDigests.get('ServiceEntry')}${this.kindDigests.get('WorkloadEntry')}`;
      case 'collection':
        return this.kindDigests.get(d.of) ?? '-';
      case 'jwks': {
        const body = this.jwksKeys.get(d.source);
        return body === undefined ? '-' : createHash('sha1').update(body).digest('base64url');
      }
      case 'secret':
        return this.secretMap?.get(secretKey(d.namespace, d.name))?.digest ?? '-';
      case 'mesh':
        // every fingerprint carries the mesh config's digest (see fingerprint)
        return '';
    }
  }

  /** Labels used for `sourceLabels` matches and workload selectors: node metadata, else the pod's. */
  proxyLabels(proxy: Proxy): Readonly<Record<string, string>> {
    if (isViewProxy(proxy)) return proxy.labels;
    return Object.keys(proxy.labels).length > 0 ? proxy.labels : (this.workloadOf(proxy)?.labels ?? {});
  }

  /**
   * The VirtualService that routes `hostname` for sidecars/proxyless clients in `proxyNamespace`
   * (gateway `mesh`, visible by exportTo). An exact host beats a wildcard; then the oldest wins, as in Istio.
   */
  virtualServiceFor(proxyNamespace: string, hostname: string): IndexedVirtualService | undefined {
    dep({ kind: 'virtualServices', hostname });
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
    dep({ kind: 'destinationRules', hostname });
    const svcNamespace = this.service(hostname)?.namespace;
    const order = [proxyNamespace, svcNamespace, this.mesh.rootNamespace].filter((n): n is string => !!n);
    const pick = (ns: string, selected: boolean): IndexedDestinationRule | undefined => {
      const idx = this.drIndex.get(ns);
      if (!idx) return undefined;
      const applies = (dr: IndexedDestinationRule) => {
        const selector = dr.config.spec.workloadSelector?.matchLabels;
        if (selected !== (selector !== undefined)) return false;
        if (selector && (ns !== proxyNamespace || !labelsMatch(selector, proxyLabels, 'selects-all'))) return false;
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

  /** RequestAuthentications of `namespace`, oldest first. */
  requestAuthenticationsIn(namespace: string): readonly RequestAuthentication[] {
    return this.requestAuthentications.filter((p) => (p.object.metadata.namespace ?? 'default') === namespace).map((p) => p.object);
  }
}
