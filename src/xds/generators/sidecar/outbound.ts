import type { L4MatchAttributes, RouteDestination, TLSMatchAttributes } from '../../../config/schemas/virtual-service.js';
import type { IndexedVirtualService, PushContext } from '../../../model/push-context.js';
import type { Proxy } from '../../../model/proxy.js';
import { vipOfAddress } from '../../../model/service-entries.js';
import type { MeshService, Protocol, ServicePort } from '../../../model/types.js';
import { BLACKHOLE_CLUSTER, outboundClusterName, PASSTHROUGH_CLUSTER } from '../../../envoy/cluster-name.js';
import { ZERO_DURATION } from '../../../envoy/duration.js';
import {
  httpConnectionManager,
  httpInspectorListenerFilter,
  sidecarHttpFilters,
  tcpProxyFilter,
  tlsInspectorListenerFilter,
} from '../../../envoy/hcm.js';
import { labelsMatch } from '../../../config/labels.js';
import { destinationCluster, virtualServiceMetadata } from './http-routes.js';
import { wildcardFor } from './bind.js';
import { egressPasses } from './egress.js';
import { isGrpc, isHttp2, listenerProtocol } from './protocols.js';
import { SidecarTelemetry } from './telemetry.js';
import { egressProxyFor, outboundTrafficPolicyFor, UNIX_ADDRESS_PREFIX } from '../../../model/sidecar-scope.js';
import type { J } from '../../../envoy/json.js';

// Outbound listeners of an Envoy sidecar (istiod buildSidecarOutboundListeners, listener.go):
// - `virtualOutbound` 0.0.0.0:15001 — iptables sends every outbound connection here; use_original_dst hands
//   it to the listener for its original destination, else the catch-all chain forwards it
//   (PassthroughCluster; BlackHoleCluster under REGISTRY_ONLY). Connections addressed to 15001 itself are
//   blackholed so they cannot loop.
// - `0.0.0.0_PORT` for HTTP service ports (bind_to_port false): one HCM chain fetching RDS `PORT`, matched on
//   the ALPN the HTTP inspector detects (http/1.1, h2c) over raw_buffer; anything else on that port takes
//   the default PassthroughFilterChain.
// - `CLUSTERIP_PORT` (0.0.0.0_PORT without a cluster IP) for TCP-family ports: tcp_proxy to
//   `outbound|PORT||FQDN`, or the VirtualService's `tcp` routes (match destinationSubnets → prefix_ranges,
//   port/sourceLabels/sourceNamespace/gateways select the routes that apply) and, on TLS/HTTPS ports, its
//   `tls` routes as chains keyed by SNI (server_names, with the TLS inspector).
// - ports without a declared protocol: both the TCP chains and an HTTP chain (RDS `FQDN:PORT` on a cluster
//   IP, `PORT` on 0.0.0.0) behind the HTTP inspector (istiod's outbound protocol sniffing).
// Sidecar egress listeners (egress.ts) add HTTP_PROXY listeners (a plain HCM on the port, RDS `PORT`) and
// `unix://` sockets (a pipe address, listener `unix:///path_0`, RDS `unix:///path`).
// Interception mode NONE (no iptables; the application dials the sidecar): no virtualOutbound, and every
// listener above binds for real to `127.0.0.1_PORT` — one per port, so services sharing a port share or
// lose it by istiod's conflict rules (outboundEntries); HTTP-only ports need no inspector there.

export const VIRTUAL_OUTBOUND = 'virtualOutbound';
const OUTBOUND_PORT = 15001;
/** ALPNs the HTTP inspector reports for plaintext HTTP (istiod plaintextHTTPALPNs, HTTP/1.0 off) */
const PLAINTEXT_HTTP_ALPNS = ['http/1.1', 'h2c'];
const MESH_GATEWAY = 'mesh';

/**
 * Unknown destinations: BlackHole under REGISTRY_ONLY (the proxy's Sidecar, else mesh config), else the
 * Sidecar's egressProxy as istiod names it (GetDestinationCluster with no service: `outbound|PORT|SUBSET|HOST`,
 * the host as written, port 0 when none), else Passthrough.
 */
export function egressCluster(ctx: PushContext, proxy: Proxy): string {
  if (outboundTrafficPolicyFor(ctx, proxy) === 'REGISTRY_ONLY') return BLACKHOLE_CLUSTER;
  const egressProxy = egressProxyFor(ctx, proxy);
  return egressProxy ? outboundClusterName(egressProxy.host, egressProxy.port?.number ?? 0, egressProxy.subset ?? '') : PASSTHROUGH_CLUSTER;
}

/** [istio.stats…, tcp_proxy with its access loggers] of an outbound chain (istiod buildOutboundNetworkFilters). */
function outboundTcpFilters(t: SidecarTelemetry, statPrefix: string, dest: string | readonly { name: string; weight: number }[]): J[] {
  return [...t.statsFilters('outbound'), tcpProxyFilter(statPrefix, dest, t.accessLogs('outbound', 'tcp'))];
}

/** The chain that takes whatever no other chain of an outbound listener matched (istiod PassthroughFilterChain). */
export function passthroughFilterChain(ctx: PushContext, proxy: Proxy, t: SidecarTelemetry): J {
  const cluster = egressCluster(ctx, proxy);
  return { filter_chain_match: {}, filters: outboundTcpFilters(t, cluster, cluster), name: 'PassthroughFilterChain' };
}

export function buildVirtualOutboundListener(ctx: PushContext, proxy: Proxy): J {
  const cluster = egressCluster(ctx, proxy);
  const t = new SidecarTelemetry(ctx, proxy);
  const listenerLogs = t.accessLogs('outbound', 'listener');
  return {
    name: VIRTUAL_OUTBOUND,
    address: { socket_address: { address: wildcardFor(proxy), port_value: OUTBOUND_PORT } },
    filter_chains: [
      {
        filter_chain_match: { destination_port: { value: OUTBOUND_PORT } },
        // loops are cut without an access log entry (istiod blackholeFilterChain)
        filters: [...t.statsFilters('outbound'), tcpProxyFilter(BLACKHOLE_CLUSTER, BLACKHOLE_CLUSTER)],
        name: 'virtualOutbound-blackhole',
      },
      { filters: outboundTcpFilters(t, cluster, cluster), name: 'virtualOutbound-catchall-tcp' },
    ],
    use_original_dst: { value: true },
    traffic_direction: 'OUTBOUND',
    ...(listenerLogs.length ? { access_log: listenerLogs } : {}),
  };
}

/**
 * The HTTP chain of an outbound listener. `sniffed`: matched on the ALPN the HTTP inspector detects
 * (raw_buffer + http/1.1, h2c) so other bytes on the port can take TCP chains; istiod does that on the
 * wildcard address and for ports without a protocol, not on a listener bound to one address for HTTP only.
 */
interface HttpChain {
  readonly rds: string;
  readonly http2: boolean;
  readonly grpc: boolean;
  readonly grpcWeb: boolean;
  readonly sniffed: boolean;
}

/** What one outbound listener (bind:port) carries before it is rendered (istiod outboundListenerEntry). */
interface OutboundEntry {
  readonly bind: string;
  readonly port: number;
  /** a real socket (NONE interception, or an egress listener's captureMode NONE); else reached through virtualOutbound */
  readonly bindToPort: boolean;
  /** built by a port-specific egress listener: the catch-all egress listener adds nothing to it */
  locked?: boolean;
  /** istiod's entry protocol: the port's, or UNSUPPORTED once HTTP and TCP share the listener (sniffing). */
  protocol: Protocol;
  tcpChains: J[];
  http?: HttpChain;
}

function listenerName(bind: string, port: number): string {
  return `${bind}_${port}`;
}

/** CIDR text → core.v3.CidrRange (a bare address is a /32 or /128). */
function cidrRange(cidr: string): J {
  const [address, len] = cidr.split('/') as [string, string | undefined];
  return { address_prefix: address, prefix_len: { value: len !== undefined ? Number(len) : address.includes(':') ? 128 : 32 } };
}

function l4MatchApplies(m: L4MatchAttributes | TLSMatchAttributes, ctx: PushContext, proxy: Proxy, port: number): boolean {
  if (m.port !== undefined && m.port !== 0 && m.port !== port) return false;
  if (m.gateways && m.gateways.length > 0 && !m.gateways.includes(MESH_GATEWAY)) return false;
  if (!labelsMatch(m.sourceLabels, ctx.proxyLabels(proxy), 'selects-all')) return false;
  return !m.sourceNamespace || m.sourceNamespace === proxy.namespace;
}

/** [istio.stats, tcp_proxy] to the route's destination(s) (istiod buildOutboundNetworkFilters). */
function networkFiltersFor(ctx: PushContext, t: SidecarTelemetry, vs: IndexedVirtualService, routes: readonly RouteDestination[], port: number): J[] | undefined {
  const dests = routes
    .map((r) => ({ name: destinationCluster(ctx, vs.namespace, r.destination, port), weight: r.weight ?? 0 }))
    .filter((d, _i, all) => all.length === 1 || d.weight > 0);
  if (dests.length === 0) return undefined;
  return dests.length === 1
    ? outboundTcpFilters(t, dests[0]!.name, dests[0]!.name)
    : outboundTcpFilters(t, `${vs.config.metadata.name}.${vs.namespace}`, dests);
}

function chain(filters: J[], match: J | undefined, vs?: IndexedVirtualService): J {
  const out: J = match && Object.keys(match).length > 0 ? { filter_chain_match: match, filters } : { filters };
  if (vs) out.metadata = virtualServiceMetadata(vs.namespace, vs.config.metadata.name);
  return out;
}

/** The TCP-family chains of one service port (istiod buildSidecarOutboundTCPTLSFilterChainOpts). */
function tcpChainsFor(ctx: PushContext, proxy: Proxy, t: SidecarTelemetry, service: MeshService, sp: ServicePort): J[] {
  const out: J[] = [];
  const vs = ctx.virtualServiceFor(proxy.namespace, service.hostname);
  const port = sp.port;
  if (vs && (sp.protocol === 'TLS' || sp.protocol === 'HTTPS')) {
    const handled = new Set<string>();
    for (const tls of vs.config.spec.tls ?? []) {
      for (const m of tls.match) {
        if (!l4MatchApplies(m, ctx, proxy, port)) continue;
        const key = JSON.stringify([m.sniHosts, m.destinationSubnets ?? []]);
        if (handled.has(key)) continue;
        handled.add(key);
        const filters = networkFiltersFor(ctx, t, vs, tls.route ?? [], port);
        if (!filters) continue;
        const match: J = {};
        // `*` means any SNI: no server_names condition (istiod)
        if (!m.sniHosts.includes('*')) match.server_names = [...m.sniHosts].sort();
        if (m.destinationSubnets?.length) match.prefix_ranges = [...m.destinationSubnets].sort().map(cidrRange);
        out.push(chain(filters, match, vs));
      }
    }
    if (out.length > 0) return out;
  }
  let defaultAdded = false;
  if (vs) {
    tcpLoop: for (const tcp of vs.config.spec.tcp ?? []) {
      const filters = networkFiltersFor(ctx, t, vs, tcp.route ?? [], port);
      if (!tcp.match || tcp.match.length === 0) {
        if (filters) out.push(chain(filters, undefined, vs));
        defaultAdded = true;
        break;
      }
      const subnets: string[] = [];
      for (const m of tcp.match) {
        if (!l4MatchApplies(m, ctx, proxy, port)) continue;
        if (!m.destinationSubnets || m.destinationSubnets.length === 0) {
          // a match without destination subnets matches every connection: terminal
          if (filters) out.push(chain(filters, undefined, vs));
          defaultAdded = true;
          break tcpLoop;
        }
        subnets.push(...m.destinationSubnets);
      }
      if (subnets.length > 0 && filters) out.push(chain(filters, { prefix_ranges: [...new Set(subnets)].sort().map(cidrRange) }, vs));
    }
  }
  if (!defaultAdded) {
    const cluster = outboundClusterName(service.hostname, port);
    // istiod buildSidecarOutboundTLSFilterChainOpts: a TLS/HTTPS port without a VIP shares the wildcard
    // listener with every such host, so its chain matches the host as SNI (ServiceEntry hosts, headless)
    const bySni = (sp.protocol === 'TLS' || sp.protocol === 'HTTPS') && (!service.clusterIP || service.clusterIP === 'None');
    out.push(chain(outboundTcpFilters(t, cluster, cluster), bySni ? { server_names: [service.hostname] } : undefined));
  }
  return out;
}

function sameMatch(a: J, b: J): boolean {
  return JSON.stringify(a.filter_chain_match ?? {}) === JSON.stringify(b.filter_chain_match ?? {});
}

function httpChainMatch(h: HttpChain): J {
  return h.sniffed ? { transport_protocol: 'raw_buffer', application_protocols: PLAINTEXT_HTTP_ALPNS } : {};
}

/** istiod mergeTCPFilterChains: keep only incoming chains whose match no chain of the listener has yet. */
function mergeTcpChains(e: OutboundEntry, incoming: readonly J[]): void {
  const http = e.http ? [{ filter_chain_match: httpChainMatch(e.http) }] : [];
  for (const c of incoming) {
    if (![...e.tcpChains, ...http].some((x) => sameMatch(x, c))) e.tcpChains.push(c);
  }
}

/** istiod isConflictWithWellKnownPort: Mongo and MySQL share a listener with nothing but their own kind. */
function wellKnownPortConflict(incoming: Protocol, existing: Protocol): boolean {
  const special = (p: Protocol) => p === 'Mongo' || p === 'MySQL';
  return (special(incoming) || special(existing)) && incoming !== existing;
}

const isTcpProtocol = (p: Protocol) => listenerProtocol(p) === 'TCP';
const isHttpProtocol = (p: Protocol) => listenerProtocol(p) === 'HTTP';

/**
 * Every outbound listener of the proxy, keyed by name (istiod buildSidecarOutboundListeners with
 * buildSidecarOutboundListener's conflict resolution, services in hostname order):
 * - bind: REDIRECT/TPROXY sidecars put HTTP ports on the wildcard address and TCP/sniffed ports on the
 *   service's cluster IP (the wildcard for headless services), none bound to a port (use_original_dst
 *   hands connections over); NONE sidecars have no iptables, so every listener binds for real to
 *   127.0.0.1 (::1 for IPv6-only pods) and the application dials 127.0.0.1:PORT.
 * - a second service on the same bind:port: HTTP over TCP and TCP over HTTP share it with sniffing (chains
 *   with a match already taken are dropped), TCP over TCP/AUTO merges chains with distinct matches, AUTO
 *   over plain HTTP replaces it, HTTP/AUTO over a sniffed listener adds nothing (its virtual host is in the
 *   shared RDS); Mongo/MySQL never share with another protocol.
 * - a Sidecar's egress listeners are built in order (egress.ts): port-specific ones first, then the
 *   catch-all, which adds nothing to a bind:port they built; an egress `bind`/`captureMode` sets the bind.
 */
function outboundEntries(ctx: PushContext, proxy: Proxy, t: SidecarTelemetry | undefined, onlyPort?: number): Map<string, OutboundEntry> {
  const namesOnly = t === undefined;
  const entries = new Map<string, OutboundEntry>();
  const wildcard = wildcardFor(proxy);
  for (const pass of egressPasses(ctx, proxy)) {
    // istiod locks what the port-specific egress listeners built: the catch-all adds nothing to them
    if (pass.listenPort === undefined) for (const e of entries.values()) e.locked = true;
    if (pass.httpProxy && pass.listenPort) {
      // istiod builds the HTTP_PROXY listener straight away (no conflict rules, no sniffing) once a service is imported
      const port = pass.listenPort.port;
      const bind = pass.bind ?? wildcard;
      const name = listenerName(bind, port);
      if (pass.services.length === 0 || (onlyPort !== undefined && port !== onlyPort) || entries.get(name)?.locked) continue;
      const http: HttpChain = { rds: String(port), http2: false, grpc: false, grpcWeb: false, sniffed: false };
      entries.set(name, { bind, port, bindToPort: pass.bindToPort, protocol: 'HTTP', tcpChains: [], http });
      continue;
    }
    for (const service of pass.services) {
      const ports = pass.listenPort ? [pass.listenPort] : service.ports;
      for (const sp of ports) {
        if (onlyPort !== undefined && sp.port !== onlyPort) continue;
        const lp = listenerProtocol(sp.protocol);
        if (lp === 'NONE') continue;
        for (const { bind, cidr } of listenerBinds(service, lp, wildcard, pass.bind)) {
          const name = listenerName(bind, sp.port);
          const cur = entries.get(name);
          if (cur?.locked) continue;
          if (namesOnly) {
            if (!cur) entries.set(name, { bind, port: sp.port, bindToPort: pass.bindToPort, protocol: sp.protocol, tcpChains: [] });
            continue;
          }
          if (cur && (cur.protocol === 'UNSUPPORTED' || isHttpProtocol(cur.protocol)) && lp === 'HTTP') continue;
          if (cur && cur.protocol === 'UNSUPPORTED' && lp === 'AUTO') continue;
          if (cur && wellKnownPortConflict(sp.protocol, cur.protocol)) continue;
          const onWildcard = bind === wildcard;
          const http: HttpChain | undefined = lp === 'TCP' ? undefined : {
            // a socket's route is named after it; a sniffed port bound to its own address gets a route of
            // its own; shared ports share `PORT`
            rds: sp.port === 0 ? bind : lp === 'AUTO' && !onWildcard ? `${service.hostname}:${sp.port}` : String(sp.port),
            http2: lp === 'HTTP' && isHttp2(sp.protocol),
            grpc: lp === 'HTTP' && isGrpc(sp.protocol),
            grpcWeb: lp === 'HTTP' && sp.protocol === 'GRPC-Web',
            sniffed: lp === 'AUTO' || onWildcard,
          };
          // an HTTP chain that must share its port with TCP chains makes the listener a sniffed one
          const protocol: Protocol = lp === 'AUTO' || (http?.sniffed ?? false) ? 'UNSUPPORTED' : sp.protocol;
          const tcpChains = lp === 'HTTP' || !t ? [] : withDestinationRange(tcpChainsFor(ctx, proxy, t, service, sp), cidr);
          if (!cur || (lp === 'AUTO' && isHttpProtocol(cur.protocol))) {
            entries.set(name, { bind, port: sp.port, bindToPort: pass.bindToPort, protocol, tcpChains: [], ...(http ? { http } : {}) });
            mergeTcpChains(entries.get(name)!, tcpChains);
            continue;
          }
          if (http && !cur.http && !cur.tcpChains.some((c) => sameMatch(c, { filter_chain_match: httpChainMatch(http) }))) cur.http = http;
          mergeTcpChains(cur, tcpChains);
          if (isTcpProtocol(cur.protocol) !== isTcpProtocol(sp.protocol) || lp === 'AUTO') cur.protocol = 'UNSUPPORTED';
        }
      }
    }
  }
  return entries;
}

/**
 * Where a service port's listener binds. HTTP ports: the wildcard. TCP/sniffed ports: the service's
 * cluster IP, else the wildcard — except a ServiceEntry with `addresses`, which istiod (convertServices)
 * turns into one service per address: an IP (or a /32, /128 CIDR) is a bind address of its own
 * (`13.229.188.59_22`), a wider CIDR puts the port on the wildcard listener with the range as the chains'
 * destination match (`prefix_ranges`). An egress listener's bind (its `bind`, or loopback when it binds for
 * real: NONE-mode sidecars, captureMode NONE) replaces all of that.
 */
function listenerBinds(service: MeshService, lp: 'HTTP' | 'TCP' | 'AUTO', wildcard: string, ownBind: string | undefined): { bind: string; cidr?: string }[] {
  if (ownBind) return [{ bind: ownBind }];
  if (lp === 'HTTP') return [{ bind: wildcard }];
  const addresses = service.serviceEntry?.addresses ?? [];
  if (addresses.length === 0) return [{ bind: service.clusterIP && service.clusterIP !== 'None' ? service.clusterIP : wildcard }];
  const out = new Map<string, { bind: string; cidr?: string }>();
  for (const address of addresses) {
    const ip = vipOfAddress(address);
    if (ip) out.set(ip, { bind: ip });
    else if (address.includes('/')) out.set(address, { bind: wildcard, cidr: address });
  }
  return [...out.values()];
}

/** istiod: a TCP chain of a service reached by CIDR matches that destination range (unless its route already names subnets). */
function withDestinationRange(chains: J[], cidr: string | undefined): J[] {
  if (!cidr) return chains;
  return chains.map((c) => {
    const match = (c.filter_chain_match ?? {}) as J;
    if (match.prefix_ranges) return c;
    return { ...c, filter_chain_match: { ...match, prefix_ranges: [cidrRange(cidr)] } };
  });
}

function renderOutbound(ctx: PushContext, proxy: Proxy, t: SidecarTelemetry, e: OutboundEntry): J {
  const chains: J[] = [...e.tcpChains];
  const http = e.http;
  if (http) {
    const observability = t.hcm('outbound');
    const hcm = httpConnectionManager({
      statPrefix: `outbound_${listenerName(e.bind, e.port)}`,
      cls: 'outbound',
      rdsName: http.rds,
      httpFilters: sidecarHttpFilters({ cls: 'outbound', grpc: http.grpc, grpcWeb: http.grpcWeb, statsFilters: t.statsFilters('outbound') }),
      http2: http.http2,
      accessLog: observability.accessLog,
      ...(observability.tracing ? { tracing: observability.tracing } : {}),
      requestIdExtension: observability.requestIdExtension,
    });
    chains.push(http.sniffed ? { filter_chain_match: httpChainMatch(http), filters: [hcm] } : { filters: [hcm] });
  }
  const listener: J = {
    name: listenerName(e.bind, e.port),
    address: e.bind.startsWith(UNIX_ADDRESS_PREFIX)
      ? { pipe: { path: e.bind.slice(UNIX_ADDRESS_PREFIX.length) } }
      : { socket_address: { address: e.bind, port_value: e.port } },
  };
  // istiod appendListenerFallthroughRouteForCompleteListener: a match-all chain among several becomes the
  // default chain; without one, the passthrough chain is the default
  const matchAllIdx = chains.findIndex((c) => !c.filter_chain_match || Object.keys(c.filter_chain_match as J).length === 0);
  let defaultChain: J | undefined;
  if (matchAllIdx >= 0 && chains.length > 1) defaultChain = chains.splice(matchAllIdx, 1)[0];
  else if (matchAllIdx < 0) defaultChain = passthroughFilterChain(ctx, proxy, t);
  listener.filter_chains = chains;
  if (defaultChain) listener.default_filter_chain = defaultChain;
  const needsSni = chains.some((c) => (c.filter_chain_match as J | undefined)?.server_names);
  const sniffing = http?.sniffed ?? false;
  const listenerFilters: J[] = [];
  if (needsSni || sniffing) listenerFilters.push(tlsInspectorListenerFilter());
  if (sniffing) listenerFilters.push(httpInspectorListenerFilter());
  if (listenerFilters.length > 0) listener.listener_filters = listenerFilters;
  if (sniffing) {
    // mesh protocolDetectionTimeout (0s: wait for the first bytes as long as it takes); istiod removes the
    // timeout from listeners without the HTTP inspector
    listener.listener_filters_timeout = ZERO_DURATION;
    listener.continue_on_listener_filters_timeout = true;
  }
  listener.traffic_direction = 'OUTBOUND';
  // REDIRECT/TPROXY: a synthetic listener virtualOutbound hands connections to; NONE: a real socket
  if (!e.bindToPort) listener.bind_to_port = { value: false };
  return listener;
}

export function outboundListenerNames(ctx: PushContext, proxy: Proxy): string[] {
  // the names need no filter chains: skip building them (one VirtualService lookup per TCP port)
  return [...outboundEntries(ctx, proxy, undefined).keys()];
}

export function buildOutboundListener(ctx: PushContext, proxy: Proxy, name: string): J | undefined {
  const port = Number(name.slice(name.lastIndexOf('_') + 1));
  if (!Number.isInteger(port)) return undefined;
  // only the services on that port can contribute to the listener
  const t = new SidecarTelemetry(ctx, proxy);
  const e = outboundEntries(ctx, proxy, t, port).get(name);
  return e ? renderOutbound(ctx, proxy, t, e) : undefined;
}
