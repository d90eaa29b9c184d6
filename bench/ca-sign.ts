// CA signing rate: meshd's certificate path (hand-built DER + Node's native crypto.sign) for RSA-2048 and
// ECDSA P-256 CA keys, beside `openssl speed` for the same key type on the same machine, as a ratio.
//
//   npx tsx bench/ca-sign.ts [--seconds 3]
//
// Rows:
//   meshd CertificateAuthority.sign  the production path: a verified CSR → leaf certificate, 16 requests
//                                    in flight; RSA signs on libuv's thread pool (async crypto.sign), ECDSA
//                                    inline (cheaper than the thread hop)
//   meshd sync, one thread           the same certificate built and signed synchronously, one at a time
//   node-forge (reference)           the card's library, RSA only (it has no ECDSA), if installed
//   openssl speed                    raw signatures/s (`-multi 2` for the 2-thread figure)
// The openssl figure is signatures only; a certificate also costs DER building, a SHA-256 of the TBS and
// serial generation, so 100 % is out of reach by construction.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CertificateAuthority } from '../src/ca/authority.js';
import { buildCertificateSync, createCsr, generateKeyPair, OID, parseCsr, randomSerial, type KeyType, type ParsedCsr } from '../src/ca/x509.js';
import { silentLogger } from '../src/telemetry/log.js';

const seconds = Number(process.argv[process.argv.indexOf('--seconds') + 1] || 3);
const THREADS = os.availableParallelism?.() ?? os.cpus().length;

function opensslSpeed(alg: string, multi: number): number {
  const args = ['speed', '-seconds', String(seconds), ...(multi > 1 ? ['-multi', String(multi)] : []), alg];
  const out = execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  // "rsa 2048 bits 0.000550s 0.000036s   1817.2  27992.9" / " 256 bits ecdsa (nistp256)   0.0000s   0.0001s  21792.0   7685.0"
  const line = out.split('\n').reverse().find((l) => (alg.startsWith('rsa') ? /^rsa\s+2048/.test(l.trim()) : /ecdsa \(nistp256\)/.test(l)));
  if (!line) throw new Error(`openssl speed ${alg}: no result line in\n${out}`);
  const nums = line.trim().split(/\s+/).map(Number).filter((n) => !Number.isNaN(n));
  return nums[nums.length - 2]!;
}

async function measureAsync(ca: CertificateAuthority, csrs: ParsedCsr[]): Promise<number> {
  let done = 0;
  const t0 = performance.now();
  const until = t0 + seconds * 1000;
  const worker = async (i: number) => {
    while (performance.now() < until) {
      await ca.sign(csrs[(i + done) % csrs.length]!, { uris: ['spiffe://cluster.local/ns/bench/sa/bench'], ttlMs: 24 * 3600e3 });
      done++;
    }
  };
  await Promise.all(Array.from({ length: 16 }, (_, i) => worker(i)));
  return done / ((performance.now() - t0) / 1000);
}

function measureSync(type: KeyType, csrs: ParsedCsr[]): number {
  const { privateKey } = generateKeyPair(type);
  const issuer = Buffer.from('300f310d300b060355040a0c0462656e63', 'hex'); // O=benc
  let done = 0;
  const t0 = performance.now();
  const until = t0 + seconds * 1000;
  while (performance.now() < until) {
    const now = new Date();
    buildCertificateSync({
      serial: randomSerial(), issuer, subject: Buffer.from([0x30, 0]), notBefore: now, notAfter: new Date(now.getTime() + 864e5),
      spki: csrs[done % csrs.length]!.spki, isCa: false, keyUsage: { digitalSignature: true, keyEncipherment: true },
      extKeyUsage: [OID.serverAuth, OID.clientAuth], uris: ['spiffe://cluster.local/ns/bench/sa/bench'],
    }, privateKey);
    done++;
  }
  return done / ((performance.now() - t0) / 1000);
}

async function measureForge(): Promise<number | undefined> {
  let forge: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  try {
    const name = 'node-forge';
    forge = (await import(name)).default;
  } catch {
    return undefined;
  }
  const ca = forge.pki.rsa.generateKeyPair(2048);
  const leaf = forge.pki.rsa.generateKeyPair(2048);
  let done = 0;
  const t0 = performance.now();
  const until = t0 + seconds * 1000;
  while (performance.now() < until) {
    const c = forge.pki.createCertificate();
    c.publicKey = leaf.publicKey;
    c.serialNumber = `0${crypto.randomBytes(8).toString('hex')}`;
    c.validity.notBefore = new Date();
    c.validity.notAfter = new Date(Date.now() + 864e5);
    c.setSubject([]);
    c.setIssuer([{ name: 'organizationName', value: 'cluster.local' }]);
    c.setExtensions([{ name: 'subjectAltName', altNames: [{ type: 6, value: 'spiffe://cluster.local/ns/bench/sa/bench' }] }]);
    c.sign(ca.privateKey, forge.md.sha256.create());
    forge.pki.certificateToPem(c);
    done++;
  }
  return done / ((performance.now() - t0) / 1000);
}

const rows: string[] = [];
const f = (n: number) => n.toFixed(0);
const pct = (a: number, b: number) => `${((a / b) * 100).toFixed(0)} %`;
for (const [type, alg, label] of [['rsa', 'rsa2048', 'RSA 2048'], ['ec', 'ecdsap256', 'ECDSA P-256']] as const) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshd-bench-ca-'));
  const ca = CertificateAuthority.open({ dir, trustDomain: 'cluster.local', keyType: type, log: silentLogger, watchIntervalMs: 0 });
  const csrs = Array.from({ length: 32 }, () => parseCsr(createCsr(generateKeyPair('ec').privateKey, { uris: ['spiffe://cluster.local/ns/bench/sa/bench'] })));
  await measureAsync(ca, csrs.slice(0, 4)); // warm-up
  const pooled = await measureAsync(ca, csrs);
  const sync = measureSync(type, csrs);
  const one = opensslSpeed(alg, 1);
  const multi = opensslSpeed(alg, THREADS);
  ca.close();
  fs.rmSync(dir, { recursive: true, force: true });
  // RSA signs on the thread pool (all cores); ECDSA signs inline on one thread (see x509.buildCertificate)
  rows.push(type === 'rsa'
    ? `| ${label} | meshd CertificateAuthority.sign (thread pool, ${THREADS} cores) | ${f(pooled)} | openssl speed -multi ${THREADS}: ${f(multi)} | ${pct(pooled, multi)} |`
    : `| ${label} | meshd CertificateAuthority.sign (inline, one thread) | ${f(pooled)} | openssl speed: ${f(one)} | ${pct(pooled, one)} |`);
  rows.push(`| ${label} | meshd sync, one thread | ${f(sync)} | openssl speed: ${f(one)} | ${pct(sync, one)} |`);
  if (type === 'rsa') {
    const forge = await measureForge();
    if (forge !== undefined) rows.push(`| ${label} | node-forge 1.x (reference, pure JS) | ${f(forge)} | openssl speed: ${f(one)} | ${pct(forge, one)} |`);
  }
}
console.log(`CA signing, ${seconds} s per row, Node ${process.versions.node}, OpenSSL ${process.versions.openssl}, ${THREADS} cores\n`);
console.log('| CA key | path | certificates/s | openssl signs/s (same key type) | ratio |');
console.log('| --- | --- | --- | --- | --- |');
for (const r of rows) console.log(r);
