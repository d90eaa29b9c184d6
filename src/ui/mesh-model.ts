import { KINDS, type Kind } from '../config/kinds.js';
import { describeOrigin } from '../config/origin.js';
import type { ConfigStore } from '../config/store.js';
import type { ValidationMessage } from '../sources/kube/status.js';
import { qualifiedGatewayName, MESH_GATEWAY } from '../model/gateways.js';
import { resolveHostname, type PushContext } from '../model/push-context.js';
import { endpointKey } from '../model/registry.js';
import { configStatus, type ConfigStatus } from '../xds/config-dump.js';
import { SHORT_TYPE } from '../xds/resource-types.js';
import type { DiscoveryServer } from '../xds/server.js';

// What the /ui mesh view shows, built from the daemon's own models (the snapshot, the store, the xDS
// streams): a service graph (gateways → VirtualServices → services and their subsets, edges weighted as
// the routes say), each proxy's sync state per type, and the config objects that have something to say
// (refusals, analyzer messages). Only names, hosts, ports, labels and messages leave the process: no
// object bodies, so nothing a Secret or a Pod's environment holds can reach the page.

/** At most this many config problems are listed (the rest are counted): the page stays small at any scale. */
export const MAX_CONFIG_PROBLEMS = 500;
/** A NACK's text as shown (a client chooses its length, the page does not). */
const MAX_MESSAGE = 1024;

export interface GraphService {
  /** the hostname: the node's id */
  readonly id: string;
  readonly name: string;
  readonly namespace: string;
  readonly ports: readonly number[];
  /** DestinationRule subsets for this host, with their labels */
  readonly subsets: readonly { readonly name: string; readonly labels: Readonly<Record<string, string>> }[];
  /** the `version` labels of its endpoints */
  readonly versions: readonly string[];
  readonly endpoints: number;
  /** declared by a ServiceEntry (`namespace/name`), else a Kubernetes Service */
  readonly serviceEntry?: string;
  /** a route destination that no registry service has (the page shows it dashed) */
  readonly unknown?: true;
}

export interface GraphGateway {
  /** `gateway:namespace/name` */
  readonly id: string;
  readonly name: string;
  readonly namespace: string;
  readonly hosts: readonly string[];
  readonly ports: readonly number[];
}

export interface GraphRoute {
  /** `vs:namespace/name` */
  readonly id: string;
  readonly name: string;
  readonly namespace: string;
  readonly hosts: readonly string[];
  /** ids of the gateway nodes it is bound to; `mesh` binding is `mesh: true` */
  readonly gateways: readonly string[];
  readonly mesh: boolean;
}

export interface GraphEdge {
  /** a gateway id, or a route id */
  readonly from: string;
  /** a route id, or a service id (hostname) */
  readonly to: string;
  readonly subset?: string;
  /** percent of the route's traffic (routes without weights: 100 for a single destination) */
  readonly weight?: number;
  /** `http[0]`, `http[1] "name"`, `tcp[0]`… */
  readonly rule?: string;
}

export interface MeshGraph {
  readonly version: string;
  readonly gateways: readonly GraphGateway[];
  readonly routes: readonly GraphRoute[];
  readonly services: readonly GraphService[];
  readonly edges: readonly GraphEdge[];
}

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const graphs = new WeakMap<PushContext, MeshGraph>();

/** The service graph of one snapshot (built once per snapshot). */
export function meshGraph(ctx: PushContext): MeshGraph {
  const cached = graphs.get(ctx);
  if (cached) return cached;
  const domain = ctx.mesh.domainSuffix;
  const subsetsByHost = new Map<string, { name: string; labels: Record<string, string> }[]>();
  for (const dr of ctx.destinationRules) {
    const subsets = ((dr.config.spec as Json).subsets ?? []) as Json[];
    if (subsets.length === 0) continue;
    const list = subsetsByHost.get(dr.host) ?? [];
    for (const s of subsets) if (!list.some((x) => x.name === s.name)) list.push({ name: String(s.name), labels: { ...(s.labels ?? {}) } });
    subsetsByHost.set(dr.host, list);
  }
  const services = new Map<string, GraphService>();
  for (const svc of ctx.registry.services) {
    const versions = new Set<string>();
    const addresses = new Set<string>();
    for (const p of svc.ports) {
      for (const e of ctx.registry.endpoints.get(endpointKey(svc.hostname, p.port)) ?? []) {
        addresses.add(e.address);
        const v = e.workload?.labels.version;
        if (v) versions.add(v);
      }
    }
    services.set(svc.hostname, {
      id: svc.hostname,
      name: svc.name,
      namespace: svc.namespace,
      ports: svc.ports.map((p) => p.port),
      subsets: subsetsByHost.get(svc.hostname) ?? [],
      versions: [...versions].sort(),
      endpoints: addresses.size,
      ...(svc.serviceEntry ? { serviceEntry: svc.serviceEntry.source } : {}),
    });
  }
  const gateways: GraphGateway[] = ctx.gateways.map((g) => {
    const servers = ((g.spec as Json).servers ?? []) as Json[];
    return {
      id: `gateway:${g.metadata.namespace}/${g.metadata.name}`,
      name: g.metadata.name,
      namespace: g.metadata.namespace ?? 'default',
      hosts: [...new Set(servers.flatMap((s) => (s.hosts ?? []) as string[]))],
      ports: [...new Set(servers.map((s) => Number(s.port?.number)).filter((n) => Number.isInteger(n)))],
    };
  });
  const gatewayIds = new Set(gateways.map((g) => g.id));
  const routes: GraphRoute[] = [];
  const edges: GraphEdge[] = [];
  for (const vs of ctx.virtualServices) {
    const meta = vs.config.metadata;
    const id = `vs:${vs.namespace}/${meta.name}`;
    const bound = vs.gateways.filter((g) => g !== MESH_GATEWAY).map((g) => `gateway:${qualifiedGatewayName(g, vs.namespace)}`);
    routes.push({ id, name: meta.name, namespace: vs.namespace, hosts: vs.hosts, gateways: bound, mesh: vs.gateways.includes(MESH_GATEWAY) });
    for (const g of bound) if (gatewayIds.has(g)) edges.push({ from: g, to: id });
    const spec = vs.config.spec as Json;
    for (const protocol of ['http', 'tls', 'tcp'] as const) {
      ((spec[protocol] ?? []) as Json[]).forEach((rule, i) => {
        const dests = ((rule.route ?? []) as Json[]).filter((d) => d.destination?.host);
        const label = `${protocol}[${i}]${rule.name ? ` "${rule.name}"` : ''}`;
        for (const d of dests) {
          const host = resolveHostname(String(d.destination.host), vs.namespace, domain);
          if (!services.has(host)) services.set(host, { id: host, name: host, namespace: '', ports: [], subsets: subsetsByHost.get(host) ?? [], versions: [], endpoints: 0, unknown: true });
          const weight = typeof d.weight === 'number' ? d.weight : dests.length === 1 ? 100 : undefined;
          edges.push({ from: id, to: host, rule: label, ...(d.destination.subset ? { subset: String(d.destination.subset) } : {}), ...(weight !== undefined ? { weight } : {}) });
        }
      });
    }
  }
  const graph: MeshGraph = {
    version: ctx.version,
    gateways,
    routes,
    services: [...services.values()].sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name)),
    edges,
  };
  graphs.set(ctx, graph);
  return graph;
}

export type SyncState = 'synced' | 'stale' | 'nack' | 'not-sent';

export interface ProxySync {
  readonly id: string;
  readonly connection: string;
  readonly generator: string;
  readonly namespace: string;
  readonly mode: string;
  readonly connectedAt: string;
  /** the worst of its types: nack > stale > not-sent > synced */
  readonly state: SyncState;
  readonly types: Readonly<Record<string, { state: SyncState; version: string; nack?: string }>>;
}

const STATE_OF: Record<ConfigStatus, SyncState> = { SYNCED: 'synced', STALE: 'stale', ERROR: 'nack', NOT_SENT: 'not-sent' };
const RANK: Record<SyncState, number> = { synced: 0, 'not-sent': 1, stale: 2, nack: 3 };

/** Every connected proxy's state per type, as `meshd proxy-status` shows it. */
export function proxySyncs(discovery: DiscoveryServer): ProxySync[] {
  return discovery.connections.map((c) => {
    const types: Record<string, { state: SyncState; version: string; nack?: string }> = {};
    let worst: SyncState = 'synced';
    for (const [type, w] of c.watches) {
      const state = STATE_OF[configStatus(w)];
      if (RANK[state] > RANK[worst]) worst = state;
      types[SHORT_TYPE[type] ?? type] = {
        state,
        version: w.sentVersion,
        ...(state === 'nack' && w.lastNack ? { nack: bounded(w.lastNack.message) } : {}),
      };
    }
    return { id: c.proxy.id, connection: c.id, generator: c.proxy.generator, namespace: c.proxy.namespace, mode: c.mode, connectedAt: c.connectedAt.toISOString(), state: worst, types };
  }).sort((a, b) => a.id.localeCompare(b.id));
}

function bounded(text: string): string {
  return text.length <= MAX_MESSAGE ? text : `${text.slice(0, MAX_MESSAGE)}… (${text.length} characters)`;
}

export interface ConfigProblem {
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly origin: string;
  /** refused by validation: the last good version (if any) stays in force */
  readonly refused?: readonly string[];
  readonly analysis?: readonly { readonly code: string; readonly level: string; readonly message: string }[];
}

export interface ConfigSummary {
  readonly revision: number;
  /** objects held per kind */
  readonly counts: Readonly<Record<string, number>>;
  readonly problems: readonly ConfigProblem[];
  /** problems beyond MAX_CONFIG_PROBLEMS, not listed */
  readonly more: number;
  /** the store revision the analyzer messages are from (undefined: not analysed yet) */
  readonly analysedRevision?: number;
}

/** The store's objects per kind, its refusals and the analyzer messages (per object key) of a run over it. */
export function configSummary(store: ConfigStore, analysis?: { revision: number; byKey: ReadonlyMap<string, readonly ValidationMessage[]> }): ConfigSummary {
  const counts: Record<string, number> = {};
  const problems: ConfigProblem[] = [];
  for (const kind of Object.keys(KINDS) as Kind[]) {
    const n = store.list(kind).length;
    if (n > 0) counts[kind] = n;
  }
  for (const r of store.listRejections()) {
    problems.push({ kind: r.kind ?? '?', namespace: r.namespace ?? '', name: r.name ?? '', origin: describeOrigin(r.origin), refused: r.messages.map(bounded) });
  }
  if (analysis) {
    for (const [key, messages] of analysis.byKey) {
      const [kind, namespace, name] = splitKey(key);
      const stored = kind in KINDS ? store.get(kind as Kind, key) : undefined;
      const entry = {
        kind, namespace, name,
        origin: stored ? describeOrigin(stored.origin) : '',
        analysis: messages.map((m) => ({ code: m.type.code, level: m.level, message: bounded(m.message) })),
      };
      const refused = problems.findIndex((p) => p.kind === kind && p.namespace === namespace && p.name === name);
      if (refused >= 0) problems[refused] = { ...problems[refused]!, analysis: entry.analysis };
      else problems.push(entry);
    }
  }
  problems.sort((a, b) => a.kind.localeCompare(b.kind) || a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
  return {
    revision: store.revision,
    counts,
    problems: problems.slice(0, MAX_CONFIG_PROBLEMS),
    more: Math.max(0, problems.length - MAX_CONFIG_PROBLEMS),
    ...(analysis ? { analysedRevision: analysis.revision } : {}),
  };
}

/** objectKey's inverse: `Kind/namespace/name` (cluster-scoped: `Kind//name`). */
function splitKey(key: string): [string, string, string] {
  const first = key.indexOf('/');
  const second = key.indexOf('/', first + 1);
  return [key.slice(0, first), key.slice(first + 1, second), key.slice(second + 1)];
}
