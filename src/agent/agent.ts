import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../telemetry/log.js';
import { spiffeId } from '../ca/authn.js';
import { certificateServiceClient, NODE_ID_HEADER, RELOAD_SECONDS_HEADER, type IstioCertificateResponse } from '../ca/csr-service.js';
import { createCsr, generateKeyPair, type KeyType } from '../ca/x509.js';
import { writeAtomicDir, writeFileReplace } from './files.js';

// `meshd agent`: what Istio's grpc-agent does for a proxyless gRPC workload, minus the xDS proxy.
//
//   1. generate a private key and a CSR for spiffe://TRUST_DOMAIN/ns/NS/sa/SA
//   2. CreateCertificate on the CA's TLS port with the pod's service-account token (audience istio-ca)
//   3. write cert-chain.pem, key.pem (0600) and root-cert.pem atomically (files.ts)
//   4. write the gRPC xDS bootstrap once: file_watcher certificate provider `default` over those files,
//      server_listener_resource_name_template `xds.istio.io/grpc/lds/inbound/%s`, node metadata
//      GENERATOR=grpc, NAMESPACE, SERVICE_ACCOUNT, LABELS, INSTANCE_IPS
//   5. renew at half the certificate's lifetime ± 10 % jitter (a fresh key each time); on failure retry
//      with jittered backoff while the current certificate is still valid
//
// The first certificate is retried too: a pod's agent often starts before meshd is reachable (a rollout,
// a restarting control plane), and exiting at once would only trade our backoff for the kubelet's
// CrashLoopBackOff. Retries use jittered exponential backoff (1 s doubling to 30 s, ± 20 %, so a node's
// pods do not retry in step) until `initialCertTimeoutMs` (5 min), then fail with the last error. What a
// retry cannot fix — the CA refusing the identity, the token or the CSR, or answering a certificate for
// another key or identity — fails at once.
//
// The bootstrap's xds_servers entry points straight at meshd (grpc-js only speaks insecure or
// google_default channel credentials to its xDS server, so use the plaintext port or a local proxy).

export const CERT_FILES = { chain: 'cert-chain.pem', key: 'key.pem', root: 'root-cert.pem' } as const;
export const INBOUND_TEMPLATE = 'xds.istio.io/grpc/lds/inbound/%s';

export interface AgentOptions {
  /** the CA's TLS address (istiod:15012) */
  readonly caAddr: string;
  /** PEM bundle the CA's serving certificate must chain to (istio-ca-root-cert) */
  readonly caRootFile: string;
  /** TLS server name of the CA */
  readonly caServerName: string;
  /** projected service-account token, re-read for every request */
  readonly tokenFile: string;
  /** xDS address for the bootstrap */
  readonly xdsAddr: string;
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly podName: string;
  readonly podIp: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly trustDomain: string;
  readonly domainSuffix?: string;
  /** where cert-chain.pem, key.pem, root-cert.pem go */
  readonly certDir: string;
  readonly bootstrapFile: string;
  readonly certTtlMs: number;
  readonly keyType?: KeyType;
  readonly log: Logger;
  /** fraction of the lifetime after which to renew (0.5) and its jitter (±0.1 of the lifetime) */
  readonly renewAt?: number;
  readonly jitter?: number;
  /** give up on the first certificate after this long (5 min) */
  readonly initialCertTimeoutMs?: number;
  /** retry backoff: first delay (1 s), doubling to at most maxMs (30 s), each ± 20 % */
  readonly backoff?: { readonly initialMs: number; readonly maxMs: number };
  /** the CA call; default: CreateCertificate over TLS to caAddr (tests substitute one) */
  readonly requester?: CertificateRequester;
  /**
   * how often --ca-root-file (the istio-ca-root-cert mount) is checked for a changed trust bundle (5 s;
   * 0: never). A change is a root rotation: the CA connection is rebuilt with the new bundle and the
   * certificate renewed at once, so the workload's ROOTCA file holds the new roots without waiting for
   * the next renewal.
   */
  readonly rootFileCheckMs?: number;
  /** time, timers and randomness (tests substitute a fake clock instead of sleeping) */
  readonly clock?: AgentClock;
}

/** One CreateCertificate call: the chain leaf … root, or an error carrying the gRPC `code` when there is one. */
export interface CertificateRequester {
  request(csr: string, validitySeconds: number, token: string, deadline: number): Promise<string[]>;
  close(): void;
}

export interface AgentClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  /** uniform in [0, 1) */
  random(): number;
}

const systemClock: AgentClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
  random: () => Math.random(),
};

const DEFAULT_INITIAL_CERT_TIMEOUT_MS = 5 * 60_000;
const DEFAULT_BACKOFF = { initialMs: 1000, maxMs: 30_000 } as const;
/** the longest a single CreateCertificate may take */
const CALL_TIMEOUT_MS = 15_000;

// Answers a retry cannot change: the CA understood the request and said no.
const PERMANENT = new Set<grpc.status>([grpc.status.INVALID_ARGUMENT, grpc.status.PERMISSION_DENIED, grpc.status.UNAUTHENTICATED, grpc.status.UNIMPLEMENTED]);

/** A failure that retrying will not fix (a refusal, or a certificate that is not ours). */
export class PermanentCertificateError extends Error {}

/** The n-th retry delay (n ≥ 1): initialMs · 2^(n-1), at most maxMs, times a random factor in [0.8, 1.2). */
export function backoffDelay(attempt: number, backoff: { readonly initialMs: number; readonly maxMs: number }, random: () => number): number {
  const base = Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.min(attempt - 1, 30));
  return Math.round(base * (0.8 + 0.4 * random()));
}

/** CreateCertificate over TLS to the CA (the gRPC channel reconnects on the same schedule as the agent's retries). */
export class GrpcCertificateRequester implements CertificateRequester {
  private readonly client: grpc.Client;

  constructor(
    caAddr: string,
    caRootFile: string,
    caServerName: string,
    backoff: { readonly initialMs: number; readonly maxMs: number } = DEFAULT_BACKOFF,
    /** sent with every request (the node id and reload interval the CA's root rotation follows) */
    private readonly extraMetadata: Readonly<Record<string, string>> = {},
  ) {
    const Client = certificateServiceClient();
    const root = fs.readFileSync(caRootFile);
    this.client = new Client(caAddr, grpc.credentials.createSsl(root), {
      'grpc.ssl_target_name_override': caServerName,
      'grpc.default_authority': caServerName,
      // grpc-js would otherwise back off up to 120 s between connection attempts, and fail our calls
      // fast in between: a CA that came back would wait for the channel, not for our retry
      'grpc.initial_reconnect_backoff_ms': backoff.initialMs,
      'grpc.max_reconnect_backoff_ms': backoff.maxMs,
    });
  }

  request(csr: string, validitySeconds: number, token: string, deadline: number): Promise<string[]> {
    const md = new grpc.Metadata();
    md.set('authorization', `Bearer ${token}`);
    md.set('ClusterID', 'Kubernetes');
    for (const [k, v] of Object.entries(this.extraMetadata)) md.set(k, v);
    return new Promise((resolve, reject) => {
      (this.client as unknown as { CreateCertificate: Function }).CreateCertificate(
        { csr, validity_duration: validitySeconds },
        md,
        { deadline },
        (err: grpc.ServiceError | null, res?: IstioCertificateResponse) =>
          err ? reject(Object.assign(new Error(`CreateCertificate: ${grpc.status[err.code]}: ${err.details}`), { code: err.code })) : resolve(res?.cert_chain ?? []),
      );
    });
  }

  close(): void {
    this.client.close();
  }
}

export interface IssuedFiles {
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly serial: string;
}

export class Agent {
  private timer: unknown;
  private stopped = false;
  private current: IssuedFiles | undefined;
  private requester: CertificateRequester;
  private rootWatch: NodeJS.Timeout | undefined;
  private rootSeen = '';
  /** a renewal in flight (a root change waits for it rather than racing it) */
  private renewing: Promise<unknown> | undefined;
  private readonly clock: AgentClock;
  private readonly backoff: { readonly initialMs: number; readonly maxMs: number };
  /** wakes a first-certificate retry that is waiting, so stop() does not wait for it */
  private wake: (() => void) | undefined;
  renewals = 0;

  constructor(private readonly opts: AgentOptions) {
    this.clock = opts.clock ?? systemClock;
    this.backoff = opts.backoff ?? DEFAULT_BACKOFF;
    this.requester = opts.requester ?? this.grpcRequester();
  }

  private grpcRequester(): CertificateRequester {
    return new GrpcCertificateRequester(this.opts.caAddr, this.opts.caRootFile, this.opts.caServerName, this.backoff, {
      [NODE_ID_HEADER]: this.nodeId,
      [RELOAD_SECONDS_HEADER]: String(this.fileWatcherRefreshSeconds + 1),
    });
  }

  /** the xDS node id the bootstrap announces */
  get nodeId(): string {
    const o = this.opts;
    return `sidecar~${o.podIp}~${o.podName}.${o.namespace}~${o.namespace}.svc.${o.domainSuffix ?? 'cluster.local'}`;
  }

  /** gRPC's file_watcher polls the files this often: well inside the renewal window, at most 15 min */
  private get fileWatcherRefreshSeconds(): number {
    return Math.max(1, Math.min(900, Math.floor(this.opts.certTtlMs / 1000 / 12)));
  }

  get identity(): string {
    return spiffeId(this.opts.trustDomain, this.opts.namespace, this.opts.serviceAccount);
  }

  get certificate(): IssuedFiles | undefined {
    return this.current;
  }

  /** First certificate (retried until initialCertTimeoutMs) + bootstrap; then renewals run on a timer until stop(). */
  async start(): Promise<IssuedFiles> {
    const issued = await this.firstCertificate();
    writeFileReplace(this.opts.bootstrapFile, JSON.stringify(this.bootstrap(), null, 2) + '\n');
    this.opts.log.info({ bootstrap: this.opts.bootstrapFile }, 'wrote gRPC xDS bootstrap');
    this.schedule(this.delayFor(issued));
    this.watchRootFile();
    return issued;
  }

  private readRootFile(): string {
    try {
      return fs.readFileSync(this.opts.caRootFile, 'utf8');
    } catch {
      return this.rootSeen;
    }
  }

  private watchRootFile(): void {
    const every = this.opts.rootFileCheckMs ?? 5000;
    if (every <= 0) return;
    this.rootSeen = this.readRootFile();
    this.rootWatch = setInterval(() => {
      const now = this.readRootFile();
      if (now === this.rootSeen || this.stopped || !now.includes('-----BEGIN CERTIFICATE-----')) return;
      this.rootSeen = now;
      this.opts.log.info({ caRootFile: this.opts.caRootFile }, 'the mesh trust bundle changed: renewing the certificate now');
      if (!this.opts.requester) {
        this.requester.close();
        this.requester = this.grpcRequester();
      }
      if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
      void (this.renewing ?? Promise.resolve()).then(() => this.renew(1));
    }, every);
    this.rootWatch.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.rootWatch) clearInterval(this.rootWatch);
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.wake?.();
    this.requester.close();
  }

  /** Istio-style proxyless gRPC bootstrap (what istio-agent writes to GRPC_XDS_BOOTSTRAP). */
  bootstrap(): Record<string, unknown> {
    const o = this.opts;
    const certDir = path.resolve(o.certDir);
    // file_watcher polls; poll well inside the renewal window so new files are picked up promptly
    const refresh = this.fileWatcherRefreshSeconds;
    return {
      xds_servers: [{ server_uri: o.xdsAddr, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
      node: {
        id: this.nodeId,
        cluster: `${o.podName}.${o.namespace}`,
        locality: {},
        metadata: {
          GENERATOR: 'grpc',
          NAMESPACE: o.namespace,
          SERVICE_ACCOUNT: o.serviceAccount,
          INSTANCE_IPS: o.podIp,
          ...(o.labels && Object.keys(o.labels).length > 0 ? { LABELS: o.labels } : {}),
        },
      },
      certificate_providers: {
        default: {
          plugin_name: 'file_watcher',
          config: {
            certificate_file: path.join(certDir, CERT_FILES.chain),
            private_key_file: path.join(certDir, CERT_FILES.key),
            ca_certificate_file: path.join(certDir, CERT_FILES.root),
            refresh_interval: `${refresh}s`,
          },
        },
      },
      server_listener_resource_name_template: INBOUND_TEMPLATE,
    };
  }

  /** One key + CSR + CreateCertificate + atomic write. */
  async rotate(deadline = this.clock.now() + CALL_TIMEOUT_MS): Promise<IssuedFiles> {
    const { privateKey } = generateKeyPair(this.opts.keyType ?? 'ec');
    const csr = createCsr(privateKey, { uris: [this.identity] });
    // re-read for every request: the kubelet rotates projected tokens
    const token = fs.readFileSync(this.opts.tokenFile, 'utf8').trim();
    let chain: string[];
    try {
      chain = await this.requester.request(csr, Math.round(this.opts.certTtlMs / 1000), token, deadline);
    } catch (err) {
      const code = (err as { code?: grpc.status }).code;
      throw code !== undefined && PERMANENT.has(code) ? new PermanentCertificateError((err as Error).message) : err;
    }
    if (chain.length < 2) throw new PermanentCertificateError(`CA answered ${chain.length} certificate(s); want leaf … root`);
    const leaf = new crypto.X509Certificate(chain[0]!);
    if (!leaf.checkPrivateKey(privateKey)) throw new PermanentCertificateError('CA returned a certificate for another key');
    if (leaf.subjectAltName !== `URI:${this.identity}`) throw new PermanentCertificateError(`CA returned identity ${leaf.subjectAltName}, want URI:${this.identity}`);
    writeAtomicDir(this.opts.certDir, [
      // the presented chain is leaf + intermediates; the root goes to root-cert.pem
      { name: CERT_FILES.chain, data: chain.slice(0, -1).join(''), mode: 0o644 },
      { name: CERT_FILES.key, data: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, mode: 0o600 },
      { name: CERT_FILES.root, data: chain[chain.length - 1]!, mode: 0o644 },
    ]);
    const issued = { notBefore: new Date(leaf.validFrom), notAfter: new Date(leaf.validTo), serial: leaf.serialNumber };
    this.current = issued;
    this.opts.log.info({ identity: this.identity, serial: issued.serial, notAfter: issued.notAfter.toISOString(), dir: this.opts.certDir }, 'certificate written');
    return issued;
  }

  /** rotate() until it succeeds, fails permanently, the agent stops, or initialCertTimeoutMs has passed. */
  private async firstCertificate(): Promise<IssuedFiles> {
    const timeoutMs = this.opts.initialCertTimeoutMs ?? DEFAULT_INITIAL_CERT_TIMEOUT_MS;
    const deadline = this.clock.now() + timeoutMs;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.rotate(Math.min(deadline, this.clock.now() + CALL_TIMEOUT_MS));
      } catch (err) {
        const message = (err as Error).message;
        if (err instanceof PermanentCertificateError) throw err;
        if (this.stopped) throw new Error(`agent stopped before the first certificate (last error: ${message})`);
        const left = deadline - this.clock.now();
        if (left <= 0) {
          throw new Error(`no certificate from the CA at ${this.opts.caAddr} within ${timeoutMs / 1000}s (--initial-cert-timeout), ${attempt} attempt(s); last error: ${message}`);
        }
        const retryInMs = Math.min(left, backoffDelay(attempt, this.backoff, this.clock.random));
        this.opts.log.warn({ attempt, err: message, retryInMs, giveUpInMs: left }, 'first certificate request failed; retrying');
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          this.timer = this.clock.setTimeout(resolve, retryInMs);
        });
        this.wake = undefined;
        if (this.stopped) throw new Error(`agent stopped before the first certificate (last error: ${message})`);
      }
    }
  }

  /** Half life (renewAt) ± jitter, measured from the certificate's own validity. */
  private delayFor(c: IssuedFiles): number {
    const life = c.notAfter.getTime() - c.notBefore.getTime();
    const at = this.opts.renewAt ?? 0.5;
    const jitter = this.opts.jitter ?? 0.1;
    const frac = at + (this.clock.random() * 2 - 1) * jitter;
    return Math.max(0, c.notBefore.getTime() + life * frac - this.clock.now());
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = this.clock.setTimeout(() => void this.renew(1), Math.min(ms, 2 ** 31 - 1));
  }

  private async renew(attempt: number): Promise<void> {
    if (this.stopped) return;
    try {
      const pending = this.rotate();
      this.renewing = pending;
      const issued = await pending.finally(() => {
        if (this.renewing === pending) this.renewing = undefined;
      });
      this.renewals++;
      this.schedule(this.delayFor(issued));
    } catch (err) {
      if (this.stopped) return;
      // a renewal keeps trying, permanent refusal or not, while the current certificate lasts: the CA's
      // policy or the token may change before it expires
      const retryInMs = backoffDelay(attempt, this.backoff, this.clock.random);
      const left = (this.current?.notAfter.getTime() ?? 0) - this.clock.now();
      this.opts.log.error({ err: (err as Error).message, attempt, retryInMs, validForMs: left }, 'certificate renewal failed');
      this.timer = this.clock.setTimeout(() => void this.renew(attempt + 1), retryInMs);
    }
  }
}
