import YAML from 'yaml';
import { getFromReplicaOf } from './meshd-client.js';
import type { MeshdTargetFlags } from './meshd-flags.js';
import { withMeshdTarget } from './meshd-target.js';
import type { CommandIO } from './proxy-status.js';
import { formatTable } from './table.js';

// `meshd proxy-config {cluster|listener|route|endpoint|secret|all} POD[.NS]`: what meshd sent one proxy,
// from the running meshd's /debug/config_dump, in istioctl's tables (same columns, same filters, same
// summaries of matches and destinations) or as the resources themselves (-o json|yaml). istioctl reads
// Envoy's admin port; this reads what meshd sent, which is what Envoy holds once the proxy is SYNCED
// (`meshd proxy-status`).

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export const PROXY_CONFIG_KINDS = ['cluster', 'listener', 'route', 'endpoint', 'secret', 'all'] as const;
export type ProxyConfigKind = (typeof PROXY_CONFIG_KINDS)[number];

export interface ProxyConfigFilters {
  readonly fqdn?: string;
  readonly port?: string;
  readonly subset?: string;
  readonly direction?: string;
  readonly name?: string;
  readonly address?: string;
  readonly type?: string;
  readonly cluster?: string;
  readonly status?: string;
}

export interface ProxyConfigFlags extends MeshdTargetFlags, ProxyConfigFilters {
  readonly namespace?: string;
  readonly output: 'table' | 'json' | 'yaml';
}

const ADMIN = 'type.googleapis.com/envoy.admin.v3.';
const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const TCP_PROXY = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';

/** The resources of a ConfigDump (Envoy's admin or meshd's /debug/config_dump), by type. */
export interface DumpedResources {
  readonly clusters: Json[];
  readonly listeners: Json[];
  readonly routes: Json[];
  readonly endpoints: Json[];
  readonly secrets: string[];
}

export function resourcesOfDump(dump: { configs?: Json[] }): DumpedResources {
  const out: DumpedResources = { clusters: [], listeners: [], routes: [], endpoints: [], secrets: [] };
  for (const c of dump.configs ?? []) {
    const t = String(c['@type'] ?? '').replace(ADMIN, '');
    if (t === 'ClustersConfigDump') {
      for (const x of [...(c.static_clusters ?? []), ...(c.dynamic_active_clusters ?? [])]) out.clusters.push(x.cluster);
    } else if (t === 'ListenersConfigDump') {
      for (const x of c.static_listeners ?? []) out.listeners.push(x.listener);
      for (const x of c.dynamic_listeners ?? []) if (x.active_state?.listener) out.listeners.push(x.active_state.listener);
    } else if (t === 'RoutesConfigDump') {
      for (const x of [...(c.static_route_configs ?? []), ...(c.dynamic_route_configs ?? [])]) out.routes.push(x.route_config);
    } else if (t === 'EndpointsConfigDump') {
      for (const x of [...(c.static_endpoint_configs ?? []), ...(c.dynamic_endpoint_configs ?? [])]) out.endpoints.push(x.endpoint_config);
    } else if (t === 'SecretsConfigDump') {
      for (const x of [...(c.dynamic_active_secrets ?? []), ...(c.dynamic_warming_secrets ?? [])]) out.secrets.push(String(x.name));
    }
  }
  return out;
}

// --- clusters ------------------------------------------------------------------------------------------

/** `outbound|9080|v1|reviews.default.svc.cluster.local` → its parts (istiod model.ParseSubsetKey). */
function subsetKey(name: string): { direction: string; port: number; subset: string; fqdn: string } | undefined {
  const parts = name.split('|');
  if (parts.length < 4) return undefined;
  return { direction: parts[0]!, port: Number(parts[1]), subset: parts[2]!, fqdn: parts[3]! };
}

/** istioctl renderConfig: `/apis/networking.istio.io/v1/namespaces/NS/KIND/NAME` → `NAME.NS`. */
export function managedBy(resource: Json | undefined): string {
  const config = resource?.metadata?.filter_metadata?.istio?.config;
  if (typeof config !== 'string') return '';
  if (!config.startsWith('/apis/networking.istio.io/')) return '<unknown>';
  const pieces = config.split('/');
  return pieces.length === 8 ? `${pieces[7]}.${pieces[5]}` : '';
}

export function clusterMatches(name: string, f: ProxyConfigFilters): boolean {
  if (f.fqdn && !name.includes(f.fqdn)) return false;
  if (f.direction && !name.includes(f.direction)) return false;
  if (f.subset && !name.includes(f.subset)) return false;
  if (f.port && !name.includes(`|${f.port}|`)) return false;
  return true;
}

function sortClusters(clusters: Json[]): Json[] {
  const key = (c: Json) => subsetKey(String(c.name)) ?? { direction: '', port: 0, subset: '', fqdn: String(c.name) };
  return [...clusters].sort((a, b) => {
    const x = key(a);
    const y = key(b);
    if (x.fqdn !== y.fqdn) return x.fqdn < y.fqdn ? -1 : 1;
    if (x.subset !== y.subset) return x.subset < y.subset ? -1 : 1;
    if (x.port !== y.port) return x.port - y.port;
    return x.direction < y.direction ? -1 : x.direction > y.direction ? 1 : 0;
  });
}

function clusterTable(clusters: Json[]): string {
  return formatTable(
    ['SERVICE FQDN', 'PORT', 'SUBSET', 'DIRECTION', 'TYPE', 'DESTINATION RULE'],
    clusters.map((c) => {
      const k = subsetKey(String(c.name));
      const type = String(c.type ?? (c.cluster_type ? 'STATIC' : 'EDS' in c ? 'EDS' : 'STATIC'));
      return k
        ? [k.fqdn, String(k.port), k.subset || '-', k.direction, type, managedBy(c)]
        : [String(c.name), '-', '-', '-', type, managedBy(c)];
    }),
  );
}

// --- listeners -----------------------------------------------------------------------------------------

function chainsOf(l: Json): Json[] {
  return [...(l.filter_chains ?? []), ...(l.default_filter_chain ? [l.default_filter_chain] : [])];
}

function listenerAddress(l: Json): string {
  return String(l.address?.socket_address?.address ?? l.address?.pipe?.path ?? '');
}

function listenerPort(l: Json): number {
  return Number(l.address?.socket_address?.port_value ?? 0);
}

/** istioctl retrieveListenerType: HTTP | TCP | HTTP+TCP | UNKNOWN (tcp_proxy to the BlackHoleCluster not counted). */
function listenerType(l: Json): string {
  let http = 0;
  let tcp = 0;
  for (const ch of chainsOf(l)) {
    for (const f of ch.filters ?? []) {
      const t = f.typed_config?.['@type'];
      if (t === HCM) http++;
      else if (t === TCP_PROXY && f.typed_config.cluster !== 'BlackHoleCluster') tcp++;
    }
  }
  if (http > 0) return tcp === 0 ? 'HTTP' : 'HTTP+TCP';
  return tcp > 0 ? 'TCP' : 'UNKNOWN';
}

const PROTOCOL_DESCRIPTIONS: readonly [string, readonly string[]][] = [
  ['App: HTTP TLS', ['http/1.0', 'http/1.1', 'h2c', 'istio-http/1.0', 'istio-http/1.1', 'istio-h2']],
  ['App: Istio HTTP Plain', ['istio', 'istio-http/1.0', 'istio-http/1.1', 'istio-h2']],
  ['App: TCP TLS', ['istio-peer-exchange', 'istio']],
  ['App: HTTP', ['http/1.0', 'http/1.1', 'h2c']],
];

/** istioctl getMatches: the filter chain match as `SNI: …; Trans: …; App: …; Addr: …` or `ALL`. */
function describeChainMatch(m: Json | undefined): string {
  const match = m ?? {};
  const out: string[] = [];
  if ((match.server_names ?? []).length > 0) out.push(`SNI: ${match.server_names.join(',')}`);
  if (match.transport_protocol) out.push(`Trans: ${match.transport_protocol}`);
  const alpn: string[] = match.application_protocols ?? [];
  if (alpn.length > 0) {
    const known = PROTOCOL_DESCRIPTIONS.find(([, p]) => p.length === alpn.length && p.every((x, i) => x === alpn[i]));
    out.push(known ? known[0] : `App: ${alpn.join(',')}`);
  }
  const port = match.destination_port !== undefined ? `:${match.destination_port}` : '';
  if ((match.prefix_ranges ?? []).length > 0) {
    out.push(`Addr: ${match.prefix_ranges.map((p: Json) => `${p.address_prefix}/${p.prefix_len ?? 0}`).join(',')}${port}`);
  } else if (port) {
    out.push(`Addr: *${port}`);
  }
  return out.length > 0 ? out.join('; ') : 'ALL';
}

/** istioctl describeMatch: a route's path condition (headers left out). */
function describeRouteMatch(m: Json | undefined): string {
  const out: string[] = [];
  if (m?.prefix) out.push(`${m.prefix}*`);
  if (m?.path_separated_prefix) out.push(`PathPrefix:${m.path_separated_prefix}`);
  if (m?.path) out.push(String(m.path));
  if (m?.safe_regex) out.push(`regex ${m.safe_regex.regex}`);
  return out.join(' ');
}

function inlineRouteSummary(rc: Json): string {
  const vhosts: Json[] = rc.virtual_hosts ?? [];
  if (vhosts.length === 1 && vhosts[0]!.domains?.length === 1 && vhosts[0]!.domains[0] === '*' && vhosts[0]!.routes?.length === 1) {
    const r = vhosts[0]!.routes[0];
    if (r.match?.prefix === '/' && typeof r.route?.cluster === 'string') {
      return r.route.cluster.includes('Cluster') ? r.route.cluster : `Cluster: ${r.route.cluster}`;
    }
  }
  const parts = vhosts.map((vh) => {
    const routes = (vh.routes ?? []).map((r: Json) => describeRouteMatch(r.match)).join(', ');
    const domains = vh.domains?.length === 1 && vh.domains[0] === '*' ? '' : (vh.domains ?? []).join('/');
    return domains ? `${domains} ${routes}` : routes;
  });
  return `Inline Route: ${parts.join('; ')}`;
}

/** istioctl getFilterType: where a chain sends traffic. */
function describeChainDestination(chain: Json): string {
  for (const f of chain.filters ?? []) {
    const c = f.typed_config ?? {};
    if (c['@type'] === HCM) {
      if (c.route_config) return inlineRouteSummary(c.route_config);
      if (c.rds?.route_config_name) return `Route: ${c.rds.route_config_name}`;
      return 'HTTP';
    }
    if (c['@type'] === TCP_PROXY && c.cluster !== 'BlackHoleCluster') {
      const cluster = String(c.cluster ?? (c.weighted_clusters?.clusters ?? []).map((w: Json) => w.name).join(','));
      return cluster.includes('Cluster') ? cluster : `Cluster: ${cluster}`;
    }
  }
  return 'Non-HTTP/Non-TCP';
}

function listenerMatches(l: Json, f: ProxyConfigFilters): boolean {
  if (f.address && listenerAddress(l).toLowerCase() !== f.address.toLowerCase()) return false;
  if (f.port && listenerPort(l) !== Number(f.port)) return false;
  if (f.type && listenerType(l).toLowerCase() !== f.type.toLowerCase()) return false;
  if (f.name && l.name !== f.name) return false;
  return true;
}

function sortListeners(listeners: Json[]): Json[] {
  return [...listeners].sort((a, b) =>
    listenerPort(a) - listenerPort(b) || listenerAddress(a).localeCompare(listenerAddress(b)) || listenerType(a).localeCompare(listenerType(b)));
}

function listenerTable(listeners: Json[]): string {
  const rows: string[][] = [];
  for (const l of listeners) {
    const matches = chainsOf(l).map((ch) => ({ match: describeChainMatch(ch.filter_chain_match), destination: describeChainDestination(ch) }));
    matches.sort((a, b) => (a.destination > b.destination ? -1 : a.destination < b.destination ? 1 : 0));
    for (const m of matches) rows.push([listenerAddress(l), String(listenerPort(l)), m.match, m.destination]);
  }
  return formatTable(['ADDRESSES', 'PORT', 'MATCH', 'DESTINATION'], rows);
}

// --- routes --------------------------------------------------------------------------------------------

/** istioctl describeRouteDomains: the one domain, or the port-less ones (short forms preferred), 2 + "N more". */
function describeDomains(domains: readonly string[]): string {
  if (domains.length <= 1) return domains[0] ?? '';
  const withoutPort = domains.filter((d) => !d.includes(':') || (d.split(':').length > 3 && d.endsWith(']')));
  const unique = new Set(withoutPort);
  const kept = withoutPort.filter((h) => {
    const full = h.replace(/\.svc\.cluster\.local$/, '');
    const partial = h.replace(/\.svc$/, '');
    return !((full !== h && unique.has(full)) || (partial !== h && unique.has(partial)));
  });
  return kept.length > 2 ? `${kept.slice(0, 2).join(', ')} + ${kept.length - 2} more...` : kept.join(', ');
}

function routeTable(routes: Json[]): string {
  const rows: string[][] = [];
  for (const rc of routes) {
    for (const vh of rc.virtual_hosts ?? []) {
      const domains = describeDomains(vh.domains ?? []);
      for (const r of vh.routes ?? []) {
        if (r.route?.cluster === 'PassthroughCluster') continue;
        rows.push([String(rc.name), String(vh.name), domains, describeRouteMatch(r.match), managedBy(r)]);
      }
      if ((vh.routes ?? []).length === 0) rows.push([String(rc.name), String(vh.name), domains, '/*', '404']);
    }
  }
  return formatTable(['NAME', 'VHOST NAME', 'DOMAINS', 'MATCH', 'VIRTUAL SERVICE'], rows);
}

// --- endpoints -----------------------------------------------------------------------------------------

interface EndpointRow {
  readonly address: string;
  readonly port: number;
  readonly status: string;
  readonly locality: string;
  readonly cluster: string;
}

function endpointRows(assignments: Json[]): EndpointRow[] {
  const rows: EndpointRow[] = [];
  for (const cla of assignments) {
    for (const group of cla.endpoints ?? []) {
      const l = group.locality ?? {};
      const locality = [l.region, l.zone, l.sub_zone].filter((x) => x).join('/');
      for (const ep of group.lb_endpoints ?? []) {
        const sa = ep.endpoint?.address?.socket_address ?? {};
        rows.push({ address: String(sa.address ?? ''), port: Number(sa.port_value ?? 0), status: String(ep.health_status ?? 'UNKNOWN'), locality, cluster: String(cla.cluster_name) });
      }
    }
  }
  return rows;
}

function endpointMatches(r: EndpointRow, f: ProxyConfigFilters): boolean {
  if (!clusterMatches(r.cluster, f)) return false;
  if (f.cluster && r.cluster.toLowerCase() !== f.cluster.toLowerCase()) return false;
  if (f.address && r.address.toLowerCase() !== f.address.toLowerCase()) return false;
  if (f.status && r.status.toLowerCase() !== f.status.toLowerCase()) return false;
  return true;
}

function endpointTable(rows: EndpointRow[]): string {
  return formatTable(['ENDPOINT', 'STATUS', 'LOCALITY', 'CLUSTER'], rows.map((r) => [`${r.address}:${r.port}`, r.status, r.locality, r.cluster]));
}

// --- secrets -------------------------------------------------------------------------------------------

interface SecretRow {
  readonly name: string;
  readonly type: string;
  readonly source: string;
}

/** Where each SDS secret comes from: the agent's sds-grpc cluster, or ADS (meshd, which serves no secrets). */
function secretRows(d: DumpedResources): SecretRow[] {
  const sources = new Map<string, string>();
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) for (const x of v) walk(x);
    else if (v && typeof v === 'object') {
      const o = v as Json;
      if (typeof o.name === 'string' && o.sds_config) {
        const grpc = o.sds_config.api_config_source?.grpc_services?.[0]?.envoy_grpc?.cluster_name;
        sources.set(o.name, grpc ? `SDS cluster ${grpc} (the agent)` : o.sds_config.ads !== undefined ? 'ADS (meshd serves no secrets)' : 'SDS');
      }
      for (const x of Object.values(o)) walk(x);
    }
  };
  walk([d.clusters, d.listeners]);
  return d.secrets.map((name) => ({ name, type: name === 'ROOTCA' || name.endsWith('-cacert') ? 'CA' : 'Cert Chain', source: sources.get(name) ?? '' }));
}

function secretTable(rows: SecretRow[]): string {
  return formatTable(['RESOURCE NAME', 'TYPE', 'SOURCE'], rows.map((r) => [r.name, r.type, r.source]));
}

// --- command -------------------------------------------------------------------------------------------

/** What `kind` selects of the dump, after the filters: the resources as -o json prints them, and the table. */
export function proxyConfigView(kind: Exclude<ProxyConfigKind, 'all'>, d: DumpedResources, f: ProxyConfigFilters): { resources: unknown[]; table: string } {
  switch (kind) {
    case 'cluster': {
      const cs = sortClusters(d.clusters.filter((c) => clusterMatches(String(c.name), f)));
      return { resources: cs, table: clusterTable(cs) };
    }
    case 'listener': {
      const ls = sortListeners(d.listeners.filter((l) => listenerMatches(l, f)));
      return { resources: ls, table: listenerTable(ls) };
    }
    case 'route': {
      const rs = d.routes.filter((r) => !f.name || r.name === f.name).sort((a, b) => String(a.name).localeCompare(String(b.name)));
      return { resources: rs, table: routeTable(rs) };
    }
    case 'endpoint': {
      const rows = endpointRows(d.endpoints).filter((r) => endpointMatches(r, f)).sort((a, b) => a.cluster.localeCompare(b.cluster) || a.address.localeCompare(b.address));
      const names = new Set(rows.map((r) => r.cluster));
      return { resources: d.endpoints.filter((e) => names.has(String(e.cluster_name))), table: endpointTable(rows) };
    }
    case 'secret': {
      const rows = secretRows(d).filter((r) => !f.name || r.name === f.name);
      return { resources: rows, table: secretTable(rows) };
    }
  }
}

/** `POD` → `POD.NAMESPACE` (default namespace `default`), `POD.NS` and node ids as given. */
export function proxyIdOf(target: string, namespace: string | undefined): string {
  return target.includes('.') || target.includes('~') ? target : `${target}.${namespace ?? 'default'}`;
}

/** Exit 0; 1 when the proxy is not connected; 2 when meshd cannot be asked. */
export async function runProxyConfig(kind: ProxyConfigKind, target: string, flags: ProxyConfigFlags, io: CommandIO): Promise<number> {
  const proxyId = proxyIdOf(target, flags.namespace);
  let dump: { configs?: Json[] };
  try {
    dump = await withMeshdTarget(flags, (target) => getFromReplicaOf(target.endpoints, 'config_dump', { proxyID: proxyId }));
  } catch (err) {
    io.stderr.write(`meshd proxy-config ${kind}: ${(err as Error).message}\n`);
    return (err as { status?: number }).status === 404 ? 1 : 2;
  }
  const d = resourcesOfDump(dump);
  const kinds = kind === 'all' ? (['cluster', 'listener', 'route', 'endpoint', 'secret'] as const) : [kind];
  const views = kinds.map((k) => [k, proxyConfigView(k, d, flags)] as const);
  if (flags.output === 'table') {
    io.stdout.write(views.map(([, v]) => v.table).join('\n'));
    return 0;
  }
  const data = kind === 'all' ? (flags.name || flags.fqdn || flags.port || flags.subset || flags.direction ? Object.fromEntries(views.map(([k, v]) => [k, v.resources])) : dump) : views[0]![1].resources;
  io.stdout.write(flags.output === 'yaml' ? YAML.stringify(data) : `${JSON.stringify(data, null, 2)}\n`);
  return 0;
}
