import { z } from 'zod';

// Kubernetes object names: DNS-1123 subdomain (253 chars), namespaces: DNS-1123 label (63 chars).
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export const objectName = z
  .string()
  .min(1, 'must not be empty')
  .max(253, 'must be no more than 253 characters')
  .regex(DNS1123_SUBDOMAIN, 'must be a lowercase RFC 1123 subdomain');

export const namespaceName = z
  .string()
  .max(63, 'must be no more than 63 characters')
  .regex(DNS1123_LABEL, 'must be a lowercase RFC 1123 label');

export const stringMap = z.record(z.string(), z.string());

/** metadata is loose: managedFields, ownerReferences… pass through untouched */
export const objectMeta = z.looseObject({
  name: objectName,
  namespace: namespaceName.optional(),
  labels: stringMap.optional(),
  annotations: stringMap.optional(),
  resourceVersion: z.string().optional(),
  generation: z.number().int().optional(),
  uid: z.string().optional(),
});
export type ObjectMeta = z.infer<typeof objectMeta>;

/** The envelope every object has; `kind` and `apiVersion` are checked before the schema runs. */
export function envelope<K extends string, Shape extends z.ZodRawShape>(kind: K, shape: Shape) {
  return z.looseObject({
    apiVersion: z.string(),
    kind: z.literal(kind),
    metadata: objectMeta,
    ...shape,
  });
}
