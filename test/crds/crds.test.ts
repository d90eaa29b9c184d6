// The generated CRDs (crds/, from the zod schemas, or Istio's own schema for the kinds whose zod schema is
// derived from it) against Istio's own (shared/istio-reference/crds): every field path of every kind, the names kubectl uses (short names, categories, printer columns),
// versions, the status subresource; structural by Kubernetes' rules; accepted by real kubectl
// `apply --dry-run=server` against the API-server fixture.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { ISTIO_KINDS, type Kind } from '../../src/config/kinds.js';
import { fieldPaths, type JSONSchema } from '../../src/install/crd-schema.js';
import { crdFor } from '../../src/install/crds.js';
import { FakeApiServer } from '../kube-fixture/server.js';
import { kubectlAvailable, kubectlFor } from '../kube-fixture/kubectl.js';
import { istioReference } from '../support/istio-reference.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const ISTIO_CRDS = istioReference('crds', 'crd-all.gen.yaml');

type Crd = { metadata: { name: string }; spec: { group: string; scope: string; names: Record<string, unknown>; versions: { name: string; served: boolean; storage: boolean; subresources?: unknown; additionalPrinterColumns?: { name: string; type: string; jsonPath: string }[]; schema: { openAPIV3Schema: JSONSchema } }[] } };

const istio = new Map<string, Crd>();
for (const doc of YAML.parseAllDocuments(readFileSync(ISTIO_CRDS, 'utf8'))) {
  const crd = doc.toJS() as Crd;
  istio.set(crd.spec.names.kind as string, crd);
}
const specOf = (v: Crd['spec']['versions'][number]) => (v.schema.openAPIV3Schema.properties as Record<string, JSONSchema>).spec!;
const ours = (kind: Kind): Crd => YAML.parse(readFileSync(path.join(root, 'crds', `${(crdFor(kind) as unknown as Crd).metadata.name}.yaml`), 'utf8')) as Crd;

/** Kubernetes' structural-schema rules that a generator can get wrong. */
function structuralViolations(node: JSONSchema, at: string, out: string[] = []): string[] {
  const preserve = node['x-kubernetes-preserve-unknown-fields'] === true;
  if (node.type === undefined && !preserve && node['x-kubernetes-int-or-string'] !== true) out.push(`${at}: no type`);
  for (const banned of ['$ref', '$schema', '$defs', 'const', 'propertyNames', 'contentEncoding']) {
    if (banned in node) out.push(`${at}: ${banned}`);
  }
  // Value validations (anyOf/oneOf/allOf/not) are structural when their branches declare no types or
  // fields (Istio's oneof encoding: `required` only); typed branches only under x-kubernetes-int-or-string.
  const typed = (b: JSONSchema): boolean =>
    ['type', 'properties', 'items', 'additionalProperties'].some((k) => k in b) ||
    ['anyOf', 'oneOf', 'allOf'].some((k) => Array.isArray(b[k]) && (b[k] as JSONSchema[]).some(typed)) ||
    (typeof b.not === 'object' && typed(b.not as JSONSchema));
  for (const combinator of ['anyOf', 'oneOf', 'allOf', 'not']) {
    const branches = combinator === 'not' ? (node.not ? [node.not as JSONSchema] : []) : ((node[combinator] as JSONSchema[] | undefined) ?? []);
    if (branches.some(typed) && node['x-kubernetes-int-or-string'] !== true) out.push(`${at}: typed ${combinator}`);
  }
  if (node.additionalProperties === false) out.push(`${at}: additionalProperties: false`);
  if (node.properties && node.additionalProperties) out.push(`${at}: properties with additionalProperties`);
  if (Array.isArray(node.type)) out.push(`${at}: type list`);
  if (node.type === 'array' && !node.items) out.push(`${at}: array without items`);
  for (const [k, v] of Object.entries((node.properties as Record<string, JSONSchema>) ?? {})) structuralViolations(v, `${at}.${k}`, out);
  if (node.items) structuralViolations(node.items as JSONSchema, `${at}[]`, out);
  if (node.additionalProperties && typeof node.additionalProperties === 'object') structuralViolations(node.additionalProperties as JSONSchema, `${at}{}`, out);
  return out;
}

describe('CRDs generated from the zod schemas', () => {
  for (const kind of ISTIO_KINDS) {
    describe(kind, () => {
      const mine = ours(kind);
      const theirs = istio.get(kind)!;

      it('has every field path of Istio\'s CRD, in every version', (t) => {
        for (const version of theirs.spec.versions) {
          const ref = new Set(fieldPaths(specOf(version)));
          const v = mine.spec.versions.find((x) => x.name === version.name);
          assert.ok(v, `version ${version.name} missing`);
          const got = new Set(fieldPaths(specOf(v)));
          const missing = [...ref].filter((p) => !got.has(p));
          const extra = [...got].filter((p) => !ref.has(p));
          const pct = ((ref.size - missing.length) / ref.size) * 100;
          t.diagnostic(`${kind} ${version.name}: ${ref.size - missing.length}/${ref.size} Istio field paths present (${pct.toFixed(1)} %)${extra.length ? `; extra: ${extra.join(', ')}` : ''}`);
          assert.deepEqual(missing, [], `${kind} ${version.name}: missing field paths`);
          // the one extra field meshd accepts on purpose (ignored, as istiod does): VirtualService http[].websocketUpgrade
          assert.deepEqual(extra, kind === 'VirtualService' ? ['http[].websocketUpgrade'] : []);
        }
      });

      it('types every field as Istio does (type, enum values, map vs object)', () => {
        const typesOf = (node: JSONSchema, at = '', out = new Map<string, string>()) => {
          out.set(at, `${String(node.type ?? 'any')}${node.enum ? `[${(node.enum as string[]).join(',')}]` : ''}${node.additionalProperties ? '{}' : ''}`);
          for (const [k, v] of Object.entries((node.properties as Record<string, JSONSchema>) ?? {})) typesOf(v, `${at}.${k}`, out);
          if (node.items) typesOf(node.items as JSONSchema, `${at}[]`, out);
          if (node.additionalProperties && typeof node.additionalProperties === 'object') typesOf(node.additionalProperties as JSONSchema, `${at}{}`, out);
          return out;
        };
        const storage = (c: Crd) => specOf(c.spec.versions.find((v) => v.storage)!);
        const ref = typesOf(storage(theirs));
        const got = typesOf(storage(mine));
        const differing = [...ref].filter(([p, t]) => got.has(p) && got.get(p) !== t).map(([p, t]) => `${p}: istio ${t}, meshd ${got.get(p)}`);
        assert.deepEqual(differing, []);
      });

      it('has Istio\'s names, versions, scope, printer columns and status subresource', () => {
        assert.equal(mine.metadata.name, theirs.metadata.name);
        assert.equal(mine.spec.group, theirs.spec.group);
        assert.equal(mine.spec.scope, theirs.spec.scope);
        assert.deepEqual(mine.spec.names, theirs.spec.names);
        const shape = (c: Crd) => c.spec.versions.map((v) => ({
          name: v.name, served: v.served, storage: v.storage, subresources: v.subresources,
          columns: (v.additionalPrinterColumns ?? []).map(({ name, type, jsonPath }) => ({ name, type, jsonPath })),
        }));
        assert.deepEqual(shape(mine), shape(theirs));
      });

      it('is a structural schema', () => {
        for (const v of mine.spec.versions) assert.deepEqual(structuralViolations(v.schema.openAPIV3Schema, `${kind}.${v.name}`), []);
      });
    });
  }

  describe('kubectl apply --dry-run=server -f crds/ (real kubectl, API-server fixture)', { skip: !kubectlAvailable() && 'no kubectl' }, () => {
    const api = new FakeApiServer();
    let url = '';
    before(async () => {
      url = await api.start();
    });
    after(() => api.stop());

    it('accepts every CRD and persists nothing', async () => {
      const k = kubectlFor({ server: url });
      try {
        const before = api.list('customresourcedefinitions.apiextensions.k8s.io').map((o) => o.metadata.resourceVersion);
        const out = await k.run(['apply', '--server-side', '--dry-run=server', '--field-manager=meshd', '-f', path.join(root, 'crds')]);
        for (const kind of ISTIO_KINDS) {
          const name = (crdFor(kind).metadata as { name: string }).name;
          assert.ok(out.includes(`customresourcedefinition.apiextensions.k8s.io/${name} serverside-applied (server dry run)`), out);
        }
        const client = await k.run(['apply', '--dry-run=server', '-f', path.join(root, 'crds')]);
        assert.equal(client.trim().split('\n').length, ISTIO_KINDS.length);
        assert.deepEqual(api.list('customresourcedefinitions.apiextensions.k8s.io').map((o) => o.metadata.resourceVersion), before);
      } finally {
        k.cleanup();
      }
    });
  });
});
