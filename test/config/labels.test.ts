import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { labelsMatch, selectorMatches } from '../../src/config/labels.js';

// The two meanings of an empty selector, each as its API defines it.
describe('label selection', () => {
  const pod = { app: 'reviews', version: 'v1' };

  it('matches when every selector label is on the workload, whatever else it carries', () => {
    assert.equal(labelsMatch({ app: 'reviews' }, pod, 'selects-all'), true);
    assert.equal(labelsMatch({ app: 'reviews', version: 'v2' }, pod, 'selects-all'), false);
    assert.equal(labelsMatch({ tier: 'db' }, pod, 'selects-none'), false);
  });

  it('an Istio workload selector without labels selects every workload', () => {
    assert.equal(labelsMatch(undefined, pod, 'selects-all'), true);
    assert.equal(labelsMatch({}, pod, 'selects-all'), true);
  });

  it("a Service without selector (or with {}) selects no Pod, as Kubernetes' EndpointSlice controller", () => {
    assert.equal(labelsMatch(undefined, pod, 'selects-none'), false);
    assert.equal(labelsMatch({}, pod, 'selects-none'), false);
  });

  it('a Kubernetes LabelSelector adds matchExpressions to matchLabels; {} selects everything', () => {
    assert.equal(selectorMatches({}, pod), true);
    assert.equal(selectorMatches({ matchLabels: { app: 'reviews' }, matchExpressions: [{ key: 'version', operator: 'In', values: ['v1', 'v2'] }] }, pod), true);
    assert.equal(selectorMatches({ matchExpressions: [{ key: 'version', operator: 'NotIn', values: ['v1'] }] }, pod), false);
    assert.equal(selectorMatches({ matchExpressions: [{ key: 'canary', operator: 'DoesNotExist' }] }, pod), true);
    assert.equal(selectorMatches({ matchLabels: { app: 'ratings' }, matchExpressions: [{ key: 'app', operator: 'Exists' }] }, pod), false);
  });
});
