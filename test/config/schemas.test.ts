import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { z } from 'zod';
import { parseDuration } from '../../src/config/schemas/common.js';
import { SCHEMAS } from '../../src/config/schemas/index.js';
import { virtualServiceSpec, type HTTPRoute, type VirtualService } from '../../src/config/schemas/virtual-service.js';
import { destinationRuleSpec, type DestinationRule, type TrafficPolicy } from '../../src/config/schemas/destination-rule.js';
import { peerAuthenticationSpec } from '../../src/config/schemas/peer-authentication.js';
import { authorizationPolicySpec, type AuthorizationPolicy } from '../../src/config/schemas/authorization-policy.js';
import { validateDocument } from '../../src/config/validate.js';
import { re2SyntaxError } from '../../src/regex/re2.js';
import { ISTIO_REFERENCE } from '../../scripts/validation-agreement.js';

// --- every field of Istio's CRDs, and nothing else ------------------------------------------------------------

interface OpenAPI {
  type?: string;
  properties?: Record<string, OpenAPI>;
  items?: OpenAPI;
  additionalProperties?: OpenAPI | boolean;
  enum?: string[];
}

const crdDocs = parseAllDocuments(readFileSync(join(ISTIO_REFERENCE, 'crds', 'crd-all.gen.yaml'), 'utf8')).map(
  (d) => d.toJS() as { spec?: { names?: { kind?: string }; versions?: Array<{ name: string; schema: { openAPIV3Schema: OpenAPI } }> } },
);

function crdSpec(kind: string): { versions: string[]; spec: OpenAPI } {
  const crd = crdDocs.find((d) => d?.spec?.names?.kind === kind);
  assert.ok(crd?.spec?.versions, `CRD for ${kind}`);
  const versions = crd.spec.versions;
  const first = JSON.stringify(versions[0]?.schema);
  for (const v of versions) assert.equal(JSON.stringify(v.schema), first, `${kind} ${v.name}: all served versions share one schema`);
  const spec = versions[0]?.schema.openAPIV3Schema.properties?.['spec'];
  assert.ok(spec);
  return { versions: versions.map((v) => v.name), spec };
}

type AnyZod = z.ZodType & { _zod: { def: Record<string, unknown> & { type: string } } };

/** Strips optional/nullable/default/prefault/pipe wrappers. */
function unwrap(s: AnyZod): AnyZod {
  let cur = s;
  for (;;) {
    const def = cur._zod.def;
    if (['optional', 'nullable', 'default', 'prefault', 'readonly', 'nonoptional'].includes(def.type)) cur = def['innerType'] as AnyZod;
    else if (def.type === 'pipe') cur = def['in'] as AnyZod;
    else return cur;
  }
}

/** Fields meshd knows that Istio's current CRD does not: removed fields, rejected or ignored with a reason. */
const REMOVED_FIELDS = new Set([
  'appendHeaders', 'appendRequestHeaders', 'removeRequestHeaders', 'appendResponseHeaders', 'removeResponseHeaders',
  'websocketUpgrade', 'sourceSubnet', 'percent', 'name',
]);

function compare(path: string, crd: OpenAPI, schema: AnyZod, problems: string[]): void {
  const s = unwrap(schema);
  const t = s._zod.def.type;
  if (crd.properties) {
    if (t !== 'object') return void problems.push(`${path}: CRD object, schema ${t}`);
    const shape = s._zod.def['shape'] as Record<string, AnyZod>;
    for (const [key, sub] of Object.entries(crd.properties)) {
      const zs = shape[key];
      if (!zs) problems.push(`${path}.${key}: missing from schema`);
      else compare(`${path}.${key}`, sub, zs, problems);
    }
    for (const key of Object.keys(shape)) {
      if (!(key in crd.properties) && !(REMOVED_FIELDS.has(key) && unwrap(shape[key] as AnyZod)._zod.def.type !== 'object')) {
        problems.push(`${path}.${key}: in schema but not in the CRD`);
      }
    }
    if (s._zod.def['catchall'] === undefined || (s._zod.def['catchall'] as AnyZod)._zod.def.type !== 'never') {
      problems.push(`${path}: not strict (unknown fields would be accepted silently)`);
    }
    return;
  }
  if (crd.type === 'array') {
    if (t !== 'array') return void problems.push(`${path}: CRD array, schema ${t}`);
    compare(`${path}[]`, crd.items ?? {}, s._zod.def['element'] as AnyZod, problems);
    return;
  }
  if (crd.type === 'object' && typeof crd.additionalProperties === 'object') {
    if (t !== 'record') return void problems.push(`${path}: CRD map, schema ${t}`);
    compare(`${path}{}`, crd.additionalProperties, s._zod.def['valueType'] as AnyZod, problems);
    return;
  }
  if (crd.enum) {
    if (t !== 'enum') return void problems.push(`${path}: CRD enum, schema ${t}`);
    const entries = Object.values(s._zod.def['entries'] as Record<string, string>);
    assert.deepEqual([...entries].sort(), [...crd.enum].sort(), `${path}: enum values`);
    return;
  }
  const want = { string: 'string', integer: 'number', number: 'number', boolean: 'boolean' }[crd.type ?? ''];
  if (want && t !== want) problems.push(`${path}: CRD ${crd.type}, schema ${t}`);
}

for (const [kind, spec] of [
  ['VirtualService', virtualServiceSpec],
  ['DestinationRule', destinationRuleSpec],
  ['PeerAuthentication', peerAuthenticationSpec],
  ['AuthorizationPolicy', authorizationPolicySpec],
] as const) {
  test(`${kind}: schema has every field of Istio's CRD, same types and enums, strict objects`, () => {
    const { spec: crd } = crdSpec(kind);
    const problems: string[] = [];
    compare('spec', crd, spec as unknown as AnyZod, problems);
    assert.deepEqual(problems, []);
  });

  test(`${kind}: every served apiVersion validates with the same schema`, () => {
    const { versions } = crdSpec(kind);
    const group = kind.endsWith('Service') || kind === 'DestinationRule' ? 'networking.istio.io' : 'security.istio.io';
    for (const v of versions) {
      const doc = { apiVersion: `${group}/${v}`, kind, metadata: { name: 'x' }, spec: { rout: 1 } };
      const r = validateDocument(doc);
      assert.equal(r.ok, false);
      if (!r.ok) assert.ok(r.problems.some((p) => p.path === 'spec.rout' && p.reason === 'unknown field'), `${v}: ${JSON.stringify(r.problems)}`);
    }
  });
}

// --- durations --------------------------------------------------------------------------------------------

test('durations: Go/CEL syntax, as Istio reads them', () => {
  const ms = (s: string) => {
    const ns = parseDuration(s);
    return ns === undefined ? undefined : ns / 1e6;
  };
  assert.equal(ms('1s'), 1000);
  assert.equal(ms('0.5s'), 500);
  assert.equal(ms('1.5s'), 1500);
  assert.equal(ms('500ms'), 500);
  assert.equal(ms('1m'), 60000);
  assert.equal(ms('1h2m3s'), 3723000);
  assert.equal(ms('1500us'), 1.5);
  assert.equal(ms('1500µs'), 1.5);
  assert.equal(ms('0'), 0);
  assert.equal(ms('-1s'), -1000);
  assert.equal(ms('.5s'), 500);
  for (const bad of ['', '1', '1d', 's', '1 s', '1s ', '10', '1.2.3s', 'ten seconds', '--1s', '.s']) {
    assert.equal(parseDuration(bad), undefined, JSON.stringify(bad));
  }
});

test('durations: the CRD minimum of 1ms is enforced with its message', () => {
  const vs = (timeout: string) => ({
    apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'x' },
    spec: { hosts: ['a'], http: [{ timeout, route: [{ destination: { host: 'a' } }] }] },
  });
  assert.equal(validateDocument(vs('1ms')).ok, true);
  assert.equal(validateDocument(vs('1m')).ok, true);
  for (const t of ['0s', '999us', '-1s', 'soon']) {
    const r = validateDocument(vs(t));
    assert.equal(r.ok, false, t);
    if (!r.ok) assert.deepEqual(r.problems, [{ path: 'spec.http[0].timeout', reason: 'must be a valid duration greater than 1ms' }]);
  }
});

// --- strictness, enums, oneofs ---------------------------------------------------------------------------

test('unknown fields are reported at their path, at any depth', () => {
  const r = validateDocument({
    apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'x' },
    spec: { host: 'a', trafficPolicy: { portLevelSettings: [{ port: { number: 80 }, tls: { mode: 'SIMPLE', snii: 'x' } }] } },
  });
  assert.equal(r.ok, false);
  if (!r.ok) assert.deepEqual(r.problems, [{ path: 'spec.trafficPolicy.portLevelSettings[0].tls.snii', reason: 'unknown field' }]);
});

test('metadata and status stay loose; spec is strict', () => {
  const r = validateDocument({
    apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication',
    metadata: { name: 'x', namespace: 'ns', managedFields: [{}], creationTimestamp: '2020-01-01T00:00:00Z' },
    spec: { mtls: { mode: 'STRICT' } },
    status: { conditions: [], validationMessages: [] },
  });
  assert.equal(r.ok, true);
});

test('enums: Istio names only, rejected like the API server does', () => {
  const r = validateDocument({
    apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'x' }, spec: { action: 1 },
  });
  assert.equal(r.ok, false);
  if (!r.ok) assert.deepEqual(r.problems, [{ path: 'spec.action', reason: 'Unsupported value: 1: supported values: "ALLOW", "DENY", "AUDIT", "CUSTOM"' }]);
});

test('StringMatch and other oneofs: at most one member', () => {
  const r = validateDocument({
    apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'x' },
    spec: { hosts: ['a'], http: [{ match: [{ queryParams: { q: { exact: 'a', regex: 'b' } } }], route: [{ destination: { host: 'a' } }] }] },
  });
  assert.equal(r.ok, false);
  if (!r.ok) assert.deepEqual(r.problems, [{ path: 'spec.http[0].match[0].queryParams.q', reason: 'only one of exact, prefix or regex may be set' }]);
});

test('nullable wrapper fields (BoolValue, UInt32Value) accept null', () => {
  const r = validateDocument({
    apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'x' },
    spec: { host: 'a', trafficPolicy: { outlierDetection: { consecutive5xxErrors: null }, tls: { mode: 'SIMPLE', insecureSkipVerify: null } } },
  });
  assert.equal(r.ok, true, JSON.stringify(r));
});

test('PeerAuthentication and AuthorizationPolicy without spec are valid (empty spec)', () => {
  for (const kind of ['PeerAuthentication', 'AuthorizationPolicy']) {
    const r = validateDocument({ apiVersion: 'security.istio.io/v1', kind, metadata: { name: 'x' } });
    assert.equal(r.ok, true, kind);
  }
});

// --- the inferred types are what generators consume --------------------------------------------------------

test('parsed objects carry the typed shape', () => {
  const r = validateDocument({
    apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'x', namespace: 'ns' },
    spec: { hosts: ['a'], http: [{ route: [{ destination: { host: 'a', port: { number: 80 } }, weight: 100 }], timeout: '2s' }] },
  });
  assert.ok(r.ok);
  const vs = r.value.object as VirtualService;
  const route: HTTPRoute | undefined = vs.spec.http?.[0];
  assert.equal(route?.route?.[0]?.destination.port?.number, 80);
  assert.equal(route?.timeout, '2s');

  const dr = SCHEMAS.DestinationRule.parse({
    apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'd' },
    spec: { host: 'a', trafficPolicy: { loadBalancer: { simple: 'ROUND_ROBIN' } } },
  }) satisfies DestinationRule;
  const tp: TrafficPolicy | undefined = dr.spec.trafficPolicy;
  assert.equal(tp?.loadBalancer?.simple, 'ROUND_ROBIN');

  const ap = SCHEMAS.AuthorizationPolicy.parse({
    apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'p' },
  }) satisfies AuthorizationPolicy;
  assert.deepEqual(ap.spec, {});
});

// --- RE2 ----------------------------------------------------------------------------------------------------

test('RE2 checker: accepts RE2/Go syntax, rejects what RE2 lacks', () => {
  const valid = [
    '^/api/v[0-9]+/.*$', '(?i)hello', '(?i:a)b', '(?P<x>a)', '(?<x>a)', '\\pL+', '\\p{Greek}', '[[:alpha:]]+', '\\Qa.b\\E',
    'a\\z', '\\Aa', 'a*?', 'a{2,3}', 'a{,3}', '\\012', '[]a]', '[^]a]', '\\x{41}', '\\x41', '[\\d-]', '\\.', '^(.*?;)?(user=dev-123)(;.*)?',
  ];
  const invalid: Array<[string, RegExp]> = [
    ['(?=a)', /lookahead\/lookbehind/],
    ['(?!a)', /lookahead\/lookbehind/],
    ['(?<=a)b', /lookahead\/lookbehind/],
    ['(?<!a)b', /lookahead\/lookbehind/],
    ['(a)\\1', /backreferences/],
    ['\\k<x>', /invalid escape/],
    ['(?>a)', /unsupported Perl syntax/],
    ['a**', /nested repetition/],
    ['a*+', /nested repetition/],
    ['a{3}{2}', /nested repetition/],
    ['*a', /missing argument/],
    ['a|*', /missing argument/],
    ['(a', /missing closing \)/],
    ['a)', /unexpected \)/],
    ['[a', /missing closing \]/],
    ['[z-a]', /invalid character class range/],
    ['x{1001}', /invalid repeat count/],
    ['(a{1000}){1000}', /^invalid repeat count: `\{1000\}`$/],
    ['((a{10}){10}){11}', /^invalid repeat count: `\{11\}`$/],
    ['(?:a{2}){501}', /^invalid repeat count: `\{501\}`$/],
    [`(?:${'a{1000}'.repeat(40)})`, /expression too large: program size/],
    ['\\Z', /invalid escape/],
    ['\\xZZ', /invalid escape/],
    ['a\\', /trailing backslash/],
  ];
  for (const re of valid) assert.equal(re2SyntaxError(re), undefined, re);
  for (const [re, why] of invalid) assert.match(re2SyntaxError(re) ?? 'accepted', why, re);
});
