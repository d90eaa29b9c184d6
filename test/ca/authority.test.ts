import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CA_FILES, CertificateAuthority, createSelfSignedRoot } from '../../src/ca/authority.js';
import { createCsr, CsrError, generateKeyPair, parseCsr } from '../../src/ca/x509.js';
import { silentLogger } from '../../src/telemetry/log.js';
import { openssl, opensslVerify } from '../support/openssl.js';

// The CA: self-signed root creation and persistence, issued leaf certificates checked by OpenSSL and by
// Node's X509Certificate, plugged `cacerts` with hot reload, CSR verification.

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'meshd-ca-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function issue(ca: CertificateAuthority, uri: string, ttlMs: number, type: 'rsa' | 'ec' = 'rsa') {
  const { privateKey } = generateKeyPair(type);
  const csr = parseCsr(createCsr(privateKey, { uris: [uri] }));
  return { key: privateKey, ...(await ca.sign(csr, { uris: [uri], ttlMs })) };
}

describe('CertificateAuthority (self-signed)', () => {
  for (const keyType of ['rsa', 'ec'] as const) {
    it(`creates a 10-year ${keyType} root, persists it 0600, and keeps it across restarts`, async () => {
      const dir = path.join(tmp, `self-${keyType}`);
      const ca = CertificateAuthority.open({ dir, trustDomain: 'cluster.local', keyType, log: silentLogger, watchIntervalMs: 0 });
      const root = new crypto.X509Certificate(ca.rootPem);
      assert.equal(root.ca, true);
      assert.equal(root.subject, 'O=cluster.local');
      const years = (Date.parse(root.validTo) - Date.parse(root.validFrom)) / (365 * 24 * 3600e3);
      assert.ok(years > 9.99 && years < 10.01, `root lifetime ${years} years`);
      assert.equal(root.publicKey.asymmetricKeyType, keyType);
      if (keyType === 'rsa') assert.equal(root.publicKey.asymmetricKeyDetails?.modulusLength, 2048);
      else assert.equal(root.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
      assert.equal(fs.statSync(path.join(dir, CA_FILES.key)).mode & 0o777, 0o600);
      assert.match(openssl(['x509', '-noout', '-text', '-in', path.join(dir, CA_FILES.cert)]).out, /CA:TRUE/);

      const before = await issue(ca, 'spiffe://cluster.local/ns/default/sa/a', 3600e3);
      ca.close();
      // "restart": a new CA over the same directory keeps the root, and the old certificate still verifies
      const again = CertificateAuthority.open({ dir, trustDomain: 'cluster.local', keyType, log: silentLogger, watchIntervalMs: 0 });
      assert.equal(again.rootPem, ca.rootPem);
      const v = opensslVerify([before.chain[0]!, again.rootPem], dir);
      assert.equal(v.status, 0, v.out);
      again.close();
    });
  }

  it('issues leaf certificates OpenSSL accepts, with the SPIFFE SAN, key usage, TTL and issuer', async () => {
    const dir = path.join(tmp, 'leaf');
    const ca = CertificateAuthority.open({ dir, trustDomain: 'cluster.local', log: silentLogger, watchIntervalMs: 0 });
    for (const type of ['rsa', 'ec'] as const) {
      const uri = `spiffe://cluster.local/ns/ns1/sa/sa-${type}`;
      const t0 = Date.now();
      const got = await issue(ca, uri, 3600e3, type);
      const t1 = Date.now();
      assert.equal(got.chain.length, 2, 'leaf + root');
      assert.equal(got.chain[1], ca.rootPem);
      const v = opensslVerify(got.chain, dir);
      assert.equal(v.status, 0, v.out);
      const leaf = new crypto.X509Certificate(got.chain[0]!);
      assert.equal(leaf.subjectAltName, `URI:${uri}`);
      assert.equal(leaf.ca, false);
      assert.equal(leaf.issuer, 'O=cluster.local');
      assert.ok(leaf.checkIssued(new crypto.X509Certificate(ca.rootPem)));
      assert.ok(leaf.checkPrivateKey(got.key));
      const ttl = Date.parse(leaf.validTo) - Date.parse(leaf.validFrom);
      assert.ok(Math.abs(ttl - 3600e3) <= 1000, `ttl ${ttl}`);
      // valid from the moment of issuance (X.509 times have whole seconds), however long issuing took
      assert.ok(Date.parse(leaf.validFrom) >= Math.floor(t0 / 1000) * 1000 && Date.parse(leaf.validFrom) <= t1, `validFrom ${leaf.validFrom} outside [${new Date(t0).toISOString()}, ${new Date(t1).toISOString()}]`);
      assert.deepEqual(leaf.keyUsage?.sort(), ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
      const text = openssl(['x509', '-noout', '-text'], got.chain[0]).out;
      assert.match(text, /X509v3 Key Usage: critical\s+Digital Signature, Key Encipherment/);
      assert.match(text, /X509v3 Subject Alternative Name: critical\s+URI:spiffe:\/\/cluster\.local\/ns\/ns1\/sa\/sa-/);
      assert.match(text, /X509v3 Basic Constraints: critical\s+CA:FALSE/);
      assert.match(text, /X509v3 Authority Key Identifier/);
      // as istiod's (Go adds a subjectKeyIdentifier to CA certificates only)
      assert.doesNotMatch(text, /X509v3 Subject Key Identifier/);
      assert.equal(openssl(['verify', '-purpose', 'sslserver', '-CAfile', path.join(dir, CA_FILES.root)], got.chain[0]).status, 0);
    }
    ca.close();
  });

  it('refuses a CA directory with a certificate but no key, and never prints the key on a bad key file', () => {
    const dir = path.join(tmp, 'half');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, CA_FILES.cert), 'x');
    assert.throws(() => CertificateAuthority.open({ dir, trustDomain: 'td', log: silentLogger, watchIntervalMs: 0 }), /has ca-cert.pem but not ca-key.pem/);
    fs.writeFileSync(path.join(dir, CA_FILES.key), 'SECRET-KEY-MATERIAL');
    assert.throws(
      () => CertificateAuthority.open({ dir, trustDomain: 'td', log: silentLogger, watchIntervalMs: 0 }),
      (err: Error) => !err.message.includes('SECRET') && /ca-(cert|key)\.pem/.test(err.message),
    );
  });
});

/** An external root and an intermediate signed by it, in Istio's cacerts layout (as `make -f Makefile.selfsigned.mk`). */
function pluggedCacerts(dir: string, name: string): void {
  fs.mkdirSync(dir, { recursive: true });
  const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  fs.writeFileSync(path.join(dir, 'ca.ext'), 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign,digitalSignature\nsubjectKeyIdentifier=hash\n');
  run(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'root-key.pem', '-out', 'root-cert.pem', '-days', '30', '-subj', `/O=Istio/CN=${name} Root CA`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  run(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca-key.pem', '-out', 'ca.csr', '-subj', `/O=Istio/CN=${name} Intermediate CA`]);
  run(['x509', '-req', '-in', 'ca.csr', '-CA', 'root-cert.pem', '-CAkey', 'root-key.pem', '-CAcreateserial', '-out', 'ca-cert.pem', '-days', '20', '-extfile', 'ca.ext']);
  fs.writeFileSync(path.join(dir, 'cert-chain.pem'), fs.readFileSync(path.join(dir, 'ca-cert.pem'), 'utf8') + fs.readFileSync(path.join(dir, 'root-cert.pem'), 'utf8'));
  for (const f of ['ca.csr', 'ca.ext', 'root-key.pem', 'root-cert.srl']) fs.rmSync(path.join(dir, f), { force: true });
}

describe('CertificateAuthority rotation', () => {
  // The CA encodes its issuer fields once per loaded key (a CertificateProfile in its material): after a
  // rotation every certificate must name the new issuer, carry the new key id and verify with the new
  // key only, never a mix of old and new.
  const authorityKeyId = (pem: string) => /X509v3 Authority Key Identifier:\s*(?:keyid:)?([0-9A-F:]+)/.exec(openssl(['x509', '-noout', '-text'], pem).out)?.[1];
  const subjectKeyId = (pem: string) => /X509v3 Subject Key Identifier:\s*([0-9A-F:]+)/.exec(openssl(['x509', '-noout', '-text'], pem).out)?.[1];

  function expectIssuedBy(chain: readonly string[], rootPem: string, other: string, dir: string) {
    const leaf = new crypto.X509Certificate(chain[0]!);
    const root = new crypto.X509Certificate(rootPem);
    assert.equal(chain[chain.length - 1], rootPem, 'the response ends with the new root');
    assert.equal(leaf.issuer, root.subject);
    assert.ok(leaf.verify(root.publicKey), 'signed by the new key');
    assert.equal(leaf.verify(new crypto.X509Certificate(other).publicKey), false, 'not by the old one');
    assert.match(subjectKeyId(rootPem) ?? '', /^[0-9A-F]{2}(:[0-9A-F]{2}){19}$/);
    assert.equal(authorityKeyId(chain[0]!), subjectKeyId(rootPem));
    assert.equal(opensslVerify(chain, dir).status, 0);
  }

  it('signs with the new key, issuer and key id after replace() (the Secret path)', async () => {
    const dir = path.join(tmp, 'rotate-secret');
    fs.mkdirSync(dir);
    const first = createSelfSignedRoot({ trustDomain: 'first.local', keyType: 'ec' });
    const ca = CertificateAuthority.fromPems({ trustDomain: 'cluster.local', log: silentLogger, source: 'test' }, first);
    const a = await issue(ca, 'spiffe://cluster.local/ns/default/sa/a', 600e3, 'ec');
    for (const [name, next] of [['ECDSA → ECDSA', createSelfSignedRoot({ trustDomain: 'second.local', keyType: 'ec' })], ['ECDSA → RSA', createSelfSignedRoot({ trustDomain: 'third.local', keyType: 'rsa' })]] as const) {
      const before = ca.rootPem;
      assert.equal(ca.replace(next), true, name);
      const b = await issue(ca, 'spiffe://cluster.local/ns/default/sa/b', 600e3, 'ec');
      expectIssuedBy(b.chain, next.root, before, dir);
    }
    expectIssuedBy(a.chain, first.root, ca.rootPem, dir);
    await ca.close();
  });

  it('signs with the new key after reload() (the --ca-dir path)', async () => {
    const dir = path.join(tmp, 'rotate-dir');
    const ca = CertificateAuthority.open({ dir, trustDomain: 'cluster.local', keyType: 'ec', log: silentLogger, watchIntervalMs: 0 });
    const old = ca.rootPem;
    const next = createSelfSignedRoot({ trustDomain: 'next.local', keyType: 'ec' });
    fs.writeFileSync(path.join(dir, CA_FILES.key), next.key, { mode: 0o600 });
    fs.writeFileSync(path.join(dir, CA_FILES.cert), next.cert);
    fs.writeFileSync(path.join(dir, CA_FILES.root), next.root);
    assert.equal(ca.reload(), true);
    const b = await issue(ca, 'spiffe://cluster.local/ns/default/sa/b', 600e3, 'ec');
    expectIssuedBy(b.chain, next.root, old, dir);
    await ca.close();
  });
});

describe('CertificateAuthority (plugged cacerts)', () => {
  it('signs with the intermediate, returns leaf → intermediate → root, and hot-reloads new cacerts', async () => {
    const dir = path.join(tmp, 'plugged');
    pluggedCacerts(dir, 'first');
    const ca = CertificateAuthority.open({ dir, trustDomain: 'cluster.local', log: silentLogger, watchIntervalMs: 50 });
    assert.equal(ca.selfSigned, false);
    const a = await issue(ca, 'spiffe://cluster.local/ns/default/sa/a', 600e3);
    assert.equal(a.chain.length, 3);
    assert.match(new crypto.X509Certificate(a.chain[0]!).issuer, /first Intermediate CA/);
    assert.match(new crypto.X509Certificate(a.chain[2]!).subject, /first Root CA/);
    let v = opensslVerify(a.chain, dir);
    assert.equal(v.status, 0, v.out);

    // the operator replaces the cacerts: the CA follows without a restart
    const next = path.join(tmp, 'plugged-next');
    pluggedCacerts(next, 'second');
    const rotated = new Promise((resolve) => ca.once('rotated', resolve));
    for (const f of Object.values(CA_FILES)) fs.copyFileSync(path.join(next, f), path.join(dir, f));
    await Promise.race([rotated, new Promise((_, reject) => setTimeout(() => reject(new Error('no reload within 5 s')), 5000))]);
    const b = await issue(ca, 'spiffe://cluster.local/ns/default/sa/b', 600e3);
    assert.match(new crypto.X509Certificate(b.chain[0]!).issuer, /second Intermediate CA/);
    v = opensslVerify(b.chain, dir);
    assert.equal(v.status, 0, v.out);

    // a broken replacement is refused and the CA keeps signing with what it had
    fs.writeFileSync(path.join(dir, CA_FILES.key), generateKeyPair('ec').privateKey.export({ type: 'pkcs8', format: 'pem' }));
    assert.equal(ca.reload(), false);
    const c = await issue(ca, 'spiffe://cluster.local/ns/default/sa/c', 600e3);
    assert.equal(opensslVerify(c.chain, dir).status, 0);
    ca.close();
  });
});

describe('CSR parsing', () => {
  it('accepts RSA and P-256 requests and reads their SANs', () => {
    for (const type of ['rsa', 'ec'] as const) {
      const { privateKey } = generateKeyPair(type);
      const csr = createCsr(privateKey, { uris: ['spiffe://td/ns/a/sa/b'], dnsNames: ['x.example'] });
      const parsed = parseCsr(csr);
      assert.deepEqual(parsed.uris, ['spiffe://td/ns/a/sa/b']);
      assert.deepEqual(parsed.dnsNames, ['x.example']);
      // OpenSSL agrees the request is well formed and self-consistent
      assert.equal(openssl(['req', '-verify', '-noout'], csr).status, 0);
    }
  });

  it('refuses garbage, bad signatures and weak keys', () => {
    assert.throws(() => parseCsr('not a csr'), CsrError);
    assert.throws(() => parseCsr('-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n'), CsrError);
    const { privateKey } = generateKeyPair('ec');
    const good = createCsr(privateKey, { uris: ['spiffe://td/ns/a/sa/b'] });
    const der = Buffer.from(good.split('\n').filter((l) => !l.startsWith('-----')).join(''), 'base64');
    der[der.length - 5] = der[der.length - 5]! ^ 0xff; // flip signature bits
    const bad = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    assert.throws(() => parseCsr(bad), CsrError);
    const weak = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey;
    assert.throws(() => parseCsr(createCsr(weak, { uris: ['spiffe://td/ns/a/sa/b'] })), /at least 2048/);
  });
});
