// Kubernetes Gateway API (GatewayClass `istio`, Gateway, HTTPRoute, GRPCRoute, TCPRoute, TLSRoute,
// ReferenceGrant) → Istio Gateways and VirtualServices + the status istiod writes back. A pure function: the
// same objects and registry facts always give the same result, so a source can run it on every change and
// tests can score it against istiod's own conversion corpus.

import { hostSubsetOf, hostsMatch } from '../semantics/util.js';
import { buildConditions, humanReadableJoin, mergeConditions, type ConditionSpec, type ConfigError } from './conditions.js';
import { buildListener, conflictedListenerStatus, listenerConflicts, type ListenerStatus, type ListenerWorld, type RouteGroupKind } from './listeners.js';
import {
  GATEWAY_API_GROUP,
  ISTIO_GATEWAY_CONTROLLER,
  KUBERNETES_GATEWAY_NAME,
  type Condition,
  type ConversionInput,
  type ConversionResult,
  type DerivedConfig,
  type GatewaySpec,
  type GRPCRouteRule,
  type HTTPRouteRule,
  type KubeObject,
  type L4RouteRule,
  type ParentReference,
  type RouteSpec,
  type ServiceFacts,
  type StatusWrite,
} from './objects.js';
import { convertGRPCRule, convertHTTPRule, convertTCPRule, convertTLSRule, sortHTTPRoutes, type RouteContext, type RuleResult } from './rules.js';

type Json = Record<string, unknown>;

const ROUTE_KINDS = ['HTTPRoute', 'GRPCRoute', 'TLSRoute', 'TCPRoute'] as const;
type RouteKind = (typeof ROUTE_KINDS)[number];
/** GatewayClass names istiod handles without a GatewayClass object. */
const BUILTIN_CLASSES: Record<string, string> = { istio: ISTIO_GATEWAY_CONTROLLER };

const nsOf = (o: KubeObject) => o.metadata.namespace ?? '';
const keyOf = (o: KubeObject) => `${nsOf(o)}/${o.metadata.name}`;

function byCreation<T extends { metadata: { creationTimestamp?: string; namespace?: string; name: string } }>(a: T, b: T): number {
  const ta = a.metadata.creationTimestamp ?? '';
  const tb = b.metadata.creationTimestamp ?? '';
  if (ta !== tb) return ta < tb ? -1 : 1;
  const na = a.metadata.namespace ?? '';
  const nb = b.metadata.namespace ?? '';
  if (na !== nb) return na < nb ? -1 : 1;
  return a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0;
}

/** What a route parent reference resolves to: one Gateway listener (istiod's parentInfo). */
interface ParentInfo {
  internalName: string;
  allowedKinds: RouteGroupKind[];
  hostnames: string[];
  originalHostname: string;
  sectionName: string;
  port: number;
  protocol: string;
}

interface RouteParentRef {
  internalName: string;
  /** bound to a Service/ServiceEntry: configures sidecars, not a gateway */
  mesh: boolean;
  meshHosts?: string[];
  denied?: { reason: string; message: string };
  original: ParentReference;
  hostname: string;
  bannedHostnames: Set<string>;
  gatewayKey: string;
  sectionName: string;
}

function parentRefString(ref: ParentReference, ns: string): string {
  return `${ref.group ?? GATEWAY_API_GROUP}/${ref.kind ?? 'Gateway'}/${ref.name}/${ref.sectionName ?? ''}/${ref.port ?? 0}.${ref.namespace ?? ns}`;
}

/** Istio host.Names Intersection: the more specific of each overlapping pair. */
function hostIntersection(a: readonly string[], b: readonly string[]): string[] {
  const out: string[] = [];
  for (const x of a) {
    for (const y of b) {
      if (hostSubsetOf(x, y)) {
        if (!out.includes(x)) out.push(x);
      } else if (hostSubsetOf(y, x)) {
        if (!out.includes(y)) out.push(y);
      }
    }
  }
  return out;
}

function hostnameAllowedByIsolation(p: RouteParentRef, routeHost: string): boolean {
  const ours = p.hostname;
  if (ours.length > 0 && !ours.startsWith('*')) return true;
  if (ours.length > 0 && !hostsMatch(routeHost, ours)) return false;
  for (const other of p.bannedHostnames) {
    if (ours.length > other.length) continue;
    if (hostSubsetOf(routeHost, other)) return false;
  }
  return true;
}

export function convertGatewayApi(input: ConversionInput, now = new Date().toISOString()): ConversionResult {
  const objects = input.objects;
  const list = (kind: string) => objects.filter((o) => o.kind === kind && o.apiVersion.startsWith(`${GATEWAY_API_GROUP}/`));
  const core = (kind: string) => objects.filter((o) => o.kind === kind && o.apiVersion === 'v1');
  const secrets = new Map(core('Secret').map((o) => [keyOf(o), o]));
  const configMaps = new Map(core('ConfigMap').map((o) => [keyOf(o), o]));
  const namespaces = core('Namespace');
  const statuses: StatusWrite[] = [];
  const skipped: { ref: string; reason: string }[] = [];

  // --- ReferenceGrants: (fromKind, fromNs, toKind, toNs) → allowed names ('*' = all) -----------------------
  const grants: { from: string; fromNs: string; to: string; toNs: string; name?: string }[] = [];
  const grantFrom = new Set(['Gateway', 'HTTPRoute', 'GRPCRoute', 'TLSRoute', 'TCPRoute', 'ListenerSet']);
  const grantTo = new Set(['ConfigMap', 'Secret', 'Service']);
  for (const g of list('ReferenceGrant')) {
    const spec = (g.spec ?? {}) as { from?: { group: string; kind: string; namespace: string }[]; to?: { group: string; kind: string; name?: string }[] };
    for (const from of spec.from ?? []) {
      if (from.group !== GATEWAY_API_GROUP || !grantFrom.has(from.kind)) continue;
      for (const to of spec.to ?? []) {
        if (to.group !== '' || !grantTo.has(to.kind)) continue;
        grants.push({ from: from.kind, fromNs: from.namespace, to: to.kind, toNs: nsOf(g), name: to.name });
      }
    }
  }
  const allowed = (fromKind: string, fromNs: string, toKind: string, toNs: string, name: string) =>
    grants.some((g) => g.from === fromKind && g.fromNs === fromNs && g.to === toKind && g.toNs === toNs && (g.name === undefined || g.name === name));

  const world: ListenerWorld = {
    secret: (ns, name) => secrets.get(`${ns}/${name}`),
    configMap: (ns, name) => configMaps.get(`${ns}/${name}`),
    namespaces: () => namespaces,
    refAllowed: allowed,
  };

  const servicesByHost = new Map<string, ServiceFacts[]>();
  for (const s of input.services) servicesByHost.set(s.hostname, [...(servicesByHost.get(s.hostname) ?? []), s]);
  const serviceByName = new Set(
    input.services.map((s) => `${s.namespace}/${s.name ?? s.hostname.split('.')[0]}`).filter((_, i) => input.services[i]!.hostname.endsWith(`.svc.${input.domainSuffix}`)),
  );
  const routeCtx: RouteContext = {
    domainSuffix: input.domainSuffix,
    serviceExists: (ns, name) => serviceByName.has(`${ns}/${name}`),
    hostnameExists: (host) => servicesByHost.has(host),
    backendAllowed: (fromKind, toKind, name, toNs, fromNs) => allowed(fromKind, fromNs, toKind, toNs, name),
  };

  // --- GatewayClasses ----------------------------------------------------------------------------------
  const classes = new Map<string, string>(Object.entries(BUILTIN_CLASSES));
  for (const c of list('GatewayClass')) {
    const controller = (c.spec as { controllerName?: string } | undefined)?.controllerName ?? '';
    if (controller !== ISTIO_GATEWAY_CONTROLLER) {
      classes.delete(c.metadata.name);
      continue;
    }
    classes.set(c.metadata.name, controller);
    statuses.push(statusOf(c, {
      conditions: buildConditions({ Accepted: { reason: 'Accepted', message: 'Handled by Istio controller' } }, c.metadata.generation, now),
    }));
  }

  // --- Gateways → Istio Gateways (one per listener) ----------------------------------------------------------
  const gateways: DerivedConfig[] = [];
  const parentsByGateway = new Map<string, ParentInfo[]>();
  const gatewayStatus = new Map<string, { obj: KubeObject; status: Json; listeners: ListenerStatus[] }>();
  for (const gw of [...list('Gateway')].sort(byCreation)) {
    const spec = gw.spec as GatewaySpec;
    const controller = classes.get(spec.gatewayClassName);
    if (controller !== ISTIO_GATEWAY_CONTROLLER) {
      if (spec.gatewayClassName && !classes.has(spec.gatewayClassName)) {
        skipped.push({ ref: `Gateway ${keyOf(gw)}`, reason: `gatewayClassName "${spec.gatewayClassName}" is not handled by ${ISTIO_GATEWAY_CONTROLLER}` });
      }
      continue;
    }
    const ns = nsOf(gw);
    const listeners = spec.listeners ?? [];
    const { services: gatewayServices, error: addressError } = gatewayServicesOf(gw, spec, input.domainSuffix);
    const listenerStatuses: ListenerStatus[] = [];
    const servers: Json[] = [];
    const parents: ParentInfo[] = [];
    let validListeners = 0;
    let gatewayError: ConfigError | undefined = addressError;
    if (gatewayServices.length > 0 || !addressError) {
      gatewayError = gatewayError ?? parametersRefError(gw, spec, world);
      const conflicts = listenerConflicts(listeners);
      const managed = isManaged(spec);
      const serviceAccount = managed ? (gw.metadata.annotations?.['gateway.istio.io/service-account'] ?? `${gw.metadata.name}-${spec.gatewayClassName}`) : '';
      for (const l of listeners) {
        const conflict = conflicts.get(l.name);
        if (conflict) {
          listenerStatuses.push(conflictedListenerStatus(gw, l, conflict, now));
          continue;
        }
        const built = buildListener(world, gw, spec, l, now);
        listenerStatuses.push(built.status);
        if (built.programmed) validListeners++;
        if (!built.server) continue;
        servers.push(built.server);
        const name = `${gw.metadata.name}~${KUBERNETES_GATEWAY_NAME}~${l.name}`;
        // An invalid listener still binds routes (and reports them) but is not served.
        if (built.programmed) gateways.push({
          apiVersion: 'networking.istio.io/v1',
          kind: 'Gateway',
          metadata: {
            name,
            namespace: ns,
            creationTimestamp: gw.metadata.creationTimestamp,
            annotations: {
              'internal.istio.io/gateway-semantics': 'gateway',
              'internal.istio.io/gateway-service': gatewayServices.join(','),
              'internal.istio.io/parents': `Gateway/${gw.metadata.name}/${l.name}.${ns}`,
              'internal.istio.io/service-account-name': serviceAccount,
            },
          },
          spec: { servers: [built.server] },
        });
        parents.push({
          internalName: `${ns}/${name}`,
          allowedKinds: built.status.supportedKinds,
          hostnames: built.server.hosts as string[],
          originalHostname: l.hostname ?? '',
          sectionName: l.name,
          port: l.port,
          protocol: l.protocol,
        });
      }
    }
    parentsByGateway.set(keyOf(gw), parents);
    const status = gatewayStatusOf(gw, spec, gatewayServices, servers, gatewayError, validListeners, input.services, now);
    gatewayStatus.set(keyOf(gw), { obj: gw, status, listeners: listenerStatuses });
  }

  // --- Routes ------------------------------------------------------------------------------------------------
  // GAMMA: a route whose parent is a Service (or ServiceEntry) configures the sidecars calling it ("mesh").
  const serviceEntries = new Map(
    objects.filter((o) => o.kind === 'ServiceEntry' && o.apiVersion.startsWith('networking.istio.io/')).map((o) => [keyOf(o), o]),
  );
  const meshParents: MeshLookup = {
    service: (namespace, name) =>
      serviceByName.has(`${namespace}/${name}`) ? [`${name}.${namespace}.svc.${input.domainSuffix}`] : undefined,
    serviceEntry: (namespace, name) => {
      const se = serviceEntries.get(`${namespace}/${name}`);
      return se ? [...((se.spec as { hosts?: string[] } | undefined)?.hosts ?? [])] : undefined;
    },
  };
  const attached = new Map<string, number>(); // gateway key + '/' + listener → count
  const httpByKey = new Map<string, { cfg: DerivedConfig; obj: KubeObject }[]>();
  const l4Configs: DerivedConfig[] = [];
  for (const kind of ROUTE_KINDS) {
    for (const route of [...list(kind)].sort(byCreation)) {
      const spec = (route.spec ?? {}) as RouteSpec;
      const ns = nsOf(route);
      const parentRefs = extractParents(route, kind, spec, parentsByGateway, meshParents);
      // Gateways enforce ReferenceGrants on backends; sidecars (mesh parents) do not.
      const gwResult = parentRefs.some((p) => !p.mesh) ? convertRules(routeCtx, kind, route, spec, true) : { routes: [] as Json[] };
      const meshResult = parentRefs.some((p) => p.mesh) ? convertRules(routeCtx, kind, route, spec, false) : { routes: [] as Json[] };
      statuses.push(statusOf(route, { parents: routeParentStatuses(route, parentRefs, gwResult.error, meshResult.error, now) }));
      const bound = parentRefs.filter((p) => !p.denied).sort((a, b) => (a.internalName < b.internalName ? -1 : a.internalName > b.internalName ? 1 : 0));
      for (const p of bound) {
        if (p.mesh) continue;
        const k = `${p.gatewayKey}/${p.sectionName}`;
        attached.set(k, (attached.get(k) ?? 0) + 1);
      }
      let count = 0;
      for (const parent of bound) {
        let routes = parent.mesh ? meshResult.routes : gwResult.routes;
        let vsHosts = spec.hostnames && spec.hostnames.length > 0 ? [...spec.hostnames] : ['*'];
        let routeKey = parent.internalName;
        const port = parent.original.port;
        if (parent.mesh) {
          routeKey = ns;
          vsHosts = parent.meshHosts ?? [];
        }
        if (kind === 'HTTPRoute' || kind === 'GRPCRoute') {
          if (parent.mesh && port !== undefined) {
            routes = withPortMatch(routes, port);
            routeKey += `/${port}`;
          }
          if (routes.length === 0) continue;
          for (const h of vsHosts) {
            if (!hostnameAllowedByIsolation(parent, h)) continue;
            const http = structuredClone(routes);
            sortHTTPRoutes(http);
            const key = `${routeKey}/${h}`;
            const cfg = virtualService(route, `${route.metadata.name}~${count}~${KUBERNETES_GATEWAY_NAME}`, { hosts: [h], gateways: [parent.internalName], http });
            httpByKey.set(key, [...(httpByKey.get(key) ?? []), { cfg, obj: route }]);
            count++;
          }
        } else if (kind === 'TCPRoute') {
          if (parent.mesh && port !== undefined) routes = withPortMatch(routes, port);
          for (const h of parent.mesh ? vsHosts : ['*']) {
            l4Configs.push(virtualService(route, `${route.metadata.name}~tcp~${count}~${KUBERNETES_GATEWAY_NAME}`, { hosts: [h], gateways: [parent.internalName], tcp: structuredClone(routes) }));
            count++;
          }
        } else {
          let tls = structuredClone(routes);
          if (parent.mesh) {
            tls = tls.map((r) => {
              const m = (r.match as { sniHosts?: string[]; port?: number }[] | undefined) ?? [];
              // Without route hostnames a mesh TLSRoute matches the parent's hosts by SNI.
              if (m.length === 1 && m[0]!.sniHosts?.length === 1 && m[0]!.sniHosts[0] === '*') m[0]!.sniHosts = [...vsHosts];
              if (port !== undefined) for (const x of m) x.port = port;
              return r;
            });
          } else if (parent.hostname !== '') {
            vsHosts = hostIntersection(vsHosts, [parent.hostname]);
            tls = constrainTLSRoutes(tls, parent.hostname);
          }
          for (const h of vsHosts) {
            const forHost = parent.mesh ? compatibleRoutesForHost(tls, h) : tls;
            l4Configs.push(virtualService(route, `${route.metadata.name}~tls~${count}~${KUBERNETES_GATEWAY_NAME}`, { hosts: [h], gateways: [parent.internalName], tls: structuredClone(forHost) }));
            count++;
          }
        }
      }
    }
  }

  // HTTP and gRPC routes bound to the same listener and host merge into one VirtualService, oldest first.
  const merged: DerivedConfig[] = [];
  for (const [key, entries] of httpByKey) {
    const sorted = [...entries].sort((a, b) => byCreation(a.cfg, b.cfg));
    const base = structuredClone(sorted[0]!.cfg);
    const http = base.spec.http as Json[];
    for (const e of sorted.slice(1)) {
      http.push(...(e.cfg.spec.http as Json[]));
      base.metadata.annotations['internal.istio.io/parents'] += `,${e.cfg.metadata.annotations['internal.istio.io/parents']}`;
    }
    if (sorted.length > 1) sortHTTPRoutes(http);
    base.metadata.name = key.replaceAll('/', '~');
    merged.push(base);
  }

  // --- Gateway status with attached route counts -------------------------------------------------------------
  for (const [key, g] of gatewayStatus) {
    const listeners = g.listeners.map((l) => ({ ...l, attachedRoutes: attached.get(`${key}/${l.name}`) ?? 0 }));
    const status: Json = { ...g.status };
    if (listeners.length > 0) status.listeners = listeners;
    statuses.push(statusOf(g.obj, status));
  }

  const configs = [...gateways.sort(byCreation), ...[...merged, ...l4Configs].sort(byCreation)];
  for (const c of configs) delete c.metadata.creationTimestamp;
  return { configs, statuses: sortStatuses(statuses), skipped };

  function convertRules(
    ctx: RouteContext,
    kind: RouteKind,
    route: KubeObject,
    spec: RouteSpec,
    enforceRefGrant: boolean,
  ): { routes: Json[]; error?: ConfigError } {
    const meta = { name: route.metadata.name, namespace: nsOf(route) };
    const results: RuleResult<Json>[] = [];
    (spec.rules ?? []).forEach((rule, n) => {
      if (kind === 'HTTPRoute') {
        const r = rule as HTTPRouteRule;
        for (const m of r.matches && r.matches.length > 0 ? r.matches : [undefined]) results.push(convertHTTPRule(ctx, r, m, meta, n, enforceRefGrant));
      } else if (kind === 'GRPCRoute') {
        const r = rule as GRPCRouteRule;
        for (const m of r.matches && r.matches.length > 0 ? r.matches : [undefined]) results.push(convertGRPCRule(ctx, r, m, meta, n, enforceRefGrant));
      } else if (kind === 'TCPRoute') {
        results.push(convertTCPRule(ctx, rule as L4RouteRule, meta.namespace, enforceRefGrant));
      } else {
        results.push(convertTLSRule(ctx, rule as L4RouteRule, spec.hostnames, meta.namespace, enforceRefGrant));
      }
    });
    const routes: Json[] = [];
    let error: ConfigError | undefined;
    for (const r of results) {
      // A rule that cannot be converted at all invalidates the whole route (istiod drops every rule).
      if ('fatal' in r) return { routes: [], error: r.fatal };
      if (r.error) error = r.error;
      routes.push(r.route);
    }
    return { routes, error };
  }
}

function virtualService(route: KubeObject, name: string, spec: Json): DerivedConfig {
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'VirtualService',
    metadata: {
      name,
      namespace: nsOf(route),
      creationTimestamp: route.metadata.creationTimestamp,
      annotations: {
        'internal.istio.io/parents': `${route.kind}/${route.metadata.name}.${nsOf(route)}`,
        'internal.istio.io/route-semantics': 'gateway',
      },
    },
    spec,
  };
}

/** A mesh parent with a port: every match (or a new one) is limited to that port. */
function withPortMatch(routes: readonly Json[], port: number): Json[] {
  return routes.map((r) => {
    const c = structuredClone(r);
    const m = c.match as Json[] | undefined;
    if (m && m.length > 0) for (const x of m) x.port = port;
    else c.match = [{ port }];
    return c;
  });
}

/** A mesh TLS route listing several SNI hosts keeps, per VirtualService host, only the ones that host covers. */
function compatibleRoutesForHost(routes: readonly Json[], parentHost: string): Json[] {
  return routes.map((r) => {
    const m = r.match as { sniHosts?: string[] }[] | undefined;
    if (m && m.length === 1 && (m[0]!.sniHosts?.length ?? 0) > 1) {
      const c = structuredClone(r);
      const cm = (c.match as { sniHosts: string[] }[])[0]!;
      cm.sniHosts = cm.sniHosts.filter((h) => hostsMatch(parentHost, h));
      return c;
    }
    return r;
  });
}

function constrainTLSRoutes(routes: Json[], listenerHost: string): Json[] {
  const out: Json[] = [];
  for (const r of routes) {
    const matches = (r.match as { sniHosts?: string[] }[] | undefined) ?? [];
    for (const m of matches) m.sniHosts = hostIntersection(m.sniHosts ?? [], [listenerHost]);
    if (matches.length === 0 || matches.some((m) => (m.sniHosts ?? []).length > 0)) out.push(r);
  }
  return out;
}

function statusOf(obj: KubeObject, status: Json): StatusWrite {
  const metadata: StatusWrite['metadata'] = { name: obj.metadata.name };
  if (obj.metadata.namespace) metadata.namespace = obj.metadata.namespace;
  return { apiVersion: obj.apiVersion, kind: obj.kind, metadata, status };
}

const STATUS_ORDER = ['GatewayClass', 'Gateway', 'HTTPRoute', 'GRPCRoute', 'TLSRoute', 'TCPRoute'];

function sortStatuses(list: StatusWrite[]): StatusWrite[] {
  return list.sort((a, b) => {
    const ka = STATUS_ORDER.indexOf(a.kind);
    const kb = STATUS_ORDER.indexOf(b.kind);
    if (ka !== kb) return ka - kb;
    const na = a.metadata.namespace ?? '';
    const nb = b.metadata.namespace ?? '';
    if (na !== nb) return na < nb ? -1 : 1;
    return a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0;
  });
}

// --- Gateways ------------------------------------------------------------------------------------------------

/** istiod: a Gateway is deployed by the controller unless it names exactly one address that is not an IP. */
export function isManaged(spec: GatewaySpec): boolean {
  const addrs = spec.addresses ?? [];
  if (addrs.length === 0) return true;
  if (addrs.length > 1) return false;
  const t = addrs[0]!.type;
  return t === undefined || t === 'IPAddress';
}

function gatewayServicesOf(gw: KubeObject, spec: GatewaySpec, domainSuffix: string): { services: string[]; error?: ConfigError } {
  const ns = nsOf(gw);
  if (isManaged(spec)) {
    const name = gw.metadata.annotations?.['gateway.istio.io/name-override'] ?? `${gw.metadata.name}-${spec.gatewayClassName}`;
    return { services: [`${name}.${ns}.svc.${domainSuffix}`] };
  }
  const services: string[] = [];
  const skippedAddresses: string[] = [];
  for (const a of spec.addresses ?? []) {
    if (a.type !== undefined && a.type !== 'Hostname') {
      skippedAddresses.push(a.value);
      continue;
    }
    services.push(a.value.includes('.') ? a.value : `${a.value}.${ns}.svc.${domainSuffix}`);
  }
  if (skippedAddresses.length > 0) {
    return { services, error: { reason: 'UnsupportedAddress', message: `only Hostname is supported, ignoring [${skippedAddresses.join(' ')}]` } };
  }
  if (gw.metadata.annotations && 'networking.istio.io/service-type' in gw.metadata.annotations) {
    return {
      services,
      error: { reason: 'DeprecatedField', message: 'annotation networking.istio.io/service-type is deprecated, use Spec.Infrastructure.Routeability' },
    };
  }
  return { services };
}

function parametersRefError(gw: KubeObject, spec: GatewaySpec, world: ListenerWorld): ConfigError | undefined {
  const ref = spec.infrastructure?.parametersRef;
  if (!ref) return undefined;
  if (ref.kind !== 'ConfigMap' || ref.group !== '') {
    return { reason: 'InvalidParameters', message: `Unsupported parametersRef group/kind ${ref.group}/${ref.kind}, only ConfigMap is supported` };
  }
  if (!world.configMap(nsOf(gw), ref.name)) {
    return { reason: 'InvalidParameters', message: `parametersRef ConfigMap ${nsOf(gw)}/${ref.name} does not exist` };
  }
  return undefined;
}

const isIP = (s: string) => /^[0-9.]+$/.test(s) || s.includes(':');

/** istiod's ResolveGatewayInstances over the registry facts: which gateway services serve the server ports. */
function resolveGatewayInstances(namespace: string, gatewayServices: readonly string[], servers: readonly Json[], registry: readonly ServiceFacts[]) {
  const ports = [...new Set(servers.map((s) => (s.port as { number: number }).number))];
  const internal = new Set<string>();
  const internalIP = new Set<string>();
  const external = new Set<string>();
  const pending = new Set<string>();
  const warnings: string[] = [];
  let unusable = false;
  for (const g of gatewayServices) {
    const candidates = registry.filter((s) => s.hostname === g);
    const svc = candidates.find((s) => s.namespace === namespace);
    if (!svc) {
      const others = [...new Set(candidates.map((s) => `"${s.namespace}"`))].sort();
      warnings.push(
        others.length > 0
          ? `hostname "${g}" not found in namespace "${namespace}", but it was found in namespace(s) ${others.join(', ')}`
          : `hostname "${g}" not found`,
      );
      unusable = true;
      continue;
    }
    for (const port of ports) {
      if (svc.endpoints.some((e) => e.servicePort === port)) {
        internal.add(`${g}:${port}`);
        for (const ip of svc.clusterIPs ?? []) internalIP.add(ip);
        if ((svc.externalAddresses ?? []).length > 0) for (const ip of svc.externalAddresses!) external.add(ip);
        else if (svc.loadBalancer && !pending.has(g)) {
          warnings.push(`address pending for hostname "${g}"`);
          pending.add(g);
        }
      } else if (svc.endpoints.length === 0) {
        warnings.push(`no instances found for hostname "${g}"`);
      } else {
        const hint = [...new Set(svc.endpoints.filter((e) => e.endpointPort === port).map((e) => String(e.servicePort)))].sort();
        if (hint.length > 0) {
          warnings.push(
            `port ${port} not found for hostname "${g}" (hint: the service port should be specified, not the workload port. Did you mean one of these ports: [${hint.join(' ')}]?)`,
          );
          unusable = true;
        } else {
          const managed = 'gateway.istio.io/managed' in (svc.labels ?? {});
          if (!managed || !svc.ports.some((p) => p.port === port)) {
            warnings.push(`port ${port} not found for hostname "${g}"`);
            unusable = true;
          }
        }
      }
    }
  }
  warnings.sort();
  return { internal: [...internal].sort(), internalIP: [...internalIP].sort(), external: [...external].sort(), pending: [...pending].sort(), warnings, allUsable: !unusable };
}

function gatewayStatusOf(
  gw: KubeObject,
  spec: GatewaySpec,
  gatewayServices: readonly string[],
  servers: readonly Json[],
  gatewayError: ConfigError | undefined,
  validListeners: number,
  registry: readonly ServiceFacts[],
  now: string,
): Json {
  const r = resolveGatewayInstances(nsOf(gw), gatewayServices, servers, registry);
  const conds: Record<string, ConditionSpec> = {
    Accepted: { reason: 'Accepted', message: 'Resource accepted' },
    Programmed: { reason: 'Programmed', message: 'Resource programmed' },
    ResolvedRefs: { reason: 'ResolvedRefs', message: 'All references resolved' },
  };
  const total = (spec.listeners ?? []).length;
  if (gatewayError) conds.Accepted!.error = gatewayError;
  else if (total > 0 && validListeners < total) {
    if (validListeners === 0) conds.Accepted!.error = { reason: 'ListenersNotValid', message: "None of the Gateway's listeners are valid" };
    else conds.Accepted = { reason: 'ListenersNotValid', message: "One or more of the Gateway's listeners are invalid" };
  }
  const programmed = conds.Programmed!;
  if (r.internal.length > 0) programmed.message = `Resource programmed, assigned to service(s) ${humanReadableJoin(r.internal)}`;
  if (gatewayServices.length === 0) {
    programmed.error = { reason: 'UnsupportedAddress', message: 'Failed to assign to any requested addresses' };
  } else if (r.warnings.length > 0) {
    const message =
      r.internal.length > 0
        ? `Assigned to service(s) ${humanReadableJoin(r.internal)}, but failed to assign to all requested addresses: ${r.warnings.join('; ')}`
        : `Failed to assign to any requested addresses: ${r.warnings.join('; ')}`;
    programmed.error = { reason: r.allUsable ? 'AddressNotAssigned' : 'AddressNotUsable', message };
  }
  let addresses = r.external;
  if (addresses.length === 0) {
    // istio's class reports Hostname addresses unless the Gateway asks otherwise
    const want = gw.metadata.annotations?.['networking.istio.io/address-type'] ?? 'Hostname';
    const out: string[] = want !== 'Hostname' ? [...r.internalIP] : [];
    if (want !== 'IPAddress') {
      for (const hp of r.internal) {
        const host = hp.slice(0, hp.lastIndexOf(':'));
        if (!r.pending.includes(host) && !out.includes(host)) out.push(host);
      }
    }
    addresses = out;
  }
  const status: Json = {};
  if (addresses.length > 0) status.addresses = addresses.map((value) => ({ type: isIP(value) ? 'IPAddress' : 'Hostname', value }));
  status.conditions = buildConditions(conds, gw.metadata.generation, now);
  return status;
}

// --- Route parents -----------------------------------------------------------------------------------------

interface MeshLookup {
  /** the hosts of a Service / ServiceEntry parent, or undefined when it does not exist */
  service(namespace: string, name: string): string[] | undefined;
  serviceEntry(namespace: string, name: string): string[] | undefined;
}

const MESH_KINDS: RouteGroupKind[] = ['HTTPRoute', 'GRPCRoute', 'TCPRoute', 'TLSRoute'].map((kind) => ({ group: GATEWAY_API_GROUP, kind }));

function extractParents(
  route: KubeObject,
  kind: RouteKind,
  spec: RouteSpec,
  parentsByGateway: Map<string, ParentInfo[]>,
  mesh: MeshLookup,
): RouteParentRef[] {
  const ns = nsOf(route);
  const out: RouteParentRef[] = [];
  for (const ref of spec.parentRefs ?? []) {
    const group = ref.group ?? GATEWAY_API_GROUP;
    const refKind = ref.kind ?? 'Gateway';
    const refNs = ref.namespace ?? ns;
    const isService = group === '' && refKind === 'Service';
    const isServiceEntry = group === 'networking.istio.io' && refKind === 'ServiceEntry';
    if (isService || isServiceEntry) {
      const hosts = isService ? mesh.service(refNs, ref.name) : mesh.serviceEntry(refNs, ref.name);
      const denied = hosts
        ? undefined
        : {
            reason: 'NoMatchingParent',
            message: isService ? `parent service: "${ref.name}" not found` : `parent service entry: "${ref.name}" not found`,
          };
      out.push({
        internalName: 'mesh',
        mesh: true,
        meshHosts: hosts ?? [],
        denied,
        original: ref,
        hostname: '',
        bannedHostnames: new Set(),
        gatewayKey: '',
        sectionName: '',
      });
      continue;
    }
    if (group !== GATEWAY_API_GROUP || refKind !== 'Gateway') continue;
    const gatewayKey = `${refNs}/${ref.name}`;
    const current = parentsByGateway.get(gatewayKey) ?? [];
    for (const pr of current) {
      const banned = new Set<string>();
      for (const other of current) {
        if (other === pr || other.port !== pr.port || other.protocol !== pr.protocol) continue;
        banned.add(other.originalHostname);
      }
      banned.delete(pr.originalHostname);
      out.push({
        internalName: pr.internalName,
        mesh: false,
        denied: referenceAllowed(pr, kind, ref, kind === 'TCPRoute' ? undefined : spec.hostnames, ns),
        original: ref,
        hostname: pr.originalHostname,
        bannedHostnames: banned,
        gatewayKey,
        sectionName: pr.sectionName,
      });
    }
  }
  const str = (p: RouteParentRef) => parentRefString(p.original, ns);
  return out.sort((a, b) => (str(a) < str(b) ? -1 : str(a) > str(b) ? 1 : 0));
}

function referenceAllowed(
  parent: ParentInfo,
  kind: RouteKind,
  ref: ParentReference,
  hostnames: readonly string[] | undefined,
  localNamespace: string,
): { reason: string; message: string } | undefined {
  if (ref.port !== undefined && ref.port !== 0 && ref.port !== parent.port) {
    return { reason: 'NoMatchingParent', message: `port ${ref.port} not found` };
  }
  if (ref.sectionName && ref.sectionName !== parent.sectionName) {
    return { reason: 'NoMatchingParent', message: `sectionName "${ref.sectionName}" not found` };
  }
  const routeHosts = hostnames && hostnames.length > 0 ? hostnames : ['*'];
  if (parent.hostnames.length > 0) {
    let matched = false;
    let hostMatched = false;
    outer: for (const rh of routeHosts) {
      for (const ph of parent.hostnames) {
        const [pns, phost] = ph.includes('/') ? [ph.slice(0, ph.indexOf('/')), ph.slice(ph.indexOf('/') + 1)] : ['*', ph];
        const hostMatch = hostsMatch(phost, rh);
        hostMatched ||= hostMatch;
        if (hostMatch && (pns === '*' || pns === localNamespace)) {
          matched = true;
          break outer;
        }
      }
    }
    if (!matched) {
      if (hostMatched) {
        return {
          reason: 'NotAllowedByListeners',
          message: `hostnames matched parent hostname "${parent.originalHostname}", but namespace "${localNamespace}" is not allowed by the parent`,
        };
      }
      return { reason: 'NoMatchingListenerHostname', message: `no hostnames matched parent hostname "${parent.originalHostname}"` };
    }
  }
  if (!parent.allowedKinds.some((k) => k.kind === kind && k.group === GATEWAY_API_GROUP)) {
    return { reason: 'NotAllowedByListeners', message: `kind ${GATEWAY_API_GROUP}/v1/${kind} is not allowed` };
  }
  return undefined;
}

const PARENT_RANK: Record<string, number> = { NotAllowedByListeners: 1, NoMatchingListenerHostname: 2, ParentRefConflict: 3, NoMatchingParent: 4 };
const rankOf = (p: RouteParentRef) => (p.denied ? (PARENT_RANK[p.denied.reason] ?? 0) : 0);

function routeParentStatuses(
  route: KubeObject,
  parents: readonly RouteParentRef[],
  gatewayError: ConfigError | undefined,
  meshError: ConfigError | undefined,
  now: string,
): Json[] {
  const ns = nsOf(route);
  const existing = ((route.status as { parents?: Json[] } | undefined)?.parents ?? []) as {
    controllerName?: string;
    parentRef: ParentReference;
    conditions?: Condition[];
  }[];
  const previous = (k: string) =>
    existing.find((e) => e.controllerName === ISTIO_GATEWAY_CONTROLLER && parentRefString(e.parentRef, ns) === k)?.conditions;
  const seen = new Map<string, RouteParentRef[]>();
  const success = new Map<string, number>();
  for (const p of parents) {
    const k = parentRefString(p.original, ns);
    seen.set(k, [...(seen.get(k) ?? []), p]);
    if (!p.denied) success.set(k, (success.get(k) ?? 0) + 1);
  }
  const ours: { key: string; status: Json }[] = [];
  for (const [k, results] of seen) {
    let report = { ...results[0]!, denied: results[0]!.denied ? { ...results[0]!.denied } : undefined };
    let rank = rankOf(report);
    for (const r of results.slice(1)) {
      const rr = rankOf(r);
      if (rr < rank) {
        rank = rr;
        report = { ...r, denied: r.denied ? { ...r.denied } : undefined };
      } else if (rr === rank) {
        if (!report.denied) report.denied = r.denied ? { ...r.denied } : undefined;
        else if (r.denied) report.denied.message += `; ${r.denied.message}`;
      }
    }
    const n = success.get(k) ?? 0;
    const conds: Record<string, ConditionSpec> = {
      Accepted: { reason: 'Accepted', message: n > 1 ? `Route was valid, bound to ${n} parents` : 'Route was valid' },
      ResolvedRefs: { reason: 'ResolvedRefs', message: 'All references resolved' },
    };
    const routeError = report.mesh ? meshError : gatewayError;
    if (routeError) conds.ResolvedRefs!.error = routeError;
    if (report.denied) conds.Accepted!.error = { reason: report.denied.reason, message: report.denied.message };
    ours.push({
      key: k,
      status: { conditions: mergeConditions(previous(k), buildConditions(conds, route.metadata.generation, now)), controllerName: ISTIO_GATEWAY_CONTROLLER, parentRef: report.original },
    });
  }
  // Other controllers' entries stay where they are; ours replace our old entries or are appended.
  const out: Json[] = [];
  const placed = new Set<string>();
  for (const e of existing) {
    if (e.controllerName !== ISTIO_GATEWAY_CONTROLLER) {
      out.push(e as unknown as Json);
      continue;
    }
    const k = parentRefString(e.parentRef, ns);
    const mine = ours.find((o) => o.key === k);
    if (mine && !placed.has(k)) {
      out.push(mine.status);
      placed.add(k);
    }
  }
  const rest = ours.filter((o) => !placed.has(o.key)).sort((a, b) => (a.key > b.key ? -1 : a.key < b.key ? 1 : 0));
  return [...out, ...rest.map((o) => o.status)];
}
