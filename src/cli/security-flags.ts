import fs from 'node:fs';
import type https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { Option, type Command } from 'commander';
import type { SecurityOptions } from '../ca/setup.js';
import { parseDurationMs } from './duration.js';

// `meshd serve` flags for the CA and the TLS port (istiod's 15012).

export interface SecurityFlags {
  secureGrpcAddr: string;
  caDir: string;
  caKeyType: 'rsa' | 'ec';
  caDnsNames: string;
  tokenReviewUrl?: string;
  tokenReviewTokenFile?: string;
  tokenReviewCaFile?: string;
  jwtPublicKeys?: string;
  jwtIssuer?: string;
  workloadCertTtl: string;
  maxWorkloadCertTtl: string;
  /** RequestAuthentication JWKS fetching */
  jwksCaFile?: string;
  jwksRefreshInterval: string;
}

export const DEFAULT_CA_DIR = path.join(os.homedir(), '.meshd', 'ca');

export function addSecurityFlags(cmd: Command): Command {
  return cmd
    .option('--secure-grpc-addr <addr>', 'TLS port: certificate service (IstioCertificateService) and xDS over TLS; "off" disables', ':15012')
    .option('--ca-dir <dir>', 'CA key material in Istio cacerts layout (ca-cert.pem, ca-key.pem, cert-chain.pem, root-cert.pem); plugged files are reloaded on change. When empty: with the Kubernetes source the CA lives in Secret cacerts or istio-ca-secret (created) of the pod namespace, else a self-signed root is created here', DEFAULT_CA_DIR)
    .addOption(new Option('--ca-key-type <type>', 'key type of a newly created self-signed root').choices(['rsa', 'ec']).default('rsa'))
    .option('--ca-dns-names <names>', 'extra DNS names (comma-separated) for the TLS serving certificate, beside istiod.istio-system.svc', '')
    .option('--token-review-url <url>', 'Kubernetes API server that checks workload tokens (TokenReview, audience istio-ca); default: the cluster the Kubernetes source watches')
    .option('--token-review-token-file <file>', "meshd's bearer token for TokenReview")
    .option('--token-review-ca-file <file>', 'CA bundle of the API server for TokenReview')
    .option('--jwt-public-keys <file>', 'config-dir mode: trust service-account JWTs signed by these keys (PEM keys/certificates or JWKS)')
    .option('--jwt-issuer <iss>', 'with --jwt-public-keys: the only accepted token issuer (iss)')
    .option('--workload-cert-ttl <duration>', 'certificate lifetime when a CSR asks for none', '24h')
    .option('--max-workload-cert-ttl <duration>', 'longest certificate lifetime a CSR may ask for', '2160h')
    .option('--jwks-ca-file <file>', 'RequestAuthentication jwksUri over https: PEM roots trusted beside the system ones')
    .option('--jwks-refresh-interval <duration>', 'how often fetched RequestAuthentication JWKS are re-fetched (istiod PILOT_JWT_PUB_KEY_REFRESH_INTERVAL)', '20m');
}

/** The JWKS fetcher's options (DaemonOptions.jwks); the CA file is read once, here, so a bad path fails at start. */
export function jwksOptions(flags: Pick<SecurityFlags, 'jwksCaFile' | 'jwksRefreshInterval'>): { refreshIntervalMs: number; extraCaPem?: string } {
  const refreshIntervalMs = parseDurationMs(flags.jwksRefreshInterval ?? '20m', '--jwks-refresh-interval');
  if (!flags.jwksCaFile) return { refreshIntervalMs };
  let extraCaPem: string;
  try {
    extraCaPem = fs.readFileSync(flags.jwksCaFile, 'utf8');
  } catch (err) {
    throw new Error(`--jwks-ca-file ${flags.jwksCaFile}: ${(err as Error).message}`);
  }
  if (!extraCaPem.includes('-----BEGIN CERTIFICATE-----')) throw new Error(`--jwks-ca-file ${flags.jwksCaFile}: no PEM certificate`);
  return { refreshIntervalMs, extraCaPem };
}

/** The API server meshd already watches (Kubernetes source): TokenReview goes there unless --token-review-url says otherwise. */
export interface KubeApi {
  readonly server: string;
  readonly applyAuth: (opts: https.RequestOptions) => Promise<void>;
}

/**
 * `caSecret`: Kubernetes mode keeps the CA in Secrets of the CA's namespace when --ca-dir is empty
 * (src/ca/ca-secret.ts); absent in config-dir mode.
 */
export function securityOptions(flags: SecurityFlags, kubeApi?: KubeApi, caSecret?: SecurityOptions['caSecret']): SecurityOptions | undefined {
  if (!flags.secureGrpcAddr || flags.secureGrpcAddr === 'off') return undefined;
  const tokenReview = flags.tokenReviewUrl
    ? { tokenReview: { url: flags.tokenReviewUrl, tokenFile: flags.tokenReviewTokenFile, caFile: flags.tokenReviewCaFile } }
    : kubeApi
      ? { tokenReview: { url: kubeApi.server, applyAuth: kubeApi.applyAuth } }
      : {};
  return {
    addr: flags.secureGrpcAddr,
    caDir: flags.caDir,
    ...(caSecret ? { caSecret } : {}),
    caKeyType: flags.caKeyType,
    extraDnsNames: flags.caDnsNames.split(',').map((s) => s.trim()).filter(Boolean),
    ...tokenReview,
    ...(flags.jwtPublicKeys ? { jwtPublicKeysFile: flags.jwtPublicKeys, jwtIssuer: flags.jwtIssuer } : {}),
    defaultCertTtlMs: parseDurationMs(flags.workloadCertTtl, '--workload-cert-ttl'),
    maxCertTtlMs: parseDurationMs(flags.maxWorkloadCertTtl, '--max-workload-cert-ttl'),
  };
}

/** TokenReview target from the Kubernetes source's KubeConfig (server URL + meshd's credentials). */
export function kubeApiOf(kc: { getCurrentCluster(): { server: string } | null; applyToHTTPSOptions(opts: https.RequestOptions): Promise<void> }): KubeApi | undefined {
  const server = kc.getCurrentCluster()?.server;
  return server ? { server, applyAuth: (opts) => kc.applyToHTTPSOptions(opts) } : undefined;
}
