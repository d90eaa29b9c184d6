import { perSnapshot, type PushContext } from '../../../model/push-context.js';
import { TYPE, type TypeUrl } from '../../resource-types.js';
import type { Proxy } from '../../../model/proxy.js';
import { outboundTelemetryReads, telemetryClassFacts } from './telemetry.js';
import { ipFamilyOf, proxyViewOf, type ProxyView } from '../../../model/proxy-view.js';
import type { MeshService, ServicePort } from '../../../model/types.js';
import { workloadTlsModeKey } from '../../../security/grpc.js';
import { outboundLabelKeys, referencedLabelKeys } from '../grpc/index.js';
import { labelsMatch } from '../../../config/labels.js';
import { egressAllows, serviceVisibleFrom, sidecarAllowsPort, sidecarFor, sidecarImports } from '../../../model/sidecar-scope.js';
import { inboundPortsKey } from './ingress.js';

// What an Envoy sidecar sees (outbound services) and serves (its own inbound service ports), and the
// class key naming every proxy fact the sidecar generator's output depends on. Replicas of one
// deployment differ only in pod name, IP and pod-template-hash; none of those is in the key, so they
// share one encoded copy of every resource.

/** One service port the proxy's workload serves, with the container port traffic arrives on. */
export interface InboundServicePort {
  readonly service: MeshService;
  readonly port: ServicePort;
  /** the workload's own (container) port: what `inbound|PORT||` and virtualInbound chains are keyed by */
  readonly targetPort: number;
}

export { serviceVisibleFrom };

/**
 * Services the sidecar's listeners and routes are built from: every registry service visible from its
 * namespace (exportTo) that its Sidecar resource's egress hosts let it see, by hostname (each egress
 * listener then takes those its own hosts match: egress.ts).
 */
export function outboundServices(ctx: PushContext, proxy: Proxy): MeshService[] {
  // ctx.services is already sorted by hostname
  const sidecar = sidecarFor(ctx, proxy);
  return ctx.services.filter((s) => serviceVisibleFrom(s, proxy.namespace) && (!sidecar || egressAllows(sidecar, proxy.namespace, s)));
}

/**
 * Services the sidecar has outbound clusters for (istiod SidecarScope.Services): outboundServices, and the
 * destinations of the VirtualServices its egress listeners select (model/sidecar-scope.ts).
 */
export function importedServices(ctx: PushContext, proxy: Proxy): MeshService[] {
  return ctx.services.filter((s) => serviceVisibleFrom(s, proxy.namespace) && sidecarImports(ctx, proxy, s));
}

/** One service port the sidecar has a cluster for: visible (exportTo) and imported with that port by its Sidecar. */
export function servicePortInScope(ctx: PushContext, proxy: Proxy, service: MeshService, port: number): boolean {
  return serviceVisibleFrom(service, proxy.namespace) && sidecarAllowsPort(ctx, proxy, service, port);
}

/**
 * The service ports of services in the proxy's namespace whose selector matches the proxy's labels
 * (istiod's ServiceTargets), with the container port resolved: a numeric targetPort as is; a named one
 * through the endpoint the registry resolved for this workload (the pod's container port), else the
 * service port. One entry per container port (the first service port, by hostname then port, wins), sorted
 * by container port.
 */
export function inboundServicePorts(ctx: PushContext, proxy: Proxy): InboundServicePort[] {
  const byTarget = new Map<number, InboundServicePort>();
  for (const t of serviceTargets(ctx, proxy)) if (!byTarget.has(t.targetPort)) byTarget.set(t.targetPort, t);
  return [...byTarget.values()].sort((a, b) => a.targetPort - b.targetPort);
}

/**
 * Every (service, port) the proxy's workload serves, not deduplicated (istiod ServiceTargets): services by
 * hostname, ports by number. inboundServicePorts keeps the first per container port.
 */
export function serviceTargets(ctx: PushContext, proxy: Proxy): InboundServicePort[] {
  const labels = ctx.proxyLabels(proxy);
  const ownIps = new Set(proxy.ips);
  const out: InboundServicePort[] = [];
  for (const service of ctx.servicesIn(proxy.namespace)) {
    if (!labelsMatch(service.selector, labels, 'selects-none')) continue;
    for (const port of [...service.ports].sort((a, b) => a.port - b.port)) {
      if (port.protocol === 'UDP') continue;
      out.push({ service, port, targetPort: resolveTargetPort(ctx, service, port, ownIps) });
    }
  }
  return out;
}

function resolveTargetPort(ctx: PushContext, service: MeshService, port: ServicePort, ownIps: ReadonlySet<string>): number {
  const t = port.targetPort;
  if (t === undefined) return port.port;
  if (typeof t === 'number') return t;
  if (/^\d+$/.test(t)) return Number(t);
  const own = ctx.endpoints(service.hostname, port.port).find((ep) => ownIps.has(ep.address));
  return own?.port ?? port.port;
}

/**
 * Whether any DestinationRule can make endpoints depend on where the proxy is: localityLbSetting, or
 * outlierDetection (istiod applies locality failover by default once outlier detection is on).
 */
export const localityMatters = perSnapshot((ctx): boolean =>
  ctx.destinationRules.some((dr) => {
    const text = JSON.stringify(dr.config.spec);
    return text.includes('"localityLbSetting"') || text.includes('"outlierDetection"');
  }),
);

/** Label keys `localityLbSetting.failoverPriority` ranks endpoints by (compared with the proxy's labels). */
export const failoverPriorityLabelKeys = perSnapshot((ctx): readonly string[] => {
  const set = new Set<string>();
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(visit);
    else if (v && typeof v === 'object') {
      for (const [k, val] of Object.entries(v)) {
        if (k === 'failoverPriority' && Array.isArray(val)) {
          for (const p of val) if (typeof p === 'string') set.add(p.split('=')[0]!);
        } else visit(val);
      }
    }
  };
  for (const dr of ctx.destinationRules) visit(dr.config.spec);
  return [...set].sort();
});

/**
 * Label keys a sidecar's outbound output selects on: VirtualService sourceLabels (http, tcp, tls),
 * DestinationRule workloadSelector, and the failoverPriority labels endpoints are ranked by. Not the
 * security selectors or Service selectors: those shape only what the workload serves (class scope).
 */
const sidecarViewLabelKeys = perSnapshot((ctx): readonly string[] =>
  [...new Set([...outboundLabelKeys(ctx), ...failoverPriorityLabelKeys(ctx)])].sort(),
);

/**
 * The sidecar's outbound view (model/proxy-view.ts): namespace (exportTo, DestinationRule/VirtualService
 * precedence, sourceNamespace, short names), DNS domain, IP family (wildcard/loopback binds, passthrough
 * bind address), interception mode (NONE binds outbound listeners to loopback and has no virtual
 * listeners), stock Envoy or istio-proxy, the labels sidecarViewLabelKeys names, the locality when a
 * DestinationRule makes endpoints depend on it; for listeners (LDS) only, also what their observability
 * reads of this proxy (telemetry.ts outboundTelemetryReads: the labels of Telemetry selectors that pick it,
 * and Istio's span-tag values when outbound tracing writes them) — nothing of it when no Telemetry selects
 * the proxy and tracing reads no proxy fact.
 */
export function sidecarView(ctx: PushContext, proxy: Proxy, type?: TypeUrl): ProxyView {
  const labels = ctx.proxyLabels(proxy);
  const viewKeys = sidecarViewLabelKeys(ctx);
  const base = { labels, localityMatters: localityMatters(ctx), failoverPriority: failoverPriorityLabelKeys(ctx).length > 0 };
  // only listeners carry observability: the other types' views stay per namespace even when span tags
  // (canonical service, which injected pods always have) make listeners per workload
  if (type !== TYPE.LDS) return proxyViewOf(proxy, { ...base, labelKeys: viewKeys });
  const telemetry = outboundTelemetryReads(ctx, proxy);
  return proxyViewOf(proxy, {
    ...base,
    labelKeys: telemetry.labelKeys.length ? [...new Set([...viewKeys, ...telemetry.labelKeys])].sort() : viewKeys,
    metadataKeys: telemetry.metadataKeys,
    serviceCluster: telemetry.serviceCluster,
  });
}

/**
 * Every proxy fact beyond the resource name the sidecar output depends on (see Generator.classKey):
 * - namespace: exportTo visibility, DestinationRule/VirtualService precedence, sourceNamespace, short names;
 * - DNS domain: short-name resolution and virtual-host domains;
 * - the proxy's values for the label keys anything selects on: VirtualService sourceLabels (http, tcp, tls),
 *   DestinationRule workloadSelector, PeerAuthentication/AuthorizationPolicy selectors and tlsMode
 *   (referencedLabelKeys), the selectors of Services in its namespace (which ports it serves), and
 *   failoverPriority labels;
 * - interception mode (TPROXY makes virtualInbound transparent; NONE drops both virtual listeners and the
 *   inbound clusters and binds outbound listeners to 127.0.0.1, so a NONE proxy never shares a listener
 *   or CDS entry with a REDIRECT one) and IP families (wildcard and loopback addresses, passthrough bind
 *   address);
 * - the inbound service ports with their resolved container ports;
 * - the workload's tlsMode (from the pod when the node metadata lacks the label);
 * - the proxy's locality, only when some DestinationRule can make endpoints locality-dependent.
 * - whether the proxy is stock Envoy (no istio-proxy extensions in its listeners);
 * - what the telemetry output reads (telemetry.ts telemetryClassFacts): span-tag values and the labels
 *   Telemetry selectors use;
 * Not in it: pod name, IPs, service account, Istio version (no output differs by version today).
 */
export function sidecarClassKey(ctx: PushContext, proxy: Proxy): string {
  const labels = ctx.proxyLabels(proxy);
  const keys = new Set<string>([...referencedLabelKeys(ctx), ...failoverPriorityLabelKeys(ctx)]);
  for (const s of ctx.servicesIn(proxy.namespace)) for (const k of Object.keys(s.selector ?? {})) keys.add(k);
  const projected = [...keys].sort().filter((k) => k in labels).map((k) => [k, labels[k]]);
  // the inbound ports with their container ports, and a Sidecar ingress's binds/endpoints (ingress.ts)
  const inbound = inboundPortsKey(ctx, proxy);
  const l = proxy.locality;
  return JSON.stringify({
    ns: proxy.namespace,
    dns: proxy.dnsDomain || ctx.mesh.domainSuffix,
    labels: projected,
    mode: proxy.interceptionMode,
    ...(proxy.istioExtensions ? {} : { stock: true }),
    ip: ipFamilyOf(proxy.ips),
    inbound,
    tls: workloadTlsModeKey(ctx, proxy),
    ...(localityMatters(ctx) ? { locality: `${l.region}/${l.zone}/${l.subzone}` } : {}),
    telemetry: telemetryClassFacts(ctx, proxy),
  });
}
