import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { PushContext } from '../../src/model/push-context.js';
import { parseProxy, type Proxy } from '../../src/model/proxy.js';
import { effectiveMtls } from '../../src/security/authn.js';
import { grpcGenerator } from '../../src/xds/generators/grpc/index.js';
import { roundTripLosses } from '../support/envoy-check/proto-check.js';
import { TYPE, typeName } from '../../src/xds/resource-types.js';
import { snapshotOf, type Doc } from '../support/snapshot.js';

// PeerAuthentication precedence, and what the proxyless generator emits for mTLS and RBAC: server
// listeners (DownstreamTlsContext with provider instances, RBAC filters), clusters (ISTIO_MUTUAL,
// auto-mTLS, SANs), and the cache key (policy selectors).

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const pa = (name: string, ns: string, spec: Obj): Doc => ({ apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name, namespace: ns }, spec });
const ap = (name: string, ns: string, spec: Obj): Doc => ({ apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name, namespace: ns }, spec });
const pod = (name: string, ip: string, labels: Record<string, string>, sa = name): Doc => ({
  apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default', labels }, spec: { serviceAccountName: sa }, status: { podIP: ip, phase: 'Running' },
});
const BASE: Doc[] = [
  { apiVersion: 'v1', kind: 'Service', metadata: { name: 'greeter', namespace: 'default' }, spec: { selector: { app: 'greeter' }, ports: [{ name: 'grpc', port: 5000, targetPort: 50051 }] } },
  pod('greeter-1', '10.1.0.11', { app: 'greeter' }, 'greeter'),
  pod('greeter-2', '10.1.0.12', { app: 'greeter' }, 'greeter-sa2'),
];

function mesh(...extra: Doc[]): PushContext {
  return snapshotOf([...BASE, ...extra], { label: 'grpc-security.test' });
}

function proxy(pod: string, ip: string, labels?: Record<string, string>): Proxy {
  return parseProxy({ id: `sidecar~${ip}~${pod}.default~default.svc.cluster.local`, metadata: { GENERATOR: 'grpc', NAMESPACE: 'default', ...(labels ? { LABELS: labels } : {}) } });
}

function gen(type: (typeof TYPE)[keyof typeof TYPE], ctx: PushContext, p: Proxy, name: string): Obj {
  const body = grpcGenerator.generate(type, ctx, p, name) as Obj;
  assert.ok(body);
  assert.deepEqual(roundTripLosses(typeName(type), body), [], `${name} must round-trip`);
  return body;
}

const SERVER = 'xds.istio.io/grpc/lds/inbound/10.1.0.11:50051';
const chainOf = (l: Obj) => l.filter_chains[0];
const hcmFilters = (l: Obj) => chainOf(l).filters[0].typed_config.http_filters.map((f: Obj) => f.name);

describe('PeerAuthentication precedence', () => {
  const labels = { app: 'greeter' };
  const mode = (ctx: PushContext, port = 50051) => effectiveMtls(ctx, 'default', labels, port).mode;
  it('defaults to PERMISSIVE', () => assert.equal(mode(mesh()), 'PERMISSIVE'));
  it('mesh-wide (root namespace) applies everywhere', () => assert.equal(mode(mesh(pa('default', 'istio-system', { mtls: { mode: 'STRICT' } }))), 'STRICT'));
  it('namespace beats mesh-wide', () =>
    assert.equal(mode(mesh(pa('default', 'istio-system', { mtls: { mode: 'STRICT' } }), pa('ns', 'default', { mtls: { mode: 'DISABLE' } }))), 'DISABLE'));
  it('UNSET inherits', () =>
    assert.equal(mode(mesh(pa('default', 'istio-system', { mtls: { mode: 'STRICT' } }), pa('ns', 'default', { mtls: { mode: 'UNSET' } }))), 'STRICT'));
  it('workload selector beats namespace; other selectors do not apply', () => {
    const ctx = mesh(pa('ns', 'default', { mtls: { mode: 'STRICT' } }), pa('w', 'default', { selector: { matchLabels: { app: 'greeter' } }, mtls: { mode: 'PERMISSIVE' } }),
      pa('other', 'default', { selector: { matchLabels: { app: 'other' } }, mtls: { mode: 'DISABLE' } }));
    assert.equal(mode(ctx), 'PERMISSIVE');
  });
  it('portLevelMtls beats the workload mode for that port only; UNSET port inherits', () => {
    const ctx = mesh(pa('w', 'default', { selector: { matchLabels: { app: 'greeter' } }, mtls: { mode: 'STRICT' }, portLevelMtls: { '50051': { mode: 'DISABLE' }, '8080': { mode: 'UNSET' } } }));
    assert.equal(mode(ctx, 50051), 'DISABLE');
    assert.equal(mode(ctx, 8080), 'STRICT');
    assert.equal(mode(ctx, 9090), 'STRICT');
  });
  it('a selector policy in the root namespace does not reach other namespaces', () =>
    assert.equal(mode(mesh(pa('sel', 'istio-system', { selector: { matchLabels: { app: 'greeter' } }, mtls: { mode: 'STRICT' } }))), 'PERMISSIVE'));
});

describe('proxyless gRPC server listener security', () => {
  it('STRICT: DownstreamTlsContext with provider instances and a required client certificate', () => {
    const l = gen(TYPE.LDS, mesh(pa('ns', 'default', { mtls: { mode: 'STRICT' } })), proxy('greeter-1', '10.1.0.11'), SERVER);
    const ts = chainOf(l).transport_socket;
    assert.equal(ts.name, 'envoy.transport_sockets.tls');
    assert.equal(ts.typed_config['@type'], 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext');
    assert.deepEqual(ts.typed_config.require_client_certificate, { value: true });
    assert.deepEqual(ts.typed_config.common_tls_context.tls_certificate_provider_instance, { instance_name: 'default', certificate_name: 'default' });
    assert.deepEqual(ts.typed_config.common_tls_context.validation_context.ca_certificate_provider_instance, { instance_name: 'default', certificate_name: 'ROOTCA' });
    assert.equal(chainOf(l).name, 'inbound-mtls');
  });

  it('PERMISSIVE is plaintext, unless the pod is labelled tlsMode=istio', () => {
    assert.equal(chainOf(gen(TYPE.LDS, mesh(), proxy('greeter-1', '10.1.0.11'), SERVER)).transport_socket, undefined);
    const tagged = proxy('greeter-1', '10.1.0.11', { app: 'greeter', 'security.istio.io/tlsMode': 'istio' });
    assert.ok(chainOf(gen(TYPE.LDS, mesh(), tagged, SERVER)).transport_socket);
    assert.notEqual(grpcGenerator.classKey(mesh(), tagged), grpcGenerator.classKey(mesh(), proxy('greeter-1', '10.1.0.11', { app: 'greeter' })));
  });

  it('DENY then ALLOW RBAC filters before the router, with legacy header matchers', () => {
    const ctx = mesh(
      ap('allow', 'default', { selector: { matchLabels: { app: 'greeter' } }, rules: [{ from: [{ source: { principals: ['cluster.local/ns/default/sa/client'] } }], to: [{ operation: { methods: ['POST'] } }] }] }),
      ap('deny', 'default', { action: 'DENY', rules: [{ to: [{ operation: { paths: ['/hello.Greeter/SayGoodbye'] } }] }] }),
      ap('audit', 'default', { action: 'AUDIT', rules: [{}] }),
      ap('elsewhere', 'default', { selector: { matchLabels: { app: 'other' } }, rules: [{}] }),
    );
    const l = gen(TYPE.LDS, ctx, proxy('greeter-1', '10.1.0.11', { app: 'greeter' }), SERVER);
    // distinct names: gRPC NACKs duplicate HTTP filter names
    assert.deepEqual(hcmFilters(l), ['envoy.filters.http.rbac.deny', 'envoy.filters.http.rbac.allow', 'envoy.filters.http.router']);
    const [deny, allow] = chainOf(l).filters[0].typed_config.http_filters;
    assert.equal(deny.typed_config.rules.action, 'DENY');
    assert.equal(allow.typed_config.rules.action, undefined);
    const allowPolicy = allow.typed_config.rules.policies['ns[default]-policy[allow]-rule[0]'];
    assert.deepEqual(allowPolicy.principals[0].and_ids.ids[0].or_ids.ids[0], { authenticated: { principal_name: { exact: 'spiffe://cluster.local/ns/default/sa/client' } } });
    assert.deepEqual(allowPolicy.permissions[0].and_rules.rules[0].or_rules.rules[0], { header: { name: ':method', exact_match: 'POST' } });
    // a policy for another workload does not apply
    assert.equal(Object.keys(allow.typed_config.rules.policies).length, 1);
  });

  it('keys the cache on the labels policy selectors look at (a wrong key would leak one workload’s RBAC to another)', () => {
    const ctx = mesh(ap('only-a', 'default', { selector: { matchLabels: { tier: 'a' } }, rules: [{}] }));
    const a = proxy('greeter-1', '10.1.0.11', { app: 'greeter', tier: 'a' });
    const b = proxy('greeter-1', '10.1.0.11', { app: 'greeter', tier: 'b' });
    assert.notEqual(grpcGenerator.classKey(ctx, a), grpcGenerator.classKey(ctx, b));
    assert.equal(hcmFilters(gen(TYPE.LDS, ctx, a, SERVER)).length, 2);
    assert.equal(hcmFilters(gen(TYPE.LDS, ctx, b, SERVER)).length, 1);
    // labels no selector looks at do not split the cache
    const c = proxy('greeter-1', '10.1.0.11', { app: 'greeter', tier: 'a', 'pod-template-hash': 'x' });
    assert.equal(grpcGenerator.classKey(ctx, a), grpcGenerator.classKey(ctx, c));
  });

  it('spec: {} denies all (an ALLOW that never matches)', () => {
    const l = gen(TYPE.LDS, mesh(ap('deny-all', 'default', {})), proxy('greeter-1', '10.1.0.11'), SERVER);
    const [allow] = chainOf(l).filters[0].typed_config.http_filters;
    assert.deepEqual(allow.typed_config.rules.policies['ns[default]-policy[deny-all]-rule[0]'], { permissions: [{ not_rule: { any: true } }], principals: [{ not_id: { any: true } }] });
  });

  it('mesh-wide (root namespace) policies apply to every workload', () => {
    const l = gen(TYPE.LDS, mesh(ap('global-deny', 'istio-system', { action: 'DENY', rules: [{ from: [{ source: { namespaces: ['untrusted'] } }] }] })), proxy('greeter-1', '10.1.0.11'), SERVER);
    assert.deepEqual(hcmFilters(l), ['envoy.filters.http.rbac.deny', 'envoy.filters.http.router']);
  });
});

describe('proxyless gRPC cluster TLS', () => {
  const CLUSTER = 'outbound|5000||greeter.default.svc.cluster.local';
  const client = proxy('client', '10.1.0.20');
  const sans = (c: Obj) => c.transport_socket?.typed_config.common_tls_context.combined_validation_context.default_validation_context.match_subject_alt_names;

  it('plaintext by default (servers are plaintext under PERMISSIVE without tlsMode=istio)', () => {
    assert.equal(gen(TYPE.CDS, mesh(), client, CLUSTER).transport_socket, undefined);
  });

  it('auto-mTLS when every endpoint serves mTLS, with the service accounts as SANs', () => {
    const c = gen(TYPE.CDS, mesh(pa('ns', 'default', { mtls: { mode: 'STRICT' } }), { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 'g', namespace: 'default', labels: { 'kubernetes.io/service-name': 'greeter' } }, addressType: 'IPv4', ports: [{ name: 'grpc', port: 50051 }], endpoints: [{ addresses: ['10.1.0.11'], conditions: { ready: true }, targetRef: { kind: 'Pod', name: 'greeter-1', namespace: 'default' } }, { addresses: ['10.1.0.12'], conditions: { ready: true }, targetRef: { kind: 'Pod', name: 'greeter-2', namespace: 'default' } }] }), client, CLUSTER);
    assert.equal(c.transport_socket.typed_config['@type'], 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext');
    assert.deepEqual(sans(c), [{ exact: 'spiffe://cluster.local/ns/default/sa/greeter' }, { exact: 'spiffe://cluster.local/ns/default/sa/greeter-sa2' }]);
  });

  it('DestinationRule ISTIO_MUTUAL turns it on (explicit subjectAltNames win); DISABLE keeps it off', () => {
    const dr = (tls: Obj): Doc => ({ apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'g', namespace: 'default' }, spec: { host: 'greeter', trafficPolicy: { tls } } });
    const c = gen(TYPE.CDS, mesh(dr({ mode: 'ISTIO_MUTUAL', subjectAltNames: ['spiffe://cluster.local/ns/default/sa/x'] })), client, CLUSTER);
    assert.deepEqual(sans(c), [{ exact: 'spiffe://cluster.local/ns/default/sa/x' }]);
    assert.equal(gen(TYPE.CDS, mesh(pa('ns', 'default', { mtls: { mode: 'STRICT' } }), dr({ mode: 'DISABLE' })), client, CLUSTER).transport_socket, undefined);
  });
});
