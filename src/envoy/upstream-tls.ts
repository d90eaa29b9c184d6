import type { ClientTLSSettings } from '../config/schemas/destination-rule.js';
import { meshCommonTlsContext, sdsSecretConfig } from './sds.js';
import { ANY_TYPE, anyOf, TLS_TRANSPORT_SOCKET_NAME } from './type-urls.js';
import type { J } from './json.js';

// The client side of TLS on an Envoy cluster (istiod cluster_tls.go): DestinationRule `tls` and
// auto-mTLS turned into an UpstreamTlsContext transport socket, or transport_socket_matches that pick
// mTLS per endpoint.
//
//   ISTIO_MUTUAL   workload certificate `default` and root `ROOTCA` over SDS (the bootstrap's `sds-grpc`),
//                  SAN match on the destination's SPIFFE identities (or tls.subjectAltNames), SNI
//                  `outbound_.PORT_.SUBSET_.FQDN` (or tls.sni), ALPN `istio` (`istio`,`h2` on HTTP/2
//                  clusters), TLS 1.2–1.3.
//   SIMPLE/MUTUAL  file certificates served by istio-agent over SDS: `file-root:CA` (default
//                  `file-root:system`, the OS bundle) and for MUTUAL `file-cert:CERT~KEY`;
//                  insecureSkipVerify → an empty validation context; credentialName → istiod's SDS over
//                  ADS (`kubernetes://NAME`, `…-cacert`), honoured only for DestinationRules with a
//                  workloadSelector as istiod does; ALPN `h2` on HTTP/2 clusters.
//   auto-mTLS      no `tls` and the destination does not DISABLE mTLS: transport_socket_matches
//                  `tlsMode-istio` (endpoint metadata envoy.transport_socket_match.tlsMode=istio) → the
//                  ISTIO_MUTUAL context, `tlsMode-disabled` (any other endpoint) → raw_buffer.
//
// ALPN: istiod (default flags) also offers `istio-peer-exchange` and installs istio-proxy's
// metadata-exchange cluster filter to speak it. meshd installs no such filter (its config type is an
// istio-proxy extension outside Envoy's API), so it offers what istiod offers with PILOT_DISABLE_MX_ALPN:
// a server that picked `istio-peer-exchange` would expect an exchange header this client never sends.
// The inbound side (src/security/sidecar.ts) makes the same choice.

/** What an in-mesh (ISTIO_MUTUAL) client offers: istiod util.ALPNInMesh / ALPNInMeshH2. */
export const ISTIO_MTLS_CLIENT_ALPN: readonly string[] = Object.freeze(['istio']);
export const ISTIO_MTLS_CLIENT_ALPN_H2: readonly string[] = Object.freeze(['istio', 'h2']);
/** istiod defaultUpstreamCommonTLSContext TLS parameters. */
export const UPSTREAM_TLS_PARAMS: Readonly<J> = Object.freeze({ tls_minimum_protocol_version: 'TLSv1_2', tls_maximum_protocol_version: 'TLSv1_3' });

/** Transport socket match names and metadata (istiod model.TLSModeLabelShortname / IstioMutualTLSModeLabel). */
export const TRANSPORT_SOCKET_MATCH_KEY = 'envoy.transport_socket_match';
export const TLS_MODE_SHORTNAME = 'tlsMode';

export function transportSocket(typeUrl: string, fields: J, name = TLS_TRANSPORT_SOCKET_NAME): J {
  return { name, typed_config: anyOf(typeUrl, fields) };
}

/** envoy.transport_sockets.raw_buffer: plaintext (istiod xdsfilters.RawBufferTransportSocket). */
export function rawBufferTransportSocket(): J {
  return { name: 'envoy.transport_sockets.raw_buffer', typed_config: anyOf(ANY_TYPE.RAW_BUFFER) };
}

export interface IstioMutualOptions {
  /** SPIFFE identities the server certificate must carry (exact URI SAN matches) */
  readonly subjectAltNames: readonly string[];
  /** SNI; istiod's default is `outbound_.PORT_.SUBSET_.FQDN` */
  readonly sni: string;
  /** the cluster speaks HTTP/2 upstream: offer `h2` too */
  readonly http2: boolean;
}

/** UpstreamTlsContext for ISTIO_MUTUAL / auto-mTLS (istiod buildUpstreamClusterTLSContext). */
export function istioMutualUpstreamTlsContext(opts: IstioMutualOptions): J {
  return {
    common_tls_context: meshCommonTlsContext({
      tlsParams: { ...UPSTREAM_TLS_PARAMS },
      alpnProtocols: opts.http2 ? ISTIO_MTLS_CLIENT_ALPN_H2 : ISTIO_MTLS_CLIENT_ALPN,
      subjectAltNames: opts.subjectAltNames,
    }),
    ...(opts.sni ? { sni: opts.sni } : {}),
  };
}

export function istioMutualTransportSocket(opts: IstioMutualOptions): J {
  return transportSocket(ANY_TYPE.UPSTREAM_TLS_CONTEXT, istioMutualUpstreamTlsContext(opts));
}

/**
 * Auto-mTLS (istiod applyUpstreamTLSSettings with an auto-detected ISTIO_MUTUAL): mTLS to endpoints
 * whose metadata says the workload has a sidecar, plaintext to the others.
 */
export function autoMtlsTransportSocketMatches(mtls: J): J[] {
  return [
    { name: 'tlsMode-istio', match: { fields: { [TLS_MODE_SHORTNAME]: { stringValue: 'istio' } } }, transport_socket: mtls },
    { name: 'tlsMode-disabled', match: {}, transport_socket: rawBufferTransportSocket() },
  ];
}

/** istio-agent's SDS resource names for files mounted in the pod (security.SdsCertificateConfig). */
export function fileCertificateResourceName(certificatePath: string, privateKeyPath: string): string {
  return `file-cert:${certificatePath}~${privateKeyPath}`;
}
export function fileRootResourceName(caPath: string): string {
  return `file-root:${caPath}`;
}

/** istiod's SDS over ADS for DestinationRule credentialName (credentials.ToResourceName). */
function credentialSecretConfig(name: string): J {
  return { name: name.includes('://') ? name : `kubernetes://${name}`, sds_config: { ads: {}, initial_fetch_timeout: { seconds: 0, nanos: 0 }, resource_api_version: 'V3' } };
}

export interface SimpleTlsResult {
  /** the UpstreamTlsContext, or undefined when istiod would leave the cluster plaintext */
  readonly context?: J;
  /** upstream_http_protocol_options auto_sni / auto_san_validation istiod sets for SIMPLE/MUTUAL */
  readonly autoSni: boolean;
  readonly autoSanValidation: boolean;
  /** why a context could not be built (logged by the caller; the cluster stays plaintext as in istiod) */
  readonly error?: string;
}

/**
 * SIMPLE / MUTUAL origination (istiod constructUpstreamTLS). `workloadSelected`: the DestinationRule has
 * a workloadSelector (istiod only honours credentialName for those on sidecars).
 */
export function simpleOrMutualUpstreamTls(tls: ClientTLSSettings, opts: { http2: boolean; workloadSelected: boolean; clusterName: string }): SimpleTlsResult {
  const mutual = tls.mode === 'MUTUAL';
  const credential = tls.credentialName ?? '';
  if (credential && !credential.startsWith('configmap://') && !opts.workloadSelected) {
    return { autoSni: false, autoSanValidation: false };
  }
  const sans = tls.subjectAltNames ?? [];
  const skipVerify = tls.insecureSkipVerify === true;
  const autoSni = !tls.sni;
  const autoSanValidation = autoSni && sans.length === 0 && !skipVerify;
  const common: J = { tls_params: { ...UPSTREAM_TLS_PARAMS } };
  if (credential) {
    if (mutual) common.tls_certificate_sds_secret_configs = [credentialSecretConfig(credential)];
    if (!skipVerify) {
      common.combined_validation_context = {
        default_validation_context: sans.length > 0 ? { match_subject_alt_names: sans.map((exact) => ({ exact })) } : {},
        validation_context_sds_secret_config: credentialSecretConfig(`${credential}-cacert`),
      };
    }
  } else {
    if (mutual) {
      if (!tls.clientCertificate || !tls.privateKey) {
        return { autoSni, autoSanValidation, error: `failed to apply tls setting for ${opts.clusterName}: client certificate and private key must not be empty` };
      }
      common.tls_certificate_sds_secret_configs = [sdsSecretConfig(fileCertificateResourceName(tls.clientCertificate, tls.privateKey))];
    }
    if (skipVerify) {
      common.validation_context = {};
    } else {
      const dvc: J = sans.length > 0 ? { match_subject_alt_names: sans.map((exact) => ({ exact })) } : {};
      if (tls.caCrl) dvc.crl = { filename: tls.caCrl };
      common.combined_validation_context = {
        default_validation_context: dvc,
        validation_context_sds_secret_config: sdsSecretConfig(fileRootResourceName(tls.caCertificates || 'system')),
      };
    }
  }
  if (opts.http2) common.alpn_protocols = ['h2'];
  return {
    context: { common_tls_context: common, ...(tls.sni ? { sni: tls.sni } : {}) },
    autoSni,
    autoSanValidation,
  };
}
