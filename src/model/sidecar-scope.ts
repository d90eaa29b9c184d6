import { labelsMatch } from '../config/labels.js';
import type { IstioEgressListener, Sidecar } from '../config/schemas/sidecar.js';
import type { VirtualServiceSpec } from '../config/schemas/virtual-service.js';
import { resolveHostname, type IndexedVirtualService, type PushContext } from './push-context.js';
import type { Proxy } from './proxy.js';
import type { MeshService } from './types.js';

// The Sidecar resource that scopes a proxy, as istiod picks it: in the proxy's namespace the oldest
// Sidecar whose workloadSelector matches the proxy's labels, else the oldest one there without a selector
// (the namespace default), else the oldest selector-less Sidecar of the root namespace (the mesh-wide
// default); none means the proxy sees every service its namespace may see (exportTo).
//
// Egress scoping: a service is visible when some egress listener lists a host `NS/DNSNAME` that matches it:
// NS `*` any namespace, `.` the proxy's namespace (also for the mesh-wide default), `~` none, else that
// namespace; DNSNAME `*`, a `*.suffix` wildcard, or the exact host. Which service ports a proxy has clusters
// for is the union over its egress listeners (a port-specific one imports only its port: egressAllowsPort);
// listeners and routes are per egress listener (istiod
// SidecarScope.EgressListeners): one with a `port` sees only its hosts' services that have that port, and
// the catch-all (no port) fills the ports the port-specific ones left (sidecar/outbound.ts, rds.ts).
// Clusters and endpoints also cover the destinations of the VirtualServices the egress listeners select
// (virtualServiceImports), as istiod's SidecarScope adds them.

export function sidecarFor(ctx: PushContext, proxy: Proxy): Sidecar | undefined {
  const sidecars = ctx.sidecars;
  if (sidecars.length === 0) return undefined;
  const labels = ctx.proxyLabels(proxy);
  const inNs = sidecars.filter((s) => (s.object.metadata.namespace ?? 'default') === proxy.namespace);
  const selected = inNs.find((s) => {
    const sel = s.object.spec.workloadSelector?.labels;
    return sel !== undefined && Object.keys(sel).length > 0 && labelsMatch(sel, labels, 'selects-all');
  });
  if (selected) return selected.object;
  const nsDefault = inNs.find((s) => !s.object.spec.workloadSelector?.labels || Object.keys(s.object.spec.workloadSelector.labels).length === 0);
  if (nsDefault) return nsDefault.object;
  const root = ctx.mesh.rootNamespace;
  return sidecars.find((s) => (s.object.metadata.namespace ?? 'default') === root && !s.object.spec.workloadSelector)?.object;
}

function hostMatches(pattern: string, host: string): boolean {
  if (pattern === '*') return true;
  if (pattern.startsWith('*')) return host.endsWith(pattern.slice(1));
  return pattern === host;
}

/**
 * Whether one egress listener's hosts let a proxy of `proxyNamespace` see `service` (any port) — or a
 * VirtualService host, given the VirtualService's namespace.
 */
export function egressListenerAllows(listener: IstioEgressListener, proxyNamespace: string, service: Pick<MeshService, 'namespace' | 'hostname'>): boolean {
  for (const entry of listener.hosts) {
    const slash = entry.indexOf('/');
    if (slash < 0) continue;
    const ns = entry.slice(0, slash);
    const host = entry.slice(slash + 1);
    if (ns === '~') continue;
    const nsOk = ns === '*' || (ns === '.' ? service.namespace === proxyNamespace : service.namespace === ns);
    if (nsOk && hostMatches(host, service.hostname)) return true;
  }
  return false;
}

/** Whether the Sidecar's egress hosts let a proxy of `proxyNamespace` see `service` on some port. */
export function egressAllows(sidecar: Sidecar, proxyNamespace: string, service: MeshService): boolean {
  const egress = sidecar.spec.egress;
  if (!egress || egress.length === 0) return true; // no egress section: the default (everything visible)
  return egress.some((listener) => egressListenerAllows(listener, proxyNamespace, service));
}

/**
 * Whether the Sidecar imports `service` with port `port` (istiod SidecarScope services: a port-specific
 * egress listener imports a service trimmed to its port, the catch-all — and an HTTP_PROXY one — whole;
 * the union over listeners). Decides which outbound clusters and load assignments the proxy gets.
 */
export function egressAllowsPort(sidecar: Sidecar, proxyNamespace: string, service: MeshService, port: number): boolean {
  const egress = sidecar.spec.egress;
  if (!egress || egress.length === 0) return true;
  return egress.some((l) => egressListenerAllows(l, proxyNamespace, service)
    && (!l.port?.number || l.port.number === port || isHttpProxyEgress(l)));
}

export const UNIX_ADDRESS_PREFIX = 'unix://';

/** An egress listener with no port: it builds every port the port-specific ones before it did not (istiod Port == nil). */
export function isCatchAllEgress(listener: IstioEgressListener): boolean {
  return !listener.port || (!listener.port.number && !listener.bind?.startsWith(UNIX_ADDRESS_PREFIX));
}

/** `port.protocol: HTTP_PROXY`: a generic egress HTTP proxy for every imported service port (istiod needsPortMatch false). */
export function isHttpProxyEgress(listener: IstioEgressListener): boolean {
  return (listener.port?.protocol ?? '').toLowerCase() === 'http_proxy';
}

/**
 * The egress listener whose services a route configuration holds (istiod GetEgressListenerForRDS): for a
 * `unix://` route name (port 0) the listener bound to that socket, else the first one declaring `port`, else
 * the catch-all; undefined when the Sidecar has no egress section (every visible service), 'none' when no
 * egress listener covers the route.
 */
export function egressListenerForPort(sidecar: Sidecar, port: number, bind?: string): IstioEgressListener | 'none' | undefined {
  const egress = sidecar.spec.egress;
  if (!egress || egress.length === 0) return undefined;
  for (const listener of egress) {
    if (isCatchAllEgress(listener)) return listener;
    if ((listener.port?.number ?? 0) !== port) continue;
    if (port !== 0 || listener.bind === bind) return listener;
  }
  return 'none';
}

/**
 * The proxy's Sidecar imports `service` on `port` (true without a Sidecar): by an egress listener's hosts
 * (egressAllowsPort), or as the destination of a VirtualService one of them selects (virtualServiceImports).
 * Decides clusters and load assignments (Envoy) and which names resolve (proxyless gRPC); not listeners or
 * routes, which follow each egress listener's own hosts.
 */
export function sidecarAllowsPort(ctx: PushContext, proxy: Proxy, service: MeshService, port: number): boolean {
  const sidecar = sidecarFor(ctx, proxy);
  if (!sidecar || egressAllowsPort(sidecar, proxy.namespace, service, port)) return true;
  const ports = virtualServiceImports(ctx, sidecar, proxy.namespace).get(serviceKey(service));
  return ports !== undefined && (ports === 'every' || ports.has(port));
}

/** Whether the proxy's Sidecar imports `service` on any port (by hosts or as a VirtualService destination). */
export function sidecarImports(ctx: PushContext, proxy: Proxy, service: MeshService): boolean {
  const sidecar = sidecarFor(ctx, proxy);
  if (!sidecar || egressAllows(sidecar, proxy.namespace, service)) return true;
  return virtualServiceImports(ctx, sidecar, proxy.namespace).has(serviceKey(service));
}

/**
 * The Service annotation `networking.istio.io/exportTo` (Istio: `.` own namespace, `*` everywhere, `~`
 * nowhere, else namespace names); no annotation means everywhere.
 */
export function serviceVisibleFrom(service: MeshService, proxyNamespace: string): boolean {
  const exportTo = service.exportTo;
  if (!exportTo || exportTo.length === 0) return true;
  return exportTo.some((e) => e === '*' || (e === '.' && service.namespace === proxyNamespace) || e === proxyNamespace);
}

/** A VirtualService's `exportTo` lets a proxy of `namespace` use it (none: everywhere). */
export function virtualServiceVisibleFrom(vs: IndexedVirtualService, namespace: string): boolean {
  const exportTo = vs.config.spec.exportTo;
  if (!exportTo || exportTo.length === 0) return true;
  return exportTo.some((e) => e === '*' || (e === '.' && vs.namespace === namespace) || e === namespace);
}

const serviceKey = (s: Pick<MeshService, 'namespace' | 'hostname'>) => `${s.namespace}/${s.hostname}`;

type ImportedPorts = ReadonlySet<number> | 'every';
const importsMemo = new WeakMap<PushContext, Map<string, ReadonlyMap<string, ImportedPorts>>>();

/**
 * Services a Sidecar's egress listeners import because a VirtualService they select routes to them (istiod
 * SidecarScope collectImportedServices): for each egress listener, each mesh VirtualService visible from the
 * proxy's namespace with a host the listener's hosts match, each destination host of its http (route,
 * mirror, mirrors; routes whose matches name another sourceNamespace skipped), tcp and tls routes, resolved
 * relative to the VirtualService's namespace, is the service of that host in the proxy's namespace, else in
 * the first namespace (alphabetically) that exports it to the proxy. Ports: a port-specific egress listener
 * imports its own port only (if the service has it); otherwise the destinations' ports (a destination
 * without a port: every port; ports the service lacks import nothing). Keyed `namespace/hostname`.
 */
function virtualServiceImports(ctx: PushContext, sidecar: Sidecar, proxyNamespace: string): ReadonlyMap<string, ImportedPorts> {
  // read on every call, so each resource that depends on the imports records both collections
  const virtualServices = ctx.virtualServices;
  const services = ctx.services;
  let bySidecar = importsMemo.get(ctx);
  if (!bySidecar) importsMemo.set(ctx, (bySidecar = new Map()));
  const memoKey = `${sidecar.metadata.namespace}/${sidecar.metadata.name}\u0000${proxyNamespace}`;
  const known = bySidecar.get(memoKey);
  if (known) return known;
  const out = new Map<string, ImportedPorts>();
  for (const listener of sidecar.spec.egress ?? []) {
    const listenerPort = isCatchAllEgress(listener) || isHttpProxyEgress(listener) ? 0 : listener.port?.number ?? 0;
    for (const vs of virtualServices) {
      if (!vs.gateways.includes('mesh') || !virtualServiceVisibleFrom(vs, proxyNamespace)) continue;
      if (!vs.hosts.some((h) => egressListenerAllows(listener, proxyNamespace, { namespace: vs.namespace, hostname: h }))) continue;
      for (const [host, ports] of virtualServiceDestinations(vs.config.spec, vs.namespace, proxyNamespace, ctx.mesh.domainSuffix)) {
        const candidates = services.filter((s) => s.hostname === host && serviceVisibleFrom(s, proxyNamespace));
        const service = candidates.find((s) => s.namespace === proxyNamespace)
          ?? [...candidates].sort((a, b) => a.namespace.localeCompare(b.namespace))[0];
        if (!service) continue;
        let imported: ImportedPorts | undefined;
        if (listenerPort !== 0) imported = service.ports.some((p) => p.port === listenerPort) ? new Set([listenerPort]) : undefined;
        else if (ports.has(0)) imported = 'every';
        else {
          const found = service.ports.filter((p) => ports.has(p.port)).map((p) => p.port);
          imported = found.length > 0 ? new Set(found) : undefined;
        }
        if (!imported) continue;
        const key = serviceKey(service);
        const had = out.get(key);
        out.set(key, had === 'every' || imported === 'every' ? 'every' : new Set([...(had ?? []), ...imported]));
      }
    }
  }
  bySidecar.set(memoKey, out);
  return out;
}

/**
 * istiod virtualServiceDestinationsFilteredBySourceNamespace: destination FQDN → ports (0: a destination
 * without a port), http routes whose matches all name another sourceNamespace left out.
 */
function virtualServiceDestinations(spec: VirtualServiceSpec, vsNamespace: string, proxyNamespace: string, domainSuffix: string): Map<string, Set<number>> {
  const out = new Map<string, Set<number>>();
  const add = (d: { host: string; port?: { number?: number | undefined } | undefined } | undefined) => {
    if (!d) return;
    const host = resolveHostname(d.host, vsNamespace, domainSuffix);
    let ports = out.get(host);
    if (!ports) out.set(host, (ports = new Set()));
    ports.add(d.port?.number ?? 0);
  };
  for (const h of spec.http ?? []) {
    const named = (h.match ?? []).filter((m) => m.sourceNamespace);
    if (named.length > 0 && !named.some((m) => m.sourceNamespace === proxyNamespace)) continue;
    for (const r of h.route ?? []) add(r.destination);
    add(h.mirror);
    for (const m of h.mirrors ?? []) add(m.destination);
  }
  for (const t of [...(spec.tcp ?? []), ...(spec.tls ?? [])]) for (const r of t.route ?? []) add(r.destination);
  return out;
}

/** The outbound traffic policy for the proxy: its Sidecar's, else the mesh config's (ALLOW_ANY default). */
export function outboundTrafficPolicyFor(ctx: PushContext, proxy: Proxy): 'ALLOW_ANY' | 'REGISTRY_ONLY' {
  return sidecarFor(ctx, proxy)?.spec.outboundTrafficPolicy?.mode ?? ctx.mesh.outboundTrafficPolicy ?? 'ALLOW_ANY';
}

/**
 * Where ALLOW_ANY sends unknown destinations instead of the PassthroughCluster: the Sidecar's
 * `outboundTrafficPolicy.egressProxy` (istiod: the allow_any virtual host, per-port passthrough chains and
 * virtualOutbound's catch-all); undefined under REGISTRY_ONLY or without one.
 */
export function egressProxyFor(ctx: PushContext, proxy: Proxy): { host: string; subset?: string; port?: { number?: number } } | undefined {
  if (outboundTrafficPolicyFor(ctx, proxy) === 'REGISTRY_ONLY') return undefined;
  return sidecarFor(ctx, proxy)?.spec.outboundTrafficPolicy?.egressProxy;
}

/** Label keys Sidecar workload selectors match on: they choose a proxy's Sidecar, so they are part of its view. */
export function sidecarSelectorKeys(ctx: PushContext): string[] {
  const keys = new Set<string>();
  for (const s of ctx.sidecars) for (const k of Object.keys(s.object.spec.workloadSelector?.labels ?? {})) keys.add(k);
  return [...keys];
}
