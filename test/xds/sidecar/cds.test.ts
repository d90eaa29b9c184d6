import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  cluster,
  clusterNames,
  ctxOf,
  dr,
  HOST,
  httpOptionsOf,
  metadataOf,
  pa,
  pod,
  proxyOf,
  SIDECAR,
  svc,
  upstreamTlsOf,
  type Body,
  type Obj,
} from './cds-fixture.js';
import { buildSidecarCluster } from '../../../src/xds/generators/sidecar/cds.js';
import { unvalidated } from '../../support/snapshot.js';

// Sidecar CDS: every DestinationRule feature as the Envoy fields istiod writes for it. Every body goes
// through Envoy's protos with no field lost (cluster() asserts it).

const MAX = 4294967295;
const reviews = svc('reviews', [
  { name: 'http', port: 9080 },
  { name: 'grpc', port: 7070 },
  { name: 'tcp-db', port: 5432 },
  { port: 8000 },
  { name: 'dns', port: 53, protocol: 'UDP' },
]);
const MESH: Obj[] = [
  reviews,
  pod('reviews-v1-abc-1', '10.0.0.1', { app: 'reviews', version: 'v1', 'pod-template-hash': 'abc', ...SIDECAR }, { sa: 'bookinfo-reviews' }),
  pod('reviews-v2-def-1', '10.0.0.2', { app: 'reviews', version: 'v2', 'pod-template-hash': 'def', ...SIDECAR }, { sa: 'bookinfo-reviews' }),
];
const SAN = 'spiffe://cluster.local/ns/default/sa/bookinfo-reviews';
const SUBSETS = [{ name: 'v1', labels: { version: 'v1' } }, { name: 'v2', labels: { version: 'v2' } }];
const withDr = (spec: Record<string, unknown>, ...extra: Obj[]) => ctxOf([...MESH, dr('reviews', spec), ...extra]);
const c9080 = `outbound|9080||${HOST}`;
const sds = (name: string) => ({
  name,
  sds_config: {
    api_config_source: { api_type: 'GRPC', set_node_on_first_message_only: true, transport_api_version: 'V3', grpc_services: [{ envoy_grpc: { cluster_name: 'sds-grpc' } }] },
    initial_fetch_timeout: { seconds: 0, nanos: 0 },
    resource_api_version: 'V3',
  },
});

describe('sidecar CDS: names', () => {
  it('lists every TCP port of every visible service, a cluster per subset, the static clusters and the inbound ports', () => {
    const ctx = ctxOf([...MESH, dr('reviews', { subsets: SUBSETS }), svc('hidden', [{ name: 'http', port: 80 }], { ns: 'other', annotations: { 'networking.istio.io/exportTo': '.' } })]);
    const names = clusterNames(ctx, proxyOf('reviews-v1-abc-1', '10.0.0.1', { app: 'reviews', version: 'v1' }));
    for (const port of [9080, 7070, 5432, 8000]) {
      for (const subset of ['', 'v1', 'v2']) assert.ok(names.includes(`outbound|${port}|${subset}|${HOST}`), `outbound|${port}|${subset}`);
    }
    assert.ok(!names.some((n) => n.startsWith('outbound|53|')), 'UDP ports get no cluster');
    assert.ok(!names.some((n) => n.includes('hidden.other')), 'exportTo . hides the service from other namespaces');
    for (const n of ['BlackHoleCluster', 'PassthroughCluster', 'InboundPassthroughCluster', 'inbound|9080||', 'inbound|7070||', 'inbound|5432||', 'inbound|8000||']) assert.ok(names.includes(n), n);
    assert.equal(cluster(ctx, 'outbound|80||hidden.other.svc.cluster.local'), undefined);
    assert.equal(cluster(ctx, `outbound|9080|v3|${HOST}`), undefined, 'unknown subset');
    assert.equal(cluster(ctx, `outbound|53||${HOST}`), undefined, 'UDP port');
    assert.equal(cluster(ctx, 'inbound|9080||'), undefined, 'a client does not serve reviews');
    assert.equal(cluster(ctx, 'nonsense'), undefined);
  });
});

describe('sidecar CDS: the default outbound cluster', () => {
  it('is EDS over ADS with istiod defaults and auto-mTLS', () => {
    const c = cluster(ctxOf(MESH), c9080);
    assert.equal(c.type, 'EDS');
    assert.deepEqual(c.eds_cluster_config, { eds_config: { ads: {}, initial_fetch_timeout: { seconds: 0, nanos: 0 }, resource_api_version: 'V3' }, service_name: c9080 });
    assert.deepEqual(c.connect_timeout, { seconds: 10, nanos: 0 });
    assert.equal(c.lb_policy, 'LEAST_REQUEST');
    assert.equal(c.alt_stat_name, `${c9080};`);
    assert.deepEqual(c.circuit_breakers, { thresholds: [{ max_connections: { value: MAX }, max_pending_requests: { value: MAX }, max_requests: { value: MAX }, max_retries: { value: MAX }, track_remaining: true }] });
    assert.deepEqual(c.common_lb_config, {});
    assert.equal(c.transport_socket, undefined);
    assert.deepEqual(c.transport_socket_matches.map((m: Body) => m.name), ['tlsMode-istio', 'tlsMode-disabled']);
    assert.deepEqual(c.transport_socket_matches[0].match, { fields: { tlsMode: { stringValue: 'istio' } } });
    assert.deepEqual(c.transport_socket_matches[1].match, {});
    assert.equal(c.transport_socket_matches[1].transport_socket.name, 'envoy.transport_sockets.raw_buffer');
    const tls = upstreamTlsOf(c);
    assert.equal(tls['@type'], 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext');
    assert.equal(tls.sni, `outbound_.9080_._.${HOST}`);
    assert.deepEqual(tls.common_tls_context.alpn_protocols, ['istio']);
    assert.deepEqual(tls.common_tls_context.tls_params, { tls_minimum_protocol_version: 'TLSv1_2', tls_maximum_protocol_version: 'TLSv1_3' });
    assert.deepEqual(tls.common_tls_context.tls_certificate_sds_secret_configs, [sds('default')]);
    assert.deepEqual(tls.common_tls_context.combined_validation_context, {
      default_validation_context: { match_subject_alt_names: [{ exact: SAN }] },
      validation_context_sds_secret_config: sds('ROOTCA'),
    });
    assert.deepEqual(metadataOf(c), { services: [{ host: HOST, name: 'reviews', namespace: 'default' }] });
    assert.equal(httpOptionsOf(c), undefined, 'a plain HTTP/1.1 port needs no protocol options');
  });

  const protocolCases: [string, number, (o: Body) => void, string[]][] = [
    ['grpc port → explicit HTTP/2 and ALPN istio,h2', 7070, (o) => assert.deepEqual(o.explicit_http_config, { http2_protocol_options: {} }), ['istio', 'h2']],
    ['undeclared port → the downstream protocol', 8000, (o) => assert.deepEqual(o.use_downstream_protocol_config, { http_protocol_options: {}, http2_protocol_options: {} }), ['istio']],
    ['tcp port → no protocol options', 5432, (o) => assert.equal(o, undefined), ['istio']],
  ];
  for (const [what, port, check, alpn] of protocolCases) {
    it(what, () => {
      const c = cluster(ctxOf(MESH), `outbound|${port}||${HOST}`);
      check(httpOptionsOf(c));
      assert.deepEqual(upstreamTlsOf(c).common_tls_context.alpn_protocols, alpn);
    });
  }
});

describe('sidecar CDS: loadBalancer', () => {
  const cases: [string, Record<string, unknown>, (c: Body) => void][] = [
    ['unset → LEAST_REQUEST', {}, (c) => assert.equal(c.lb_policy, 'LEAST_REQUEST')],
    ['ROUND_ROBIN (proto zero value, omitted)', { simple: 'ROUND_ROBIN' }, (c) => assert.equal(c.lb_policy, undefined)],
    ['RANDOM', { simple: 'RANDOM' }, (c) => assert.equal(c.lb_policy, 'RANDOM')],
    ['LEAST_CONN → LEAST_REQUEST', { simple: 'LEAST_CONN' }, (c) => assert.equal(c.lb_policy, 'LEAST_REQUEST')],
    ['PASSTHROUGH → ORIGINAL_DST / CLUSTER_PROVIDED without EDS', { simple: 'PASSTHROUGH' }, (c) => {
      assert.equal(c.type, 'ORIGINAL_DST');
      assert.equal(c.lb_policy, 'CLUSTER_PROVIDED');
      assert.equal(c.eds_cluster_config, undefined);
      assert.equal(c.transport_socket_matches, undefined, 'no per-endpoint match on ORIGINAL_DST');
      assert.equal(upstreamTlsOf(c).sni, `outbound_.9080_._.${HOST}`, 'every endpoint has a sidecar: mTLS');
    }],
    ['ringHash.minimumRingSize → RING_HASH', { consistentHash: { httpHeaderName: 'x-user', ringHash: { minimumRingSize: 64 } } }, (c) => {
      assert.equal(c.lb_policy, 'RING_HASH');
      assert.deepEqual(c.ring_hash_lb_config, { minimum_ring_size: { value: 64 } });
    }],
    ['deprecated consistentHash → RING_HASH with 1024', { consistentHash: { useSourceIp: true } }, (c) => assert.deepEqual(c.ring_hash_lb_config, { minimum_ring_size: { value: 1024 } })],
    ['deprecated minimumRingSize', { consistentHash: { httpCookie: { name: 'u', ttl: '10s' }, minimumRingSize: 2048 } }, (c) => assert.deepEqual(c.ring_hash_lb_config, { minimum_ring_size: { value: 2048 } })],
    ['maglev.tableSize → MAGLEV', { consistentHash: { httpQueryParameterName: 'q', maglev: { tableSize: 65537 } } }, (c) => {
      assert.equal(c.lb_policy, 'MAGLEV');
      assert.equal(String(c.maglev_lb_config.table_size.value), '65537');
    }],
    ['warmupDurationSecs → LEAST_REQUEST slow start', { warmupDurationSecs: '30s' }, (c) => assert.deepEqual(c.least_request_lb_config, { slow_start_config: { slow_start_window: { seconds: 30, nanos: 0 } } })],
    ['warmup on ROUND_ROBIN → window, aggression, minimum percent', { simple: 'ROUND_ROBIN', warmup: { duration: '1m', aggression: 2, minimumPercent: 20 } }, (c) => {
      const s = c.round_robin_lb_config.slow_start_config;
      assert.deepEqual(s.slow_start_window, { seconds: 60, nanos: 0 });
      assert.equal(s.aggression.default_value, 2);
      assert.ok(s.aggression.runtime_key.length > 0);
      assert.deepEqual(s.min_weight_percent, { value: 20 });
    }],
    ['localityLbSetting.distribute → locality-weighted', { localityLbSetting: { distribute: [{ from: 'us/*', to: { 'us/a/*': 80, 'us/b/*': 20 } }] } }, (c) => assert.deepEqual(c.common_lb_config.locality_weighted_lb_config, {})],
    ['failover without outlierDetection → not locality-weighted', { localityLbSetting: { failover: [{ from: 'us', to: 'eu' }] } }, (c) => assert.equal(c.common_lb_config.locality_weighted_lb_config, undefined)],
  ];
  for (const [what, lb, check] of cases) it(what, () => check(cluster(withDr({ trafficPolicy: { loadBalancer: lb } }), c9080)));

  it('failover / failoverPriority with outlierDetection → locality-weighted', () => {
    for (const setting of [{ failover: [{ from: 'us', to: 'eu' }] }, { failoverPriority: ['topology.kubernetes.io/region'] }]) {
      const c = cluster(withDr({ trafficPolicy: { outlierDetection: { consecutive5xxErrors: 5 }, loadBalancer: { localityLbSetting: setting } } }), c9080);
      assert.deepEqual(c.common_lb_config.locality_weighted_lb_config, {});
    }
  });
});

describe('sidecar CDS: connectionPool', () => {
  it('limits, timeouts and keepalive', () => {
    const c = cluster(withDr({
      trafficPolicy: {
        connectionPool: {
          tcp: { maxConnections: 100, connectTimeout: '250ms', tcpKeepalive: { probes: 3, time: '7200s', interval: '75s' }, maxConnectionDuration: '1h' },
          http: { http1MaxPendingRequests: 10, http2MaxRequests: 1000, maxRetries: 4, maxRequestsPerConnection: 1, idleTimeout: '30s' },
        },
      },
    }), c9080);
    assert.deepEqual(c.connect_timeout, { seconds: 0, nanos: 250000000 });
    assert.deepEqual(c.circuit_breakers.thresholds, [{ max_connections: { value: 100 }, max_pending_requests: { value: 10 }, max_requests: { value: 1000 }, max_retries: { value: 4 }, track_remaining: true }]);
    assert.deepEqual(c.upstream_connection_options, { tcp_keepalive: { keepalive_probes: { value: 3 }, keepalive_time: { value: 7200 }, keepalive_interval: { value: 75 } } });
    const o = httpOptionsOf(c);
    assert.deepEqual(o.common_http_protocol_options, { idle_timeout: { seconds: 30, nanos: 0 }, max_requests_per_connection: { value: 1 }, max_connection_duration: { seconds: 3600, nanos: 0 } });
    assert.deepEqual(o.explicit_http_config, { http_protocol_options: {} }, 'Envoy needs a protocol: HTTP/1.1');
  });

  it('an empty tcpKeepalive turns SO_KEEPALIVE on with OS defaults; tcp.idleTimeout is the fallback idle timeout', () => {
    const c = cluster(withDr({ trafficPolicy: { connectionPool: { tcp: { tcpKeepalive: {}, idleTimeout: '2h' } } } }), c9080);
    assert.deepEqual(c.upstream_connection_options, { tcp_keepalive: {} });
    assert.deepEqual(httpOptionsOf(c).common_http_protocol_options, { idle_timeout: { seconds: 7200, nanos: 0 } });
  });

  it('h2UpgradePolicy UPGRADE, useClientProtocol, maxConcurrentStreams on HTTP/2 ports', () => {
    const up = cluster(withDr({ trafficPolicy: { connectionPool: { http: { h2UpgradePolicy: 'UPGRADE' } } } }), c9080);
    assert.deepEqual(httpOptionsOf(up).explicit_http_config, { http2_protocol_options: {} });
    assert.deepEqual(upstreamTlsOf(up).common_tls_context.alpn_protocols, ['istio', 'h2']);
    const keep = cluster(withDr({ trafficPolicy: { connectionPool: { http: { h2UpgradePolicy: 'DO_NOT_UPGRADE' } } } }), c9080);
    assert.equal(httpOptionsOf(keep), undefined);
    const client = cluster(withDr({ trafficPolicy: { connectionPool: { http: { useClientProtocol: true } } } }), c9080);
    assert.deepEqual(httpOptionsOf(client).use_downstream_protocol_config, { http_protocol_options: {}, http2_protocol_options: {} });
    const streams = cluster(withDr({ trafficPolicy: { connectionPool: { http: { maxConcurrentStreams: 50 } } } }), `outbound|7070||${HOST}`);
    assert.deepEqual(httpOptionsOf(streams).explicit_http_config, { http2_protocol_options: { max_concurrent_streams: { value: 50 } } });
  });
});

describe('sidecar CDS: outlierDetection', () => {
  it('consecutive errors, interval, ejection, panic threshold', () => {
    const c = cluster(withDr({ trafficPolicy: { outlierDetection: { consecutive5xxErrors: 7, consecutiveGatewayErrors: 0, interval: '5s', baseEjectionTime: '30s', maxEjectionPercent: 50, minHealthPercent: 25 } } }), c9080);
    assert.deepEqual(c.outlier_detection, {
      enforcing_success_rate: { value: 0 },
      consecutive_5xx: { value: 7 },
      enforcing_consecutive_5xx: { value: 100 },
      consecutive_gateway_failure: { value: 0 },
      enforcing_consecutive_gateway_failure: { value: 0 },
      interval: { seconds: 5, nanos: 0 },
      base_ejection_time: { seconds: 30, nanos: 0 },
      max_ejection_percent: { value: 50 },
    });
    assert.deepEqual(c.common_lb_config.healthy_panic_threshold, { value: 25 });
    const dflt = cluster(withDr({ trafficPolicy: { outlierDetection: { consecutive5xxErrors: 1 } } }), c9080);
    assert.deepEqual(dflt.common_lb_config.healthy_panic_threshold, { value: 0 }, 'panic mode off unless minHealthPercent says otherwise');
  });
});

describe('sidecar CDS: tls', () => {
  const cases: [string, Record<string, unknown>, (c: Body) => void][] = [
    ['DISABLE → plaintext, alpn_override', { mode: 'DISABLE' }, (c) => {
      assert.equal(c.transport_socket, undefined);
      assert.equal(c.transport_socket_matches, undefined);
      assert.equal(metadataOf(c)?.alpn_override, 'false');
    }],
    ['ISTIO_MUTUAL → SDS default/ROOTCA, SAN of the service accounts, Istio SNI', { mode: 'ISTIO_MUTUAL' }, (c) => {
      assert.equal(c.transport_socket_matches, undefined);
      const t = upstreamTlsOf(c);
      assert.equal(t.sni, `outbound_.9080_._.${HOST}`);
      assert.deepEqual(t.common_tls_context.combined_validation_context.default_validation_context.match_subject_alt_names, [{ exact: SAN }]);
      assert.equal(metadataOf(c)?.alpn_override, undefined);
    }],
    ['ISTIO_MUTUAL with own SANs and SNI', { mode: 'ISTIO_MUTUAL', subjectAltNames: ['spiffe://other/ns/x/sa/y'], sni: 'custom.example' }, (c) => {
      const t = upstreamTlsOf(c);
      assert.equal(t.sni, 'custom.example');
      assert.deepEqual(t.common_tls_context.combined_validation_context.default_validation_context.match_subject_alt_names, [{ exact: 'spiffe://other/ns/x/sa/y' }]);
    }],
    ['SIMPLE → system roots over SDS, auto SNI and SAN validation', { mode: 'SIMPLE' }, (c) => {
      const t = upstreamTlsOf(c);
      assert.equal(t.sni, undefined);
      assert.deepEqual(t.common_tls_context.combined_validation_context, { default_validation_context: {}, validation_context_sds_secret_config: sds('file-root:system') });
      assert.equal(t.common_tls_context.tls_certificate_sds_secret_configs, undefined);
      assert.deepEqual(httpOptionsOf(c).upstream_http_protocol_options, { auto_sni: true, auto_san_validation: true });
    }],
    ['SIMPLE with CA, SNI and SANs', { mode: 'SIMPLE', caCertificates: '/etc/certs/ca.pem', sni: 'db.example.com', subjectAltNames: ['db.example.com'] }, (c) => {
      const t = upstreamTlsOf(c);
      assert.equal(t.sni, 'db.example.com');
      assert.deepEqual(t.common_tls_context.combined_validation_context, { default_validation_context: { match_subject_alt_names: [{ exact: 'db.example.com' }] }, validation_context_sds_secret_config: sds('file-root:/etc/certs/ca.pem') });
      assert.equal(httpOptionsOf(c), undefined);
    }],
    ['MUTUAL with files → file-cert and file-root over SDS', { mode: 'MUTUAL', clientCertificate: '/c/cert.pem', privateKey: '/c/key.pem', caCertificates: '/c/ca.pem', sni: 'x' }, (c) => {
      const t = upstreamTlsOf(c);
      assert.deepEqual(t.common_tls_context.tls_certificate_sds_secret_configs, [sds('file-cert:/c/cert.pem~/c/key.pem')]);
      assert.equal(t.common_tls_context.combined_validation_context.validation_context_sds_secret_config.name, 'file-root:/c/ca.pem');
    }],
    ['insecureSkipVerify → no validation', { mode: 'SIMPLE', insecureSkipVerify: true, sni: 'x' }, (c) => {
      const t = upstreamTlsOf(c);
      assert.deepEqual(t.common_tls_context.validation_context, {});
      assert.equal(t.common_tls_context.combined_validation_context, undefined);
    }],
    ['credentialName without workloadSelector → plaintext on sidecars (istiod)', { mode: 'SIMPLE', credentialName: 'db-cert' }, (c) => assert.equal(c.transport_socket, undefined)],
  ];
  for (const [what, tls, check] of cases) it(what, () => check(cluster(withDr({ trafficPolicy: { tls } }), c9080)));

  it('MUTUAL without key → no TLS (istiod logs and leaves it)', () => {
    // validation refuses this DestinationRule; it reaches istiod from a cluster whose webhook is off
    const c = cluster(ctxOf([...MESH, unvalidated(dr('reviews', { trafficPolicy: { tls: { mode: 'MUTUAL', clientCertificate: '/c/cert.pem' } } }))]), c9080);
    assert.equal(c.transport_socket, undefined);
  });

  it('credentialName with a workloadSelector → istiod SDS over ADS', () => {
    const c = cluster(withDr({ workloadSelector: { matchLabels: { app: 'client' } }, trafficPolicy: { tls: { mode: 'MUTUAL', credentialName: 'db-cert' } } }), c9080);
    const t = upstreamTlsOf(c);
    assert.equal(t.common_tls_context.tls_certificate_sds_secret_configs[0].name, 'kubernetes://db-cert');
    assert.deepEqual(t.common_tls_context.tls_certificate_sds_secret_configs[0].sds_config.ads, {});
    assert.equal(t.common_tls_context.combined_validation_context.validation_context_sds_secret_config.name, 'kubernetes://db-cert-cacert');
  });

  it('auto-mTLS follows the destination namespace / mesh PeerAuthentication', () => {
    const disabledNs = cluster(ctxOf([...MESH, pa('default', 'default', { mtls: { mode: 'DISABLE' } })]), c9080);
    assert.equal(disabledNs.transport_socket_matches, undefined, 'namespace DISABLE: plaintext');
    const disabledMesh = cluster(ctxOf([...MESH, pa('default', 'istio-system', { mtls: { mode: 'DISABLE' } })]), c9080);
    assert.equal(disabledMesh.transport_socket_matches, undefined, 'mesh DISABLE: plaintext');
    const overridden = cluster(ctxOf([...MESH, pa('default', 'istio-system', { mtls: { mode: 'DISABLE' } }), pa('default', 'default', { mtls: { mode: 'STRICT' } })]), c9080);
    assert.equal(overridden.transport_socket_matches.length, 2, 'namespace STRICT overrides mesh DISABLE');
    const workloadOnly = cluster(ctxOf([...MESH, pa('r', 'default', { selector: { matchLabels: { app: 'reviews' } }, mtls: { mode: 'DISABLE' } })]), c9080);
    assert.equal(workloadOnly.transport_socket_matches.length, 2, 'workload policies act per endpoint (EDS metadata), not on the cluster');
  });
});

describe('sidecar CDS: portLevelSettings and subsets', () => {
  const spec = {
    trafficPolicy: {
      loadBalancer: { simple: 'RANDOM' },
      connectionPool: { tcp: { maxConnections: 10 } },
      portLevelSettings: [{ port: { number: 7070 }, loadBalancer: { simple: 'ROUND_ROBIN' } }],
    },
    subsets: [
      { name: 'v1', labels: { version: 'v1' }, trafficPolicy: { connectionPool: { tcp: { maxConnections: 99 } } } },
      { name: 'v2', labels: { version: 'v2' }, trafficPolicy: { portLevelSettings: [{ port: { number: 9080 }, tls: { mode: 'DISABLE' } }] } },
    ],
  };
  it('port-level settings replace parts for their port only (unset parts fall back to defaults)', () => {
    const ctx = withDr(spec);
    const c7070 = cluster(ctx, `outbound|7070||${HOST}`);
    assert.equal(c7070.lb_policy, undefined, 'ROUND_ROBIN on 7070');
    assert.equal(c7070.circuit_breakers.thresholds[0].max_connections.value, MAX, 'port-level connectionPool unset → default, not inherited');
    const c = cluster(ctx, c9080);
    assert.equal(c.lb_policy, 'RANDOM');
    assert.equal(c.circuit_breakers.thresholds[0].max_connections.value, 10);
  });
  it('a subset overrides part by part; its cluster carries subset SNI and metadata', () => {
    const ctx = withDr(spec);
    const v1 = cluster(ctx, `outbound|9080|v1|${HOST}`);
    assert.equal(v1.lb_policy, 'RANDOM', 'inherited from the destination level');
    assert.equal(v1.circuit_breakers.thresholds[0].max_connections.value, 99, 'overridden by the subset');
    assert.equal(upstreamTlsOf(v1).sni, `outbound_.9080_.v1_.${HOST}`);
    assert.deepEqual(metadataOf(v1), { services: [{ host: HOST, name: 'reviews', namespace: 'default' }], config: '/apis/networking.istio.io/v1/namespaces/default/destination-rule/reviews', subset: 'v1', alpn_override: 'false' });
    const v2 = cluster(ctx, `outbound|9080|v2|${HOST}`);
    assert.equal(v2.transport_socket_matches, undefined, 'subset port-level tls DISABLE');
    assert.equal(v2.lb_policy, 'LEAST_REQUEST', 'subset port-level settings replace the load balancer wholesale');
    assert.ok(cluster(ctx, `outbound|7070|v2|${HOST}`).transport_socket_matches, 'the subset port-level setting is for 9080 only');
  });
});

describe('sidecar CDS: static and inbound clusters', () => {
  const server = (ip: string, labels: Record<string, string> = { app: 'reviews', version: 'v1' }, md: Record<string, unknown> = {}) => proxyOf('reviews-v1-abc-1', ip, labels, { md });

  it('BlackHoleCluster, PassthroughCluster, InboundPassthroughCluster', () => {
    const ctx = ctxOf(MESH);
    assert.deepEqual(cluster(ctx, 'BlackHoleCluster'), { name: 'BlackHoleCluster', type: 'STATIC', connect_timeout: { seconds: 10, nanos: 0 }, alt_stat_name: 'BlackHoleCluster;' });
    const pt = cluster(ctx, 'PassthroughCluster');
    assert.equal(pt.type, 'ORIGINAL_DST');
    assert.equal(pt.lb_policy, 'CLUSTER_PROVIDED');
    assert.deepEqual(httpOptionsOf(pt).common_http_protocol_options, { idle_timeout: { seconds: 300, nanos: 0 } });
    assert.deepEqual(httpOptionsOf(pt).use_downstream_protocol_config, { http_protocol_options: {}, http2_protocol_options: {} });
    assert.equal(pt.circuit_breakers.thresholds[0].max_connections.value, MAX);
    assert.equal(pt.upstream_bind_config, undefined);
    const bind = (ip: string) => cluster(ctx, 'InboundPassthroughCluster', server(ip)).upstream_bind_config;
    assert.deepEqual(bind('10.0.0.1'), { source_address: { address: '127.0.0.6', port_value: 0 } });
    assert.deepEqual(bind('fd00::1'), { source_address: { address: '::6', port_value: 0 } });
    const dual = cluster(ctx, 'InboundPassthroughCluster', proxyOf('p', '10.0.0.1', {}, { md: { INSTANCE_IPS: '10.0.0.1,fd00::1' } })).upstream_bind_config;
    assert.deepEqual(dual, { source_address: { address: '127.0.0.6', port_value: 0 }, extra_source_addresses: [{ address: { address: '::6', port_value: 0 } }] });
  });

  it('inbound|PORT|| per container port: ORIGINAL_DST bound to 127.0.0.6, the DestinationRule connection pool, service metadata', () => {
    const ctx = ctxOf([
      svc('ratings', [{ name: 'http', port: 80, targetPort: 'web' }, { name: 'grpc', port: 7070 }]),
      pod('ratings-1', '10.0.1.1', { app: 'ratings' }, { containerPorts: [{ name: 'web', containerPort: 8080 }] }),
      dr('ratings', { trafficPolicy: { connectionPool: { tcp: { maxConnections: 12 } }, loadBalancer: { simple: 'RANDOM' }, tls: { mode: 'ISTIO_MUTUAL' } } }),
    ]);
    const p = proxyOf('ratings-1', '10.0.1.1', { app: 'ratings' });
    assert.deepEqual(clusterNames(ctx, p).filter((n) => n.startsWith('inbound')), ['inbound|7070||', 'inbound|8080||']);
    const c = cluster(ctx, 'inbound|8080||', p);
    assert.equal(c.type, 'ORIGINAL_DST');
    assert.equal(c.lb_policy, 'CLUSTER_PROVIDED');
    assert.deepEqual(c.upstream_bind_config, { source_address: { address: '127.0.0.6', port_value: 0 } });
    assert.deepEqual(c.cleanup_interval, { seconds: 9223372035, nanos: 0 });
    assert.equal(c.circuit_breakers.thresholds[0].max_connections.value, 12, 'connection pool applies inbound');
    assert.equal(c.transport_socket, undefined, 'tls is for clients only');
    assert.deepEqual(metadataOf(c), { services: [{ host: 'ratings.default.svc.cluster.local', name: 'ratings', namespace: 'default' }], config: '/apis/networking.istio.io/v1/namespaces/default/destination-rule/ratings' });
    assert.deepEqual(httpOptionsOf(cluster(ctx, 'inbound|7070||', p)).explicit_http_config, { http2_protocol_options: {} });
    assert.equal(cluster(ctx, 'inbound|80||', p), undefined, 'keyed by the container port, not the service port');
  });

  it('interception mode NONE: no inbound|PORT|| (istiod builds them only from a Sidecar ingress), outbound and passthrough clusters stay', () => {
    const ctx = ctxOf([svc('ratings', [{ name: 'http', port: 80 }]), pod('ratings-1', '10.0.1.1', { app: 'ratings' })]);
    const none = proxyOf('ratings-1', '10.0.1.1', { app: 'ratings' }, { md: { INTERCEPTION_MODE: 'NONE' } });
    const names = clusterNames(ctx, none);
    assert.deepEqual(names.filter((n) => n.startsWith('inbound')), []);
    for (const n of ['outbound|80||ratings.default.svc.cluster.local', 'BlackHoleCluster', 'PassthroughCluster', 'InboundPassthroughCluster']) assert.ok(names.includes(n), n);
    assert.equal(buildSidecarCluster(ctx, none, 'inbound|80||'), undefined);
    // the same workload redirected by iptables serves its port through inbound|80||
    assert.ok(clusterNames(ctx, proxyOf('ratings-1', '10.0.1.1', { app: 'ratings' })).includes('inbound|80||'));
  });
});
