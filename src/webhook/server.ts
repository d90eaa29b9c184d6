import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { CertificateAuthority } from '../ca/authority.js';
import { ServingCertificateManager, type ServingCertificate } from '../ca/secure-server.js';
import type { Logger } from '../telemetry/log.js';
import { deny, parseReview, type AdmissionRequest, type AdmissionReviewOut } from './admission.js';
import { injectAdmission, type InjectHandlerDeps } from './inject/handler.js';
import type { WebhookMetrics } from './metrics.js';
import { validateAdmission } from './validate.js';

// istiod's webhook port (15017, Service port 443): `/inject` (mutating) and `/validate` (validating)
// over HTTPS with a serving certificate from the mesh CA for istiod.istio-system.svc (+ extra names),
// renewed at half life and on CA rotation without restarting the listener. Every body is parsed with
// zod; a malformed review gets HTTP 400 with a reason, or — when it carried a uid — an AdmissionReview
// with allowed=false, so the API server always gets an answer it can read.

const MAX_BODY_BYTES = 4 * 1024 * 1024;
export const WEBHOOK_SERVING_TTL_MS = 30 * 24 * 3600 * 1000;

export interface WebhookServerOptions {
  readonly ca: CertificateAuthority;
  readonly dnsNames: readonly string[];
  readonly inject: Omit<InjectHandlerDeps, 'log' | 'metrics'>;
  readonly metrics?: WebhookMetrics;
  readonly log: Logger;
  /** serving certificate lifetime (tests shorten it to see renewals) */
  readonly servingTtlMs?: number;
}

export class WebhookServer {
  private readonly serving: ServingCertificateManager;
  private server: https.Server | undefined;
  private readonly log: Logger;

  constructor(private readonly opts: WebhookServerOptions) {
    this.log = opts.log.child({ scope: 'webhook' });
    this.serving = new ServingCertificateManager(opts.ca, opts.dnsNames, this.log, opts.servingTtlMs ?? WEBHOOK_SERVING_TTL_MS);
  }

  get certificate(): ServingCertificate | undefined {
    return this.serving.certificate;
  }

  async start(host: string, port: number): Promise<string> {
    await this.serving.start();
    const cert = this.serving.certificate!;
    const server = https.createServer({ cert: cert.certChainPem, key: cert.keyPem }, (req, res) => this.handle(req, res));
    this.server = server;
    this.serving.on('renewed', (c: ServingCertificate) => server.setSecureContext({ cert: c.certChainPem, key: c.keyPem }));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return `${host}:${(server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.serving.stop();
    const server = this.server;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  private route(path: string): ((req: AdmissionRequest) => AdmissionReviewOut) | undefined {
    switch (path) {
      case '/inject':
      case '/inject/':
        return (r) => injectAdmission(r, { ...this.opts.inject, log: this.log, ...(this.opts.metrics ? { metrics: this.opts.metrics } : {}) });
      case '/validate':
      case '/validate/':
        return (r) => validateAdmission(r, this.opts.metrics);
      default:
        return undefined;
    }
  }

  private handle(req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse): void {
    const url = new URL(req.url ?? '/', 'https://webhook');
    if (req.method === 'GET' && url.pathname === '/ready') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    }
    const handler = this.route(url.pathname);
    if (!handler) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`no webhook at ${url.pathname}: use /inject or /validate\n`);
      return;
    }
    if (req.method !== 'POST') {
      res.writeHead(405, { 'content-type': 'text/plain', allow: 'POST' }).end(`${url.pathname} takes POST with an AdmissionReview\n`);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) tooLarge = true;
      else chunks.push(c);
    });
    req.on('error', (err) => this.log.warn({ err: err.message, path: url.pathname }, 'webhook request failed'));
    req.on('end', () => {
      if (tooLarge) {
        res.writeHead(413, { 'content-type': 'text/plain' }).end(`AdmissionReview larger than ${MAX_BODY_BYTES} bytes\n`);
        return;
      }
      const parsed = parseReview(Buffer.concat(chunks).toString('utf8'));
      let out: AdmissionReviewOut;
      if (!parsed.ok) {
        this.log.warn({ path: url.pathname, err: parsed.message }, 'malformed AdmissionReview');
        if (!parsed.uid) {
          res.writeHead(400, { 'content-type': 'text/plain' }).end(`${parsed.message}\n`);
          return;
        }
        out = deny(parsed.uid, parsed.message);
      } else {
        try {
          out = handler(parsed.request);
        } catch (err) {
          // handlers return errors as denials; this is the last line so a bug never drops the connection
          this.log.error({ err: (err as Error).message, path: url.pathname }, 'webhook handler failed');
          out = deny(parsed.request.uid, `internal error: ${(err as Error).message}`, 500);
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(out));
    });
  }
}
