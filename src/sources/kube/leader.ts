// Leader election on a coordination.k8s.io/v1 Lease, with client-go's protocol and defaults
// (leaseDuration 15 s, renewDeadline 10 s, retryPeriod 2 s): a candidate takes a lease that does not exist
// or whose holder has not renewed within leaseDuration *as observed by this candidate's own clock* (no
// clock-skew assumptions), with optimistic concurrency on resourceVersion; the leader renews every
// retryPeriod and steps down when it could not renew for renewDeadline. On stop it releases the lease
// (empty holder, 1 s duration) so another replica takes over at once.

import { EventEmitter } from 'node:events';
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Logger } from '../../telemetry/log.js';
import type { Metrics } from '../../telemetry/metrics.js';
import { KubeApiError, type KubeHttp } from './client.js';
import { LEASE_RESOURCE, resourcePath } from './resources.js';

export interface LeaderElectionOptions {
  readonly http: KubeHttp;
  readonly log: Logger;
  readonly metrics?: Metrics | undefined;
  readonly namespace: string;
  readonly name: string;
  /** this replica's identity (istiod: the pod name) */
  readonly identity?: string;
  readonly leaseDurationMs?: number;
  readonly renewDeadlineMs?: number;
  readonly retryPeriodMs?: number;
}

interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}
interface Lease {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string };
  spec?: LeaseSpec;
}

/** MicroTime: RFC 3339 with microseconds. */
const microTime = (d = new Date()) => d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

export function defaultIdentity(): string {
  return process.env.POD_NAME || `${os.hostname()}_${randomBytes(4).toString('hex')}`;
}

export class LeaderElector extends EventEmitter<{ leader: [boolean] }> {
  readonly identity: string;
  private leader = false;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private observed: { record: string; at: number } | undefined;
  private lastRenew = 0;
  private inFlight: Promise<void> | undefined;
  private readonly leaseMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryMs: number;
  private readonly path: string;
  private readonly log: Logger;

  constructor(private readonly opts: LeaderElectionOptions) {
    super();
    this.identity = opts.identity ?? defaultIdentity();
    this.leaseMs = opts.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = opts.renewDeadlineMs ?? 10_000;
    this.retryMs = opts.retryPeriodMs ?? 2_000;
    this.path = resourcePath(LEASE_RESOURCE, 'v1', { namespace: opts.namespace });
    this.log = opts.log.child({ lease: `${opts.namespace}/${opts.name}`, identity: this.identity });
  }

  get isLeader(): boolean {
    return this.leader;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.opts.metrics?.kubeLeader.set({ lease: this.opts.name }, 0);
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    await this.inFlight;
    if (this.leader) {
      await this.release().catch((err: Error) => this.log.warn({ err: err.message }, 'could not release the lease'));
      this.setLeader(false);
    }
  }

  private schedule(ms: number): void {
    if (!this.running) return;
    this.timer = setTimeout(() => {
      this.inFlight = this.tryAcquireOrRenew().finally(() => {
        this.inFlight = undefined;
        // client-go jitters retries of a follower by up to 20 %
        this.schedule(this.leader ? this.retryMs : this.retryMs * (1 + Math.random() * 0.2));
      });
    }, ms);
    this.timer.unref?.();
  }

  private setLeader(v: boolean): void {
    if (v === this.leader) return;
    this.leader = v;
    this.opts.metrics?.kubeLeader.set({ lease: this.opts.name }, v ? 1 : 0);
    this.log.info(v ? 'became leader' : 'lost leadership');
    this.emit('leader', v);
  }

  private async tryAcquireOrRenew(): Promise<void> {
    const now = Date.now();
    try {
      const lease = await this.get();
      const desired = (prev: LeaseSpec | undefined): LeaseSpec => {
        const same = prev?.holderIdentity === this.identity;
        return {
          holderIdentity: this.identity,
          leaseDurationSeconds: Math.ceil(this.leaseMs / 1000),
          acquireTime: same && prev?.acquireTime ? prev.acquireTime : microTime(),
          renewTime: microTime(),
          leaseTransitions: same ? (prev?.leaseTransitions ?? 0) : prev ? (prev.leaseTransitions ?? 0) + 1 : 0,
        };
      };
      if (!lease) {
        await this.opts.http.request('POST', this.path, {
          body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: this.opts.name, namespace: this.opts.namespace }, spec: desired(undefined) },
        });
        this.lastRenew = now;
        this.setLeader(true);
        return;
      }
      const spec = lease.spec ?? {};
      const record = JSON.stringify([spec.holderIdentity, spec.renewTime, spec.leaseTransitions]);
      if (this.observed?.record !== record) this.observed = { record, at: now };
      const heldByOther = !!spec.holderIdentity && spec.holderIdentity !== this.identity;
      const duration = (spec.leaseDurationSeconds ?? Math.ceil(this.leaseMs / 1000)) * 1000;
      if (heldByOther && this.observed.at + duration > now) {
        this.setLeader(false);
        return;
      }
      await this.opts.http.request('PUT', `${this.path}/${encodeURIComponent(this.opts.name)}`, {
        body: { ...lease, spec: desired(spec) },
      });
      this.lastRenew = now;
      this.setLeader(true);
    } catch (err) {
      const conflict = err instanceof KubeApiError && (err.statusCode === 409 || err.statusCode === 404);
      if (!conflict) this.log.debug({ err: (err as Error).message }, 'lease request failed');
      if (this.leader && (conflict || Date.now() - this.lastRenew > this.renewDeadlineMs)) this.setLeader(false);
    }
  }

  private async get(): Promise<Lease | undefined> {
    try {
      return await this.opts.http.request<Lease>('GET', `${this.path}/${encodeURIComponent(this.opts.name)}`, { timeoutMs: this.retryMs * 2 });
    } catch (err) {
      if (err instanceof KubeApiError && err.statusCode === 404) return undefined;
      throw err;
    }
  }

  private async release(): Promise<void> {
    const lease = await this.get();
    if (!lease || lease.spec?.holderIdentity !== this.identity) return;
    await this.opts.http.request('PUT', `${this.path}/${encodeURIComponent(this.opts.name)}`, {
      body: { ...lease, spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: microTime() } },
      timeoutMs: 2000,
    });
  }
}
