// What a Kubernetes Secret (or ConfigMap) named by a gateway's `credentialName` holds, read the way istiod's
// credentials controller reads it: Istio's generic keys `cert`/`key`/`cacert` first, then the kubernetes.io/tls
// keys `tls.crt`/`tls.key`/`ca.crt`. Pure functions over decoded data; the error texts are istiod's, because
// they end up in Gateway status and logs users compare with Istio's docs.

import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';

export interface CertInfo {
  readonly cert: string;
  readonly key: string;
  readonly crl?: string;
  readonly staple?: string;
}

export interface RootInfo {
  readonly cert: string;
  readonly crl?: string;
}

export type SecretData = Readonly<Record<string, string>>;

const has = (d: SecretData, ...keys: string[]) => keys.every((k) => (d[k] ?? '') !== '');
const hasKeys = (d: SecretData, ...keys: string[]) => keys.every((k) => k in d);

function keysMessage(d: SecretData): string {
  const keys = Object.keys(d).sort();
  return keys.length < 3 ? keys.join(', ') : `${keys.slice(0, 3).join(', ')}, and ${keys.length - 3} more...`;
}

/** Server certificate and key of a Secret; istiod's ExtractCertInfo. */
export function extractCertInfo(d: SecretData): CertInfo | { error: string } {
  if (has(d, 'cert', 'key')) return { cert: d.cert!, key: d.key!, crl: d.crl };
  if (has(d, 'tls.crt', 'tls.key')) {
    return { cert: d['tls.crt']!, key: d['tls.key']!, staple: d['tls.ocsp-staple'], crl: d['ca.crl'] };
  }
  if (hasKeys(d, 'cert', 'key')) return { error: 'found keys "cert" and "key", but they were empty' };
  if (hasKeys(d, 'tls.crt', 'tls.key')) return { error: 'found keys "tls.crt" and "tls.key", but they were empty' };
  return {
    error: `found secret, but didn't have expected keys (cert and key) or (tls.crt and tls.key); found: ${keysMessage(d)}`,
  };
}

/** CA bundle of a Secret or ConfigMap; istiod's ExtractRoot. */
export function extractRoot(d: SecretData): RootInfo | { error: string } {
  if (has(d, 'cacert')) return { cert: d.cacert!, crl: d.crl };
  if (has(d, 'ca.crt')) return { cert: d['ca.crt']!, crl: d['ca.crl'] };
  if (hasKeys(d, 'cacert')) return { error: 'found key "cacert", but it was empty' };
  if (hasKeys(d, 'ca.crt')) return { error: 'found key "ca.crt", but it was empty' };
  return { error: `found secret, but didn't have expected keys cacert or ca.crt; found: ${keysMessage(d)}` };
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;

function pemBlocks(pem: string): { type: string; text: string }[] {
  return [...pem.matchAll(PEM_BLOCK)].map((m) => ({ type: m[1]!, text: m[0] }));
}

/**
 * Checks a certificate chain and private key pair as Go's tls.X509KeyPair does (the check istiod applies
 * before it accepts a gateway credential); returns its error text or undefined.
 */
export function keyPairError(certPem: string, keyPem: string): string | undefined {
  const certs = pemBlocks(certPem).filter((b) => b.type === 'CERTIFICATE');
  if (certs.length === 0) return 'tls: failed to find any PEM data in certificate input';
  const keys = pemBlocks(keyPem).filter((b) => b.type === 'PRIVATE KEY' || b.type.endsWith(' PRIVATE KEY'));
  if (keys.length === 0) return 'tls: failed to find any PEM data in key input';
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(certs[0]!.text);
  } catch (e) {
    return `x509: malformed certificate (${(e as Error).message})`;
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(keys[0]!.text);
  } catch {
    return 'tls: failed to parse private key';
  }
  if (!leaf.checkPrivateKey(key)) return 'tls: private key does not match public key';
  return undefined;
}

/** True when the bundle holds at least one parseable certificate (Go's CertPool.AppendCertsFromPEM). */
export function isCertBundle(pem: string): boolean {
  return pemBlocks(pem).some((b) => {
    if (b.type !== 'CERTIFICATE') return false;
    try {
      new X509Certificate(b.text);
      return true;
    } catch {
      return false;
    }
  });
}
