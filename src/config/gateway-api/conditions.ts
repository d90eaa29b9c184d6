// Status conditions as istiod writes them for Gateway API objects: one entry per condition type, sorted by
// type, a failing condition inverts its status and carries the error's reason and message.

import type { Condition } from './objects.js';

export interface ConfigError {
  reason: string;
  message: string;
}

export interface ConditionSpec {
  reason?: string;
  message?: string;
  /** status when there is no error; True unless said otherwise */
  status?: 'True' | 'False';
  error?: ConfigError;
}

export function buildConditions(
  specs: Readonly<Record<string, ConditionSpec>>,
  generation: number | undefined,
  now: string,
): Condition[] {
  return Object.keys(specs)
    .sort()
    .map((type) => {
      const c = specs[type]!;
      const ok = c.status ?? 'True';
      const status = c.error ? (ok === 'True' ? 'False' : 'True') : ok;
      const out: Condition = {
        type,
        status,
        reason: c.error ? c.error.reason : (c.reason ?? ''),
        message: c.error ? c.error.message : (c.message ?? ''),
        lastTransitionTime: now,
      };
      if (generation) out.observedGeneration = generation;
      return out;
    });
}

/**
 * Conditions written over an object's existing ones, as Kubernetes' meta.SetStatusCondition: a condition of
 * the same type is replaced, other types (another writer's) are kept in place.
 */
export function mergeConditions(existing: readonly Condition[] | undefined, fresh: readonly Condition[]): Condition[] {
  const out = [...(existing ?? [])];
  for (const c of fresh) {
    const i = out.findIndex((e) => e.type === c.type);
    if (i >= 0) out[i] = c;
    else out.push(c);
  }
  return out;
}

export function joinErrors(a: ConfigError | undefined, b: ConfigError | undefined): ConfigError | undefined {
  if (!b) return a;
  if (!a) return b;
  return { reason: a.reason, message: `${a.message}; ${b.message}` };
}

/** "a", "a and b", "a, b, and c" */
export function humanReadableJoin(items: readonly string[]): string {
  if (items.length <= 1) return items[0] ?? '';
  if (items.length === 2) return `${items[0]} and ${items[1]}`;
  return `${items.slice(0, -1).join(', ')}, and ${items[items.length - 1]}`;
}
