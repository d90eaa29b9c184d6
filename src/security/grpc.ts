import type { ClientTLSSettings } from '../config/schemas/destination-rule.js';
import type { PushContext } from '../model/push-context.js';
import type { Proxy } from '../model/proxy.js';
import type { Workload } from '../model/types.js';
import { ANY_TYPE, anyOf, TLS_TRANSPORT_SOCKET_NAME } from '../envoy/type-urls.js';
import { effectiveMtls, peerAuthenticationLabelKeys, type MtlsMode } from './authn.js';
import { buildHttpFilters, meshTrustDomainBundle, policiesForWorkload } from './authz.js';
import { jwtRulesForWorkload } from './jwt/requestauthn.js';
import type { J } from '../envoy/json.js';

// PeerAuthentication / AuthorizationPolicy / DestinationRule tls → what proxyless gRPC accepts
// (istiod grpcgen lds.go / cds.go, gRFC A29 security and A41 RBAC):
//
// Server (LDS `xds.istio.io/grpc/lds/inbound/IP:PORT`):
//   effective mode STRICT                              → DownstreamTlsContext, require_client_certificate
//   PERMISSIVE on a workload labelled tlsMode=istio   → same as STRICT (gRPC cannot sniff TLS vs plaintext
//                                                        on one port; clients use auto-mTLS to such pods)
//   PERMISSIVE otherwise, DISABLE                      → plaintext
//   Certificates come from the bootstrap's certificate provider instance `default` (certificate
//   `default`, CA `ROOTCA`): gRPC NACKs SDS and inline certificates.
//   AuthorizationPolicy → RBAC HTTP filters before the router (CUSTOM as fail-closed DENY, DENY, ALLOW;
//   AUDIT is left out: gRPC implements no LOG action). Header matchers use the deprecated
//   exact_match/prefix_match/… form C-core 1.51 understands. gRPC servers need GRPC_XDS_EXPERIMENTAL_RBAC=true
//   (grpc-js) or they NACK the listener.
//   RequestAuthentication: gRPC has no jwt_authn filter; meshd generates none and warns (see
//   grpcInboundSecurity), so requestPrincipals/request.auth.* ALLOW rules deny and DENY rules never match.
//
// Client (CDS `outbound|PORT|SUBSET|FQDN`):
//   DestinationRule tls.mode ISTIO_MUTUAL             → UpstreamTlsContext with provider instances, SANs
//                                                        = tls.subjectAltNames or the destination's
//                                                        service accounts
//   no tls, every ready endpoint's server is mTLS     → the same (auto-mTLS)
//   DISABLE, SIMPLE, MUTUAL, anything else            → plaintext (gRPC cannot take file or SDS
//                                                        certificates from a DestinationRule; istiod's grpc
//                                                        generator ignores them too)

export const TLS_MODE_LABEL = 'security.istio.io/tlsMode';

const providerInstance = (certificateName: string) => ({ instance_name: 'default', certificate_name: certificateName });

export interface GrpcInboundSecurity {
  readonly mode: 'plaintext' | 'mtls';
  readonly transportSocket?: J;
  readonly httpFilters: readonly J[];
  /** which PeerAuthentication decided, and rules left out of RBAC and why */
  readonly notes: readonly string[];
}

function isIstioTlsMode(labels: Readonly<Record<string, string>>, workload: Workload | undefined): boolean {
  return labels[TLS_MODE_LABEL] === 'istio' || workload?.tlsMode === 'istio';
}

/** Whether a gRPC server with these facts serves mTLS on `port` (the server side of auto-mTLS too). */
export function grpcServerMtls(mode: MtlsMode, istioTlsMode: boolean): boolean {
  return mode === 'STRICT' || (mode === 'PERMISSIVE' && istioTlsMode);
}

export function downstreamTlsContext(): J {
  return {
    name: TLS_TRANSPORT_SOCKET_NAME,
    typed_config: anyOf(ANY_TYPE.DOWNSTREAM_TLS_CONTEXT, {
      common_tls_context: {
        tls_certificate_provider_instance: providerInstance('default'),
        validation_context: { ca_certificate_provider_instance: providerInstance('ROOTCA') },
      },
      require_client_certificate: { value: true },
    }),
  };
}

export function upstreamTlsContext(sans: readonly string[]): J {
  return {
    name: TLS_TRANSPORT_SOCKET_NAME,
    typed_config: anyOf(ANY_TYPE.UPSTREAM_TLS_CONTEXT, {
      common_tls_context: {
        tls_certificate_provider_instance: providerInstance('default'),
        combined_validation_context: {
          default_validation_context: {
            ...(sans.length > 0 ? { match_subject_alt_names: sans.map((exact) => ({ exact })) } : {}),
            ca_certificate_provider_instance: providerInstance('ROOTCA'),
          },
        },
      },
    }),
  };
}

/** HeaderMatcher.string_match → the deprecated oneof fields gRPC C-core 1.51 parses. */
export function legacyHeaderMatchers(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(legacyHeaderMatchers);
  if (!v || typeof v !== 'object') return v;
  const out: J = {};
  for (const [k, val] of Object.entries(v as J)) {
    if (k === 'header' && val && typeof val === 'object' && 'string_match' in (val as J)) {
      const { string_match: sm, ...rest } = val as { string_match: J } & J;
      const legacy: J = { ...rest };
      if ('exact' in sm) legacy.exact_match = sm.exact;
      else if ('prefix' in sm) legacy.prefix_match = sm.prefix;
      else if ('suffix' in sm) legacy.suffix_match = sm.suffix;
      else if ('safe_regex' in sm) legacy.safe_regex_match = sm.safe_regex;
      else if ('contains' in sm) legacy.contains_match = sm.contains;
      out[k] = legacy;
    } else {
      out[k] = legacyHeaderMatchers(val);
    }
  }
  return out;
}

export function grpcInboundSecurity(ctx: PushContext, proxy: Proxy, port: number): GrpcInboundSecurity {
  const labels = ctx.proxyLabels(proxy);
  const workload = ctx.workloadOf(proxy);
  const pa = effectiveMtls(ctx, proxy.namespace, labels, port);
  const mtls = grpcServerMtls(pa.mode, isIstioTlsMode(labels, workload));
  const sel = policiesForWorkload(ctx, proxy.namespace, labels);
  // no ext_authz option: a CUSTOM policy fails closed on proxyless servers
  const built = buildHttpFilters({ ...sel, audit: [] }, { trustDomainBundle: meshTrustDomainBundle(ctx) });
  const warnings = [...built.warnings, ...(sel.audit.length > 0 ? [`AUDIT policies ${sel.audit.map((p) => `${p.namespace}/${p.name}`).join(', ')} are not applied to proxyless gRPC servers`] : [])];
  // gRPC's xDS server has no jwt_authn filter (gRFC A41 RBAC only; istiod's grpcgen writes none either):
  // tokens are not verified, and requestPrincipals / request.auth.* rules read JWT metadata gRPC never has
  const jwtFrom = [...new Set(jwtRulesForWorkload(ctx, proxy.namespace, labels).map((r) => r.from))];
  if (jwtFrom.length > 0) {
    warnings.push(`RequestAuthentication ${jwtFrom.join(', ')} is not enforced: proxyless gRPC servers have no JWT filter (tokens are not verified; AuthorizationPolicy requestPrincipals and request.auth.* conditions never match there)`);
  }
  for (const w of warnings) ctx.warn(`proxyless gRPC ${proxy.namespace}/${proxy.podName}: ${w}`);
  // gRPC NACKs an HCM whose HTTP filters share a name (Envoy does not care): one name per RBAC filter
  const used = new Map<string, number>();
  const nameOf = (action: string) => {
    const base = `envoy.filters.http.rbac.${action.toLowerCase()}`;
    const n = (used.get(base) ?? 0) + 1;
    used.set(base, n);
    return n === 1 ? base : `${base}.${n}`;
  };
  return {
    mode: mtls ? 'mtls' : 'plaintext',
    ...(mtls ? { transportSocket: downstreamTlsContext() } : {}),
    httpFilters: built.filters.map((f, i) => ({ ...(legacyHeaderMatchers(f) as J), name: nameOf(built.actions[i]!) })),
    notes: [`mTLS ${pa.mode} from ${pa.from}`, ...warnings, ...built.notes],
  };
}

/** SPIFFE identities of the workloads behind hostname:port (for SAN matching). */
export function serviceAccountsOf(ctx: PushContext, hostname: string, port: number): string[] {
  return [...ctx.serviceAccounts(hostname, port)];
}

/** Auto-mTLS: every ready endpoint's workload is a gRPC server that will serve mTLS on its port. */
export function endpointsServeMtls(ctx: PushContext, hostname: string, port: number): boolean {
  const eps = ctx.endpoints(hostname, port).filter((ep) => ep.ready);
  if (eps.length === 0) return false;
  return eps.every((ep) => {
    const w = ep.workload;
    if (!w) return false;
    return grpcServerMtls(effectiveMtls(ctx, w.namespace, w.labels, ep.port).mode, isIstioTlsMode(w.labels, w));
  });
}

export function grpcUpstreamTransportSocket(ctx: PushContext, _proxy: Proxy, tls: ClientTLSSettings | undefined, hostname: string, port: number): J | undefined {
  const mode = tls?.mode;
  const useMtls = mode === 'ISTIO_MUTUAL' || ((mode === undefined || mode === null) && endpointsServeMtls(ctx, hostname, port));
  if (!useMtls) return undefined;
  const sans = tls?.subjectAltNames && tls.subjectAltNames.length > 0 ? [...tls.subjectAltNames] : serviceAccountsOf(ctx, hostname, port);
  return upstreamTlsContext(sans);
}

/** Label keys the security output of a proxy depends on (selectors of PA/AP, and tlsMode). */
export function securityLabelKeys(ctx: PushContext): string[] {
  const keys = new Set<string>([TLS_MODE_LABEL, ...peerAuthenticationLabelKeys(ctx)]);
  for (const s of ctx.authorizationPolicies) for (const k of Object.keys(s.object.spec.selector?.matchLabels ?? {})) keys.add(k);
  for (const s of ctx.requestAuthentications) for (const k of Object.keys(s.object.spec.selector?.matchLabels ?? {})) keys.add(k);
  return [...keys];
}

/** The part of the cache key for the workload's tlsMode when it comes from the pod rather than labels. */
export function workloadTlsModeKey(ctx: PushContext, proxy: Proxy): string {
  return isIstioTlsMode(ctx.proxyLabels(proxy), ctx.workloadOf(proxy)) ? 'istio' : '';
}
