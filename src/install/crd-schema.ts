// zod schema → Kubernetes structural OpenAPI v3 (the `openAPIV3Schema` of a CRD version).
//
// zod v4's z.toJSONSchema gives JSON Schema 2020-12; the API server wants a *structural* OpenAPI v3.0
// subset (https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#specifying-a-structural-schema):
// every node typed, no $ref/$schema/const/propertyNames, `additionalProperties: false` forbidden (unknown
// fields are pruned instead), `nullable: true` instead of a `null` type, boolean exclusive bounds, open maps
// as `x-kubernetes-preserve-unknown-fields`. Refinements (CEL-like cross-field rules) are not representable
// in JSON Schema and stay where they run today: zod in `meshd validate` and the validation webhook.

import { z } from 'zod';

export type JSONSchema = { [key: string]: unknown };

const INT32 = { min: -2147483648, max: 2147483647 };

/** Converts one zod schema to a structural schema; throws when the result would not be structural. */
export function structuralSchema(schema: z.ZodType, where: string): JSONSchema {
  const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any', reused: 'inline', cycles: 'throw' }) as JSONSchema;
  delete json.$schema;
  return toStructural(json, where);
}

function toStructural(node: JSONSchema, path: string): JSONSchema {
  // `.nullish()` on a constrained type: anyOf [T, {type: null}] → T with `nullable: true`
  if (Array.isArray(node.anyOf) && node.anyOf.length === 2) {
    const branches = node.anyOf as JSONSchema[];
    const nonNull = branches.filter((b) => b.type !== 'null');
    if (nonNull.length === 1) {
      const { anyOf: _anyOf, ...rest } = node;
      return { ...toStructural({ ...rest, ...nonNull[0] }, path), nullable: true };
    }
  }
  if ('$ref' in node || '$defs' in node) throw new Error(`${path}: a $ref cannot be expressed in a structural CRD schema`);
  const out: JSONSchema = {};
  let type = node.type;
  if (Array.isArray(type)) {
    const nonNull = type.filter((t) => t !== 'null');
    if (nonNull.length !== 1) throw new Error(`${path}: union type ${JSON.stringify(type)} is not structural`);
    type = nonNull[0];
    out.nullable = true;
  }
  if (node.anyOf !== undefined || node.oneOf !== undefined || node.allOf !== undefined) {
    throw new Error(`${path}: zod unions (anyOf/oneOf/allOf) need a hand-written structural form`);
  }
  if (type !== undefined) out.type = type;
  for (const key of ['enum', 'pattern', 'minLength', 'maxLength', 'minItems', 'maxItems', 'minProperties', 'maxProperties', 'minimum', 'maximum', 'required']) {
    if (node[key] !== undefined) out[key] = node[key];
  }
  if (node.const !== undefined) out.enum = [node.const];
  // 2020-12 numeric exclusive bounds → OpenAPI 3.0 boolean flags
  if (typeof node.exclusiveMinimum === 'number') Object.assign(out, { minimum: node.exclusiveMinimum, exclusiveMinimum: true });
  if (typeof node.exclusiveMaximum === 'number') Object.assign(out, { maximum: node.exclusiveMaximum, exclusiveMaximum: true });
  if (node.contentEncoding === 'base64' || node.format === 'base64') {
    // protobuf `bytes` as Istio's CRDs write it; the API server checks `byte` as base64 itself
    out.format = 'byte';
    delete out.pattern;
  }
  if (type === 'integer') {
    if (out.minimum === INT32.min && out.maximum === INT32.max) out.format = 'int32';
  }
  if (type === 'number') out.format = 'double';
  if (type === 'object') {
    const props = node.properties as Record<string, JSONSchema> | undefined;
    if (props) {
      const kept: Record<string, JSONSchema> = {};
      for (const [name, child] of Object.entries(props)) {
        // `z.never()` marks a field Istio's API removed: zod names the replacement, the CRD simply omits it
        if (isNever(child)) continue;
        kept[name] = toStructural(child, `${path}.${name}`);
      }
      out.properties = kept;
      if (Array.isArray(out.required)) {
        const required = (out.required as string[]).filter((r) => r in kept);
        if (required.length) out.required = required;
        else delete out.required;
      }
    }
    const extra = node.additionalProperties;
    if (extra && typeof extra === 'object' && Object.keys(extra).length > 0) {
      if (props) throw new Error(`${path}: properties and additionalProperties together are not structural`);
      out.additionalProperties = toStructural(extra as JSONSchema, `${path}.*`);
    } else if (extra !== false && (extra !== undefined || !props)) {
      // an open object (looseObject, record of unknown): keep what the user wrote instead of pruning it
      out['x-kubernetes-preserve-unknown-fields'] = true;
    }
  }
  if (type === 'array') {
    const items = node.items;
    if (!items || typeof items !== 'object' || Array.isArray(items)) throw new Error(`${path}: arrays need a single items schema`);
    out.items = toStructural(items as JSONSchema, `${path}[]`);
  }
  if (type === undefined) {
    // z.unknown()/z.any(): any JSON value
    if (Object.keys(node).length > 0 && !('description' in node && Object.keys(node).length === 1)) {
      throw new Error(`${path}: untyped schema ${JSON.stringify(node)} is not structural`);
    }
    out['x-kubernetes-preserve-unknown-fields'] = true;
  }
  return out;
}

function isNever(node: JSONSchema): boolean {
  return typeof node.not === 'object' && node.not !== null && Object.keys(node.not).length === 0;
}

/**
 * Every field path of a structural schema, as the comparison with Istio's CRDs uses them: `a.b` for
 * properties, `a[]` for array items, `a{}` for map values.
 */
export function fieldPaths(node: JSONSchema, prefix = ''): string[] {
  const out: string[] = [];
  const props = node.properties as Record<string, JSONSchema> | undefined;
  if (props) {
    for (const [name, child] of Object.entries(props)) {
      const p = prefix ? `${prefix}.${name}` : name;
      out.push(p, ...fieldPaths(child, p));
    }
  }
  if (node.items && typeof node.items === 'object') out.push(...fieldPaths(node.items as JSONSchema, `${prefix}[]`));
  if (node.additionalProperties && typeof node.additionalProperties === 'object') {
    out.push(...fieldPaths(node.additionalProperties as JSONSchema, `${prefix}{}`));
  }
  return out;
}
