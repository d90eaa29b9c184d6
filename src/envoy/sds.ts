import { ZERO_DURATION } from './duration.js';
import type { J } from './json.js';

// Workload certificates for Envoy sidecars come over SDS from istio-agent (pilot-agent), never inline:
// the bootstrap istio-agent writes has a cluster `sds-grpc` (a Unix socket to the agent), and every TLS
// context names the secret it wants — `default` (the workload's key and certificate chain) and `ROOTCA`
// (the mesh root to verify peers). Shapes as istiod's ConstructSdsSecretConfig and
// ApplyToCommonTLSContext build them; shared by the inbound (DownstreamTlsContext) and outbound
// (UpstreamTlsContext, ISTIO_MUTUAL / auto-mTLS) sides.

/** The bootstrap cluster istio-agent serves SDS on. */
export const SDS_CLUSTER_NAME = 'sds-grpc';
/** SDS resource name of the workload's own certificate and key. */
export const SDS_CERTIFICATE_NAME = 'default';
/** SDS resource name of the mesh root certificate(s). */
export const SDS_ROOT_NAME = 'ROOTCA';

/**
 * An SdsSecretConfig fetching `name` from the bootstrap's `sds-grpc` cluster. initial_fetch_timeout 0s:
 * Envoy waits for the secret however long the agent needs instead of warming the listener/cluster
 * without a certificate.
 */
export function sdsSecretConfig(name: string): J {
  return {
    name,
    sds_config: {
      api_config_source: {
        api_type: 'GRPC',
        set_node_on_first_message_only: true,
        transport_api_version: 'V3',
        grpc_services: [{ envoy_grpc: { cluster_name: SDS_CLUSTER_NAME } }],
      },
      initial_fetch_timeout: ZERO_DURATION,
      resource_api_version: 'V3',
    },
  };
}

export interface MeshTlsOptions {
  /** alpn_protocols offered (client) or accepted (server) */
  readonly alpnProtocols?: readonly string[];
  /** exact SAN matches of the peer's certificate (client side: the destination's SPIFFE identities) */
  readonly subjectAltNames?: readonly string[];
  /** CommonTlsContext.tls_params */
  readonly tlsParams?: J;
}

/**
 * CommonTlsContext presenting the workload certificate (`default`) and verifying the peer against the
 * mesh root (`ROOTCA`) plus any SAN matches: istiod ApplyToCommonTLSContext for mesh mTLS.
 */
export function meshCommonTlsContext(opts: MeshTlsOptions = {}): J {
  const sans = opts.subjectAltNames ?? [];
  return {
    ...(opts.tlsParams ? { tls_params: opts.tlsParams } : {}),
    ...(opts.alpnProtocols && opts.alpnProtocols.length > 0 ? { alpn_protocols: [...opts.alpnProtocols] } : {}),
    tls_certificate_sds_secret_configs: [sdsSecretConfig(SDS_CERTIFICATE_NAME)],
    combined_validation_context: {
      default_validation_context: sans.length > 0 ? { match_subject_alt_names: sans.map((exact) => ({ exact })) } : {},
      validation_context_sds_secret_config: sdsSecretConfig(SDS_ROOT_NAME),
    },
  };
}

const inlineBytes = (text: string): J => ({ inline_bytes: Buffer.from(text, 'utf8').toString('base64') });

/**
 * An SDS Secret with a server certificate chain and its key, inline (istiod toEnvoyTLSSecret, no private
 * key provider): what a gateway's `kubernetes://NAME` resolves to.
 */
export function tlsCertificateSecret(name: string, info: { cert: string; key: string; staple?: string | undefined }): J {
  const tls: J = { certificate_chain: inlineBytes(info.cert), private_key: inlineBytes(info.key) };
  if (info.staple) tls.ocsp_staple = inlineBytes(info.staple);
  return { name, tls_certificate: tls };
}

/** An SDS Secret with a CA bundle (and CRL) to verify clients against (istiod toEnvoyCaSecret): `kubernetes://NAME-cacert`. */
export function validationContextSecret(name: string, root: { cert: string; crl?: string | undefined }): J {
  const validation: J = { trusted_ca: inlineBytes(root.cert) };
  if (root.crl) validation.crl = inlineBytes(root.crl);
  return { name, validation_context: validation };
}
