import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SignJWT, exportJWK, generateKeyPair, type JWK } from 'jose';
import { ConfigStore } from '../../src/config/store.js';
import { validateDocument } from '../../src/config/validate.js';
import { PushContext, jwksSourceKey } from '../../src/model/push-context.js';
import { parseProxy, type Proxy } from '../../src/model/proxy.js';
import { sidecarInboundSecurity } from '../../src/security/sidecar.js';
import { grpcInboundSecurity } from '../../src/security/grpc.js';
import { PUBLIC_ONLY_JWKS } from '../../src/security/jwt/fake-jwks.js';
import { jwksNeeds } from '../../src/security/jwt/requestauthn.js';
import { buildSidecarListener } from '../../src/xds/generators/sidecar/lds.js';
import { envoyRouteMatch } from '../../src/envoy/envoy-match.js';
import { routeMatches } from '../../src/simulate/route-match.js';
import { simulateHttpFilters, type HttpFilterDecision } from '../../src/simulate/http-filters.js';
import { checkEnvoyResource, pgvViolations } from '../support/envoy-check/pgv-check.js';
import { roundTripLosses } from '../support/envoy-check/proto-check.js';
import { TYPE } from '../../src/xds/resource-types.js';
import { assertGolden } from '../support/golden.js';

// RequestAuthentication on Envoy sidecars: the jwt_authn filter istiod writes (providers, requirement map,
// payload in metadata), its place in the inbound HTTP filter chain (after CUSTOM, before RBAC), goldens for
// Istio's documented examples, and checker rows that run real tokens (signed with jose) through the
// generated filters: valid → passes, invalid/expired → 401, requestPrincipals → only that issuer/subject,
// a VirtualService claim match → routes.
//
// Goldens: test/golden/security/requestauthn/*.json; `UPDATE_GOLDEN=1 node --import tsx --test
// test/security/requestauthn.test.ts` rewrites them, otherwise any difference fails.

type Doc = Record<string, unknown>;
type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const GOLDEN_DIR = path.join(ROOT, 'test', 'golden', 'security', 'requestauthn');

const ISSUER = 'testing@secure.istio.io';
const JWKS_URI = 'https://raw.githubusercontent.com/istio/istio/release-1.28/security/tools/jwt/samples/jwks.json';

const ra = (name: string, ns: string, spec: Obj): Doc => ({ apiVersion: 'security.istio.io/v1', kind: 'RequestAuthentication', metadata: { name, namespace: ns }, spec });
const ap = (name: string, ns: string, spec: Obj): Doc => ({ apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name, namespace: ns }, spec });
const BASE: Doc[] = [
  { apiVersion: 'v1', kind: 'Service', metadata: { name: 'httpbin', namespace: 'foo' }, spec: { selector: { app: 'httpbin' }, ports: [{ name: 'http', port: 8000, targetPort: 80 }] } },
  { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'httpbin-1', namespace: 'foo', labels: { app: 'httpbin', version: 'v1' } }, spec: { serviceAccountName: 'httpbin' }, status: { podIP: '10.2.0.5', phase: 'Running' } },
];

function mesh(extra: Doc[], jwks: ReadonlyMap<string, string> = new Map(), warnings: string[] = []): PushContext {
  const store = new ConfigStore();
  for (const d of [...BASE, ...extra]) {
    const r = validateDocument(d);
    if (!r.ok) throw new Error(`invalid fixture: ${JSON.stringify(r.problems)}`);
    store.upsert(r.value.kind, r.value.object, { source: 'memory', label: 'requestauthn.test' }, 'test');
  }
  return new PushContext(store, 'v1', undefined, { jwks, onWarning: (w) => warnings.push(w) });
}

const proxy: Proxy = parseProxy({ id: 'sidecar~10.2.0.5~httpbin-1.foo~foo.svc.cluster.local', metadata: { NAMESPACE: 'foo', LABELS: { app: 'httpbin', version: 'v1' } } });

/** The HTTP filters of the inbound chain for port 80, from the generated virtualInbound listener (checked as Envoy would). */
function inboundHttpFilters(ctx: PushContext): Obj[] {
  const listener = buildSidecarListener(ctx, proxy, 'virtualInbound') as Obj;
  assert.deepEqual(checkEnvoyResource(TYPE.LDS, listener), []);
  const chain = (listener.filter_chains as Obj[]).find((c) => c.filter_chain_match?.destination_port?.value === 80 && c.filter_chain_match?.transport_protocol === 'raw_buffer');
  assert.ok(chain, 'a plaintext HTTP chain for port 80');
  const hcm = chain.filters.find((f: Obj) => f.name === 'envoy.filters.network.http_connection_manager');
  return hcm.typed_config.http_filters as Obj[];
}

function jwtFilter(ctx: PushContext): Obj | undefined {
  const f = sidecarInboundSecurity(ctx, proxy, 80).httpFilters.find((x) => (x as Obj).name === 'envoy.filters.http.jwt_authn') as Obj | undefined;
  if (f) {
    assert.deepEqual(roundTripLosses('envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter', f), []);
    assert.deepEqual(pgvViolations('envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication', stripAny(f.typed_config)), []);
  }
  return f;
}

function stripAny(v: Obj): Obj {
  const { '@type': _t, ...rest } = v;
  return rest;
}

const golden = (name: string, value: unknown) => assertGolden(path.join(GOLDEN_DIR, `${name}.json`), value);

// ---------------------------------------------------------------------------------------------------------

let key: CryptoKey;
let otherKey: CryptoKey;
let jwksText: string;

before(async () => {
  const pair = await generateKeyPair('RS256', { extractable: true });
  key = pair.privateKey as CryptoKey;
  const jwk: JWK = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  jwksText = JSON.stringify({ keys: [jwk] });
  otherKey = (await generateKeyPair('RS256')).privateKey as CryptoKey;
});

async function token(claims: Obj, opts: { signWith?: CryptoKey; exp?: number; iss?: string } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
    .setIssuer(opts.iss ?? ISSUER)
    .setIssuedAt(now - 10)
    .setExpirationTime(opts.exp ?? now + 3600)
    .sign(opts.signWith ?? key);
}

function request(headers: Record<string, string> = {}, p = '/headers'): Parameters<typeof simulateHttpFilters>[1] {
  return { headers: new Map(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), [v]])), query: new Map(), path: p, method: 'GET' };
}

const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

describe('RequestAuthentication → jwt_authn (goldens: Istio documentation examples and the validation corpus)', () => {
  it('istio.io "JWT authentication" task: jwksUri fetched by meshd and inlined, one provider OR allow_missing', () => {
    const ctx = mesh([ra('jwt-example', 'foo', { selector: { matchLabels: { app: 'httpbin' } }, jwtRules: [{ issuer: ISSUER, jwksUri: JWKS_URI }] })], new Map([[jwksSourceKey(ISSUER, JWKS_URI), '{"keys":[]}']]));
    const f = jwtFilter(ctx)!;
    golden('jwt-example', f);
    assert.deepEqual(f.typed_config.rules, [{ match: { prefix: '/' }, requires: { requires_any: { requirements: [{ provider_name: 'origins-0' }, { allow_missing: {} }] } } }]);
    assert.equal(f.typed_config.providers['origins-0'].local_jwks.inline_string, '{"keys":[]}');
  });

  it('every jwtRule field (the corpus document `full`, selected by labels instead of targetRefs)', () => {
    const ctx = mesh([ra('full', 'foo', {
      selector: { matchLabels: { app: 'httpbin' } },
      jwtRules: [{
        issuer: 'example.com', jwksUri: 'https://example.com/.well-known/jwks.json', forwardOriginalToken: true, fromCookies: ['foo'],
        fromHeaders: [{ name: 'foo', prefix: 'baz' }], fromParams: ['tok'], audiences: ['a', 'b'], outputClaimToHeaders: [{ claim: 'abc', header: 'def' }],
        timeout: '5s', outputPayloadToHeader: 'header', spaceDelimitedClaims: ['custom_scope', 'provider.login.scope'], presence: 'REQUIRED',
      }],
    })]);
    const f = jwtFilter(ctx)!;
    golden('full', f);
    const p = f.typed_config.providers['origins-0'];
    assert.deepEqual(p.from_headers, [{ name: 'foo', value_prefix: 'baz' }]);
    assert.deepEqual(p.claim_to_headers, [{ header_name: 'def', claim_name: 'abc' }]);
    assert.deepEqual(p.normalize_payload_in_metadata.space_delimited_claims, ['custom_scope', 'permission', 'provider.login.scope', 'scope']);
    assert.equal(p.forward, true);
    assert.equal(p.forward_payload_header, 'header');
    // not fetched yet: a key nobody can sign with
    assert.equal(p.local_jwks.inline_string, PUBLIC_ONLY_JWKS);
  });

  it('several rules (namespace + mesh-wide policies) → sorted by issuer, OR of each provider and AND of (provider OR missing)', () => {
    const ctx = mesh([
      ra('ns', 'foo', { jwtRules: [{ issuer: 'z-issuer', jwks: '{"keys":[]}' }] }),
      ra('mesh', 'istio-system', { jwtRules: [{ issuer: 'a-issuer', jwks: '{"keys":[]}', fromHeaders: [{ name: 'x-jwt' }] }] }),
    ]);
    const f = jwtFilter(ctx)!;
    golden('two-issuers', f);
    assert.deepEqual(Object.values(f.typed_config.providers as Record<string, Obj>).map((p) => p.issuer), ['a-issuer', 'z-issuer']);
    const any = f.typed_config.rules[0].requires.requires_any.requirements;
    assert.deepEqual(any.slice(0, 2), [{ provider_name: 'origins-0' }, { provider_name: 'origins-1' }]);
    assert.equal(any[2].requires_all.requirements.length, 2);
  });

  it('scope: targetRefs and other workloads\' selectors leave the sidecar alone; no rule → no filter', () => {
    assert.equal(jwtFilter(mesh([])), undefined);
    assert.equal(jwtFilter(mesh([ra('gw', 'foo', { targetRefs: [{ kind: 'Gateway', group: 'gateway.networking.k8s.io', name: 'gw' }], jwtRules: [{ issuer: 'x', jwks: '{"keys":[]}' }] })])), undefined);
    assert.equal(jwtFilter(mesh([ra('other', 'foo', { selector: { matchLabels: { app: 'other' } }, jwtRules: [{ issuer: 'x', jwks: '{"keys":[]}' }] })])), undefined);
    assert.equal(jwtFilter(mesh([ra('elsewhere', 'bar', { jwtRules: [{ issuer: 'x', jwks: '{"keys":[]}' }] })])), undefined);
    assert.ok(jwtFilter(mesh([ra('root-selected', 'istio-system', { selector: { matchLabels: { app: 'httpbin' } }, jwtRules: [{ issuer: 'x', jwks: '{"keys":[]}' }] })])));
  });

  it('inbound HTTP chain order: jwt_authn before the RBAC filters (so RBAC sees the payload), CUSTOM first', () => {
    const ctx = mesh([
      ra('jwt', 'foo', { jwtRules: [{ issuer: ISSUER, jwks: '{"keys":[]}' }] }),
      ap('require-jwt', 'foo', { rules: [{ from: [{ source: { requestPrincipals: [`${ISSUER}/*`] } }] }] }),
    ]);
    const names = inboundHttpFilters(ctx).map((f) => f.name);
    assert.ok(names.indexOf('envoy.filters.http.jwt_authn') >= 0);
    assert.ok(names.indexOf('envoy.filters.http.jwt_authn') < names.indexOf('envoy.filters.http.rbac'));
    assert.equal(names.at(-1), 'envoy.filters.http.router');
  });

  it('an unfetched JWKS is a warning naming the policy, and the fetch list names what to fetch (deduplicated, OpenID discovery when only the issuer)', () => {
    const warnings: string[] = [];
    const ctx = mesh([ra('jwt', 'foo', { jwtRules: [{ issuer: 'https://accounts.example.com' }] })], new Map(), warnings);
    jwtFilter(ctx);
    assert.ok(warnings.some((w) => w.includes('foo/jwt') && w.includes('OpenID discovery') && w.includes('rejected')), warnings.join('\n'));
    const needs = jwksNeeds([
      { spec: { jwtRules: [{ issuer: 'https://accounts.example.com' }, { issuer: 'i', jwksUri: 'https://k/j', timeout: '9s' }, { issuer: 'i', jwksUri: 'https://k/j' }, { issuer: 'inline', jwks: '{}' }] } } as never,
    ]);
    assert.deepEqual(needs, [{ issuer: 'https://accounts.example.com', jwksUri: '', timeoutMs: 5000 }, { issuer: 'i', jwksUri: 'https://k/j', timeoutMs: 9000 }]);
  });

  it('proxyless gRPC: no jwt_authn (gRPC has none); a warning says the policy is not enforced there', () => {
    const warnings: string[] = [];
    const ctx = mesh([ra('jwt', 'foo', { jwtRules: [{ issuer: ISSUER, jwks: '{"keys":[]}' }] })], new Map(), warnings);
    const sec = grpcInboundSecurity(ctx, proxy, 80);
    assert.ok(!sec.httpFilters.some((f) => (f as Obj).name.includes('jwt')));
    assert.ok(warnings.some((w) => w.includes('foo/jwt') && w.includes('not enforced')), warnings.join('\n'));
  });
});

describe('RequestAuthentication checker rows: real tokens through the generated filters', () => {
  const decide = async (extra: Doc[], headers: Record<string, string>): Promise<HttpFilterDecision> =>
    simulateHttpFilters(inboundHttpFilters(mesh([ra('jwt', 'foo', { selector: { matchLabels: { app: 'httpbin' } }, jwtRules: [{ issuer: ISSUER, jwksUri: JWKS_URI }] }), ...extra], new Map([[jwksSourceKey(ISSUER, JWKS_URI), jwksText]]))), request(headers));

  it('a valid token passes and its payload is in the metadata', async () => {
    const d = await decide([], bearer(await token({ sub: 'alice' })));
    assert.equal(d.status, 200, d.detail);
    assert.equal((d.metadata.get('envoy.filters.http.jwt_authn') as Obj).payload.sub, 'alice');
  });

  it('no token passes (RequestAuthentication alone never demands one)', async () => {
    assert.equal((await decide([], {})).status, 200);
  });

  it('a token signed by another key, an expired token, a token of another issuer → 401', async () => {
    assert.equal((await decide([], bearer(await token({ sub: 'alice' }, { signWith: otherKey })))).status, 401);
    const expired = await decide([], bearer(await token({ sub: 'alice' }, { exp: Math.floor(Date.now() / 1000) - 3600 })));
    assert.equal(expired.status, 401);
    assert.match(expired.detail ?? '', /exp/);
    assert.equal((await decide([], bearer(await token({ sub: 'alice' }, { iss: 'evil.example.com' })))).status, 401);
    assert.equal((await decide([], bearer('not.a.jwt'))).status, 401);
  });

  it('a JWKS that could not be fetched (fake key): even a well-signed token → 401', async () => {
    const filters = inboundHttpFilters(mesh([ra('jwt', 'foo', { jwtRules: [{ issuer: ISSUER, jwksUri: JWKS_URI }] })]));
    assert.equal((await simulateHttpFilters(filters, request(bearer(await token({ sub: 'alice' }))))).status, 401);
  });

  it('AuthorizationPolicy requestPrincipals allows only that issuer/subject: no token → 403, other subject → 403, alice → 200', async () => {
    const only = ap('alice-only', 'foo', { selector: { matchLabels: { app: 'httpbin' } }, rules: [{ from: [{ source: { requestPrincipals: [`${ISSUER}/alice`] } }] }] });
    assert.equal((await decide([only], {})).status, 403);
    assert.equal((await decide([only], bearer(await token({ sub: 'bob' })))).status, 403);
    assert.equal((await decide([only], bearer(await token({ sub: 'alice' })))).status, 200);
  });

  it('request.auth.claims conditions: a groups list claim matches one of its values', async () => {
    const admins = ap('admins', 'foo', { rules: [{ when: [{ key: 'request.auth.claims[groups]', values: ['admin'] }] }] });
    assert.equal((await decide([admins], bearer(await token({ sub: 'a', groups: ['dev', 'admin'] })))).status, 200);
    assert.equal((await decide([admins], bearer(await token({ sub: 'b', groups: ['dev'] })))).status, 403);
  });

  it('a VirtualService claim match (`@request.auth.claims.groups`) routes on the verified payload', async () => {
    const match = envoyRouteMatch({ headers: { '@request.auth.claims.groups': { exact: 'admin' } } });
    const route = async (claims: Obj) => {
      const d = await decide([], bearer(await token(claims)));
      return routeMatches(match, { headers: new Map(), path: '/x', query: new Map(), method: 'GET', random: 0, tlsPresented: false, dynamicMetadata: d.metadata });
    };
    assert.ok(await route({ sub: 'a', groups: ['admin'] }));
    assert.ok(await route({ sub: 'a', groups: 'admin' }));
    assert.equal(await route({ sub: 'a', groups: ['dev'] }), undefined);
  });
});
