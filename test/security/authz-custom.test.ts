import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseMeshConfig } from '../../src/config/mesh-config.js';
import { validateDocument } from '../../src/config/validate.js';
import type { Rule } from '../../src/config/schemas/authorization-policy.js';
import { dependencyId, trackDependencies, type Dependency, type PushContext } from '../../src/model/push-context.js';
import { parseProxy } from '../../src/model/proxy.js';
import { buildHttpFilters, buildTcpFilters, policiesForWorkload, type ScopedPolicy } from '../../src/security/authz.js';
import { grpcInboundSecurity } from '../../src/security/grpc.js';
import { sidecarInboundSecurity } from '../../src/security/sidecar.js';
import { checkEnvoyResource } from '../support/envoy-check/pgv-check.js';
import { buildSidecarListener } from '../../src/xds/generators/sidecar/lds.js';
import { meshConfigOf, snapshotOf, type Doc } from '../support/snapshot.js';

const ALL_POLICIES: Dependency = { kind: 'collection', of: 'AuthorizationPolicy' };

// AuthorizationPolicy conditions that must never be dropped (a DENY that silently denies nothing is a
// hole), and CUSTOM policies: ext_authz to the mesh config's extension provider on Envoy sidecars, fail
// closed (deny what the rules match) wherever that cannot be done, with a warning that says why.

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const ap = (name: string, spec: Obj, ns = 'shop'): Doc => ({ apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name, namespace: ns }, spec });
const BASE: Doc[] = [
  { apiVersion: 'v1', kind: 'Service', metadata: { name: 'reviews', namespace: 'shop' }, spec: { selector: { app: 'reviews' }, ports: [{ name: 'http', port: 9080 }, { name: 'tcp-db', port: 5432 }] } },
  { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'reviews-1', namespace: 'shop', labels: { app: 'reviews' } }, spec: { serviceAccountName: 'reviews' }, status: { podIP: '10.2.0.5', phase: 'Running' } },
  { apiVersion: 'v1', kind: 'Service', metadata: { name: 'ext-authz', namespace: 'security' }, spec: { selector: { app: 'ext-authz' }, ports: [{ name: 'grpc', port: 9000 }, { name: 'http', port: 8000 }] } },
];
const sidecar = parseProxy({ id: 'sidecar~10.2.0.5~reviews-1.shop~shop.svc.cluster.local', metadata: { NAMESPACE: 'shop', LABELS: { app: 'reviews' } } });
const proxyless = parseProxy({ id: 'sidecar~10.2.0.5~reviews-1.shop~shop.svc.cluster.local', metadata: { GENERATOR: 'grpc', NAMESPACE: 'shop', LABELS: { app: 'reviews' } } });

function world(docs: Doc[], meshYaml = '', base = BASE): { ctx: PushContext; warnings: string[] } {
  const warnings: string[] = [];
  const ctx = snapshotOf([...base, ...docs], { label: 'authz-custom.test', mesh: meshConfigOf(meshYaml), onWarning: (w) => warnings.push(w) });
  return { ctx, warnings };
}

const GRPC_PROVIDER = `
extensionProviders:
- name: ext-grpc
  envoyExtAuthzGrpc:
    service: security/ext-authz.security.svc.cluster.local
    port: 9000
    timeout: 0.5s
    failOpen: false
- name: ext-http
  envoyExtAuthzHttp:
    service: ext-authz.security.svc.cluster.local
    port: 8000
    includeRequestHeadersInCheck: [x-ext-authz]
`;

const policy = (name: string, spec: Obj): ScopedPolicy => ({ name, namespace: 'shop', spec: spec as ScopedPolicy['spec'], dryRun: false });

describe('AuthorizationPolicy conditions are never dropped', () => {
  const keys: [string, string, (p: Obj) => void][] = [
    ['source.serviceAccount', 'shop/reviews', (p) => assert.deepEqual(p.principals[0].and_ids.ids[0].or_ids.ids[0].authenticated.principal_name, { safe_regex: { regex: 'spiffe://.+/ns/shop/(.+/|)sa/reviews(/.+)?' } })],
    ['source.trustDomain', 'example.org', (p) => assert.deepEqual(p.principals[0].and_ids.ids[0].or_ids.ids[0].authenticated.principal_name, { prefix: 'spiffe://example.org/' })],
    ['request.experimental.inline.headers[x-user]', 'alice', (p) => assert.deepEqual(p.principals[0].and_ids.ids[0].or_ids.ids[0].header, { name: 'x-user', safe_regex_match: { regex: '^alice$|^alice,.*|.*,alice,.*|.*,alice$' } })],
  ];
  for (const [key, value, check] of keys) {
    it(`a DENY on when ${key} denies what it names (and is accepted by validation)`, () => {
      const doc = ap('deny', { action: 'DENY', rules: [{ when: [{ key, values: [value] }] }] });
      assert.ok(validateDocument(doc).ok, 'validation accepts the key');
      const { ctx, warnings } = world([doc]);
      const built = buildHttpFilters(policiesForWorkload(ctx, 'shop', { app: 'reviews' }));
      const policies = (built.filters[0] as Obj | undefined)?.typed_config.rules.policies as Obj;
      assert.ok(policies, `the DENY filter has its rule (${JSON.stringify(built.filters)})`);
      check(policies['ns[shop]-policy[deny]-rule[0]']);
      assert.deepEqual(warnings, []);
    });
  }

  it('inline header values: prefix, suffix and presence as Istio writes them', () => {
    const rule = (v: string) => buildHttpFilters({ allow: [], audit: [], custom: [], deny: [policy('d', { action: 'DENY', rules: [{ when: [{ key: 'request.experimental.inline.headers[x-a]', values: [v] }] }] })] });
    const header = (v: string) => ((rule(v).filters[0]! as Obj).typed_config as Obj).rules.policies['ns[shop]-policy[d]-rule[0]'].principals[0].and_ids.ids[0].or_ids.ids[0].header;
    assert.deepEqual(header('a.b*'), { name: 'x-a', safe_regex_match: { regex: '^a\\.b.*$|^a\\.b.*,.*|.*,a\\.b.*,.*|.*,a\\.b.*$' } });
    assert.deepEqual(header('*-id'), { name: 'x-a', safe_regex_match: { regex: '^.*-id$|^.*-id,.*|.*,.*-id,.*|.*,.*-id$' } });
    assert.deepEqual(header('*'), { name: 'x-a', present_match: true });
  });

  it('a DENY rule that cannot be read at all matches every request; an ALLOW one is left out', () => {
    const bad = { when: [{ key: 'source.unheard_of', values: ['x'] }] } as unknown as Rule;
    const deny = buildHttpFilters({ allow: [], audit: [], custom: [], deny: [policy('d', { action: 'DENY', rules: [bad] })] });
    assert.deepEqual((deny.filters[0]! as Obj).typed_config.rules.policies, { 'ns[shop]-policy[d]-rule[0]': { permissions: [{ any: true }], principals: [{ any: true }] } });
    assert.match(deny.warnings[0]!, /unknown attribute source\.unheard_of; the rule now matches every request/);
    const allow = buildHttpFilters({ deny: [], audit: [], custom: [], allow: [policy('a', { rules: [bad] })] });
    assert.equal((allow.filters[0]! as Obj).typed_config.rules.policies, undefined, 'ALLOW without the rule: nothing is allowed');
  });

  it('an ALLOW rule with HTTP-only conditions left out of TCP chains is a note, not a warning (istiod: debug)', () => {
    const { ctx, warnings } = world([ap('get-only', { rules: [{ to: [{ operation: { methods: ['GET'] } }] }] })]);
    const sec = sidecarInboundSecurity(ctx, sidecar, 9080);
    assert.deepEqual(warnings, []);
    assert.ok(sec.notes.some((n) => /ns\[shop\]-policy\[get-only\]-rule\[0\]: left out on TCP ports: "methods" is HTTP only/.test(n)), sec.notes.join('\n'));
  });

  it('every `when` key validation accepts is one the builder can express', () => {
    const accepted = [
      'request.headers[x]', 'request.experimental.inline.headers[x]', 'source.ip', 'remote.ip', 'source.namespace', 'source.principal',
      'source.serviceAccount', 'source.trustDomain', 'request.auth.principal', 'request.auth.audiences', 'request.auth.presenter',
      'request.auth.claims[iss]', 'destination.ip', 'destination.port', 'connection.sni', 'experimental.envoy.filters.a.b[c]',
    ];
    const valueFor = (k: string) => (k.endsWith('.ip') ? '10.0.0.1' : k === 'destination.port' ? '80' : k === 'source.serviceAccount' ? 'ns/sa' : 'v');
    for (const key of accepted) {
      const doc = ap('deny', { action: 'DENY', rules: [{ when: [{ key, values: [valueFor(key)] }] }] });
      assert.ok(validateDocument(doc).ok, `${key} is accepted`);
      const built = buildHttpFilters({ allow: [], audit: [], custom: [], deny: [policy('d', (doc as Obj).spec)] });
      assert.deepEqual(built.warnings, [], key);
      assert.ok((built.filters[0]! as Obj).typed_config.rules.policies['ns[shop]-policy[d]-rule[0]'], key);
    }
  });
});

describe('CUSTOM → ext_authz on Envoy sidecars', () => {
  const custom = (provider: string, extra: Obj = {}) => ap(`ext-${provider}`, { action: 'CUSTOM', provider: { name: provider }, rules: [{ to: [{ operation: { paths: ['/admin*'] } }] }], ...extra });

  it('a gRPC provider: shadow RBAC then ext_authz on HTTP chains, the network pair on TCP chains, every body valid', () => {
    const { ctx, warnings } = world([custom('ext-grpc')], GRPC_PROVIDER);
    const http = sidecarInboundSecurity(ctx, sidecar, 9080);
    assert.deepEqual(http.httpFilters.map((f: Obj) => f.name), ['envoy.filters.http.rbac', 'envoy.filters.http.ext_authz']);
    const [rbac, ext] = http.httpFilters as Obj[];
    assert.deepEqual(Object.keys(rbac!.typed_config.shadow_rules.policies), ['istio-ext-authz-ext-grpc-ns[shop]-policy[ext-ext-grpc]-rule[0]']);
    assert.equal(rbac!.typed_config.rules, undefined, 'the RBAC filter only evaluates');
    assert.equal(rbac!.typed_config.shadow_rules_stat_prefix, 'istio_ext_authz_');
    assert.deepEqual(ext!.typed_config.grpc_service, {
      envoy_grpc: { cluster_name: 'outbound|9000||ext-authz.security.svc.cluster.local', authority: 'ext-authz.security.svc.cluster.local' },
      timeout: { seconds: 0, nanos: 500_000_000 },
    });
    assert.deepEqual(ext!.typed_config.filter_enabled_metadata.value, { string_match: { prefix: 'istio-ext-authz-ext-grpc' } });
    assert.deepEqual(http.networkFilters.map((f: Obj) => f.name), ['envoy.filters.network.rbac', 'envoy.filters.network.ext_authz']);
    assert.deepEqual(warnings, []);
    const listener = buildSidecarListener(ctx, sidecar, 'virtualInbound') as Obj;
    assert.deepEqual(checkEnvoyResource('type.googleapis.com/envoy.config.listener.v3.Listener', listener), []);
    const chains = JSON.stringify(listener.filter_chains);
    assert.ok(chains.includes('envoy.filters.http.ext_authz') && chains.includes('envoy.filters.network.ext_authz'));
  });

  it('an HTTP provider checks HTTP requests only (TCP chains get no CUSTOM filters)', () => {
    const { ctx } = world([custom('ext-http')], GRPC_PROVIDER);
    const sec = sidecarInboundSecurity(ctx, sidecar, 9080);
    const ext = (sec.httpFilters as Obj[])[1]!.typed_config;
    assert.deepEqual(ext.http_service.server_uri, { uri: 'http://ext-authz.security.svc.cluster.local', cluster: 'outbound|8000||ext-authz.security.svc.cluster.local', timeout: { seconds: 600, nanos: 0 } });
    assert.deepEqual(ext.allowed_headers, { patterns: [{ exact: 'x-ext-authz', ignore_case: true }] });
    assert.deepEqual(sec.networkFilters, []);
  });

  it('fails closed, with a warning naming why: unknown provider, provider service missing, two providers, proxyless gRPC', () => {
    const denied = (filters: readonly Obj[]) => filters.map((f) => [f.name, f.typed_config.rules?.action, Object.keys(f.typed_config.rules?.policies ?? {})]);
    const unknown = world([custom('nope')], GRPC_PROVIDER);
    assert.deepEqual(denied(sidecarInboundSecurity(unknown.ctx, sidecar, 9080).httpFilters), [
      ['envoy.filters.http.rbac', 'DENY', ['istio-ext-authz-nope-ns[shop]-policy[ext-nope]-rule[0]-deny-due-to-bad-CUSTOM-action']],
    ]);
    assert.match(unknown.warnings[0]!, /sidecar shop\/reviews-1: CUSTOM shop\/ext-nope: no extension provider "nope" in the mesh config \(extensionProviders: ext-grpc, ext-http\); requests its rules match are denied/);

    const noService = world([custom('ext-grpc')], GRPC_PROVIDER, BASE.slice(0, 2));
    assert.equal((sidecarInboundSecurity(noService.ctx, sidecar, 9080).httpFilters[0] as Obj).typed_config.rules.action, 'DENY');
    assert.match(noService.warnings[0]!, /extension provider "ext-grpc": service "security\/ext-authz.security.svc.cluster.local" is not in the mesh's service registry/);

    const two = world([custom('ext-grpc'), custom('ext-http')], GRPC_PROVIDER);
    assert.deepEqual(denied(sidecarInboundSecurity(two.ctx, sidecar, 9080).httpFilters).map((d) => d[1]), ['DENY', 'DENY']);
    assert.match(two.warnings[0]!, /only 1 provider can be used per workload/);

    const grpc = world([custom('ext-grpc')], GRPC_PROVIDER);
    const sec = grpcInboundSecurity(grpc.ctx, proxyless, 9080);
    assert.equal((sec.httpFilters[0] as Obj).typed_config.rules.action, 'DENY');
    assert.match(grpc.warnings[0]!, /proxyless gRPC shop\/reviews-1: CUSTOM shop\/ext-ext-grpc: proxyless gRPC servers have no ext_authz filter/);
  });

  it('an invalid provider (port, statusOnError, pathPrefix) is refused at use with each reason', () => {
    const { ctx, warnings } = world([custom('bad')], 'extensionProviders:\n- name: bad\n  envoyExtAuthzHttp: {service: ext-authz.security.svc.cluster.local, port: 99999, statusOnError: "999", pathPrefix: check}\n');
    assert.equal((sidecarInboundSecurity(ctx, sidecar, 9080).httpFilters[0] as Obj).typed_config.rules.action, 'DENY');
    assert.match(warnings[0]!, /port must be in the range \[1, 65535\], found 99999; .*statusOnError "999" is not an HTTP status.*; pathPrefix must begin with "\/"/);
  });

  it('dry-run CUSTOM policies (refused by validation, as in Istio) are not evaluated if one gets this far', () => {
    const doc = { ...custom('ext-grpc'), metadata: { name: 'dry', namespace: 'shop', annotations: { 'istio.io/dry-run': 'true' } } };
    assert.match(JSON.stringify(validateDocument(doc)), /only supports action ALLOW\/DENY, found action CUSTOM/);
    const dry: ScopedPolicy = { ...policy('dry', (doc as Obj).spec), dryRun: true };
    const built = buildHttpFilters({ allow: [], audit: [], deny: [], custom: [dry] }, { extAuthz: new Map() });
    assert.deepEqual(built.filters, []);
    assert.match(built.warnings[0]!, /shop\/dry: dry-run is not supported for action CUSTOM/);
  });

  it('the listener depends on the provider\'s service, so the encode cache rebuilds it when that service goes', () => {
    const { ctx } = world([custom('ext-grpc')], GRPC_PROVIDER);
    const { deps } = trackDependencies(() => buildSidecarListener(ctx, sidecar, 'virtualInbound'));
    assert.ok(deps.some((d) => dependencyId(d).includes('ext-authz.security.svc.cluster.local')), deps.map(dependencyId).join(' '));
  });

  it('a mesh config change changes every fingerprint (a full rebuild, as istiod pushes on mesh config changes)', () => {
    const a = world([], GRPC_PROVIDER).ctx;
    const b = world([], '').ctx;
    assert.notEqual(a.fingerprint(ALL_POLICIES), b.fingerprint(ALL_POLICIES));
    assert.equal(a.fingerprint(ALL_POLICIES), world([], GRPC_PROVIDER).ctx.fingerprint(ALL_POLICIES));
  });

  it('TCP: the network ext_authz carries the gRPC service and its own filter_enabled_metadata', () => {
    const { ctx } = world([custom('ext-grpc')], GRPC_PROVIDER);
    const tcp = buildTcpFilters(policiesForWorkload(ctx, 'shop', { app: 'reviews' }), { extAuthz: new Map([['ext-grpc', { tcp: { stat_prefix: 'tcp.' } }]]) });
    assert.deepEqual((tcp.filters[1]! as Obj).typed_config.filter_enabled_metadata.filter, 'envoy.filters.network.rbac');
  });
});

describe('mesh config file', () => {
  it('names the file and field of a wrong type; passes fields meshd does not act on through', () => {
    assert.throws(() => parseMeshConfig('extensionProviders:\n- name: x\n  envoyExtAuthzGrpc: {service: a, port: "9000"}\n', '/etc/istio/config/mesh'),
      /\/etc\/istio\/config\/mesh: extensionProviders\[0\]\.envoyExtAuthzGrpc\.port: /);
    assert.throws(() => parseMeshConfig('outboundTrafficPolicy: {mode: SOMETIMES}\n', 'mesh'), /mesh: outboundTrafficPolicy\.mode: /);
    assert.throws(() => parseMeshConfig('extensionProviders:\n- name: x\n  envoyExtAuthzGrpc: {service: a, port: 1}\n  envoyExtAuthzHttp: {service: a, port: 1}\n', 'mesh'), /exactly one provider kind per entry/);
    const parsed = parseMeshConfig('accessLogFile: /dev/stdout\nenablePrometheusMerge: true\ndefaultConfig: {discoveryAddress: istiod:15012}\nextensionProviders:\n- name: zipkin\n  zipkin: {service: zipkin.istio-system.svc.cluster.local, port: 9411}\n', 'mesh');
    assert.equal(parsed.accessLogFile, '/dev/stdout');
  });
});
