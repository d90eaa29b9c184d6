// The CustomResourceDefinitions of every Istio kind meshd validates, built from the project's one source
// of truth: names and versions from the kinds table (src/config/kinds.ts), the schema from the zod schemas
// (src/config/schemas) that also drive `meshd validate`, the sources and the validation webhook. What the
// zod schemas cannot say (printer columns, categories) follows Istio's crd-all.gen.yaml.

import type { z } from 'zod';
import { ISTIO_KINDS, KINDS, type Kind } from '../config/kinds.js';
import { SCHEMAS } from '../config/schemas/index.js';
import { crdSourceOf } from '../config/schemas/crd-derived.js';
import { ISTIO_CRD_SCHEMAS } from '../config/crd/istio-crd-schemas.gen.js';
import { structuralSchema, type JSONSchema } from './crd-schema.js';
import { PART_OF_LABEL } from './labels.js';

interface PrinterColumn {
  readonly name: string;
  readonly type: 'string' | 'date';
  readonly jsonPath: string;
  readonly description: string;
}

const AGE: PrinterColumn = {
  name: 'Age',
  type: 'date',
  jsonPath: '.metadata.creationTimestamp',
  description:
    'CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC. Populated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/api-conventions.md#metadata',
};

/** Istio's `additionalPrinterColumns`, per kind (kubectl get's columns). */
const PRINTER_COLUMNS: Partial<Record<Kind, readonly PrinterColumn[]>> = {
  VirtualService: [
    { name: 'Gateways', type: 'string', jsonPath: '.spec.gateways', description: 'The names of gateways and sidecars that should apply these routes' },
    { name: 'Hosts', type: 'string', jsonPath: '.spec.hosts', description: 'The destination hosts to which traffic is being sent' },
    AGE,
  ],
  DestinationRule: [
    { name: 'Host', type: 'string', jsonPath: '.spec.host', description: 'The name of a service from the service registry' },
    AGE,
  ],
  PeerAuthentication: [
    { name: 'Mode', type: 'string', jsonPath: '.spec.mtls.mode', description: 'Defines the mTLS mode used for peer authentication.' },
    AGE,
  ],
  AuthorizationPolicy: [
    { name: 'Action', type: 'string', jsonPath: '.spec.action', description: 'The operation to take.' },
    AGE,
  ],
  // Istio's RequestAuthentication CRD defines no printer columns
  RequestAuthentication: [],
  Gateway: [],
};

/** Istio's status shape is open (conditions, validationMessages, observedGeneration…): kept as written. */
const STATUS_SCHEMA: JSONSchema = { type: 'object', 'x-kubernetes-preserve-unknown-fields': true };

/** The `spec` member of a kind's envelope schema, unwrapped from `.prefault({})`. */
function specSchemaOf(kind: Kind): z.ZodType {
  const envelope = SCHEMAS[kind] as unknown as { shape: Record<string, z.ZodType> };
  const spec = envelope.shape.spec;
  if (!spec) throw new Error(`${kind}: the zod envelope has no spec`);
  return spec;
}

/** The structural `spec` schema of a kind (exported for the field-path comparison with Istio's CRDs). */
export function specOpenApiSchema(kind: Kind): JSONSchema {
  return structuralSchema(specSchemaOf(kind), `${kind}.spec`);
}

/**
 * The `openAPIV3Schema` and printer columns of a kind: from its zod schema, or — for a kind whose schema is
 * Istio's own CRD schema (crd-derived.ts) — Istio's, CEL rules included.
 */
function versionSchema(kind: Kind): { openAPIV3Schema: unknown; printerColumns: readonly object[]; storage?: string } {
  const derived = crdSourceOf(SCHEMAS[kind] as z.ZodType);
  if (derived) {
    const vendored = ISTIO_CRD_SCHEMAS[derived];
    return { openAPIV3Schema: vendored.schema, printerColumns: vendored.printerColumns.map((c) => (c.name === 'Age' ? AGE : c)), storage: vendored.storage };
  }
  const spec = specOpenApiSchema(kind);
  return {
    openAPIV3Schema: { type: 'object', properties: { spec, status: STATUS_SCHEMA } },
    printerColumns: PRINTER_COLUMNS[kind] ?? [AGE],
  };
}

export function crdFor(kind: Kind): Record<string, unknown> {
  const info = KINDS[kind];
  if (!info.istio) throw new Error(`${kind} is a built-in Kubernetes kind, not a CRD`);
  const { openAPIV3Schema, printerColumns, storage: vendoredStorage } = versionSchema(kind);
  const storage = vendoredStorage ?? ('storageVersion' in info ? info.storageVersion : info.versions[0]!);
  const versions = [...info.versions].sort(); // Istio lists versions alphabetically (storage marked, not first)
  const groupCategory = `${info.group.replaceAll('.', '-')}`;
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${info.plural}.${info.group}`,
      annotations: { 'helm.sh/resource-policy': 'keep' },
      labels: { app: 'istio-pilot', ...(info.group === 'security.istio.io' ? { istio: 'security' } : info.group === 'telemetry.istio.io' ? { istio: 'telemetry' } : {}), ...PART_OF_LABEL },
    },
    spec: {
      group: info.group,
      names: {
        categories: ['istio-io', groupCategory],
        kind: info.kind,
        listKind: `${info.kind}List`,
        plural: info.plural,
        ...(info.shortNames.length > 0 ? { shortNames: [...info.shortNames] } : {}),
        singular: info.kind.toLowerCase(),
      },
      scope: 'Namespaced',
      versions: versions.map((name) => ({
        ...(printerColumns.length > 0 ? { additionalPrinterColumns: printerColumns.map((c) => ({ ...c })) } : {}),
        name,
        schema: { openAPIV3Schema },
        served: true,
        storage: name === storage,
        subresources: { status: {} },
      })),
    },
  };
}

export function allCrds(): Record<string, unknown>[] {
  return ISTIO_KINDS.map(crdFor);
}
