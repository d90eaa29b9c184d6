import { z } from 'zod';
import { ISTIO_CRD_SCHEMAS, type IstioCrdKind } from '../crd/istio-crd-schemas.gen.js';
import { validateStructural, type OpenApiSchema } from '../crd/structural.js';
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
  const schema = z
    .looseObject({ apiVersion: z.string(), kind: z.literal(kind), metadata: z.unknown(), spec: z.unknown().optional(), status: z.unknown().optional() })
    .superRefine((doc, ctx) => {
      const meta = objectMeta.safeParse(doc.metadata);
      if (!meta.success) {
        for (const issue of meta.error.issues) ctx.addIssue({ ...issue, path: ['metadata', ...issue.path] } as z.core.$ZodRawIssue);
      }
      const body = Object.fromEntries(Object.entries(doc).filter(([k]) => !ENVELOPE_KEYS.has(k)));
      for (const p of validateStructural(root, body, '')) {
        ctx.addIssue({ code: 'custom', path: pathSegments(p.path), message: p.reason });
      }
    })
    .transform((doc) => ({ ...doc, spec: (doc.spec ?? {}) as Spec }) as CrdDerived<K, Spec>);
  derivedFrom.set(schema, kind);
  return schema as unknown as z.ZodType<CrdDerived<K, Spec>>;
}

/** The Istio CRD a zod schema was derived from, if it was (the CRD generator then emits Istio's schema). */
export function crdSourceOf(schema: z.ZodType): IstioCrdKind | undefined {
  return derivedFrom.get(schema);
}
