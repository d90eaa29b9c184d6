import { z } from 'zod';
import { envelope } from './meta.js';
import { double, durationMin1ms, istioEnum, oneOnlyTarget, policyTargetFields, status } from './common.js';

// telemetry.istio.io Telemetry (v1 and v1alpha1 share this schema), with the CRD's OpenAPI and CEL rules.
// Field semantics: istio/api telemetry/v1alpha1/telemetry.proto. istiod's webhook rules (sampling range,
// CEL syntax of access-log filters, provider names) live in ../semantics/telemetry.ts.

/** `minLength: 1` as the API server words it (`name in body should be at least 1 chars long`). */
const nonEmpty = z.string().min(1, 'should be at least 1 chars long');

export const workloadMode = istioEnum(['CLIENT_AND_SERVER', 'CLIENT', 'SERVER']);
export type WorkloadMode = z.infer<typeof workloadMode>;

export const providerRef = z.strictObject({ name: nonEmpty });
export type ProviderRef = z.infer<typeof providerRef>;

/** `oneOf` of the named keys: at most one may be present (the CRD's `oneOf … not anyOf` pattern). */
function atMostOneOf<T extends Record<string, unknown>>(keys: readonly (keyof T & string)[]) {
  return (value: T, ctx: z.RefinementCtx) => {
    const set = keys.filter((k) => value[k] !== undefined);
    if (set.length > 1) ctx.addIssue({ code: 'custom', message: `only one of ${keys.join(', ')} may be set (found ${set.join(', ')})` });
  };
}

// --- tracing ------------------------------------------------------------------------------------------------

export const customTag = z
  .strictObject({
    literal: z.strictObject({ value: nonEmpty }).optional(),
    environment: z.strictObject({ name: nonEmpty, defaultValue: z.string().optional() }).optional(),
    header: z.strictObject({ name: nonEmpty, defaultValue: z.string().optional() }).optional(),
    formatter: z.strictObject({ value: nonEmpty }).optional(),
  })
  .superRefine(atMostOneOf(['literal', 'environment', 'header', 'formatter']));
export type CustomTag = z.infer<typeof customTag>;

export const tracing = z.strictObject({
  match: z.strictObject({ mode: workloadMode.optional() }).optional(),
  providers: z.array(providerRef).optional(),
  randomSamplingPercentage: double.nullable().optional(),
  disableSpanReporting: z.boolean().nullable().optional(),
  customTags: z.record(z.string(), customTag).optional(),
  useRequestIdForTraceSampling: z.boolean().nullable().optional(),
  enableIstioTags: z.boolean().nullable().optional(),
  disableContextPropagation: z.boolean().nullable().optional(),
});
export type Tracing = z.infer<typeof tracing>;

// --- metrics ------------------------------------------------------------------------------------------------

export const ISTIO_METRICS = [
  'ALL_METRICS',
  'REQUEST_COUNT',
  'REQUEST_DURATION',
  'REQUEST_SIZE',
  'RESPONSE_SIZE',
  'TCP_OPENED_CONNECTIONS',
  'TCP_CLOSED_CONNECTIONS',
  'TCP_SENT_BYTES',
  'TCP_RECEIVED_BYTES',
  'GRPC_REQUEST_MESSAGES',
  'GRPC_RESPONSE_MESSAGES',
] as const;
export type IstioMetric = (typeof ISTIO_METRICS)[number];

export const metricSelector = z
  .strictObject({
    metric: istioEnum(ISTIO_METRICS).optional(),
    customMetric: nonEmpty.optional(),
    mode: workloadMode.optional(),
  })
  .superRefine(atMostOneOf(['metric', 'customMetric']));
export type MetricSelector = z.infer<typeof metricSelector>;

export const tagOverride = z
  .strictObject({
    operation: istioEnum(['UPSERT', 'REMOVE']).optional(),
    value: z.string().optional(),
  })
  .superRefine((t, ctx) => {
    // CEL: ((has(self.operation) ? self.operation : "") == "UPSERT") ? (self.value != "") : true — an
    // absent operation is UPSERT to istiod but not to this rule, which only fires when it is written out
    if (t.operation === 'UPSERT' && !t.value) ctx.addIssue({ code: 'custom', path: ['value'], message: 'value must be set when operation is UPSERT' });
    if (t.operation === 'REMOVE' && t.value !== undefined) ctx.addIssue({ code: 'custom', path: ['value'], message: 'value must not be set when operation is REMOVE' });
  });
export type TagOverride = z.infer<typeof tagOverride>;

export const metricsOverrides = z.strictObject({
  match: metricSelector.optional(),
  disabled: z.boolean().nullable().optional(),
  tagOverrides: z.record(z.string(), tagOverride).optional(),
});
export type MetricsOverrides = z.infer<typeof metricsOverrides>;

export const metrics = z.strictObject({
  providers: z.array(providerRef).optional(),
  overrides: z.array(metricsOverrides).optional(),
  reportingInterval: durationMin1ms.optional(),
});
export type Metrics = z.infer<typeof metrics>;

// --- access logging -----------------------------------------------------------------------------------------

export const accessLogging = z.strictObject({
  match: z.strictObject({ mode: workloadMode.optional() }).optional(),
  providers: z.array(providerRef).optional(),
  disabled: z.boolean().nullable().optional(),
  filter: z.strictObject({ expression: z.string().optional() }).optional(),
});
export type AccessLogging = z.infer<typeof accessLogging>;

export const telemetrySpec = z
  .strictObject({
    ...policyTargetFields,
    tracing: z.array(tracing).optional(),
    metrics: z.array(metrics).optional(),
    accessLogging: z.array(accessLogging).optional(),
  })
  .superRefine(oneOnlyTarget);
export type TelemetrySpec = z.infer<typeof telemetrySpec>;

export const telemetry = envelope('Telemetry', {
  spec: telemetrySpec.prefault({}),
  status,
});
export type Telemetry = z.infer<typeof telemetry>;
