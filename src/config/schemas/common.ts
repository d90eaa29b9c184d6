import { z } from 'zod';

// Pieces shared by the Istio kinds. The rules here are the ones Istio's CRDs enforce at the API server
// (OpenAPI types, enums, ranges, CEL `x-kubernetes-validations`); the rules istiod's validating webhook
// adds on top live in ../semantics/.

// ---------------------------------------------------------------------------------------------------------
// numbers

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;
const UINT32_MAX = 4294967295;

/** protobuf int32 (`type: integer, format: int32`) */
export const int32 = z
  .number()
  .int('must be an integer')
  .min(INT32_MIN, `must be at least ${INT32_MIN}`)
  .max(INT32_MAX, `must be at most ${INT32_MAX}`);

/** protobuf uint32 (`minimum: 0, maximum: 4294967295`) */
export const uint32 = z
  .number()
  .int('must be an integer')
  .min(0, 'must not be negative')
  .max(UINT32_MAX, `must be at most ${UINT32_MAX}`);

/** protobuf uint64 carried as a JSON number (`minimum: 0`) */
export const uint64 = z.number().int('must be an integer').min(0, 'must not be negative');

/** protobuf double */
export const double = z.number();

// ---------------------------------------------------------------------------------------------------------
// durations

const DURATION_UNITS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  'µs': 1e3, // U+00B5 micro sign
  'μs': 1e3, // U+03BC greek mu
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};
const DURATION_COMPONENT = /(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;

/**
 * Parses a duration the way Istio reads one: Go `time.ParseDuration` syntax (`1h2m3.5s`, `500ms`, `0`),
 * which is what both the CRD's CEL `duration()` and the protobuf JSON decoder istiod uses accept
 * (protobuf's canonical `1.5s` form is a special case). Returns nanoseconds, or undefined when invalid.
 */
export function parseDuration(text: string): number | undefined {
  let s = text;
  let sign = 1;
  if (s.startsWith('-') || s.startsWith('+')) {
    if (s[0] === '-') sign = -1;
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') return undefined;
  let total = 0;
  let pos = 0;
  while (pos < s.length) {
    DURATION_COMPONENT.lastIndex = pos;
    const m = DURATION_COMPONENT.exec(s);
    if (!m || m.index !== pos) return undefined;
    const [, num, unit] = m;
    total += Number(num) * (DURATION_UNITS[unit as string] ?? NaN);
    pos = DURATION_COMPONENT.lastIndex;
  }
  // Go rejects durations that overflow int64 nanoseconds (~292 years).
  if (!Number.isFinite(total) || total > 9.223372036854776e18) return undefined;
  return sign * total;
}

const NS_PER_MS = 1e6;

/** A duration string with no lower bound (fields whose CRD carries no CEL rule). */
export const duration = z.string().refine((s) => parseDuration(s) !== undefined, {
  message: 'must be a valid duration (e.g. "1.5s", "500ms", "1h2m")',
});

/** `duration(self) >= duration('1ms')`: the CEL rule Istio's CRDs put on most duration fields. */
export const durationMin1ms = z.string().superRefine((s, ctx) => {
  const ns = parseDuration(s);
  if (ns === undefined || ns < NS_PER_MS) {
    ctx.addIssue({ code: 'custom', message: 'must be a valid duration greater than 1ms' });
  }
});

// ---------------------------------------------------------------------------------------------------------
// strings and maps

export const stringList = z.array(z.string());
export const stringMap = z.record(z.string(), z.string());

/**
 * Istio StringMatch: a oneof of exact / prefix / regex. The CRD allows none (an empty match) but never
 * more than one; regex syntax (RE2) is checked by the semantic rules, which know the field's path.
 */
export const stringMatch = z
  .strictObject({
    exact: z.string().optional(),
    prefix: z.string().optional(),
    regex: z.string().optional(),
  })
  .refine((m) => [m.exact, m.prefix, m.regex].filter((v) => v !== undefined).length <= 1, {
    message: 'only one of exact, prefix or regex may be set',
  });
export type StringMatch = z.infer<typeof stringMatch>;

/** Percent: `{value: double}`. Range 0..100 is a webhook rule (semantics), as in Istio. */
export const percent = z.strictObject({ value: double.optional() });
export type Percent = z.infer<typeof percent>;

/** PortSelector: `{number: uint32}` (1..65535 is checked by the semantic rules, as in Istio's webhook). */
export const portSelector = z.strictObject({
  number: uint32.optional(),
  name: z.never({ error: "field was removed from Istio's API: select the port by number" }).optional(),
});
export type PortSelector = z.infer<typeof portSelector>;

// ---------------------------------------------------------------------------------------------------------
// selectors and target references (istio.type.v1beta1)

/** WorkloadSelector.matchLabels, with the CRD's CEL rules. */
export const matchLabels = z
  .record(
    z.string(),
    z
      .string()
      .max(63, 'must be no more than 63 characters')
      .refine((v) => !v.includes('*'), { message: 'wildcard not allowed in label value match' }),
  )
  .superRefine((labels, ctx) => {
    const keys = Object.keys(labels);
    if (keys.length > 4096) ctx.addIssue({ code: 'custom', message: 'must have at most 4096 labels' });
    if (keys.some((k) => k.includes('*'))) {
      ctx.addIssue({ code: 'custom', message: 'wildcard not allowed in label key match' });
    }
    if (keys.some((k) => k.length === 0)) ctx.addIssue({ code: 'custom', message: 'key must not be empty' });
  });

export const workloadSelector = z.strictObject({ matchLabels: matchLabels.optional() });
export type WorkloadSelector = z.infer<typeof workloadSelector>;

const TARGET_GROUP = /^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const TARGET_KIND = /^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$/;

/** PolicyTargetReference (Gateway API style target of a policy). */
export const policyTargetReference = z.strictObject({
  group: z
    .string()
    .max(253, 'must be no more than 253 characters')
    .regex(TARGET_GROUP, 'must be empty or a lowercase RFC 1123 subdomain')
    .optional(),
  kind: z
    .string()
    .min(1, 'must not be empty')
    .max(63, 'must be no more than 63 characters')
    .regex(TARGET_KIND, 'must be an alphanumeric kind name'),
  name: z.string().min(1, 'must not be empty').max(253, 'must be no more than 253 characters'),
  namespace: z
    .string()
    .refine((ns) => ns.length === 0, { message: 'cross namespace referencing is not currently supported' })
    .optional(),
});
export type PolicyTargetReference = z.infer<typeof policyTargetReference>;

/**
 * How a policy (AuthorizationPolicy, RequestAuthentication, Telemetry…) picks its workloads: a selector, or
 * Gateway-API-style target references, never both (the CRD's CEL rule, oneOnlyTarget).
 */
export const policyTargetFields = {
  selector: workloadSelector.optional(),
  targetRef: policyTargetReference.optional(),
  targetRefs: z.array(policyTargetReference).max(16, 'must have at most 16 items').optional(),
};

/** CEL: `(has(self.selector) ? 1 : 0) + (has(self.targetRef) ? 1 : 0) + (has(self.targetRefs) ? 1 : 0) <= 1` */
export function oneOnlyTarget(spec: { selector?: unknown; targetRef?: unknown; targetRefs?: unknown }, ctx: z.RefinementCtx): void {
  const n = [spec.selector, spec.targetRef, spec.targetRefs].filter((v) => v !== undefined).length;
  if (n > 1) ctx.addIssue({ code: 'custom', message: 'only one of targetRefs or selector can be set' });
}

/** `status` is written by controllers, never validated. */
export const status = z.looseObject({}).optional();

/**
 * A field Istio's API removed (the proto lists it as `reserved`): rejected with a message naming the
 * replacement, instead of a bare "unknown field".
 */
export function removedField(replacement: string) {
  return z.never({ error: `field was removed from Istio's API: ${replacement}` }).optional();
}

/**
 * An Istio enum (protobuf enum names, as the CRD lists them). Rejections read like the API server's:
 * `Unsupported value: "BLAH": supported values: "UNSET", "DISABLE", …`.
 */
export function istioEnum<const T extends readonly [string, ...string[]]>(values: T) {
  const supported = values.map((v) => JSON.stringify(v)).join(', ');
  return z.enum(values, {
    error: (issue) =>
      issue.input === undefined ? undefined : `Unsupported value: ${JSON.stringify(issue.input)}: supported values: ${supported}`,
  });
}
