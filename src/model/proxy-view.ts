import { isIP } from 'node:net';
import type { GeneratorName, InterceptionMode, Proxy, ProxyType } from './proxy.js';
import { NO_LOCALITY, type Locality } from './types.js';

// A proxy's outbound view: the few proxy facts that what it *consumes* (outbound clusters, load
// assignments, routes, outbound listeners) may depend on. Thousands of proxy classes — in a real mesh
// nearly every Deployment is one, by its labels and its own Service — share a handful of views (one per
// namespace, typically), so outbound resources are generated once per view instead of once per class.
//
// Outbound resources are generated from a *canonical view proxy* built from the view alone, never from
// the real proxy: two proxies with equal views cannot be handed different outbound output, whatever a
// generator reads, so a view that misses a fact can make output wrong for an unusual proxy but can never
// leak one proxy's config to another. Tests pin each field (test/xds/proxy-view.test.ts).

/**
 * How a proxy's IPs shape output, exactly as the generators read them: listeners bind `::` only when
 * every IP is IPv6 (sidecar/bind.ts), the inbound passthrough cluster binds by which families exist
 * (sidecar/cds.ts). `v6-mixed`: IPv6 plus unparsable addresses (binds 0.0.0.0 but ::6).
 */
export type IpFamily = 'v4' | 'v6' | 'dual' | 'v6-mixed';

export interface ProxyView {
  readonly generator: GeneratorName;
  readonly namespace: string;
  /** the DNS domain as the node id gives it (short-name resolution, virtual-host domains) */
  readonly dnsDomain: string;
  readonly ipFamily: IpFamily;
  readonly interceptionMode: InterceptionMode;
  /** istio-proxy (true) or stock Envoy */
  readonly istioExtensions: boolean;
  /** the proxy's values of only the label keys outbound output selects on, sorted by key */
  readonly labels: readonly (readonly [string, string])[];
  /**
   * Whether the proxy has any label at all: failoverPriority is skipped for a proxy without labels
   * (istiod), so this is part of the view when a DestinationRule ranks by failoverPriority.
   */
  readonly labeled?: boolean;
  /** only when some DestinationRule makes load assignments depend on where the proxy is */
  readonly locality?: Locality;
  /** `router` for a gateway served by a view-using generator (proxyless gRPC); absent: `sidecar` */
  readonly proxyType?: ProxyType;
  /**
   * The node metadata values outbound output reads of this proxy, only the keys it reads (sorted): e.g.
   * MESH_ID and CLUSTER_ID for Istio's span tags when outbound tracing is on (sidecar/telemetry.ts)
   */
  readonly metadata?: readonly (readonly [string, string])[];
  /** node.cluster, only when outbound output reads it (a tracer's service name) */
  readonly serviceCluster?: string;
}

export function ipFamilyOf(ips: readonly string[]): IpFamily {
  const v4 = ips.some((ip) => isIP(ip) === 4);
  const v6 = ips.some((ip) => isIP(ip) === 6);
  if (v4 && v6) return 'dual';
  if (!v6) return 'v4';
  return ips.every((ip) => isIP(ip) === 6) ? 'v6' : 'v6-mixed';
}

// Documentation addresses (RFC 5737 / RFC 3849) that reproduce each family under every predicate the
// generators apply to `proxy.ips`; nothing looks them up (a view proxy has no workload).
const FAMILY_IPS: Record<IpFamily, readonly string[]> = {
  v4: Object.freeze(['192.0.2.1']),
  v6: Object.freeze(['2001:db8::1']),
  dual: Object.freeze(['192.0.2.1', '2001:db8::1']),
  'v6-mixed': Object.freeze(['2001:db8::1', 'unparsable']),
};

/**
 * A label no selector can name (NUL is not valid in a label key): stands for "has labels" when none of
 * the proxy's labels is otherwise in its view, so failoverPriority sees a non-empty label set.
 */
const LABELED_MARK = '\u0000labeled';

export interface ViewInputs {
  /** label keys outbound output selects on (VirtualService sourceLabels, DestinationRule workloadSelector, failoverPriority) */
  readonly labelKeys: readonly string[];
  /** the proxy's labels as generators see them (node metadata, else the pod's) */
  readonly labels: Readonly<Record<string, string>>;
  readonly localityMatters: boolean;
  /** some DestinationRule ranks endpoints by failoverPriority */
  readonly failoverPriority: boolean;
  /** node metadata keys outbound output reads of this proxy (string values only: nothing reads others) */
  readonly metadataKeys?: readonly string[];
  /** whether outbound output reads node.cluster */
  readonly serviceCluster?: boolean;
}

export function proxyViewOf(proxy: Proxy, inputs: ViewInputs): ProxyView {
  const labels = inputs.labelKeys.filter((k) => k in inputs.labels).map((k) => [k, inputs.labels[k]!] as const);
  const metadata = [...(inputs.metadataKeys ?? [])].sort().flatMap((k) => {
    const v = proxy.metadata[k];
    return typeof v === 'string' ? [[k, v] as const] : [];
  });
  return {
    generator: proxy.generator,
    namespace: proxy.namespace,
    dnsDomain: proxy.dnsDomain,
    ipFamily: ipFamilyOf(proxy.ips),
    interceptionMode: proxy.interceptionMode,
    istioExtensions: proxy.istioExtensions,
    labels,
    ...(inputs.failoverPriority ? { labeled: Object.keys(inputs.labels).length > 0 } : {}),
    ...(inputs.localityMatters ? { locality: proxy.locality } : {}),
    ...(proxy.type !== 'sidecar' ? { proxyType: proxy.type } : {}),
    ...(metadata.length > 0 ? { metadata } : {}),
    ...(inputs.serviceCluster ? { serviceCluster: proxy.serviceCluster ?? '' } : {}),
  };
}

/** The view as a cache key: every field, in a fixed order. */
export function viewKey(view: ProxyView): string {
  const l = view.locality;
  return JSON.stringify([
    view.generator, view.namespace, view.dnsDomain, view.ipFamily, view.interceptionMode, view.istioExtensions,
    view.labels, view.labeled ?? null, l ? [l.region, l.zone, l.subzone] : null,
    view.proxyType ?? null, view.metadata ?? null, view.serviceCluster ?? null,
  ]);
}

const viewProxies = new WeakSet<Proxy>();

/** Whether `proxy` is a canonical view proxy: its labels are complete as given (no workload lookup). */
export function isViewProxy(proxy: Proxy): boolean {
  return viewProxies.has(proxy);
}

/**
 * The canonical proxy of a view: every field the view has, and nothing of any real proxy (no id, pod,
 * service account, version, nor metadata beyond the view's). Generators given it can only produce what the view determines.
 */
export function viewProxy(view: ProxyView): Proxy {
  const labels: Record<string, string> = Object.fromEntries(view.labels);
  if (view.labeled && view.labels.length === 0) labels[LABELED_MARK] = '';
  const proxy: Proxy = Object.freeze({
    id: '',
    type: view.proxyType ?? 'sidecar',
    ips: FAMILY_IPS[view.ipFamily],
    podName: '',
    namespace: view.namespace,
    dnsDomain: view.dnsDomain,
    generator: view.generator,
    labels: Object.freeze(labels),
    serviceAccount: '',
    istioVersion: '',
    clusterId: '',
    interceptionMode: view.interceptionMode,
    locality: view.locality ?? NO_LOCALITY,
    userAgent: Object.freeze({ name: '', version: '' }),
    istioExtensions: view.istioExtensions,
    metadata: Object.freeze(Object.fromEntries(view.metadata ?? [])),
    ...(view.serviceCluster !== undefined ? { serviceCluster: view.serviceCluster } : {}),
  });
  viewProxies.add(proxy);
  return proxy;
}
