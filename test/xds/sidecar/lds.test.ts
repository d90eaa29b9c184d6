import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_MESH_CONFIG } from '../../../src/config/mesh-config.js';
import { ISTIO_STATS_CONFIG_TYPE } from '../../../src/envoy/hcm.js';
import { inboundPortChains } from '../../../src/xds/generators/sidecar/inbound.js';
import { sidecarClassKey } from '../../../src/xds/generators/sidecar/scope.js';
import { checkEnvoyResource } from '../../support/envoy-check/pgv-check.js';
import { TYPE } from '../../../src/xds/resource-types.js';
import { buildSidecarListener } from '../../../src/xds/generators/sidecar/lds.js';
import {
  BASE, C, filterConfig, inboundChainsFor, listener, listenerNames, mesh, pod, routeConfig, service, sidecar, vs, type Obj,
} from './lds-rds-fixture.js';

// Sidecar LDS: the listeners istio-proxy gets, asserted field by field on the proto-JSON; every listener
// also goes through Envoy's Listener proto without losing a field (listener() checks it).

const HCM = 'envoy.filters.network.http_connection_manager';
const TCP = 'envoy.filters.network.tcp_proxy';

function names(filters: Obj[]): string[] {
  return filters.map((f) => f.name as string);
}

describe('sidecar LDS: the listener set', () => {
  it('a wildcard subscription gets virtualOutbound, virtualInbound and one listener per outbound address:port', () => {
    const ctx = mesh();
    assert.deepEqual(listenerNames(ctx, sidecar()).sort(), [
      '0.0.0.0_5000', '0.0.0.0_9080', '10.96.0.20_27017', '10.96.0.30_443', '10.96.0.40_7000', 'virtualInbound', 'virtualOutbound',
    ]);
  });

  it('HTTP services sharing a port share one 0.0.0.0_PORT listener; UDP ports get none', () => {
    const ctx = mesh([service('dns', 'default', [{ name: 'udp-dns', port: 53 }], '10.96.0.53')]);
    const n = listenerNames(ctx, sidecar());
    assert.equal(n.filter((x) => x.endsWith('_9080')).length, 1);
    assert.ok(!n.some((x) => x.endsWith('_53')));
  });

  it('services hidden by the networking.istio.io/exportTo annotation get no listener', () => {
    const hidden = service('private', 'other', [{ name: 'http', port: 8081 }], '10.96.1.9');
    (hidden.metadata as Obj).annotations = { 'networking.istio.io/exportTo': '.' };
    const ctx = mesh([hidden]);
    assert.ok(!listenerNames(ctx, sidecar()).includes('0.0.0.0_8081'));
    assert.ok(listenerNames(ctx, sidecar({ ns: 'other', pod: 'x', labels: { app: 'x' } })).includes('0.0.0.0_8081'));
  });
});

describe('sidecar LDS: virtualOutbound', () => {
  it('0.0.0.0:15001 with use_original_dst, a blackhole chain for 15001 itself and a catch-all to PassthroughCluster', () => {
    const l = listener(mesh(), sidecar(), 'virtualOutbound');
    assert.deepEqual(l.address, { socket_address: { address: '0.0.0.0', port_value: 15001 } });
    assert.deepEqual(l.use_original_dst, { value: true });
    assert.equal(l.traffic_direction, 'OUTBOUND');
    const [blackhole, catchAll] = l.filter_chains as Obj[];
    assert.equal(blackhole!.name, 'virtualOutbound-blackhole');
    assert.deepEqual(blackhole!.filter_chain_match, { destination_port: { value: 15001 } });
    assert.equal(filterConfig(blackhole!.filters, TCP).cluster, 'BlackHoleCluster');
    assert.equal(catchAll!.name, 'virtualOutbound-catchall-tcp');
    assert.equal(catchAll!.filter_chain_match, undefined);
    assert.deepEqual(names(catchAll!.filters), ['istio.stats', TCP]);
    assert.deepEqual(filterConfig(catchAll!.filters, TCP), {
      '@type': 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy', stat_prefix: 'PassthroughCluster', cluster: 'PassthroughCluster',
    });
  });

  it('REGISTRY_ONLY sends unknown destinations to BlackHoleCluster instead', () => {
    const ctx = mesh([], BASE, { ...DEFAULT_MESH_CONFIG, outboundTrafficPolicy: 'REGISTRY_ONLY' });
    const l = listener(ctx, sidecar(), 'virtualOutbound');
    assert.equal(filterConfig((l.filter_chains as Obj[])[1]!.filters, TCP).cluster, 'BlackHoleCluster');
    const http = listener(ctx, sidecar(), '0.0.0.0_9080');
    assert.equal(filterConfig(http.default_filter_chain.filters, TCP).cluster, 'BlackHoleCluster');
  });
});

describe('sidecar LDS: outbound HTTP listeners', () => {
  const l = () => listener(mesh(), sidecar(), '0.0.0.0_9080');

  it('binds nothing itself (iptables + virtualOutbound hand connections over), outbound, HTTP inspector with 0s detection timeout', () => {
    const x = l();
    assert.deepEqual(x.address, { socket_address: { address: '0.0.0.0', port_value: 9080 } });
    assert.deepEqual(x.bind_to_port, { value: false });
    assert.equal(x.traffic_direction, 'OUTBOUND');
    assert.deepEqual(names(x.listener_filters), ['envoy.filters.listener.tls_inspector', 'envoy.filters.listener.http_inspector']);
    assert.deepEqual(x.listener_filters_timeout, { seconds: 0, nanos: 0 });
    assert.equal(x.continue_on_listener_filters_timeout, true);
  });

  it('one HCM chain matched on plaintext HTTP ALPNs, fetching RDS "9080" over ADS; other bytes take PassthroughFilterChain', () => {
    const x = l();
    assert.equal(x.filter_chains.length, 1);
    const fc = x.filter_chains[0];
    assert.deepEqual(fc.filter_chain_match, { transport_protocol: 'raw_buffer', application_protocols: ['http/1.1', 'h2c'] });
    const hcm = filterConfig(fc.filters, HCM);
    assert.equal(hcm.stat_prefix, 'outbound_0.0.0.0_9080');
    assert.deepEqual(hcm.rds, { config_source: { ads: {}, resource_api_version: 'V3', initial_fetch_timeout: { seconds: 0, nanos: 0 } }, route_config_name: '9080' });
    assert.deepEqual(hcm.upgrade_configs, [{ upgrade_type: 'websocket' }]);
    assert.deepEqual(hcm.stream_idle_timeout, { seconds: 0, nanos: 0 });
    assert.deepEqual(hcm.use_remote_address, { value: false });
    assert.equal(hcm.forward_client_cert_details, undefined, 'outbound does not forward client certs');
    assert.equal(x.default_filter_chain.name, 'PassthroughFilterChain');
    assert.deepEqual(filterConfig(x.default_filter_chain.filters, TCP).cluster, 'PassthroughCluster');
  });

  it('HTTP filters in Istio order: fault, cors, istio.stats, router (router last)', () => {
    const hcm = filterConfig(l().filter_chains[0].filters, HCM);
    assert.deepEqual(names(hcm.http_filters), ['envoy.filters.http.fault', 'envoy.filters.http.cors', 'istio.stats', 'envoy.filters.http.router']);
  });

  it('istio.stats is a TypedStruct naming stats.PluginConfig (what istio-proxy reads for istio_requests_total)', () => {
    const hcm = filterConfig(l().filter_chains[0].filters, HCM);
    const stats = filterConfig(hcm.http_filters, 'istio.stats');
    assert.equal(stats['@type'], 'type.googleapis.com/xds.type.v3.TypedStruct');
    assert.equal(stats.type_url, ISTIO_STATS_CONFIG_TYPE);
    assert.deepEqual(stats.value, { fields: {} });
  });

  it('gRPC-Web ports add grpc_web before grpc_stats', () => {
    const ctx = mesh([service('web', 'default', [{ name: 'grpc-web', port: 8088 }], '10.96.0.88')]);
    const hcm = filterConfig(listener(ctx, sidecar(), '0.0.0.0_8088').filter_chains[0].filters, HCM);
    assert.deepEqual(names(hcm.http_filters).slice(0, 3), ['envoy.filters.http.grpc_web', 'envoy.filters.http.grpc_stats', 'envoy.filters.http.fault']);
  });

  it('gRPC ports speak HTTP/2 from the first byte and get grpc_stats before fault', () => {
    const hcm = filterConfig(listener(mesh(), sidecar(), '0.0.0.0_5000').filter_chains[0].filters, HCM);
    assert.deepEqual(hcm.http2_protocol_options, {});
    assert.deepEqual(names(hcm.http_filters).slice(0, 2), ['envoy.filters.http.grpc_stats', 'envoy.filters.http.fault']);
  });
});

describe('sidecar LDS: outbound TCP listeners', () => {
  it('a TCP port listens on the cluster IP with tcp_proxy to outbound|PORT||FQDN, no inspector, no timeout', () => {
    const x = listener(mesh(), sidecar(), '10.96.0.20_27017');
    assert.deepEqual(x.address, { socket_address: { address: '10.96.0.20', port_value: 27017 } });
    assert.deepEqual(x.bind_to_port, { value: false });
    assert.equal(x.filter_chains.length, 1);
    assert.equal(x.filter_chains[0].filter_chain_match, undefined);
    assert.deepEqual(names(x.filter_chains[0].filters), ['istio.stats', TCP]);
    const tcp = filterConfig(x.filter_chains[0].filters, TCP);
    assert.equal(tcp.cluster, C('mongodb.default.svc.cluster.local', 27017));
    assert.equal(tcp.stat_prefix, C('mongodb.default.svc.cluster.local', 27017));
    assert.equal(x.listener_filters, undefined);
    assert.equal(x.listener_filters_timeout, undefined);
    assert.equal(x.default_filter_chain, undefined);
  });

  it('a headless TCP service listens on 0.0.0.0_PORT', () => {
    const ctx = mesh([service('db', 'default', [{ name: 'tcp', port: 3306 }], 'None')]);
    assert.ok(listenerNames(ctx, sidecar()).includes('0.0.0.0_3306'));
    const x = listener(ctx, sidecar(), '0.0.0.0_3306');
    assert.equal(filterConfig(x.filter_chains[0].filters, TCP).cluster, C('db.default.svc.cluster.local', 3306));
  });

  it('tcp routes: destinationSubnets become prefix_ranges chains, weights weighted_clusters, the service default stays', () => {
    const ctx = mesh([
      vs('mongo', {
        hosts: ['mongodb'],
        tcp: [
          { match: [{ port: 27017, destinationSubnets: ['10.96.0.20/32'] }], route: [{ destination: { host: 'mongodb', subset: 'v1' }, weight: 80 }, { destination: { host: 'mongodb', subset: 'v2' }, weight: 20 }] },
          { match: [{ port: 1234 }], route: [{ destination: { host: 'other' } }] },
        ],
      }),
    ]);
    const x = listener(ctx, sidecar(), '10.96.0.20_27017');
    assert.equal(x.filter_chains.length, 1);
    assert.deepEqual(x.filter_chains[0].filter_chain_match, { prefix_ranges: [{ address_prefix: '10.96.0.20', prefix_len: { value: 32 } }] });
    const tcp = filterConfig(x.filter_chains[0].filters, TCP);
    assert.equal(tcp.stat_prefix, 'mongo.default');
    assert.match(JSON.stringify(x.filter_chains[0].metadata), /virtual-service\/mongo/);
    assert.deepEqual(tcp.weighted_clusters, {
      clusters: [{ name: C('mongodb.default.svc.cluster.local', 27017, 'v1'), weight: 80 }, { name: C('mongodb.default.svc.cluster.local', 27017, 'v2'), weight: 20 }],
    });
    // the route for port 1234 does not apply; the service's own route is the default chain
    assert.equal(filterConfig(x.default_filter_chain.filters, TCP).cluster, C('mongodb.default.svc.cluster.local', 27017));
  });

  it('tcp routes: a route without match (or a match without subnets) is terminal; sourceLabels select proxies', () => {
    const ctx = mesh([
      vs('mongo', {
        hosts: ['mongodb'],
        tcp: [
          { match: [{ sourceLabels: { app: 'reviews' } }], route: [{ destination: { host: 'mongodb', subset: 'reviewers' } }] },
          { route: [{ destination: { host: 'mongodb', subset: 'v1' } }] },
        ],
      }),
    ]);
    const mine = listener(ctx, sidecar(), '10.96.0.20_27017');
    assert.equal(mine.filter_chains.length, 1);
    assert.equal(filterConfig(mine.filter_chains[0].filters, TCP).cluster, C('mongodb.default.svc.cluster.local', 27017, 'v1'));
    const reviewer = listener(ctx, sidecar({ pod: 'reviews-v1', ip: '10.1.0.11', labels: { app: 'reviews', version: 'v1' } }), '10.96.0.20_27017');
    assert.equal(filterConfig(reviewer.filter_chains[0].filters, TCP).cluster, C('mongodb.default.svc.cluster.local', 27017, 'reviewers'));
  });

  it('proxies that tcp-route sourceLabels tell apart get different class keys (no shared cached listener)', () => {
    const ctx = mesh([vs('mongo', { hosts: ['mongodb'], tcp: [{ match: [{ sourceLabels: { tier: 'gold' } }], route: [{ destination: { host: 'mongodb', subset: 'gold' } }] }] })]);
    const gold = sidecar({ labels: { app: 'productpage', version: 'v1', tier: 'gold' } });
    const plain = sidecar({ labels: { app: 'productpage', version: 'v1', tier: 'tin' } });
    assert.notEqual(sidecarClassKey(ctx, gold), sidecarClassKey(ctx, plain));
    assert.notDeepEqual(listener(ctx, gold, '10.96.0.20_27017'), listener(ctx, plain, '10.96.0.20_27017'));
  });

  it('tls routes: chains keyed by SNI (sorted server_names, destinationSubnets → prefix_ranges) with the TLS inspector', () => {
    const ctx = mesh([
      vs('secure', {
        hosts: ['secure', 'a.example.com', 'b.example.com', 'c.example.com'],
        tls: [
          { match: [{ sniHosts: ['b.example.com', 'a.example.com'], port: 443 }], route: [{ destination: { host: 'secure', subset: 'ab' } }] },
          { match: [{ sniHosts: ['c.example.com'], gateways: ['my-gateway'] }], route: [{ destination: { host: 'secure', subset: 'gw' } }] },
          { match: [{ sniHosts: ['secure'], destinationSubnets: ['10.96.0.0/16'] }], route: [{ destination: { host: 'secure', subset: 'any' } }] },
        ],
      }),
    ]);
    const x = listener(ctx, sidecar(), '10.96.0.30_443');
    assert.deepEqual(names(x.listener_filters), ['envoy.filters.listener.tls_inspector']);
    const chains = x.filter_chains as Obj[];
    assert.equal(chains.length, 2, 'the gateway-only route does not apply to sidecars');
    assert.deepEqual(chains[0]!.filter_chain_match, { server_names: ['a.example.com', 'b.example.com'] });
    assert.equal(filterConfig(chains[0]!.filters, TCP).cluster, C('secure.default.svc.cluster.local', 443, 'ab'));
    assert.deepEqual(chains[1]!.filter_chain_match, { server_names: ['secure'], prefix_ranges: [{ address_prefix: '10.96.0.0', prefix_len: { value: 16 } }] });
    assert.equal(x.default_filter_chain.name, 'PassthroughFilterChain');
  });

  it('a TLS port without tls routes is opaque TCP to its cluster', () => {
    const x = listener(mesh(), sidecar(), '10.96.0.30_443');
    assert.equal(filterConfig(x.filter_chains[0].filters, TCP).cluster, C('secure.default.svc.cluster.local', 443));
  });
});

describe('sidecar LDS: protocol sniffing (ports without a declared protocol)', () => {
  it('cluster-IP listener with the HTTP chain (RDS FQDN:PORT) and the TCP chain as default, behind both inspectors', () => {
    const x = listener(mesh(), sidecar(), '10.96.0.40_7000');
    assert.equal(x.filter_chains.length, 1);
    const fc = x.filter_chains[0];
    assert.deepEqual(fc.filter_chain_match, { transport_protocol: 'raw_buffer', application_protocols: ['http/1.1', 'h2c'] });
    assert.equal(filterConfig(fc.filters, HCM).rds.route_config_name, 'legacy.default.svc.cluster.local:7000');
    assert.equal(filterConfig(x.default_filter_chain.filters, TCP).cluster, C('legacy.default.svc.cluster.local', 7000));
    assert.deepEqual(names(x.listener_filters), ['envoy.filters.listener.tls_inspector', 'envoy.filters.listener.http_inspector']);
  });
});

describe('sidecar LDS: virtualInbound', () => {
  it('0.0.0.0:15006, inbound, original_dst first, blackhole chain for 15006', () => {
    const x = listener(mesh(), sidecar(), 'virtualInbound');
    assert.deepEqual(x.address, { socket_address: { address: '0.0.0.0', port_value: 15006 } });
    assert.equal(x.traffic_direction, 'INBOUND');
    assert.equal(x.listener_filters[0].name, 'envoy.filters.listener.original_dst');
    const bh = x.filter_chains[0];
    assert.equal(bh.name, 'virtualInbound-blackhole');
    assert.deepEqual(bh.filter_chain_match, { destination_port: { value: 15006 } });
    assert.equal(filterConfig(bh.filters, TCP).cluster, 'BlackHoleCluster');
    assert.equal(x.transparent, undefined);
    assert.deepEqual(listener(mesh(), sidecar({ mode: 'TPROXY' }), 'virtualInbound').transparent, { value: true });
  });

  it('passthrough chains: virtualInbound (TCP) and virtualInbound-catchall-http to InboundPassthroughCluster', () => {
    const chains = (listener(mesh(), sidecar(), 'virtualInbound').filter_chains as Obj[]).filter((c) => !c.filter_chain_match.destination_port);
    const http = chains.find((c) => c.name === 'virtualInbound-catchall-http' && c.filter_chain_match.transport_protocol === 'raw_buffer')!;
    assert.deepEqual(http.filter_chain_match.application_protocols, ['http/1.1', 'h2c']);
    const hcm = filterConfig(http.filters, HCM);
    assert.equal(hcm.stat_prefix, 'InboundPassthroughCluster');
    assert.equal(hcm.route_config.virtual_hosts[0].routes[0].route.cluster, 'InboundPassthroughCluster');
    const tcp = chains.find((c) => c.name === 'virtualInbound' && c.filter_chain_match.transport_protocol === 'raw_buffer')!;
    assert.equal(filterConfig(tcp.filters, TCP).cluster, 'InboundPassthroughCluster');
  });

  it('a chain per inbound service port, named 0.0.0.0_TARGETPORT, HCM with an inline route to inbound|PORT||', () => {
    const ctx = mesh([], [
      ...BASE.filter((d) => (d.metadata as Obj).name !== 'productpage'),
      service('productpage', 'default', [{ name: 'http', port: 9080, targetPort: 8080 }], '10.96.0.12'),
    ]);
    const chains = inboundChainsFor(listener(ctx, sidecar(), 'virtualInbound'), 8080);
    const plain = chains.find((c) => c.filter_chain_match.transport_protocol === 'raw_buffer')!;
    assert.equal(plain.name, '0.0.0.0_8080');
    assert.deepEqual(plain.filter_chain_match.destination_port, { value: 8080 });
    const hcm = filterConfig(plain.filters, HCM);
    assert.equal(hcm.stat_prefix, 'inbound_0.0.0.0_8080');
    assert.equal(hcm.forward_client_cert_details, 'APPEND_FORWARD');
    assert.deepEqual(hcm.set_current_client_cert_details, { subject: { value: true }, dns: true, uri: true });
    assert.equal(hcm.route_config.name, 'inbound|8080||');
    const vh = hcm.route_config.virtual_hosts[0];
    assert.equal(vh.name, 'inbound|http|9080');
    assert.deepEqual(vh.domains, ['*']);
    assert.deepEqual(vh.routes[0].route.cluster, 'inbound|8080||');
    assert.deepEqual(vh.routes[0].route.timeout, { seconds: 0, nanos: 0 });
    assert.equal(vh.routes[0].decorator.operation, 'productpage.default.svc.cluster.local:9080/*');
    const stats = filterConfig(hcm.http_filters, 'istio.stats');
    assert.deepEqual(stats.value, { fields: { disable_host_header_fallback: { boolValue: true } } });
  });

  it('inbound TCP ports: tcp_proxy to inbound|PORT|| with stat_prefix the cluster', () => {
    const ctx = mesh([service('productdb', 'default', [{ name: 'tcp', port: 5432 }], '10.96.0.60', { app: 'productpage' })]);
    const chains = inboundChainsFor(listener(ctx, sidecar(), 'virtualInbound'), 5432);
    const plain = chains.find((c) => c.filter_chain_match.transport_protocol === 'raw_buffer')!;
    assert.deepEqual(names(plain.filters), ['istio.stats', TCP]);
    assert.deepEqual(filterConfig(plain.filters, TCP), {
      '@type': 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy', stat_prefix: 'inbound|5432||', cluster: 'inbound|5432||',
    });
  });

  it('a proxy no service selects has only the blackhole and passthrough chains', () => {
    const ctx = mesh([pod('loner', 'default', '10.1.0.99', { app: 'loner' })]);
    const x = listener(ctx, sidecar({ pod: 'loner', ip: '10.1.0.99', labels: { app: 'loner' } }), 'virtualInbound');
    assert.ok((x.filter_chains as Obj[]).every((c) => ['virtualInbound-blackhole', 'virtualInbound', 'virtualInbound-catchall-http'].includes(c.name)));
  });

  it('the HTTP inspector is disabled on ports whose chains need no ALPN (explicit HTTP ports, 15006)', () => {
    const x = listener(mesh(), sidecar(), 'virtualInbound');
    const http = x.listener_filters.find((f: Obj) => f.name === 'envoy.filters.listener.http_inspector');
    assert.deepEqual(http.filter_disabled, { or_match: { rules: [{ destination_port_range: { start: 9080, end: 9081 } }, { destination_port_range: { start: 15006, end: 15007 } }] } });
  });
});

describe('sidecar LDS: inbound chains laid out from sidecarInboundSecurity', () => {
  const TS = { name: 'envoy.transport_sockets.tls', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext' } };
  const RBAC_HTTP = { name: 'envoy.filters.http.rbac', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC' } };
  const RBAC_NET = { name: 'envoy.filters.network.rbac', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC', stat_prefix: 'tcp.' } };
  const http = { targetPort: 8080, servicePort: 9080, protocol: 'HTTP' as const, hostname: 'reviews.default.svc.cluster.local' };
  const tcp = { ...http, protocol: 'TCP' as const };
  const auto = { ...http, protocol: 'UNSUPPORTED' as const };
  const layout = (chains: Obj[]) => chains.map((c) => [c.filter_chain_match.transport_protocol, c.filter_chain_match.application_protocols ?? null, c.transport_socket ? 'mtls' : null]);

  it('PERMISSIVE with a transport socket: an mTLS chain (tls, Istio ALPNs, the socket) then plaintext', () => {
    const chains = inboundPortChains(http, { mode: 'PERMISSIVE', transportSocket: TS, httpFilters: [], networkFilters: [], notes: [] }) as Obj[];
    assert.deepEqual(layout(chains), [
      ['tls', ['istio', 'istio-peer-exchange', 'istio-http/1.0', 'istio-http/1.1', 'istio-h2'], 'mtls'],
      ['raw_buffer', null, null],
    ]);
    assert.deepEqual(chains[0]!.transport_socket, TS);
    for (const c of chains) assert.equal(c.name, '0.0.0.0_8080');
  });

  it('STRICT: only the mTLS chain; DISABLE: only plaintext even with a socket; no socket: no mTLS chain', () => {
    assert.deepEqual(layout(inboundPortChains(http, { mode: 'STRICT', transportSocket: TS, httpFilters: [], networkFilters: [], notes: [] }) as Obj[]), [['tls', null, 'mtls']]);
    assert.deepEqual(layout(inboundPortChains(http, { mode: 'DISABLE', transportSocket: TS, httpFilters: [], networkFilters: [], notes: [] }) as Obj[]), [['raw_buffer', null, null]]);
    assert.deepEqual(layout(inboundPortChains(http, { mode: 'PERMISSIVE', httpFilters: [], networkFilters: [], notes: [] }) as Obj[]), [['raw_buffer', null, null]]);
  });

  it('TCP PERMISSIVE also passes one-way TLS through; sniffed ports get HTTP and TCP chains', () => {
    assert.deepEqual(layout(inboundPortChains(tcp, { mode: 'PERMISSIVE', transportSocket: TS, httpFilters: [], networkFilters: [], notes: [] }) as Obj[]), [
      ['tls', ['istio', 'istio-peer-exchange', 'istio-http/1.0', 'istio-http/1.1', 'istio-h2'], 'mtls'],
      ['tls', null, null],
      ['raw_buffer', null, null],
    ]);
    const sniffed = inboundPortChains(auto, { mode: 'PERMISSIVE', transportSocket: TS, httpFilters: [], networkFilters: [], notes: [] }) as Obj[];
    assert.deepEqual(layout(sniffed), [
      ['tls', ['istio-http/1.0', 'istio-http/1.1', 'istio-h2'], 'mtls'],
      ['raw_buffer', ['http/1.1', 'h2c'], null],
      ['tls', ['istio-peer-exchange', 'istio'], 'mtls'],
      ['raw_buffer', null, null],
      ['tls', null, null],
    ]);
  });

  it('security HTTP filters go first in the inbound HCM; network filters before istio.stats and tcp_proxy', () => {
    const h = inboundPortChains(http, { mode: 'PERMISSIVE', httpFilters: [RBAC_HTTP], networkFilters: [RBAC_NET], notes: [] }) as Obj[];
    const hcm = filterConfig(h[0]!.filters, HCM);
    assert.deepEqual(names(hcm.http_filters), ['envoy.filters.http.rbac', 'envoy.filters.http.fault', 'envoy.filters.http.cors', 'istio.stats', 'envoy.filters.http.router']);
    const t = inboundPortChains(tcp, { mode: 'PERMISSIVE', httpFilters: [RBAC_HTTP], networkFilters: [RBAC_NET], notes: [] }) as Obj[];
    assert.deepEqual(names(t.at(-1)!.filters), ['envoy.filters.network.rbac', 'istio.stats', TCP]);
  });
});

describe('sidecar LDS: proto fidelity of the security layouts', () => {
  it('every layout above survives Envoy\'s Listener proto', () => {
    const TS = { name: 'envoy.transport_sockets.tls', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext' } };
    const chains: Obj[] = [];
    for (const protocol of ['HTTP', 'TCP', 'UNSUPPORTED', 'GRPC'] as const) {
      for (const mode of ['STRICT', 'PERMISSIVE', 'DISABLE'] as const) {
        chains.push(...(inboundPortChains({ targetPort: 8080, servicePort: 9080, protocol, hostname: 'h' }, { mode, transportSocket: TS, httpFilters: [], networkFilters: [], notes: [] }) as Obj[]));
      }
    }
    assert.deepEqual(checkEnvoyResource(TYPE.LDS, { name: 'x', filter_chains: chains }), []);
  });
});

describe('sidecar LDS: IPv6-only pods', () => {
  it('bind :: — listener and chain names follow (::_PORT), as istiod', () => {
    const p = sidecar({ ip: 'fd00::5' });
    const ctx = mesh();
    assert.ok(listenerNames(ctx, p).includes('::_9080'));
    assert.deepEqual(listener(ctx, p, '::_9080').address, { socket_address: { address: '::', port_value: 9080 } });
    assert.equal(listener(ctx, p, 'virtualOutbound').address.socket_address.address, '::');
    const vi = listener(ctx, p, 'virtualInbound');
    assert.equal(vi.address.socket_address.address, '::');
    assert.ok(inboundChainsFor(vi, 9080).every((c) => c.name === '::_9080'));
    assert.equal(filterConfig(inboundChainsFor(vi, 9080)[0]!.filters, HCM).stat_prefix, 'inbound_::_9080');
  });
});

describe('sidecar LDS: services sharing 0.0.0.0_PORT (headless ones bind the wildcard too)', () => {
  it('a headless TCP service on an HTTP port: its tcp_proxy becomes the default chain next to the HTTP chain', () => {
    const ctx = mesh([service('db', 'default', [{ name: 'tcp', port: 9080 }], 'None')]);
    const l = listener(ctx, sidecar(), '0.0.0.0_9080');
    assert.deepEqual(l.filter_chains.map((c: Obj) => names(c.filters)), [[HCM]]);
    assert.equal(filterConfig(l.default_filter_chain.filters, TCP).cluster, C('db.default.svc.cluster.local', 9080));
  });

  it('a headless service without protocol on an HTTP port adds nothing: istiod keeps the sniffed listener as it is', () => {
    const ctx = mesh([service('sniffy', 'default', [{ name: 'legacy', port: 9080 }], 'None')]);
    const l = listener(ctx, sidecar(), '0.0.0.0_9080');
    assert.equal(l.default_filter_chain.name, 'PassthroughFilterChain');
    assert.ok(!JSON.stringify(l).includes('sniffy'));
  });
});

describe('sidecar LDS: interception mode NONE (no iptables; the application dials the sidecar)', () => {
  const none = (o: Parameters<typeof sidecar>[0] = {}) => sidecar({ ...o, mode: 'NONE' });

  it('no virtual listeners and no inbound listener; one outbound listener per port, on 127.0.0.1', () => {
    const ctx = mesh();
    assert.deepEqual(listenerNames(ctx, none()).sort(), ['127.0.0.1_27017', '127.0.0.1_443', '127.0.0.1_5000', '127.0.0.1_7000', '127.0.0.1_9080']);
    assert.equal(buildSidecarListener(ctx, none(), 'virtualOutbound'), undefined);
    assert.equal(buildSidecarListener(ctx, none(), 'virtualInbound'), undefined);
    assert.equal(buildSidecarListener(ctx, none(), '0.0.0.0_9080'), undefined, 'the REDIRECT name is not served to a NONE proxy');
  });

  it('an HTTP port: a real socket with one match-all HCM chain fetching RDS PORT, no inspectors', () => {
    const l = listener(mesh(), none(), '127.0.0.1_9080');
    assert.deepEqual(l.address, { socket_address: { address: '127.0.0.1', port_value: 9080 } });
    assert.equal(l.bind_to_port, undefined, 'bind_to_port defaults to true: Envoy listens on 127.0.0.1:9080');
    assert.equal(l.use_original_dst, undefined);
    assert.equal(l.traffic_direction, 'OUTBOUND');
    assert.equal(l.filter_chains.length, 1);
    assert.equal(l.filter_chains[0].filter_chain_match, undefined);
    const hcm = filterConfig(l.filter_chains[0].filters, HCM);
    assert.equal(hcm.rds.route_config_name, '9080');
    assert.equal(hcm.stat_prefix, 'outbound_127.0.0.1_9080');
    assert.equal(l.default_filter_chain, undefined);
    assert.equal(l.listener_filters, undefined);
  });

  it('a TCP port binds 127.0.0.1, not the cluster IP, and proxies to the service', () => {
    const l = listener(mesh(), none(), '127.0.0.1_27017');
    assert.deepEqual(l.address, { socket_address: { address: '127.0.0.1', port_value: 27017 } });
    assert.equal(filterConfig(l.filter_chains[0].filters, TCP).cluster, C('mongodb.default.svc.cluster.local', 27017));
    assert.equal(l.bind_to_port, undefined);
  });

  it('a port without protocol: sniffing on 127.0.0.1 with the service\'s own route configuration FQDN:PORT', () => {
    const ctx = mesh();
    const l = listener(ctx, none(), '127.0.0.1_7000');
    assert.deepEqual(l.filter_chains[0].filter_chain_match, { transport_protocol: 'raw_buffer', application_protocols: ['http/1.1', 'h2c'] });
    assert.equal(filterConfig(l.filter_chains[0].filters, HCM).rds.route_config_name, 'legacy.default.svc.cluster.local:7000');
    assert.equal(filterConfig(l.default_filter_chain.filters, TCP).cluster, C('legacy.default.svc.cluster.local', 7000));
    assert.deepEqual(names(l.listener_filters), ['envoy.filters.listener.tls_inspector', 'envoy.filters.listener.http_inspector']);
    assert.ok(routeConfig(ctx, none(), 'legacy.default.svc.cluster.local:7000'));
  });

  it('HTTP and TCP services on one port share 127.0.0.1_PORT by istiod\'s rules: the first by hostname keeps it', () => {
    // both chains would match everything (no inspector tells them apart), so the later one is dropped
    const tcpFirst = mesh([service('aaa-db', 'default', [{ name: 'tcp', port: 9080 }], '10.96.0.70')]);
    const a = listener(tcpFirst, none(), '127.0.0.1_9080');
    assert.deepEqual(a.filter_chains.map((c: Obj) => names(c.filters)), [['istio.stats', TCP]]);
    assert.equal(filterConfig(a.filter_chains[0].filters, TCP).cluster, C('aaa-db.default.svc.cluster.local', 9080));
    const httpFirst = mesh([service('zzz-db', 'default', [{ name: 'tcp', port: 9080 }], '10.96.0.70')]);
    const z = listener(httpFirst, none(), '127.0.0.1_9080');
    assert.deepEqual(z.filter_chains.map((c: Obj) => names(c.filters)), [[HCM]]);
    // redirected sidecars keep both: HTTP on 0.0.0.0_9080, TCP on the cluster IP
    assert.ok(listenerNames(httpFirst, sidecar()).includes('10.96.0.70_9080'));
  });

  it('Mongo never shares a port with another protocol', () => {
    const ctx = mesh([service('aaa-cache', 'default', [{ name: 'tcp', port: 27017 }], '10.96.0.71')]);
    const l = listener(ctx, none(), '127.0.0.1_27017');
    assert.equal(filterConfig(l.filter_chains[0].filters, TCP).cluster, C('aaa-cache.default.svc.cluster.local', 27017));
    assert.equal(l.filter_chains.length + (l.default_filter_chain ? 1 : 0), 1);
  });

  it('an IPv6-only pod binds ::1', () => {
    assert.ok(listenerNames(mesh(), none({ ip: 'fd00::5' })).includes('::1_9080'));
    assert.equal(listener(mesh(), none({ ip: 'fd00::5' }), '::1_9080').address.socket_address.address, '::1');
  });

  it('route configurations do not depend on the interception mode', () => {
    const ctx = mesh();
    assert.deepEqual(routeConfig(ctx, none(), '9080'), routeConfig(ctx, sidecar(), '9080'));
  });

  it('NONE and REDIRECT proxies of one workload are different classes; an unknown mode spelling is REDIRECT, as istiod reads it', () => {
    const ctx = mesh();
    assert.notEqual(sidecarClassKey(ctx, none()), sidecarClassKey(ctx, sidecar()));
    assert.equal(sidecar({ mode: 'none' }).interceptionMode, 'REDIRECT');
    assert.equal(sidecarClassKey(ctx, sidecar({ mode: 'none' })), sidecarClassKey(ctx, sidecar()));
  });
});
