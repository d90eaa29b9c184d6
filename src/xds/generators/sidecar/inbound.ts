import type { PushContext } from '../../../model/push-context.js';
import type { Proxy } from '../../../model/proxy.js';
import type { Protocol } from '../../../model/types.js';
import { sidecarInboundSecurity, type SidecarInboundSecurity } from '../../../security/sidecar.js';
import { BLACKHOLE_CLUSTER, inboundClusterName, INBOUND_PASSTHROUGH_CLUSTER } from '../../../envoy/cluster-name.js';
import { ZERO_DURATION } from '../../../envoy/duration.js';
import {
  destinationPortsPredicate,
  exceptPortsPredicate,
  httpConnectionManager,
  httpInspectorListenerFilter,
  istioStatsFilter,
  originalDstListenerFilter,
  sidecarHttpFilters,
  tcpProxyFilter,
  tlsInspectorListenerFilter,
} from '../../../envoy/hcm.js';
import { wildcardFor } from './bind.js';
import { isGrpc, isHttp2, listenerProtocol, type ListenerProtocol } from './protocols.js';
import { inboundPorts, type InboundPort } from './ingress.js';
import { jsonToStruct } from '../../../envoy/protos.js';
import { SidecarTelemetry, type HcmTelemetry } from './telemetry.js';
import type { J } from '../../../envoy/json.js';

// `virtualInbound` 0.0.0.0:15006 (istiod listener_inbound.go): iptables sends every inbound connection here;
// the original_dst listener filter restores the destination port, the TLS and HTTP inspectors fill in
// transport and application protocol, and Envoy picks the filter chain:
// - `virtualInbound-blackhole`: connections to 15006 itself (would loop);
// - passthrough chains (`virtualInbound` TCP, `virtualInbound-catchall-http` HTTP) for ports no Service
//   declares → InboundPassthroughCluster;
// - per inbound service port, chains named `0.0.0.0_TARGETPORT` matched on destination_port, laid out from
//   sidecarInboundSecurity (PeerAuthentication/AuthorizationPolicy live in src/security/sidecar.ts): with a
//   transport socket and mode ≠ DISABLE an mTLS chain (`transport_protocol: tls`, Istio's mTLS ALPNs in
//   PERMISSIVE); unless STRICT a plaintext chain (`raw_buffer`); PERMISSIVE TCP also accepts one-way TLS
//   straight through. HTTP chains carry an HCM with an inline route to `inbound|PORT||`, the security HTTP
//   filters first; TCP chains the security network filters, istio.stats, tcp_proxy.

export const VIRTUAL_INBOUND = 'virtualInbound';
const INBOUND_PORT = 15006;

const PLAINTEXT_HTTP_ALPNS = ['http/1.1', 'h2c'];
const MTLS_HTTP_ALPNS = ['istio-http/1.0', 'istio-http/1.1', 'istio-h2'];
const ALL_ISTIO_MTLS_ALPNS = ['istio', 'istio-peer-exchange', 'istio-http/1.0', 'istio-http/1.1', 'istio-h2'];
const MTLS_TCP_WITH_MXC_ALPNS = ['istio-peer-exchange', 'istio'];

/** One filter chain match option (istiod FilterChainMatchOptions). */
interface ChainOption {
  readonly protocol: 'HTTP' | 'TCP';
  readonly transport: 'tls' | 'raw_buffer';
  readonly alpns?: readonly string[];
  /** terminates Istio mTLS: gets the security transport socket */
  readonly mtls?: boolean;
}

/**
 * istiod getFilterChainMatchOptions for a port's listener protocol and mTLS mode; mTLS options are kept
 * only when the security layer supplies a transport socket (the contract of sidecarInboundSecurity).
 */
function chainOptions(lp: ListenerProtocol, sec: SidecarInboundSecurity): ChainOption[] {
  const { mode } = sec;
  let opts: ChainOption[];
  if (lp === 'HTTP') {
    if (mode === 'STRICT') opts = [{ protocol: 'HTTP', transport: 'tls', mtls: true }];
    else if (mode === 'PERMISSIVE') {
      opts = [{ protocol: 'HTTP', transport: 'tls', alpns: ALL_ISTIO_MTLS_ALPNS, mtls: true }, { protocol: 'HTTP', transport: 'raw_buffer' }];
    } else opts = [{ protocol: 'HTTP', transport: 'raw_buffer' }];
  } else if (lp === 'TCP') {
    if (mode === 'STRICT') opts = [{ protocol: 'TCP', transport: 'tls', mtls: true }];
    else if (mode === 'PERMISSIVE') {
      opts = [
        { protocol: 'TCP', transport: 'tls', alpns: ALL_ISTIO_MTLS_ALPNS, mtls: true },
        { protocol: 'TCP', transport: 'tls' },
        { protocol: 'TCP', transport: 'raw_buffer' },
      ];
    } else opts = [{ protocol: 'TCP', transport: 'raw_buffer' }];
  } else if (mode === 'STRICT') {
    opts = [{ protocol: 'HTTP', transport: 'tls', alpns: MTLS_HTTP_ALPNS, mtls: true }, { protocol: 'TCP', transport: 'tls', mtls: true }];
  } else if (mode === 'PERMISSIVE') {
    opts = [
      { protocol: 'HTTP', transport: 'tls', alpns: MTLS_HTTP_ALPNS, mtls: true },
      { protocol: 'HTTP', transport: 'raw_buffer', alpns: PLAINTEXT_HTTP_ALPNS },
      { protocol: 'TCP', transport: 'tls', alpns: MTLS_TCP_WITH_MXC_ALPNS, mtls: true },
      { protocol: 'TCP', transport: 'raw_buffer' },
      { protocol: 'TCP', transport: 'tls' },
    ];
  } else {
    opts = [{ protocol: 'HTTP', transport: 'raw_buffer', alpns: PLAINTEXT_HTTP_ALPNS }, { protocol: 'TCP', transport: 'raw_buffer' }];
  }
  const mtlsAvailable = sec.transportSocket !== undefined && mode !== 'DISABLE';
  return opts.filter((o) => !o.mtls || mtlsAvailable);
}

/** What one chain config (a service port, or the passthrough) routes to (istiod inboundChainConfig). */
interface ChainConfig {
  /** the wildcard the chain is named after (istiod cc.bind) */
  readonly bind: string;
  /** container port; 0 for the passthrough chains */
  readonly targetPort: number;
  /** service port, for the virtual host name and tracing decorator */
  readonly servicePort: number;
  readonly protocol: Protocol;
  readonly clusterName: string;
  readonly passthrough: boolean;
  readonly hostname: string;
}

function chainName(cc: ChainConfig, protocol: 'HTTP' | 'TCP'): string {
  if (cc.passthrough) return protocol === 'HTTP' ? 'virtualInbound-catchall-http' : VIRTUAL_INBOUND;
  return `${cc.bind}_${cc.targetPort}`;
}

function statPrefix(cc: ChainConfig): string {
  return cc.passthrough ? cc.clusterName : `inbound_${cc.bind}_${cc.targetPort}`;
}

/** istiod buildSidecarInboundHTTPRouteConfig: one `*` virtual host forwarding to the local cluster. */
function inboundRouteConfig(cc: ChainConfig): J {
  return {
    name: cc.clusterName,
    virtual_hosts: [
      {
        name: `inbound|http|${cc.servicePort}`,
        domains: ['*'],
        routes: [
          {
            name: 'default',
            match: { prefix: '/' },
            route: {
              cluster: cc.clusterName,
              timeout: ZERO_DURATION,
              max_stream_duration: { max_stream_duration: ZERO_DURATION, grpc_timeout_header_max: ZERO_DURATION },
            },
            decorator: { operation: `${cc.hostname}:${cc.servicePort}/*` },
          },
        ],
      },
    ],
    validate_clusters: { value: false },
  };
}

/** The observability pieces every inbound chain carries (telemetry.ts), computed once per listener. */
export interface InboundObservability {
  readonly statsFilters: readonly J[];
  readonly tcpAccessLog: readonly J[];
  readonly hcm?: HcmTelemetry;
}

/** Without a snapshot (layout tests): the default istio.stats filter, no access logs, no tracing. */
const DEFAULT_OBSERVABILITY: InboundObservability = { statsFilters: [istioStatsFilter('inbound')], tcpAccessLog: [] };

function inboundObservability(t: SidecarTelemetry): InboundObservability {
  return { statsFilters: t.statsFilters('inbound'), tcpAccessLog: t.accessLogs('inbound', 'tcp'), hcm: t.hcm('inbound') };
}

function buildChain(cc: ChainConfig, opt: ChainOption, sec: SidecarInboundSecurity, obs: InboundObservability): J {
  const match: J = {};
  if (opt.alpns) match.application_protocols = [...opt.alpns];
  match.transport_protocol = opt.transport;
  if (cc.targetPort > 0) match.destination_port = { value: cc.targetPort };
  let filters: J[];
  if (opt.protocol === 'HTTP') {
    filters = [
      httpConnectionManager({
        statPrefix: statPrefix(cc),
        cls: 'inbound',
        routeConfig: inboundRouteConfig(cc),
        httpFilters: sidecarHttpFilters({ cls: 'inbound', grpc: isGrpc(cc.protocol), grpcWeb: cc.protocol === 'GRPC-Web', securityFilters: sec.httpFilters, statsFilters: obs.statsFilters }),
        http2: isHttp2(cc.protocol),
        ...(obs.hcm ? { accessLog: obs.hcm.accessLog, requestIdExtension: obs.hcm.requestIdExtension, ...(obs.hcm.tracing ? { tracing: obs.hcm.tracing } : {}) } : {}),
      }),
    ];
  } else {
    filters = [...sec.networkFilters, ...obs.statsFilters, tcpProxyFilter(cc.clusterName, cc.clusterName, obs.tcpAccessLog)];
  }
  const chain: J = { filter_chain_match: match, filters };
  if (opt.mtls && sec.transportSocket) chain.transport_socket = sec.transportSocket;
  chain.name = chainName(cc, opt.protocol);
  return chain;
}

function blackholeChain(obs: InboundObservability): J {
  return {
    filter_chain_match: { destination_port: { value: INBOUND_PORT } },
    filters: [...obs.statsFilters, tcpProxyFilter(BLACKHOLE_CLUSTER, BLACKHOLE_CLUSTER)],
    name: 'virtualInbound-blackhole',
  };
}

/**
 * istiod populateListenerFilters: original_dst, then the TLS inspector and the HTTP inspector, each
 * disabled (filter_disabled) on the destination ports none of whose chains need it.
 */
function inboundListenerFilters(chains: readonly J[]): J[] {
  const inspectors = new Map<number, { tls: boolean; http: boolean }>();
  for (const c of chains) {
    const m = (c.filter_chain_match ?? {}) as J;
    const port = (m.destination_port as { value: number } | undefined)?.value ?? 0;
    const alpns = (m.application_protocols as string[] | undefined) ?? [];
    const cur = inspectors.get(port) ?? { tls: false, http: false };
    cur.tls ||= m.transport_protocol === 'tls';
    cur.http ||= alpns.includes('http/1.1') || alpns.includes('h2c');
    inspectors.set(port, cur);
  }
  const out: J[] = [originalDstListenerFilter()];
  const all = [...inspectors.entries()];
  if (all.some(([, i]) => i.tls)) {
    if (inspectors.get(0)?.tls) {
      const off = all.filter(([p, i]) => p !== 0 && !i.tls).map(([p]) => p);
      out.push(tlsInspectorListenerFilter(off.length > 0 ? destinationPortsPredicate(off) : undefined));
    } else {
      const on = all.filter(([p, i]) => p !== 0 && i.tls).map(([p]) => p);
      out.push(tlsInspectorListenerFilter(on.length > 0 ? exceptPortsPredicate(on) : undefined));
    }
  }
  if (all.some(([, i]) => i.http)) {
    const off = all.filter(([, i]) => !i.http).map(([p]) => p);
    out.push(httpInspectorListenerFilter(off.length > 0 ? destinationPortsPredicate(off) : undefined));
  }
  return out;
}

/** The filter chains of one inbound service port under the given security (exported for tests of the layout). */
export function inboundPortChains(
  port: { readonly targetPort: number; readonly servicePort: number; readonly protocol: Protocol; readonly hostname: string },
  sec: SidecarInboundSecurity,
  bind = '0.0.0.0',
  obs: InboundObservability = DEFAULT_OBSERVABILITY,
): J[] {
  const lp = listenerProtocol(port.protocol);
  if (lp === 'NONE') return [];
  const cc: ChainConfig = { ...port, bind, clusterName: inboundClusterName(port.targetPort), passthrough: false };
  return chainOptions(lp, sec).map((opt) => buildChain(cc, opt, sec, obs));
}

/** istiod BuildConfigInfoMetadata for a chain a Sidecar `ingress` listener declared. */
function sidecarChainMetadata(port: InboundPort): J | undefined {
  if (!port.sidecar) return undefined;
  const { namespace, name } = port.sidecar;
  return { filter_metadata: { istio: jsonToStruct({ config: `/apis/networking.istio.io/v1/namespaces/${namespace}/sidecar/${name}` }) } };
}

/** The chains of one inbound port, named after its bind, with the Sidecar's metadata when it declared the port. */
function chainsOf(ctx: PushContext, proxy: Proxy, port: InboundPort, obs: InboundObservability): J[] {
  const chains = inboundPortChains(port, sidecarInboundSecurity(ctx, proxy, port.targetPort), port.bind, obs);
  const metadata = sidecarChainMetadata(port);
  return metadata ? chains.map((c) => ({ ...c, metadata })) : chains;
}

/**
 * A listener of its own for a Sidecar `ingress` port that binds for real (captureMode NONE, or DEFAULT on
 * a NONE-mode proxy; istiod inboundCustomListener): `BIND_PORT`, the port's chains, no original_dst
 * listener filter (nothing redirected the connection).
 */
export function buildBoundInboundListener(ctx: PushContext, proxy: Proxy, name: string): J | undefined {
  const port = inboundPorts(ctx, proxy).find((p) => p.bindToPort && `${p.bind}_${p.targetPort}` === name);
  if (!port) return undefined;
  const t = new SidecarTelemetry(ctx, proxy);
  const chains = chainsOf(ctx, proxy, port, inboundObservability(t));
  if (chains.length === 0) return undefined;
  const listener: J = {
    name,
    address: { socket_address: { address: port.bind, port_value: port.targetPort } },
    traffic_direction: 'INBOUND',
    continue_on_listener_filters_timeout: true,
    filter_chains: chains,
  };
  const filters = inboundListenerFilters(chains).slice(1); // [0] is original_dst
  if (filters.length > 0) listener.listener_filters = filters;
  listener.listener_filters_timeout = ZERO_DURATION;
  const listenerLogs = t.accessLogs('inbound', 'listener');
  if (listenerLogs.length) listener.access_log = listenerLogs;
  return listener;
}

export function buildVirtualInboundListener(ctx: PushContext, proxy: Proxy): J {
  const t = new SidecarTelemetry(ctx, proxy);
  const obs = inboundObservability(t);
  const chains: J[] = [blackholeChain(obs)];
  const bind = wildcardFor(proxy);
  const passthrough: ChainConfig = {
    bind,
    targetPort: 0, servicePort: 0, protocol: 'UNSUPPORTED', clusterName: INBOUND_PASSTHROUGH_CLUSTER, passthrough: true, hostname: '',
  };
  // the passthrough chains take the workload's port-independent mode (port 0)
  const passthroughSecurity = sidecarInboundSecurity(ctx, proxy, 0);
  for (const opt of chainOptions('AUTO', passthroughSecurity)) chains.push(buildChain(passthrough, opt, passthroughSecurity, obs));
  for (const port of inboundPorts(ctx, proxy)) if (!port.bindToPort) chains.push(...chainsOf(ctx, proxy, port, obs));
  const listener: J = {
    name: VIRTUAL_INBOUND,
    address: { socket_address: { address: bind, port_value: INBOUND_PORT } },
    traffic_direction: 'INBOUND',
    continue_on_listener_filters_timeout: true,
  };
  // TPROXY keeps the client's source address: Envoy must accept connections for non-local addresses
  if (proxy.interceptionMode === 'TPROXY') listener.transparent = { value: true };
  listener.filter_chains = chains;
  listener.listener_filters = inboundListenerFilters(chains);
  listener.listener_filters_timeout = ZERO_DURATION;
  const listenerLogs = t.accessLogs('inbound', 'listener');
  if (listenerLogs.length) listener.access_log = listenerLogs;
  return listener;
}
