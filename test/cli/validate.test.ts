import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Readable } from 'node:stream';
import { runValidate } from '../../src/cli/validate.js';
import { ALL_KINDS, KINDS } from '../../src/config/kinds.js';

const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'validate', 'cli');
const f = (name: string) => join(CLI, name);

async function run(paths: string[], stdin = ''): Promise<{ code: number; out: string[]; err: string }> {
  let out = '';
  let err = '';
  const code = await runValidate(paths, {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    stdin: Readable.from([Buffer.from(stdin)]),
  });
  return { code, out: out.split('\n').filter((l) => l !== ''), err };
}

test('valid files: exit 0, no problem lines, summary on stderr', async () => {
  const r = await run([f('good.yaml')]);
  assert.equal(r.code, 0);
  assert.deepEqual(r.out, []);
  assert.equal(r.err, '2 documents, 0 invalid\n');
});

test('one line per problem: FILE#doc Kind namespace/name: field.path: reason', async () => {
  const r = await run([f('bad.yaml')]);
  assert.equal(r.code, 1);
  assert.deepEqual(r.out, [
    `${f('bad.yaml')}#0 VirtualService prod/reviews: spec.http[0].rout: unknown field`,
    // the semantic rules run too, so one run says everything (here: what the typo left the route without)
    `${f('bad.yaml')}#0 VirtualService prod/reviews: spec.http[0]: HTTP route, redirect or direct_response is required (this rule has nowhere to send the request)`,
    `${f('bad.yaml')}#1 VirtualService split: spec.http[0].route: total destination weight = 0: with 2 destinations at least one needs a positive weight`,
    `${f('bad.yaml')}#2 Gatewy gw: kind: unsupported kind "Gatewy" (meshd reads ${[...new Set(ALL_KINDS.map((k) => KINDS[k].kind))].join(', ')})`,
  ]);
  assert.equal(r.err, '3 documents, 3 invalid\n');
});

test('document numbering counts empty documents, so #N is what a user counts in the file', async () => {
  // doc 0: a valid PeerAuthentication, doc 1: empty, doc 2: the DestinationRule
  const pa = 'apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: pa}\n';
  const text = `${pa}---\n---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: x}\nspec: {host: ""}\n`;
  const r = await run(['-'], text);
  assert.equal(r.code, 1);
  assert.deepEqual(r.out, ['<stdin>#2 DestinationRule x: spec.host: host is required (the service this rule applies to)']);
});

test('YAML syntax errors are reported as lines and make the run fail', async () => {
  const r = await run([f('syntax.yaml')]);
  assert.equal(r.code, 1);
  assert.equal(r.out.length, 1);
  assert.match(r.out[0] ?? '', new RegExp(`^${f('syntax.yaml').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}#0: YAML syntax error: `));
  assert.equal(r.err, '1 document, 1 invalid\n');
});

test('directories are walked recursively for *.yaml, *.yml and *.json, in a stable order', async () => {
  const r = await run([CLI]);
  assert.equal(r.code, 1);
  const files = r.out.map((l) => l.split('#')[0]);
  // bad.yaml (3 problems), nested/policy.json (DENY without rules), syntax.yaml; README.txt ignored
  assert.deepEqual(files, [f('bad.yaml'), f('bad.yaml'), f('bad.yaml'), f('bad.yaml'), f('nested/policy.json'), f('syntax.yaml')]);
  assert.match(r.out[4] ?? '', /AuthorizationPolicy prod\/deny-nothing: spec\.rules: DENY action without `rules` is meaningless/);
  // good.yaml 2 + bad.yaml 3 + more.yml 1 + policy.json 1 + syntax.yaml 1
  assert.equal(r.err, '8 documents, 5 invalid\n');
});

test('stdin is read with -, named <stdin>', async () => {
  const ok = await run(['-'], 'apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: a}\nspec: {mtls: {mode: STRICT}}\n');
  assert.equal(ok.code, 0);
  assert.equal(ok.err, '1 document, 0 invalid\n');
  const bad = await run(['-'], 'apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: a, namespace: ns}\nspec: {mtls: {mode: ON}}\n');
  assert.equal(bad.code, 1);
  assert.deepEqual(bad.out, ['<stdin>#0 PeerAuthentication ns/a: spec.mtls.mode: Unsupported value: "ON": supported values: "UNSET", "DISABLE", "PERMISSIVE", "STRICT"']);
});

test('files and directories mix; a missing path is reported and fails the run', async () => {
  const r = await run([f('good.yaml'), f('nested'), f('does-not-exist.yaml')]);
  assert.equal(r.code, 1);
  assert.deepEqual(r.out.slice(0, 1), [`${f('does-not-exist.yaml')}: cannot read: ENOENT`]);
  assert.equal(r.err, '4 documents, 1 invalid, 1 unreadable\n');
});

test('unknown apiVersion for a known kind is a problem line', async () => {
  const r = await run(['-'], 'apiVersion: networking.istio.io/v2\nkind: VirtualService\nmetadata: {name: a}\nspec: {hosts: [a]}\n');
  assert.equal(r.code, 1);
  assert.deepEqual(r.out, ['<stdin>#0 VirtualService a: apiVersion: VirtualService is not served as "networking.istio.io/v2" (served: networking.istio.io/v1, networking.istio.io/v1beta1, networking.istio.io/v1alpha3)']);
});

test('no paths: usage on stderr, non-zero exit', async () => {
  const r = await run([]);
  assert.equal(r.code, 1);
  assert.match(r.err, /no input/);
});

test('non-Istio Kubernetes documents are listed as skipped and do not change the exit code', async () => {
  const deployment = 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: reviews-v1}\nspec: {replicas: 1}\n';
  const sa = 'apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: bookinfo-reviews, namespace: shop}\n';
  const r = await run(['-'], `${deployment}---\n${sa}`);
  assert.equal(r.code, 0);
  assert.deepEqual(r.out, [
    '<stdin>#0 apps/v1 Deployment default/reviews-v1: not Istio config, skipped',
    '<stdin>#1 v1 ServiceAccount shop/bookinfo-reviews: not Istio config, skipped',
  ]);
  assert.equal(r.err, '2 documents, 0 invalid, 2 skipped (not Istio config)\n');
});

test('every Istio kind is validated; valid kinds meshd does not serve are named as such', async () => {
  const wasm = 'apiVersion: extensions.istio.io/v1alpha1\nkind: WasmPlugin\nmetadata: {name: w, namespace: ns}\nspec: {url: "oci://ghcr.io/x/y:1"}\n';
  const badWasm = 'apiVersion: extensions.istio.io/v1alpha1\nkind: WasmPlugin\nmetadata: {name: bad, namespace: ns}\nspec: {url: "ftp://x", sha256: "zz"}\n';
  const r = await run(['-'], `${wasm}---\n${badWasm}`);
  assert.equal(r.code, 1);
  assert.deepEqual(r.out, [
    '<stdin>#0 WasmPlugin ns/w: valid; validated but not served by meshd (it has no effect on the xDS meshd sends)',
    // Istio's CRD rules, with the API server's wording; all problems of the document at once
    '<stdin>#1 WasmPlugin ns/bad: spec.url: Invalid value: "string": url must have schema one of [http, https, file, oci]',
    `<stdin>#1 WasmPlugin ns/bad: spec.sha256: should match '(^$|^[a-f0-9]{64}$)'`,
  ]);
  assert.equal(r.err, '2 documents, 1 invalid; validated but not served by meshd: WasmPlugin (1)\n');
});
