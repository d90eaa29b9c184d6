import { isIP } from 'node:net';
import type { ClientTLSSettings, ConnectionPoolSettings, DestinationRule } from '../../../config/schemas/destination-rule.js';
import type { PushContext } from '../../../model/push-context.js';
import type { Proxy } from '../../../model/proxy.js';
import type { MeshService, ServicePort } from '../../../model/types.js';
import { effectiveMtls } from '../../../security/authn.js';
import { serviceAccountsOf } from '../../../security/grpc.js';
import {
  BLACKHOLE_CLUSTER,
  INBOUND_PASSTHROUGH_CLUSTER,
  inboundClusterName,
  dnsSrvSubsetKey,
  outboundClusterName,
  parseDnsSrvSubsetKey,
  parseSubsetKey,
  PASSTHROUGH_CLUSTER,
} from '../../../envoy/cluster-name.js';
import {
  applyConnectionPool,
  applyH2Upgrade,
  applyHealthyPanicThreshold,
  applyLoadBalancer,
  applyUpstreamProtocol,
  DEFAULT_CONNECT_TIMEOUT,
  finishHttpOptions,
  isHttp2Cluster,
  MAX_CLEANUP_INTERVAL,
  passthroughHttpProtocolOptions,
  type ClusterDraft,
} from '../../../envoy/cluster-policy.js';
import { effectiveTrafficPolicy, findSubset, portLevelPolicy, translateOutlierDetection } from '../../../envoy/traffic-policy.js';
import {
  autoMtlsTransportSocketMatches,
  istioMutualTransportSocket,
  simpleOrMutualUpstreamTls,
  transportSocket,
} from '../../../envoy/upstream-tls.js';
import { ANY_TYPE } from '../../../envoy/type-urls.js';
import { ZERO_DURATION } from '../../../envoy/duration.js';
import { jsonToStruct } from '../../../envoy/protos.js';
import { importedServices, servicePortInScope, serviceTargets } from './scope.js';
import { sidecarAllowsPort } from '../../../model/sidecar-scope.js';
import { inboundPorts } from './ingress.js';
import { sidecarFor } from '../../../model/sidecar-scope.js';
import { buildSidecarLoadAssignment } from './eds.js';
import type { J } from '../../../envoy/json.js';

// CDS for Envoy sidecars (istiod cluster.go / cluster_builder.go / cluster_traffic_policy.go /
// cluster_tls.go), every cluster by name:
//
//   outbound|PORT||FQDN         EDS over ADS (service_name = the cluster name, initial_fetch_timeout 0s)
//                               for every TCP port of every service the proxy sees (exportTo),
//   outbound|PORT|SUBSET|FQDN   and one per subset of the DestinationRule the proxy sees for the host.
//     common: connect_timeout 10s, circuit breakers at istiod's "unlimited" defaults (track_remaining),
//     LEAST_REQUEST, alt_stat_name `NAME;`, metadata istio.services [{host, name, namespace}] (+ istio.config
//     of the DestinationRule, istio.subset, alpn_override "false" unless tls is ISTIO_MUTUAL); HTTP/2 ports
//     (http2/grpc/grpc-web) explicit HTTP/2, undeclared ports the downstream protocol.
//     DestinationRule (src/envoy/cluster-policy.ts, traffic-policy.ts, upstream-tls.ts): port-level
//     settings replace parts wholesale, subsets override part by part (istiod MergeSubsetTrafficPolicy);
//     connectionPool, outlierDetection (+ healthy_panic_threshold = minHealthPercent), loadBalancer
//     (incl. PASSTHROUGH → ORIGINAL_DST and locality-weighted config), tls; no tls → auto-mTLS
//     transport_socket_matches unless the destination namespace's (or mesh) PeerAuthentication is DISABLE.
//   BlackHoleCluster            STATIC, no endpoints
//   PassthroughCluster          ORIGINAL_DST / CLUSTER_PROVIDED, downstream protocol, 5 min idle timeout
//   InboundPassthroughCluster   the same, bound to 127.0.0.6 (::6 for IPv6-only; both for dual stack) so
//                               iptables lets the sidecar's own connections to the app through
//   inbound|PORT||              per container port the workload serves: ORIGINAL_DST / CLUSTER_PROVIDED,
//                               bound to 127.0.0.6, never cleaned up, connection pool from the service's
//                               DestinationRule (the only part istiod applies inbound) or the Sidecar's;
//                               STATIC to a Sidecar ingress `defaultEndpoint`; the ports are ingress.ts's
//                               (NONE mode: only a Sidecar's ingress ports).
//
// Not emitted (istio-proxy extensions outside Envoy's API, or not modelled): the metadata-exchange cluster
// filter, proxyProtocol wrapping, tunnel settings, retryBudget, headless-service ORIGINAL_DST clusters
// (the model does not tell headless from unspecified cluster IPs), credentialName secrets are referenced
// as istiod does (SDS over ADS) but meshd does not serve them.

/** istiod InboundPassthroughBindIpv4 / Ipv6: source addresses iptables exempts from redirection. */
export const INBOUND_PASSTHROUGH_BIND_IPV4 = '127.0.0.6';
export const INBOUND_PASSTHROUGH_BIND_IPV6 = '::6';

export function sidecarClusterNames(ctx: PushContext, proxy: Proxy): string[] {
  return [...new Set([...outboundClusterNames(ctx, proxy), ...inboundClusterNames(ctx, proxy)])];
}

/** Outbound clusters (per service port and subset) and the three fixed ones: what the proxy consumes. */
export function outboundClusterNames(ctx: PushContext, proxy: Proxy): string[] {
  const names: string[] = [];
  const labels = ctx.proxyLabels(proxy);
  for (const svc of importedServices(ctx, proxy)) {
    const dr = ctx.destinationRuleFor(proxy.namespace, svc.hostname, labels)?.config;
    for (const port of svc.ports) {
      if (port.protocol === 'UDP' || !sidecarAllowsPort(ctx, proxy, svc, port.port)) continue;
      names.push(outboundClusterName(svc.hostname, port.port));
      for (const s of dr?.spec.subsets ?? []) names.push(outboundClusterName(svc.hostname, port.port, s.name));
    }
  }
  names.push(BLACKHOLE_CLUSTER, PASSTHROUGH_CLUSTER, INBOUND_PASSTHROUGH_CLUSTER);
  return names;
}

/** `inbound|PORT||` per container port the workload serves: what the proxy's workload serves. */
export function inboundClusterNames(ctx: PushContext, proxy: Proxy): string[] {
  return inboundPorts(ctx, proxy).map((p) => inboundClusterName(p.targetPort));
}

/** Whether a cluster name is one of the workload's own (inbound) clusters rather than one it consumes. */
export function isInboundClusterName(name: string): boolean {
  return name.startsWith('inbound|');
}

export function buildSidecarCluster(ctx: PushContext, proxy: Proxy, name: string): object | undefined {
  switch (name) {
    case BLACKHOLE_CLUSTER:
      return blackHoleCluster();
    case PASSTHROUGH_CLUSTER:
      return passthroughCluster(PASSTHROUGH_CLUSTER);
    case INBOUND_PASSTHROUGH_CLUSTER:
      return { ...passthroughCluster(INBOUND_PASSTHROUGH_CLUSTER), upstream_bind_config: passthroughBindConfig(proxy) };
  }
  const key = parseSubsetKey(name);
  if (!key) return undefined;
  if (key.direction === 'inbound') {
    return key.subset === '' && key.hostname === '' ? inboundCluster(ctx, proxy, key.port) : undefined;
  }
  return outboundCluster(ctx, proxy, name, key.hostname, key.port, key.subset);
}

/**
 * An AUTO_PASSTHROUGH gateway's SNI-DNAT cluster `outbound_.PORT_.SUBSET_.FQDN` (istiod
 * buildOutboundSniDnatClusters): the outbound cluster of that service port/subset under its SNI name, with
 * the DestinationRule's traffic policy but no TLS of its own (the client's mTLS passes through) and EDS
 * under the same name (eds.ts keeps only mTLS-capable endpoints for it). Mesh-external hosts have none.
 */
export function buildSniDnatCluster(ctx: PushContext, proxy: Proxy, name: string): object | undefined {
  const key = parseDnsSrvSubsetKey(name);
  if (!key || key.direction !== 'outbound') return undefined;
  const service = ctx.service(key.hostname);
  if (!service || service.serviceEntry?.meshExternal) return undefined;
  return outboundCluster(ctx, proxy, name, key.hostname, key.port, key.subset, 'sni-dnat');
}

/** `NAME;`: istiod util.DelimitedStatsPrefix, how istio-proxy's stats find the cluster name. */
function altStatName(name: string): string {
  return `${name};`;
}

export function blackHoleCluster(): J {
  // lb_policy ROUND_ROBIN as istiod sets it is the enum's zero value: proto-JSON leaves it out
  return { name: BLACKHOLE_CLUSTER, type: 'STATIC', connect_timeout: { ...DEFAULT_CONNECT_TIMEOUT }, alt_stat_name: altStatName(BLACKHOLE_CLUSTER) };
}

export function passthroughCluster(name: string): J {
  const d: ClusterDraft = { cluster: {} };
  applyConnectionPool(d, undefined);
  return order({
    name,
    type: 'ORIGINAL_DST',
    connect_timeout: d.cluster.connect_timeout,
    lb_policy: 'CLUSTER_PROVIDED',
    circuit_breakers: d.cluster.circuit_breakers,
    typed_extension_protocol_options: passthroughHttpProtocolOptions(),
    alt_stat_name: altStatName(name),
  });
}

function ipFamilies(ips: readonly string[]): { v4: boolean; v6: boolean } {
  const v4 = ips.some((ip) => isIP(ip) === 4);
  const v6 = ips.some((ip) => isIP(ip) === 6);
  return v4 || v6 ? { v4, v6 } : { v4: true, v6: false };
}

/** istiod buildInboundPassthroughCluster / getPassthroughBindIPs by the proxy's IP families. */
export function passthroughBindConfig(proxy: Proxy): J {
  const { v4, v6 } = ipFamilies(proxy.ips);
  const src = (address: string) => ({ address, port_value: 0 });
  return {
    source_address: src(v4 ? INBOUND_PASSTHROUGH_BIND_IPV4 : INBOUND_PASSTHROUGH_BIND_IPV6),
    ...(v4 && v6 ? { extra_source_addresses: [{ address: src(INBOUND_PASSTHROUGH_BIND_IPV6) }] } : {}),
  };
}

function serviceMetadata(services: readonly MeshService[]): J {
  return { services: services.map((s) => ({ host: s.hostname, name: s.name, namespace: s.namespace })) };
}

/** istiod util.AddConfigInfoMetadata: where the DestinationRule came from. */
function configPath(dr: DestinationRule): string {
  return `/apis/${dr.apiVersion}/namespaces/${dr.metadata.namespace ?? 'default'}/destination-rule/${dr.metadata.name}`;
}

/**
 * `inbound|PORT||` (istiod buildInboundCluster): ORIGINAL_DST to the port the connection was sent to, or
 * STATIC to a Sidecar ingress `defaultEndpoint`; the inbound DestinationRule's port policy, its connection
 * pool overridden by the Sidecar's (`ingress[].connectionPool`, else `inboundConnectionPool`); the
 * passthrough source address unless the endpoint is loopback (iptables would send it back to Envoy).
 * A NONE-mode sidecar has inbound clusters only for Sidecar ingress ports (ingress.ts).
 */
function inboundCluster(ctx: PushContext, proxy: Proxy, targetPort: number): J | undefined {
  const target = inboundPorts(ctx, proxy).find((p) => p.targetPort === targetPort);
  if (!target) return undefined;
  const name = inboundClusterName(targetPort);
  const sameService = target.service ? serviceTargets(ctx, proxy).filter((t) => t.port.port === target.servicePort) : [];
  const services = target.service ? [...new Map(sameService.map((t) => [t.service.hostname, t.service])).values()] : [];
  const istio: J = target.service
    ? serviceMetadata(services.length > 0 ? services : [target.service])
    : { services: [{ host: target.hostname, name: target.sidecar!.name, namespace: target.sidecar!.namespace }] };
  const endpoint = target.endpoint;
  const d: ClusterDraft = { cluster: { name, type: endpoint ? 'STATIC' : 'ORIGINAL_DST', common_lb_config: {}, alt_stat_name: altStatName(name) } };
  applyUpstreamProtocol(d, target.protocol);
  const idr = target.service ? ctx.destinationRuleFor(proxy.namespace, target.service.hostname, ctx.proxyLabels(proxy)) : undefined;
  const policy = idr?.config.spec.trafficPolicy ? portLevelPolicy(idr.config.spec.trafficPolicy, target.servicePort).policy : undefined;
  if (idr && idr.config.spec.trafficPolicy) istio.config = configPath(idr.config);
  const sidecarPool = (target.sidecar?.listener.connectionPool ?? sidecarFor(ctx, proxy)?.spec.inboundConnectionPool) as ConnectionPoolSettings | undefined;
  applyConnectionPool(d, sidecarPool ?? policy?.connectionPool);
  const loopback = endpoint && 'address' in endpoint && (endpoint.address === '127.0.0.1' || endpoint.address === '::1');
  if (endpoint) {
    const address = 'pipe' in endpoint ? { pipe: { path: endpoint.pipe } } : { socket_address: { address: endpoint.address, port_value: endpoint.port } };
    d.cluster.load_assignment = { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address } }] }] };
    d.cluster.lb_policy = 'ROUND_ROBIN';
  } else {
    Object.assign(d.cluster, { lb_policy: 'CLUSTER_PROVIDED', cleanup_interval: { ...MAX_CLEANUP_INTERVAL } });
  }
  if (!loopback) d.cluster.upstream_bind_config = { source_address: passthroughBindConfig(proxy).source_address };
  d.cluster.metadata = { filter_metadata: { istio: jsonToStruct(istio) } };
  finishHttpOptions(d);
  return order(d.cluster);
}

/**
 * istiod's service mTLS mode for auto-mTLS (BestEffortInferServiceMTLSMode): the destination namespace's
 * PeerAuthentication, else the mesh-wide one, else PERMISSIVE; workload-selected policies are not
 * consulted (their endpoints are handled per endpoint in EDS).
 */
function serviceMtlsDisabled(ctx: PushContext, service: MeshService, port: number): boolean {
  return effectiveMtls(ctx, service.namespace, {}, port).mode === 'DISABLE';
}

/** `sni-dnat`: istiod SniDnatClusterMode — no upstream TLS settings (neither DestinationRule tls nor auto-mTLS). */
type ClusterMode = 'default' | 'sni-dnat';

function outboundCluster(ctx: PushContext, proxy: Proxy, name: string, hostname: string, portNumber: number, subsetName: string, mode: ClusterMode = 'default'): J | undefined {
  const service = ctx.service(hostname);
  if (!service || !servicePortInScope(ctx, proxy, service, portNumber)) return undefined;
  const port: ServicePort | undefined = service.ports.find((p) => p.port === portNumber && p.protocol !== 'UDP');
  if (!port) return undefined;
  const idr = ctx.destinationRuleFor(proxy.namespace, hostname, ctx.proxyLabels(proxy));
  const dr = idr?.config;
  if (subsetName && !findSubset(dr, subsetName)) return undefined;

  const d: ClusterDraft = { cluster: { name, type: discoveryType(service), common_lb_config: {}, alt_stat_name: altStatName(name) } };
  const c = d.cluster;
  applyUpstreamProtocol(d, port.protocol);
  const istio: J = serviceMetadata([service]);

  const policy = dr ? effectiveTrafficPolicy(dr, subsetName, portNumber) : undefined;
  applyConnectionPool(d, policy?.connectionPool);
  applyH2Upgrade(d, policy?.connectionPool);
  const od = translateOutlierDetection(policy?.outlierDetection);
  if (od) {
    c.outlier_detection = od;
    applyHealthyPanicThreshold(d, policy?.outlierDetection?.minHealthPercent);
  }
  applyLoadBalancer(d, policy?.loadBalancer);
  if (mode === 'default') applyTls(ctx, d, service, portNumber, subsetName, policy?.tls, dr);

  if (c.type === 'EDS') {
    c.eds_cluster_config = { eds_config: { ads: {}, initial_fetch_timeout: { ...ZERO_DURATION }, resource_api_version: 'V3' }, service_name: name };
  }
  if (c.type === 'STRICT_DNS' || c.type === 'LOGICAL_DNS') {
    // istiod: the endpoints travel inside the cluster; Envoy resolves them (mesh dnsRefreshRate 60s, TTLs respected)
    c.load_assignment = buildSidecarLoadAssignment(ctx, proxy, name) as J;
    c.dns_refresh_rate = { seconds: 60 };
    c.respect_dns_ttl = true;
    c.dns_lookup_family = dnsLookupFamily(proxy);
  }
  if (dr) {
    istio.config = configPath(dr);
    if (subsetName) istio.subset = subsetName;
    if (mode === 'default' && policy?.tls?.mode !== 'ISTIO_MUTUAL') istio.alpn_override = 'false';
  }
  c.metadata = { filter_metadata: { istio: jsonToStruct(istio) } };
  finishHttpOptions(d);
  return order(c);
}

/**
 * istiod's cluster discovery type by the service's resolution: Kubernetes Services and STATIC/selector
 * ServiceEntries → EDS, DNS → STRICT_DNS, DNS_ROUND_ROBIN → LOGICAL_DNS, NONE → ORIGINAL_DST.
 */
function discoveryType(service: MeshService): string {
  switch (service.serviceEntry?.resolution) {
    case 'DNS':
      return 'STRICT_DNS';
    case 'DNS_ROUND_ROBIN':
      return 'LOGICAL_DNS';
    case 'NONE':
      return 'ORIGINAL_DST';
    default:
      return 'EDS';
  }
}

/** istiod: a DNS cluster resolves the proxy's IP families (IPv4 only unless the proxy has IPv6). */
function dnsLookupFamily(proxy: Proxy): string {
  const { v4, v6 } = ipFamilies(proxy.ips);
  return v4 && v6 ? 'ALL' : v6 ? 'V6_ONLY' : 'V4_ONLY';
}

/** istiod buildUpstreamTLSSettings + applyUpstreamTLSSettings (see upstream-tls.ts for the shapes). */
function applyTls(
  ctx: PushContext,
  d: ClusterDraft,
  service: MeshService,
  port: number,
  subset: string,
  tls: ClientTLSSettings | undefined,
  dr: DestinationRule | undefined,
): void {
  const c = d.cluster;
  const sni = dnsSrvSubsetKey('outbound', subset, service.hostname, port);
  const http2 = isHttp2Cluster(d);
  if (tls?.mode === 'SIMPLE' || tls?.mode === 'MUTUAL') {
    const r = simpleOrMutualUpstreamTls(tls, { http2, workloadSelected: dr?.spec.workloadSelector !== undefined, clusterName: String(c.name) });
    if (r.context) {
      c.transport_socket = transportSocket(ANY_TYPE.UPSTREAM_TLS_CONTEXT, r.context);
      if (r.autoSni || r.autoSanValidation) {
        const o = (d.http ??= {});
        o.upstream = { ...(r.autoSni ? { auto_sni: true } : {}), ...(r.autoSanValidation ? { auto_san_validation: true } : {}) };
      }
    }
    return;
  }
  if (tls?.mode === 'ISTIO_MUTUAL') {
    c.transport_socket = istioMutualTransportSocket({
      // istiod: an empty list means "the destination's service accounts", not "any certificate"
      subjectAltNames: tls.subjectAltNames?.length ? tls.subjectAltNames : serviceAccountsOf(ctx, service.hostname, port),
      sni: tls.sni || sni,
      http2,
    });
    return;
  }
  if (tls?.mode) return; // DISABLE (or UNSPECIFIED with other fields): plaintext
  // istiod: no auto-mTLS towards a ServiceEntry host outside the mesh (MESH_EXTERNAL)
  if (service.serviceEntry?.meshExternal) return;
  if (serviceMtlsDisabled(ctx, service, port)) return;
  const mtls = istioMutualTransportSocket({ subjectAltNames: serviceAccountsOf(ctx, service.hostname, port), sni, http2 });
  if (c.type === 'ORIGINAL_DST') {
    // PASSTHROUGH: no per-endpoint match (istiod); mTLS only when every endpoint has a sidecar
    const eps = ctx.endpoints(service.hostname, port);
    if (eps.length > 0 && eps.every((ep) => ep.workload?.tlsMode === 'istio')) c.transport_socket = mtls;
    return;
  }
  c.transport_socket_matches = autoMtlsTransportSocketMatches(mtls);
}

const FIELD_ORDER = [
  'name', 'alt_stat_name', 'type', 'eds_cluster_config', 'connect_timeout', 'lb_policy', 'dns_refresh_rate', 'respect_dns_ttl', 'dns_lookup_family', 'load_assignment',
  'circuit_breakers', 'typed_extension_protocol_options', 'outlier_detection', 'cleanup_interval', 'upstream_bind_config',
  'ring_hash_lb_config', 'maglev_lb_config', 'least_request_lb_config', 'round_robin_lb_config', 'common_lb_config',
  'transport_socket', 'transport_socket_matches', 'metadata', 'upstream_connection_options',
];

/** Cluster fields in a stable, readable order (Envoy does not care; goldens and diffs do). */
function order(c: J): J {
  const out: J = {};
  for (const k of FIELD_ORDER) if (k in c) out[k] = c[k];
  for (const k of Object.keys(c)) if (!(k in out)) out[k] = c[k];
  return out;
}
