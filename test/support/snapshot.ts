// The one way tests turn documents into a model snapshot: documents → validated objects in a ConfigStore →
// PushContext, as the daemon does (the config directory and the Kubernetes source validate every object
// before it reaches the store). A fixture document that fails validation is a broken test, so it throws
// with its label, index and problems.
import { parseAllDocuments } from 'yaml';
import { DEFAULT_MESH_CONFIG, parseMeshConfig, type MeshConfig } from '../../src/config/mesh-config.js';
import { ConfigStore } from '../../src/config/store.js';
import { validateDocument } from '../../src/config/validate.js';
import type { Kind } from '../../src/config/kinds.js';
import { PushContext, type PushContextOptions } from '../../src/model/push-context.js';
import { meshFromFile } from '../../src/sources/mesh/mesh-config-file.js';

/** A Kubernetes or Istio document as a test writes it (validated when it enters the store). */
export type Doc = Record<string, unknown>;

export interface StoreOptions {
  /** names the documents in errors and in their origin (`LABEL#index`); default `test` */
  readonly label?: string;
}

const UNVALIDATED = Symbol('unvalidated');

/**
 * Marks a document to enter the store as written, without schema or semantic checks: only for tests of
 * what the model does with config the edge would refuse (but that reaches istiod from a cluster whose
 * validating webhook is off or older).
 */
export function unvalidated<D extends Doc>(doc: D): D {
  return { ...doc, [UNVALIDATED]: true };
}

export interface SnapshotOptions extends StoreOptions, PushContextOptions {
  /** the PushContext's version; default `v1` */
  readonly version?: string;
  readonly mesh?: MeshConfig;
}

/** Adds each document to `store`, validated unless marked `unvalidated()`. */
export function addDocs(store: ConfigStore, docs: readonly Doc[], { label = 'test' }: StoreOptions = {}): ConfigStore {
  docs.forEach((doc, i) => {
    const origin = { source: 'memory', label: `${label}#${i}` } as const;
    if ((doc as Record<symbol, unknown>)[UNVALIDATED]) {
      store.upsert(doc.kind as Kind, doc as never, origin, 'test');
      return;
    }
    const r = validateDocument(doc);
    if (!r.ok) throw new Error(`${label}#${i}: test fixture is not valid: ${JSON.stringify(r.problems)} in ${JSON.stringify(doc)}`);
    store.upsert(r.value.kind, r.value.object, origin, 'test');
  });
  return store;
}

export function storeOf(docs: readonly Doc[], options: StoreOptions = {}): ConfigStore {
  return addDocs(new ConfigStore(), docs, options);
}

/** The model snapshot of `docs`, as a push would build it. */
export function snapshotOf(docs: readonly Doc[], options: SnapshotOptions = {}): PushContext {
  return new PushContext(storeOf(docs, options), options.version ?? 'v1', options.mesh ?? DEFAULT_MESH_CONFIG, options);
}

/** The documents of a multi-document YAML text (empty documents skipped). */
export function docsOfYaml(text: string): Doc[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as Doc | null)
    .filter((d): d is Doc => !!d);
}

/** The model's MeshConfig for a mesh config file's text, resolved with meshd's default flags. */
export function meshConfigOf(yaml: string, source = 'mesh.yaml'): MeshConfig {
  return meshFromFile(parseMeshConfig(yaml, source), { domainSuffix: DEFAULT_MESH_CONFIG.domainSuffix });
}
