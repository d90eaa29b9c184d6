import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../telemetry/log.js';
import { spiffeId } from '../ca/authn.js';
import { certificateServiceClient, type IstioCertificateResponse } from '../ca/csr-service.js';
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
//      with backoff (1 s doubling to 30 s) while the current certificate is still valid
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
}

export interface IssuedFiles {
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly serial: string;
}

export class Agent {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private current: IssuedFiles | undefined;
  private readonly client: grpc.Client;
  renewals = 0;

  constructor(private readonly opts: AgentOptions) {
    const Client = certificateServiceClient();
    const root = fs.readFileSync(opts.caRootFile);
    this.client = new Client(opts.caAddr, grpc.credentials.createSsl(root), {
      'grpc.ssl_target_name_override': opts.caServerName,
      'grpc.default_authority': opts.caServerName,
    });
  }

  get identity(): string {
    return spiffeId(this.opts.trustDomain, this.opts.namespace, this.opts.serviceAccount);
  }

  get certificate(): IssuedFiles | undefined {
    return this.current;
  }

  /** First certificate + bootstrap; then renewals run on a timer until stop(). */
  async start(): Promise<IssuedFiles> {
    const issued = await this.rotate();
    writeFileReplace(this.opts.bootstrapFile, JSON.stringify(this.bootstrap(), null, 2) + '\n');
    this.opts.log.info({ bootstrap: this.opts.bootstrapFile }, 'wrote gRPC xDS bootstrap');
    this.schedule(this.delayFor(issued));
    return issued;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.client.close();
  }

  /** Istio-style proxyless gRPC bootstrap (what istio-agent writes to GRPC_XDS_BOOTSTRAP). */
  bootstrap(): Record<string, unknown> {
    const o = this.opts;
    const domain = o.domainSuffix ?? 'cluster.local';
    const certDir = path.resolve(o.certDir);
    const ttlS = o.certTtlMs / 1000;
    // file_watcher polls; poll well inside the renewal window so new files are picked up promptly
    const refresh = Math.max(1, Math.min(900, Math.floor(ttlS / 12)));
    return {
      xds_servers: [{ server_uri: o.xdsAddr, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
      node: {
        id: `sidecar~${o.podIp}~${o.podName}.${o.namespace}~${o.namespace}.svc.${domain}`,
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
  async rotate(): Promise<IssuedFiles> {
    const { privateKey } = generateKeyPair(this.opts.keyType ?? 'ec');
    const csr = createCsr(privateKey, { uris: [this.identity] });
    const chain = await this.createCertificate(csr);
    if (chain.length < 2) throw new Error(`CA answered ${chain.length} certificate(s); want leaf … root`);
    const leaf = new crypto.X509Certificate(chain[0]!);
    if (!leaf.checkPrivateKey(privateKey)) throw new Error('CA returned a certificate for another key');
    if (leaf.subjectAltName !== `URI:${this.identity}`) throw new Error(`CA returned identity ${leaf.subjectAltName}, want URI:${this.identity}`);
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

  private createCertificate(csr: string): Promise<string[]> {
    const token = fs.readFileSync(this.opts.tokenFile, 'utf8').trim();
    const md = new grpc.Metadata();
    md.set('authorization', `Bearer ${token}`);
    md.set('ClusterID', 'Kubernetes');
    return new Promise((resolve, reject) => {
      (this.client as unknown as { CreateCertificate: Function }).CreateCertificate(
        { csr, validity_duration: Math.round(this.opts.certTtlMs / 1000) },
        md,
        { deadline: Date.now() + 15_000 },
        (err: grpc.ServiceError | null, res?: IstioCertificateResponse) =>
          err ? reject(Object.assign(new Error(`CreateCertificate: ${grpc.status[err.code]}: ${err.details}`), { code: err.code })) : resolve(res?.cert_chain ?? []),
      );
    });
  }

  /** Half life (renewAt) ± jitter, measured from the certificate's own validity. */
  private delayFor(c: IssuedFiles): number {
    const life = c.notAfter.getTime() - c.notBefore.getTime();
    const at = this.opts.renewAt ?? 0.5;
    const jitter = this.opts.jitter ?? 0.1;
    const frac = at + (Math.random() * 2 - 1) * jitter;
    return Math.max(0, c.notBefore.getTime() + life * frac - Date.now());
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.renew(1000), Math.min(ms, 2 ** 31 - 1));
  }

  private async renew(backoffMs: number): Promise<void> {
    if (this.stopped) return;
    try {
      const issued = await this.rotate();
      this.renewals++;
      this.schedule(this.delayFor(issued));
    } catch (err) {
      const left = (this.current?.notAfter.getTime() ?? 0) - Date.now();
      this.opts.log.error({ err: (err as Error).message, retryInMs: backoffMs, validForMs: left }, 'certificate renewal failed');
      if (this.stopped) return;
      this.timer = setTimeout(() => void this.renew(Math.min(backoffMs * 2, 30_000)), backoffMs);
    }
  }
}
