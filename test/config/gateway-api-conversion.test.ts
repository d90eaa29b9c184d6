import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OUT_OF_SCOPE, caseNames, runAll, summary } from '../../scripts/gateway-api-agreement.js';

// meshd's Gateway API conversion against istiod's whole conversion corpus: every case outside the listed
// out-of-scope ones must give istiod's Istio config and istiod's status, and every listed case is still
// counted (and must still disagree — a case that starts to agree leaves the list).
const outcomes = runAll();

test('Gateway API conversion: every in-scope case of the corpus agrees with istiod (config and status)', (t) => {
  for (const line of summary(outcomes).split('\n')) t.diagnostic(line);
  const bad = outcomes.filter((o) => !o.outOfScope && !(o.configAgree && o.statusAgree));
  assert.deepEqual(
    bad.map((o) => `${o.name}: ${o.configDiff || ''} ${o.statusDiff || ''}`.slice(0, 600)),
    [],
  );
});

test('Gateway API conversion: the out-of-scope list names real cases that really differ', () => {
  const names = caseNames();
  assert.equal(names.length, 54);
  for (const name of Object.keys(OUT_OF_SCOPE)) assert.ok(names.includes(name), `${name} is not a corpus case`);
  const agreeing = outcomes.filter((o) => o.outOfScope && o.configAgree && o.statusAgree).map((o) => o.name);
  assert.deepEqual(agreeing, []);
});
