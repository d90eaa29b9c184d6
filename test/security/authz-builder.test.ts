import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { authorizationPolicy, type AuthorizationPolicy } from '../../src/config/schemas/authorization-policy.js';
import type { PushContext } from '../../src/model/push-context.js';
import { buildHttpFilters, buildTcpFilters, selectPolicies, type SelectedPolicies } from '../../src/security/authz.js';
import { resolveExtensionProviders } from '../../src/security/ext-authz.js';
import { checkEnvoyResource } from '../support/envoy-check/pgv-check.js';
import { istioReference } from '../support/istio-reference.js';
import { meshConfigOf, snapshotOf } from '../support/snapshot.js';

// meshd's AuthorizationPolicy → RBAC builder against Istio's own builder goldens
// (shared/istio-reference/testdata/authz-builder, from pilot/pkg/security/authz/builder/builder_test.go):
// each case's input policies → the expected filter list, compared as proto-JSON after normalising field
// names. The agreement figure is asserted and every disagreement is listed with its reason.

const ROOT = istioReference('testdata', 'authz-builder');

interface Case {
  name: string;
  input: string;
  want: string[];
  meshConfig?: string;
  trustDomainBundle?: { trustDomain: string; aliases: string[] };
}

/** Known, explained disagreements with Istio's builder goldens: none left. */
const EXPECTED_DISAGREEMENTS: Record<string, string> = {};
export const AGREEING_CASES = 29;

interface MeshConfigs {
  meshConfigs: Record<string, unknown>;
}

/** The harness's world: one service the CUSTOM providers name, my-custom-ext-authz.foo.svc.cluster.local. */
function harnessContext(meshConfig: unknown): PushContext {
  const svc = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'my-custom-ext-authz', namespace: 'foo' }, spec: { ports: [{ name: 'grpc', port: 9000 }] } };
  return snapshotOf([svc], { label: 'authz-builder harness', mesh: meshConfigOf(YAML.stringify(meshConfig ?? {}), 'harness meshConfig') });
}

/** proto-JSON writes a Duration as "1.5s" and an enum by name; meshd's objects carry {seconds, nanos}. */
function durationsAsText(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(durationsAsText);
  if (!v || typeof v !== 'object') return v;
  const o = v as Record<string, unknown>;
  if (Object.keys(o).length === 2 && typeof o.seconds === 'number' && typeof o.nanos === 'number') {
    return `${(o.seconds + o.nanos / 1e9).toString()}s`;
  }
  return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, durationsAsText(x)]));
}

function camel(v: unknown, inMap = false): unknown {
  if (Array.isArray(v)) return v.map((x) => camel(x));
  if (!v || typeof v !== 'object') return v;
  const out: Record<string, unknown> = {};
  for (const [k, val] of Object.entries(v)) {
    const key = inMap || k === '@type' ? k : k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
    // proto-JSON writes wrapper types (UInt32Value prefix_len) as bare numbers
    out[key] = key === 'prefixLen' && val && typeof val === 'object' ? (val as { value: number }).value : camel(val, key === 'policies');
  }
  return out;
}

function loadPolicies(file: string): AuthorizationPolicy[] {
  return YAML.parseAllDocuments(fs.readFileSync(file, 'utf8'))
    .map((d) => d.toJSON() as unknown)
    .filter((d) => d && typeof d === 'object')
    .map((d) => authorizationPolicy.parse(d));
}

/** JSON with object keys sorted (proto maps and field order carry no meaning). */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(',')}}`;
  return JSON.stringify(v);
}

function firstDifference(a: unknown, b: unknown, at = ''): string | undefined {
  if (canonical(a) === canonical(b)) return undefined;
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const k of keys) {
      const d = firstDifference((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${at}/${k}`);
      if (d) return d;
    }
  }
  return `${at}: got ${JSON.stringify(a)?.slice(0, 200)} want ${JSON.stringify(b)?.slice(0, 200)}`;
}

function runCase(kind: 'http' | 'tcp', c: Case, meshConfigs: Record<string, unknown>): { agree: boolean; why?: string; got: unknown[]; raw: Record<string, unknown>[] } {
  const policies = loadPolicies(path.join(ROOT, kind, c.input));
  const all = selectPolicies(policies, { namespace: 'foo', labels: { app: 'httpbin', version: 'v1' } });
  // istiod runs the CUSTOM (ext_authz) builder only when the mesh config has extension providers, and
  // the ALLOW/DENY/AUDIT builder otherwise
  const sel: SelectedPolicies = c.meshConfig ? { allow: [], deny: [], audit: [], custom: all.custom } : { ...all, custom: [] };
  const bundle = c.trustDomainBundle ? { trustDomains: [c.trustDomainBundle.trustDomain, ...c.trustDomainBundle.aliases] } : undefined;
  const ctx = harnessContext(c.meshConfig ? meshConfigs[c.meshConfig] : undefined);
  const opts = { trustDomainBundle: bundle, extAuthz: resolveExtensionProviders(ctx) };
  const built = kind === 'http' ? buildHttpFilters(sel, opts) : buildTcpFilters(sel, opts);
  const got = built.filters.map((f) => durationsAsText(camel(f)));
  const want = c.want.map((w) => YAML.parse(fs.readFileSync(path.join(ROOT, kind, w), 'utf8')) as unknown);
  if (got.length !== want.length) return { agree: false, why: `${got.length} filters, want ${want.length}`, got, raw: built.filters };
  for (let i = 0; i < want.length; i++) {
    const d = firstDifference(got[i], want[i]);
    if (d) return { agree: false, why: `filter ${i}${d}`, got, raw: built.filters };
  }
  return { agree: true, got, raw: built.filters };
}

describe('AuthorizationPolicy → RBAC against Istio builder goldens', () => {
  const cases = JSON.parse(fs.readFileSync(path.join(ROOT, 'cases.json'), 'utf8')) as { httpCases: Case[]; tcpCases: Case[] } & MeshConfigs;
  const results = [
    ...cases.httpCases.map((c) => ({ id: `http/${c.name}`, ...runCase('http', c, cases.meshConfigs) })),
    ...cases.tcpCases.map((c) => ({ id: `tcp/${c.name}`, ...runCase('tcp', c, cases.meshConfigs) })),
  ];

  it(`agrees on ${AGREEING_CASES} of 29 cases; each disagreement is a known one with its reason`, () => {
    const agreeing = results.filter((r) => r.agree).length;
    const report = results.filter((r) => !r.agree).map((r) => `  ${r.id}: ${EXPECTED_DISAGREEMENTS[r.id] ?? 'UNEXPECTED'} — ${r.why}`);
    console.log(`authz-builder agreement: ${agreeing}/${results.length}\n${report.join('\n')}`);
    assert.equal(results.length, 29);
    for (const r of results) {
      if (!r.agree) assert.ok(EXPECTED_DISAGREEMENTS[r.id], `unexpected disagreement ${r.id}: ${r.why}`);
      else assert.equal(EXPECTED_DISAGREEMENTS[r.id], undefined, `${r.id} now agrees: update the table`);
    }
    assert.equal(agreeing, AGREEING_CASES);
  });

  it('every generated filter passes Envoy\'s protos and their validation rules', () => {
    for (const r of results) {
      for (const f of r.raw) {
        const tc = f.typed_config as Record<string, unknown>;
        const type = String(tc['@type']).replace('type.googleapis.com/', '');
        const { '@type': _, ...body } = tc;
        assert.deepEqual(checkEnvoyResource(type, body), [], `${r.id}: ${f.name as string}`);
      }
    }
  });
});
