import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  KNOWN_DIFFERENCES,
  agreementTable,
  corpusFiles,
  describeCase,
  evaluate,
  istioFigure,
  knownDifference,
  loadCorpus,
  outOfScope,
  tally,
} from '../../scripts/validation-agreement.js';

// meshd's validation must agree with Istio's on every document of the reference corpora (see
// scripts/validation-agreement.ts): the whole validation-crds corpus and every sample document. A case that
// cannot agree is listed in KNOWN_DIFFERENCES with its reason; out-of-scope files (not Kubernetes objects
// istiod reads) in OUT_OF_SCOPE. Both lists are printed with the figure.

const results = evaluate(loadCorpus());

test('validation corpus: every Istio document agrees, except the listed differences', (t) => {
  const istio = istioFigure(results);
  t.diagnostic(`Istio corpora: ${istio.agree}/${istio.total} agree; verbatim Istio error text ${istio.verbatim}/${istio.messageTotal}`);
  for (const line of agreementTable(results).split('\n')) t.diagnostic(line);
  const bad = results.filter((r) => !r.agree && knownDifference(r) === undefined && outOfScope(r) === undefined);
  assert.deepEqual(bad.map(describeCase), []);
  // a known difference that starts agreeing must leave the list
  const stale = KNOWN_DIFFERENCES.filter((k) => results.some((r) => r.file.endsWith(k.file) && r.doc === k.doc && r.agree));
  assert.deepEqual(stale, []);
});

test('validation corpus: the whole validation-crds corpus (112 documents, 11 kinds) and every sample file are scored', () => {
  const crd = results.filter((r) => r.corpus === 'istio-crd');
  assert.equal(crd.length, 112);
  assert.equal(new Set(crd.map((r) => r.kind)).size, 11);
  assert.equal(corpusFiles()['istio-crd'].length, 22);
  // every sample file contributes its documents (none filtered out by kind)
  const sampleFiles = new Set(results.filter((r) => r.corpus === 'istio-samples').map((r) => r.file));
  assert.ok(corpusFiles()['istio-samples'].every((f) => sampleFiles.has(f) || loadCorpus().every((c) => c.file !== f)));
  const samples = results.filter((r) => r.corpus === 'istio-samples');
  for (const kind of ['VirtualService', 'DestinationRule', 'ServiceEntry', 'Sidecar', 'Gateway']) {
    assert.ok(samples.some((r) => r.kind === kind && r.got === 'accept'), kind);
  }
  // Deployments and ServiceAccounts beside the mesh config are skipped, not errors
  assert.ok(samples.some((r) => r.kind === 'Deployment' && r.got === 'skip'));
});

test("meshd fixtures: reported apart; every rejection reports the expected `field.path: reason`", () => {
  const own = results.filter((r) => r.corpus === 'meshd');
  // valid and invalid fixtures for every kind with hand-written zod schemas
  for (const kind of ['VirtualService', 'DestinationRule', 'PeerAuthentication', 'AuthorizationPolicy', 'RequestAuthentication', 'Telemetry']) {
    assert.ok(own.some((r) => r.kind === kind && r.expect === 'accept'), `${kind}: valid fixtures`);
    assert.ok(own.some((r) => r.kind === kind && r.expect === 'reject'), `${kind}: invalid fixtures`);
  }
  assert.equal(tally(own).agree, own.length, own.filter((r) => !r.agree).map(describeCase).join('\n'));
  assert.deepEqual(own.filter((r) => r.messageMatch === false).map(describeCase), []);
});

test("Istio's conformance rejections name Istio's field or carry its text", (t) => {
  const rs = results.filter((r) => r.corpus === 'istio-crd' && r.messageMatch !== undefined);
  t.diagnostic(`istio-crd rejections naming the expected field/message: ${rs.filter((r) => r.messageMatch).length}/${rs.length}; word for word: ${rs.filter((r) => r.verbatim).length}/${rs.length}`);
  assert.deepEqual(rs.filter((r) => !r.messageMatch).map(describeCase), []);
  // the kinds validated against Istio's CRD schema, and Telemetry's zod schema, use the API server's wording: word for word
  const derived = rs.filter((r) => ['ServiceEntry', 'WorkloadEntry', 'WorkloadGroup', 'EnvoyFilter', 'ProxyConfig', 'WasmPlugin', 'Telemetry'].includes(r.kind));
  assert.deepEqual(derived.filter((r) => !r.verbatim).map(describeCase), []);
});
