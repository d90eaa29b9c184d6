// What the analyzers read: every object of the inputs (Istio config, the Kubernetes objects meshd reads,
// and the other Kubernetes objects Istio's analyzers look at: Secrets, Deployments, Nodes…), each with
// where it came from. Istio kinds and the Kubernetes kinds meshd serves pass the same schema + semantic
// checks as the daemon's edge; an Istio object that fails them is reported as IST0106. As in istioctl, an
// object whose structure is sound (only Istio's semantic rules, or the Kubernetes name rules, refuse it) is
// still analyzed by the other analyzers; one whose fields have the wrong shape is not (istioctl cannot
// decode it either). Analyzers treat every field as optional, and a throw in one becomes IST0001.

import { z } from 'zod';
import { parseDocuments } from '../config/documents.js';
import { KINDS, groupOf, kindOf, type Kind, type KindInfo } from '../config/kinds.js';
import type { Labels } from '../config/labels.js';
import { SCHEMAS } from '../config/schemas/index.js';
import { validateDocument, zodProblems } from '../config/validate.js';
import { message, type AnalysisMessage } from './message.js';
import { unreachableRuleMessages } from './analyzers/unreachable-rules.js';

export interface ResourceOrigin {
  /** file the object was read from (`-` is `<stdin>`) */
  readonly file?: string;
  /** 1-based line of the object's document */
  readonly line?: number;
  /** cluster it was listed from (live analysis) */
  readonly cluster?: string;
}

export interface Resource {
  readonly kind: string;
  /** API group ('' for the core group) */
  readonly group: string;
  readonly name: string;
  /** '' for cluster-scoped objects and for file objects read with no namespace and no default */
  readonly namespace: string;
  readonly labels: Labels;
  readonly annotations: Labels;
  /** the whole object: validated by meshd's schema for the kinds meshd reads, envelope-checked otherwise */
  readonly object: Readonly<Record<string, unknown>>;
  readonly origin: ResourceOrigin;
}

/** Kubernetes kinds without a namespace (the ones analyzers meet). */
const CLUSTER_SCOPED = new Set([
  'Namespace', 'Node', 'MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration', 'CustomResourceDefinition',
  'ClusterRole', 'ClusterRoleBinding', 'PersistentVolume', 'StorageClass', 'PriorityClass', 'GatewayClass',
]);

export const ANALYZER_NAME_SCHEMA = 'schema.ValidationAnalyzer';

/** The envelope every other Kubernetes object must have to be analyzed (zod at the edge). */
const foreignObject = z.looseObject({
  apiVersion: z.string().min(1),
  kind: z.string().min(1),
  metadata: z.looseObject({
    name: z.string().min(1),
    namespace: z.string().optional(),
    labels: z.record(z.string(), z.string()).nullish(),
    annotations: z.record(z.string(), z.string()).nullish(),
  }),
});

/** The MeshConfig fields Istio's analyzers read (proto-JSON field names, unknown fields kept). */
export const analysisMeshConfig = z.looseObject({
  rootNamespace: z.string().optional(),
  ingressControllerMode: z.string().optional(),
  ingressService: z.string().optional(),
  defaultProviders: z.looseObject({ accessLogging: z.array(z.string()).optional() }).nullish(),
  extensionProviders: z.array(z.looseObject({ name: z.string() })).optional(),
  defaultConfig: z.looseObject({ proxyMetadata: z.record(z.string(), z.string()).optional() }).nullish(),
});
export type AnalysisMeshConfig = z.infer<typeof analysisMeshConfig>;

function meshKind(kind: string, group: string): Kind | undefined {
  return kindOf(group, kind);
}

export interface LoadResult {
  readonly resources: Resource[];
  /** IST0106 for Istio objects that fail validation */
  readonly messages: AnalysisMessage[];
  /** documents that could not be read at all (YAML errors, no kind, unknown Istio kinds): `file#doc: why` */
  readonly parseErrors: string[];
}

export interface LoadOptions {
  /** namespace given to namespaced objects that have none (istioctl: the analyzed namespace) */
  readonly defaultNamespace: string;
  readonly cluster?: string;
}

/** One document (a file's or the API server's) → a Resource, an IST0106, or a parse error. */
export function loadObject(raw: unknown, origin: ResourceOrigin, opts: LoadOptions, out: LoadResult, where: string): void {
  const envelope = foreignObject.safeParse(raw);
  if (!envelope.success) {
    const issue = envelope.error.issues[0];
    out.parseErrors.push(`${where}: not a Kubernetes object (${issue ? `${issue.path.join('.') || 'document'}: ${issue.message}` : 'invalid'})`);
    return;
  }
  const e = envelope.data;
  const group = groupOf(e.apiVersion);
  const namespaced = !CLUSTER_SCOPED.has(e.kind);
  const namespace = namespaced ? (e.metadata.namespace || opts.defaultNamespace) : '';
  if (IGNORED_NAMESPACES.has(namespaced ? namespace : e.kind === 'Namespace' ? e.metadata.name : '')) return;
  const withNamespace = namespaced && namespace && !e.metadata.namespace ? { ...e, metadata: { ...e.metadata, namespace } } : e;
  const base = {
    kind: e.kind,
    group,
    name: e.metadata.name,
    namespace,
    labels: e.metadata.labels ?? {},
    annotations: e.metadata.annotations ?? {},
    origin,
  };
  const kind = meshKind(e.kind, group);
  if (!kind) {
    if (group.endsWith('istio.io')) {
      out.parseErrors.push(`${where}: ${e.apiVersion} ${e.kind} is not a kind Istio or meshd knows`);
      return;
    }
    out.resources.push({ ...base, object: withNamespace });
    return;
  }
  const result = validateDocument(withNamespace);
  if (result.ok) {
    const resource: Resource = { ...base, object: result.value.object as unknown as Record<string, unknown> };
    out.resources.push(resource);
    if (kind === 'VirtualService') out.messages.push(...unreachableRuleMessages(resource));
    return;
  }
  if (!(KINDS[kind] as KindInfo).istio) {
    // A Kubernetes object meshd's serve-time schema refuses (a Service port `protocol: HTTP`) is still what
    // the cluster holds, and what istioctl analyzes: keep it as read (envelope-checked).
    out.resources.push({ ...base, object: withNamespace });
    return;
  }
  const resource: Resource = { ...base, object: withNamespace };
  for (const p of result.problems) {
    out.messages.push(message('SchemaValidationError', resource, ANALYZER_NAME_SCHEMA, p.path ? `${p.path}: ${p.reason}` : p.reason));
  }
  if (structurallySound(kind, withNamespace)) {
    out.resources.push(resource);
    if (kind === 'VirtualService') out.messages.push(...unreachableRuleMessages(resource));
  }
}

const MISSING = 'required field is missing';

/**
 * The kind's schema finds nothing wrong but names (`metadata`) and missing required fields: the fields that
 * are there have the right types, so the analyzers (which treat every field as optional) can read them.
 */
function structurallySound(kind: Kind, object: unknown): boolean {
  const parsed = SCHEMAS[kind].safeParse(object);
  return (
    parsed.success ||
    zodProblems(parsed.error).every((p) => p.path === 'metadata' || p.path.startsWith('metadata.') || p.reason.startsWith(MISSING))
  );
}

/** Namespaces istioctl never analyzes (inject.IgnoredNamespaces): their objects are dropped at loading. */
export const IGNORED_NAMESPACES: ReadonlySet<string> = new Set(['kube-system', 'kube-public', 'kube-node-lease', 'local-path-storage']);

/** The objects of one file's text. */
export function loadText(text: string, file: string, opts: LoadOptions, out: LoadResult): void {
  for (const doc of parseDocuments(text)) {
    const where = `${file}#${doc.index}`;
    if (doc.error !== undefined) {
      out.parseErrors.push(`${where}: YAML syntax error: ${doc.error}`);
      continue;
    }
    loadObject(doc.value, { file, ...(doc.line !== undefined ? { line: doc.line } : {}) }, opts, out, where);
  }
}

export function emptyLoad(): LoadResult {
  return { resources: [], messages: [], parseErrors: [] };
}
