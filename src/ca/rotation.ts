import crypto from 'node:crypto';
import type { Logger } from '../telemetry/log.js';
import { CertificateAuthority, type CaPems } from './authority.js';
import { splitPemCertificates } from './x509.js';

// Root-of-trust rotation without downtime (`meshd ca rotate`), beyond istiod, whose plugged-CA rotation is
// a manual runbook. Three phases, each visible (status(), metrics, log) and abortable:
//
//   (a) publishing  trust bundle = old roots + new roots; signing stays with the old CA. Held until every
//                   connected proxy holds the bundle: meshd does not serve SDS, so it learns this from the
//                   certificate requests their agents make — every CreateCertificate answer carries the
//                   bundle — plus the time the agent's proxy needs to load it (gRPC's file_watcher refresh
//                   interval, which meshd agents report with each request; SDS pushes it at once). meshd
//                   agents renew at once when their istio-ca-root-cert copy (--ca-root-file) changes, which
//                   the rotation causes (the ConfigMap, or --ca-dir/root-cert.pem in config-dir mode);
//                   istio-agent picks the bundle up at its next renewal. A proxy is matched to requests by
//                   the node id meshd agents send, else by its SPIFFE identity and pod IP.
//   (b) signing     signing switches to the new CA (certificates chain to the new root; both roots still
//                   trusted). Held until no certificate issued by the old CA is alive: each known one has
//                   expired or its holder has renewed under the new CA, and every connected proxy has.
//   (c) done        the old roots are dropped: the bundle is the new roots only.
//
// abort() goes back one step: from (a) to the old material; from (b) to (a) (signing with the old CA again,
// both roots still trusted, since certificates of the new CA may be out). Each phase's material is written
// where the CA's lives (--ca-dir files or the Secret) before it is swapped in, so a restart keeps serving
// it; the rotation's progress itself is held in memory (after a restart run `meshd ca rotate` again with
// the same directory: it resumes from the material found).

export type RotationPhase = 'idle' | 'publishing' | 'signing';
export const PHASE_NUMBER: Record<RotationPhase, number> = { idle: 0, publishing: 1, signing: 2 };

/** One certificate the CA issued, as the rotation needs to know it. */
export interface Issuance {
  /** SPIFFE identity */
  readonly identity: string;
  /** the caller's address (IP) */
  readonly peerIp: string;
  /** the xDS node id a meshd agent reports with its request (x-meshd-node-id) */
  readonly nodeId?: string;
  /** how long the workload's proxy takes to load new files (x-meshd-cert-reload-seconds), ms */
  readonly reloadMs?: number;
  readonly issuedAt: number;
  readonly notAfter: number;
  /** the trust bundle the answer carried */
  readonly bundle: string;
  /** SHA-256 fingerprint of the root the certificate chains to */
  readonly signerRoot: string;
}

/** A proxy connected to meshd's xDS server. */
export interface ConnectedProxy {
  readonly id: string;
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly ips: readonly string[];
}

export interface PendingProxy {
  readonly id: string;
  readonly reason: string;
}

export interface RotationStatus {
  readonly phase: RotationPhase;
  readonly since?: string;
  /** what the rotation waits for, in words */
  readonly message: string;
  readonly oldRoots: readonly string[];
  readonly newRoots: readonly string[];
  /** roots trusted now (fingerprints) */
  readonly bundle: readonly string[];
  /** the root signing chains to now */
  readonly signingRoot: string;
  readonly pending: readonly PendingProxy[];
  readonly pendingCount: number;
  /** certificates of the old CA known to be alive (phase signing) */
  readonly oldCertificatesAlive: number;
  readonly oldCertificatesExpireBy?: string;
  readonly lastCompleted?: string;
}

export interface RotationOptions {
  readonly ca: CertificateAuthority;
  readonly log: Logger;
  /** writes material where the CA's lives, before it is swapped in */
  readonly persist: (pems: CaPems) => Promise<void>;
  /** the proxies connected now */
  readonly proxies: () => readonly ConnectedProxy[];
  readonly trustDomain: string;
  /** how often progress is checked (5 s) */
  readonly checkIntervalMs?: number;
  /** time a proxy's agent needs to hand a new bundle to the proxy when it does not say (SDS: at once), 5 s */
  readonly defaultReloadMs?: number;
  readonly metrics?: { setPhase(n: number): void; setPending(n: number): void };
  readonly now?: () => number;
}

const MAX_TRACKED = 100_000;
const MAX_LISTED = 100;

const fingerprints = (bundle: string) => splitPemCertificates(bundle).map((p) => new crypto.X509Certificate(p).fingerprint256);

export class RotationError extends Error {}

export class RootRotation {
  private phase: RotationPhase = 'idle';
  private since = 0;
  private old: CaPems | undefined;
  private next: CaPems | undefined;
  /** latest issuance per holder key (node id, else identity|ip); insertion order = age (bounded) */
  private readonly issued = new Map<string, Issuance>();
  private timer: NodeJS.Timeout | undefined;
  private lastStatus: RotationStatus;
  private lastCompleted: number | undefined;
  private lastHeldLog = 0;
  private busy: Promise<void> = Promise.resolve();
  private readonly log: Logger;

  constructor(private readonly opts: RotationOptions) {
    this.log = opts.log.child({ scope: 'ca-rotation' });
    this.lastStatus = this.compute();
  }

  private now(): number {
    return this.opts.now?.() ?? Date.now();
  }

  start(): void {
    const every = this.opts.checkIntervalMs ?? 5000;
    this.timer = setInterval(() => void this.tick(), every);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The CSR service reports every certificate it issued. */
  recordIssuance(i: Issuance): void {
    const key = i.nodeId ? `node:${i.nodeId}` : `id:${i.identity}|${i.peerIp}`;
    this.issued.delete(key);
    this.issued.set(key, i);
    if (this.issued.size > MAX_TRACKED) this.issued.delete(this.issued.keys().next().value!);
  }

  status(): RotationStatus {
    this.lastStatus = this.compute();
    return this.lastStatus;
  }

  /** Stages new CA material (phase a). Refuses material that does not load, or the root already in use. */
  stage(next: CaPems, from: string): Promise<RotationStatus> {
    return this.serial(async () => {
      if (this.phase !== 'idle') throw new RotationError(`a rotation is already in phase ${this.phase}; abort it first`);
      let probe: CertificateAuthority;
      try {
        probe = CertificateAuthority.fromPems({ trustDomain: this.opts.trustDomain, log: this.opts.log, source: from }, next);
      } catch (err) {
        throw new RotationError((err as Error).message);
      }
      const ca = this.opts.ca;
      if (probe.signingRootFingerprint === ca.signingRootFingerprint) throw new RotationError(`${from}: its root is the one in use; nothing to rotate`);
      const current = ca.pems;
      const oldRoots = splitPemCertificates(current.root);
      const newRoots = splitPemCertificates(probe.rootPem);
      // resuming after a restart: the material found may already be this rotation's (a)
      const oldOnly = oldRoots.filter((r) => !newRoots.includes(r));
      this.old = { ...current, root: oldOnly.join('') };
      this.next = { ...next, root: newRoots.join('') };
      await this.apply({ ...current, root: [...oldOnly, ...newRoots].join('') });
      this.enter('publishing', `staged ${from}: publishing old and new roots; signing stays with the old CA until every connected proxy holds both`);
      return this.status();
    });
  }

  /** One step back: (b) → (a), (a) → idle with the old material. */
  abort(): Promise<RotationStatus> {
    return this.serial(async () => {
      if (this.phase === 'idle' || !this.old || !this.next) throw new RotationError('no rotation in progress');
      if (this.phase === 'signing') {
        await this.apply({ ...this.old, root: [this.old.root, this.next.root].join('') });
        this.enter('publishing', 'aborted phase signing: signing with the old CA again; both roots stay trusted (certificates of the new CA may be out). Abort again to drop the new root');
      } else {
        // certificates of the new CA handed out in an aborted phase (b) must expire or be renewed first
        const newRoots = new Set(fingerprints(this.next.root));
        const now = this.now();
        const alive = [...this.issued.values()].filter((i) => newRoots.has(i.signerRoot) && i.notAfter > now);
        if (alive.length > 0) {
          const latest = new Date(Math.max(...alive.map((i) => i.notAfter))).toISOString();
          throw new RotationError(`${alive.length} certificate(s) of the new CA are alive (latest expiry ${latest}): dropping its root now would break them; abort again once they are renewed or expired`);
        }
        await this.apply(this.old);
        this.enter('idle', 'aborted: the new root is no longer published');
        this.old = this.next = undefined;
      }
      return this.status();
    });
  }

  /** Checks progress and advances when the current phase's condition holds. */
  tick(): Promise<void> {
    return this.serial(async () => {
      const s = this.compute();
      this.lastStatus = s;
      this.opts.metrics?.setPending(s.pendingCount);
      if (this.phase === 'idle') return;
      if (this.phase === 'publishing' && s.pendingCount === 0) {
        await this.apply({ ...this.next!, root: [this.old!.root, this.next!.root].join('') });
        this.enter('signing', 'every connected proxy holds both roots: signing with the new CA; the old root is dropped once no certificate of the old CA is alive');
      } else if (this.phase === 'signing' && s.pendingCount === 0 && s.oldCertificatesAlive === 0) {
        await this.apply(this.next!);
        this.lastCompleted = this.now();
        this.enter('idle', 'rotation complete: the old root is no longer trusted');
        this.old = this.next = undefined;
      } else if (this.now() - this.lastHeldLog > 60_000) {
        this.lastHeldLog = this.now();
        this.log.warn({ phase: this.phase, pending: s.pending.slice(0, 10), pendingCount: s.pendingCount, oldCertificatesAlive: s.oldCertificatesAlive }, `rotation held: ${s.message}`);
      }
      this.lastStatus = this.compute();
    });
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.busy.then(fn);
    this.busy = run.then(() => undefined, () => undefined);
    return run;
  }

  private async apply(pems: CaPems): Promise<void> {
    await this.opts.persist(pems);
    this.opts.ca.replace(pems, { direct: true });
  }

  private enter(phase: RotationPhase, message: string): void {
    this.phase = phase;
    this.since = this.now();
    this.lastHeldLog = this.now();
    this.opts.metrics?.setPhase(PHASE_NUMBER[phase]);
    const s = this.compute();
    this.opts.metrics?.setPending(s.pendingCount);
    this.log.info({ phase, bundle: s.bundle, signingRoot: s.signingRoot, pendingCount: s.pendingCount }, message);
  }

  /** The latest certificate the proxy's agent got: by node id (meshd agents), or by identity and pod IP. */
  private holderOf(p: ConnectedProxy): Issuance | undefined {
    const identity = `spiffe://${this.opts.trustDomain}/ns/${p.namespace}/sa/${p.serviceAccount || 'default'}`;
    let best: Issuance | undefined = this.issued.get(`node:${p.id}`);
    for (const ip of p.ips) {
      const i = this.issued.get(`id:${identity}|${ip}`);
      if (i && (!best || i.issuedAt > best.issuedAt)) best = i;
    }
    return best;
  }

  private compute(): RotationStatus {
    const ca = this.opts.ca;
    const now = this.now();
    const bundle = ca.rootPem;
    const signingRoot = ca.signingRootFingerprint;
    const pending: PendingProxy[] = [];
    let oldAlive = 0;
    let oldExpireBy = 0;
    let message = this.lastCompleted ? `no rotation in progress; the last one completed at ${new Date(this.lastCompleted).toISOString()}` : 'no rotation in progress';
    if (this.phase !== 'idle') {
      const since = new Date(this.since).toISOString();
      for (const p of this.opts.proxies()) {
        const i = this.holderOf(p);
        if (this.phase === 'publishing') {
          if (!i || i.bundle !== bundle || i.issuedAt < this.since) {
            pending.push({ id: p.id, reason: `no certificate request since the bundle was published at ${since}: its agent has not fetched the new roots (a meshd agent renews when its --ca-root-file changes; istio-agent at its next renewal)` });
          } else if (i.issuedAt + (i.reloadMs ?? this.opts.defaultReloadMs ?? 5000) > now) {
            pending.push({ id: p.id, reason: `got the bundle at ${new Date(i.issuedAt).toISOString()}; waiting for its proxy to load it (until ${new Date(i.issuedAt + (i.reloadMs ?? this.opts.defaultReloadMs ?? 5000)).toISOString()})` });
          }
        } else if (!i || i.signerRoot !== signingRoot) {
          pending.push({ id: p.id, reason: `still holds a certificate of the old CA${i ? ` (expires ${new Date(i.notAfter).toISOString()})` : ''}; waiting for its renewal` });
        }
      }
      if (this.phase === 'signing') {
        for (const i of this.issued.values()) {
          if (i.signerRoot !== signingRoot && i.notAfter > now) {
            oldAlive++;
            oldExpireBy = Math.max(oldExpireBy, i.notAfter);
          }
        }
      }
      message = this.phase === 'publishing'
        ? pending.length === 0 ? 'every connected proxy holds both roots' : `waiting for ${pending.length} connected prox${pending.length === 1 ? 'y' : 'ies'} to hold the new trust bundle`
        : pending.length + oldAlive === 0 ? 'no certificate of the old CA is alive'
          : `waiting for ${oldAlive} certificate(s) of the old CA to expire or be renewed (latest ${new Date(oldExpireBy).toISOString()}) and ${pending.length} connected prox${pending.length === 1 ? 'y' : 'ies'} to renew`;
    }
    const fp = (pems: CaPems | undefined) => (pems ? fingerprints(pems.root) : []);
    return {
      phase: this.phase,
      ...(this.phase !== 'idle' ? { since: new Date(this.since).toISOString() } : {}),
      message,
      oldRoots: fp(this.old),
      newRoots: fp(this.next),
      bundle: fingerprints(bundle),
      signingRoot,
      pending: pending.slice(0, MAX_LISTED),
      pendingCount: pending.length,
      oldCertificatesAlive: oldAlive,
      ...(oldExpireBy ? { oldCertificatesExpireBy: new Date(oldExpireBy).toISOString() } : {}),
      ...(this.lastCompleted ? { lastCompleted: new Date(this.lastCompleted).toISOString() } : {}),
    };
  }
}
