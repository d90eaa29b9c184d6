import type { Server } from '../../../config/schemas/gateway.js';
import type { L4MatchAttributes, TLSMatchAttributes } from '../../../config/schemas/virtual-service.js';
import { filterCipherSuites } from '../../../config/tls-ciphers.js';
import { hostSubsetOf } from '../../../config/semantics/util.js';
import { anyOf, ANY_TYPE } from '../../../envoy/type-urls.js';
import { httpConnectionManager, sidecarHttpFilters, tcpProxyFilter, tlsInspectorListenerFilter } from '../../../envoy/hcm.js';
import { workloadPolicyFilters, type WorkloadPolicyFilters } from '../../../security/sidecar.js';
import { adsConfigSource } from '../../../envoy/type-urls.js';
import { meshCommonTlsContext, sdsSecretConfig, SDS_CERTIFICATE_NAME, SDS_ROOT_NAME, tlsCertificateSecret, validationContextSecret } from '../../../envoy/sds.js';
import { BUILTIN_PREFIX, credentialResourceName, parseSecretResource, resolveCaBundle, resolveCertificate, SDS_CA_SUFFIX, serverCredentialNames, serverCredentialProblem } from '../../../model/gateway-credentials.js';
import { BLACKHOLE_CLUSTER } from '../../../envoy/cluster-name.js';
import type { J } from '../../../envoy/json.js';
import { gatewaysForProxy, isHttpsTerminating, isPassthrough, mergeGateways, qualifiedGatewayName, serverProtocol, type GatewayServer, type MergedGateway } from '../../../model/gateways.js';
import type { IndexedVirtualService, PushContext } from '../../../model/push-context.js';
import type { Proxy } from '../../../model/proxy.js';
import { TYPE, type TypeUrl } from '../../resource-types.js';
import type { Generator } from '../generator.js';
import { buildSidecarCluster, buildSniDnatCluster, sidecarClusterNames } from '../sidecar/cds.js';
import { autoPassthroughChains, isAutoPassthrough, sniDnatClusterNames } from './auto-passthrough.js';
import { buildSidecarLoadAssignment } from '../sidecar/eds.js';
import { destinationCluster, exportedTo, virtualServiceHttpRoutes } from '../sidecar/http-routes.js';
import { serviceTargets } from '../sidecar/scope.js';
import { sidecarClassKey } from '../sidecar/scope.js';
import { SidecarTelemetry } from '../sidecar/telemetry.js';

// The gateway generator (istio-proxy nodes `router~IP~POD.NS~NS.svc.DOMAIN`): istiod's gateway LDS/RDS
// and the outbound CDS/EDS gateways get.
//
// LDS: one listener per merged server port, `0.0.0.0_PORT` on the pod's port (a Gateway server port that
//      is a port of the gateway's Service is translated to that port's targetPort): plain HTTP servers share
//      one filter chain whose HTTP connection manager asks for route configuration `http.PORT`; each HTTPS
//      server terminating TLS gets a chain matched on its SNI hosts with a DownstreamTlsContext
//      (`credentialName` → SDS `kubernetes://NAME` over this ADS connection, ISTIO_MUTUAL → the workload
//      certificate from istio-agent) and route configuration `https.NUMBER.NAME.GATEWAY.NS`; TLS
//      PASSTHROUGH and TCP servers get tcp_proxy chains from the VirtualServices' `tls`/`tcp` routes;
//      AUTO_PASSTHROUGH servers per-cluster SNI chains without VirtualServices (auto-passthrough.ts).
// RDS: per route configuration, a virtual host per host both a server and a bound VirtualService name
//      (`gateways: [ns/name]`), named `HOST:SERVERPORT`; routes built like the sidecars'; `httpsRedirect`
//      → require_tls ALL; no host at all → `blackhole:PORT` answering 404.
// CDS/EDS: the outbound clusters a sidecar in the gateway's namespace would get, and their endpoints (+ the
//      SNI-DNAT clusters `outbound_.PORT_.SUBSET_.FQDN` when an AUTO_PASSTHROUGH server is present).

/** PILOT_SCOPE_GATEWAY_TO_NAMESPACE: a Gateway selects only gateway pods of its own namespace. */
export interface RouterGeneratorOptions {
  readonly scopeGatewayToNamespace?: boolean;
}

const MAX_DIRECT_RESPONSE_BODY = 1048576;

function merged(ctx: PushContext, proxy: Proxy, opts: RouterGeneratorOptions): MergedGateway {
  const targets = serviceTargets(ctx, proxy);
  const resolve = (n: number) => targets.find((t) => t.port.port === n)?.targetPort ?? n;
  return mergeGateways(gatewaysForProxy(ctx, proxy, opts.scopeGatewayToNamespace ?? false), resolve);
}

function listenerName(bind: string, port: number): string {
  return `${bind || '0.0.0.0'}_${port}`;
}

/** Server hosts `ns/host` that apply to a VirtualService in `vsNamespace` (istiod NamesForNamespace). */
function serverHostsFor(s: GatewayServer, vsNamespace: string): string[] {
  const out: string[] = [];
  for (const h of s.server.hosts) {
    const slash = h.indexOf('/');
    if (slash < 0) {
      out.push(h);
      continue;
    }
    const ns = h.slice(0, slash);
    if (ns === '*' || ns === vsNamespace || (ns === '.' && vsNamespace === s.gatewayNamespace)) out.push(h.slice(slash + 1));
  }
  return out;
}

/** The more specific of each overlapping pair (istio host.Names.Intersection). */
function intersect(a: readonly string[], b: readonly string[]): string[] {
  const out: string[] = [];
  for (const x of a) for (const y of b) {
    const pick = hostSubsetOf(x, y) ? x : hostSubsetOf(y, x) ? y : undefined;
    if (pick !== undefined && !out.includes(pick)) out.push(pick);
  }
  return out;
}

function virtualServicesForGateway(ctx: PushContext, proxy: Proxy, gateway: string): IndexedVirtualService[] {
  return ctx.virtualServices.filter(
    (vs) => exportedTo(vs, proxy.namespace) && vs.gateways.some((g) => qualifiedGatewayName(g, vs.namespace) === gateway),
  );
}

// --- RDS --------------------------------------------------------------------------------------------------

function buildRouteConfiguration(ctx: PushContext, proxy: Proxy, m: MergedGateway, name: string): J | undefined {
  const servers = m.serversByRoute.get(name);
  const base = { name, validate_clusters: { value: false }, ignore_port_in_host_matching: true, max_direct_response_body_size_bytes: { value: MAX_DIRECT_RESPONSE_BODY } };
  if (!servers) return { ...base, virtual_hosts: [] };
  const vhosts = new Map<string, J>();
  for (const s of servers) {
    const port = s.server.port.number;
    const redirect = s.server.tls?.httpsRedirect === true;
    for (const vs of virtualServicesForGateway(ctx, proxy, s.gateway)) {
      const hosts = intersect(serverHostsFor(s, vs.namespace), vs.hosts);
      if (hosts.length === 0 || (vs.config.spec.http?.length ?? 0) === 0) continue;
      const { routes } = virtualServiceHttpRoutes(ctx, proxy, vs, port, new Set([s.gateway]));
      for (const raw of hosts) {
        const host = raw.toLowerCase();
        const existing = vhosts.get(host);
        if (existing) {
          (existing.routes as J[]).push(...routes);
          if (redirect) existing.require_tls = 'ALL';
          continue;
        }
        const vh: J = { name: `${host}:${port}`, domains: [host], routes: [...routes], include_request_attempt_count: true };
        if (redirect) vh.require_tls = 'ALL';
        vhosts.set(host, vh);
      }
    }
    if (redirect) {
      for (const raw of s.server.hosts) {
        const host = (raw.includes('/') ? raw.slice(raw.indexOf('/') + 1) : raw).toLowerCase();
        const existing = vhosts.get(host);
        if (existing) existing.require_tls = 'ALL';
        else vhosts.set(host, { name: `${host}:${port}`, domains: [host], routes: [], include_request_attempt_count: true, require_tls: 'ALL' });
      }
    }
  }
  if (vhosts.size === 0) {
    // Nothing claims any host of these servers: a virtual host without routes answers 404 (istiod's blackhole).
    return { ...base, virtual_hosts: [{ name: `blackhole:${servers[0]!.server.port.number}`, domains: ['*'], routes: [] }] };
  }
  const virtualHosts = [...vhosts.values()].sort((a, b) => {
    // exact hosts before wildcards, then by name (istiod SortVirtualHosts)
    const wa = (a.domains as string[])[0]!.startsWith('*');
    const wb = (b.domains as string[])[0]!.startsWith('*');
    if (wa !== wb) return wa ? 1 : -1;
    return String(a.name) < String(b.name) ? -1 : String(a.name) > String(b.name) ? 1 : 0;
  });
  return { ...base, virtual_hosts: virtualHosts };
}

// --- LDS --------------------------------------------------------------------------------------------------

/** istiod ConstructSdsSecretConfigForCredential: `builtin://` is the workload's own certificate from istio-agent. */
function credentialSecretConfig(credentialName: string, ca: boolean): J {
  if (credentialName.startsWith(BUILTIN_PREFIX)) return sdsSecretConfig(ca ? SDS_ROOT_NAME : SDS_CERTIFICATE_NAME);
  // no initial_fetch_timeout 0s here (istiod's SDSAdsConfig): a credential that never comes must not hold
  // the whole listener warming
  return { name: credentialResourceName(credentialName), sds_config: adsConfigSource() };
}

function tlsParams(s: Server): J | undefined {
  const tls = s.tls!;
  const p: J = {};
  if (tls.minProtocolVersion && tls.minProtocolVersion !== 'TLS_AUTO') p.tls_minimum_protocol_version = tls.minProtocolVersion;
  if (tls.maxProtocolVersion && tls.maxProtocolVersion !== 'TLS_AUTO') p.tls_maximum_protocol_version = tls.maxProtocolVersion;
  const ciphers = filterCipherSuites(tls.cipherSuites ?? []);
  if (ciphers.length > 0) p.cipher_suites = ciphers;
  if ((tls.ecdhCurves ?? []).length > 0) p.ecdh_curves = [...tls.ecdhCurves!];
  return Object.keys(p).length > 0 ? p : undefined;
}

/** istiod BuildListenerTLSContext for a gateway server terminating TLS. */
export function downstreamTlsContext(s: Server, alpn: readonly string[]): J {
  const tls = s.tls!;
  const mode = tls.mode ?? 'PASSTHROUGH';
  const params = tlsParams(s);
  let common: J;
  if (mode === 'ISTIO_MUTUAL') {
    common = meshCommonTlsContext({ alpnProtocols: alpn, subjectAltNames: tls.subjectAltNames, ...(params ? { tlsParams: params } : {}) });
  } else {
    common = { ...(params ? { tls_params: params } : {}), alpn_protocols: [...alpn] };
    const creds = serverCredentialNames(tls);
    if (creds.length > 0) {
      common.tls_certificate_sds_secret_configs = creds.map((c) => credentialSecretConfig(c, false));
      if (mode === 'MUTUAL' || mode === 'OPTIONAL_MUTUAL') {
        const ca = tls.caCertCredentialName ?? `${creds[0]}${SDS_CA_SUFFIX}`;
        const validation: J = {};
        if ((tls.subjectAltNames ?? []).length > 0) validation.match_subject_alt_names = tls.subjectAltNames!.map((exact) => ({ exact }));
        if ((tls.verifyCertificateSpki ?? []).length > 0) validation.verify_certificate_spki = [...tls.verifyCertificateSpki!];
        if ((tls.verifyCertificateHash ?? []).length > 0) validation.verify_certificate_hash = [...tls.verifyCertificateHash!];
        if (tls.insecureSkipVerify === true) validation.trust_chain_verification = 'ACCEPT_UNTRUSTED';
        common.combined_validation_context = { default_validation_context: validation, validation_context_sds_secret_config: credentialSecretConfig(ca, true) };
      } else if ((tls.subjectAltNames ?? []).length > 0) {
        common.validation_context = { match_subject_alt_names: tls.subjectAltNames!.map((exact) => ({ exact })) };
      }
    } else {
      const certs = tls.tlsCertificates ?? [{ serverCertificate: tls.serverCertificate, privateKey: tls.privateKey }];
      common.tls_certificates = certs.map((c) => ({ certificate_chain: { filename: c.serverCertificate ?? '' }, private_key: { filename: c.privateKey ?? '' } }));
      if ((mode === 'MUTUAL' || mode === 'OPTIONAL_MUTUAL') && tls.caCertificates) {
        common.validation_context = { trusted_ca: { filename: tls.caCertificates } };
      }
    }
  }
  const ctx: J = { common_tls_context: common };
  if (mode === 'MUTUAL' || mode === 'ISTIO_MUTUAL') ctx.require_client_certificate = { value: true };
  return ctx;
}

/**
 * What every chain of a gateway listener carries besides its routing: the policy filters of the
 * RequestAuthentications/AuthorizationPolicies attached to the gateway (security/sidecar.ts
 * workloadPolicyFilters; first in the HCM, before tcp_proxy) and its observability (access logs, tracing,
 * istio.stats; sidecar/telemetry.ts with istiod's gateway listener class).
 */
interface GatewayChainParts {
  readonly policy: WorkloadPolicyFilters;
  readonly telemetry: SidecarTelemetry;
}

function gatewayChainParts(ctx: PushContext, proxy: Proxy): GatewayChainParts {
  return { policy: workloadPolicyFilters(ctx, proxy, true), telemetry: new SidecarTelemetry(ctx, proxy) };
}

function gatewayTcpProxy(parts: GatewayChainParts, statPrefix: string, dest: string | Weighted): J[] {
  // istiod buildCompleteNetworkFilters for the gateway class: CUSTOM/RBAC, istio.stats, then tcp_proxy
  return [...parts.policy.networkFilters, ...parts.telemetry.statsFilters('gateway'), tcpProxyFilter(statPrefix, dest, parts.telemetry.accessLogs('gateway', 'tcp'))];
}

function gatewayHcm(parts: GatewayChainParts, statPrefix: string, rds: string): J {
  const obs = parts.telemetry.hcm('gateway');
  const hcm = httpConnectionManager({
    statPrefix,
    cls: 'outbound',
    rdsName: rds,
    httpFilters: sidecarHttpFilters({ cls: 'outbound', grpc: false, securityFilters: parts.policy.httpFilters, statsFilters: parts.telemetry.statsFilters('gateway') }),
    accessLog: obs.accessLog,
    ...(obs.tracing ? { tracing: obs.tracing } : {}),
    requestIdExtension: obs.requestIdExtension,
  }) as { typed_config: J };
  // gateways face clients: trust the peer address, sanitise and set XFCC (istiod buildGatewayConnectionManager)
  hcm.typed_config.use_remote_address = { value: true };
  hcm.typed_config.forward_client_cert_details = 'SANITIZE_SET';
  hcm.typed_config.set_current_client_cert_details = { subject: { value: true }, cert: true, dns: true, uri: true };
  return hcm;
}

function sniHosts(s: Server): string[] {
  const hosts = s.hosts.map((h) => (h.includes('/') ? h.slice(h.indexOf('/') + 1) : h));
  return hosts.includes('*') ? [] : [...new Set(hosts)].sort();
}

function l4Matches(m: L4MatchAttributes | TLSMatchAttributes, s: GatewayServer, vsNamespace: string): boolean {
  if (m.port !== undefined && m.port !== 0 && m.port !== s.server.port.number) return false;
  if (m.gateways && m.gateways.length > 0 && !m.gateways.some((g) => qualifiedGatewayName(g, vsNamespace) === s.gateway)) return false;
  return true;
}

type Weighted = { name: string; weight: number }[];

function l4Destination(ctx: PushContext, vs: IndexedVirtualService, route: { destination: never; weight?: number }[], port: number): string | Weighted {
  const dests = route as unknown as { destination: Parameters<typeof destinationCluster>[2]; weight?: number }[];
  if (dests.length === 1) return destinationCluster(ctx, vs.namespace, dests[0]!.destination, port);
  return dests.map((d) => ({ name: destinationCluster(ctx, vs.namespace, d.destination, port), weight: d.weight ?? 0 }));
}

/** tcp_proxy chains of a PASSTHROUGH/TLS or TCP server from the VirtualServices bound to its gateway. */
function l4Chains(ctx: PushContext, proxy: Proxy, parts: GatewayChainParts, s: GatewayServer, statPort: number): J[] {
  const chains: J[] = [];
  const tls = serverProtocol(s.server) === 'TLS' || serverProtocol(s.server) === 'HTTPS';
  for (const vs of virtualServicesForGateway(ctx, proxy, s.gateway)) {
    const hosts = intersect(serverHostsFor(s, vs.namespace), vs.hosts);
    if (hosts.length === 0) continue;
    if (tls) {
      for (const r of vs.config.spec.tls ?? []) {
        for (const m of r.match ?? []) {
          if (!l4Matches(m, s, vs.namespace)) continue;
          const sni = intersect(m.sniHosts ?? [], hosts);
          if (sni.length === 0) continue;
          const dest = l4Destination(ctx, vs, (r.route ?? []) as never, s.server.port.number);
          chains.push({
            filter_chain_match: { server_names: sni.includes('*') ? [] : sni },
            filters: gatewayTcpProxy(parts, typeof dest === 'string' ? dest : `outbound_${statPort}`, dest),
          });
        }
      }
    } else {
      for (const r of vs.config.spec.tcp ?? []) {
        const applies = (r.match ?? []).length === 0 || (r.match ?? []).some((m) => l4Matches(m, s, vs.namespace));
        if (!applies) continue;
        const dest = l4Destination(ctx, vs, (r.route ?? []) as never, s.server.port.number);
        chains.push({ filters: gatewayTcpProxy(parts, typeof dest === 'string' ? dest : `outbound_${statPort}`, dest) });
        return chains; // the first TCP route that applies takes the whole port
      }
    }
  }
  return chains;
}

function buildListener(ctx: PushContext, proxy: Proxy, m: MergedGateway, name: string): J | undefined {
  const port = m.ports.find((p) => listenerName(p.bind, p.port) === name);
  if (!port) return undefined;
  const chains: J[] = [];
  const parts = gatewayChainParts(ctx, proxy);
  if (port.cls === 'http') {
    chains.push({ filters: [gatewayHcm(parts, `outbound_0.0.0.0_${port.port}`, port.servers[0]!.routeName!)] });
  } else {
    for (const s of port.servers) {
      if (!credentialsServable(ctx, proxy, s)) continue;
      if (isHttpsTerminating(s.server)) {
        const sni = sniHosts(s.server);
        chains.push({
          ...(sni.length > 0 ? { filter_chain_match: { server_names: sni } } : {}),
          filters: [gatewayHcm(parts, `outbound_0.0.0.0_${port.port}`, s.routeName!)],
          transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: anyOf(ANY_TYPE.DOWNSTREAM_TLS_CONTEXT, downstreamTlsContext(s.server, ['h2', 'http/1.1'])) },
        });
      } else if (serverProtocol(s.server) === 'TLS' && !isPassthrough(s.server)) {
        // TLS terminated here, the plain stream proxied by the server's TCP routes
        for (const c of l4Chains(ctx, proxy, parts, { ...s, server: { ...s.server, port: { ...s.server.port, protocol: 'TCP' } } }, port.port)) {
          const sni = sniHosts(s.server);
          chains.push({
            ...(sni.length > 0 ? { filter_chain_match: { server_names: sni } } : {}),
            filters: c.filters,
            transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: anyOf(ANY_TYPE.DOWNSTREAM_TLS_CONTEXT, downstreamTlsContext(s.server, [])) },
          });
        }
      } else if (isAutoPassthrough(s.server)) {
        chains.push(...autoPassthroughChains(ctx, proxy, parts.telemetry, s.server));
      } else {
        chains.push(...l4Chains(ctx, proxy, parts, s, port.port));
      }
    }
  }
  if (chains.length === 0) return undefined;
  const listener: J = {
    name,
    address: { socket_address: { address: port.bind || '0.0.0.0', port_value: port.port } },
    filter_chains: chains,
    traffic_direction: 'OUTBOUND',
  };
  // connections no chain took (response flag NR), as istiod's gateway listeners log them
  const listenerLog = parts.telemetry.accessLogs('gateway', 'listener');
  if (listenerLog.length > 0) listener.access_log = listenerLog;
  if (chains.some((c) => c.filter_chain_match || c.transport_socket)) listener.listener_filters = [tlsInspectorListenerFilter()];
  return listener;
}

/**
 * A server terminating TLS with a `credentialName` whose Secret is missing or unusable is left out of the
 * listener (the other servers still served) and reported: a log line and pilot_sds_certificate_errors_total
 * through ctx.warn, the Gateway's status through the daemon.
 */
function credentialsServable(ctx: PushContext, proxy: Proxy, s: GatewayServer): boolean {
  const tls = s.server.tls;
  if (!tls || isPassthrough(s.server) || tls.mode === 'ISTIO_MUTUAL') return true;
  const problem = serverCredentialProblem(ctx, proxy.namespace, tls);
  if (!problem) return true;
  const server = s.server.name ? `server ${JSON.stringify(s.server.name)}` : `server on port ${s.server.port.number}`;
  ctx.warn(`Gateway ${s.gateway} ${server}, for gateway proxies of namespace ${proxy.namespace}: ${problem}; the server is left out`, { kind: 'credential', gateway: s.gateway });
  return false;
}

// --- SDS ------------------------------------------------------------------------------------------------

/**
 * The Secret body of `kubernetes://NAME` / `kubernetes://NAME-cacert` for a gateway proxy; undefined when it
 * names another namespace, is missing or unusable. Whether this proxy may read it at all (verified
 * identity of that namespace, SubjectAccessReview) is decided before: the server filters the names it
 * resolves (xds/server.ts).
 */
function buildSecret(ctx: PushContext, proxy: Proxy, resourceName: string): J | undefined {
  const ref = parseSecretResource(resourceName, proxy.namespace);
  if (!ref || ref.namespace !== proxy.namespace) return undefined;
  if (ref.caOnly) {
    const ca = resolveCaBundle(ctx, ref.namespace, ref.name);
    if (!ca.ok) {
      ctx.warn(`SDS ${resourceName} for gateway proxies of namespace ${proxy.namespace}: ${ca.error}`, { kind: 'credential' });
      return undefined;
    }
    return validationContextSecret(resourceName, ca.value);
  }
  const cert = resolveCertificate(ctx, ref.namespace, ref.name);
  if (!cert.ok) {
    ctx.warn(`SDS ${resourceName} for gateway proxies of namespace ${proxy.namespace}: ${cert.error}`, { kind: 'credential' });
    return undefined;
  }
  return tlsCertificateSecret(resourceName, cert.value);
}

function listenerNames(ctx: PushContext, proxy: Proxy, m: MergedGateway): string[] {
  return m.ports.map((p) => listenerName(p.bind, p.port)).filter((n) => buildListener(ctx, proxy, m, n) !== undefined);
}

// --- CDS ------------------------------------------------------------------------------------------------

function routerClusterNames(ctx: PushContext, proxy: Proxy, m: MergedGateway): string[] {
  // a gateway has no inbound side and no original-destination passthrough: outbound clusters + BlackHole,
  // and the SNI-DNAT clusters of AUTO_PASSTHROUGH servers (auto-passthrough.ts)
  const outbound = sidecarClusterNames(ctx, { ...proxy, interceptionMode: 'NONE' }).filter((n) => n.startsWith('outbound|') || n === BLACKHOLE_CLUSTER);
  return [...outbound, ...sniDnatClusterNames(ctx, proxy, m)];
}

function buildRouterCluster(ctx: PushContext, proxy: Proxy, m: MergedGateway, name: string): object | undefined {
  if (!routerClusterNames(ctx, proxy, m).includes(name)) return undefined;
  const gatewayProxy: Proxy = { ...proxy, interceptionMode: 'NONE' };
  return name.startsWith('outbound_.') ? buildSniDnatCluster(ctx, gatewayProxy, name) : buildSidecarCluster(ctx, gatewayProxy, name);
}

export function createRouterGenerator(opts: RouterGeneratorOptions = {}): Generator {
  return {
    name: 'router',
    // Which Gateways select a proxy depends on all its labels (selectors are not among the label keys the
    // sidecar key tracks): gateways are few, so the key carries them whole rather than risk sharing.
    classKey: (ctx, proxy) => `router|${JSON.stringify(Object.entries(ctx.proxyLabels(proxy)).sort())}|${sidecarClassKey(ctx, proxy)}`,
    wildcardNames(type: TypeUrl, ctx: PushContext, proxy: Proxy): string[] {
      if (type === TYPE.CDS) return routerClusterNames(ctx, proxy, merged(ctx, proxy, opts));
      if (type === TYPE.LDS) return listenerNames(ctx, proxy, merged(ctx, proxy, opts));
      return [];
    },
    generate(type: TypeUrl, ctx: PushContext, proxy: Proxy, name: string): object | undefined {
      switch (type) {
        case TYPE.LDS:
          return buildListener(ctx, proxy, merged(ctx, proxy, opts), name);
        case TYPE.RDS:
          return buildRouteConfiguration(ctx, proxy, merged(ctx, proxy, opts), name);
        case TYPE.CDS:
          return buildRouterCluster(ctx, proxy, merged(ctx, proxy, opts), name);
        case TYPE.EDS:
          return buildSidecarLoadAssignment(ctx, proxy, name);
        case TYPE.SDS:
          return buildSecret(ctx, proxy, name);
        default:
          return undefined;
      }
    },
  };
}


