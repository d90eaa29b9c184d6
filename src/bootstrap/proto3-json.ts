import protobuf from 'protobufjs';
import { envoyRoot } from '../envoy/protos.js';

// A bootstrap file is read by Envoy's protobuf JSON parser, which wants canonical proto3 JSON: Durations as
// "1.5s", Struct/Value as plain JSON, wrappers as their bare value, 64-bit integers as strings, bytes as
// base64, enums by name, Anys as {"@type": …, …fields}. meshd builds resources in protobufjs' object form
// (Durations {seconds, nanos}, Structs {fields: …}), so the bootstrap is encoded with Envoy's protos and the
// decoded message printed in canonical form: what is printed is exactly what was encoded and checked.
// Field names stay as in the .proto (snake_case), as in Istio's bootstrap and Envoy's docs; Envoy's parser
// accepts them.

const NANOS_PER_SECOND = 1_000_000_000n;

function longToBigInt(v: unknown): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number') return BigInt(Math.trunc(v));
  if (v && typeof v === 'object') return BigInt((v as { toString(): string }).toString());
  return BigInt(String(v ?? 0));
}

/** proto3 JSON for Duration: seconds with 0, 3, 6 or 9 fractional digits and an `s` suffix. */
export function formatDuration(seconds: unknown, nanos: unknown): string {
  const total = longToBigInt(seconds) * NANOS_PER_SECOND + BigInt(Number(nanos ?? 0));
  const negative = total < 0n;
  const abs = negative ? -total : total;
  const whole = abs / NANOS_PER_SECOND;
  const frac = abs % NANOS_PER_SECOND;
  let fraction = '';
  if (frac !== 0n) {
    const nine = frac.toString().padStart(9, '0');
    fraction = `.${nine.endsWith('000000') ? nine.slice(0, 3) : nine.endsWith('000') ? nine.slice(0, 6) : nine}`;
  }
  return `${negative ? '-' : ''}${whole}${fraction}s`;
}

function formatTimestamp(seconds: unknown, nanos: unknown): string {
  const ms = Number(longToBigInt(seconds)) * 1000;
  const iso = new Date(ms).toISOString().replace(/\.000Z$/, 'Z');
  const n = Number(nanos ?? 0);
  if (n === 0) return iso;
  return iso.replace(/Z$/, `.${String(n).padStart(9, '0').replace(/0+$/, '')}Z`);
}

const is64 = (type: string) => ['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64'].includes(type);

function scalar(type: string, v: unknown): unknown {
  if (is64(type)) return longToBigInt(v).toString();
  if (type === 'bytes') return Buffer.from(v as Uint8Array).toString('base64');
  if ((type === 'double' || type === 'float') && typeof v === 'number' && !Number.isFinite(v)) {
    return Number.isNaN(v) ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity';
  }
  return v;
}

type Msg = protobuf.Message & Record<string, unknown>;

function valueJson(v: Msg | undefined): unknown {
  if (!v) return null;
  const kind = (v as { kind?: string }).kind ?? Object.keys(v).find((k) => v[k] !== undefined && v[k] !== null);
  switch (kind) {
    case 'nullValue': return null;
    case 'numberValue': return v.numberValue;
    case 'stringValue': return v.stringValue;
    case 'boolValue': return v.boolValue;
    case 'structValue': return structJson(v.structValue as Msg);
    case 'listValue': return ((v.listValue as Msg).values as Msg[] | undefined ?? []).map(valueJson);
    default: return null;
  }
}

function structJson(s: Msg | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries((s?.fields ?? {}) as Record<string, Msg>)) out[k] = valueJson(v);
  return out;
}

function messageJson(type: protobuf.Type, msg: Msg, root: protobuf.Root): unknown {
  switch (type.fullName) {
    case '.google.protobuf.Duration': return formatDuration(msg.seconds, msg.nanos);
    case '.google.protobuf.Timestamp': return formatTimestamp(msg.seconds, msg.nanos);
    case '.google.protobuf.Struct': return structJson(msg);
    case '.google.protobuf.Value': return valueJson(msg);
    case '.google.protobuf.ListValue': return ((msg.values as Msg[] | undefined) ?? []).map(valueJson);
    case '.google.protobuf.FieldMask':
      return ((msg.paths as string[] | undefined) ?? []).map((p) => p.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase())).join(',');
    case '.google.protobuf.Any': return anyJson(msg, root);
    default:
      break;
  }
  if (/^\.google\.protobuf\.(Double|Float|Int64|UInt64|Int32|UInt32|Bool|String|Bytes)Value$/.test(type.fullName)) {
    const inner = type.fields.value!;
    return scalar(inner.type, Object.prototype.hasOwnProperty.call(msg, 'value') ? msg.value : inner.typeDefault);
  }
  const out: Record<string, unknown> = {};
  for (const field of type.fieldsArray) {
    if (!Object.prototype.hasOwnProperty.call(msg, field.name)) continue;
    const v = msg[field.name];
    if (v === null || v === undefined) continue;
    if (field.map) {
      const entries = Object.entries(v as Record<string, unknown>);
      if (entries.length === 0) continue;
      out[field.name] = Object.fromEntries(entries.map(([k, x]) => [k, fieldValue(field, x, root)]));
    } else if (field.repeated) {
      const items = v as unknown[];
      if (items.length === 0) continue;
      out[field.name] = items.map((x) => fieldValue(field, x, root));
    } else {
      out[field.name] = fieldValue(field, v, root);
    }
  }
  return out;
}

function fieldValue(field: protobuf.Field, v: unknown, root: protobuf.Root): unknown {
  const t = field.resolvedType;
  if (t instanceof protobuf.Type) return messageJson(t, v as Msg, root);
  if (t instanceof protobuf.Enum) return t.valuesById[v as number] ?? v;
  return scalar(field.type, v);
}

const SPECIAL_JSON = /^\.google\.protobuf\.(Duration|Timestamp|Struct|Value|ListValue|FieldMask|Any|(Double|Float|Int64|UInt64|Int32|UInt32|Bool|String|Bytes)Value)$/;

function anyJson(any: Msg, root: protobuf.Root): unknown {
  const url = String(any.type_url ?? '');
  const inner = root.lookupType(url.slice(url.lastIndexOf('/') + 1));
  const decoded = inner.decode(any.value as Uint8Array) as Msg;
  const json = messageJson(inner, decoded, root);
  // Well-known types with their own JSON form go under "value" (proto3 JSON mapping for Any); Empty and
  // other plain messages are inlined.
  if (SPECIAL_JSON.test(inner.fullName)) {
    return { '@type': url, value: json };
  }
  return { '@type': url, ...(json as Record<string, unknown>) };
}

/**
 * `body` (protobufjs object form, as meshd's builders write) as canonical proto3 JSON, after an encode →
 * decode with Envoy's protos. Throws if the body does not encode or names a type that is not loaded.
 */
export function toProto3Json(typeName: string, body: object, root: protobuf.Root = envoyRoot()): Record<string, unknown> {
  const type = root.lookupType(typeName);
  const decoded = type.decode(type.encode(type.fromObject(body)).finish()) as Msg;
  return messageJson(type, decoded, root) as Record<string, unknown>;
}
