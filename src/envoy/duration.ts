import { parseDuration } from '../config/schemas/common.js';

/** google.protobuf.Duration in proto-JSON object form. */
export interface Duration {
  readonly seconds: number;
  readonly nanos: number;
}

export const ZERO_DURATION: Duration = Object.freeze({ seconds: 0, nanos: 0 });

export function durationFromNanos(ns: number): Duration {
  const total = Math.round(ns);
  const seconds = Math.trunc(total / 1e9);
  const nanos = total - seconds * 1e9;
  return { seconds, nanos };
}

/**
 * An Istio duration string (Go `time.ParseDuration` syntax: `1.5s`, `500ms`, `1h2m`) as a protobuf
 * Duration. Schemas have already validated it; an unparsable value yields undefined.
 */
export function toDuration(text: string | undefined): Duration | undefined {
  if (text === undefined) return undefined;
  const ns = parseDuration(text);
  return ns === undefined ? undefined : durationFromNanos(ns);
}
