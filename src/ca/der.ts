// A small DER (ASN.1 Distinguished Encoding Rules) writer and reader: just what X.509 certificates and
// PKCS#10 requests need. The signing itself is Node's native crypto (OpenSSL); see authority.ts for why
// meshd builds certificates by hand instead of using node-forge or @peculiar/x509.

export type Der = Buffer;

export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/** One TLV (one allocation). */
export function tlv(tag: number, content: Buffer): Der {
  return constructed(tag, [content]);
}

/** Bytes the tag and length octets of a TLV with `len` content bytes take. */
export function headerLength(len: number): number {
  return len < 0x80 ? 2 : len < 0x100 ? 3 : len < 0x10000 ? 4 : len < 0x1000000 ? 5 : 6;
}

/** Bytes a whole TLV with `len` content bytes takes. */
export const tlvLength = (len: number): number => headerLength(len) + len;

/**
 * Writes the tag and length octets of a TLV at `p` and returns where its content starts: lets a caller
 * that knows every length up front write nested TLVs into one buffer instead of copying each level.
 */
export function writeHeader(out: Buffer, p: number, tag: number, len: number): number {
  const header = headerLength(len);
  out[p] = tag;
  if (header === 2) out[p + 1] = len;
  else {
    out[p + 1] = 0x80 | (header - 2);
    for (let i = header - 1, v = len; i >= 2; i--, v = Math.floor(v / 256)) out[p + i] = v & 0xff;
  }
  return p + header;
}

/** A TLV whose content is `items` back to back, written into one buffer. */
function constructed(tag: number, items: readonly Buffer[]): Der {
  let len = 0;
  for (const it of items) len += it.length;
  const out = Buffer.allocUnsafe(tlvLength(len));
  let p = writeHeader(out, 0, tag, len);
  for (const it of items) {
    it.copy(out, p);
    p += it.length;
  }
  return out;
}

export const seq = (...items: Der[]): Der => constructed(TAG.SEQUENCE, items);
export const set = (...items: Der[]): Der => constructed(TAG.SET, items);
export const nul = (): Der => tlv(TAG.NULL, Buffer.alloc(0));
export const bool = (v: boolean): Der => tlv(TAG.BOOLEAN, Buffer.from([v ? 0xff : 0x00]));
export const octets = (b: Buffer): Der => tlv(TAG.OCTET_STRING, b);
export const utf8 = (s: string): Der => tlv(TAG.UTF8_STRING, Buffer.from(s, 'utf8'));
export const ia5 = (s: string): Der => tlv(TAG.IA5_STRING, Buffer.from(s, 'ascii'));
const NO_UNUSED_BITS = Buffer.from([0]);
/** BIT STRING with no unused bits. */
export const bits = (b: Buffer): Der => constructed(TAG.BIT_STRING, [NO_UNUSED_BITS, b]);
/** [n] EXPLICIT (constructed context tag). */
export const explicit = (n: number, inner: Der): Der => tlv(0xa0 | n, inner);
/** [n] IMPLICIT primitive (e.g. GeneralName dNSName [2], uniformResourceIdentifier [6]). */
export const implicitPrimitive = (n: number, content: Buffer): Der => tlv(0x80 | n, content);

/** A non-negative INTEGER from big-endian magnitude bytes (a leading 0 added when the top bit is set). */
export function uint(magnitude: Buffer): Der {
  let i = 0;
  while (i < magnitude.length - 1 && magnitude[i] === 0) i++;
  let b = magnitude.subarray(i);
  if (b.length === 0) b = Buffer.from([0]);
  if (b[0]! & 0x80) b = Buffer.concat([Buffer.from([0]), b]);
  return tlv(TAG.INTEGER, b);
}

export function smallInt(n: number): Der {
  const hex = n.toString(16);
  return uint(Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex'));
}

const oidCache = new Map<string, Der>();

/** OBJECT IDENTIFIER (memoised: a CA encodes the same few OIDs for every certificate). */
export function oid(dotted: string): Der {
  let cached = oidCache.get(dotted);
  if (!cached) {
    cached = encodeOid(dotted);
    if (oidCache.size < 256) oidCache.set(dotted, cached);
  }
  return cached;
}

function encodeOid(dotted: string): Der {
  const parts = dotted.split('.').map(Number);
  if (parts.length < 2 || parts.some((p) => !Number.isInteger(p) || p < 0)) throw new Error(`bad OID ${dotted}`);
  const out: number[] = [parts[0]! * 40 + parts[1]!];
  for (const p of parts.slice(2)) {
    const chunk: number[] = [p & 0x7f];
    for (let v = Math.floor(p / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift((v & 0x7f) | 0x80);
    out.push(...chunk);
  }
  return tlv(TAG.OID, Buffer.from(out));
}

/** RFC 5280: UTCTime (YYMMDDHHMMSSZ) through 2049, GeneralizedTime (YYYYMMDDHHMMSSZ) from 2050. */
export function time(d: Date): Der {
  const out = Buffer.allocUnsafe(timeLength(d));
  writeTime(out, 0, d);
  return out;
}

/**
 * X.509 Validity, SEQUENCE { notBefore, notAfter }, in one allocation with the digits written straight
 * into it: every certificate carries one.
 */
export function validity(notBefore: Date, notAfter: Date): Der {
  const out = Buffer.allocUnsafe(validityLength(notBefore, notAfter));
  writeValidity(out, 0, notBefore, notAfter);
  return out;
}

/** Bytes the whole Validity TLV takes (30–34: its length always fits one octet). */
export const validityLength = (notBefore: Date, notAfter: Date): number => 2 + timeLength(notBefore) + timeLength(notAfter);

/** Writes the Validity TLV at `p`; returns the offset after it. */
export function writeValidity(out: Buffer, p: number, notBefore: Date, notAfter: Date): number {
  out[p] = TAG.SEQUENCE;
  out[p + 1] = timeLength(notBefore) + timeLength(notAfter);
  return writeTime(out, writeTime(out, p + 2, notBefore), notAfter);
}

const isUtcTime = (year: number) => year < 2050 && year >= 1950;
const timeLength = (d: Date) => (isUtcTime(d.getUTCFullYear()) ? 15 : 17);

/** Writes the TLV of `d` at `p`; returns the offset after it. */
function writeTime(out: Buffer, p: number, d: Date): number {
  const year = d.getUTCFullYear();
  const utc = isUtcTime(year);
  out[p] = utc ? TAG.UTC_TIME : TAG.GENERALIZED_TIME;
  out[p + 1] = utc ? 13 : 15;
  p += 2;
  p = utc ? writeDigits(out, p, year % 100, 2) : writeDigits(out, p, year, 4);
  p = writeDigits(out, p, d.getUTCMonth() + 1, 2);
  p = writeDigits(out, p, d.getUTCDate(), 2);
  p = writeDigits(out, p, d.getUTCHours(), 2);
  p = writeDigits(out, p, d.getUTCMinutes(), 2);
  p = writeDigits(out, p, d.getUTCSeconds(), 2);
  out[p] = 0x5a; // 'Z'
  return p + 1;
}

function writeDigits(out: Buffer, p: number, n: number, width: number): number {
  for (let i = width - 1; i >= 0; i--, n = Math.floor(n / 10)) out[p + i] = 0x30 + (n % 10);
  return p + width;
}

// ── reading ──

export interface Node {
  readonly tag: number;
  /** the whole TLV */
  readonly raw: Buffer;
  readonly content: Buffer;
}

export class DerError extends Error {}

/** Where one TLV's content lies in the buffer it was read from. */
export interface Header {
  readonly tag: number;
  /** offset of the content */
  readonly start: number;
  /** offset after the content */
  readonly end: number;
}

/** Reads the tag and length of the TLV at `offset` (no Buffer views: for walking to one field). */
export function readHeader(buf: Buffer, offset = 0): Header {
  if (offset + 2 > buf.length) throw new DerError('truncated DER');
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new DerError('multi-byte tags are not supported');
  let len = buf[offset + 1]!;
  let p = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw new DerError('unsupported DER length');
    if (p + n > buf.length) throw new DerError('truncated DER length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[p + i]!;
    p += n;
  }
  if (p + len > buf.length) throw new DerError('truncated DER content');
  return { tag, start: p, end: p + len };
}

/** Reads one TLV at `offset`; returns it and the offset after it. */
export function readNode(buf: Buffer, offset = 0): { node: Node; next: number } {
  const { tag, start, end } = readHeader(buf, offset);
  return { node: { tag, raw: buf.subarray(offset, end), content: buf.subarray(start, end) }, next: end };
}

/** Parses exactly one TLV filling `buf`. */
export function parse(buf: Buffer): Node {
  const { node, next } = readNode(buf, 0);
  if (next !== buf.length) throw new DerError('trailing bytes after DER value');
  return node;
}

/** The children of a constructed node. */
export function children(node: Node): Node[] {
  const out: Node[] = [];
  for (let p = 0; p < node.content.length; ) {
    const { node: child, next } = readNode(node.content, p);
    out.push(child);
    p = next;
  }
  return out;
}

export function expectTag(node: Node | undefined, tag: number, what: string): Node {
  if (!node || node.tag !== tag) throw new DerError(`${what}: expected tag 0x${tag.toString(16)}, got ${node ? `0x${node.tag.toString(16)}` : 'nothing'}`);
  return node;
}

export function readOid(node: Node): string {
  expectTag(node, TAG.OID, 'OID');
  const b = node.content;
  if (b.length === 0) throw new DerError('empty OID');
  const parts = [Math.floor(b[0]! / 40), b[0]! % 40];
  let v = 0;
  for (let i = 1; i < b.length; i++) {
    v = v * 128 + (b[i]! & 0x7f);
    if (!(b[i]! & 0x80)) {
      parts.push(v);
      v = 0;
    }
  }
  return parts.join('.');
}

/** BIT STRING content without the unused-bits byte. */
export function readBits(node: Node): Buffer {
  expectTag(node, TAG.BIT_STRING, 'BIT STRING');
  return node.content.subarray(1);
}

export function readString(node: Node): string {
  return node.content.toString(node.tag === TAG.UTF8_STRING ? 'utf8' : 'latin1');
}
