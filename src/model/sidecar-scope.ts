import { labelsMatch } from '../config/labels.js';
import type { IstioEgressListener, Sidecar } from '../config/schemas/sidecar.js';
import type { PushContext } from './push-context.js';
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

/** The proxy's Sidecar imports `service` on `port` (true without a Sidecar). */
export function sidecarAllowsPort(ctx: PushContext, proxy: Proxy, service: MeshService, port: number): boolean {
  const sidecar = sidecarFor(ctx, proxy);
  return !sidecar || egressAllowsPort(sidecar, proxy.namespace, service, port);
}

/** The proxy's Sidecar allows it to see `service` (true without a Sidecar). */
export function sidecarAllows(ctx: PushContext, proxy: Proxy, service: MeshService): boolean {
  const sidecar = sidecarFor(ctx, proxy);
  return !sidecar || egressAllows(sidecar, proxy.namespace, service);
}

/** The outbound traffic policy for the proxy: its Sidecar's, else the mesh config's (ALLOW_ANY default). */
export function outboundTrafficPolicyFor(ctx: PushContext, proxy: Proxy): 'ALLOW_ANY' | 'REGISTRY_ONLY' {
  return sidecarFor(ctx, proxy)?.spec.outboundTrafficPolicy?.mode ?? ctx.mesh.outboundTrafficPolicy ?? 'ALLOW_ANY';
}

/** Label keys Sidecar workload selectors match on: they choose a proxy's Sidecar, so they are part of its view. */
export function sidecarSelectorKeys(ctx: PushContext): string[] {
  const keys = new Set<string>();
  for (const s of ctx.sidecars) for (const k of Object.keys(s.object.spec.workloadSelector?.labels ?? {})) keys.add(k);
  return [...keys];
}
