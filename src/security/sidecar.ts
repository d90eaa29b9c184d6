import type { PushContext } from '../model/push-context.js';
import type { Proxy } from '../model/proxy.js';
import { ANY_TYPE, anyOf, TLS_TRANSPORT_SOCKET_NAME } from '../envoy/type-urls.js';
import { meshCommonTlsContext } from '../envoy/sds.js';
import { effectiveMtls, type MtlsMode } from './authn.js';
import { buildHttpFilters, buildTcpFilters, meshTrustDomainBundle, policiesForWorkload } from './authz.js';
import { resolveExtensionProviders } from './ext-authz.js';
import { buildJwtAuthnFilter, jwtRulesForWorkload } from './jwt/requestauthn.js';
import type { J } from '../envoy/json.js';

// What PeerAuthentication and AuthorizationPolicy put on an Envoy sidecar's inbound port (istiod
// authn policy_applier InboundMTLSConfiguration / BuildInboundTLS, and the authz builder). The listener
// generator (xds/generators/sidecar/lds.ts) lays virtualInbound's filter chains out from this; it never
// reads PeerAuthentication/AuthorizationPolicy itself.
//
//   STRICT      mTLS chains only (transport_protocol "tls")
//   PERMISSIVE  mTLS chains (matched on Istio's mTLS ALPNs, which sidecar clients offer) and plaintext ones
//   DISABLE     plaintext chains only (no transport socket)
// The chain matches themselves (ALPN lists per listener protocol) are the layout's, in lds/inbound.ts.
//
// The DownstreamTlsContext takes the workload certificate over SDS (`default`, `ROOTCA` on the
// bootstrap's `sds-grpc` cluster), requires a client certificate and uses istiod's TLS parameters. Its
// alpn_protocols are `h2`,`http/1.1` on HTTP and TCP chains alike: istiod advertises
// `istio-peer-exchange` on TCP chains only because it also installs istio-proxy's metadata-exchange network
// filter there; meshd does not, and a server that selected that ALPN would make the client's filter prefix
// the stream with exchange bytes nothing strips (istiod's own PILOT_DISABLE_MX_ALPN behaviour).
//
// RequestAuthentication: istiod's jwt_authn filter (jwt/requestauthn.ts) after the CUSTOM (ext_authz)
// filters and before the AUDIT/DENY/ALLOW RBAC filters, so RBAC sees the verified JWT payload.
// Gateways (the router generator) take the same policy filters (workloadPolicyFilters) first in every HCM
// and before every tcp_proxy, with the JWT filter clearing the route cache.
//
// RBAC: the policies of the root namespace and of the workload's namespace selecting it, in Istio's order
// (CUSTOM as RBAC shadow + ext_authz to the mesh config's provider, AUDIT, DENY, ALLOW; `spec: {}` denies
// all), HTTP filters for HTTP chains and network filters for TCP chains.

/** DownstreamTlsContext alpn_protocols (istiod ALPNHttp / ALPNDownstream). */
export const INBOUND_TLS_ALPNS: readonly string[] = Object.freeze(['h2', 'http/1.1']);
/** istiod SupportedCiphers: the strong suites sidecars accept below TLS 1.3. */
export const ISTIO_CIPHER_SUITES: readonly string[] = Object.freeze([
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'AES256-GCM-SHA384',
  'AES128-GCM-SHA256',
]);

export interface SidecarInboundSecurity {
  /** effective PeerAuthentication mode for the port (mesh → namespace → workload → portLevelMtls) */
  readonly mode: MtlsMode;
  /**
   * transport_socket (envoy.transport_sockets.tls with a DownstreamTlsContext: SDS `default`/`ROOTCA`,
   * Istio's ALPN) for the mTLS filter chains; undefined when the port takes no mTLS (DISABLE)
   */
  readonly transportSocket?: J;
  /** CUSTOM ext_authz, jwt_authn and RBAC HTTP filters, in order, to insert before the router on HTTP chains */
  readonly httpFilters: readonly J[];
  /** RBAC network filters, in order, to insert before tcp_proxy on TCP chains */
  readonly networkFilters: readonly J[];
  /** which PeerAuthentication decided, and authorization rules left out and why (for the caller's log) */
  readonly notes: readonly string[];
}

/** DownstreamTlsContext of a sidecar's inbound mTLS chains (istiod BuildInboundTLS). */
export function sidecarDownstreamTlsSocket(): J {
  return {
    name: TLS_TRANSPORT_SOCKET_NAME,
    typed_config: anyOf(ANY_TYPE.DOWNSTREAM_TLS_CONTEXT, {
      common_tls_context: meshCommonTlsContext({
        alpnProtocols: INBOUND_TLS_ALPNS,
        tlsParams: {
          tls_minimum_protocol_version: 'TLSv1_2',
          tls_maximum_protocol_version: 'TLSv1_3',
          cipher_suites: [...ISTIO_CIPHER_SUITES],
        },
      }),
      require_client_certificate: { value: true },
    }),
  };
}

/**
 * What PeerAuthentication/AuthorizationPolicy put on `port` of the proxy's workload: `port` is the
 * workload's own port (the container port the inbound chain matches), as portLevelMtls keys are.
 */
export function sidecarInboundSecurity(ctx: PushContext, proxy: Proxy, port: number): SidecarInboundSecurity {
  const labels = ctx.proxyLabels(proxy);
  const pa = effectiveMtls(ctx, proxy.namespace, labels, port);
  const policy = workloadPolicyFilters(ctx, proxy, false);
  return {
    mode: pa.mode,
    ...(pa.mode !== 'DISABLE' ? { transportSocket: sidecarDownstreamTlsSocket() } : {}),
    httpFilters: policy.httpFilters,
    networkFilters: policy.networkFilters,
    notes: [`mTLS ${pa.mode} from ${pa.from}`, ...policy.notes],
  };
}

export interface WorkloadPolicyFilters {
  /** CUSTOM ext_authz, jwt_authn, then AUDIT/DENY/ALLOW RBAC HTTP filters (istiod's order) */
  readonly httpFilters: readonly J[];
  /** CUSTOM/AUDIT/DENY/ALLOW RBAC network filters */
  readonly networkFilters: readonly J[];
  /** warnings (already logged through ctx.warn) and expected omissions */
  readonly notes: readonly string[];
}

/**
 * The RequestAuthentication and AuthorizationPolicy filters of the policies attached to a proxy's
 * workload (istiod authzCustomBuilder / authnBuilder / authzBuilder BuildHTTP and BuildTCP): a sidecar's
 * inbound chains and a gateway's chains. `clearRouteCache`: gateways re-pick the route once the JWT
 * payload is known (istiod JwtFilter(proxy.Type != SidecarProxy)).
 */
export function workloadPolicyFilters(ctx: PushContext, proxy: Proxy, clearRouteCache: boolean): WorkloadPolicyFilters {
  const labels = ctx.proxyLabels(proxy);
  const selected = policiesForWorkload(ctx, proxy.namespace, labels);
  // providers are resolved per call, not once per snapshot: the provider's service lookup must be recorded
  // as a dependency of every resource built from it, or the encode cache would keep a filter naming a
  // service that has since been deleted
  const opts = { trustDomainBundle: meshTrustDomainBundle(ctx), extAuthz: selected.custom.length > 0 ? resolveExtensionProviders(ctx) : new Map() };
  const http = buildHttpFilters(selected, opts);
  const tcp = buildTcpFilters(selected, opts);
  const jwt = buildJwtAuthnFilter(ctx, jwtRulesForWorkload(ctx, proxy.namespace, labels), clearRouteCache);
  const kind = proxy.type === 'router' ? 'gateway' : 'sidecar';
  for (const w of new Set([...http.warnings, ...tcp.warnings, ...jwt.warnings])) ctx.warn(`${kind} ${proxy.namespace}/${proxy.podName}: ${w}`);
  const custom = http.actions.filter((a) => a === 'CUSTOM').length;
  return {
    httpFilters: [...http.filters.slice(0, custom), ...(jwt.filter ? [jwt.filter] : []), ...http.filters.slice(custom)],
    networkFilters: tcp.filters,
    notes: [...new Set([...http.warnings, ...tcp.warnings, ...jwt.warnings, ...http.notes, ...tcp.notes])],
  };
}
