import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Readable } from 'node:stream';
import { runValidate } from '../../src/cli/validate.js';

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
    `${f('bad.yaml')}#1 VirtualService split: spec.http[0].route: total destination weight = 0: with 2 destinations at least one needs a positive weight`,
    `${f('bad.yaml')}#2 Gateway gw: spec.servers: gateway must have at least one server`,
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
  assert.deepEqual(files, [f('bad.yaml'), f('bad.yaml'), f('bad.yaml'), f('nested/policy.json'), f('syntax.yaml')]);
  assert.match(r.out[3] ?? '', /AuthorizationPolicy prod\/deny-nothing: spec\.rules: DENY action without `rules` is meaningless/);
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
