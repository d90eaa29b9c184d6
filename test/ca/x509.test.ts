import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import crypto, { type KeyObject } from 'node:crypto';
import * as der from '../../src/ca/der.js';
import { CertificateProfile, encodeName, generateKeyPair, keyIdentifier, OID, randomSerial, spkiDer, type CertificateTemplate } from '../../src/ca/x509.js';
import { openssl } from '../support/openssl.js';

// CertificateProfile writes a TBSCertificate in one pass from precomputed pieces and lengths worked out
// in advance. Here it is checked byte for byte against the plain nested encoding built from der.ts
// values (what meshd did before, and the shape RFC 5280 spells out), over the shapes that move a length
// across a DER boundary: long SANs, a >64 KiB TBS, GeneralizedTime, serials needing a pad or a strip.

const ext = (oid: string, critical: boolean, value: Buffer) => der.seq(der.oid(oid), ...(critical ? [der.bool(true)] : []), der.octets(value));

function referenceTbs(t: CertificateTemplate & { serial: Buffer }, signer: KeyObject): Buffer {
  const alg = signer.asymmetricKeyType === 'rsa' ? der.seq(der.oid(OID.sha256WithRSA), der.nul()) : der.seq(der.oid(OID.ecdsaSha256));
  const bits = [t.keyUsage.digitalSignature && 0, t.keyUsage.keyEncipherment && 2, t.keyUsage.keyCertSign && 5, t.keyUsage.cRLSign && 6].filter((b): b is number => typeof b === 'number');
  const byte = bits.reduce((a, b) => a | (0x80 >> b), 0);
  const exts = [
    ext(OID.basicConstraints, true, der.seq(...(t.isCa ? [der.bool(true), ...(t.pathLen !== undefined ? [der.smallInt(t.pathLen)] : [])] : []))),
    ext(OID.keyUsage, true, der.tlv(der.TAG.BIT_STRING, Buffer.from([7 - Math.max(...bits), byte]))),
  ];
  if (t.extKeyUsage?.length) exts.push(ext(OID.extKeyUsage, false, der.seq(...t.extKeyUsage.map(der.oid))));
  if (t.isCa) {
    // RFC 5280 §4.2.1.2 method 1; CA certificates only, as istiod
    const [, spkiBits] = der.children(der.parse(t.spki));
    exts.push(ext(OID.subjectKeyIdentifier, false, der.octets(crypto.createHash('sha1').update(der.readBits(spkiBits!)).digest())));
  }
  if (t.authorityKeyId) exts.push(ext(OID.authorityKeyIdentifier, false, der.seq(der.implicitPrimitive(0, t.authorityKeyId))));
  const names = [...(t.uris ?? []).map((u) => der.implicitPrimitive(6, Buffer.from(u, 'ascii'))), ...(t.dnsNames ?? []).map((d) => der.implicitPrimitive(2, Buffer.from(d, 'ascii')))];
  if (names.length > 0) exts.push(ext(OID.subjectAltName, t.subject.length <= 2, der.seq(...names)));
  return der.seq(der.explicit(0, der.smallInt(2)), der.uint(t.serial), alg, t.issuer, der.validity(t.notBefore, t.notAfter), t.subject, t.spki, der.explicit(3, der.seq(...exts)));
}

const ec = generateKeyPair('ec').privateKey;
const rsa = generateKeyPair('rsa').privateKey;
const issuer = encodeName([{ oid: OID.organization, value: 'cluster.local' }]);
const workload = {
  issuer,
  subject: Buffer.from([0x30, 0x00]),
  isCa: false,
  keyUsage: { digitalSignature: true, keyEncipherment: true },
  extKeyUsage: [OID.serverAuth, OID.clientAuth],
  authorityKeyId: keyIdentifier(spkiDer(ec)),
};
const now = new Date('2031-05-06T07:08:09Z');
const day = new Date(now.getTime() + 864e5);

const cases: [string, KeyObject, CertificateTemplate & { serial: Buffer }][] = [
  ['ECDSA CA, P-256 workload key, one SPIFFE URI', ec, { ...workload, serial: randomSerial(), notBefore: now, notAfter: day, spki: spkiDer(generateKeyPair('ec').publicKey), uris: ['spiffe://cluster.local/ns/default/sa/a'] }],
  ['RSA CA, RSA workload key, URIs and DNS names', rsa, { ...workload, serial: randomSerial(), notBefore: now, notAfter: day, spki: spkiDer(rsa), uris: ['spiffe://td/ns/a/sa/b', 'spiffe://td/ns/c/sa/d'], dnsNames: ['istiod.istio-system.svc', 'meshd.local'] }],
  ['no SAN, a non-empty subject, a CA with pathLen, no EKU or AKI', ec, { issuer, subject: issuer, isCa: true, pathLen: 0, keyUsage: { keyCertSign: true, cRLSign: true }, serial: Buffer.from([1]), notBefore: now, notAfter: day, spki: spkiDer(ec) }],
  ['SAN not critical beside a subject', ec, { ...workload, subject: issuer, serial: randomSerial(), notBefore: now, notAfter: day, spki: spkiDer(ec), dnsNames: ['a.example'] }],
  ['a 200-character URI (long-form lengths at every level)', ec, { ...workload, serial: randomSerial(), notBefore: now, notAfter: day, spki: spkiDer(ec), uris: [`spiffe://cluster.local/ns/default/sa/${'x'.repeat(163)}`] }],
  ['a TBS over 64 KiB (three length octets), GeneralizedTime after 2049', rsa, { ...workload, serial: randomSerial(), notBefore: now, notAfter: new Date('2051-01-01T00:00:00Z'), spki: spkiDer(ec), dnsNames: Array.from({ length: 1800 }, (_, i) => `host-${i}.a-rather-long-namespace.svc.cluster.local`) }],
  ['a serial with leading zeros and the top bit set', ec, { ...workload, serial: Buffer.from([0, 0, 0x80, 1, 2]), notBefore: now, notAfter: day, spki: spkiDer(ec), uris: ['spiffe://td/ns/a/sa/b'] }],
  ['an all-zero serial', ec, { ...workload, serial: Buffer.from([0, 0]), notBefore: now, notAfter: day, spki: spkiDer(ec), uris: ['spiffe://td/ns/a/sa/b'] }],
];

describe('CertificateProfile', () => {
  for (const [name, signer, t] of cases) {
    it(`writes the same TBSCertificate as the nested encoding: ${name}`, () => {
      const profile = new CertificateProfile(signer, t);
      assert.deepEqual(profile.tbs(t), referenceTbs(t, signer));
      // the signed certificate wraps that TBS, and the signature verifies over it
      const cert = profile.signSync(t);
      const [tbs, alg, sig] = der.children(der.parse(cert));
      assert.deepEqual(tbs!.raw, referenceTbs(t, signer));
      assert.deepEqual(alg!.raw, profile.signatureAlgorithm);
      assert.ok(crypto.verify('sha256', tbs!.raw, crypto.createPublicKey(signer), der.readBits(sig!)));
      assert.equal(new crypto.X509Certificate(cert).serialNumber.replace(/^0+/, '') || '0', t.serial.toString('hex').replace(/^0+/, '').toUpperCase() || '0');
    });
  }

  it('signs on the thread pool to the same TBS', async () => {
    const [, signer, t] = cases[1]!;
    const cert = await new CertificateProfile(signer, t).signOnThreadPool(t);
    const [tbs, , sig] = der.children(der.parse(cert));
    assert.deepEqual(tbs!.raw, referenceTbs(t, signer));
    assert.ok(crypto.verify('sha256', tbs!.raw, crypto.createPublicKey(signer), der.readBits(sig!)));
  });

  it('draws a fresh positive 16-byte serial when none is given, and OpenSSL reads the result', () => {
    const [, signer, t] = cases[0]!;
    const { serial: _, ...fields } = t;
    const profile = new CertificateProfile(signer, t);
    const serials = new Set<string>();
    for (let i = 0; i < 300; i++) {
      // 300 > the 256 serials one pool refill holds: crosses a refill
      const cert = profile.signSync(fields);
      const [tbs] = der.children(der.parse(cert));
      const serial = der.children(tbs!)[1]!;
      assert.equal(serial.tag, der.TAG.INTEGER);
      assert.equal(serial.content.length, 16);
      assert.ok(serial.content[0]! > 0 && serial.content[0]! < 0x80, 'positive, not shortened');
      assert.deepEqual(tbs!.raw, referenceTbs({ ...fields, ...workload, serial: serial.content }, signer));
      serials.add(serial.content.toString('hex'));
      if (i === 0) {
        const pem = `-----BEGIN CERTIFICATE-----\n${cert.toString('base64')}\n-----END CERTIFICATE-----\n`;
        const text = openssl(['x509', '-noout', '-text'], pem);
        assert.equal(text.status, 0, text.out);
        assert.match(text.out, /X509v3 Subject Alternative Name: critical\s+URI:spiffe:\/\/cluster\.local\/ns\/default\/sa\/a/);
      }
    }
    assert.equal(serials.size, 300);
  });
});
