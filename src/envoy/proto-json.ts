import protobuf from 'protobufjs';
import { lookupType, structToJson } from './protos.js';

// Encoded Envoy messages → canonical proto3 JSON, as Envoy's admin /config_dump prints them (with field
// names as in the protos, which Envoy's admin keeps): Durations as "1.5s", Timestamps as RFC 3339,
// wrappers as bare values, Structs as plain JSON, Anys as {"@type": URL, …fields}. protobufjs' own
// toObject keeps the message forms of the well-known types ({seconds}, {value}, {fields}), which is what
// meshd's generators write but not what an operator comparing with Envoy expects to read.

type Obj = Record<string, unknown>;

const TO_OBJECT: protobuf.IConversionOptions = { longs: String, enums: String, bytes: String, defaults: false, arrays: false, json: true };

const WRAPPER_DEFAULTS: Readonly<Record<string, unknown>> = {
  '.google.protobuf.DoubleValue': 0,
  '.google.protobuf.FloatValue': 0,
  '.google.protobuf.Int64Value': '0',
  '.google.protobuf.UInt64Value': '0',
  '.google.protobuf.Int32Value': 0,
  '.google.protobuf.UInt32Value': 0,
  '.google.protobuf.BoolValue': false,
  '.google.protobuf.StringValue': '',
  '.google.protobuf.BytesValue': '',
};

function durationText(v: Obj): string {
  const seconds = Number(v.seconds ?? 0);
  const nanos = Number(v.nanos ?? 0);
  return `${Number((seconds + nanos / 1e9).toFixed(9))}s`;
}

function timestampText(v: Obj): string {
  return new Date(Number(v.seconds ?? 0) * 1000 + Math.floor(Number(v.nanos ?? 0) / 1e6)).toISOString();
}

function valueJson(v: Obj | undefined): unknown {
  return structToJson({ fields: { v } }).v;
}

/** `value` (protobufjs object form of `type`) in canonical proto3 JSON. */
function convert(type: protobuf.Type, value: Obj): unknown {
  const name = type.fullName;
  if (name === '.google.protobuf.Duration') return durationText(value);
  if (name === '.google.protobuf.Timestamp') return timestampText(value);
  if (name === '.google.protobuf.Struct') return structToJson(value);
  if (name === '.google.protobuf.Value') return valueJson(value);
  if (name === '.google.protobuf.ListValue') return ((value.values as Obj[] | undefined) ?? []).map(valueJson);
  if (name in WRAPPER_DEFAULTS) return value.value ?? WRAPPER_DEFAULTS[name];
  if (name === '.google.protobuf.Any') return anyJson(value);
  const out: Obj = {};
  for (const [key, v] of Object.entries(value)) {
    const field = type.fields[key];
    const resolved = field?.resolve().resolvedType;
    if (!field || !(resolved instanceof protobuf.Type)) {
      out[key] = v;
    } else if (field.map) {
      out[key] = Object.fromEntries(Object.entries(v as Obj).map(([k, x]) => [k, convert(resolved, x as Obj)]));
    } else if (field.repeated) {
      out[key] = (v as Obj[]).map((x) => convert(resolved, x));
    } else {
      out[key] = convert(resolved, v as Obj);
    }
  }
  return out;
}

/** protobufjs' Any object form (json: `{'@type', …}`, else `{type_url, value}`) → `{'@type', …canonical}`. */
function anyJson(value: Obj): unknown {
  const url = String(value['@type'] ?? value.type_url ?? '');
  let type: protobuf.Type;
  try {
    type = lookupType(url.slice(url.lastIndexOf('/') + 1));
  } catch {
    return value; // a type meshd does not know: as protobufjs gave it
  }
  if (value['@type'] === undefined) {
    const bytes = typeof value.value === 'string' ? Buffer.from(value.value, 'base64') : (value.value as Uint8Array);
    return { '@type': url, ...(convert(type, type.toObject(type.decode(bytes), TO_OBJECT) as Obj) as Obj) };
  }
  const { '@type': _url, ...fields } = value;
  return { '@type': url, ...(convert(type, fields) as Obj) };
}

/** An encoded message of `fullName` in canonical proto3 JSON. */
export function decodeToProtoJson(fullName: string, bytes: Uint8Array): Obj {
  const type = lookupType(fullName);
  return convert(type, type.toObject(type.decode(bytes), TO_OBJECT) as Obj) as Obj;
}

/** A google.protobuf.Any (its encoded bytes) in canonical proto3 JSON: `{'@type': URL, …fields}`. */
export function anyToProtoJson(anyBytes: Uint8Array): Obj {
  const any = lookupType('google.protobuf.Any');
  const decoded = any.decode(anyBytes) as unknown as { type_url: string; value: Uint8Array };
  return anyJson({ type_url: decoded.type_url, value: decoded.value }) as Obj;
}
