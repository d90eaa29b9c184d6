import crypto, { type KeyObject } from 'node:crypto';
import * as der from './der.js';

// X.509 v3 certificates and PKCS#10 certificate requests, built and read with der.ts and signed or
// verified with Node's native crypto. Only what a mesh CA needs: RSA (≥2048) and ECDSA P-256/P-384 keys,
// SHA-256 signatures, the extensions Istio's CA writes (basicConstraints, keyUsage, extKeyUsage,
// subjectAltName URI/DNS, subject/authority key identifiers).

export const OID = {
  rsaEncryption: '1.2.840.113549.1.1.1',
  sha256WithRSA: '1.2.840.113549.1.1.11',
  sha384WithRSA: '1.2.840.113549.1.1.12',
  sha512WithRSA: '1.2.840.113549.1.1.13',
  ecPublicKey: '1.2.840.10045.2.1',
  ecdsaSha256: '1.2.840.10045.4.3.2',
  ecdsaSha384: '1.2.840.10045.4.3.3',
  ecdsaSha512: '1.2.840.10045.4.3.4',
  organization: '2.5.4.10',
  commonName: '2.5.4.3',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  extensionRequest: '1.2.840.113549.1.9.14',
} as const;

const SIGNATURE_HASH: Record<string, string> = {
  [OID.sha256WithRSA]: 'sha256',
  [OID.sha384WithRSA]: 'sha384',
  [OID.sha512WithRSA]: 'sha512',
  [OID.ecdsaSha256]: 'sha256',
  [OID.ecdsaSha384]: 'sha384',
  [OID.ecdsaSha512]: 'sha512',
};

export type KeyType = 'rsa' | 'ec';

export function generateKeyPair(type: KeyType): { privateKey: KeyObject; publicKey: KeyObject } {
  return type === 'ec'
    ? crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' })
    : crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
}

const RSA_SHA256 = der.seq(der.oid(OID.sha256WithRSA), der.nul());
const ECDSA_SHA256 = der.seq(der.oid(OID.ecdsaSha256));

/** The signatureAlgorithm a key signs with (SHA-256 always). */
function signatureAlgorithm(key: KeyObject): der.Der {
  if (key.asymmetricKeyType === 'rsa') return RSA_SHA256;
  if (key.asymmetricKeyType === 'ec') return ECDSA_SHA256;
  throw new Error(`unsupported signing key type ${key.asymmetricKeyType}`);
}

export function spkiDer(key: KeyObject): Buffer {
  const pub = key.type === 'private' ? crypto.createPublicKey(key) : key;
  return pub.export({ type: 'spki', format: 'der' });
}

/** RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits. */
export function keyIdentifier(spki: Buffer): Buffer {
  const [, bitString] = der.children(der.parse(spki));
  // one-shot crypto.hash (no Hash object) where Node has it (≥ 20.12)
  return oneShotHash ? oneShotHash('sha1', der.readBits(bitString!), 'buffer') : crypto.createHash('sha1').update(der.readBits(bitString!)).digest();
}
const oneShotHash = (crypto as { hash?: (alg: string, data: Buffer, enc: 'buffer') => Buffer }).hash;

export interface Rdn {
  readonly oid: string;
  readonly value: string;
}
export function encodeName(rdns: readonly Rdn[]): der.Der {
  return der.seq(...rdns.map((r) => der.set(der.seq(der.oid(r.oid), der.utf8(r.value)))));
}

export interface KeyUsage {
  digitalSignature?: boolean;
  keyEncipherment?: boolean;
  keyCertSign?: boolean;
  cRLSign?: boolean;
}
const KU_BITS: Record<keyof KeyUsage, number> = { digitalSignature: 0, keyEncipherment: 2, keyCertSign: 5, cRLSign: 6 };

function keyUsageBits(ku: KeyUsage): der.Der {
  let byte = 0;
  let last = -1;
  for (const [name, bit] of Object.entries(KU_BITS) as [keyof KeyUsage, number][]) {
    if (ku[name]) {
      byte |= 0x80 >> bit;
      last = Math.max(last, bit);
    }
  }
  // DER: trailing zero bits are dropped and counted as unused
  return der.tlv(der.TAG.BIT_STRING, Buffer.from([7 - last, byte]));
}

function extension(oid: string, critical: boolean, value: der.Der): der.Der {
  return der.seq(der.oid(oid), ...(critical ? [der.bool(true)] : []), der.octets(value));
}

export interface CertificateTemplate {
  readonly serial: Buffer;
  /** DER of the issuer Name (copied byte for byte from the issuer certificate's subject) */
  readonly issuer: Buffer;
  /** DER of the subject Name (an empty SEQUENCE for workload certificates, as Istio's CA) */
  readonly subject: Buffer;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly spki: Buffer;
  readonly isCa: boolean;
  /** CA path length constraint (only with isCa) */
  readonly pathLen?: number;
  readonly keyUsage: KeyUsage;
  readonly extKeyUsage?: readonly string[];
  readonly uris?: readonly string[];
  readonly dnsNames?: readonly string[];
  readonly authorityKeyId?: Buffer;
}

// Serials come from a pool of CSPRNG bytes refilled 4 KiB at a time (one OpenSSL call per 256 serials).
const serialPool = Buffer.alloc(4096);
let serialOffset = serialPool.length;

/** 16 random bytes, positive and never shortened (RFC 5280: ≤ 20 octets, unpredictable). */
export function randomSerial(): Buffer {
  if (serialOffset + 16 > serialPool.length) {
    crypto.randomFillSync(serialPool);
    serialOffset = 0;
  }
  const b = Buffer.from(serialPool.subarray(serialOffset, serialOffset + 16));
  serialOffset += 16;
  b[0] = (b[0]! & 0x7f) | 0x01;
  return b;
}

// The constraint extensions are the same for every workload certificate: encode each variant once.
const staticExtensions = new Map<string, der.Der>();
function constraintExtensions(t: CertificateTemplate): der.Der {
  const ku = t.keyUsage;
  const key = `${t.isCa}|${t.pathLen}|${+!!ku.digitalSignature}${+!!ku.keyEncipherment}${+!!ku.keyCertSign}${+!!ku.cRLSign}|${t.extKeyUsage?.join() ?? ''}`;
  let cached = staticExtensions.get(key);
  if (!cached) {
    const exts = [
      extension(OID.basicConstraints, true, der.seq(...(t.isCa ? [der.bool(true), ...(t.pathLen !== undefined ? [der.smallInt(t.pathLen)] : [])] : []))),
      extension(OID.keyUsage, true, keyUsageBits(t.keyUsage)),
    ];
    if (t.extKeyUsage && t.extKeyUsage.length > 0) exts.push(extension(OID.extKeyUsage, false, der.seq(...t.extKeyUsage.map(der.oid))));
    cached = Buffer.concat(exts);
    if (staticExtensions.size < 64) staticExtensions.set(key, cached);
  }
  return cached;
}

// A CA passes the same authorityKeyId Buffer for every certificate it signs: encode its extension once.
const authorityKeyIdExtensions = new WeakMap<Buffer, der.Der>();
function authorityKeyIdExtension(keyId: Buffer): der.Der {
  let ext = authorityKeyIdExtensions.get(keyId);
  if (!ext) {
    ext = extension(OID.authorityKeyIdentifier, false, der.seq(der.implicitPrimitive(0, keyId)));
    authorityKeyIdExtensions.set(keyId, ext);
  }
  return ext;
}

const VERSION_3 = der.explicit(0, der.smallInt(2));

// subjectKeyIdentifier of a 20-byte SHA-1 key id: a constant head, then the id
const SKI_HEAD = extension(OID.subjectKeyIdentifier, false, der.octets(Buffer.alloc(20))).subarray(0, -20);
function subjectKeyIdExtension(spki: Buffer): der.Der {
  return Buffer.concat([SKI_HEAD, keyIdentifier(spki)], SKI_HEAD.length + 20);
}

/** GeneralNames of the SAN extension: URIs [6], then DNS names [2]. */
function generalNames(t: CertificateTemplate): der.Der[] {
  const names: der.Der[] = [];
  for (const u of t.uris ?? []) names.push(der.implicitPrimitive(6, Buffer.from(u, 'ascii')));
  for (const d of t.dnsNames ?? []) names.push(der.implicitPrimitive(2, Buffer.from(d, 'ascii')));
  return names;
}

/** TBSCertificate DER for `t`. */
export function tbsCertificate(t: CertificateTemplate, signer: KeyObject): der.Der {
  const exts: der.Der[] = [constraintExtensions(t)];
  exts.push(subjectKeyIdExtension(t.spki));
  if (t.authorityKeyId) exts.push(authorityKeyIdExtension(t.authorityKeyId));
  const names = generalNames(t);
  // RFC 5280 §4.2.1.6: with an empty subject the SAN extension must be critical
  if (names.length > 0) exts.push(extension(OID.subjectAltName, t.subject.length <= 2, der.seq(...names)));
  return der.seq(
    VERSION_3,
    der.uint(t.serial),
    signatureAlgorithm(signer),
    t.issuer,
    der.validity(t.notBefore, t.notAfter),
    t.subject,
    t.spki,
    der.explicit(3, der.seq(...exts)),
  );
}

/** Signs on libuv's thread pool (async), so a burst of CSRs does not block the event loop. */
export function signAsync(data: Buffer, key: KeyObject): Promise<Buffer> {
  return new Promise((resolve, reject) => crypto.sign('sha256', data, key, (err, sig) => (err ? reject(err) : resolve(sig))));
}

/**
 * Builds and signs a certificate. RSA signatures (~0.6 ms) go to the thread pool; ECDSA ones (~0.05 ms)
 * are cheaper to make on the spot than to hand to another thread.
 */
export async function buildCertificate(t: CertificateTemplate, signer: KeyObject): Promise<Buffer> {
  if (signer.asymmetricKeyType === 'ec') return buildCertificateSync(t, signer);
  const tbs = tbsCertificate(t, signer);
  const sig = await signAsync(tbs, signer);
  return der.seq(tbs, signatureAlgorithm(signer), der.bits(sig));
}

export function buildCertificateSync(t: CertificateTemplate, signer: KeyObject): Buffer {
  const tbs = tbsCertificate(t, signer);
  return der.seq(tbs, signatureAlgorithm(signer), der.bits(crypto.sign('sha256', tbs, signer)));
}

// ── PEM ──

export function toPem(label: string, body: Buffer): string {
  // 64-column lines by slicing: a global regex over the base64 cost as much as building the certificate
  const b64 = body.toString('base64');
  let lines = '';
  for (let i = 0; i < b64.length; i += 64) lines += `${b64.slice(i, i + 64)}\n`;
  return `-----BEGIN ${label}-----\n${lines}-----END ${label}-----\n`;
}

/** Every PEM block with `label` in `text`, as DER. */
export function fromPemAll(text: string, label: string): Buffer[] {
  const re = new RegExp(`-----BEGIN ${label}-----([\\s\\S]*?)-----END ${label}-----`, 'g');
  return [...text.matchAll(re)].map((m) => Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64'));
}

export function splitPemCertificates(text: string): string[] {
  return fromPemAll(text, 'CERTIFICATE').map((d) => toPem('CERTIFICATE', d));
}

// ── reading certificates ──

export interface ParsedCertificate {
  readonly tbs: Buffer;
  readonly subject: Buffer;
  readonly issuer: Buffer;
  readonly spki: Buffer;
  readonly subjectKeyId?: Buffer;
}

/** The raw pieces of a certificate that signing needs (subject Name bytes, key id). */
export function parseCertificate(certDer: Buffer): ParsedCertificate {
  const [tbs] = der.children(der.expectTag(der.parse(certDer), der.TAG.SEQUENCE, 'Certificate'));
  const fields = der.children(der.expectTag(tbs, der.TAG.SEQUENCE, 'TBSCertificate'));
  let i = fields[0]?.tag === 0xa0 ? 1 : 0; // version
  i += 2; // serial, signature
  const issuer = fields[i++]!;
  i++; // validity
  const subject = fields[i++]!;
  const spki = fields[i++]!;
  let subjectKeyId: Buffer | undefined;
  const extsNode = fields.slice(i).find((f) => f.tag === 0xa3);
  if (extsNode) {
    for (const ext of der.children(der.children(extsNode)[0]!)) {
      const parts = der.children(ext);
      if (der.readOid(parts[0]!) === OID.subjectKeyIdentifier) {
        subjectKeyId = der.parse(parts[parts.length - 1]!.content).content;
      }
    }
  }
  return { tbs: tbs!.raw, subject: subject.raw, issuer: issuer.raw, spki: spki.raw, subjectKeyId };
}

// ── PKCS#10 ──

export class CsrError extends Error {}

export interface ParsedCsr {
  /** the requester's public key (SubjectPublicKeyInfo DER, re-exported by OpenSSL) */
  readonly spki: Buffer;
  readonly publicKey: KeyObject;
  /** URI SANs the CSR asks for (meshd never copies them into a certificate) */
  readonly uris: readonly string[];
  readonly dnsNames: readonly string[];
}

/** Parses and verifies a PKCS#10 request (PEM or DER); checks the key is one meshd issues for. */
export function parseCsr(input: string | Buffer): ParsedCsr {
  let body: Buffer;
  if (typeof input === 'string') {
    const blocks = fromPemAll(input, 'CERTIFICATE REQUEST');
    if (blocks.length !== 1) throw new CsrError('CSR must be exactly one PEM block "CERTIFICATE REQUEST"');
    body = blocks[0]!;
  } else {
    body = input;
  }
  try {
    const [cri, algo, sig] = der.children(der.expectTag(der.parse(body), der.TAG.SEQUENCE, 'CertificationRequest'));
    const criFields = der.children(der.expectTag(cri, der.TAG.SEQUENCE, 'CertificationRequestInfo'));
    const spkiNode = der.expectTag(criFields[2], der.TAG.SEQUENCE, 'subjectPKInfo');
    let publicKey: KeyObject;
    try {
      publicKey = crypto.createPublicKey({ key: spkiNode.raw, format: 'der', type: 'spki' });
    } catch (err) {
      throw new CsrError(`CSR public key: ${(err as Error).message}`);
    }
    checkKey(publicKey);
    const sigOid = der.readOid(der.children(der.expectTag(algo, der.TAG.SEQUENCE, 'signatureAlgorithm'))[0]!);
    const hash = SIGNATURE_HASH[sigOid];
    if (!hash) throw new CsrError(`CSR signature algorithm ${sigOid} is not supported (want SHA-2 with RSA or ECDSA)`);
    if (!crypto.verify(hash, cri!.raw, publicKey, der.readBits(sig!))) throw new CsrError('CSR signature does not verify');
    const uris: string[] = [];
    const dnsNames: string[] = [];
    const attrs = criFields[3];
    if (attrs && attrs.tag === 0xa0) {
      for (const attr of der.children(attrs)) {
        const [type, values] = der.children(attr);
        if (der.readOid(type!) !== OID.extensionRequest) continue;
        for (const exts of der.children(values!)) {
          for (const ext of der.children(exts)) {
            const parts = der.children(ext);
            if (der.readOid(parts[0]!) !== OID.subjectAltName) continue;
            for (const gn of der.children(der.parse(parts[parts.length - 1]!.content))) {
              if (gn.tag === 0x86) uris.push(gn.content.toString('ascii'));
              else if (gn.tag === 0x82) dnsNames.push(gn.content.toString('ascii'));
            }
          }
        }
      }
    }
    return { spki: publicKey.export({ type: 'spki', format: 'der' }), publicKey, uris, dnsNames };
  } catch (err) {
    if (err instanceof CsrError) throw err;
    throw new CsrError(`malformed CSR: ${(err as Error).message}`);
  }
}

function checkKey(key: KeyObject): void {
  const d = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'rsa') {
    if ((d.modulusLength ?? 0) < 2048) throw new CsrError(`CSR RSA key of ${d.modulusLength} bits: at least 2048 required`);
    if ((d.modulusLength ?? 0) > 8192) throw new CsrError(`CSR RSA key of ${d.modulusLength} bits: at most 8192`);
    return;
  }
  if (key.asymmetricKeyType === 'ec') {
    if (d.namedCurve === 'prime256v1' || d.namedCurve === 'secp384r1') return;
    throw new CsrError(`CSR EC curve ${d.namedCurve}: want P-256 or P-384`);
  }
  throw new CsrError(`CSR key type ${key.asymmetricKeyType} is not supported (want RSA or ECDSA)`);
}

/** A PKCS#10 request for `key` with URI/DNS SANs and an empty subject (what meshd agent sends). */
export function createCsr(key: KeyObject, { uris = [], dnsNames = [] }: { uris?: readonly string[]; dnsNames?: readonly string[] }): string {
  const san = der.seq(...uris.map((u) => der.implicitPrimitive(6, Buffer.from(u, 'ascii'))), ...dnsNames.map((n) => der.implicitPrimitive(2, Buffer.from(n, 'ascii'))));
  const extReq = der.seq(der.oid(OID.extensionRequest), der.set(der.seq(extension(OID.subjectAltName, true, san))));
  const cri = der.seq(der.smallInt(0), der.seq(), spkiDer(key), der.tlv(0xa0, extReq));
  const sig = crypto.sign('sha256', cri, key);
  return toPem('CERTIFICATE REQUEST', der.seq(cri, signatureAlgorithm(key), der.bits(sig)));
}
