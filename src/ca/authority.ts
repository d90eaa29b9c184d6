import { EventEmitter } from 'node:events';
import crypto, { type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../telemetry/log.js';
import {
  buildCertificateSync,
  CertificateProfile,
  createCsr,
  encodeName,
  fromPemAll,
  generateKeyPair,
  keyIdentifier,
  OID,
  parseCertificate,
  parseCsr,
  spkiDer,
  splitPemCertificates,
  toPem,
  type KeyType,
  type ParsedCsr,
} from './x509.js';

// The mesh's certificate authority (Istio Citadel's role).
//
// Key material lives in one directory in Istio's `cacerts` layout:
//   ca-cert.pem     the signing certificate
//   ca-key.pem      its private key (0600)
//   cert-chain.pem  ca-cert followed by its issuers (empty or absent for a self-signed root)
//   root-cert.pem   the trust anchor workloads verify against
// If the directory holds no ca-cert.pem/ca-key.pem, meshd creates a self-signed root (10 years, RSA 2048
// or ECDSA P-256, subject O=<trust domain>) and writes it there, so a restart keeps the root and every
// issued certificate stays valid. An operator who places an intermediate signed by an external root
// (Istio's "plug in CA certificates") gets it used as is; meshd watches the files and reloads them when they
// change (hot reload), keeping the old ones if the new set does not load. In Kubernetes mode the same
// layout comes from a Secret instead when the directory is empty (ca-secret.ts; `fromPems`, `pollSource`).
//
// Signing is Node's native crypto (OpenSSL) over DER written by hand (x509.ts CertificateProfile, one per
// loaded key). Measured on the project's 2-core machine (bench/ca-sign.ts; figures in bench/README.md):
// RSA-2048 certificates at ~90 % of `openssl speed rsa2048` per CPU-second and ECDSA P-256 ones at ~60 %
// of `openssl speed ecdsap256`; node-forge, the issue's suggestion, signs RSA in pure JavaScript at ~1 % of
// openssl's rate (27–41 certificates per CPU-second) and has no ECDSA; @peculiar/x509 (WebCrypto) spent
// ~8 ms per certificate in its ASN.1 layer.
// Key material never reaches a log line.

export const DEFAULT_ROOT_TTL_MS = 10 * 365 * 24 * 3600 * 1000;
export const DEFAULT_CERT_TTL_MS = 24 * 3600 * 1000;
export const MAX_CERT_TTL_MS = 90 * 24 * 3600 * 1000;

/** An empty subject Name, as Istio's CA gives workload certificates (the identity is the SAN). */
const EMPTY_NAME = Buffer.from([0x30, 0x00]);

export const CA_FILES = {
  cert: 'ca-cert.pem',
  key: 'ca-key.pem',
  chain: 'cert-chain.pem',
  root: 'root-cert.pem',
} as const;

export interface AuthorityOptions {
  readonly dir: string;
  readonly trustDomain: string;
  readonly keyType?: KeyType;
  readonly rootTtlMs?: number;
  readonly log: Logger;
  /** poll interval for plugged-CA hot reload; 0 disables watching */
  readonly watchIntervalMs?: number;
}

/** The contents of the four cacerts files (or Secret keys), by CA_FILES key. */
export interface CaPems {
  readonly cert: string;
  readonly key: string;
  readonly chain: string;
  readonly root: string;
}

/** Where the CA's material comes from when it is not a directory (Kubernetes mode: a Secret). */
export interface PemAuthorityOptions {
  readonly trustDomain: string;
  readonly log: Logger;
  /** e.g. `Secret istio-system/istio-ca-secret`: names the source in logs and errors */
  readonly source: string;
}

export interface SignRequest {
  /** SPIFFE URIs (from the authenticated caller, never from the CSR) */
  readonly uris?: readonly string[];
  readonly dnsNames?: readonly string[];
  readonly ttlMs: number;
}

export interface IssuedCertificate {
  /** leaf, then intermediates, then the root: one PEM per element (IstioCertificateResponse.cert_chain) */
  readonly chain: readonly string[];
  readonly notAfter: Date;
  /** SHA-256 fingerprint of the root it chains to */
  readonly rootFingerprint: string;
}

interface Material {
  /** what it was loaded from (the cacerts files or Secret keys): rotations build on it */
  readonly pems: CaPems;
  /**
   * The CA's private key (parsed once, when the material loads) with the issuer fields of every
   * certificate it signs, encoded once: swapping the material on rotation swaps all of it together.
   */
  readonly profile: CertificateProfile;
  readonly certDer: Buffer;
  /** signing cert + intermediates (PEM each), without the root */
  readonly chain: readonly string[];
  /** what follows the leaf in a response: `chain` (without a self-signed signing cert), then the root bundle */
  readonly responseTail: readonly string[];
  /** root-cert.pem: every trusted root, PEMs concatenated (the trust bundle published everywhere) */
  readonly rootPem: string;
  /** each trusted root */
  readonly roots: readonly TrustedRoot[];
  /** the root the signing certificate chains to */
  readonly rootNotAfter: Date;
  readonly selfSigned: boolean;
  /** SHA-256 fingerprint of the root the signing certificate chains to */
  readonly fingerprint: string;
}

/** One certificate of the trust bundle. */
export interface TrustedRoot {
  readonly fingerprint: string;
  readonly subject: string;
  readonly notAfter: Date;
}

/** More roots than any rotation needs is a mistake (or an attack on the publishers' ConfigMaps). */
const MAX_ROOTS = 16;

/** 0600 for keys, 0644 otherwise; written to a temp file and renamed so readers never see half a file. */
export function writeFileAtomic(file: string, data: string | Buffer, mode: number): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`);
  fs.writeFileSync(tmp, data, { mode });
  fs.chmodSync(tmp, mode);
  fs.renameSync(tmp, file);
}

export class CertificateAuthority extends EventEmitter {
  private material: Material;
  private watcher: NodeJS.Timeout | undefined;
  /** a Secret re-read in flight (pollSource) */
  private polling: Promise<void> | undefined;
  private lastStamp = '';
  readonly log: Logger;

  private constructor(
    private readonly options: { readonly trustDomain: string; readonly log: Logger; readonly dir?: string },
    material: Material,
    /** `--ca-dir DIR` or `Secret NS/NAME` */
    readonly source: string,
  ) {
    super();
    this.material = material;
    this.log = options.log.child({ scope: 'ca' });
    this.lastStamp = this.stamp();
  }

  /** Loads the CA from `dir`, creating a self-signed root there first if it holds none. */
  static open(options: AuthorityOptions): CertificateAuthority {
    const log = options.log.child({ scope: 'ca' });
    fs.mkdirSync(options.dir, { recursive: true, mode: 0o700 });
    const certFile = path.join(options.dir, CA_FILES.cert);
    const keyFile = path.join(options.dir, CA_FILES.key);
    const hasCert = fs.existsSync(certFile);
    const hasKey = fs.existsSync(keyFile);
    if (hasCert !== hasKey) {
      throw new Error(`--ca-dir ${options.dir}: has ${hasCert ? CA_FILES.cert : CA_FILES.key} but not ${hasCert ? CA_FILES.key : CA_FILES.cert}`);
    }
    if (!hasCert) {
      writeCaFiles(options.dir, createSelfSignedRoot(options));
      log.info({ dir: options.dir, keyType: options.keyType ?? 'rsa', trustDomain: options.trustDomain }, 'created self-signed root CA');
    }
    const material = loadMaterial(readCaDir(options.dir), `--ca-dir ${options.dir}`);
    const ca = new CertificateAuthority(options, material, `--ca-dir ${options.dir}`);
    ca.log.info({ dir: options.dir, selfSigned: material.selfSigned, rootFingerprint: material.fingerprint, roots: material.roots.length, rootNotAfter: material.rootNotAfter.toISOString() }, 'CA loaded');
    if ((options.watchIntervalMs ?? 2000) > 0) ca.watch(options.watchIntervalMs ?? 2000);
    return ca;
  }

  /** Whether `dir` holds CA material (ca-cert.pem or ca-key.pem): then it is used as is, before any Secret. */
  static dirHasMaterial(dir: string): boolean {
    return fs.existsSync(path.join(dir, CA_FILES.cert)) || fs.existsSync(path.join(dir, CA_FILES.key));
  }

  /** A CA over material held elsewhere (a Kubernetes Secret); `replace` swaps it when that changes. */
  static fromPems(options: PemAuthorityOptions, pems: CaPems): CertificateAuthority {
    const material = loadMaterial(pems, options.source);
    const ca = new CertificateAuthority(options, material, options.source);
    ca.log.info({ source: options.source, selfSigned: material.selfSigned, rootFingerprint: material.fingerprint, roots: material.roots.length, rootNotAfter: material.rootNotAfter.toISOString() }, 'CA loaded');
    return ca;
  }

  /** the trust bundle: every root of root-cert.pem (one PEM each, concatenated) */
  get rootPem(): string {
    return this.material.rootPem;
  }

  get roots(): readonly TrustedRoot[] {
    return this.material.roots;
  }

  /** SHA-256 fingerprint of the root the signing certificate chains to */
  get signingRootFingerprint(): string {
    return this.material.fingerprint;
  }

  /** the material in use, as cacerts contents (includes the private key: never log it) */
  get pems(): CaPems {
    return this.material.pems;
  }

  /** the signing certificate's validity */
  get signingValidity(): { notBefore: Date; notAfter: Date } {
    const x = new crypto.X509Certificate(this.material.certDer);
    return { notBefore: new Date(x.validFrom), notAfter: new Date(x.validTo) };
  }

  /** the signing certificate (ca-cert.pem) */
  get signingCertPem(): string {
    return toPem('CERTIFICATE', this.material.certDer);
  }

  get rootNotAfter(): Date {
    return this.material.rootNotAfter;
  }

  get trustDomain(): string {
    return this.options.trustDomain;
  }

  get selfSigned(): boolean {
    return this.material.selfSigned;
  }

  /** Signs a verified CSR for the given identities. */
  async sign(csr: ParsedCsr, req: SignRequest): Promise<IssuedCertificate> {
    // one read of the material: a rotation while an RSA signature is on the thread pool must not pair
    // the old key's certificate with the new chain
    const m = this.material;
    const now = new Date();
    const notAfter = new Date(now.getTime() + req.ttlMs);
    const fields = { notBefore: now, notAfter, spki: csr.spki, uris: req.uris, dnsNames: req.dnsNames };
    // RSA signatures (~0.3–0.6 ms) go to the thread pool, so a burst of CSRs does not block the event
    // loop; ECDSA ones (~0.03 ms) are cheaper made on the spot than handed to another thread
    const der = m.profile.signer.asymmetricKeyType === 'ec' ? m.profile.signSync(fields) : await m.profile.signOnThreadPool(fields);
    return { chain: [toPem('CERTIFICATE', der), ...m.responseTail], notAfter, rootFingerprint: m.fingerprint };
  }

  /** A key and certificate for meshd's own TLS servers (e.g. `istiod.istio-system.svc` on 15012). */
  async issueServing(dnsNames: readonly string[], ttlMs: number): Promise<{ certChainPem: string; keyPem: string; notAfter: Date }> {
    const { privateKey } = generateKeyPair('ec');
    const csr = parseCsr(createCsr(privateKey, { dnsNames }));
    const issued = await this.sign(csr, { dnsNames, ttlMs });
    // the server presents leaf + intermediates; clients hold the root
    const chain = issued.chain.filter((c) => c !== this.rootPem || issued.chain.length === 1);
    return {
      certChainPem: chain.join(''),
      keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
      notAfter: issued.notAfter,
    };
  }

  /** Re-reads the directory now; keeps the current material if the new files do not load. */
  reload(): boolean {
    if (this.options.dir === undefined) return false;
    return this.swap(() => readCaDir(this.options.dir!));
  }

  /**
   * Set by the root rotation: material from the CA's source (changed files or Secret) whose signing chain
   * leads to a root not trusted today goes to it to be staged (published first, then signed with) instead
   * of being swapped in at once, which would break every workload still holding only the old root.
   */
  onNewRoot: ((pems: CaPems) => void) | undefined;

  /**
   * New material; kept only if it loads, like reload(). From the CA's source a new root goes to onNewRoot;
   * `direct` (the rotators' own steps) swaps it in as given.
   */
  replace(pems: CaPems, opts: { direct?: boolean } = {}): boolean {
    return this.swap(() => pems, opts.direct === true);
  }

  private swap(read: () => CaPems, direct = false): boolean {
    try {
      const next = loadMaterial(read(), this.source);
      if (!direct && this.onNewRoot && !this.material.roots.some((r) => r.fingerprint === next.fingerprint)) {
        this.log.info({ source: this.source, newRootFingerprint: next.fingerprint }, 'new CA material with a new root: staging a rotation instead of swapping it in');
        this.onNewRoot(next.pems);
        return false;
      }
      if (next.rootPem === this.material.rootPem && next.chain.join('') === this.material.chain.join('') && next.certDer.equals(this.material.certDer)) {
        return false;
      }
      this.material = next;
      this.log.info({ source: this.source, rootFingerprint: next.fingerprint, roots: next.roots.length, selfSigned: next.selfSigned }, 'CA certificates reloaded');
      this.emit('rotated');
      return true;
    } catch (err) {
      this.log.error({ err: (err as Error).message, source: this.source }, 'CA reload failed; keeping the current CA');
      return false;
    }
  }

  /**
   * Re-reads material held elsewhere every `intervalMs` (`fetch` answers undefined when it has not
   * changed) and swaps it in when it loads: the Secret counterpart of the directory watch.
   */
  pollSource(fetch: () => Promise<CaPems | undefined>, intervalMs: number): void {
    this.watcher = setInterval(() => {
      if (this.polling) return;
      this.polling = fetch()
        .then((pems) => {
          if (pems && this.watcher) this.replace(pems);
        })
        .catch((err: Error) => this.log.warn({ source: this.source, err: err.message }, 'could not re-read the CA material; keeping the current CA'))
        .finally(() => {
          this.polling = undefined;
        });
    }, intervalMs);
    this.watcher.unref();
  }

  /**
   * Stops watching the material. The promise settles once a re-read already on the wire has finished, so
   * a caller that waits for it knows this CA sends nothing more to the API server.
   */
  close(): Promise<void> {
    if (this.watcher) clearInterval(this.watcher);
    this.watcher = undefined;
    return this.polling ?? Promise.resolve();
  }

  private stamp(): string {
    if (this.options.dir === undefined) return '';
    const dir = this.options.dir;
    return Object.values(CA_FILES)
      .map((f) => {
        try {
          const s = fs.statSync(path.join(dir, f));
          return `${f}:${s.mtimeMs}:${s.size}:${s.ino}`;
        } catch {
          return `${f}:-`;
        }
      })
      .join('|');
  }

  private watch(intervalMs: number): void {
    this.watcher = setInterval(() => {
      const s = this.stamp();
      if (s === this.lastStamp) return;
      this.lastStamp = s;
      this.reload();
    }, intervalMs);
    this.watcher.unref();
  }
}

/** A new self-signed root (10 years by default, subject O=<trust domain>) as cacerts contents. */
export function createSelfSignedRoot(options: { readonly trustDomain: string; readonly keyType?: KeyType; readonly rootTtlMs?: number }): CaPems {
  const { privateKey } = generateKeyPair(options.keyType ?? 'rsa');
  const spki = spkiDer(privateKey);
  const subject = encodeName([{ oid: OID.organization, value: options.trustDomain }]);
  const now = new Date();
  const certDer = buildCertificateSync(
    {
      issuer: subject,
      subject,
      notBefore: new Date(now.getTime() - 60_000),
      notAfter: new Date(now.getTime() + (options.rootTtlMs ?? DEFAULT_ROOT_TTL_MS)),
      spki,
      isCa: true,
      keyUsage: { keyCertSign: true, cRLSign: true, digitalSignature: true },
      authorityKeyId: keyIdentifier(spki),
    },
    privateKey,
  );
  const pem = toPem('CERTIFICATE', certDer);
  return { cert: pem, key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, chain: '', root: pem };
}

/**
 * A new self-signed root for the same key and subject (istiod's SelfSignedCARootCertRotator,
 * GenRootCertFromExistingKey): certificates the old root issued verify under the new one, because
 * verification needs only the issuer's name and key.
 */
export function renewSelfSignedRoot(pems: CaPems, rootTtlMs: number = DEFAULT_ROOT_TTL_MS): string {
  const key = crypto.createPrivateKey(pems.key);
  const [certDer] = fromPemAll(pems.cert, 'CERTIFICATE');
  if (!certDer) throw new Error(`${CA_FILES.cert}: no certificate`);
  const old = parseCertificate(certDer);
  const spki = spkiDer(key);
  const now = new Date();
  const der = buildCertificateSync(
    {
      issuer: old.subject,
      subject: old.subject,
      notBefore: new Date(now.getTime() - 60_000),
      notAfter: new Date(now.getTime() + rootTtlMs),
      spki,
      isCa: true,
      keyUsage: { keyCertSign: true, cRLSign: true, digitalSignature: true },
      authorityKeyId: keyIdentifier(spki),
    },
    key,
  );
  return toPem('CERTIFICATE', der);
}

export function writeCaFiles(dir: string, pems: CaPems): void {
  writeFileAtomic(path.join(dir, CA_FILES.key), pems.key, 0o600);
  writeFileAtomic(path.join(dir, CA_FILES.cert), pems.cert, 0o644);
  writeFileAtomic(path.join(dir, CA_FILES.root), pems.root, 0o644);
  writeFileAtomic(path.join(dir, CA_FILES.chain), pems.chain, 0o644);
}

function readCaDir(dir: string): CaPems {
  const read = (f: string) => {
    try {
      return fs.readFileSync(path.join(dir, f), 'utf8');
    } catch {
      return '';
    }
  };
  return { cert: read(CA_FILES.cert), key: read(CA_FILES.key), chain: read(CA_FILES.chain), root: read(CA_FILES.root) };
}

/** Validates a cacerts set; errors name `source` and the file (never its contents: one is a private key). */
function loadMaterial(pems: CaPems, source: string): Material {
  try {
    return parseMaterial(pems);
  } catch (err) {
    throw new Error(`${source}: ${(err as Error).message}`);
  }
}

function parseMaterial(pems: CaPems): Material {
  const certPems = fromPemAll(pems.cert, 'CERTIFICATE');
  if (certPems.length === 0) throw new Error(`${CA_FILES.cert}: no certificate`);
  const certDer = certPems[0]!;
  const keyText = pems.key;
  if (!keyText) throw new Error(`${CA_FILES.key}: missing or empty`);
  let key: KeyObject;
  try {
    key = crypto.createPrivateKey(keyText);
  } catch (err) {
    // never echo the file: it is a private key
    throw new Error(`${CA_FILES.key}: not a usable private key (${(err as Error & { code?: string }).code ?? 'parse error'})`);
  }
  const x = new crypto.X509Certificate(certDer);
  if (!x.checkPrivateKey(key)) throw new Error(`${CA_FILES.key} does not match ${CA_FILES.cert}`);
  if (!x.ca) throw new Error(`${CA_FILES.cert} is not a CA certificate (basicConstraints CA:TRUE)`);
  const parsed = parseCertificate(certDer);
  const selfSigned = parsed.subject.equals(parsed.issuer) && x.verify(x.publicKey);
  const ownPem = toPem('CERTIFICATE', certDer);
  // root-cert.pem may hold several roots (a rotation publishes old and new): every one is trusted and
  // published; a self-signed signing certificate is always among them
  const roots = splitPemCertificates(pems.root);
  if (selfSigned && !roots.includes(ownPem)) roots.unshift(ownPem);
  if (roots.length === 0) throw new Error(`${CA_FILES.root}: missing; a plugged (non self-signed) CA needs its root`);
  if (roots.length > MAX_ROOTS) throw new Error(`${CA_FILES.root}: ${roots.length} certificates; at most ${MAX_ROOTS} roots are accepted`);
  const rootCerts = roots.map((pem, i) => {
    try {
      return new crypto.X509Certificate(pem);
    } catch (err) {
      throw new Error(`${CA_FILES.root}: certificate ${i + 1} does not parse (${(err as Error).message})`);
    }
  });
  // The chain served after the leaf: ca-cert then its issuers from cert-chain.pem, without roots.
  const chain: string[] = [ownPem];
  for (const pem of splitPemCertificates(pems.chain)) {
    if (roots.includes(pem) || chain.includes(pem)) continue;
    chain.push(pem);
  }
  let anchor: crypto.X509Certificate;
  if (selfSigned) {
    // a self-signed signing cert is the root: the response is leaf + the root bundle
    chain.length = 0;
    anchor = new crypto.X509Certificate(ownPem);
  } else {
    // the plugged chain must lead to one of the roots, or workloads would get certificates nobody trusts
    const last = new crypto.X509Certificate(chain[chain.length - 1]!);
    const found = rootCerts.find((r) => last.checkIssued(r) && last.verify(r.publicKey));
    if (!found) throw new Error(`${CA_FILES.cert}/${CA_FILES.chain} do not chain to ${rootCerts.length > 1 ? `any of the ${rootCerts.length} roots in` : ''} ${CA_FILES.root}`.replace('  ', ' '));
    anchor = found;
  }
  const rootPem = roots.join('');
  const root = anchor;
  return {
    pems,
    // workload and serving certificates alike: empty subject, SANs only, TLS server and client
    profile: new CertificateProfile(key, {
      issuer: parsed.subject,
      subject: EMPTY_NAME,
      isCa: false,
      keyUsage: { digitalSignature: true, keyEncipherment: true },
      extKeyUsage: [OID.serverAuth, OID.clientAuth],
      authorityKeyId: parsed.subjectKeyId ?? keyIdentifier(parsed.spki),
    }),
    certDer,
    chain,
    // istiod's CreateCertificate answer: leaf, the signing chain, then root-cert.pem whole (every root)
    responseTail: [...chain, rootPem],
    rootPem,
    rootNotAfter: new Date(root.validTo),
    selfSigned,
    fingerprint: root.fingerprint256,
    roots: rootCerts.map((r) => ({ fingerprint: r.fingerprint256, subject: r.subject, notAfter: new Date(r.validTo) })),
  };
}
