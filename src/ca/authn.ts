import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { PeerCertificate } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { JwtError, loadVerifyKeys, verifyJwt } from './jwt.js';

// Who is calling the CA (and the TLS xDS port): the three ways istiod accepts, in its order.
//
//   1. Kubernetes service-account JWT (`authorization: Bearer …`) checked by the API server's TokenReview
//      with audience `istio-ca` — what istio-agent and `meshd agent` send. Kubernetes mode.
//   2. The same token shape checked locally against trusted public keys (PEM keys/certificates or a JWKS
//      file: the cluster's service-account issuer keys) — config-dir mode, where there is no API server.
//      The token must be signed by a trusted key, unexpired, carry audience `istio-ca`, and name the
//      service account as `sub: system:serviceaccount:NS:SA` (or the `kubernetes.io` claims).
//   3. A client certificate the mesh CA issued (TLS peer verified against the mesh root): renewal with
//      the current certificate, identity from its SPIFFE URI SAN.
//
// The identity is always `spiffe://TRUST_DOMAIN/ns/NS/sa/SA` of the authenticated caller; nothing in a
// CSR or a node id can change it.

export const CA_AUDIENCE = 'istio-ca';

export interface Caller {
  readonly namespace: string;
  readonly serviceAccount: string;
  /** spiffe://TRUST_DOMAIN/ns/NS/sa/SA */
  readonly identity: string;
  readonly method: 'tokenreview' | 'jwt' | 'client-cert';
}

export class AuthenticationError extends Error {
  readonly code = grpc.status.UNAUTHENTICATED;
}

export interface AuthnContext {
  readonly metadata: grpc.Metadata;
  /** the TLS client certificate, only when it verified against the mesh root */
  readonly peerCertificate?: PeerCertificate;
}

export interface Authenticator {
  readonly name: string;
  /** what it checks: a bearer token, or the TLS client certificate */
  readonly kind: 'token' | 'cert';
  /** undefined when the caller presented no credential of this kind; throws when it presented a bad one */
  authenticate(ctx: AuthnContext): Promise<Caller | undefined>;
}

export function spiffeId(trustDomain: string, namespace: string, serviceAccount: string): string {
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
}

export function parseSpiffeId(uri: string): { trustDomain: string; namespace: string; serviceAccount: string } | undefined {
  const m = /^spiffe:\/\/([^/]+)\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(uri);
  return m ? { trustDomain: m[1]!, namespace: m[2]!, serviceAccount: m[3]! } : undefined;
}

/** `system:serviceaccount:NS:SA` → parts. */
export function parseServiceAccountUser(username: string): { namespace: string; serviceAccount: string } | undefined {
  const m = /^system:serviceaccount:([a-z0-9]([-a-z0-9]*[a-z0-9])?):([a-z0-9]([-a-z0-9.]*[a-z0-9])?)$/.exec(username);
  return m ? { namespace: m[1]!, serviceAccount: m[3]! } : undefined;
}

export function bearerToken(md: grpc.Metadata): string | undefined {
  const v = md.get('authorization')[0];
  if (v === undefined) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(String(v));
  if (!m) throw new AuthenticationError('authorization metadata is not "Bearer <token>"');
  return m[1];
}

/** Kubernetes TokenReview (authentication.k8s.io/v1) against the API server. */
export class TokenReviewAuthenticator implements Authenticator {
  readonly name = 'tokenreview';
  readonly kind = 'token';
  constructor(
    private readonly opts: {
      /** API server base URL, e.g. https://kubernetes.default.svc */
      readonly url: string;
      readonly trustDomain: string;
      /** meshd's own credential for the API server (in-cluster: the pod's token file) */
      readonly bearerTokenFile?: string;
      readonly caFile?: string;
      readonly audience?: string;
      readonly timeoutMs?: number;
      /** adds meshd's own API-server credentials to the request (e.g. client-node KubeConfig.applyToHTTPSOptions) */
      readonly applyAuth?: (opts: https.RequestOptions) => Promise<void>;
    },
  ) {}

  async authenticate(ctx: AuthnContext): Promise<Caller | undefined> {
    const token = bearerToken(ctx.metadata);
    if (!token) return undefined;
    const audience = this.opts.audience ?? CA_AUDIENCE;
    const review = await this.review(token, audience);
    const status = (review.status ?? {}) as { authenticated?: boolean; error?: string; user?: { username?: string }; audiences?: string[] };
    if (!status.authenticated) throw new AuthenticationError(`TokenReview: not authenticated${status.error ? ` (${status.error})` : ''}`);
    if (status.audiences && !status.audiences.includes(audience)) {
      throw new AuthenticationError(`TokenReview: token audiences ${JSON.stringify(status.audiences)} do not include ${audience}`);
    }
    const sa = parseServiceAccountUser(status.user?.username ?? '');
    if (!sa) throw new AuthenticationError(`TokenReview: ${JSON.stringify(status.user?.username)} is not a service account`);
    return { ...sa, identity: spiffeId(this.opts.trustDomain, sa.namespace, sa.serviceAccount), method: 'tokenreview' };
  }

  private async review(token: string, audience: string): Promise<Record<string, unknown>> {
    const body = JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences: [audience] } });
    const url = new URL(`${this.opts.url.replace(/\/$/, '')}/apis/authentication.k8s.io/v1/tokenreviews`);
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json', 'content-length': String(Buffer.byteLength(body)) };
    if (this.opts.bearerTokenFile) headers.authorization = `Bearer ${fs.readFileSync(this.opts.bearerTokenFile, 'utf8').trim()}`;
    const mod = url.protocol === 'https:' ? https : http;
    const ca = this.opts.caFile ? fs.readFileSync(this.opts.caFile) : undefined;
    const options: https.RequestOptions = { method: 'POST', headers, ...(ca ? { ca } : {}), timeout: this.opts.timeoutMs ?? 5000 };
    await this.opts.applyAuth?.(options);
    return new Promise((resolve, reject) => {
      const req = mod.request(url, options, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if ((res.statusCode ?? 0) < 200 || (res.statusCode ?? 0) >= 300) {
            // an API-server outage is not the caller's fault
            reject(Object.assign(new Error(`TokenReview: API server answered HTTP ${res.statusCode}`), { code: grpc.status.UNAVAILABLE }));
            return;
          }
          try {
            resolve(JSON.parse(text) as Record<string, unknown>);
          } catch {
            reject(Object.assign(new Error('TokenReview: API server answered non-JSON'), { code: grpc.status.UNAVAILABLE }));
          }
        });
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (err) => reject(Object.assign(new Error(`TokenReview: ${err.message}`), { code: grpc.status.UNAVAILABLE })));
      req.end(body);
    });
  }
}

/** Service-account JWTs verified locally against trusted public keys (config-dir mode). */
export class TrustedKeyJwtAuthenticator implements Authenticator {
  readonly name = 'jwt';
  readonly kind = 'token';
  private keys: ReturnType<typeof loadVerifyKeys>;
  constructor(
    private readonly opts: { readonly keyFile: string; readonly trustDomain: string; readonly audience?: string; readonly issuer?: string },
  ) {
    this.keys = loadVerifyKeys(opts.keyFile);
  }

  async authenticate(ctx: AuthnContext): Promise<Caller | undefined> {
    const token = bearerToken(ctx.metadata);
    if (!token) return undefined;
    let claims;
    try {
      claims = verifyJwt(token, this.keys, { audience: this.opts.audience ?? CA_AUDIENCE });
    } catch (err) {
      if (err instanceof JwtError) throw new AuthenticationError(err.message);
      throw err;
    }
    if (this.opts.issuer && claims.iss !== this.opts.issuer) throw new AuthenticationError(`token issuer ${JSON.stringify(claims.iss)} is not trusted`);
    const fromSub = parseServiceAccountUser(claims.sub ?? '');
    const k8s = claims.kubernetes ?? (claims['kubernetes.io'] as typeof claims.kubernetes);
    const sa = fromSub ?? (k8s?.namespace && k8s.serviceaccount?.name ? { namespace: k8s.namespace, serviceAccount: k8s.serviceaccount.name } : undefined);
    if (!sa) throw new AuthenticationError('token does not name a service account (sub system:serviceaccount:NS:SA)');
    return { ...sa, identity: spiffeId(this.opts.trustDomain, sa.namespace, sa.serviceAccount), method: 'jwt' };
  }
}

/** Renewal with a certificate the mesh CA issued (verified by TLS against the mesh root). */
export class ClientCertificateAuthenticator implements Authenticator {
  readonly name = 'client-cert';
  readonly kind = 'cert';
  constructor(private readonly trustDomain: string) {}

  async authenticate(ctx: AuthnContext): Promise<Caller | undefined> {
    const cert = ctx.peerCertificate;
    if (!cert?.subjectaltname) return undefined;
    const uris = cert.subjectaltname
      .split(/,\s*/)
      .filter((s) => s.startsWith('URI:'))
      .map((s) => s.slice(4));
    for (const uri of uris) {
      const id = parseSpiffeId(uri);
      if (id && id.trustDomain === this.trustDomain) {
        return { namespace: id.namespace, serviceAccount: id.serviceAccount, identity: uri, method: 'client-cert' };
      }
    }
    throw new AuthenticationError(`client certificate has no SPIFFE identity in trust domain ${this.trustDomain}`);
  }
}

/**
 * A bearer token, when present, decides alone (token authenticators in order; the first that accepts it
 * wins): a bad token is refused even if a valid client certificate comes with it. Without a token the
 * client certificate decides.
 */
export async function authenticate(authenticators: readonly Authenticator[], ctx: AuthnContext): Promise<Caller> {
  const kind = bearerToken(ctx.metadata) !== undefined ? 'token' : 'cert';
  const failures: string[] = [];
  let presented = false;
  for (const a of authenticators.filter((x) => x.kind === kind)) {
    try {
      const caller = await a.authenticate(ctx);
      if (caller) return caller;
    } catch (err) {
      if (!(err instanceof AuthenticationError)) throw err;
      presented = true;
      failures.push(`${a.name}: ${err.message}`);
    }
  }
  if (!presented && kind === 'cert') {
    throw new AuthenticationError('no credential: send "authorization: Bearer <service-account token>" (audience istio-ca) or a mesh client certificate');
  }
  if (!presented) throw new AuthenticationError('bearer token given but no token authenticator is configured (--token-review-url or --jwt-public-keys)');
  throw new AuthenticationError(`authentication failed: ${failures.join('; ')}`);
}

/** The verified TLS client certificate of a call, if any (grpc-js reports it only when it verified). */
export function peerCertificateOf(call: { getAuthContext?: () => { sslPeerCertificate?: PeerCertificate } | null }): PeerCertificate | undefined {
  try {
    return call.getAuthContext?.()?.sslPeerCertificate ?? undefined;
  } catch {
    return undefined;
  }
}
