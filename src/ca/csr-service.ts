import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { Logger } from '../telemetry/log.js';
import type { Metrics } from '../telemetry/metrics.js';
import { DEFAULT_CERT_TTL_MS, MAX_CERT_TTL_MS, type CertificateAuthority } from './authority.js';
import type { Issuance } from './rotation.js';
import { authenticate, AuthenticationError, peerCertificateOf, type Authenticator, type Caller } from './authn.js';
import { CsrError, parseCsr } from './x509.js';
import { peerIpOf } from '../net/grpc-server.js';

// istio.v1.auth.IstioCertificateService/CreateCertificate (protos/istio/security/v1alpha1/ca.proto), as
// istiod serves it on 15012. Every refusal carries a gRPC status and no certificate:
//
//   no / malformed / expired / wrong-audience token, untrusted client cert → UNAUTHENTICATED
//   CSR whose SANs name another identity than the caller's                 → PERMISSION_DENIED
//   CSR missing, not PEM, bad signature, weak key, larger than 32 KiB      → INVALID_ARGUMENT
//   validity_duration negative or above the maximum (default 90 days)      → INVALID_ARGUMENT
//   TokenReview unreachable                                                → UNAVAILABLE
//   signing failure                                                        → INTERNAL
//
// The certificate's only identity is the caller's SPIFFE ID; the CSR contributes its public key.

const PROTO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../protos/istio');
export const CA_SERVICE_NAME = 'istio.v1.auth.IstioCertificateService';
export const MAX_CSR_BYTES = 32 * 1024;

export interface IstioCertificateRequest {
  csr?: string;
  validity_duration?: string | number;
  metadata?: unknown;
}
export interface IstioCertificateResponse {
  cert_chain: string[];
}

let definition: grpc.ServiceDefinition | undefined;
/** The service definition from the vendored ca.proto (snake_case fields, int64 as string). */
export function certificateServiceDefinition(): grpc.ServiceDefinition {
  if (!definition) {
    const pkg = protoLoader.loadSync('security/v1alpha1/ca.proto', { includeDirs: [PROTO_ROOT], keepCase: true, longs: String, defaults: true });
    const loaded = grpc.loadPackageDefinition(pkg) as unknown as { istio: { v1: { auth: { IstioCertificateService: grpc.ServiceClientConstructor } } } };
    definition = loaded.istio.v1.auth.IstioCertificateService.service;
  }
  return definition;
}

/** A client constructor for the same service (tests, `meshd agent`). */
export function certificateServiceClient(): grpc.ServiceClientConstructor {
  return grpc.makeGenericClientConstructor(certificateServiceDefinition(), 'IstioCertificateService');
}

export interface CertificateServiceOptions {
  readonly ca: CertificateAuthority;
  readonly authenticators: readonly Authenticator[];
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly defaultTtlMs?: number;
  readonly maxTtlMs?: number;
  /** every certificate issued (the root rotation follows who holds which trust bundle and CA) */
  readonly onIssued?: (i: Issuance) => void;
}

/** meshd agents name their xDS node and their proxy's certificate reload interval with each request. */
export const NODE_ID_HEADER = 'x-meshd-node-id';
export const RELOAD_SECONDS_HEADER = 'x-meshd-cert-reload-seconds';

function headerOf(md: grpc.Metadata, name: string): string | undefined {
  const v = md.get(name)[0];
  return typeof v === 'string' && v.length > 0 && v.length <= 512 ? v : undefined;
}

export class ServiceError extends Error {
  constructor(
    readonly code: grpc.status,
    message: string,
  ) {
    super(message);
  }
}

export class CertificateService {
  private readonly log: Logger;
  constructor(private readonly opts: CertificateServiceOptions) {
    this.log = opts.log.child({ scope: 'ca-server' });
  }

  register(server: grpc.Server): void {
    server.addService(certificateServiceDefinition(), {
      CreateCertificate: (call: grpc.ServerUnaryCall<IstioCertificateRequest, IstioCertificateResponse>, cb: grpc.sendUnaryData<IstioCertificateResponse>) => {
        this.createCertificate(call.request, { metadata: call.metadata, peerCertificate: peerCertificateOf(call) }, call.getPeer()).then(
          (res) => cb(null, res),
          (err: ServiceError) => cb({ code: err.code ?? grpc.status.INTERNAL, details: err.message }),
        );
      },
    });
  }

  async createCertificate(req: IstioCertificateRequest, ctx: Parameters<typeof authenticate>[1], peer = ''): Promise<IstioCertificateResponse> {
    const { metrics } = this.opts;
    metrics.csrCount.inc();
    let caller: Caller;
    try {
      caller = await authenticate(this.opts.authenticators, ctx);
    } catch (err) {
      const e = err as Error & { code?: grpc.status };
      metrics.authnFailures.inc();
      this.log.warn({ peer, reason: e.message }, 'CSR refused: authentication');
      throw new ServiceError(e instanceof AuthenticationError ? grpc.status.UNAUTHENTICATED : (e.code ?? grpc.status.UNAVAILABLE), e.message);
    }
    const refuse = (code: grpc.status, reason: string, label: string): never => {
      metrics.csrSignErrors.inc({ error: label });
      this.log.warn({ peer, identity: caller.identity, reason }, 'CSR refused');
      throw new ServiceError(code, reason);
    };
    const csrText = req.csr ?? '';
    if (!csrText) refuse(grpc.status.INVALID_ARGUMENT, 'csr is empty', 'csr');
    if (Buffer.byteLength(csrText) > MAX_CSR_BYTES) refuse(grpc.status.INVALID_ARGUMENT, `csr is larger than ${MAX_CSR_BYTES} bytes`, 'csr');
    const ttlMs = this.ttlOf(req.validity_duration, refuse);
    let csr;
    try {
      csr = parseCsr(csrText);
    } catch (err) {
      return refuse(grpc.status.INVALID_ARGUMENT, (err as CsrError).message, 'csr');
    }
    const foreign = csr.uris.filter((u) => u !== caller.identity);
    if (foreign.length > 0) {
      refuse(grpc.status.PERMISSION_DENIED, `caller ${caller.identity} is not authorized to request a certificate for ${foreign.join(', ')}`, 'identity');
    }
    try {
      const issued = await this.opts.ca.sign(csr, { uris: [caller.identity], ttlMs });
      metrics.certIssuances.inc();
      if (this.opts.onIssued) {
        const reload = Number(headerOf(ctx.metadata, RELOAD_SECONDS_HEADER));
        const nodeId = headerOf(ctx.metadata, NODE_ID_HEADER);
        this.opts.onIssued({
          identity: caller.identity, peerIp: peerIpOf(peer), issuedAt: Date.now(), notAfter: issued.notAfter.getTime(),
          bundle: issued.chain[issued.chain.length - 1]!, signerRoot: issued.rootFingerprint,
          ...(nodeId ? { nodeId } : {}),
          ...(Number.isFinite(reload) && reload >= 0 && reload <= 3600 ? { reloadMs: reload * 1000 } : {}),
        });
      }
      this.log.info({ peer, identity: caller.identity, via: caller.method, notAfter: issued.notAfter.toISOString() }, 'certificate issued');
      return { cert_chain: [...issued.chain] };
    } catch (err) {
      return refuse(grpc.status.INTERNAL, `signing failed: ${(err as Error).message}`, 'sign');
    }
  }

  private ttlOf(v: string | number | undefined, refuse: (c: grpc.status, r: string, l: string) => never): number {
    const seconds = Number(v ?? 0);
    const max = this.opts.maxTtlMs ?? MAX_CERT_TTL_MS;
    if (!Number.isFinite(seconds) || seconds < 0) refuse(grpc.status.INVALID_ARGUMENT, `validity_duration ${v} is not a non-negative number of seconds`, 'ttl');
    if (seconds === 0) return Math.min(this.opts.defaultTtlMs ?? DEFAULT_CERT_TTL_MS, max);
    if (seconds * 1000 > max) {
      refuse(grpc.status.INVALID_ARGUMENT, `requested TTL ${seconds}s is greater than the max allowed TTL ${max / 1000}s`, 'ttl');
    }
    return seconds * 1000;
  }
}
