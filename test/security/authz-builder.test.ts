import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { authorizationPolicy, type AuthorizationPolicy } from '../../src/config/schemas/authorization-policy.js';
import { buildHttpFilters, buildTcpFilters, selectPolicies, type SelectedPolicies } from '../../src/security/authz.js';
import { encodeMessage } from '../../src/xds/protos.js';

// meshd's AuthorizationPolicy → RBAC builder against Istio's own builder goldens
// (shared/istio-reference/testdata/authz-builder, from pilot/pkg/security/authz/builder/builder_test.go):
// each case's input policies → the expected filter list, compared as proto-JSON after normalising field
// names. The agreement figure is asserted and every disagreement is listed with its reason.

const DIR = path.resolve(process.cwd(), '../shared/istio-reference/testdata/authz-builder');
const FALLBACK = '/work/shared/istio-reference/testdata/authz-builder';
const ROOT = fs.existsSync(DIR) ? DIR : FALLBACK;

interface Case {
  name: string;
  input: string;
  want: string[];
  meshConfig?: string;
  trustDomainBundle?: { trustDomain: string; aliases: string[] };
}

/** Known, explained disagreements: meshd does not implement ext_authz (CUSTOM with a valid provider). */
const EXPECTED_DISAGREEMENTS: Record<string, string> = {
  'http/custom-grpc-provider-no-namespace': 'CUSTOM with an envoyExtAuthzGrpc provider needs ext_authz; meshd fails closed (DENY of the rules) instead',
  'http/custom-grpc-provider': 'CUSTOM with an envoyExtAuthzGrpc provider needs ext_authz; meshd fails closed (DENY of the rules) instead',
  'http/custom-http-provider': 'CUSTOM with an envoyExtAuthzHttp provider needs ext_authz; meshd fails closed (DENY of the rules) instead',
  'http/custom-bad-multiple-providers': 'istiod emits ext_authz for the first provider and a deny for the second; meshd denies both policies (no ext_authz)',
  'tcp/custom-both-http-tcp': 'CUSTOM with an envoyExtAuthzGrpc provider needs the ext_authz network filter; meshd fails closed (DENY) instead',
};
export const AGREEING_CASES = 24;

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

function runCase(kind: 'http' | 'tcp', c: Case): { agree: boolean; why?: string; got: unknown[] } {
  const policies = loadPolicies(path.join(ROOT, kind, c.input));
  const all = selectPolicies(policies, { app: 'httpbin', version: 'v1' });
  // istiod runs the CUSTOM (ext_authz) builder only when the mesh config has extension providers, and
  // the ALLOW/DENY/AUDIT builder otherwise
  const sel: SelectedPolicies = c.meshConfig ? { allow: [], deny: [], audit: [], custom: all.custom } : { ...all, custom: [] };
  const bundle = c.trustDomainBundle ? { trustDomains: [c.trustDomainBundle.trustDomain, ...c.trustDomainBundle.aliases] } : undefined;
  const built = kind === 'http' ? buildHttpFilters(sel, { trustDomainBundle: bundle }) : buildTcpFilters(sel, { trustDomainBundle: bundle });
  const got = built.filters.map((f) => camel(f));
  const want = c.want.map((w) => YAML.parse(fs.readFileSync(path.join(ROOT, kind, w), 'utf8')) as unknown);
  if (got.length !== want.length) return { agree: false, why: `${got.length} filters, want ${want.length}`, got };
  for (let i = 0; i < want.length; i++) {
    const d = firstDifference(got[i], want[i]);
    if (d) return { agree: false, why: `filter ${i}${d}`, got };
  }
  return { agree: true, got };
}

describe('AuthorizationPolicy → RBAC against Istio builder goldens', () => {
  const cases = JSON.parse(fs.readFileSync(path.join(ROOT, 'cases.json'), 'utf8')) as { httpCases: Case[]; tcpCases: Case[] };
  const results = [
    ...cases.httpCases.map((c) => ({ id: `http/${c.name}`, ...runCase('http', c) })),
    ...cases.tcpCases.map((c) => ({ id: `tcp/${c.name}`, ...runCase('tcp', c) })),
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

  it('every generated filter encodes with Envoy protos', () => {
    for (const r of results) {
      for (const f of r.got as Record<string, Record<string, unknown>>[]) {
        const tc = f.typedConfig!;
        const type = String(tc['@type']).replace('type.googleapis.com/', '');
        assert.doesNotThrow(() => encodeMessage(type, toSnake(tc) as object), r.id);
      }
    }
  });
});

function toSnake(v: unknown, inMap = false): unknown {
  if (Array.isArray(v)) return v.map((x) => toSnake(x));
  if (!v || typeof v !== 'object') return v;
  const out: Record<string, unknown> = {};
  for (const [k, val] of Object.entries(v)) {
    const key = inMap || k === '@type' ? k : k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    out[key] = key === 'prefix_len' && typeof val === 'number' ? { value: val } : toSnake(val, key === 'policies');
  }
  return out;
}
