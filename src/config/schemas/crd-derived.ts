import { z } from 'zod';
import { ISTIO_CRD_SCHEMAS, type IstioCrdKind } from '../crd/istio-crd-schemas.gen.js';
import { GATEWAY_API_CRD_SCHEMAS, type GatewayApiCrdKind } from '../crd/gateway-api-crd-schemas.gen.js';
import { applyDefaults, validateStructural, type OpenApiSchema } from '../crd/structural.js';
import { objectMeta, type ObjectMeta } from './meta.js';

// A kind whose schema is Istio's own CRD schema (vendored from crd-all.gen.yaml, CEL rules included)
// rather than a hand-written zod schema. The result is a zod schema like the others, so `meshd validate`,
// the sources and the webhook treat both alike; its TypeScript type is the `Spec` interface the caller
// states (written from the kind's proto), which the CRD schema guarantees structurally.

/** Envelope keys the API server owns; the CRD schema does not list them. */
const ENVELOPE_KEYS = new Set(['apiVersion', 'kind', 'metadata']);

const derivedFrom = new WeakMap<z.ZodType, IstioCrdKind>();

export type CrdDerived<K extends string, Spec> = {
  apiVersion: string;
  kind: K;
  metadata: ObjectMeta;
  spec: Spec;
  status?: unknown;
};

/** zod issues need a path array; the structural validator already formatted it (`spec.a[0].b`). */
function pathSegments(path: string): string[] {
  return path ? [path] : [];
}

export function crdDerived<K extends IstioCrdKind, Spec = Record<string, unknown>>(kind: K): z.ZodType<CrdDerived<K, Spec>> {
  const root: OpenApiSchema = ISTIO_CRD_SCHEMAS[kind].schema;
  const schema = fromCrd<K, Spec>(kind, () => root);
  derivedFrom.set(schema, kind);
  return schema;
}

/**
 * A Gateway API kind checked against its CRD's schema (and CEL rules) for the document's version: the
 * served versions' schemas differ (TCPRoute v1alpha2 vs v1…). The version itself was checked before.
 */
export function gatewayApiCrd<K extends GatewayApiCrdKind, Spec = Record<string, unknown>>(kind: K): z.ZodType<CrdDerived<K, Spec>> {
  const crd = GATEWAY_API_CRD_SCHEMAS[kind];
  const schemaOf = (apiVersion: string) => crd.schemas[crd.schemaOf[apiVersion.slice(apiVersion.lastIndexOf('/') + 1)] ?? crd.schemaOf[crd.storage]!]!;
  return fromCrd<K, Spec>(kind, schemaOf, true);
}

/** `defaulted`: validate and keep the object with the CRD's defaults filled in, as the API server stores it. */
function fromCrd<K extends string, Spec>(kind: K, schemaOf: (apiVersion: string) => OpenApiSchema, defaulted = false): z.ZodType<CrdDerived<K, Spec>> {
  const envelope = z.looseObject({ apiVersion: z.string(), kind: z.literal(kind), metadata: z.unknown(), spec: z.unknown().optional(), status: z.unknown().optional() });
  const withDefaults = defaulted
    ? envelope.transform((doc) => {
        // status is the controllers' (meshd's own included): its defaults are the API server's business
        const { metadata, status, ...body } = doc;
        return { ...(applyDefaults(schemaOf(doc.apiVersion), body) as typeof body), metadata, ...(status !== undefined ? { status } : {}) };
      })
    : envelope;
  const schema = withDefaults
    .superRefine((doc, ctx) => {
      const meta = objectMeta.safeParse(doc.metadata);
      if (!meta.success) {
        for (const issue of meta.error.issues) ctx.addIssue({ ...issue, path: ['metadata', ...issue.path] } as z.core.$ZodRawIssue);
      }
      const body = Object.fromEntries(Object.entries(doc).filter(([k]) => !ENVELOPE_KEYS.has(k)));
      for (const p of validateStructural(schemaOf(doc.apiVersion), body, '')) {
        ctx.addIssue({ code: 'custom', path: pathSegments(p.path), message: p.reason });
      }
    })
    .transform((doc) => ({ ...doc, spec: (doc.spec ?? {}) as Spec }) as CrdDerived<K, Spec>);
  return schema as unknown as z.ZodType<CrdDerived<K, Spec>>;
}

/** The Istio CRD a zod schema was derived from, if it was (the CRD generator then emits Istio's schema). */
export function crdSourceOf(schema: z.ZodType): IstioCrdKind | undefined {
  return derivedFrom.get(schema);
}
