import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigStore } from '../../src/config/store.js';
import { PushContext, trackDependencies } from '../../src/model/push-context.js';
import { parseProxy, type Proxy } from '../../src/model/proxy.js';
import { sidecarInboundSecurity, type SidecarInboundSecurity } from '../../src/security/sidecar.js';
import { roundTripLosses } from '../support/envoy-check/proto-check.js';
import * as fx from '../xds/sidecar/lds-rds-fixture.js';
import { addDocs, snapshotOf, type Doc } from '../support/snapshot.js';
import { buildSidecarCluster } from '../../src/xds/generators/sidecar/cds.js';
import { buildSidecarListener } from '../../src/xds/generators/sidecar/lds.js';

// The Envoy-sidecar half of PeerAuthentication and AuthorizationPolicy: which mTLS mode an inbound port
// gets (and the DownstreamTlsContext Envoy needs for it: SDS default/ROOTCA on sds-grpc, client
// certificates required, Istio's TLS parameters and ALPN), and the RBAC filters for HTTP and TCP chains.

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const pa = (name: string, ns: string, spec: Obj): Doc => ({ apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name, namespace: ns }, spec });
const ap = (name: string, ns: string, spec: Obj): Doc => ({ apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name, namespace: ns }, spec });
const BASE: Doc[] = [
  { apiVersion: 'v1', kind: 'Service', metadata: { name: 'reviews', namespace: 'shop' }, spec: { selector: { app: 'reviews' }, ports: [{ name: 'http', port: 9080 }, { name: 'tcp-db', port: 5432 }] } },
  { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'reviews-1', namespace: 'shop', labels: { app: 'reviews', version: 'v1' } }, spec: { serviceAccountName: 'reviews' }, status: { podIP: '10.2.0.5', phase: 'Running' } },
];

function mesh(...extra: Doc[]): PushContext {
  return snapshotOf([...BASE, ...extra], { label: 'sidecar-security.test' });
}

const proxy: Proxy = parseProxy({ id: 'sidecar~10.2.0.5~reviews-1.shop~shop.svc.cluster.local', metadata: { NAMESPACE: 'shop', LABELS: { app: 'reviews', version: 'v1' } } });

/** sidecarInboundSecurity, with every body it returns checked against Envoy's protos. */
function inbound(ctx: PushContext, port = 9080): SidecarInboundSecurity {
  const sec = sidecarInboundSecurity(ctx, proxy, port);
  if (sec.transportSocket) assert.deepEqual(roundTripLosses('envoy.config.core.v3.TransportSocket', sec.transportSocket), []);
  for (const f of sec.httpFilters) assert.deepEqual(roundTripLosses('envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter', f), []);
  for (const f of sec.networkFilters) assert.deepEqual(roundTripLosses('envoy.config.listener.v3.Filter', f), []);
  return sec;
}

const strict = (ns: string, name = 'default', selector?: Obj) => pa(name, ns, { ...(selector ? { selector: { matchLabels: selector } } : {}), mtls: { mode: 'STRICT' } });

describe('sidecar inbound mTLS', () => {
  it('STRICT (mesh-wide): a DownstreamTlsContext as istiod builds it', () => {
    const sec = inbound(mesh(strict('istio-system')));
    assert.equal(sec.mode, 'STRICT');
    const ts = sec.transportSocket as Obj;
    assert.equal(ts.name, 'envoy.transport_sockets.tls');
    const tls = ts.typed_config;
    assert.equal(tls['@type'], 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext');
    assert.deepEqual(tls.require_client_certificate, { value: true });
    const common = tls.common_tls_context;
    assert.deepEqual(common.alpn_protocols, ['h2', 'http/1.1']);
    assert.equal(common.tls_params.tls_minimum_protocol_version, 'TLSv1_2');
    assert.equal(common.tls_params.tls_maximum_protocol_version, 'TLSv1_3');
    assert.ok(common.tls_params.cipher_suites.includes('ECDHE-ECDSA-AES256-GCM-SHA384'));
    const sds = (name: string) => ({
      name,
      sds_config: {
        api_config_source: { api_type: 'GRPC', set_node_on_first_message_only: true, transport_api_version: 'V3', grpc_services: [{ envoy_grpc: { cluster_name: 'sds-grpc' } }] },
        initial_fetch_timeout: { seconds: 0, nanos: 0 },
        resource_api_version: 'V3',
      },
    });
    assert.deepEqual(common.tls_certificate_sds_secret_configs, [sds('default')]);
    assert.deepEqual(common.combined_validation_context, { default_validation_context: {}, validation_context_sds_secret_config: sds('ROOTCA') });
  });

  it('PERMISSIVE (the default): the same TLS context for the mTLS chains beside plaintext', () => {
    const sec = inbound(mesh());
    assert.equal(sec.mode, 'PERMISSIVE');
    assert.deepEqual(sec.transportSocket, inbound(mesh(strict('shop'))).transportSocket);
  });

  it('DISABLE: plaintext only, no TLS context', () => {
    const sec = inbound(mesh(pa('default', 'shop', { mtls: { mode: 'DISABLE' } })));
    assert.equal(sec.mode, 'DISABLE');
    assert.equal(sec.transportSocket, undefined);
  });

  it('portLevelMtls overrides the workload mode for that port only', () => {
    const ctx = mesh(pa('reviews', 'shop', { selector: { matchLabels: { app: 'reviews' } }, mtls: { mode: 'STRICT' }, portLevelMtls: { 5432: { mode: 'DISABLE' } } }));
    assert.equal(inbound(ctx, 9080).mode, 'STRICT');
    const db = inbound(ctx, 5432);
    assert.equal(db.mode, 'DISABLE');
    assert.equal(db.transportSocket, undefined);
  });

  it('workload selector beats namespace beats mesh; UNSET inherits; other workloads unaffected', () => {
    const base = [pa('mesh', 'istio-system', { mtls: { mode: 'DISABLE' } }), strict('shop')];
    assert.equal(inbound(mesh(...base)).mode, 'STRICT');
    assert.equal(inbound(mesh(...base, pa('reviews', 'shop', { selector: { matchLabels: { app: 'reviews' } }, mtls: { mode: 'PERMISSIVE' } }))).mode, 'PERMISSIVE');
    assert.equal(inbound(mesh(...base, pa('reviews', 'shop', { selector: { matchLabels: { app: 'reviews' } }, mtls: { mode: 'UNSET' } }))).mode, 'STRICT');
    assert.equal(inbound(mesh(...base, pa('other', 'shop', { selector: { matchLabels: { app: 'ratings' } }, mtls: { mode: 'DISABLE' } }))).mode, 'STRICT');
    // a namespace policy elsewhere does not reach this workload
    assert.equal(inbound(mesh(pa('default', 'other', { mtls: { mode: 'DISABLE' } }))).mode, 'PERMISSIVE');
  });
});

describe('sidecar inbound authorization', () => {
  const onlyFrontend = ap('only-frontend', 'shop', {
    selector: { matchLabels: { app: 'reviews' } },
    rules: [{ from: [{ source: { principals: ['cluster.local/ns/shop/sa/frontend'] } }], to: [{ operation: { methods: ['GET'] } }] }],
  });
  const denyAdmin = ap('deny-admin', 'istio-system', { action: 'DENY', rules: [{ to: [{ operation: { paths: ['/admin*'] } }] }] });

  it('no policy: no RBAC filters', () => {
    const sec = inbound(mesh());
    assert.deepEqual(sec.httpFilters, []);
    assert.deepEqual(sec.networkFilters, []);
  });

  it('HTTP: DENY (mesh-wide) before ALLOW (workload), principals with the trust domain', () => {
    const sec = inbound(mesh(onlyFrontend, denyAdmin));
    assert.deepEqual(sec.httpFilters.map((f) => f.name), ['envoy.filters.http.rbac', 'envoy.filters.http.rbac']);
    const [deny, allow] = sec.httpFilters.map((f) => (f as Obj).typed_config);
    assert.equal(deny.rules.action, 'DENY');
    assert.ok(deny.rules.policies['ns[istio-system]-policy[deny-admin]-rule[0]']);
    assert.equal(allow.rules.action, undefined, 'ALLOW is the proto default');
    const rule = allow.rules.policies['ns[shop]-policy[only-frontend]-rule[0]'];
    assert.match(JSON.stringify(rule.principals), /spiffe:\/\/cluster\.local\/ns\/shop\/sa\/frontend/);
    assert.match(JSON.stringify(rule.permissions), /GET/);
  });

  it('TCP: network RBAC filters; HTTP-only ALLOW conditions are dropped (deny), HTTP-only DENY widened', () => {
    const sec = inbound(mesh(onlyFrontend, denyAdmin), 5432);
    assert.deepEqual(sec.networkFilters.map((f) => f.name), ['envoy.filters.network.rbac', 'envoy.filters.network.rbac']);
    const [deny, allow] = sec.networkFilters.map((f) => (f as Obj).typed_config);
    assert.equal(deny['@type'], 'type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC');
    assert.equal(deny.rules.action, 'DENY');
    assert.equal(allow.rules.policies, undefined, 'the methods-only rule cannot be evaluated on TCP: nothing allowed');
    assert.ok(sec.notes.some((n) => n.includes('only-frontend')), 'the dropped rule is reported');
  });

  it('spec: {} in the namespace denies everything; AUDIT comes first as LOG', () => {
    const sec = inbound(mesh(ap('deny-all', 'shop', {}), ap('audit', 'shop', { action: 'AUDIT', rules: [{ to: [{ operation: { paths: ['/x'] } }] }] })));
    const [audit, allow] = sec.httpFilters.map((f) => (f as Obj).typed_config);
    assert.equal(audit.rules.action, 'LOG');
    assert.deepEqual(allow.rules.policies['ns[shop]-policy[deny-all]-rule[0]'], { permissions: [{ not_rule: { any: true } }], principals: [{ not_id: { any: true } }] });
  });

  it('a policy selecting another workload does not apply', () => {
    const sec = inbound(mesh(ap('ratings-only', 'shop', { selector: { matchLabels: { app: 'ratings' } } })));
    assert.deepEqual(sec.httpFilters, []);
  });
});

// End to end through the sidecar listener generator: real PeerAuthentication/AuthorizationPolicy in, the
// virtualInbound listener out (round-tripped through Envoy's protos and PGV by the fixture's `listener`).
describe('sidecar virtualInbound under PeerAuthentication and AuthorizationPolicy', () => {
  const base = [
    fx.service('reviews', 'default', [{ name: 'http', port: 9080 }, { name: 'tcp-db', port: 5432 }], '10.96.0.10'),
    fx.pod('reviews-v1', 'default', '10.1.0.11', { app: 'reviews', version: 'v1' }),
  ];
  const reviews = fx.sidecar({ pod: 'reviews-v1', ip: '10.1.0.11', labels: { app: 'reviews', version: 'v1' } });
  const vi = (...extra: Doc[]) => fx.listener(fx.mesh(extra, base), reviews, 'virtualInbound');
  const chainsFor = (l: Obj, port: number) => (l.filter_chains as Obj[]).filter((c) => c.filter_chain_match.destination_port?.value === port);
  const layout = (chains: Obj[]) => chains.map((c) => `${c.filter_chain_match.transport_protocol}${c.filter_chain_match.application_protocols ? ` ${c.filter_chain_match.application_protocols.join(',')}` : ''}${c.transport_socket ? ' +mTLS' : ''}`);
  const sdsNames = (c: Obj) => {
    const common = c.transport_socket.typed_config.common_tls_context;
    return [common.tls_certificate_sds_secret_configs[0].name, common.combined_validation_context.validation_context_sds_secret_config.name];
  };
  const httpFilterNames = (c: Obj) => c.filters[0].typed_config.http_filters.map((f: Obj) => f.name);

  it('STRICT: every port only accepts mTLS (SDS default/ROOTCA from sds-grpc); passthrough too', () => {
    const l = vi(pa('default', 'default', { mtls: { mode: 'STRICT' } }));
    assert.deepEqual(layout(chainsFor(l, 9080)), ['tls +mTLS']);
    assert.deepEqual(layout(chainsFor(l, 5432)), ['tls +mTLS']);
    for (const c of [...chainsFor(l, 9080), ...chainsFor(l, 5432)]) {
      assert.deepEqual(sdsNames(c), ['default', 'ROOTCA']);
      assert.deepEqual(c.transport_socket.typed_config.require_client_certificate, { value: true });
    }
    const passthrough = (l.filter_chains as Obj[]).filter((c) => c.name === 'virtualInbound' || c.name === 'virtualInbound-catchall-http');
    assert.ok(passthrough.length > 0 && passthrough.every((c) => c.transport_socket), 'no plaintext way in');
    assert.ok((l.listener_filters as Obj[]).some((f) => f.name === 'envoy.filters.listener.tls_inspector'));
  });

  it('PERMISSIVE (default): mTLS on Istio ALPNs beside plaintext; TCP also passes one-way TLS through', () => {
    const l = vi();
    assert.deepEqual(layout(chainsFor(l, 9080)), ['tls istio,istio-peer-exchange,istio-http/1.0,istio-http/1.1,istio-h2 +mTLS', 'raw_buffer']);
    assert.deepEqual(layout(chainsFor(l, 5432)), ['tls istio,istio-peer-exchange,istio-http/1.0,istio-http/1.1,istio-h2 +mTLS', 'tls', 'raw_buffer']);
  });

  it('DISABLE: plaintext only; portLevelMtls makes one port STRICT', () => {
    assert.deepEqual(layout(chainsFor(vi(pa('default', 'default', { mtls: { mode: 'DISABLE' } })), 9080)), ['raw_buffer']);
    const l = vi(pa('reviews', 'default', { selector: { matchLabels: { app: 'reviews' } }, mtls: { mode: 'DISABLE' }, portLevelMtls: { 5432: { mode: 'STRICT' } } }));
    assert.deepEqual(layout(chainsFor(l, 9080)), ['raw_buffer']);
    assert.deepEqual(layout(chainsFor(l, 5432)), ['tls +mTLS']);
  });

  it('AuthorizationPolicy: RBAC before the router on HTTP chains and before tcp_proxy on TCP chains, DENY first', () => {
    const l = vi(
      ap('deny-admin', 'istio-system', { action: 'DENY', rules: [{ to: [{ operation: { paths: ['/admin*'] } }] }] }),
      ap('only-productpage', 'default', { selector: { matchLabels: { app: 'reviews' } }, rules: [{ from: [{ source: { principals: ['cluster.local/ns/default/sa/bookinfo-productpage'] } }] }] }),
    );
    for (const c of chainsFor(l, 9080)) {
      const names = httpFilterNames(c);
      assert.deepEqual(names.filter((n: string) => n === 'envoy.filters.http.rbac').length, 2);
      assert.ok(names.indexOf('envoy.filters.http.rbac') < names.indexOf('envoy.filters.http.router'));
      const rbac = c.filters[0].typed_config.http_filters.filter((f: Obj) => f.name === 'envoy.filters.http.rbac');
      assert.deepEqual(rbac.map((f: Obj) => f.typed_config.rules.action ?? 'ALLOW'), ['DENY', 'ALLOW']);
    }
    for (const c of chainsFor(l, 5432)) {
      const names = c.filters.map((f: Obj) => f.name);
      assert.deepEqual(names.slice(0, 2), ['envoy.filters.network.rbac', 'envoy.filters.network.rbac']);
      assert.equal(names[names.length - 1], 'envoy.filters.network.tcp_proxy');
      assert.match(JSON.stringify(c.filters[1].typed_config.rules), /spiffe:\/\/cluster\.local\/ns\/default\/sa\/bookinfo-productpage/);
    }
  });
});

// The client half, reviewed here for what mTLS needs to interoperate with the inbound half above: the
// server's SPIFFE identity checked (SAN), SNI and ALPN as istiod sets them, and auto-mTLS per endpoint.
describe('sidecar client mTLS (outbound clusters) against the inbound side', () => {
  const withSa = (name: string, ip: string, labels: Record<string, string>, sa: string): Doc =>
    ({ ...fx.pod(name, 'default', ip, labels), spec: { serviceAccountName: sa } });
  const base = [
    fx.service('reviews', 'default', [{ name: 'http', port: 9080 }], '10.96.0.10'),
    withSa('reviews-v1', '10.1.0.11', { app: 'reviews', version: 'v1', 'security.istio.io/tlsMode': 'istio' }, 'bookinfo-reviews'),
    withSa('productpage-v1', '10.1.0.5', { app: 'productpage', version: 'v1' }, 'bookinfo-productpage'),
  ];
  const cluster = (ctx: PushContext, name: string): Obj => {
    const c = buildSidecarCluster(ctx, fx.sidecar(), name) as Obj;
    assert.ok(c, name);
    assert.deepEqual(roundTripLosses('envoy.config.cluster.v3.Cluster', c), []);
    return c;
  };
  const upstream = (ts: Obj) => ts.typed_config;
  const REVIEWS = 'outbound|9080||reviews.default.svc.cluster.local';
  const SAN = [{ exact: 'spiffe://cluster.local/ns/default/sa/bookinfo-reviews' }];

  it('ISTIO_MUTUAL: SDS default/ROOTCA, SAN = the destination service accounts (also for subjectAltNames: []), istiod SNI, ALPN istio', () => {
    for (const sans of [undefined, []]) {
      const ctx = fx.mesh([fx.dr('reviews', { host: 'reviews', trafficPolicy: { tls: { mode: 'ISTIO_MUTUAL', ...(sans ? { subjectAltNames: sans } : {}) } } })], base);
      const tls = upstream(cluster(ctx, REVIEWS).transport_socket);
      assert.equal(tls.sni, 'outbound_.9080_._.reviews.default.svc.cluster.local');
      const common = tls.common_tls_context;
      assert.deepEqual(common.alpn_protocols, ['istio']);
      assert.equal(common.tls_certificate_sds_secret_configs[0].name, 'default');
      assert.equal(common.tls_certificate_sds_secret_configs[0].sds_config.api_config_source.grpc_services[0].envoy_grpc.cluster_name, 'sds-grpc');
      assert.equal(common.combined_validation_context.validation_context_sds_secret_config.name, 'ROOTCA');
      assert.deepEqual(common.combined_validation_context.default_validation_context.match_subject_alt_names, SAN);
    }
  });

  it('auto-mTLS: the same context for endpoints with a sidecar, plaintext for the rest; none when the destination namespace DISABLEs', () => {
    const c = cluster(fx.mesh([], base), REVIEWS);
    assert.equal(c.transport_socket, undefined);
    const [istio, disabled] = c.transport_socket_matches;
    assert.deepEqual(istio.match, { fields: { tlsMode: { stringValue: 'istio' } } });
    assert.deepEqual(upstream(istio.transport_socket).common_tls_context.combined_validation_context.default_validation_context.match_subject_alt_names, SAN);
    assert.equal(disabled.transport_socket.name, 'envoy.transport_sockets.raw_buffer');
    assert.equal(cluster(fx.mesh([pa('default', 'default', { mtls: { mode: 'DISABLE' } })], base), REVIEWS).transport_socket_matches, undefined);
  });
});

// The encode cache keeps a listener across snapshots while the dependency fingerprints it was built with
// stay the same: a PeerAuthentication or AuthorizationPolicy edit must therefore change a fingerprint
// virtualInbound read, or the sidecar would keep enforcing the old policy.
describe('sidecar virtualInbound: policy edits are seen by the encode cache', () => {
  it('after each PeerAuthentication/AuthorizationPolicy change, unchanged fingerprints mean an identical listener; edits that matter rebuild it', () => {
    const store = new ConfigStore();
    const apply = (d: Doc) => addDocs(store, [d], { label: 'security cache walk' });
    for (const d of [fx.service('reviews', 'default', [{ name: 'http', port: 9080 }, { name: 'tcp-db', port: 5432 }], '10.96.0.10'), fx.pod('reviews-v1', 'default', '10.1.0.11', { app: 'reviews' })]) apply(d);
    const p = fx.sidecar({ pod: 'reviews-v1', ip: '10.1.0.11', labels: { app: 'reviews' } });
    const build = (c: PushContext) => {
      const { value, deps } = trackDependencies(() => buildSidecarListener(c, p, 'virtualInbound'));
      return { body: JSON.stringify(value), deps };
    };
    const changes: [Doc, boolean][] = [
      [pa('default', 'default', { mtls: { mode: 'STRICT' } }), true],
      [pa('reviews', 'default', { selector: { matchLabels: { app: 'reviews' } }, portLevelMtls: { 5432: { mode: 'DISABLE' } } }), true],
      [ap('allow-pp', 'default', { rules: [{ from: [{ source: { principals: ['cluster.local/ns/default/sa/pp'] } }] }] }), true],
      [ap('deny-admin', 'istio-system', { action: 'DENY', rules: [{ to: [{ operation: { paths: ['/admin'] } }] }] }), true],
      [pa('default', 'istio-system', { mtls: { mode: 'DISABLE' } }), false], // overridden by the namespace's STRICT
      [ap('ratings-only', 'default', { selector: { matchLabels: { app: 'ratings' } } }), false],
      [pa('default', 'default', { mtls: { mode: 'PERMISSIVE' } }), true],
    ];
    let ctx = new PushContext(store, 'v0');
    let before = build(ctx);
    changes.forEach(([change, matters], i) => {
      apply(change);
      const next = new PushContext(store, `v${i + 1}`);
      const after = build(next);
      const unchanged = before.deps.every((d) => ctx.fingerprint(d) === next.fingerprint(d));
      if (unchanged) assert.equal(after.body, before.body, `change ${i + 1}: kept by the cache but now generates differently`);
      assert.equal(after.body !== before.body, matters, `change ${i + 1} ${matters ? 'must' : 'must not'} change virtualInbound`);
      ctx = next;
      before = after;
    });
  });
});
