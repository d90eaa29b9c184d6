import net from 'node:net';
import protobuf from 'protobufjs';
import { envoyRoot } from '../../../src/envoy/protos.js';
import { roundTripLosses } from './proto-check.js';

// Envoy validates every resource it receives against the protoc-gen-validate (PGV) rules its protos carry
// (`[(validate.rules).string.min_len = 1]`, `(validate.required)` oneofs, …) and NACKs what fails. No Envoy
// runs here, so this walks a resource with protobufjs reflection — which keeps custom options as
// `parsedOptions` — and reports every violated rule as `path: rule: why`, the way Envoy's message would.
//
// It works on the decoded message (encode → decode), not on the hand-written JSON: that is exactly what
// Envoy sees (enum names become numbers, Durations become seconds/nanos, unset proto3 scalars read as their
// zero value), and nested `Any`s are unpacked and checked with their own type's rules, as Envoy does when it
// converts a typed_config.

type Rules = Record<string, unknown>;
type Msg = protobuf.Message & Record<string, unknown>;

const asRules = (v: unknown): Rules | undefined => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Rules) : undefined);
const list = (v: unknown): unknown[] => (v === undefined || v === null ? [] : Array.isArray(v) ? v : [v]);

/** Deep-merges every `(name)` entry of a reflection object's parsedOptions (protobufjs keeps one per statement). */
function option(obj: protobuf.ReflectionObject, name: string): unknown {
  const parsed = (obj as unknown as { parsedOptions?: Record<string, unknown>[] | null }).parsedOptions ?? [];
  let merged: unknown;
  for (const entry of parsed) {
    if (!(name in entry)) continue;
    merged = merge(merged, entry[name]);
  }
  return merged;
}

function merge(a: unknown, b: unknown): unknown {
  const ra = asRules(a);
  const rb = asRules(b);
  if (!ra || !rb) return b;
  const out: Rules = { ...ra };
  for (const [k, v] of Object.entries(rb)) out[k] = k in out ? merge(out[k], v) : v;
  return out;
}

// ---- numbers -------------------------------------------------------------------------------------------

const INTEGER_KINDS = new Set(['int32', 'int64', 'uint32', 'uint64', 'sint32', 'sint64', 'fixed32', 'fixed64', 'sfixed32', 'sfixed64']);
const NUMERIC_KINDS = new Set([...INTEGER_KINDS, 'float', 'double']);

/** 64-bit kinds decode as Long (or number/string): compare integers exactly as bigint, floats as number. */
function toNum(kind: string, v: unknown): bigint | number {
  if (INTEGER_KINDS.has(kind)) {
    if (typeof v === 'bigint') return v;
    if (typeof v === 'number') return BigInt(Math.trunc(v));
    if (v && typeof v === 'object') return BigInt((v as { toString(): string }).toString());
    return BigInt(String(v ?? 0));
  }
  // float fields hold 32-bit values: compare rule literals at the same precision (0.1f is not 0.1).
  return kind === 'float' ? Math.fround(Number(v ?? 0)) : Number(v ?? 0);
}

function show(v: unknown): string {
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'string') return JSON.stringify(v);
  if (v instanceof Uint8Array) return `0x${Buffer.from(v).toString('hex')}`;
  return String(v);
}

/**
 * gt/gte/lt/lte with PGV's meaning: when the upper bound is below the lower one the range is exclusive
 * (the value must lie outside it), e.g. `{gt: 10, lt: 5}` means "< 5 or > 10".
 */
function checkRange<T extends bigint | number>(
  v: T,
  r: { gt?: T; gte?: T; lt?: T; lte?: T },
  fmt: (x: T) => string,
): string | undefined {
  const lowerOk = r.gt !== undefined ? v > r.gt : r.gte !== undefined ? v >= r.gte : undefined;
  const upperOk = r.lt !== undefined ? v < r.lt : r.lte !== undefined ? v <= r.lte : undefined;
  const lowerText = r.gt !== undefined ? `> ${fmt(r.gt)}` : r.gte !== undefined ? `>= ${fmt(r.gte)}` : '';
  const upperText = r.lt !== undefined ? `< ${fmt(r.lt)}` : r.lte !== undefined ? `<= ${fmt(r.lte)}` : '';
  if (lowerOk !== undefined && upperOk !== undefined) {
    const lower = (r.gt ?? r.gte) as T;
    const upper = (r.lt ?? r.lte) as T;
    if (upper < lower) {
      return lowerOk || upperOk ? undefined : `${fmt(v)} must be ${upperText} or ${lowerText}`;
    }
    return lowerOk && upperOk ? undefined : `${fmt(v)} must be ${lowerText} and ${upperText}`;
  }
  if (lowerOk === false) return `${fmt(v)} must be ${lowerText}`;
  if (upperOk === false) return `${fmt(v)} must be ${upperText}`;
  return undefined;
}

function ruleName(rule: string, v: unknown, r: Rules): string {
  const bounds = ['gt', 'gte', 'lt', 'lte'].filter((k) => r[k] !== undefined);
  return bounds.length > 0 && ['gt', 'gte', 'lt', 'lte'].includes(v as string) ? `${rule}.${bounds.join('/')}` : rule;
}

function checkNumeric(kind: string, value: unknown, r: Rules, path: string, out: string[]): void {
  const v = toNum(kind, value);
  const isZero = typeof v === 'bigint' ? v === 0n : v === 0;
  if (r.ignore_empty === true && isZero) return;
  const n = (x: unknown) => toNum(kind, x);
  if (r.const !== undefined && v !== n(r.const)) out.push(`${path}: ${kind}.const: ${show(v)} must equal ${show(n(r.const))}`);
  const bounds: { gt?: bigint | number; gte?: bigint | number; lt?: bigint | number; lte?: bigint | number } = {};
  for (const k of ['gt', 'gte', 'lt', 'lte'] as const) if (r[k] !== undefined) bounds[k] = n(r[k]);
  const why = checkRange(v, bounds, show);
  if (why) out.push(`${path}: ${ruleName(kind, 'gt', r)}: ${why}`);
  const inList = list(r.in).map(n);
  if (inList.length > 0 && !inList.includes(v)) out.push(`${path}: ${kind}.in: ${show(v)} is not one of [${inList.map(show).join(', ')}]`);
  const notIn = list(r.not_in).map(n);
  if (notIn.includes(v)) out.push(`${path}: ${kind}.not_in: ${show(v)} is one of [${notIn.map(show).join(', ')}]`);
}

// ---- strings and bytes ---------------------------------------------------------------------------------

// protoc-gen-validate's own expressions for KnownRegex (templates/goshared/known.go). Note `+-.` in the
// header-name class is a range (0x2B–0x2E) in PGV too; reproduced as is so the verdicts agree.
const HEADER_NAME_STRICT = /^:?[0-9a-zA-Z!#$%&'*+-.^_|~`]+$/;
const HEADER_VALUE_STRICT = /^[^\u0000-\u0008\u000A-\u001F\u007F]*$/;
const HEADER_STRING_LOOSE = /^[^\u0000\u000A\u000D]*$/;
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** PGV's hostname rule: ≤ 253 chars, labels of 1–63 [a-z0-9-] not starting or ending with '-', one trailing dot allowed. */
export function isHostname(s: string): boolean {
  const host = (s.endsWith('.') ? s.slice(0, -1) : s).toLowerCase();
  if (host.length === 0 || host.length > 253) return false;
  return host.split('.').every((label) => label.length >= 1 && label.length <= 63 && /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/.test(label));
}

function isEmail(s: string): boolean {
  const addr = /^[^<]*<([^>]*)>$/.exec(s)?.[1] ?? s;
  const at = addr.lastIndexOf('@');
  if (at <= 0 || addr.length > 254) return false;
  const local = addr.slice(0, at);
  return local.length <= 64 && /^[^\s@]+$/.test(local) && isHostname(addr.slice(at + 1));
}

function isUri(s: string, allowRelative: boolean): boolean {
  try {
    new URL(s);
    return true;
  } catch {
    if (!allowRelative) return false;
    try {
      new URL(s, 'http://relative.invalid/');
      return true;
    } catch {
      return false;
    }
  }
}

const regexCache = new Map<string, RegExp | Error>();

/**
 * RE2 (what PGV and Envoy use) → a JavaScript RegExp. The subset PGV patterns use is common to both; the
 * differences handled: `(?P<name>` groups, `\A`/`\z` anchors, leading inline flags `(?i)`/`(?s)`/`(?m)`,
 * POSIX classes `[[:alpha:]]`, one-letter Unicode classes `\pL`. JavaScript with the `u` flag refuses some
 * escapes RE2 accepts (e.g. `\-` outside a class); then the pattern is compiled without `u`.
 */
export function re2ToRegExp(pattern: string): RegExp {
  const cached = regexCache.get(pattern);
  if (cached instanceof RegExp) return cached;
  if (cached) throw cached;
  let src = pattern;
  let flags = '';
  const inline = /^\(\?([ims]+)\)/.exec(src);
  if (inline) {
    flags += inline[1]!;
    src = src.slice(inline[0].length);
  }
  const posix: Record<string, string> = {
    alnum: '0-9A-Za-z', alpha: 'A-Za-z', ascii: '\\x00-\\x7F', blank: '\\t ', cntrl: '\\x00-\\x1F\\x7F', digit: '0-9',
    graph: '!-~', lower: 'a-z', print: ' -~', punct: '!-\\/:-@\\[-`{-~', space: '\\t\\n\\v\\f\\r ', upper: 'A-Z',
    word: '0-9A-Za-z_', xdigit: '0-9A-Fa-f',
  };
  src = src
    .replace(/\(\?P</g, '(?<')
    .replace(/\\A/g, '^')
    .replace(/\\z/g, '$')
    .replace(/\[:(\w+):\]/g, (m, name: string) => posix[name] ?? m)
    .replace(/\\([pP])([A-Z])/g, '\\$1{$2}');
  let compiled: RegExp | Error;
  try {
    compiled = new RegExp(src, `${flags}u`);
  } catch {
    try {
      compiled = new RegExp(src, flags);
    } catch (err) {
      compiled = new Error(`pattern ${JSON.stringify(pattern)} does not compile: ${(err as Error).message}`);
    }
  }
  regexCache.set(pattern, compiled);
  if (compiled instanceof Error) throw compiled;
  return compiled;
}

function checkString(s: string, r: Rules, path: string, out: string[]): void {
  if (r.ignore_empty === true && s === '') return;
  const p = (rule: string, why: string) => out.push(`${path}: string.${rule}: ${why}`);
  const chars = [...s].length;
  const bytes = Buffer.byteLength(s, 'utf8');
  const q = JSON.stringify(s.length > 60 ? `${s.slice(0, 57)}...` : s);
  if (r.const !== undefined && s !== r.const) p('const', `${q} must equal ${JSON.stringify(r.const)}`);
  if (r.len !== undefined && chars !== Number(r.len)) p('len', `${q} has ${chars} characters, must have ${r.len}`);
  if (r.min_len !== undefined && chars < Number(r.min_len)) p('min_len', `${q} has ${chars} characters, must have at least ${r.min_len}`);
  if (r.max_len !== undefined && chars > Number(r.max_len)) p('max_len', `${q} has ${chars} characters, must have at most ${r.max_len}`);
  if (r.len_bytes !== undefined && bytes !== Number(r.len_bytes)) p('len_bytes', `${q} is ${bytes} bytes, must be ${r.len_bytes}`);
  if (r.min_bytes !== undefined && bytes < Number(r.min_bytes)) p('min_bytes', `${q} is ${bytes} bytes, must be at least ${r.min_bytes}`);
  if (r.max_bytes !== undefined && bytes > Number(r.max_bytes)) p('max_bytes', `${q} is ${bytes} bytes, must be at most ${r.max_bytes}`);
  if (typeof r.pattern === 'string') {
    try {
      if (!re2ToRegExp(r.pattern).test(s)) p('pattern', `${q} does not match ${r.pattern}`);
    } catch (err) {
      p('pattern', (err as Error).message);
    }
  }
  if (typeof r.prefix === 'string' && !s.startsWith(r.prefix)) p('prefix', `${q} does not start with ${JSON.stringify(r.prefix)}`);
  if (typeof r.suffix === 'string' && !s.endsWith(r.suffix)) p('suffix', `${q} does not end with ${JSON.stringify(r.suffix)}`);
  if (typeof r.contains === 'string' && !s.includes(r.contains)) p('contains', `${q} does not contain ${JSON.stringify(r.contains)}`);
  if (typeof r.not_contains === 'string' && s.includes(r.not_contains)) p('not_contains', `${q} contains ${JSON.stringify(r.not_contains)}`);
  const inList = list(r.in).map(String);
  if (inList.length > 0 && !inList.includes(s)) p('in', `${q} is not one of ${JSON.stringify(inList)}`);
  if (list(r.not_in).map(String).includes(s)) p('not_in', `${q} is one of ${JSON.stringify(list(r.not_in))}`);
  // well_known: at most one is set (a oneof in StringRules).
  if (r.email === true && !isEmail(s)) p('email', `${q} is not an email address`);
  if (r.hostname === true && !isHostname(s)) p('hostname', `${q} is not a hostname`);
  if (r.ip === true && net.isIP(s) === 0) p('ip', `${q} is not an IP address`);
  if (r.ipv4 === true && !net.isIPv4(s)) p('ipv4', `${q} is not an IPv4 address`);
  if (r.ipv6 === true && !net.isIPv6(s)) p('ipv6', `${q} is not an IPv6 address`);
  if (r.address === true && net.isIP(s) === 0 && !isHostname(s)) p('address', `${q} is neither an IP address nor a hostname`);
  if (r.uri === true && !isUri(s, false)) p('uri', `${q} is not an absolute URI`);
  if (r.uri_ref === true && !isUri(s, true)) p('uri_ref', `${q} is not a URI reference`);
  if (r.uuid === true && !UUID.test(s)) p('uuid', `${q} is not a UUID`);
  if (r.well_known_regex !== undefined) {
    const which = String(r.well_known_regex);
    const strict = r.strict !== false; // PGV: `optional bool strict = 25 [default = true]`
    const re = !strict ? HEADER_STRING_LOOSE : which === 'HTTP_HEADER_NAME' || which === '1' ? HEADER_NAME_STRICT : HEADER_VALUE_STRICT;
    if (which !== 'UNKNOWN' && which !== '0' && !re.test(s)) {
      p(`well_known_regex(${which}${strict ? '' : ', strict: false'})`, `${q} is not a valid ${which === 'HTTP_HEADER_NAME' || which === '1' ? 'header name' : 'header value'}`);
    }
  }
}

function bytesOf(v: unknown): Uint8Array {
  if (v instanceof Uint8Array) return v;
  if (typeof v === 'string') return Buffer.from(v, 'base64');
  return new Uint8Array();
}

/** Bytes rules' literals arrive as strings with proto-text escapes already applied, or as byte arrays. */
function ruleBytes(v: unknown): Buffer {
  if (v instanceof Uint8Array) return Buffer.from(v);
  if (Array.isArray(v)) return Buffer.from(v as number[]);
  return Buffer.from(String(v), 'latin1');
}

function checkBytes(value: unknown, r: Rules, path: string, out: string[]): void {
  const b = Buffer.from(bytesOf(value));
  if (r.ignore_empty === true && b.length === 0) return;
  const p = (rule: string, why: string) => out.push(`${path}: bytes.${rule}: ${why}`);
  const q = show(b);
  if (r.const !== undefined && !b.equals(ruleBytes(r.const))) p('const', `${q} must equal ${show(ruleBytes(r.const))}`);
  if (r.len !== undefined && b.length !== Number(r.len)) p('len', `${b.length} bytes, must be ${r.len}`);
  if (r.min_len !== undefined && b.length < Number(r.min_len)) p('min_len', `${b.length} bytes, must be at least ${r.min_len}`);
  if (r.max_len !== undefined && b.length > Number(r.max_len)) p('max_len', `${b.length} bytes, must be at most ${r.max_len}`);
  if (typeof r.pattern === 'string') {
    try {
      if (!re2ToRegExp(r.pattern).test(b.toString('utf8'))) p('pattern', `${q} does not match ${r.pattern}`);
    } catch (err) {
      p('pattern', (err as Error).message);
    }
  }
  if (r.prefix !== undefined && !b.subarray(0, ruleBytes(r.prefix).length).equals(ruleBytes(r.prefix))) p('prefix', `${q} does not start with ${show(ruleBytes(r.prefix))}`);
  if (r.suffix !== undefined && !b.subarray(Math.max(0, b.length - ruleBytes(r.suffix).length)).equals(ruleBytes(r.suffix))) p('suffix', `${q} does not end with ${show(ruleBytes(r.suffix))}`);
  if (r.contains !== undefined && !b.includes(ruleBytes(r.contains))) p('contains', `${q} does not contain ${show(ruleBytes(r.contains))}`);
  const inList = list(r.in).map(ruleBytes);
  if (inList.length > 0 && !inList.some((x) => x.equals(b))) p('in', `${q} is not one of the allowed values`);
  if (list(r.not_in).map(ruleBytes).some((x) => x.equals(b))) p('not_in', `${q} is one of the forbidden values`);
  if (r.ip === true && b.length !== 4 && b.length !== 16) p('ip', `${b.length} bytes is not an IP address (4 or 16)`);
  if (r.ipv4 === true && b.length !== 4) p('ipv4', `${b.length} bytes is not an IPv4 address (4)`);
  if (r.ipv6 === true && b.length !== 16) p('ipv6', `${b.length} bytes is not an IPv6 address (16)`);
}

// ---- durations and timestamps --------------------------------------------------------------------------

const NANOS = 1_000_000_000n;

function durationNanos(v: unknown): bigint {
  const d = (v ?? {}) as { seconds?: unknown; nanos?: unknown };
  return toNum('int64', d.seconds ?? 0) as bigint * NANOS + BigInt(Number(d.nanos ?? 0));
}

function showNanos(n: bigint): string {
  const neg = n < 0n;
  const abs = neg ? -n : n;
  const s = abs / NANOS;
  const frac = abs % NANOS;
  return `${neg ? '-' : ''}${s}${frac === 0n ? '' : `.${frac.toString().padStart(9, '0').replace(/0+$/, '')}`}s`;
}

function checkTime(kind: 'duration' | 'timestamp', value: unknown, r: Rules, path: string, out: string[]): void {
  const v = durationNanos(value);
  const p = (rule: string, why: string) => out.push(`${path}: ${kind}.${rule}: ${why}`);
  const fmt = kind === 'duration' ? showNanos : (n: bigint) => new Date(Number(n / 1_000_000n)).toISOString();
  if (r.const !== undefined && v !== durationNanos(r.const)) p('const', `${fmt(v)} must equal ${fmt(durationNanos(r.const))}`);
  const bounds: { gt?: bigint; gte?: bigint; lt?: bigint; lte?: bigint } = {};
  for (const k of ['gt', 'gte', 'lt', 'lte'] as const) if (r[k] !== undefined) bounds[k] = durationNanos(r[k]);
  const why = checkRange(v, bounds, fmt);
  if (why) p(['gt', 'gte', 'lt', 'lte'].filter((k) => r[k] !== undefined).join('/'), why);
  const inList = list(r.in).map(durationNanos);
  if (inList.length > 0 && !inList.includes(v)) p('in', `${fmt(v)} is not one of [${inList.map(fmt).join(', ')}]`);
  if (list(r.not_in).map(durationNanos).includes(v)) p('not_in', `${fmt(v)} is a forbidden value`);
  if (kind === 'timestamp') {
    const now = BigInt(Date.now()) * 1_000_000n;
    if (r.lt_now === true && !(v < now)) p('lt_now', `${fmt(v)} must be in the past`);
    if (r.gt_now === true && !(v > now)) p('gt_now', `${fmt(v)} must be in the future`);
    if (r.within !== undefined) {
      const w = durationNanos(r.within);
      const diff = v > now ? v - now : now - v;
      if (diff > w) p('within', `${fmt(v)} is not within ${showNanos(w)} of now`);
    }
  }
}

// ---- the walk ------------------------------------------------------------------------------------------

const WRAPPER_KIND: Record<string, string> = {
  'google.protobuf.DoubleValue': 'double',
  'google.protobuf.FloatValue': 'float',
  'google.protobuf.Int64Value': 'int64',
  'google.protobuf.UInt64Value': 'uint64',
  'google.protobuf.Int32Value': 'int32',
  'google.protobuf.UInt32Value': 'uint32',
  'google.protobuf.BoolValue': 'bool',
  'google.protobuf.StringValue': 'string',
  'google.protobuf.BytesValue': 'bytes',
};

const fullName = (t: protobuf.ReflectionObject) => t.fullName.replace(/^\./, '');

function has(msg: Msg, name: string): boolean {
  return Object.prototype.hasOwnProperty.call(msg, name) && msg[name] !== null && msg[name] !== undefined;
}

/** A scalar rule (string/bytes/bool/enum/numeric) applied to one value of field type `kind`. */
function checkScalar(field: protobuf.Field, kind: string, value: unknown, rules: Rules, path: string, out: string[]): void {
  if (kind === 'string') {
    const r = asRules(rules.string);
    if (r) checkString(String(value ?? ''), r, path, out);
  } else if (kind === 'bytes') {
    const r = asRules(rules.bytes);
    if (r) checkBytes(value, r, path, out);
  } else if (kind === 'bool') {
    const r = asRules(rules.bool);
    if (r && r.const !== undefined && Boolean(value) !== r.const) out.push(`${path}: bool.const: ${Boolean(value)} must be ${String(r.const)}`);
  } else if (field.resolvedType instanceof protobuf.Enum) {
    const r = asRules(rules.enum);
    if (r) checkEnum(field.resolvedType, Number(value ?? 0), r, path, out);
  } else if (NUMERIC_KINDS.has(kind)) {
    const r = asRules(rules[kind]);
    if (r) checkNumeric(kind, value ?? 0, r, path, out);
  }
}

function checkEnum(e: protobuf.Enum, v: number, r: Rules, path: string, out: string[]): void {
  const name = e.valuesById[v];
  const label = name ? `${name} (${v})` : String(v);
  if (r.const !== undefined && v !== Number(r.const)) out.push(`${path}: enum.const: ${label} must be ${String(r.const)}`);
  if (r.defined_only === true && name === undefined) out.push(`${path}: enum.defined_only: ${v} is not a value of ${fullName(e)}`);
  const inList = list(r.in).map(Number);
  if (inList.length > 0 && !inList.includes(v)) out.push(`${path}: enum.in: ${label} is not one of [${inList.join(', ')}]`);
  if (list(r.not_in).map(Number).includes(v)) out.push(`${path}: enum.not_in: ${label} is forbidden`);
}

/** The FieldRules for one value (a field's own, or `repeated.items` / `map.keys` / `map.values`). */
function checkValue(field: protobuf.Field, value: unknown, rules: Rules, path: string, out: string[], root: protobuf.Root): void {
  const t = field.resolvedType;
  if (t instanceof protobuf.Type) {
    checkMessageField(t, value as Msg | null | undefined, rules, path, out, root);
  } else {
    checkScalar(field, field.type, value, rules, path, out);
  }
}

function checkMessageField(
  t: protobuf.Type,
  value: Msg | null | undefined,
  rules: Rules,
  path: string,
  out: string[],
  root: protobuf.Root,
): void {
  const name = fullName(t);
  const present = value !== null && value !== undefined;
  const msgRules = asRules(rules.message);
  if (msgRules?.required === true && !present) out.push(`${path}: message.required: value is required`);
  const wrapperKind = WRAPPER_KIND[name];
  if (wrapperKind) {
    // PGV applies scalar rules to a wrapper's value only when the wrapper is set.
    if (present) {
      const inner = value.value ?? (wrapperKind === 'string' ? '' : wrapperKind === 'bool' ? false : wrapperKind === 'bytes' ? new Uint8Array() : 0);
      const pseudo = { type: wrapperKind, resolvedType: null } as unknown as protobuf.Field;
      checkScalar(pseudo, wrapperKind, inner, rules, path, out);
    }
    return;
  }
  if (name === 'google.protobuf.Duration' || name === 'google.protobuf.Timestamp') {
    const kind = name === 'google.protobuf.Duration' ? 'duration' : 'timestamp';
    const r = asRules(rules[kind]);
    if (!r) return;
    if (r.required === true && !present) out.push(`${path}: ${kind}.required: value is required`);
    if (present) checkTime(kind, value, r, path, out);
    return;
  }
  if (name === 'google.protobuf.Any') {
    const r = asRules(rules.any);
    if (r?.required === true && !present) out.push(`${path}: any.required: value is required`);
    if (!present) return;
    const url = String(value.type_url ?? '');
    const inList = list(r?.in).map(String);
    if (inList.length > 0 && !inList.includes(url)) out.push(`${path}: any.in: ${JSON.stringify(url)} is not one of ${JSON.stringify(inList)}`);
    if (list(r?.not_in).map(String).includes(url)) out.push(`${path}: any.not_in: ${JSON.stringify(url)} is forbidden`);
    if (msgRules?.skip !== true) checkAny(value, path, out, root);
    return;
  }
  if (present && msgRules?.skip !== true) checkMessage(t, value, path, out, root);
}

function checkAny(any: Msg, path: string, out: string[], root: protobuf.Root): void {
  const url = String(any.type_url ?? '');
  if (url === '') {
    out.push(`${path}: any: type_url is empty`);
    return;
  }
  const typeName = url.slice(url.lastIndexOf('/') + 1);
  const inner = root.lookup(typeName);
  if (!(inner instanceof protobuf.Type)) {
    out.push(`${path}: any: ${typeName} is not a loaded type, its rules cannot be checked`);
    return;
  }
  let decoded: Msg;
  try {
    decoded = inner.decode(bytesOf(any.value)) as Msg;
  } catch (err) {
    out.push(`${path}: any: ${typeName} does not decode: ${(err as Error).message}`);
    return;
  }
  checkMessage(inner, decoded, path, out, root);
}

function checkMessage(t: protobuf.Type, msg: Msg, path: string, out: string[], root: protobuf.Root): void {
  if (option(t, '(validate.disabled)') === true || option(t, '(validate.ignored)') === true) return;
  for (const oneof of t.oneofsArray) {
    if (option(oneof, '(validate.required)') !== true) continue;
    if (!oneof.fieldsArray.some((f) => has(msg, f.name))) {
      out.push(`${path}: oneof.required: exactly one of ${oneof.fieldsArray.map((f) => f.name).join(', ')} (${oneof.name}) must be set`);
    }
  }
  for (const field of t.fieldsArray) {
    const rules = asRules(option(field, '(validate.rules)')) ?? {};
    const fpath = `${path}.${field.name}`;
    const value = msg[field.name];
    // PGV validates only the member of a oneof that is set (its message.required, too, applies only then);
    // proto3 `optional` scalars likewise only when present.
    const optionalPresence = field.partOf !== null || field.options?.proto3_optional === true;
    if (optionalPresence && !has(msg, field.name)) continue;
    if (field.map) {
      checkMap(field as unknown as protobuf.MapField, (value ?? {}) as Record<string, unknown>, rules, fpath, out, root);
    } else if (field.repeated) {
      checkRepeated(field, (value ?? []) as unknown[], rules, fpath, out, root);
    } else if (field.resolvedType instanceof protobuf.Type) {
      checkMessageField(field.resolvedType, has(msg, field.name) ? (value as Msg) : undefined, rules, fpath, out, root);
    } else {
      // A plain proto3 scalar that is not on the wire is its zero value, which Envoy validates like any
      // other (e.g. an empty name against min_len 1).
      checkScalar(field, field.type, has(msg, field.name) ? value : field.typeDefault, rules, fpath, out);
    }
  }
}

function checkRepeated(field: protobuf.Field, items: unknown[], rules: Rules, path: string, out: string[], root: protobuf.Root): void {
  const r = asRules(rules.repeated) ?? {};
  const itemRules = asRules(r.items) ?? {};
  if (!(r.ignore_empty === true && items.length === 0)) {
    if (r.min_items !== undefined && items.length < Number(r.min_items)) out.push(`${path}: repeated.min_items: ${items.length} items, at least ${r.min_items} required`);
    if (r.max_items !== undefined && items.length > Number(r.max_items)) out.push(`${path}: repeated.max_items: ${items.length} items, at most ${r.max_items} allowed`);
    if (r.unique === true) {
      const seen = new Map<string, number>();
      items.forEach((item, i) => {
        const key = item instanceof Uint8Array ? Buffer.from(item).toString('hex') : JSON.stringify(item);
        const first = seen.get(key);
        if (first !== undefined) out.push(`${path}[${i}]: repeated.unique: repeats item [${first}]`);
        else seen.set(key, i);
      });
    }
  }
  items.forEach((item, i) => checkValue(field, item, itemRules, `${path}[${i}]`, out, root));
}

function checkMap(field: protobuf.MapField, entries: Record<string, unknown>, rules: Rules, path: string, out: string[], root: protobuf.Root): void {
  const r = asRules(rules.map) ?? {};
  const keys = Object.keys(entries);
  if (!(r.ignore_empty === true && keys.length === 0)) {
    if (r.min_pairs !== undefined && keys.length < Number(r.min_pairs)) out.push(`${path}: map.min_pairs: ${keys.length} pairs, at least ${r.min_pairs} required`);
    if (r.max_pairs !== undefined && keys.length > Number(r.max_pairs)) out.push(`${path}: map.max_pairs: ${keys.length} pairs, at most ${r.max_pairs} allowed`);
  }
  const keyRules = asRules(r.keys) ?? {};
  const valueRules = asRules(r.values) ?? {};
  const keyField = { type: field.keyType, resolvedType: null } as unknown as protobuf.Field;
  for (const key of keys) {
    const kpath = `${path}[${JSON.stringify(key)}]`;
    checkScalar(keyField, field.keyType, field.keyType === 'string' ? key : key === 'true' ? true : key === 'false' ? false : key, keyRules, `${kpath}(key)`, out);
    const v = entries[key];
    if (r.no_sparse === true && field.resolvedType instanceof protobuf.Type && (v === null || v === undefined)) {
      out.push(`${kpath}: map.no_sparse: value is unset`);
    }
    checkValue(field as unknown as protobuf.Field, v, valueRules, kpath, out, root);
  }
}

/**
 * Every PGV `(validate.rules)` / `(validate.required)` violation in `body` (proto-JSON, snake_case, nested
 * `{'@type': …}` Anys) of message type `typeName`, as `path: rule: why`. Empty means Envoy's validation
 * would accept it.
 */
export function pgvViolations(typeName: string, body: object, root: protobuf.Root = envoyRoot()): string[] {
  const type = root.lookupType(typeName);
  let decoded: Msg;
  try {
    decoded = type.decode(type.encode(type.fromObject(body)).finish()) as Msg;
  } catch (err) {
    return [`${typeName}: does not encode: ${(err as Error).message}`];
  }
  const out: string[] = [];
  checkMessage(type, decoded, typeName.slice(typeName.lastIndexOf('.') + 1), out, root);
  return out;
}

/**
 * Everything Envoy would object to in one resource, by type URL: fields lost in an encode → decode round
 * trip (misspelt, wrong message, unloaded Any type) and PGV rule violations. Golden tests insist on none.
 */
export function checkEnvoyResource(typeUrl: string, body: object): string[] {
  const typeName = typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
  return [...roundTripLosses(typeName, body), ...pgvViolations(typeName, body)];
}
