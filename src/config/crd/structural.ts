import type { CelInput } from '@bufbuild/cel';
import type { Problem } from '../origin.js';
import { evaluateRule } from './cel.js';

// Validation of a value against a CRD's structural OpenAPI v3 schema, as the Kubernetes API server does
// it: types, enums, bounds, lengths, patterns, oneOf/anyOf/allOf/not over `required`, list-map keys, and the
// CEL `x-kubernetes-validations` rules. Every problem is reported (not only the first), with the API
// server's wording (`Required value`, `should be at least 1 chars long`, `Invalid value: "object": …`) so
// a user sees what `kubectl apply` would say. Unknown fields are reported as `unknown field`, as by
// meshd's zod schemas (the API server would prune them silently; istiod's webhook refuses them).

export interface CelRule {
  readonly rule: string;
  readonly message?: string;
  readonly fieldPath?: string;
}

export interface OpenApiSchema {
  readonly type?: string;
  readonly format?: string;
  readonly properties?: Readonly<Record<string, OpenApiSchema>>;
  readonly additionalProperties?: OpenApiSchema | boolean;
  readonly items?: OpenApiSchema;
  readonly required?: readonly string[];
  readonly enum?: readonly unknown[];
  readonly pattern?: string;
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly minItems?: number;
  readonly maxItems?: number;
  readonly minProperties?: number;
  readonly maxProperties?: number;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly exclusiveMinimum?: boolean;
  readonly exclusiveMaximum?: boolean;
  readonly nullable?: boolean;
  readonly oneOf?: readonly OpenApiSchema[];
  readonly anyOf?: readonly OpenApiSchema[];
  readonly allOf?: readonly OpenApiSchema[];
  readonly not?: OpenApiSchema;
  readonly 'x-kubernetes-preserve-unknown-fields'?: boolean;
  readonly 'x-kubernetes-int-or-string'?: boolean;
  readonly 'x-kubernetes-list-type'?: string;
  readonly 'x-kubernetes-list-map-keys'?: readonly string[];
  readonly 'x-kubernetes-map-type'?: string;
  readonly 'x-kubernetes-validations'?: readonly CelRule[];
  /** structural default: the API server fills an absent property with it before validating */
  readonly default?: unknown;
}

const INT32 = { min: -2147483648, max: 2147483647 };
const UINT32_MAX = 4294967295;

/** JSON type name of a value, as Kubernetes prints it in `must be of type X: "<this>"`. */
function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value; // string, boolean, object
}

function child(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return path ? `${path}.${key}` : key;
}

/** Map keys are written like field names (`spec.ports.http`), as zod-validated kinds report them. */
function mapChild(path: string, key: string): string {
  return child(path, key);
}

const patterns = new Map<string, RegExp | undefined>();
function compiledPattern(pattern: string): RegExp | undefined {
  if (!patterns.has(pattern)) {
    let re: RegExp | undefined;
    try {
      re = new RegExp(pattern, 'u');
    } catch {
      re = undefined;
    }
    patterns.set(pattern, re);
  }
  return patterns.get(pattern);
}

class Collector {
  readonly problems: Problem[] = [];
  add(path: string, reason: string): void {
    this.problems.push({ path, reason });
  }
  get size(): number {
    return this.problems.length;
  }
}

/**
 * `value` with the schema's defaults filled in, as the API server stores it (structural defaulting: an
 * absent property whose schema has a `default` gets it, recursively through objects, maps and lists; an
 * explicit null is left alone). Returns a new value; the input is not changed.
 */
export function applyDefaults(schema: OpenApiSchema, value: unknown): unknown {
  if (Array.isArray(value)) return schema.items ? value.map((v) => applyDefaults(schema.items!, v)) : value;
  if (!value || typeof value !== 'object') return value;
  const out: Record<string, unknown> = { ...(value as Record<string, unknown>) };
  for (const [key, sub] of Object.entries(schema.properties ?? {})) {
    if (out[key] === undefined && sub.default !== undefined) out[key] = structuredClone(sub.default);
    if (out[key] !== undefined) out[key] = applyDefaults(sub, out[key]);
  }
  if (typeof schema.additionalProperties === 'object') {
    for (const key of Object.keys(out)) {
      if (!schema.properties?.[key]) out[key] = applyDefaults(schema.additionalProperties, out[key]);
    }
  }
  return out;
}

/** Validates `value` (found at `path`) against `schema`. Returns every problem. */
export function validateStructural(schema: OpenApiSchema, value: unknown, path: string): Problem[] {
  const out = new Collector();
  check(schema, value, path, out, true);
  return out.problems;
}

/** Does `value` satisfy the `required`-only branch schemas of oneOf/anyOf/not (no messages)? */
function branchHolds(branch: OpenApiSchema, value: unknown): boolean {
  const probe = new Collector();
  check(branch, value, '', probe, false);
  return probe.size === 0;
}

function check(schema: OpenApiSchema, value: unknown, path: string, out: Collector, withRules: boolean): void {
  const before = out.size;
  if (value === null) {
    if (!schema.nullable && schema.type) out.add(path, `must be of type ${schema.type}: "null"`);
    return;
  }
  if (schema['x-kubernetes-int-or-string']) {
    if (!(typeof value === 'string' || (typeof value === 'number' && Number.isInteger(value)))) {
      out.add(path, `must be of type integer or string: "${jsonType(value)}"`);
      return;
    }
  } else if (schema.type && !typeMatches(schema.type, value)) {
    out.add(path, `must be of type ${schema.type}: "${jsonType(value)}"`);
    return;
  }

  if (schema.enum && !schema.enum.some((e) => e === value)) {
    const supported = schema.enum.map((e) => JSON.stringify(e)).join(', ');
    out.add(path, `Unsupported value: ${JSON.stringify(value)}: supported values: ${supported}`);
  }
  if (typeof value === 'string') checkString(schema, value, path, out);
  if (typeof value === 'number') checkNumber(schema, value, path, out);
  if (Array.isArray(value)) checkArray(schema, value, path, out, withRules);
  else if (typeof value === 'object') checkObject(schema, value as Record<string, unknown>, path, out, withRules);

  checkCombinators(schema, value, path, out);
  // As the API server: CEL rules run even when fields below have problems; a rule that cannot evaluate
  // because of such a problem (a wrong type below) adds nothing more.
  if (withRules && schema['x-kubernetes-validations']) checkRules(schema, value, path, out, out.size > before);
}

function typeMatches(type: string, value: unknown): boolean {
  switch (type) {
    case 'object':
      return typeof value === 'object' && value !== null && !Array.isArray(value);
    case 'array':
      return Array.isArray(value);
    case 'string':
      return typeof value === 'string';
    case 'boolean':
      return typeof value === 'boolean';
    case 'integer':
      return typeof value === 'number' && Number.isInteger(value);
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    default:
      return true;
  }
}

function checkString(schema: OpenApiSchema, value: string, path: string, out: Collector): void {
  const length = [...value].length;
  if (schema.minLength !== undefined && length < schema.minLength) {
    out.add(path, `should be at least ${schema.minLength} chars long`);
  }
  if (schema.maxLength !== undefined && length > schema.maxLength) {
    out.add(path, `should be at most ${schema.maxLength} chars long`);
  }
  if (schema.pattern !== undefined) {
    const re = compiledPattern(schema.pattern);
    if (re && !re.test(value)) out.add(path, `should match '${schema.pattern}'`);
  }
  if (schema.format === 'byte' && !/^[A-Za-z0-9+/]*={0,2}$/.test(value.replace(/\s/g, ''))) {
    out.add(path, 'must be base64 encoded (format byte)');
  }
}

function checkNumber(schema: OpenApiSchema, value: number, path: string, out: Collector): void {
  if (schema.format === 'int32' && (value < INT32.min || value > INT32.max)) {
    out.add(path, `must be a 32-bit integer (${INT32.min}..${INT32.max})`);
  }
  if (schema.format === 'uint32' && (value < 0 || value > UINT32_MAX)) {
    out.add(path, `must be an unsigned 32-bit integer (0..${UINT32_MAX})`);
  }
  if (schema.minimum !== undefined) {
    if (schema.exclusiveMinimum ? value <= schema.minimum : value < schema.minimum) {
      out.add(path, `should be greater than ${schema.exclusiveMinimum ? '' : 'or equal to '}${schema.minimum}`);
    }
  }
  if (schema.maximum !== undefined) {
    if (schema.exclusiveMaximum ? value >= schema.maximum : value > schema.maximum) {
      out.add(path, `should be less than ${schema.exclusiveMaximum ? '' : 'or equal to '}${schema.maximum}`);
    }
  }
}

function checkArray(schema: OpenApiSchema, value: unknown[], path: string, out: Collector, withRules: boolean): void {
  if (schema.minItems !== undefined && value.length < schema.minItems) out.add(path, `should have at least ${schema.minItems} items`);
  if (schema.maxItems !== undefined && value.length > schema.maxItems) out.add(path, `should have at most ${schema.maxItems} items`);
  if (schema.items) value.forEach((item, i) => check(schema.items!, item, child(path, i), out, withRules));
  const listType = schema['x-kubernetes-list-type'];
  if (listType === 'set' || listType === 'map') {
    const keys = schema['x-kubernetes-list-map-keys'] ?? [];
    const seen = new Set<string>();
    value.forEach((item, i) => {
      const identity =
        listType === 'map' && item && typeof item === 'object'
          ? JSON.stringify(Object.fromEntries(keys.map((k) => [k, (item as Record<string, unknown>)[k]])))
          : JSON.stringify(item);
      if (seen.has(identity)) out.add(child(path, i), `Duplicate value: ${identity}`);
      seen.add(identity);
    });
  }
}

function checkObject(schema: OpenApiSchema, value: Record<string, unknown>, path: string, out: Collector, withRules: boolean): void {
  const keys = Object.keys(value);
  if (schema.minProperties !== undefined && keys.length < schema.minProperties) {
    out.add(path, `should have at least ${schema.minProperties} properties`);
  }
  if (schema.maxProperties !== undefined && keys.length > schema.maxProperties) {
    out.add(path, `should have at most ${schema.maxProperties} properties`);
  }
  for (const req of schema.required ?? []) {
    if (value[req] === undefined) out.add(child(path, req), 'Required value');
  }
  const properties = schema.properties;
  const additional = schema.additionalProperties;
  const open = schema['x-kubernetes-preserve-unknown-fields'] === true;
  for (const key of keys) {
    const v = value[key];
    if (v === undefined) continue;
    const prop = properties?.[key];
    if (prop) check(prop, v, child(path, key), out, withRules);
    else if (additional && typeof additional === 'object') check(additional, v, mapChild(path, key), out, withRules);
    // (not inside a oneOf/anyOf/allOf/not branch — `withRules` false: branches only constrain the values of
    // fields the schema itself declares, so a field a branch does not list is not unknown)
    else if (withRules && !open && additional !== true && (properties !== undefined || schema.type === 'object')) {
      out.add(child(path, key), 'unknown field');
    }
  }
}

/** Istio's CRDs write protobuf oneofs as `oneOf: [{not: {anyOf: [required…]}}, {required: [a]}, …]`. */
function checkCombinators(schema: OpenApiSchema, value: unknown, path: string, out: Collector): void {
  if (schema.oneOf) {
    const holding = schema.oneOf.filter((b) => branchHolds(b, value)).length;
    if (holding !== 1) {
      const fields = [...new Set(schema.oneOf.flatMap((b) => b.required ?? []))];
      const set = value && typeof value === 'object' ? fields.filter((f) => (value as Record<string, unknown>)[f] !== undefined) : [];
      const detail = set.length > 1 ? `: only one of ${fields.join(', ')} may be set (found ${set.join(', ')})` : '';
      out.add(path, `must validate one and only one schema (oneOf)${detail}`);
    }
  }
  if (schema.anyOf && !schema.anyOf.some((b) => branchHolds(b, value))) {
    out.add(path, 'must validate at least one schema (anyOf)');
  }
  for (const b of schema.allOf ?? []) {
    const probe = new Collector();
    check(b, value, path, probe, false);
    for (const p of probe.problems) out.add(p.path, p.reason);
  }
  if (schema.not && branchHolds(schema.not, value)) out.add(path, 'must not validate the schema (not)');
}

function checkRules(schema: OpenApiSchema, value: unknown, path: string, out: Collector, problemsBelow: boolean): void {
  let self: CelInput | undefined;
  for (const rule of schema['x-kubernetes-validations'] ?? []) {
    // transition rules (`self == oldSelf`: immutable fields) compare with the stored version; the API
    // server skips them on create, and meshd judges one version at a time
    if (/\boldSelf\b/.test(rule.rule)) continue;
    self ??= toCel(schema, value);
    const result = evaluateRule(rule.rule, self);
    if (result === true || (typeof result === 'string' && problemsBelow)) continue;
    const at = rule.fieldPath ? `${path}${rule.fieldPath}` : path;
    const message = rule.message ?? `failed rule: ${rule.rule}`;
    const why = typeof result === 'string' ? ` (${result})` : '';
    out.add(at, `Invalid value: "${celTypeName(schema, value)}": ${message}${why}`);
  }
}

function celTypeName(schema: OpenApiSchema, value: unknown): string {
  if (schema.type) return schema.type;
  return jsonType(value) === 'integer' ? 'integer' : jsonType(value);
}

/** Converts a JSON value to CEL input along its schema: objects → maps, `integer` → int (bigint). */
function toCel(schema: OpenApiSchema | undefined, value: unknown): CelInput {
  if (value === null || value === undefined) return null;
  if (Array.isArray(value)) return value.map((v) => toCel(schema?.items, v));
  if (typeof value === 'object') {
    const m = new Map<string, CelInput>();
    for (const [k, v] of Object.entries(value)) {
      const sub = schema?.properties?.[k] ?? (typeof schema?.additionalProperties === 'object' ? schema.additionalProperties : undefined);
      m.set(k, toCel(sub, v));
    }
    return m;
  }
  if (typeof value === 'number') {
    const integral = schema?.type === 'integer' || (schema?.['x-kubernetes-int-or-string'] === true) || (schema === undefined && Number.isInteger(value));
    return integral && Number.isInteger(value) ? BigInt(value) : value;
  }
  return value as CelInput;
}
