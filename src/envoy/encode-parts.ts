import protobuf from 'protobufjs';
import { lookupType } from './protos.js';

// Encoding a large message from parts encoded once. A route configuration at 1000 services holds ~1,100
// virtual hosts (~0.85 MB encoded); when one VirtualService changes, one virtual host is new and the rest
// are the same objects as before (generators/sidecar/rds.ts keeps them), so their bytes can be reused
// instead of running protobufjs over the whole body again.
//
// Byte-for-byte the same as `encodeMessage`: protobufjs writes fields in field-number order and a
// repeated message field as, per element, its tag, length and the element's own encoding — so the fields
// numbered below the spliced field, then each element's tag + length + memoised bytes, then the fields
// numbered above it, is exactly what one encode of the whole body writes.

/** element body → its encoding, by identity; bodies handed to the encoder are never mutated */
const encodedElements = new WeakMap<object, Uint8Array>();

/**
 * `encodeMessage(fullName, body)`, with the elements of the repeated message field `field` encoded one by
 * one and memoised by object identity.
 */
export function encodeSpliced(fullName: string, body: Record<string, unknown>, field: string): Uint8Array {
  const type = lookupType(fullName);
  const spliced = type.fields[field];
  if (!spliced || !spliced.repeated || !(spliced.resolvedType instanceof protobuf.Type)) {
    throw new Error(`${fullName}.${field} is not a repeated message field`);
  }
  const elementType = spliced.resolvedType;
  const before: Record<string, unknown> = {};
  const after: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(body)) {
    if (key === field) continue;
    const f = type.fields[key];
    // unknown keys are ignored by fromObject wherever they go
    if (f && f.id > spliced.id) after[key] = value;
    else before[key] = value;
  }
  const head = type.encode(type.fromObject(before)).finish();
  const tail = type.encode(type.fromObject(after)).finish();
  const elements = (body[field] as object[] | undefined) ?? [];
  const tag = protobuf.Writer.create().uint32((spliced.id << 3) | 2).finish();
  const parts: Uint8Array[] = [head];
  let length = head.length + tail.length;
  for (const element of elements) {
    let bytes = encodedElements.get(element);
    if (!bytes) encodedElements.set(element, (bytes = elementType.encode(elementType.fromObject(element)).finish()));
    const prefix = protobuf.Writer.create().uint32(bytes.length).finish();
    parts.push(tag, prefix, bytes);
    length += tag.length + prefix.length + bytes.length;
  }
  parts.push(tail);
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
