import type * as grpc from '@grpc/grpc-js';
import type { Logger } from '../telemetry/log.js';
import type { Metrics } from '../telemetry/metrics.js';
import type { DiscoveryServer } from '../xds/server.js';
import { CertificateAuthority, DEFAULT_CERT_TTL_MS, MAX_CERT_TTL_MS, writeCaFiles, type CaPems } from './authority.js';
import { SelfSignedRootRotator } from './root-rotator.js';
import type { Issuance } from './rotation.js';
import { ClientCertificateAuthenticator, TokenReviewAuthenticator, TrustedKeyJwtAuthenticator, type Authenticator } from './authn.js';
import { DEFAULT_SERVING_DNS_NAMES, SecureServer } from './secure-server.js';
import { RootCertPublisher, type KubeRequester } from './root-publisher.js';
import { loadCaSecret, readCaSecret, writeCaSecret } from './ca-secret.js';
import type { ConfigStore } from '../config/store.js';
import type { KeyType } from './x509.js';

// What `meshd serve` needs to run the CA and the TLS port, in one options object (DaemonOptions.security).

export interface SecurityOptions {
  /** HOST:PORT of the TLS port (istiod's 15012) */
  readonly addr: string;
  /**
   * the CA's key material (Istio cacerts layout). Config-dir mode: a self-signed root is created here
   * when empty. Kubernetes mode (`caSecret`): used when it holds material, else the Secrets are.
   */
  readonly caDir: string;
  /** Kubernetes mode: CA material in Secrets `cacerts` / `istio-ca-secret` of `namespace` (ca-secret.ts) */
  readonly caSecret?: {
    readonly http: KubeRequester;
    readonly namespace: string;
    /** how often the Secret in use is re-read for changes (default 60 s) */
    readonly resyncMs?: number;
  };
  readonly caKeyType?: KeyType;
  /** DNS names of the serving certificate beyond istiod.istio-system.svc */
  readonly extraDnsNames?: readonly string[];
  /** Kubernetes API server for TokenReview */
  readonly tokenReview?: {
    readonly url: string;
    readonly tokenFile?: string;
    readonly caFile?: string;
    /** meshd's own API-server credentials (Kubernetes mode: the source's KubeConfig) */
    readonly applyAuth?: (opts: import('node:https').RequestOptions) => Promise<void>;
  };
  /** trusted service-account token public keys (PEM or JWKS), config-dir mode */
  readonly jwtPublicKeysFile?: string;
  readonly jwtIssuer?: string;
  readonly defaultCertTtlMs?: number;
  readonly maxCertTtlMs?: number;
  /** self-signed root: lifetime, and the rotator's check interval (≤ 0 disables) and grace period (%) */
  readonly rootTtlMs?: number;
  readonly rootCheckIntervalMs?: number;
  readonly rootGracePeriodPercentile?: number;
}

/**
 * The CA: plugged files in --ca-dir win; in Kubernetes mode an empty --ca-dir means the Secrets (plugged
 * `cacerts`, else istio-ca-secret, created if absent); in config-dir mode a root is created in --ca-dir.
 */
export async function openAuthority(opts: SecurityOptions, deps: { trustDomain: string; log: Logger }): Promise<{ ca: CertificateAuthority; persist: (pems: CaPems) => Promise<void> }> {
  const kube = opts.caSecret;
  if (!kube || CertificateAuthority.dirHasMaterial(opts.caDir)) {
    const ca = CertificateAuthority.open({ dir: opts.caDir, trustDomain: deps.trustDomain, keyType: opts.caKeyType, rootTtlMs: opts.rootTtlMs, log: deps.log });
    return { ca, persist: async (pems) => writeCaFiles(opts.caDir, pems) };
  }
  const loaded = await loadCaSecret({ http: kube.http, namespace: kube.namespace, trustDomain: deps.trustDomain, keyType: opts.caKeyType, rootTtlMs: opts.rootTtlMs, log: deps.log });
  const ca = CertificateAuthority.fromPems({ trustDomain: deps.trustDomain, log: deps.log, source: `Secret ${kube.namespace}/${loaded.name}` }, loaded.pems);
  let resourceVersion = loaded.resourceVersion;
  ca.pollSource(async () => {
    const now = await readCaSecret(kube.http, kube.namespace, loaded.name);
    // a deleted Secret is not a reason to drop the root every workload trusts
    if (!now || now.resourceVersion === resourceVersion) return undefined;
    resourceVersion = now.resourceVersion;
    return now.pems;
  }, kube.resyncMs ?? 60_000);
  return { ca, persist: (pems) => writeCaSecret(kube.http, kube.namespace, loaded.name, pems) };
}

export async function buildSecureServer(
  opts: SecurityOptions,
  deps: { trustDomain: string; metrics: Metrics; log: Logger; discovery: DiscoveryServer; onIssued?: (i: Issuance) => void },
): Promise<SecureServer> {
  const { ca, persist } = await openAuthority(opts, deps);
  const rotator = new SelfSignedRootRotator({
    ca, log: deps.log, persist,
    ...(opts.rootCheckIntervalMs !== undefined ? { checkIntervalMs: opts.rootCheckIntervalMs } : {}),
    ...(opts.rootGracePeriodPercentile !== undefined ? { gracePeriodPercentile: opts.rootGracePeriodPercentile } : {}),
    ...(opts.rootTtlMs !== undefined ? { rootTtlMs: opts.rootTtlMs } : {}),
  });
  const authenticators: Authenticator[] = [];
  if (opts.tokenReview) {
    authenticators.push(new TokenReviewAuthenticator({
      url: opts.tokenReview.url, trustDomain: deps.trustDomain, bearerTokenFile: opts.tokenReview.tokenFile, caFile: opts.tokenReview.caFile,
      applyAuth: opts.tokenReview.applyAuth,
    }));
  }
  if (opts.jwtPublicKeysFile) {
    authenticators.push(new TrustedKeyJwtAuthenticator({ keyFile: opts.jwtPublicKeysFile, trustDomain: deps.trustDomain, issuer: opts.jwtIssuer }));
  }
  authenticators.push(new ClientCertificateAuthenticator(deps.trustDomain));
  if (!opts.tokenReview && !opts.jwtPublicKeysFile) {
    deps.log.warn('CA: no token authenticator (--token-review-url or --jwt-public-keys): only certificate renewals can be served');
  }
  const maxTtl = opts.maxCertTtlMs ?? MAX_CERT_TTL_MS;
  const defaultTtl = opts.defaultCertTtlMs ?? DEFAULT_CERT_TTL_MS;
  if (defaultTtl > maxTtl) throw new Error(`--workload-cert-ttl ${defaultTtl / 1000}s is above --max-workload-cert-ttl ${maxTtl / 1000}s`);
  return new SecureServer({
    ca,
    authenticators,
    dnsNames: [...new Set([...DEFAULT_SERVING_DNS_NAMES, ...(opts.extraDnsNames ?? [])])],
    metrics: deps.metrics,
    log: deps.log,
    defaultTtlMs: defaultTtl,
    maxTtlMs: maxTtl,
    registerXds: (server: grpc.Server, guard) => deps.discovery.register(server, guard),
    rootRotator: rotator,
    persist,
    ...(deps.onIssued ? { onIssued: deps.onIssued } : {}),
  });
}

/**
 * Kubernetes mode: publish the root as ConfigMap istio-ca-root-cert in every namespace the source sees,
 * following namespace changes, CA rotations and leadership.
 */
export function startRootPublisher(deps: {
  kube: { http: KubeRequester; leader?: { isLeader: boolean; on(ev: 'leader', fn: (isLeader: boolean) => void): unknown } | undefined };
  ca: CertificateAuthority;
  store: ConfigStore;
  log: Logger;
}): RootCertPublisher {
  const pub = new RootCertPublisher({
    http: deps.kube.http,
    isLeader: () => deps.kube.leader?.isLeader ?? true,
    namespaces: () => deps.store.list('Namespace').map((n) => n.object.metadata.name),
    rootPem: () => deps.ca.rootPem,
    log: deps.log,
  });
  deps.kube.leader?.on('leader', (isLeader) => {
    if (isLeader) pub.trigger(true);
  });
  deps.ca.on('rotated', () => pub.trigger());
  deps.store.on('change', (e: { kind: string }) => {
    if (e.kind === 'Namespace') pub.trigger();
  });
  pub.start();
  return pub;
}
