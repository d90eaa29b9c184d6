import { encodeMessage, lookupType, TO_OBJECT_OPTIONS } from '../../../src/envoy/protos.js';

// Generators write proto-JSON by hand; protobufjs' fromObject silently drops a misspelt field, a field of
// the wrong message, an enum name that does not exist or a nested Any of an unloaded type. This finds
// what an encode → decode round trip lost, so tests can insist on "nothing".

/** Decodes with every default filled in, so a value equal to its default is still found. */
function roundTrip(typeName: string, body: object): unknown {
  const type = lookupType(typeName);
  const bytes = encodeMessage(typeName, body);
  return type.toObject(type.decode(bytes), { ...TO_OBJECT_OPTIONS, defaults: true });
}

function describe(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

function compare(expected: unknown, actual: unknown, path: string, out: string[]): void {
  if (expected === undefined) {
    out.push(`${path}: undefined value in generated resource`);
    return;
  }
  if (expected === null || typeof expected !== 'object') {
    // int64/uint64 decode as strings (longs: String); compare textual forms.
    if (actual === undefined || actual === null || String(expected) !== String(actual)) {
      out.push(`${path}: wrote ${describe(expected)}, read back ${describe(actual)}`);
    }
    return;
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual) || actual.length !== expected.length) {
      out.push(`${path}: wrote ${expected.length} items, read back ${describe(actual)}`);
      return;
    }
    expected.forEach((e, i) => compare(e, actual[i], `${path}[${i}]`, out));
    return;
  }
  if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) {
    out.push(`${path}: wrote ${describe(expected)}, read back ${describe(actual)}`);
    return;
  }
  const act = actual as Record<string, unknown>;
  for (const [k, v] of Object.entries(expected as Record<string, unknown>)) {
    if (!(k in act)) {
      out.push(`${path}.${k}: lost (unknown field, wrong message or unloaded Any type)`);
      continue;
    }
    compare(v, act[k], `${path}.${k}`, out);
  }
}

/**
 * Every field of `body` (a resource in proto-JSON form) that does not survive encode → decode with
 * Envoy's protos, as `path: reason` strings. Empty means the resource is exactly what was meant.
 */
export function roundTripLosses(typeName: string, body: object): string[] {
  const out: string[] = [];
  let decoded: unknown;
  try {
    decoded = roundTrip(typeName, body);
  } catch (err) {
    return [`${typeName}: does not encode: ${(err as Error).message}`];
  }
  compare(body, decoded, typeName, out);
  return out;
}
