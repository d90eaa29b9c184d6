// Gateway API status write-back, as istiod's gateway controller does it: the statuses the conversion
// computes (src/config/gateway-api/convert.ts via PushContext.gatewayApiStatuses — GatewayClass Accepted,
// Gateway Accepted/Programmed/ResolvedRefs with listener conditions and addresses, each route's parent
// statuses Accepted/ResolvedRefs) are written to the objects' status subresource, only when they differ
// from what the object shows. A condition whose status did not change keeps its lastTransitionTime; a
// route's parent entries written by other controllers (another controllerName) are kept.
//
// Only the replica holding the leader Lease writes; writes are JSON merge patches of the status
// subresource with the observed resourceVersion as precondition (409/404: a newer version or the deletion
// is on its way through the informer, which brings another check). Failures are retried.

import { kindOf, type Kind } from '../../config/kinds.js';
import { ISTIO_GATEWAY_CONTROLLER, type Condition, type StatusWrite } from '../../config/gateway-api/objects.js';
import type { Logger } from '../../telemetry/log.js';
import type { Metrics } from '../../telemetry/metrics.js';
import { KubeApiError, type KubeHttp } from './client.js';
import type { KubeObject } from './normalize.js';
import { resourceOf, resourcePath } from './resources.js';

type Json = Record<string, unknown>;

/** `want`'s conditions with the lastTransitionTime of `current`'s same-type condition wherever the status is unchanged. */
function keepTransitionTimes(want: unknown, current: unknown): unknown {
  if (!Array.isArray(want)) return want;
  const before = new Map((Array.isArray(current) ? (current as Condition[]) : []).map((c) => [c.type, c]));
  return (want as Condition[]).map((c) => {
    const old = before.get(c.type);
    return old && old.status === c.status && old.lastTransitionTime ? { ...c, lastTransitionTime: old.lastTransitionTime } : c;
  });
}

/** The status an object should show: `want`, with stable transition times and other controllers' route parents kept. */
export function mergedStatus(want: Json, current: Json | undefined): Json {
  const out: Json = { ...(current ?? {}), ...want };
  if ('conditions' in want) out['conditions'] = keepTransitionTimes(want['conditions'], current?.['conditions']);
  if (Array.isArray(want['listeners'])) {
    const old = new Map(((current?.['listeners'] as Json[] | undefined) ?? []).map((l) => [l['name'], l]));
    out['listeners'] = (want['listeners'] as Json[]).map((l) => ({ ...l, conditions: keepTransitionTimes(l['conditions'], old.get(l['name'])?.['conditions']) }));
  }
  if (Array.isArray(want['parents'])) {
    const currentParents = (current?.['parents'] as Json[] | undefined) ?? [];
    const refKey = (p: Json) => JSON.stringify(p['parentRef']);
    const old = new Map(currentParents.map((p) => [refKey(p), p]));
    const ours = (want['parents'] as Json[]).map((p) => ({ ...p, conditions: keepTransitionTimes(p['conditions'], old.get(refKey(p))?.['conditions']) }));
    const others = currentParents.filter((p) => p['controllerName'] !== ISTIO_GATEWAY_CONTROLLER);
    out['parents'] = [...others, ...ours];
  }
  return out;
}

export interface GatewayApiStatusOptions {
  readonly http: KubeHttp;
  readonly log: Logger;
  readonly metrics?: Metrics | undefined;
  readonly isLeader: () => boolean;
  /** the object as the informer holds it now (status included) */
  readonly current: (kind: Kind, namespace: string | undefined, name: string) => KubeObject | undefined;
  readonly retryMs?: number;
}

export class GatewayApiStatusWriter {
  private desired: readonly StatusWrite[] = [];
  private scheduled = false;
  private running = false;
  private rerun = false;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: GatewayApiStatusOptions) {}

  /** The statuses of the latest snapshot (replacing the previous ones); writes what differs. */
  setDesired(statuses: readonly StatusWrite[]): void {
    this.desired = statuses;
    this.sync();
  }

  /** Re-checks every object (coalesced: many calls in one turn are one pass). */
  sync(): void {
    if (this.stopped || this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.pass();
    });
  }

  stop(): void {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
  }

  private pending(): { kind: Kind; obj: KubeObject; status: Json }[] {
    const out: { kind: Kind; obj: KubeObject; status: Json }[] = [];
    for (const w of this.desired) {
      const kind = kindOf(w.apiVersion.slice(0, w.apiVersion.lastIndexOf('/')), w.kind);
      if (!kind) continue;
      const obj = this.opts.current(kind, w.metadata.namespace, w.metadata.name);
      if (!obj) continue;
      const current = obj['status'] as Json | undefined;
      const status = mergedStatus(w.status, current);
      if (JSON.stringify(status) !== JSON.stringify(current ?? {})) out.push({ kind, obj, status });
    }
    return out;
  }

  private async pass(): Promise<void> {
    if (this.running) {
      this.rerun = true;
      return;
    }
    if (this.stopped || !this.opts.isLeader()) return;
    this.running = true;
    let failed = false;
    try {
      for (const { kind, obj, status } of this.pending()) {
        if (this.stopped || !this.opts.isLeader()) break;
        const key = `${kind}/${obj.metadata.namespace ?? ''}/${obj.metadata.name}`;
        const r = resourceOf(kind);
        const version = (obj.apiVersion ?? '').split('/').pop() || r.versions[0]!;
        const url = resourcePath(r, version, { namespace: obj.metadata.namespace, name: obj.metadata.name, subresource: 'status' });
        try {
          await this.opts.http.request('PATCH', url, {
            contentType: 'application/merge-patch+json',
            body: { metadata: { resourceVersion: obj.metadata.resourceVersion }, status },
          });
          this.opts.metrics?.kubeStatusWrites.inc({ result: 'ok' });
          this.opts.log.info({ object: key }, 'wrote Gateway API status');
        } catch (err) {
          if (err instanceof KubeApiError && (err.statusCode === 409 || err.statusCode === 404)) {
            this.opts.metrics?.kubeStatusWrites.inc({ result: 'stale' });
            continue;
          }
          this.opts.metrics?.kubeStatusWrites.inc({ result: 'error' });
          this.opts.log.warn({ object: key, err: (err as Error).message }, 'Gateway API status write failed; will retry');
          failed = true;
          break;
        }
      }
    } finally {
      this.running = false;
    }
    if (this.rerun) {
      this.rerun = false;
      this.sync();
    } else if (failed && !this.stopped && !this.retryTimer) {
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined;
        this.sync();
      }, this.opts.retryMs ?? 2000);
      this.retryTimer.unref?.();
    }
  }
}
