import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { convertIngresses, handledByIstio, type IngressObject } from '../../src/config/ingress/convert.js';
import { istioReference } from '../support/istio-reference.js';

// istiod's Ingress conversion corpus (pilot/pkg/config/kube/ingress/testdata): every case, domain
// `mydomain` as istiod's test runs it, output sorted by name as its golden is.
const DIR = istioReference('testdata', 'ingress');
const docs = (file: string) =>
  parseAllDocuments(readFileSync(path.join(DIR, file), 'utf8')).map((d) => d.toJS()).filter(Boolean);

const cases = readdirSync(DIR).filter((f) => f.endsWith('.yaml')).map((f) => f.slice(0, -5)).sort();

test('Ingress conversion: every case of istiod\'s corpus agrees', (t) => {
  assert.equal(cases.length, 4);
  const agree: string[] = [];
  for (const name of cases) {
    const got = JSON.parse(JSON.stringify(convertIngresses(docs(`${name}.yaml`) as IngressObject[], { domainSuffix: 'mydomain' })));
    const want = docs(`${name}.yaml.golden`);
    assert.deepEqual(got, want, name);
    agree.push(name);
  }
  t.diagnostic(`Ingress conversion corpus: ${agree.length}/${cases.length} cases agree (${agree.join(', ')})`);
});

test('Ingress class: istiod\'s rules (annotation, IngressClass controller, ingressControllerMode)', () => {
  const ing = (annotations?: Record<string, string>): IngressObject => ({ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'i', annotations } });
  assert.equal(handledByIstio(ing({ 'kubernetes.io/ingress.class': 'istio' }), undefined), true);
  assert.equal(handledByIstio(ing({ 'kubernetes.io/ingress.class': 'nginx' }), undefined), false);
  assert.equal(handledByIstio(ing({ 'kubernetes.io/ingress.class': 'istio' }), undefined, { ingressControllerMode: 'OFF' }), false);
  assert.equal(handledByIstio(ing(), 'istio.io/ingress-controller'), true);
  assert.equal(handledByIstio(ing(), 'k8s.io/ingress-nginx'), false);
  assert.equal(handledByIstio(ing(), undefined, { ingressControllerMode: 'STRICT' }), false);
  assert.equal(handledByIstio(ing(), undefined, { ingressControllerMode: 'DEFAULT' }), true);
});
