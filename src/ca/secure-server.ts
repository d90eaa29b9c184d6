import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import type { SecureContextOptions } from 'node:tls';
import type { Logger } from '../telemetry/log.js';
import type { Metrics } from '../telemetry/metrics.js';
import type { CaPems, CertificateAuthority } from './authority.js';
import type { Issuance } from './rotation.js';
import { CertificateService } from './csr-service.js';
import { authenticate, peerCertificateOf, type Authenticator } from './authn.js';
import type { Proxy } from '../model/proxy.js';
import { bindGrpcServer, shutdownGrpcServer } from '../net/grpc-server.js';

// The TLS port (istiod's 15012): the CSR service and xDS, behind a serving certificate the mesh CA
// issues for `istiod.istio-system.svc` (+ --ca-dns-names). Client certificates are requested, not
// required: istio-agent's first CSR has only a token; renewals and xDS may present the workload cert.
// The serving certificate is renewed at half its lifetime and whenever the CA's material changes,
// without restarting the listener.

export const DEFAULT_SERVING_DNS_NAMES = ['istiod.istio-system.svc'];
const SERVING_TTL_MS = 30 * 24 * 3600 * 1000;

/** grpc-js server credentials whose key/certificate can be replaced on a live server. */
class RotatingServerCredentials extends grpc.ServerCredentials {
  constructor(initial: SecureContextOptions) {
    // requestCert without rejectUnauthorized: a client certificate is optional, and only one that
    // verifies against the mesh root is ever reported to handlers (grpc-js checks `authorized`).
    super({ requestCert: true, rejectUnauthorized: false }, initial);
  }
  update(options: SecureContextOptions): void {
    this.updateSecureContextOptions(options);
  }
  _equals(other: grpc.ServerCredentials): boolean {
    return other === this;
  }
}

export interface ServingCertificate {
  readonly certChainPem: string;
  readonly keyPem: string;
  readonly notAfter: Date;
}

/** Emits 'renewed' (ServingCertificate) after each renewal, for servers other than 15012 (the webhooks). */
export class ServingCertificateManager extends EventEmitter {
  private current: ServingCertificate | undefined;
  private timer: NodeJS.Timeout | undefined;
  private creds: RotatingServerCredentials | undefined;
  private readonly onRotated = () => void this.renew('CA material changed');

  constructor(
    private readonly ca: CertificateAuthority,
    readonly dnsNames: readonly string[],
    private readonly log: Logger,
    private readonly ttlMs = SERVING_TTL_MS,
  ) {
    super();
  }

  async start(): Promise<grpc.ServerCredentials> {
    this.current = await this.ca.issueServing(this.dnsNames, this.ttlMs);
    this.creds = new RotatingServerCredentials(this.contextOptions(this.current));
    this.ca.on('rotated', this.onRotated);
    this.schedule();
    return this.creds;
  }

  get certificate(): ServingCertificate | undefined {
    return this.current;
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.ca.off('rotated', this.onRotated);
  }

  private contextOptions(c: ServingCertificate): SecureContextOptions {
    return { cert: c.certChainPem, key: c.keyPem, ca: this.ca.rootPem };
  }

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    const half = Math.max(1000, (this.current!.notAfter.getTime() - Date.now()) / 2);
    this.timer = setTimeout(() => void this.renew('half life'), Math.min(half, 2 ** 31 - 1));
    this.timer.unref();
  }

  private async renew(reason: string): Promise<void> {
    try {
      this.current = await this.ca.issueServing(this.dnsNames, this.ttlMs);
      this.creds?.update(this.contextOptions(this.current));
      this.emit('renewed', this.current);
      this.log.info({ reason, notAfter: this.current.notAfter.toISOString(), dnsNames: this.dnsNames }, 'renewed the TLS serving certificate');
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'could not renew the TLS serving certificate');
    }
    this.schedule();
  }
}

/**
 * The xDS guard for the TLS port (istiod's checkConnectionIdentity): the stream must authenticate like a
 * CSR (token or mesh client certificate), and the proxy it announces must live in the caller's namespace
 * (and, when it says, run as the caller's service account).
 */
export function xdsStreamGuard(authenticators: readonly Authenticator[], log: Logger) {
  return async (call: grpc.ServerDuplexStream<unknown, unknown>) => {
    const caller = await authenticate(authenticators, { metadata: call.metadata, peerCertificate: peerCertificateOf(call) });
    const identity = { namespace: caller.namespace, serviceAccount: caller.serviceAccount, identity: caller.identity };
    const check = (proxy: Proxy): string | undefined => {
      if (proxy.namespace !== caller.namespace) {
        return `identity ${caller.identity} may not receive configuration for namespace ${proxy.namespace} (node ${proxy.id})`;
      }
      if (proxy.serviceAccount && proxy.serviceAccount !== caller.serviceAccount) {
        return `identity ${caller.identity} may not act as service account ${proxy.serviceAccount}`;
      }
      log.debug({ identity: caller.identity, proxy: proxy.id }, 'xDS stream authorized');
      return undefined;
    };
    // the identity travels with the stream: SDS serves credential Secrets only to it (xds/secret-access.ts)
    return { identity, check };
  };
}

export interface SecureServerOptions {
  readonly ca: CertificateAuthority;
  readonly authenticators: readonly Authenticator[];
  readonly dnsNames: readonly string[];
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly defaultTtlMs?: number;
  readonly maxTtlMs?: number;
  /** adds ADS to the server; given the xDS guard for this port */
  readonly registerXds?: (server: grpc.Server, guard: ReturnType<typeof xdsStreamGuard>) => void;
  /** the self-signed root rotator, run while the server runs */
  readonly rootRotator?: { start(): void; stop(): void };
  /** writes CA material where the CA's lives (--ca-dir files or the Secret) */
  readonly persist?: (pems: CaPems) => Promise<void>;
  /** every certificate the CSR service issued */
  readonly onIssued?: (i: Issuance) => void;
}

/** istiod's 15012: TLS, the CSR service, and xDS for authenticated proxies. */
export class SecureServer {
  readonly server = new grpc.Server({ 'grpc.max_receive_message_length': 4 * 1024 * 1024, 'grpc.keepalive_time_ms': 30_000 });
  readonly serving: ServingCertificateManager;
  readonly certificates: CertificateService;

  constructor(private readonly opts: SecureServerOptions) {
    this.serving = new ServingCertificateManager(opts.ca, opts.dnsNames, opts.log.child({ scope: 'ca-tls' }));
    this.certificates = new CertificateService({
      ca: opts.ca, authenticators: opts.authenticators, metrics: opts.metrics, log: opts.log,
      defaultTtlMs: opts.defaultTtlMs, maxTtlMs: opts.maxTtlMs,
      ...(opts.onIssued ? { onIssued: opts.onIssued } : {}),
    });
    this.certificates.register(this.server);
    opts.registerXds?.(this.server, xdsStreamGuard(opts.authenticators, opts.log.child({ scope: 'xds-auth' })));
    opts.metrics.rootCertNotAfter = opts.ca.rootNotAfter;
    opts.ca.on('rotated', () => (opts.metrics.rootCertNotAfter = opts.ca.rootNotAfter));
  }

  get ca(): CertificateAuthority {
    return this.opts.ca;
  }

  /** writes CA material where the CA's lives; undefined when nothing can be written */
  get persist(): ((pems: CaPems) => Promise<void>) | undefined {
    return this.opts.persist;
  }

  /** Binds `host:port` (port 0 = OS-chosen); resolves with the bound address. */
  async start(host: string, port: number): Promise<string> {
    const creds = await this.serving.start();
    this.opts.rootRotator?.start();
    const bound = await bindGrpcServer(this.server, host, port, creds);
    return `${host}:${bound}`;
  }

  async stop(graceMs = 5000): Promise<void> {
    this.serving.stop();
    this.opts.rootRotator?.stop();
    this.opts.ca.close();
    await shutdownGrpcServer(this.server, graceMs);
  }
}
