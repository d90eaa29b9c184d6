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
  // SPKI = SEQUENCE { algorithm, subjectPublicKey BIT STRING }: step over the algorithm without building
  // a tree (every issued certificate needs this)
  const outer = der.readHeader(spki);
  const bits = der.readHeader(spki, der.readHeader(spki, outer.start).end);
  if (outer.tag !== der.TAG.SEQUENCE || bits.tag !== der.TAG.BIT_STRING) throw new der.DerError('SubjectPublicKeyInfo: expected SEQUENCE { algorithm, BIT STRING }');
  const key = spki.subarray(bits.start + 1, bits.end);
  // one-shot crypto.hash (no Hash object) where Node has it (≥ 20.12)
  return oneShotHash ? oneShotHash('sha1', key, 'buffer') : crypto.createHash('sha1').update(key).digest();
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

/** What every certificate one issuer signs for one purpose has in common. */
export interface CertificateProfileOptions {
  /** DER of the issuer Name (copied byte for byte from the issuer certificate's subject) */
  readonly issuer: Buffer;
  /** DER of the subject Name (an empty SEQUENCE for workload certificates, as Istio's CA) */
  readonly subject: Buffer;
  readonly isCa: boolean;
  /** CA path length constraint (only with isCa) */
  readonly pathLen?: number;
  readonly keyUsage: KeyUsage;
  readonly extKeyUsage?: readonly string[];
  readonly authorityKeyId?: Buffer;
}

/** What differs between two certificates of one profile. */
export interface CertificateFields {
  /** big-endian magnitude; default: 16 fresh CSPRNG bytes (randomSerial) */
  readonly serial?: Buffer;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly spki: Buffer;
  readonly uris?: readonly string[];
  readonly dnsNames?: readonly string[];
}

export type CertificateTemplate = CertificateProfileOptions & CertificateFields;

// Serials come from a pool of CSPRNG bytes refilled 4 KiB at a time (one OpenSSL call per 256 serials).
const SERIAL_BYTES = 16;
const serialPool = Buffer.alloc(4096);
let serialOffset = serialPool.length;

/** Writes 16 random bytes at `p`, positive and never shortened (RFC 5280: ≤ 20 octets, unpredictable). */
function writeRandomSerial(out: Buffer, p: number): number {
  if (serialOffset + SERIAL_BYTES > serialPool.length) {
    crypto.randomFillSync(serialPool);
    serialOffset = 0;
  }
  serialPool.copy(out, p, serialOffset, serialOffset + SERIAL_BYTES);
  serialOffset += SERIAL_BYTES;
  out[p] = (out[p]! & 0x7f) | 0x01;
  return p + SERIAL_BYTES;
}

/** A fresh serial number (what a certificate gets when CertificateFields.serial is left out). */
export function randomSerial(): Buffer {
  const b = Buffer.allocUnsafe(SERIAL_BYTES);
  writeRandomSerial(b, 0);
  return b;
}

const VERSION_3 = der.explicit(0, der.smallInt(2));
const SAN_OID = der.oid(OID.subjectAltName);
const CRITICAL = der.bool(true);
const KEY_ID_BYTES = 20;
// subjectKeyIdentifier of a 20-byte SHA-1 key id: a constant head, then the id
const SKI_HEAD = extension(OID.subjectKeyIdentifier, false, der.octets(Buffer.alloc(KEY_ID_BYTES))).subarray(0, -KEY_ID_BYTES);

/** The lengths of one TBSCertificate, computed before a byte of it is written. */
interface TbsLayout {
  /** leading zero octets of the given serial to skip, and whether a 0x00 must precede it */
  readonly serialSkip: number;
  readonly serialPad: boolean;
  readonly serialLen: number;
  readonly namesLen: number;
  readonly sanLen: number;
  readonly extsLen: number;
  readonly tbsLen: number;
  /** the whole TLV */
  readonly total: number;
}

// signSync writes each TBSCertificate here, signs it, and copies it into the certificate: one Buffer
// fewer per certificate. A Buffer allocated between P-256 signatures costs far more than its bytes
// (~1–2 µs against a ~27 µs crypto.sign, measured), so the hot path allocates as few as it can.
// Safe to share: it is written and read within one synchronous call.
let scratch = Buffer.allocUnsafeSlow(2048);

/**
 * A signing key and everything its certificates share (signature algorithm, issuer and subject names,
 * basicConstraints, keyUsage, extKeyUsage, authorityKeyIdentifier), encoded once. A TBSCertificate is
 * written in one pass around the per-certificate fields, with every length computed first: nesting
 * der.ts values copied each level again and allocated a Buffer per TLV. The CA builds one profile per
 * loaded key (authority.ts), so rotating the key replaces the profile with it.
 *
 * Only CA certificates get a subjectKeyIdentifier (RFC 5280: MUST for CAs, SHOULD for end entities):
 * istiod's workload certificates have none (Go's x509 adds it to CA certificates only), nothing reads
 * it from a leaf, and its SHA-1 cost ~8 % of an ECDSA workload certificate's CPU.
 */
export class CertificateProfile {
  readonly signatureAlgorithm: der.Der;
  /** signature AlgorithmIdentifier, then the issuer Name: the fields between serial and validity */
  private readonly afterSerial: Buffer;
  private readonly subject: Buffer;
  /** basicConstraints, keyUsage, extKeyUsage, then (CAs) the head of subjectKeyIdentifier */
  private readonly leadingExtensions: Buffer;
  /** a key id (subjectKeyIdentifier) follows leadingExtensions: CA certificates only */
  private readonly subjectKeyId: boolean;
  private readonly authorityKeyIdExtension: Buffer;
  /** RFC 5280 §4.2.1.6: with an empty subject the SAN extension must be critical */
  private readonly criticalSan: boolean;

  constructor(
    readonly signer: KeyObject,
    o: CertificateProfileOptions,
  ) {
    this.signatureAlgorithm = signatureAlgorithm(signer);
    this.afterSerial = Buffer.concat([this.signatureAlgorithm, o.issuer]);
    this.subject = o.subject;
    const exts = [
      extension(OID.basicConstraints, true, der.seq(...(o.isCa ? [der.bool(true), ...(o.pathLen !== undefined ? [der.smallInt(o.pathLen)] : [])] : []))),
      extension(OID.keyUsage, true, keyUsageBits(o.keyUsage)),
    ];
    if (o.extKeyUsage && o.extKeyUsage.length > 0) exts.push(extension(OID.extKeyUsage, false, der.seq(...o.extKeyUsage.map(der.oid))));
    this.subjectKeyId = o.isCa;
    if (this.subjectKeyId) exts.push(SKI_HEAD);
    this.leadingExtensions = Buffer.concat(exts);
    this.authorityKeyIdExtension = o.authorityKeyId ? extension(OID.authorityKeyIdentifier, false, der.seq(der.implicitPrimitive(0, o.authorityKeyId))) : Buffer.alloc(0);
    this.criticalSan = o.subject.length <= 2;
  }

  /** TBSCertificate DER: the fields in RFC 5280 order, extensions as above, then subjectAltName (URIs, then DNS names). */
  tbs(f: CertificateFields): der.Der {
    const layout = this.layout(f);
    const out = Buffer.allocUnsafe(layout.total);
    this.write(out, f, layout);
    return out;
  }

  /** The signed certificate, synchronously. */
  signSync(f: CertificateFields): der.Der {
    const layout = this.layout(f);
    if (scratch.length < layout.total) scratch = Buffer.allocUnsafeSlow(2 * layout.total);
    this.write(scratch, f, layout);
    const tbs = scratch.subarray(0, layout.total);
    return this.certificate(tbs, crypto.sign('sha256', tbs, this.signer));
  }

  /** The signed certificate, the signature made on libuv's thread pool so the event loop keeps running. */
  async signOnThreadPool(f: CertificateFields): Promise<der.Der> {
    const tbs = this.tbs(f); // its own buffer: the signature is made on another thread
    return this.certificate(tbs, await signAsync(tbs, this.signer));
  }

  /** Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING }, one allocation. */
  private certificate(tbs: Buffer, sig: Buffer): der.Der {
    const len = tbs.length + this.signatureAlgorithm.length + der.tlvLength(sig.length + 1);
    const out = Buffer.allocUnsafe(der.tlvLength(len));
    let p = der.writeHeader(out, 0, der.TAG.SEQUENCE, len);
    p += tbs.copy(out, p);
    p += this.signatureAlgorithm.copy(out, p);
    p = der.writeHeader(out, p, der.TAG.BIT_STRING, sig.length + 1);
    out[p++] = 0; // no unused bits
    sig.copy(out, p);
    return out;
  }

  private layout(f: CertificateFields): TbsLayout {
    // serial: a non-negative INTEGER, leading zero octets dropped, one added when the top bit is set
    let serialSkip = 0;
    let serialPad = false;
    let serialLen = SERIAL_BYTES; // a fresh one is positive with a non-zero first octet
    if (f.serial) {
      while (serialSkip < f.serial.length - 1 && f.serial[serialSkip] === 0) serialSkip++;
      serialPad = f.serial.length === 0 || (f.serial[serialSkip]! & 0x80) !== 0;
      serialLen = f.serial.length - serialSkip + (serialPad ? 1 : 0);
    }
    let namesLen = 0;
    for (const u of f.uris ?? []) namesLen += der.tlvLength(u.length);
    for (const d of f.dnsNames ?? []) namesLen += der.tlvLength(d.length);
    const sanLen = namesLen === 0 ? 0 : SAN_OID.length + (this.criticalSan ? CRITICAL.length : 0) + der.tlvLength(der.tlvLength(namesLen));
    const extsLen = this.leadingExtensions.length + (this.subjectKeyId ? KEY_ID_BYTES : 0) + this.authorityKeyIdExtension.length + (sanLen === 0 ? 0 : der.tlvLength(sanLen));
    const tbsLen =
      VERSION_3.length +
      der.tlvLength(serialLen) +
      this.afterSerial.length +
      der.validityLength(f.notBefore, f.notAfter) +
      this.subject.length +
      f.spki.length +
      der.tlvLength(der.tlvLength(extsLen));
    return { serialSkip, serialPad, serialLen, namesLen, sanLen, extsLen, tbsLen, total: der.tlvLength(tbsLen) };
  }

  private write(out: Buffer, f: CertificateFields, l: TbsLayout): void {
    let p = der.writeHeader(out, 0, der.TAG.SEQUENCE, l.tbsLen);
    p += VERSION_3.copy(out, p);
    p = der.writeHeader(out, p, der.TAG.INTEGER, l.serialLen);
    if (!f.serial) p = writeRandomSerial(out, p);
    else {
      if (l.serialPad) out[p++] = 0;
      p += f.serial.copy(out, p, l.serialSkip);
    }
    p += this.afterSerial.copy(out, p);
    p = der.writeValidity(out, p, f.notBefore, f.notAfter);
    p += this.subject.copy(out, p);
    p += f.spki.copy(out, p);
    p = der.writeHeader(out, p, 0xa3, der.tlvLength(l.extsLen));
    p = der.writeHeader(out, p, der.TAG.SEQUENCE, l.extsLen);
    p += this.leadingExtensions.copy(out, p);
    if (this.subjectKeyId) p += keyIdentifier(f.spki).copy(out, p);
    p += this.authorityKeyIdExtension.copy(out, p);
    if (l.sanLen > 0) {
      p = der.writeHeader(out, p, der.TAG.SEQUENCE, l.sanLen);
      p += SAN_OID.copy(out, p);
      if (this.criticalSan) p += CRITICAL.copy(out, p);
      p = der.writeHeader(out, p, der.TAG.OCTET_STRING, der.tlvLength(l.namesLen));
      p = der.writeHeader(out, p, der.TAG.SEQUENCE, l.namesLen);
      // GeneralName uniformResourceIdentifier [6] / dNSName [2]: IA5String content
      for (const u of f.uris ?? []) p = writeAscii(out, der.writeHeader(out, p, 0x86, u.length), u);
      for (const d of f.dnsNames ?? []) p = writeAscii(out, der.writeHeader(out, p, 0x82, d.length), d);
    }
    // a layout/write disagreement would sign garbage: refuse instead
    if (p !== l.total) throw new Error(`TBSCertificate: wrote ${p} of ${l.total} bytes`);
  }
}

/** One byte per UTF-16 unit, as Buffer.from(s, 'ascii'): the length the layout counted. */
function writeAscii(out: Buffer, p: number, s: string): number {
  return p + out.write(s, p, s.length, 'ascii');
}

/** A one-off certificate (a root); a CA issuing many keeps a CertificateProfile. */
export function buildCertificateSync(t: CertificateTemplate, signer: KeyObject): Buffer {
  return new CertificateProfile(signer, t).signSync(t);
}

function signAsync(data: Buffer, key: KeyObject): Promise<Buffer> {
  return new Promise((resolve, reject) => crypto.sign('sha256', data, key, (err, sig) => (err ? reject(err) : resolve(sig))));
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
