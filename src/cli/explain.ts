import { isIP } from 'node:net';
import { writeFormatted } from './output.js';
import { simulate, type ClusterFacts, type SimResult } from '../simulate/envoy-sim.js';
import { simulateHttpFilters, simulateNetworkRbac } from '../simulate/http-filters.js';
import { ResourceSet, type Json, type SimRequestInput } from '../simulate/resources.js';
import { parseQuery } from '../simulate/route-match.js';
import type { ConfigObjectRef, MeshView } from './mesh-view.js';
import type { CommandIO } from './proxy-status.js';
import type { MeshdTargetFlags } from './meshd-flags.js';

// `meshd explain`: why one request from one proxy goes where it goes, read from what meshd serves that
// proxy (its config dump, live or generated offline) with the Envoy simulator: listener → filter chain →
// route (and the VirtualService that made it) → weighted choice → cluster (the DestinationRule, subset,
// load balancing, TLS) → endpoints (health, locality, the pod and its labels) → and at the chosen
// endpoint's own sidecar, whether authorization lets it in (the AuthorizationPolicy that decided).

export interface ExplainTarget {
  readonly protocol: 'http' | 'tcp' | 'grpc';
  readonly host: string;
  readonly port: number;
  readonly path: string;
}

/** `http://host[:port]/path?q`, `tcp://ip:port`, `grpc://host:port/pkg.Service/Method`. */
export function parseTarget(text: string): ExplainTarget {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(`request ${JSON.stringify(text)}: want http://HOST[:PORT]/PATH, tcp://HOST:PORT or grpc://HOST:PORT/package.Service/Method`);
  }
  const scheme = url.protocol.replace(/:$/, '');
  if (scheme !== 'http' && scheme !== 'tcp' && scheme !== 'grpc') throw new Error(`request ${JSON.stringify(text)}: scheme ${scheme} is not http, tcp or grpc`);
  const port = url.port ? Number(url.port) : scheme === 'http' ? 80 : NaN;
  if (!Number.isInteger(port)) throw new Error(`request ${JSON.stringify(text)}: ${scheme}:// needs a port`);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (scheme === 'grpc' && !/^\/[^/]+\/[^/]+$/.test(url.pathname)) throw new Error(`request ${JSON.stringify(text)}: a gRPC method is /package.Service/Method`);
  return { protocol: scheme, host, port, path: `${url.pathname}${url.search}` };
}

export interface ExplainOptions {
  readonly proxy: string;
  readonly request: string;
  readonly headers: readonly string[];
  readonly method?: string;
}

interface EndpointFacts {
  readonly address: string;
  readonly health: string;
  readonly locality: string;
  readonly mtls: boolean;
  readonly pod?: string;
  readonly labels?: Record<string, string>;
}

interface ClusterVerdict {
  readonly name: string;
  readonly weight?: number;
  readonly found: boolean;
  readonly destinationRule?: ConfigObjectRef;
  readonly subset?: string;
  readonly lbPolicy?: string;
  readonly tls: string;
  readonly endpoints: readonly EndpointFacts[];
}

interface AuthzVerdict {
  readonly evaluated: boolean;
  readonly at?: string;
  readonly decision?: 'ALLOW' | 'DENY' | 'JWT refused';
  readonly policy?: ConfigObjectRef;
  readonly detail?: string;
}

export interface Explanation {
  readonly source: string;
  readonly from: string;
  readonly request: { method: string; url: string; destination: string; headers: Record<string, string> };
  readonly listener?: string;
  readonly filterChain?: string;
  readonly route?: {
    routeConfiguration: string; virtualHost: string; name?: string; match: Json; action: string;
    virtualService?: ConfigObjectRef; redirect?: string; directResponse?: number;
  };
  readonly clusters: readonly ClusterVerdict[];
  readonly picked?: string;
  readonly authorization?: AuthzVerdict;
  readonly forwarded: boolean;
  readonly verdict: string;
}

const ISTIO_CONFIG = /^\/apis\/[^/]+\/[^/]+\/namespaces\/([^/]+)\/([^/]+)\/([^/]+)$/;
const KIND_OF_PATH: Readonly<Record<string, string>> = { 'virtual-service': 'VirtualService', 'destination-rule': 'DestinationRule' };

async function managedBy(view: MeshView, resource: Json | undefined): Promise<ConfigObjectRef | undefined> {
  const m = ISTIO_CONFIG.exec(String(resource?.metadata?.filter_metadata?.istio?.config ?? ''));
  if (!m) return undefined;
  return view.objectRef(KIND_OF_PATH[m[2]!] ?? m[2]!, m[1]!, m[3]!);
}

const refText = (r: ConfigObjectRef) => `${r.kind} ${r.namespace}/${r.name}${r.origin ? ` (${r.origin})` : ''}`;

function keyValues(items: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items) {
    const at = item.indexOf(':');
    if (at <= 0) throw new Error(`header ${JSON.stringify(item)}: want NAME:VALUE`);
    out[item.slice(0, at).trim().toLowerCase()] = item.slice(at + 1).trim();
  }
  return out;
}

/** The service a host names, from the proxy's namespace as its resolver would (short names first). */
function resolveService(services: readonly Json[], host: string, namespace: string): Json | undefined {
  const byHost = new Map(services.map((s) => [String(s.hostname), s]));
  const domain = String(services.find((s) => /\.svc\./.test(String(s.hostname)))?.hostname ?? '').replace(/^.*?\.svc\./, '') || 'cluster.local';
  for (const h of [host, `${host}.${namespace}.svc.${domain}`, `${host}.svc.${domain}`, `${host}.${domain}`]) {
    const s = byHost.get(h);
    if (s) return s;
  }
  return undefined;
}

interface EndpointIndexEntry { pod?: string; labels?: Record<string, string>; serviceAccount?: string }

function endpointIndex(shards: Record<string, Record<string, Json>>): Map<string, EndpointIndexEntry> {
  const out = new Map<string, EndpointIndexEntry>();
  for (const byNs of Object.values(shards)) {
    for (const entry of Object.values(byNs)) {
      for (const eps of Object.values((entry.Shards ?? {}) as Record<string, Json[]>)) {
        for (const e of eps) {
          const address = String(e.Addresses?.[0] ?? '');
          if (!address || out.has(address)) continue;
          out.set(address, {
            ...(e.WorkloadName ? { pod: `${e.WorkloadName}.${e.Namespace}` } : {}),
            ...(e.Labels ? { labels: e.Labels } : {}),
            ...(e.ServiceAccount ? { serviceAccount: e.ServiceAccount } : {}),
          });
        }
      }
    }
  }
  return out;
}

function tlsOf(c: ClusterFacts): string {
  const alpn: string[] = c.tls?.common_tls_context?.alpn_protocols ?? [];
  if (c.transportSocket?.endsWith('UpstreamTlsContext')) return alpn.some((a) => a.startsWith('istio')) ? 'ISTIO_MUTUAL' : 'TLS origination';
  if (c.transportSocketMatches.includes('tlsMode-istio')) return 'auto mTLS: ISTIO_MUTUAL to endpoints labelled tlsMode=istio, plaintext to the rest';
  return 'plaintext';
}

function endpointFacts(resources: ResourceSet, c: ClusterFacts, index: Map<string, EndpointIndexEntry>): EndpointFacts[] {
  const cla = c.resource ? resources.endpoints.get(String(c.edsServiceName ?? c.name)) ?? c.resource.load_assignment : undefined;
  const out: EndpointFacts[] = [];
  for (const group of cla?.endpoints ?? []) {
    const l = group.locality ?? {};
    for (const ep of group.lb_endpoints ?? []) {
      const sa = ep.endpoint?.address?.socket_address ?? {};
      const known = index.get(String(sa.address));
      out.push({
        address: `${sa.address}:${sa.port_value}`,
        health: String(ep.health_status ?? 'UNKNOWN'),
        locality: [l.region, l.zone, l.sub_zone].filter(Boolean).join('/'),
        mtls: ep.metadata?.filter_metadata?.['envoy.transport_socket_match']?.tlsMode === 'istio' || (tlsOf(c) === 'ISTIO_MUTUAL'),
        ...(known?.pod ? { pod: known.pod } : {}),
        ...(known?.labels ? { labels: known.labels } : {}),
      });
    }
  }
  return out;
}

async function clusterVerdict(view: MeshView, resources: ResourceSet, c: ClusterFacts, index: Map<string, EndpointIndexEntry>, weight?: number): Promise<ClusterVerdict> {
  const dr = await managedBy(view, c.resource);
  const subset = c.resource?.metadata?.filter_metadata?.istio?.subset ?? (c.name.split('|')[2] || undefined);
  return {
    name: c.name,
    ...(weight !== undefined ? { weight } : {}),
    found: c.found,
    ...(dr ? { destinationRule: dr } : {}),
    ...(subset ? { subset: String(subset) } : {}),
    ...(c.lbPolicy ? { lbPolicy: c.lbPolicy } : {}),
    tls: c.found ? tlsOf(c) : '',
    endpoints: c.found ? endpointFacts(resources, c, index) : [],
  };
}

const POLICY_NAME = /^ns\[([^\]]*)\]-policy\[([^\]]*)\]-rule\[\d+\]$/;

/** At the chosen endpoint's own sidecar: the inbound chain, then jwt_authn and RBAC, as its Envoy would run them. */
async function authorize(view: MeshView, target: ExplainTarget, req: SimRequestInput, endpoint: EndpointFacts, sni: string | undefined, principal: string | undefined): Promise<AuthzVerdict> {
  if (!endpoint.pod) return { evaluated: false, detail: `no pod known behind ${endpoint.address}: its inbound policy is not meshd's` };
  const dump = await view.configDump(endpoint.pod);
  if (!dump) return { evaluated: false, at: endpoint.pod, detail: `${endpoint.pod} has no sidecar connected to ${view.describe}` };
  const resources = ResourceSet.fromDump(dump);
  const [ip, port] = [endpoint.address.slice(0, endpoint.address.lastIndexOf(':')), Number(endpoint.address.slice(endpoint.address.lastIndexOf(':') + 1))];
  const h2 = target.protocol === 'grpc';
  const inbound = simulate(resources, {
    ...req, entryPort: 15006, destinationIp: ip, port,
    ...(endpoint.mtls ? { tls: { ...(sni ? { sni } : {}), alpn: [h2 ? 'istio-h2' : 'istio-http/1.1', 'istio'] } } : {}),
  });
  if (inbound.failure) return { evaluated: true, at: endpoint.pod, decision: 'DENY', detail: `its inbound listener refuses the connection: ${inbound.detail ?? inbound.failure}` };
  const listener = resources.listeners.find((l) => l.name === inbound.listener);
  const chain = [...(listener?.filter_chains ?? []), ...(listener?.default_filter_chain ? [listener.default_filter_chain] : [])].find((ch: Json) => String(ch.name ?? '') === inbound.filterChain);
  // the source address is not known to meshd (a pod may have several); rules on it say so instead of guessing
  const connection = { destinationPort: port, destinationIp: ip, ...(sni ? { sni } : {}) };
  const peerPrincipal = endpoint.mtls && principal ? principal : undefined;
  if (target.protocol === 'tcp' || !inbound.http) {
    const network = simulateNetworkRbac(chain?.filters ?? [], { ...connection, ...(peerPrincipal ? { peerPrincipal } : {}) });
    return await authzVerdict(view, endpoint.pod, network.allowed ? 200 : 403, network.rbacMatches, chain?.filters ?? [], 'envoy.filters.network.rbac', network.allowed ? undefined : 'RBAC: connection denied (the network filter closes it)');
  }
  const hcm = (chain?.filters ?? []).find((f: Json) => String(f.typed_config?.['@type'] ?? '').endsWith('HttpConnectionManager'))?.typed_config;
  const headers = new Map<string, string[]>(Object.entries(req.headers ?? {}).map(([k, v]) => [k, Array.isArray(v) ? v : [v]]));
  headers.set(':authority', [req.host ?? `${target.host}:${target.port}`]);
  headers.set(':path', [target.path]);
  headers.set(':method', [req.method ?? 'GET']);
  const decision = await simulateHttpFilters(hcm?.http_filters ?? [], {
    headers, query: parseQuery(target.path), path: target.path, method: req.method ?? 'GET',
    ...(peerPrincipal ? { peerPrincipal } : {}),
    connection,
  });
  return await authzVerdict(view, endpoint.pod, decision.status, decision.rbacMatches, hcm?.http_filters ?? [], 'envoy.filters.http.rbac', decision.detail);
}

/** The verdict with the AuthorizationPolicy that decided, found from the RBAC policy name meshd gave it. */
async function authzVerdict(view: MeshView, at: string, status: 200 | 401 | 403, rbacMatches: readonly (string | undefined)[], filters: readonly Json[], rbacFilter: string, refusal: string | undefined): Promise<AuthzVerdict> {
  const matched = [...rbacMatches].reverse().find((m) => m !== undefined);
  const p = matched ? POLICY_NAME.exec(matched) : null;
  const policy = p ? await view.objectRef('AuthorizationPolicy', p[1]!, p[2]!) : undefined;
  let detail = refusal ?? (status === 200 && !policy ? 'no AuthorizationPolicy applies' : undefined);
  if (status === 403 && !policy) {
    // an ALLOW filter that matched nothing: the request fits no rule of its policies
    const allow = filters.filter((f: Json) => f.name === rbacFilter && (f.typed_config?.rules?.action ?? 'ALLOW') === 'ALLOW');
    const names = [...new Set(allow.flatMap((f: Json) => Object.keys(f.typed_config?.rules?.policies ?? {})).map((n: string) => POLICY_NAME.exec(n)).filter((m): m is RegExpExecArray => m !== null).map((m) => `${m[1]}/${m[2]}`))];
    if (names.length > 0) detail = `no rule of the ALLOW polic${names.length > 1 ? 'ies' : 'y'} ${names.join(', ')} matches`;
  }
  return {
    evaluated: true, at,
    decision: status === 200 ? 'ALLOW' : status === 401 ? 'JWT refused' : 'DENY',
    ...(policy ? { policy } : {}),
    ...(detail ? { detail } : {}),
  };
}

export async function explain(view: MeshView, opts: ExplainOptions): Promise<Explanation> {
  const target = parseTarget(opts.request);
  const proxyId = opts.proxy.includes('.') || opts.proxy.includes('~') ? opts.proxy : `${opts.proxy}.default`;
  const dump = await view.configDump(proxyId);
  if (!dump) throw new Error(`proxy ${proxyId}: not known to ${view.describe}${view.describe.startsWith('meshd') ? ' (not connected)' : ' (no such Pod)'}`);
  const namespace = (proxyId.includes('~') ? proxyId.split('~')[2]! : proxyId).split('.').slice(1).join('.') || 'default';
  const [services, shards] = await Promise.all([view.services(), view.endpoints()]);
  const index = endpointIndex(shards);
  const service = isIP(target.host) ? undefined : resolveService(services, target.host, namespace);
  const destinationIp = isIP(target.host) ? target.host : String(service?.defaultAddress ?? '0.0.0.0');
  const headers = keyValues(opts.headers);
  const method = opts.method ?? (target.protocol === 'grpc' ? 'POST' : 'GET');
  const req: SimRequestInput = {
    port: target.port, destinationIp, entryPort: 15001,
    protocol: target.protocol === 'tcp' ? 'tcp' : 'http',
    httpVersion: target.protocol === 'grpc' ? 'h2c' : 'http/1.1',
    host: target.port === 80 && target.protocol === 'http' ? target.host : `${target.host}:${target.port}`,
    path: target.path, method,
    headers: target.protocol === 'grpc' ? { 'content-type': 'application/grpc', te: 'trailers', ...headers } : headers,
  };
  const resources = ResourceSet.fromDump(dump);
  const result: SimResult = simulate(resources, req);
  const base = {
    source: view.describe, from: proxyId,
    request: { method, url: opts.request, destination: `${destinationIp}:${target.port}${service ? ` (${service.hostname})` : ''}`, headers },
    ...(result.listener ? { listener: result.listener } : {}),
    ...(result.filterChain !== undefined ? { filterChain: result.filterChain || '(unnamed)' } : {}),
  };
  if (result.failure) {
    return { ...base, clusters: [], forwarded: false, verdict: `not forwarded: ${result.failure.replace(/_/g, ' ')}${result.detail ? ` (${result.detail})` : ''}` };
  }
  const weights = new Map((result.http?.clusters ?? result.tcpClusters ?? []).map((c) => [c.name, c.weight]));
  const clusters = await Promise.all(result.clusters.map((c) => clusterVerdict(view, resources, c, index, weights.size > 1 ? weights.get(c.name) : undefined)));
  const picked = result.http?.pickedCluster ?? result.tcpClusters?.[0]?.name;
  let route: Explanation['route'];
  if (result.http) {
    const h = result.http;
    const vs = await managedBy(view, h.route);
    route = {
      routeConfiguration: h.routeConfiguration, virtualHost: h.virtualHost, ...(h.routeName ? { name: h.routeName } : {}),
      match: h.route.match ?? {}, action: h.action,
      ...(vs ? { virtualService: vs } : {}),
      ...(h.redirect ? { redirect: `${h.redirect.status} ${h.redirect.location}` } : {}),
      ...(h.directResponse ? { directResponse: h.directResponse.status } : {}),
    };
  }
  if (route && route.action !== 'route') {
    const what = route.redirect ? `redirected: ${route.redirect}` : route.directResponse !== undefined ? `answered by the proxy itself with ${route.directResponse}` : `not forwarded (${route.action})`;
    return { ...base, route, clusters, forwarded: false, verdict: what };
  }
  const chosen = clusters.find((c) => c.name === picked) ?? clusters[0];
  if (!chosen || !chosen.found) {
    return { ...base, ...(route ? { route } : {}), clusters, forwarded: false, verdict: `not forwarded: cluster ${picked ?? '(none)'} is not in the proxy's CDS (Envoy answers 503 NC)` };
  }
  if (chosen.name === 'BlackHoleCluster') return { ...base, ...(route ? { route } : {}), clusters, picked: chosen.name, forwarded: false, verdict: 'dropped: BlackHoleCluster (outboundTrafficPolicy REGISTRY_ONLY, or no route)' };
  const live = chosen.endpoints.filter((e) => e.health === 'HEALTHY' || e.health === 'UNKNOWN');
  let authorization: AuthzVerdict | undefined;
  const endpoint = live[0] ?? chosen.endpoints[0];
  if (endpoint) {
    const facts = result.clusters.find((c) => c.name === chosen.name);
    const sni = facts?.resource?.transport_socket_matches?.[0]?.transport_socket?.typed_config?.sni ?? facts?.tls?.sni;
    const self = index.get(String(proxyId.includes('~') ? proxyId.split('~')[1] : ''));
    const principal = self?.serviceAccount ?? (await sourcePrincipal(view, proxyId, index));
    authorization = await authorize(view, target, req, endpoint, sni, principal);
  }
  const forwarded = chosen.endpoints.length > 0 && live.length > 0 && authorization?.decision !== 'DENY' && authorization?.decision !== 'JWT refused';
  const where = chosen.name === 'PassthroughCluster' ? 'PassthroughCluster (the original destination, outside the mesh registry)' : `${chosen.name}${chosen.subset ? ` (subset ${chosen.subset})` : ''}`;
  const verdict = chosen.name === 'PassthroughCluster'
    ? `forwarded to ${where}`
    : live.length === 0
      ? `not forwarded: ${chosen.name} has no healthy endpoint (Envoy answers 503 UH)`
      : authorization?.decision === 'DENY' || authorization?.decision === 'JWT refused'
        ? `refused at ${authorization.at}: ${authorization.decision}${authorization.policy ? ` by ${refText(authorization.policy)}` : ''}${authorization.detail ? ` (${authorization.detail})` : ''}`
        : `forwarded to ${where}${clusters.length > 1 ? ` with weight ${chosen.weight} of ${clusters.reduce((s, c) => s + (c.weight ?? 0), 0)}` : ''}`;
  return { ...base, ...(route ? { route } : {}), clusters, ...(picked ? { picked } : {}), ...(authorization ? { authorization } : {}), forwarded: forwarded || chosen.name === 'PassthroughCluster', verdict };
}

/** The source proxy's SPIFFE identity: its address's service account in the registry. */
async function sourcePrincipal(view: MeshView, proxyId: string, index: Map<string, EndpointIndexEntry>): Promise<string | undefined> {
  const pod = proxyId.includes('~') ? proxyId.split('~')[2]! : proxyId;
  for (const e of index.values()) if (e.pod === pod && e.serviceAccount) return e.serviceAccount;
  return (await view.identity?.(pod)) ?? undefined;
}

export function formatExplanation(e: Explanation): string {
  const lines: string[] = [];
  const add = (label: string, text: string) => lines.push(`  ${label.padEnd(10)} ${text}`);
  lines.push(`${e.request.method} ${e.request.url} from ${e.from} (${e.source})`);
  add('dest', e.request.destination);
  if (e.listener) add('listener', `${e.listener}${e.filterChain ? `, filter chain ${e.filterChain}` : ''}`);
  if (e.route) {
    add('route', `${e.route.routeConfiguration} › ${e.route.virtualHost} › ${e.route.name ?? '(unnamed route)'} ${JSON.stringify(e.route.match)}`);
    if (e.route.virtualService) add('', `from ${refText(e.route.virtualService)}`);
  }
  for (const c of e.clusters) {
    const weight = c.weight !== undefined ? ` weight ${c.weight}` : '';
    const mark = e.picked === c.name && e.clusters.length > 1 ? ' ← picked' : '';
    add('cluster', `${c.name}${weight}${mark}${c.found ? '' : ' (NOT IN CDS)'}`);
    if (c.destinationRule) add('', `from ${refText(c.destinationRule)}${c.subset ? `, subset ${c.subset}` : ''}${c.lbPolicy ? `, ${c.lbPolicy}` : ''}`);
    if (c.tls) add('', `tls: ${c.tls}`);
    for (const ep of c.endpoints) {
      const labels = ep.labels ? ` {${Object.entries(ep.labels).map(([k, v]) => `${k}=${v}`).join(', ')}}` : '';
      add('', `endpoint ${ep.address} ${ep.health}${ep.locality ? ` ${ep.locality}` : ''}${ep.pod ? ` ${ep.pod}` : ''}${labels}${ep.mtls ? ' mTLS' : ''}`);
    }
  }
  if (e.authorization) {
    const a = e.authorization;
    add('authz', a.evaluated ? `${a.decision} at ${a.at}${a.policy ? ` by ${refText(a.policy)}` : ''}${a.detail ? ` (${a.detail})` : ''}` : `not evaluated: ${a.detail}`);
  }
  lines.push(`verdict: ${e.verdict}`);
  return `${lines.join('\n')}\n`;
}

export interface ExplainFlags extends Omit<ExplainOptions, 'request'>, MeshdTargetFlags {
  readonly configDir?: string;
  readonly output: 'text' | 'json' | 'yaml';
}

/** Exit 0 when the request is forwarded (and allowed), 1 when not, 2 on bad input or an unreachable meshd. */
export async function runExplain(request: string, flags: ExplainFlags, io: CommandIO): Promise<number> {
  let e: Explanation;
  try {
    if (flags.configDir) {
      e = await explain(await (await import('./offline-mesh.js')).offlineMeshView(flags.configDir), { ...flags, request });
    } else {
      const [{ liveMeshView }, { withMeshdTarget }] = await Promise.all([import('./mesh-view.js'), import('./meshd-target.js')]);
      e = await withMeshdTarget(flags, (target) => explain(liveMeshView(target), { ...flags, request }));
    }
  } catch (err) {
    io.stderr.write(`meshd explain: ${(err as Error).message}\n`);
    return 2;
  }
  await writeFormatted(io.stdout, flags.output, e, () => formatExplanation(e));
  return e.forwarded ? 0 : 1;
}
