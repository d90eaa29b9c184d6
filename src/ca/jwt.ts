import crypto, { type KeyObject } from 'node:crypto';
import fs from 'node:fs';

// JSON Web Tokens as Kubernetes issues them for service accounts (RS256 by default; ES256 on some
// clusters). Used by the config-dir mode's "trusted public keys" authenticator, where there is no API
// server to ask (TokenReview). Verification is Node's native crypto.

export class JwtError extends Error {}

export interface JwtClaims {
  readonly iss?: string;
  readonly sub?: string;
  readonly aud?: string | string[];
  readonly exp?: number;
  readonly nbf?: number;
  readonly iat?: number;
  readonly kubernetes?: { namespace?: string; serviceaccount?: { name?: string } };
  readonly [claim: string]: unknown;
}

interface VerifyKey {
  readonly kid?: string;
  readonly key: KeyObject;
}

const ALGS: Record<string, { hash: string; type: 'rsa' | 'ec' | 'rsa-pss'; ec?: 'ieee-p1363' }> = {
  RS256: { hash: 'sha256', type: 'rsa' },
  RS384: { hash: 'sha384', type: 'rsa' },
  RS512: { hash: 'sha512', type: 'rsa' },
  PS256: { hash: 'sha256', type: 'rsa-pss' },
  ES256: { hash: 'sha256', type: 'ec', ec: 'ieee-p1363' },
  ES384: { hash: 'sha384', type: 'ec', ec: 'ieee-p1363' },
};

const MAX_TOKEN_BYTES = 16 * 1024;

function b64json(part: string, what: string): Record<string, unknown> {
  try {
    const v = JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as unknown;
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
    return v as Record<string, unknown>;
  } catch {
    throw new JwtError(`malformed token: ${what} is not base64url JSON`);
  }
}

/** Public keys from a file: PEM public keys/certificates (any number) or a JWKS document `{keys: [...]}`. */
export function loadVerifyKeys(file: string): VerifyKey[] {
  const text = fs.readFileSync(file, 'utf8');
  if (text.trim().startsWith('{')) {
    const jwks = JSON.parse(text) as { keys?: (crypto.JsonWebKey & { kid?: string })[] };
    if (!Array.isArray(jwks.keys)) throw new Error(`${file}: a JWKS document needs "keys"`);
    return jwks.keys.map((jwk) => ({ kid: jwk.kid, key: crypto.createPublicKey({ key: jwk, format: 'jwk' }) }));
  }
  const blocks = text.match(/-----BEGIN [A-Z ]+-----[\s\S]*?-----END [A-Z ]+-----/g) ?? [];
  const keys = blocks.map((b) => ({ key: b.includes('CERTIFICATE') ? new crypto.X509Certificate(b).publicKey : crypto.createPublicKey(b) }));
  if (keys.length === 0) throw new Error(`${file}: no PEM public key, certificate or JWKS found`);
  return keys;
}

/** Checks signature, expiry and audience; returns the claims. Never echoes the token. */
export function verifyJwt(token: string, keys: readonly VerifyKey[], { audience, now = Date.now() / 1000, leewaySeconds = 30 }: { audience: string; now?: number; leewaySeconds?: number }): JwtClaims {
  if (token.length > MAX_TOKEN_BYTES) throw new JwtError('token too large');
  const parts = token.split('.');
  if (parts.length !== 3) throw new JwtError('malformed token: want header.payload.signature');
  const header = b64json(parts[0]!, 'header');
  const claims = b64json(parts[1]!, 'payload') as JwtClaims;
  const alg = ALGS[String(header.alg)];
  if (!alg) throw new JwtError(`token algorithm ${JSON.stringify(header.alg)} is not accepted`);
  const signed = Buffer.from(`${parts[0]}.${parts[1]}`);
  const sig = Buffer.from(parts[2]!, 'base64url');
  const candidates = keys.filter((k) => (header.kid === undefined || k.kid === undefined || k.kid === header.kid) && keyMatches(k.key, alg.type));
  const ok = candidates.some((k) => {
    try {
      if (alg.type === 'rsa-pss') return crypto.verify(alg.hash, signed, { key: k.key, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: crypto.constants.RSA_PSS_SALTLEN_DIGEST }, sig);
      return crypto.verify(alg.hash, signed, alg.ec ? { key: k.key, dsaEncoding: alg.ec } : k.key, sig);
    } catch {
      return false;
    }
  });
  if (!ok) throw new JwtError('token signature does not verify against any trusted key');
  if (typeof claims.exp !== 'number') throw new JwtError('token has no expiry (exp)');
  if (claims.exp + leewaySeconds < now) throw new JwtError('token expired');
  if (typeof claims.nbf === 'number' && claims.nbf - leewaySeconds > now) throw new JwtError('token not yet valid (nbf)');
  const auds = typeof claims.aud === 'string' ? [claims.aud] : Array.isArray(claims.aud) ? claims.aud : [];
  if (!auds.includes(audience)) throw new JwtError(`token audience ${JSON.stringify(auds)} does not include ${JSON.stringify(audience)}`);
  return claims;
}

function keyMatches(key: KeyObject, type: 'rsa' | 'ec' | 'rsa-pss'): boolean {
  return type === 'ec' ? key.asymmetricKeyType === 'ec' : key.asymmetricKeyType === 'rsa' || key.asymmetricKeyType === 'rsa-pss';
}

/** Signs a JWT (RS256 for RSA keys, ES256 for P-256): what tests and `meshd agent --token-key` use. */
export function signJwt(claims: Record<string, unknown>, key: KeyObject, kid?: string): string {
  const ec = key.asymmetricKeyType === 'ec';
  const header = { alg: ec ? 'ES256' : 'RS256', typ: 'JWT', ...(kid ? { kid } : {}) };
  const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${enc(header)}.${enc(claims)}`;
  const sig = crypto.sign('sha256', Buffer.from(input), ec ? { key, dsaEncoding: 'ieee-p1363' } : key);
  return `${input}.${sig.toString('base64url')}`;
}
