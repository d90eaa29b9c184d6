import type { PushContext } from '../model/push-context.js';
import type { Proxy } from '../model/proxy.js';
import type { MtlsMode } from './authn.js';

// SCAFFOLD (owned by the sidecar-security work, issue 5): what PeerAuthentication and
// AuthorizationPolicy put on an Envoy sidecar's inbound port. The listener generator (lds.ts) lays out
// virtualInbound's filter chains from this; it never reads PeerAuthentication/AuthorizationPolicy itself.

type J = Record<string, unknown>;

export interface SidecarInboundSecurity {
  /** effective PeerAuthentication mode for the port (mesh → namespace → workload → portLevelMtls) */
  readonly mode: MtlsMode;
  /**
   * transport_socket (envoy.transport_sockets.tls with a DownstreamTlsContext: SDS `default`/`ROOTCA`,
   * Istio's ALPN) for the mTLS filter chains; undefined when the port takes no mTLS (DISABLE)
   */
  readonly transportSocket?: J;
  /** RBAC HTTP filters, in order, to insert before the router on HTTP chains */
  readonly httpFilters: readonly J[];
  /** RBAC network filters, in order, to insert before tcp_proxy on TCP chains */
  readonly networkFilters: readonly J[];
}

export function sidecarInboundSecurity(_ctx: PushContext, _proxy: Proxy, _port: number): SidecarInboundSecurity {
  return { mode: 'PERMISSIVE', httpFilters: [], networkFilters: [] };
}
