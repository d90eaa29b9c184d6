// The view analyzers get: objects by kind, lookups by name, the mesh config, and `report`.
// Istio's analyzers address objects by group+kind (an Istio `Gateway` is not a Gateway API `Gateway`).

import { labelsMatch, type Labels } from '../config/labels.js';
import { message, type AnalysisMessage } from './message.js';
import type { AnalysisMeshConfig, Resource } from './resource.js';

/** The group of each kind an analyzer reads, Istio's and Kubernetes'. */
const GROUPS: Record<string, string> = {
  VirtualService: 'networking.istio.io', DestinationRule: 'networking.istio.io', Gateway: 'networking.istio.io',
  ServiceEntry: 'networking.istio.io', Sidecar: 'networking.istio.io', WorkloadEntry: 'networking.istio.io',
  EnvoyFilter: 'networking.istio.io', PeerAuthentication: 'security.istio.io', AuthorizationPolicy: 'security.istio.io',
  RequestAuthentication: 'security.istio.io', Telemetry: 'telemetry.istio.io',
  Service: '', Pod: '', Namespace: '', Secret: '', Node: '', ConfigMap: '', Deployment: 'apps',
  KubernetesGateway: 'gateway.networking.k8s.io',
};

export type AnalyzedKind = keyof typeof GROUPS & string;

export interface Analyzer {
  /** Istio's registered name, e.g. `virtualservice.DestinationHostAnalyzer` */
  readonly name: string;
  readonly description: string;
  analyze(ctx: AnalysisContext): void;
}

export class AnalysisContext {
  private readonly byKind = new Map<string, Resource[]>();
  private readonly byName = new Map<string, Resource>();
  readonly messages: AnalysisMessage[] = [];

  constructor(
    resources: readonly Resource[],
    readonly mesh: AnalysisMeshConfig,
    readonly istioNamespace: string,
  ) {
    for (const r of resources) {
      const k = `${r.group}/${r.kind}`;
      let list = this.byKind.get(k);
      if (!list) this.byKind.set(k, (list = []));
      list.push(r);
      this.byName.set(`${k}/${r.namespace}/${r.name}`, r);
    }
  }

  private static keyOf(kind: AnalyzedKind): string {
    return kind === 'KubernetesGateway' ? `${GROUPS[kind]}/Gateway` : `${GROUPS[kind]}/${kind}`;
  }

  all(kind: AnalyzedKind): readonly Resource[] {
    return this.byKind.get(AnalysisContext.keyOf(kind)) ?? [];
  }

  find(kind: AnalyzedKind, namespace: string, name: string): Resource | undefined {
    return this.byName.get(`${AnalysisContext.keyOf(kind)}/${namespace}/${name}`);
  }

  report(m: AnalysisMessage): void {
    this.messages.push(m);
  }
}

/** The object's `spec` seen through the analyzer's (partial, Istio-named) shape. */
export function specOf<T>(r: Resource): T {
  return ((r.object as { spec?: unknown }).spec ?? {}) as T;
}

/** klabels.SelectorFromSet(set).String(): `k1=v1,k2=v2`, keys sorted. */
export function selectorString(set: Labels | undefined | null): string {
  return Object.keys(set ?? {})
    .sort()
    .map((k) => `${k}=${set![k]}`)
    .join(',');
}

/** klabels.SelectorFromSet(set).Matches(labels): an empty set selects everything. */
export function selects(set: Labels | undefined | null, labels: Labels): boolean {
  return labelsMatch(set ?? undefined, labels, 'selects-all');
}

/**
 * Sidecar/Telemetry selectors: the pods of the policy's namespace it selects, added to `byPod`; a selector
 * that selects none is IST0101 ReferencedResourceNotFound (selector).
 */
export function selectPods(ctx: AnalysisContext, policy: Resource, set: Labels, analyzer: string, byPod: Map<Resource, Resource[]>): void {
  const pods = ctx.all('Pod').filter((p) => p.namespace === policy.namespace && selects(set, p.labels));
  for (const pod of pods) byPod.set(pod, [...(byPod.get(pod) ?? []), policy]);
  if (pods.length === 0) ctx.report(message('ReferencedResourceNotFound', policy, analyzer, 'selector', selectorString(set)));
}

/** resource.NewShortOrFullName: `ns/name` or a name in `namespace`. */
export function shortOrFullName(namespace: string, name: string): { namespace: string; name: string } {
  const i = name.indexOf('/');
  return i >= 0 ? { namespace: name.slice(0, i), name: name.slice(i + 1) } : { namespace, name };
}

/** resource.FullName.String(): `ns/name`, or `name` without a namespace. */
export function fullName(r: { namespace: string; name: string }): string {
  return r.namespace ? `${r.namespace}/${r.name}` : r.name;
}

export const MESH_GATEWAY = 'mesh';
export const EXPORT_ALL = '*';
export const EXPORT_LOCAL = '.';
const CLUSTER_LOCAL = 'svc.cluster.local';
const FQDN = /^(.+)\.(.+)\.svc\.cluster\.local$/;

/** util.ConvertHostToFQDN: a short name becomes `name.ns.svc.cluster.local`. */
export function hostToFqdn(namespace: string, host: string): string {
  return !host.startsWith('*') && !host.includes('.') ? `${host}.${namespace}.${CLUSTER_LOCAL}` : host;
}

/** util.GetResourceNameFromHost: the Service a host names (FQDN or a short name in `namespace`). */
export function resourceNameFromHost(namespace: string, host: string): string {
  const m = FQDN.exec(host);
  return m ? `${m[2]}/${m[1]}` : `${namespace}/${host}`;
}

/** util.IsExportToAllNamespaces */
export function exportsToAll(exportTo: readonly string[] | undefined): boolean {
  return !exportTo || exportTo.length === 0 || exportTo.includes(EXPORT_ALL);
}
