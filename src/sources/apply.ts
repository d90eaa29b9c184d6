// The one path every source takes into the store: validate a document, name it (kind + key, namespace
// defaulted), accept it (upsert only when it changed) or refuse it (a validate-style message per problem,
// logged, counted, recorded on the store — the last good version stays in force).

import { isDeepStrictEqual } from 'node:util';
import { ALL_KINDS, KINDS, isClusterScoped, type Kind, type KindInfo } from '../config/kinds.js';
import { formatProblem, type ObjectRef, type Origin } from '../config/origin.js';
import { keyOf, objectKey, type ConfigStore } from '../config/store.js';
import type { KindMap } from '../config/schemas/index.js';
import { validateDocument } from '../config/validate.js';
import type { Logger } from '../telemetry/log.js';
import type { Metrics } from '../telemetry/metrics.js';

const DEFAULT_NAMESPACE = 'default';

export type Admission =
  | { readonly ok: true; readonly kind: Kind; readonly key: string; readonly object: KindMap[Kind] }
  | {
      readonly ok: false;
      readonly ref: ObjectRef;
      /** the store key of the object the document names, when it names one of a known kind */
      readonly kind?: Kind;
      readonly key?: string;
      readonly messages: string[];
      readonly problems: readonly { path: string; reason: string }[];
    };

/** Validates one document (schema + Istio semantics) and names it. Never throws. */
export function admit(doc: unknown, origin: Origin): Admission {
  const result = validateDocument(doc);
  if (result.ok) {
    const { kind, object } = result.value;
    const namespaced = isClusterScoped(kind) || object.metadata.namespace
      ? object
      : ({ ...object, metadata: { ...object.metadata, namespace: DEFAULT_NAMESPACE } } as KindMap[Kind]);
    return { ok: true, kind, key: keyOf(namespaced, kind), object: namespaced };
  }
  // Namespaced objects without a namespace land in `default`: say so in the message too.
  const clusterScoped = result.kind !== undefined && isClusterScoped(result.kind);
  const ref = !clusterScoped && !result.ref.namespace ? { ...result.ref, namespace: DEFAULT_NAMESPACE } : result.ref;
  const messages = result.problems.map((p) => formatProblem(origin, ref, p));
  // keyed like the object it names (group + kind: a refused Gateway API Gateway is not Istio's Gateway); a
  // kind meshd does not know at all is keyed by its name, unless that name is one of a known kind's
  const kind = result.kind ?? (ref.kind && !ALL_KINDS.some((k) => KINDS[k].kind === ref.kind) ? (ref.kind as Kind) : undefined);
  if (kind && ref.name) {
    const key = objectKey(kind, isClusterScoped(kind) ? undefined : (ref.namespace ?? DEFAULT_NAMESPACE), ref.name);
    return { ok: false, ref, kind, key, messages, problems: result.problems };
  }
  return { ok: false, ref, messages, problems: result.problems };
}

export interface SourceSink {
  readonly store: ConfigStore;
  readonly sourceId: string;
  readonly log: Logger;
  readonly metrics?: Metrics | undefined;
  /** `source` label of meshd_config_rejections_total */
  readonly metricSource: string;
}

/**
 * Upserts an accepted object unless the store already holds an identical one. Returns whether it changed.
 * An object of a kind meshd validates but does not serve is stored too (so /debug/configz lists it) and,
 * the first time, logged and counted: it must never look as if it were in force.
 */
export function accept(sink: SourceSink, kind: Kind, key: string, object: KindMap[Kind], origin: Origin): boolean {
  const current = sink.store.get(kind, key);
  if (current && isDeepStrictEqual(current.object, object)) {
    sink.store.clearRejection(key);
    return false;
  }
  if (!current && !(KINDS[kind] as KindInfo).served) {
    const line = `${formatProblem(origin, { kind, namespace: object.metadata.namespace, name: object.metadata.name }, { path: '', reason: NOT_SERVED_REASON })}`;
    sink.log.warn({ kind, object: key, notServed: true }, line);
    sink.metrics?.configNotServed.inc({ kind, source: sink.metricSource });
  }
  sink.store.upsert(kind, object, origin, sink.sourceId);
  return true;
}

export const NOT_SERVED_REASON = 'validated but not served by meshd: it has no effect on the xDS meshd sends';

/** Logs and counts a refusal, and records it on the store when the document names an object. */
export function refuse(sink: SourceSink, origin: Origin, refused: Extract<Admission, { ok: false }> | { ref: ObjectRef; messages: string[]; key?: string }): void {
  // the validate-style line is the whole event (source, object, field path, reason): logged once, as the message
  for (const line of refused.messages) sink.log.warn(line);
  sink.metrics?.configRejections.inc({ kind: refused.ref.kind ?? 'unknown', source: sink.metricSource });
  if (refused.key && refused.ref.name) {
    sink.store.reject(refused.key, { ...refused.ref, origin, messages: refused.messages, at: new Date() });
  }
}

/** Removes an object this source owns (no-op if another source owns it now). */
export function withdraw(sink: SourceSink, kind: Kind, key: string): boolean {
  const current = sink.store.get(kind, key);
  if (!current) {
    sink.store.clearRejection(key);
    return false;
  }
  if (current.sourceId !== sink.sourceId) return false;
  return sink.store.delete(kind, key);
}
