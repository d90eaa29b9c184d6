// CA signing rate: meshd's certificate path (hand-built DER + Node's native crypto.sign) for RSA-2048 and
// ECDSA P-256 CA keys, beside `openssl speed` for the same key type on the same machine, as a ratio.
//
//   npx tsx bench/ca-sign.ts [--seconds 3] [--rounds 3]      (--help for the options)
//
// Rows:
//   meshd CertificateAuthority.sign  the production path: a verified CSR → leaf certificate (PEM chain),
//                                    16 requests in flight; RSA signs on libuv's thread pool (async
//                                    crypto.sign), ECDSA inline (cheaper than the thread hop)
//   meshd sync, one thread           the same certificate (CertificateProfile.signSync) one at a time, as
//                                    DER: no promise, no PEM
//   node-forge (reference)           the card's library, RSA only (it has no ECDSA), if installed
//
// The ratio is per CPU-second on both sides. `openssl speed` counts operations per second of its own
// user CPU time (times(2); `-elapsed` would switch it to wall time), so on a machine other processes share
// its figure barely moves while any wall-clock rate drops with the load. meshd's rows are therefore
// measured the same way, certificates per second of the process's user CPU time (all threads: the
// RSA thread pool and GC helpers count), and the wall-clock rate is shown beside them. Each row is the
// best of --rounds runs, meshd and openssl alternating, so a burst of load hits both or neither.
// The openssl figure is signatures of a ready 20-byte digest, its signing context set up once; a
// certificate also costs DER building, a SHA-256 of the TBS, serial generation and PEM, and Node's
// one-shot crypto.sign sets up a signing context per call, so 100 % is out of reach by construction.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { z } from 'zod';
import { CertificateAuthority } from '../src/ca/authority.js';
import { CertificateProfile, createCsr, generateKeyPair, keyIdentifier, OID, parseCsr, spkiDer, type KeyType, type ParsedCsr } from '../src/ca/x509.js';
import { silentLogger } from '../src/telemetry/log.js';

/** A commander argument parser from a zod schema, so a bad value is refused with the flag's name. */
const parsed =
  <T>(schema: z.ZodType<T>, want: string) =>
  (value: string): T => {
    const r = schema.safeParse(value);
    if (!r.success) throw new InvalidArgumentError(`want ${want}`);
    return r.data;
  };

const options = new Command()
  .name('npx tsx bench/ca-sign.ts')
  .description("CA signing rate of meshd's certificate path beside `openssl speed` for the same key type (RSA 2048, ECDSA P-256), per CPU-second")
  .option('--seconds <s>', 'length of each measured run (meshd rows and openssl speed alike)', parsed(z.coerce.number().int().min(1).max(600), 'a whole number of seconds from 1 to 600'), 3)
  .option('--rounds <n>', 'runs per row, meshd and openssl alternating; each row shows the best', parsed(z.coerce.number().int().min(1).max(100), 'a whole number from 1 to 100'), 3)
  .allowExcessArguments(false)
  .showHelpAfterError('(--help lists the options)')
  .parse()
  .opts<{ seconds: number; rounds: number }>();
const { seconds, rounds } = options;
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

interface Rate {
  /** certificates per wall-clock second */
  readonly wall: number;
  /** certificates per second of this process's user CPU time (openssl speed's unit) */
  readonly cpu: number;
}

function timed(run: (until: number) => number): Rate;
function timed(run: (until: number) => Promise<number>): Promise<Rate>;
function timed(run: (until: number) => number | Promise<number>): Rate | Promise<Rate> {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const rate = (done: number): Rate => ({ wall: done / ((performance.now() - t0) / 1000), cpu: done / (process.cpuUsage(c0).user / 1e6) });
  const done = run(t0 + seconds * 1000);
  return typeof done === 'number' ? rate(done) : done.then(rate);
}

function measureAsync(ca: CertificateAuthority, csrs: ParsedCsr[]): Promise<Rate> {
  return timed(async (until) => {
    let done = 0;
    const worker = async (i: number) => {
      while (performance.now() < until) {
        await ca.sign(csrs[(i + done) % csrs.length]!, { uris: ['spiffe://cluster.local/ns/bench/sa/bench'], ttlMs: 24 * 3600e3 });
        done++;
      }
    };
    await Promise.all(Array.from({ length: 16 }, (_, i) => worker(i)));
    return done;
  });
}

function measureSync(type: KeyType, csrs: ParsedCsr[]): Rate {
  // a profile shaped like the CA's own (authority.ts): issuer name and key id, workload key usages
  const { privateKey } = generateKeyPair(type);
  const profile = new CertificateProfile(privateKey, {
    issuer: Buffer.from('300f310d300b060355040a0c0462656e63', 'hex'), // O=benc
    subject: Buffer.from([0x30, 0]),
    isCa: false,
    keyUsage: { digitalSignature: true, keyEncipherment: true },
    extKeyUsage: [OID.serverAuth, OID.clientAuth],
    authorityKeyId: keyIdentifier(spkiDer(privateKey)),
  });
  return timed((until) => {
    let done = 0;
    while (performance.now() < until) {
      const now = new Date();
      profile.signSync({ notBefore: now, notAfter: new Date(now.getTime() + 864e5), spki: csrs[done % csrs.length]!.spki, uris: ['spiffe://cluster.local/ns/bench/sa/bench'] });
      done++;
    }
    return done;
  });
}

const best = (rates: readonly Rate[]): Rate => ({ wall: Math.max(...rates.map((r) => r.wall)), cpu: Math.max(...rates.map((r) => r.cpu)) });

async function measureForge(): Promise<Rate | undefined> {
  let forge: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  try {
    const name = 'node-forge';
    forge = (await import(name)).default;
  } catch {
    return undefined;
  }
  const ca = forge.pki.rsa.generateKeyPair(2048);
  const leaf = forge.pki.rsa.generateKeyPair(2048);
  return timed((until) => {
    let done = 0;
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
    return done;
  });
}

const rows: string[] = [];
const f = (n: number) => n.toFixed(0);
const pct = (a: number, b: number) => `${((a / b) * 100).toFixed(0)} %`;
for (const [type, alg, label] of [['rsa', 'rsa2048', 'RSA 2048'], ['ec', 'ecdsap256', 'ECDSA P-256']] as const) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshd-bench-ca-'));
  const ca = CertificateAuthority.open({ dir, trustDomain: 'cluster.local', keyType: type, log: silentLogger, watchIntervalMs: 0 });
  const csrs = Array.from({ length: 32 }, () => parseCsr(createCsr(generateKeyPair('ec').privateKey, { uris: ['spiffe://cluster.local/ns/bench/sa/bench'] })));
  await measureAsync(ca, csrs.slice(0, 4)); // warm-up
  const pooled: Rate[] = [];
  const sync: Rate[] = [];
  const one: number[] = [];
  for (let r = 0; r < rounds; r++) {
    pooled.push(await measureAsync(ca, csrs));
    one.push(opensslSpeed(alg, 1));
    sync.push(measureSync(type, csrs));
  }
  const ssl = Math.max(...one);
  const multi = opensslSpeed(alg, THREADS);
  ca.close();
  fs.rmSync(dir, { recursive: true, force: true });
  const row = (path: string, r: Rate) => `| ${label} | ${path} | ${f(r.wall)} | ${f(r.cpu)} | ${f(ssl)} | ${pct(r.cpu, ssl)} |`;
  // RSA signs on the thread pool (all cores); ECDSA signs inline on one thread (see CertificateAuthority.sign)
  rows.push(row(type === 'rsa' ? `meshd CertificateAuthority.sign (thread pool, ${THREADS} cores; openssl -multi ${THREADS}: ${f(multi)}/s)` : 'meshd CertificateAuthority.sign (inline, one thread)', best(pooled)));
  rows.push(row('meshd sync, one thread', best(sync)));
  if (type === 'rsa') {
    const forge = await measureForge();
    if (forge !== undefined) rows.push(row('node-forge 1.x (reference, pure JS)', forge));
  }
}
console.log(`CA signing, best of ${rounds} × ${seconds} s per row, Node ${process.versions.node}, OpenSSL ${process.versions.openssl}, ${THREADS} cores, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}\n`);
console.log('| CA key | path | certificates/s (wall) | certificates per CPU-second | openssl speed signs per CPU-second | ratio (per CPU-second) |');
console.log('| --- | --- | --- | --- | --- | --- |');
for (const r of rows) console.log(r);
