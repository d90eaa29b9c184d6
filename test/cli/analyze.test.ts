import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { parse } from 'yaml';
import { runAnalyze, type AnalyzeFlags } from '../../src/cli/analyze.js';
import { FakeApiServer } from '../kube-fixture/server.js';
import { kubeconfigYaml } from '../kube-fixture/kubectl.js';
import { meshdCommand, REPO_ROOT } from '../support/meshd-bin.js';

const FIXTURES = path.join(REPO_ROOT, 'test', 'fixtures', 'analyze');
const BROKEN = path.join(FIXTURES, 'bookinfo-broken.yaml');
const CLEAN = path.join(FIXTURES, 'clean.yaml');
const DEFAULTS: AnalyzeFlags = { istioNamespace: 'istio-system', output: 'log', outputThreshold: 'Info', failureThreshold: 'Error', useKube: false };

async function run(paths: string[], flags: Partial<AnalyzeFlags> = {}, stdin = ''): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runAnalyze(paths, { ...DEFAULTS, ...flags }, {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    stdin: Readable.from([Buffer.from(stdin)]),
  });
  return { code, out, err };
}

const lines = (s: string) => s.split('\n').filter((l) => l !== '');

test('files: istioctl lines with IST codes, friendly names and file:line; exit 79 on an Error', async () => {
  const r = await run([BROKEN], { namespace: 'bookinfo' });
  assert.deepEqual(lines(r.out), [
    `Error [IST0101] (VirtualService reviews.bookinfo ${BROKEN}:2) Referenced host not found: "reviews-typo"`,
    `Error [IST0101] (VirtualService reviews.bookinfo ${BROKEN}:2) Referenced host+subset in destinationrule not found: "reviews+v3"`,
  ]);
  assert.equal(r.code, 79);
  assert.match(r.err, /Analyzers found issues when analyzing namespace: bookinfo\./);
});

test('-n selects the namespace whose messages are shown (default: default); -A shows all', async () => {
  const r = await run([BROKEN]);
  assert.equal(r.out, '\n');
  assert.match(r.err, /No validation issues found when analyzing .*bookinfo-broken\.yaml\./);
  assert.equal(r.code, 0);
  const all = await run([BROKEN], { allNamespaces: true });
  assert.equal(lines(all.out).length, 2);
  assert.equal(all.code, 79);
});

test('directories are read recursively; a clean config exits 0 with the ✔ line', async () => {
  const r = await run([FIXTURES], { namespace: 'bookinfo' });
  assert.equal(lines(r.out).length, 2);
  const clean = await run([CLEAN], { namespace: 'bookinfo' });
  assert.equal(clean.code, 0);
  assert.match(clean.err, /✔ No validation issues found when analyzing/);
});

test('stdin (-), --suppress with a glob, and the analyze-suppress annotation', async () => {
  const text = readFileSync(BROKEN, 'utf8');
  const suppressed = await run(['-'], { namespace: 'bookinfo', suppress: ['IST0101=VirtualService reviews.*'] }, text);
  assert.equal(suppressed.out, '\n');
  assert.equal(suppressed.code, 0);
  const annotated = text.replace('  name: reviews\n  namespace: bookinfo\nspec:\n  hosts', '  name: reviews\n  namespace: bookinfo\n  annotations: {galley.istio.io/analyze-suppress: "IST0101"}\nspec:\n  hosts');
  const viaAnnotation = await run(['-'], { namespace: 'bookinfo' }, annotated);
  assert.equal(viaAnnotation.out, '\n');
  const bad = await run(['-'], { suppress: ['IST0101'] }, text);
  assert.equal(bad.code, 64);
  const unknownCode = await run(['-'], { suppress: ['IST9999=Pod x'], namespace: 'bookinfo' }, text);
  assert.match(unknownCode.err, /Supplied message code 'IST9999' is an unknown message code/);
});

test('--output-threshold hides lower levels; --failure-threshold decides the exit code', async () => {
  const text = 'apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: default}\nspec: {selector: {app: s}, ports: [{port: 9080, name: foo}]}\n';
  const info = await run(['-'], {}, text);
  assert.match(info.out, /^Info \[IST0118\] \(Service s\.default <stdin>:1\) Port name foo \(port: 9080, targetPort: 0\) doesn't follow the naming convention of Istio port\.\n$/);
  assert.equal(info.code, 0);
  assert.equal((await run(['-'], { failureThreshold: 'Info' }, text)).code, 79);
  assert.equal((await run(['-'], { outputThreshold: 'Warning' }, text)).out, '\n');
  assert.equal((await run(['-'], { outputThreshold: 'Fatal' }, text)).code, 64);
});

test('-o json and -o yaml: istioctl keys; exit 0 whatever the messages', async () => {
  const j = await run([BROKEN], { namespace: 'bookinfo', output: 'json' });
  assert.equal(j.code, 0);
  const msgs = JSON.parse(j.out) as Record<string, string>[];
  assert.deepEqual(msgs[0], {
    code: 'IST0101',
    documentationUrl: 'https://istio.io/latest/docs/reference/config/analysis/ist0101/?ref=istioctl-analyze',
    level: 'Error',
    message: 'Referenced host not found: "reviews-typo"',
    origin: 'VirtualService reviews.bookinfo',
    reference: `${BROKEN}:2`,
  });
  const y = await run([BROKEN], { namespace: 'bookinfo', output: 'yaml' });
  assert.deepEqual(parse(y.out), msgs);
});

test('invalid Istio config is IST0106 (meshd validate\'s checks); an unparseable file exits 65', async () => {
  const invalid = 'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: v, namespace: default}\nspec: {hosts: [a], http: [{route: [{destination: {host: a}, weight: -1}]}]}\n';
  const r = await run(['-'], {}, invalid);
  assert.match(r.out, /^Error \[IST0106\] \(VirtualService v\.default <stdin>:1\) Schema validation error: spec\.http\[0\]\.route\[0\]\.weight: /m);
  const broken = await run(['-'], {}, 'kind: [unclosed\n');
  assert.equal(broken.code, 65);
  assert.equal((await run(['-'], { ignoreUnknown: true }, 'kind: [unclosed\n')).code, 0);
});

test('-L lists the analyzers by Istio name', async () => {
  const r = await run([], { listAnalyzers: true });
  assert.match(r.out, /^\* virtualservice\.DestinationHostAnalyzer:\n {4}Checks the destination hosts associated with each virtual service$/m);
  assert.match(r.out, /^\* gateway\.ConflictingGatewayAnalyzer:$/m);
});

const api = new FakeApiServer({ namespaces: ['default', 'bookinfo', 'istio-system'] });
const tmp = mkdtempSync(path.join(os.tmpdir(), 'meshd-analyze-'));
let kubeconfig = '';
before(async () => {
  const url = await api.start();
  kubeconfig = path.join(tmp, 'kubeconfig');
  writeFileSync(kubeconfig, kubeconfigYaml({ server: url }));
  for (const doc of readFileSync(BROKEN, 'utf8').split(/^---$/m)) api.put(parse(doc));
});
after(async () => {
  await api.stop();
  rmSync(tmp, { recursive: true, force: true });
});

test('live cluster (--kubeconfig): the same messages, origins without a file; files override the cluster', async () => {
  // (Warning and up: the cluster's namespaces carry no injection label, each an Info IST0102 as in istioctl)
  const r = await run([], { kubeconfig, useKube: undefined, namespace: 'bookinfo', outputThreshold: 'Warning' });
  assert.deepEqual(lines(r.out), [
    'Error [IST0101] (VirtualService reviews.bookinfo) Referenced host not found: "reviews-typo"',
    'Error [IST0101] (VirtualService reviews.bookinfo) Referenced host+subset in destinationrule not found: "reviews+v3"',
  ]);
  assert.equal(r.code, 79);
  // a fixed DestinationRule from a file, analyzed on top of the cluster (what would happen if applied)
  const fix = path.join(tmp, 'dr.yaml');
  writeFileSync(fix, 'apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: reviews, namespace: bookinfo}\nspec:\n  host: reviews\n  subsets: [{name: v1, labels: {version: v1}}, {name: v3, labels: {version: v1}}]\n');
  const withFile = await run([fix], { kubeconfig, useKube: undefined, namespace: 'bookinfo', outputThreshold: 'Warning' });
  assert.deepEqual(lines(withFile.out), ['Error [IST0101] (VirtualService reviews.bookinfo) Referenced host not found: "reviews-typo"']);
});

test("live cluster without -n: the kubeconfig context's namespace, as istioctl", async () => {
  const inBookinfo = path.join(tmp, 'kubeconfig-bookinfo');
  writeFileSync(inBookinfo, kubeconfigYaml({ server: api.url, namespace: 'bookinfo' }));
  const r = await run([], { kubeconfig: inBookinfo, useKube: undefined, outputThreshold: 'Warning' });
  assert.equal(r.code, 79);
  assert.match(r.err, /Analyzers found issues when analyzing namespace: bookinfo\./);
  assert.equal(lines(r.out).length, 2);
  const flagWins = await run([], { kubeconfig: inBookinfo, useKube: undefined, namespace: 'default', outputThreshold: 'Warning' });
  assert.equal(flagWins.code, 0, flagWins.out + flagWins.err);
  const noContextNamespace = await run([], { kubeconfig, useKube: undefined, outputThreshold: 'Warning' });
  assert.match(noContextNamespace.err, /analyzing namespace: default\./);
});

test('the meshd binary: exit code 79 and the message on stdout', async () => {
  const [cmd, args] = meshdCommand(['analyze', '-A', '--use-kube=false', BROKEN]);
  const { code, stdout } = await new Promise<{ code: number; stdout: string }>((resolve) => {
    execFile(cmd, args, (err, stdout) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout }));
  });
  assert.equal(code, 79);
  assert.match(stdout, /^Error \[IST0101\] \(VirtualService reviews\.bookinfo /m);
});
