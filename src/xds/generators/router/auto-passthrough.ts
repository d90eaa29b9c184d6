import type { Server } from '../../../config/schemas/gateway.js';
import { hostSubsetOf } from '../../../config/semantics/util.js';
import { dnsSrvSubsetKey } from '../../../envoy/cluster-name.js';
import { tcpProxyFilter } from '../../../envoy/hcm.js';
import type { J } from '../../../envoy/json.js';
import type { MergedGateway } from '../../../model/gateways.js';
import type { PushContext } from '../../../model/push-context.js';
import type { Proxy } from '../../../model/proxy.js';
import type { MeshService } from '../../../model/types.js';
import { outboundServices } from '../sidecar/scope.js';
import type { SidecarTelemetry } from '../sidecar/telemetry.js';

// AUTO_PASSTHROUGH gateway servers (istiod builtAutoPassthroughFilterChains / buildOutboundSniDnatClusters):
// the east-west gateway of a multi-network mesh. A sidecar in another network opens Istio mTLS to the
// gateway with SNI `outbound_.PORT_.SUBSET_.FQDN` (the SNI it sends every mTLS upstream); the gateway does
// not terminate it, it picks the cluster by that SNI and forwards the bytes. No VirtualService is involved.
//
// LDS: per service the gateway sees (its namespace's outbound scope, mesh-external ServiceEntries left out)
//      whose hostname is within one of the server's hosts, per non-UDP port, one filter chain matching
//      server_names [`outbound_.PORT_._.FQDN`] and application_protocols = every Istio mTLS ALPN (so only
//      Istio mTLS gets through), then one per subset of the DestinationRule for that host; each carries
//      istio.stats and a tcp_proxy to the SNI-DNAT cluster of the same name — no authorization filters,
//      as istiod builds them (the destination's sidecar enforces policy on the mTLS it terminates).
// CDS: when any server of the gateway is AUTO_PASSTHROUGH, an SNI-DNAT cluster per service port and subset
//      (sidecar/cds.ts buildSniDnatCluster: no TLS of its own); EDS under the same names keeps only
//      endpoints reached over mTLS (sidecar/eds.ts).

/** istiod allIstioMtlsALPNs: the ALPN values istio-proxy offers on its mTLS upstream connections. */
export const ISTIO_MTLS_ALPNS = ['istio', 'istio-peer-exchange', 'istio-http/1.0', 'istio-http/1.1', 'istio-h2'] as const;

export function isAutoPassthrough(s: Server): boolean {
  return s.tls?.mode === 'AUTO_PASSTHROUGH';
}

export function hasAutoPassthroughServer(m: MergedGateway): boolean {
  return m.ports.some((p) => p.servers.some((s) => isAutoPassthrough(s.server)));
}

/** The services an SNI-DNAT cluster or chain is built for: in the gateway's scope, inside the mesh. */
function passthroughServices(ctx: PushContext, proxy: Proxy): MeshService[] {
  return outboundServices(ctx, proxy).filter((svc) => !svc.serviceEntry?.meshExternal);
}

/** One SNI-DNAT cluster name per (service, non-UDP port, '' and each subset), in service order. */
function sniDnatKeys(ctx: PushContext, proxy: Proxy, services: readonly MeshService[]): { name: string; port: number }[] {
  const labels = ctx.proxyLabels(proxy);
  const out: { name: string; port: number }[] = [];
  for (const svc of services) {
    const subsets = ctx.destinationRuleFor(proxy.namespace, svc.hostname, labels)?.config.spec.subsets ?? [];
    for (const port of svc.ports) {
      if (port.protocol === 'UDP') continue;
      out.push({ name: dnsSrvSubsetKey('outbound', '', svc.hostname, port.port), port: port.port });
      for (const s of subsets) out.push({ name: dnsSrvSubsetKey('outbound', s.name, svc.hostname, port.port), port: port.port });
    }
  }
  return out;
}

/** CDS names the gateway gets besides its outbound clusters (none without an AUTO_PASSTHROUGH server). */
export function sniDnatClusterNames(ctx: PushContext, proxy: Proxy, m: MergedGateway): string[] {
  if (!hasAutoPassthroughServer(m)) return [];
  return sniDnatKeys(ctx, proxy, passthroughServices(ctx, proxy)).map((k) => k.name);
}

/** The server's SNI hosts as istiod reads them (getSNIHostsForServer): `ns/` prefixes dropped, deduplicated. */
function serverSniHosts(s: Server): string[] {
  return [...new Set(s.hosts.map((h) => (h.includes('/') ? h.slice(h.indexOf('/') + 1) : h)))].sort();
}

/** The filter chains of one AUTO_PASSTHROUGH server. */
export function autoPassthroughChains(ctx: PushContext, proxy: Proxy, telemetry: SidecarTelemetry, server: Server): J[] {
  const hosts = serverSniHosts(server);
  const services = passthroughServices(ctx, proxy).filter((svc) => hosts.some((h) => hostSubsetOf(svc.hostname, h)));
  return sniDnatKeys(ctx, proxy, services).map(({ name }) => ({
    filter_chain_match: { server_names: [name], application_protocols: [...ISTIO_MTLS_ALPNS] },
    filters: [...telemetry.statsFilters('gateway'), tcpProxyFilter(name, name, telemetry.accessLogs('gateway', 'tcp'))],
  }));
}
