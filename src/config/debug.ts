import type { z } from 'zod';
import { ALL_KINDS, CONFIG_KINDS, KINDS, type Kind, type KindInfo } from './kinds.js';
import { describeOrigin } from './origin.js';
import { SCHEMAS } from './schemas/index.js';
import type { ConfigStore } from './store.js';

// /debug/configz: what the store holds (accepted objects, refusals), as istiod's configz shows its config.
//
// Kubernetes objects are shown through their schema: only the fields meshd's schemas declare, which are
// the fields the model reads. Kubernetes objects pass through validation loosely (a Pod keeps its containers' env,
// its managedFields, every annotation), and a debug page must never show those: environment values are
// where Kubernetes users put credentials, and `kubectl.kubernetes.io/last-applied-configuration` repeats the
// whole object. Annotations are kept only in Istio's own domains (sidecar.istio.io/…, networking.istio.io/…),
// the ones the model reads.

const ISTIO_ANNOTATION = /^([a-z0-9-]+\.)*istio\.io\//;

type ZodDef = {
  type: string;
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  element?: z.ZodType;
  options?: z.ZodType[];
  in?: z.ZodType;
  valueType?: z.ZodType;
};
const defOf = (schema: z.ZodType): ZodDef => (schema as unknown as { _zod: { def: ZodDef } })._zod.def;

/** `value` with only what `schema` declares (object keys it does not name are left out, recursively). */
function project(schema: z.ZodType, value: unknown): unknown {
  const def = defOf(schema);
  switch (def.type) {
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'readonly':
    case 'catch':
    case 'nonoptional':
      return def.innerType ? project(def.innerType, value) : value;
    case 'pipe':
      return def.in ? project(def.in, value) : value;
    case 'array':
      return Array.isArray(value) && def.element ? value.map((v) => project(def.element!, v)) : value;
    case 'record':
      return value !== null && typeof value === 'object' && def.valueType
        ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, project(def.valueType!, v)]))
        : value;
    case 'union': {
      // the union of what its object members declare (unions of scalars pass as they are)
      if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
      const objects = (def.options ?? []).filter((o) => defOf(o).type === 'object');
      if (objects.length === 0) return value;
      const merged: Record<string, unknown> = {};
      for (const o of objects) Object.assign(merged, project(o, value));
      return merged;
    }
    case 'object': {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
      const out: Record<string, unknown> = {};
      for (const [key, fieldSchema] of Object.entries(def.shape ?? {})) {
        const field = (value as Record<string, unknown>)[key];
        if (field !== undefined) out[key] = project(fieldSchema, field);
      }
      return out;
    }
    default:
      return value;
  }
}

/**
 * An object as /debug/configz shows it. Istio config is the user's mesh config and is shown whole, but for
 * its metadata; a Kubernetes object shows only the fields its schema declares. Either way annotations
 * outside Istio's domains are left out.
 */
export function redactForDebug(kind: Kind, object: unknown): unknown {
  const schema = SCHEMAS[kind] as z.ZodType;
  let shown: { metadata?: { annotations?: Record<string, string> } };
  if (CONFIG_KINDS.includes(kind)) {
    const metadataSchema = defOf(schema).shape?.metadata;
    const whole = object as { metadata?: unknown };
    shown = { ...whole, metadata: metadataSchema ? project(metadataSchema, whole.metadata) : whole.metadata } as typeof shown;
  } else {
    shown = project(schema, object) as typeof shown;
  }
  const annotations = shown.metadata?.annotations;
  if (annotations) {
    const kept = Object.entries(annotations).filter(([k]) => ISTIO_ANNOTATION.test(k));
    if (kept.length > 0) shown.metadata!.annotations = Object.fromEntries(kept);
    else delete shown.metadata!.annotations;
  }
  return shown;
}

export function configz(store: ConfigStore): object {
  return {
    revision: store.revision,
    objects: ALL_KINDS.flatMap((kind) =>
      store.list(kind).map((s) => ({
        kind: KINDS[kind].kind,
        group: KINDS[kind].group,
        served: (KINDS[kind] as KindInfo).served,
        namespace: s.object.metadata.namespace,
        name: s.object.metadata.name,
        origin: describeOrigin(s.origin),
        revision: s.revision,
        object: redactForDebug(kind, s.object),
      })),
    ),
    rejected: store.listRejections().map((r) => ({ ...r, origin: describeOrigin(r.origin), at: r.at.toISOString() })),
  };
}
