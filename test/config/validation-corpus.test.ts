import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CORPUS_KINDS,
  agreementTable,
  describeCase,
  evaluate,
  loadCorpus,
  tally,
  type CaseResult,
} from '../../scripts/validation-agreement.js';

// meshd's validation must agree with Istio's on every case of the reference corpora (see
// scripts/validation-agreement.ts for what each corpus is). A case that truly cannot agree would be listed
// here with its reason; today there are none.
const KNOWN_DISAGREEMENTS: ReadonlyArray<{ file: string; doc: number; reason: string }> = [];

const results = evaluate(loadCorpus());
const isKnown = (r: CaseResult) => KNOWN_DISAGREEMENTS.some((k) => r.file.endsWith(k.file) && k.doc === r.doc);

test('validation corpus: every case agrees with Istio', (t) => {
  const all = tally(results);
  t.diagnostic(`validation corpus: ${all.agree}/${all.total} agree`);
  for (const line of agreementTable(results).split('\n')) t.diagnostic(line);
  const bad = results.filter((r) => !r.agree && !isKnown(r));
  assert.deepEqual(bad.map(describeCase), []);
});

test('validation corpus covers each corpus and each kind', () => {
  const count = (corpus: string, kind?: string) =>
    results.filter((r) => r.corpus === corpus && (kind === undefined || r.kind === kind)).length;
  // Istio's conformance files for the security kinds and DestinationRule (there is none for VirtualService)
  for (const kind of ['AuthorizationPolicy', 'DestinationRule', 'PeerAuthentication', 'RequestAuthentication']) assert.ok(count('istio-crd', kind) > 0, kind);
  // bookinfo + tests/testdata/config must all be accepted
  assert.ok(count('istio-samples', 'VirtualService') >= 40);
  assert.ok(count('istio-samples', 'DestinationRule') >= 20);
  // meshd's own fixtures: valid and invalid docs for every kind
  for (const kind of CORPUS_KINDS) {
    const rs = results.filter((r) => r.corpus === 'meshd' && r.kind === kind);
    assert.ok(rs.some((r) => r.expect === 'accept'), `${kind}: valid fixtures`);
    assert.ok(rs.some((r) => r.expect === 'reject'), `${kind}: invalid fixtures`);
  }
});

test("meshd fixtures: every rejection reports the expected `field.path: reason`", () => {
  const missing = results.filter((r) => r.corpus === 'meshd' && r.messageMatch === false);
  assert.deepEqual(missing.map(describeCase), []);
});

test("Istio's conformance rejections name Istio's field or message", (t) => {
  const rs = results.filter((r) => r.corpus === 'istio-crd' && r.messageMatch !== undefined);
  const matched = rs.filter((r) => r.messageMatch);
  t.diagnostic(`istio-crd rejections naming the expected field/message: ${matched.length}/${rs.length}`);
  assert.deepEqual(rs.filter((r) => !r.messageMatch).map(describeCase), []);
});
