// Istio status for refused objects. istiod's analysis writes `status.validationMessages` (IstioStatus,
// istio/api meta/v1alpha1/status.proto) with AnalysisMessageBase entries; a schema/semantic refusal is
// analyzer message IST0106 SchemaValidationError. meshd writes one entry per problem, adding the
// human-readable `message` (the CRDs' status preserves unknown fields) so `kubectl get vs NAME -o yaml`
// says what is wrong, plus `observedGeneration`. When the object becomes valid the entries are removed.
// Only the replica holding the leader Lease writes; writes are merge patches of the status subresource
// with the observed resourceVersion as precondition (a 409 means a newer version is on its way).

import { KINDS, type Kind, type KindInfo } from '../../config/kinds.js';

const notServed = (kind: Kind): Kind | undefined => ((KINDS[kind] as KindInfo).served ? undefined : kind);
import type { Logger } from '../../telemetry/log.js';
import type { Metrics } from '../../telemetry/metrics.js';
import type { Admission } from '../apply.js';
import { KubeApiError, type KubeHttp } from './client.js';
import type { KubeObject } from './normalize.js';
import { resourceOf, resourcePath } from './resources.js';

export const SCHEMA_VALIDATION_ERROR = { code: 'IST0106', name: 'SchemaValidationError' } as const;
/** meshd's own message (no Istio analyzer says this): a valid object of a kind meshd does not serve. */
export const NOT_SERVED = { code: 'MESHD0001', name: 'NotServed' } as const;
const DOC_URL = 'https://istio.io/latest/docs/reference/config/analysis/ist0106/?ref=status-controller';

export interface ValidationMessage {
  readonly documentationUrl: string;
  readonly level: 'ERROR' | 'WARNING' | 'INFO';
  readonly type: { readonly code: string; readonly name: string };
  readonly message: string;
}

export function validationMessages(problems: readonly { path: string; reason: string }[]): ValidationMessage[] {
  return problems.map((p) => ({
    documentationUrl: DOC_URL,
    level: 'ERROR',
    type: { ...SCHEMA_VALIDATION_ERROR },
    message: `Schema validation error: ${p.path ? `${p.path}: ` : ''}${p.reason}`,
  }));
}

function notServedMessage(kind: Kind): ValidationMessage {
  return {
    documentationUrl: '',
    level: 'WARNING',
    type: { ...NOT_SERVED },
    message: `${kind} is validated but not served by meshd: it has no effect on the proxies meshd configures`,
  };
}

interface Entry {
  kind: Kind;
  key: string;
  obj: KubeObject;
  problems: readonly { path: string; reason: string }[];
}

/** The analyzers' messages (PILOT_ENABLE_ANALYSIS), per object key: src/analyze/controller.ts. */
export type AnalysisMessages = ReadonlyMap<string, readonly ValidationMessage[]>;

interface StatusWriterOptions {
  readonly http: KubeHttp;
  readonly log: Logger;
  readonly metrics?: Metrics | undefined;
  readonly isLeader: () => boolean;
  readonly retryMs?: number;
}

/** Messages meshd writes: Istio's analyzer codes (IST0106 and, with analysis on, every IST code) and its own. */
const ours = (m: unknown) => {
  const code = (m as { type?: { code?: string } })?.type?.code;
  return typeof code === 'string' && (/^IST\d{4}$/.test(code) || code === NOT_SERVED.code);
};

export class StatusWriter {
  private readonly entries = new Map<string, Entry>();
  private readonly queue = new Map<string, Entry>();
  private analysis: AnalysisMessages = new Map();
  private running = false;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: StatusWriterOptions) {}

  /** The latest version of an Istio object; `admission` when its content (not just status) changed. */
  observe(kind: Kind, key: string, obj: KubeObject, admission: Admission | undefined): void {
    const prev = this.entries.get(key);
    const problems = admission ? (admission.ok ? [] : admission.problems) : (prev?.problems ?? []);
    const entry: Entry = { kind, key, obj, problems };
    this.entries.set(key, entry);
    this.evaluate(entry);
  }

  forget(key: string): void {
    this.entries.delete(key);
    this.queue.delete(key);
  }

  /**
   * The latest analysis of every object (an object absent from the map has no message): written beside
   * the validation messages; objects whose messages changed are re-checked.
   */
  setAnalysis(byKey: AnalysisMessages): void {
    const before = this.analysis;
    this.analysis = byKey;
    for (const e of this.entries.values()) {
      if (JSON.stringify(before.get(e.key) ?? []) !== JSON.stringify(byKey.get(e.key) ?? [])) this.evaluate(e);
    }
  }

  /** Re-checks every object (on becoming leader). */
  resync(): void {
    for (const e of this.entries.values()) this.evaluate(e);
  }

  stop(): void {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.queue.clear();
  }

  /** The status patch an entry needs, or undefined when its status is already right. */
  static desiredPatch(obj: KubeObject, problems: readonly { path: string; reason: string }[], notServedKind?: Kind, analysis: readonly ValidationMessage[] = []): Record<string, unknown> | undefined {
    const status = (obj.status ?? {}) as { validationMessages?: unknown[]; observedGeneration?: unknown };
    const current = Array.isArray(status.validationMessages) ? status.validationMessages : [];
    const generation = obj.metadata.generation;
    if (problems.length > 0 || notServedKind || analysis.length > 0) {
      const want = [...(problems.length > 0 ? validationMessages(problems) : notServedKind ? [notServedMessage(notServedKind)] : []), ...analysis];
      const others = current.filter((m) => !ours(m));
      const next = [...others, ...want];
      const sameGen = generation === undefined || String(status.observedGeneration) === String(generation);
      if (JSON.stringify(next) === JSON.stringify(current) && sameGen) return undefined;
      return { validationMessages: next, ...(generation !== undefined ? { observedGeneration: generation } : {}) };
    }
    if (!current.some(ours)) return undefined;
    const others = current.filter((m) => !ours(m));
    return { validationMessages: others.length ? others : null, ...(generation !== undefined ? { observedGeneration: generation } : {}) };
  }

  private evaluate(e: Entry): void {
    if (!this.opts.isLeader() || this.stopped) return;
    if (!StatusWriter.desiredPatch(e.obj, e.problems, notServed(e.kind), this.analysis.get(e.key))) {
      this.queue.delete(e.key);
      return;
    }
    this.queue.set(e.key, e);
    void this.drain();
  }

  private async drain(): Promise<void> {
    if (this.running) return;
    this.running = true;
    let failed = false;
    try {
      while (this.queue.size > 0 && !this.stopped && this.opts.isLeader()) {
        const [key, e] = this.queue.entries().next().value as [string, Entry];
        this.queue.delete(key);
        const patch = StatusWriter.desiredPatch(e.obj, e.problems, notServed(e.kind), this.analysis.get(e.key));
        if (!patch) continue;
        const r = resourceOf(e.kind);
        const version = (e.obj.apiVersion ?? '').split('/').pop() || r.versions[0]!;
        const url = resourcePath(r, version, { namespace: e.obj.metadata.namespace, name: e.obj.metadata.name, subresource: 'status' });
        try {
          await this.opts.http.request('PATCH', url, {
            contentType: 'application/merge-patch+json',
            body: { metadata: { resourceVersion: e.obj.metadata.resourceVersion }, status: patch },
          });
          this.opts.metrics?.kubeStatusWrites.inc({ result: 'ok' });
          this.opts.log.info({ object: key, problems: e.problems.length }, e.problems.length ? 'wrote validation status' : 'cleared validation status');
        } catch (err) {
          if (err instanceof KubeApiError && (err.statusCode === 409 || err.statusCode === 404)) {
            this.opts.metrics?.kubeStatusWrites.inc({ result: 'stale' });
            continue; // a newer version (or the deletion) is on its way through the informer
          }
          this.opts.metrics?.kubeStatusWrites.inc({ result: 'error' });
          this.opts.log.warn({ object: key, err: (err as Error).message }, 'status write failed; will retry');
          if (!this.queue.has(key) && this.entries.get(key) === e) this.queue.set(key, e);
          failed = true;
          break;
        }
      }
    } finally {
      this.running = false;
    }
    if (failed && !this.stopped && !this.retryTimer) {
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined;
        void this.drain();
      }, this.opts.retryMs ?? 2000);
      this.retryTimer.unref?.();
    }
  }
}
