import crypto from 'node:crypto';
import type { Logger } from '../telemetry/log.js';
import { DEFAULT_ROOT_TTL_MS, renewSelfSignedRoot, type CaPems, type CertificateAuthority } from './authority.js';
import { splitPemCertificates } from './x509.js';

// istiod's SelfSignedCARootCertRotator for meshd's own self-signed root: every `checkIntervalMs`
// (CITADEL_SELF_SIGNED_ROOT_CERT_CHECK_INTERVAL, 1 h; ≤ 0 disables) it looks at the root's remaining life;
// once less than `gracePeriodPercentile` % (CITADEL_SELF_SIGNED_ROOT_CERT_GRACE_PERIOD_PERCENTILE, 20) of its
// lifetime is left, it issues a new root for the SAME key and subject, valid `rootTtlMs` (10 years) from now,
// stores it where the CA's material lives (--ca-dir or Secret istio-ca-secret) and swaps it in. Every
// certificate the old root issued verifies under the new one (same issuer name and key), and peers that
// still hold only the old root verify new certificates too, so nothing has to be re-issued and no
// connection breaks. The first check is delayed by a random jitter below the interval
// (CITADEL_ENABLE_JITTER_FOR_ROOT_CERT_ROTATOR) so replicas do not rotate in step. A plugged CA (not
// self-signed) is never touched: its owner rotates it (`meshd ca rotate`).

export const DEFAULT_ROOT_CHECK_INTERVAL_MS = 3600_000;
export const DEFAULT_ROOT_GRACE_PERIOD_PERCENTILE = 20;

export interface RootRotatorOptions {
  readonly ca: CertificateAuthority;
  readonly log: Logger;
  readonly checkIntervalMs?: number;
  readonly gracePeriodPercentile?: number;
  readonly rootTtlMs?: number;
  readonly jitter?: boolean;
  /** writes the new material where the CA's lives, before it is swapped in (a failure aborts the rotation) */
  readonly persist: (pems: CaPems) => Promise<void>;
  readonly now?: () => number;
}

export class SelfSignedRootRotator {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<boolean> | undefined;
  private readonly log: Logger;

  constructor(private readonly opts: RootRotatorOptions) {
    this.log = opts.log.child({ scope: 'root-rotator' });
  }

  start(): void {
    const interval = this.opts.checkIntervalMs ?? DEFAULT_ROOT_CHECK_INTERVAL_MS;
    if (interval <= 0) return;
    const first = this.opts.jitter === false ? interval : Math.floor(Math.random() * interval);
    const tick = (ms: number) => {
      this.timer = setTimeout(() => {
        void this.checkNow().finally(() => tick(interval));
      }, Math.min(ms, 2 ** 31 - 1));
      this.timer.unref();
    };
    tick(first);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** How long until the root enters its grace period (≤ 0: rotate now). */
  waitMs(): number {
    const { notBefore, notAfter } = this.opts.ca.signingValidity;
    const life = notAfter.getTime() - notBefore.getTime();
    const pct = this.opts.gracePeriodPercentile ?? DEFAULT_ROOT_GRACE_PERIOD_PERCENTILE;
    const now = this.opts.now?.() ?? Date.now();
    return notAfter.getTime() - (life * pct) / 100 - now;
  }

  /** One check; true when it rotated. Concurrent calls share one check. */
  checkNow(): Promise<boolean> {
    this.running ??= this.check().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async check(): Promise<boolean> {
    const ca = this.opts.ca;
    if (!ca.selfSigned) return false;
    const wait = this.waitMs();
    if (wait > 0) {
      this.log.debug({ rotateInMs: Math.round(wait) }, 'self-signed root is not about to expire');
      return false;
    }
    const old = ca.pems;
    const oldCert = splitPemCertificates(old.cert)[0]!;
    let cert: string;
    try {
      cert = renewSelfSignedRoot(old, this.opts.rootTtlMs ?? DEFAULT_ROOT_TTL_MS);
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'could not issue a new self-signed root; keeping the current one');
      return false;
    }
    // the new root replaces the old one in the bundle (istiod: the new cert plus any extra roots)
    const others = splitPemCertificates(old.root).filter((r) => r !== oldCert);
    const next: CaPems = { cert, key: old.key, chain: '', root: [cert, ...others].join('') };
    try {
      await this.opts.persist(next);
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'could not store the new self-signed root; keeping the current one');
      return false;
    }
    if (!ca.replace(next, { direct: true })) return false;
    this.log.info(
      { oldNotAfter: new crypto.X509Certificate(oldCert).validTo, newNotAfter: new crypto.X509Certificate(cert).validTo, rootFingerprint: ca.signingRootFingerprint },
      'rotated the self-signed root (same key: certificates issued before stay valid)',
    );
    return true;
  }
}
