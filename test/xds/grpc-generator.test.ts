import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { PushContext } from '../../src/model/push-context.js';
import { parseProxy, type Proxy } from '../../src/model/proxy.js';
import { grpcGenerator } from '../../src/xds/generators/grpc/index.js';
import { roundTripLosses } from '../support/envoy-check/proto-check.js';
import { checkEnvoyResource } from '../support/envoy-check/pgv-check.js';
import { TYPE, typeName, type TypeUrl } from '../../src/xds/resource-types.js';
import { snapshotOf, unvalidated, type Doc } from '../support/snapshot.js';

// Unit tests of the proxyless gRPC generator: every translation, generated from small stores, asserted on
// the proto-JSON, and every generated resource checked to survive encode → decode with Envoy's protos.

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const HOST = 'helloworld.default.svc.cluster.local';
const C = (subset = '', port = 5000, host = HOST) => `outbound|${port}|${subset}|${host}`;

function service(name: string, ns: string, ports: { name: string; port: number; targetPort?: number }[], clusterIP?: string, selector?: Record<string, string>): Doc {
  return {
    apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns },
    spec: { ...(clusterIP ? { clusterIP } : {}), selector: selector ?? { app: name }, ports },
  };
}

function pod(name: string, ns: string, ip: string, labels: Record<string, string>, phase = 'Running'): Doc {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: ns, labels }, status: { podIP: ip, phase } };
}

function vs(http: unknown[], extra: Obj = {}, name = 'helloworld', ns = 'default'): Doc {
  return { apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name, namespace: ns }, spec: { hosts: ['helloworld'], http, ...extra } };
}

function dr(spec: Obj, name = 'helloworld', ns = 'default'): Doc {
  return { apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name, namespace: ns }, spec: { host: 'helloworld', ...spec } };
}

const SUBSETS = [{ name: 'v1', labels: { version: 'v1' } }, { name: 'v2', labels: { version: 'v2' } }];

const BASE: Doc[] = [
  service('helloworld', 'default', [{ name: 'grpc', port: 5000, targetPort: 50051 }], '10.96.0.50'),
  pod('helloworld-v1', 'default', '10.1.0.11', { app: 'helloworld', version: 'v1' }),
  pod('helloworld-v2', 'default', '10.1.0.12', { app: 'helloworld', version: 'v2' }),
  pod('client-1', 'default', '10.1.0.20', { app: 'client' }),
];

function mesh(...extra: Doc[]): PushContext {
  return snapshotOf([...BASE, ...extra], { label: 'grpc-generator.test' });
}

function proxy(opts: { ns?: string; pod?: string; ip?: string; labels?: Record<string, string> } = {}): Proxy {
  const ns = opts.ns ?? 'default';
  const metadata: Obj = { GENERATOR: 'grpc', NAMESPACE: ns };
  if (opts.labels) metadata.LABELS = opts.labels;
  return parseProxy({ id: `sidecar~${opts.ip ?? '10.1.0.20'}~${opts.pod ?? 'client-1'}.${ns}~${ns}.svc.cluster.local`, metadata });
}

/** Generates and insists the resource round-trips through Envoy's protos without losing a field and passes their PGV rules. */
function gen(type: TypeUrl, ctx: PushContext, p: Proxy, name: string): Obj | undefined {
  const body = grpcGenerator.generate(type, ctx, p, name) as Obj | undefined;
  if (body) assert.deepEqual(checkEnvoyResource(type, body), [], `${name} must round-trip and pass PGV`);
  return body;
}

function must(type: TypeUrl, ctx: PushContext, p: Proxy, name: string): Obj {
  const body = gen(type, ctx, p, name);
  assert.ok(body, `${name} must exist`);
  return body;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function routesOf(ctx: PushContext, p: Proxy = proxy(), name = C()): any[] {
  const rc = must(TYPE.RDS, ctx, p, name);
  assert.equal(rc.virtual_hosts.length, 1);
  return rc.virtual_hosts[0].routes;
}

function keysDeep(v: unknown, out = new Set<string>()): Set<string> {
  if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      out.add(k);
      keysDeep(x, out);
    }
  }
  return out;
}

describe('grpc generator: LDS client listeners', () => {
  it('answers FQDN:PORT with an api_listener whose HCM fetches routes over ADS, fault then router', () => {
    const l = must(TYPE.LDS, mesh(), proxy(), `${HOST}:5000`);
    assert.equal(l.name, `${HOST}:5000`);
    assert.deepEqual(l.address, { socket_address: { address: '10.96.0.50', port_value: 5000 } });
    const hcm = l.api_listener.api_listener;
    assert.equal(hcm['@type'], 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager');
    assert.deepEqual(hcm.rds, { config_source: { ads: {}, resource_api_version: 'V3' }, route_config_name: C() });
    assert.deepEqual(hcm.http_filters.map((f: Obj) => [f.name, f.typed_config['@type']]), [
      ['envoy.filters.http.fault', 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault'],
      ['envoy.filters.http.router', 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router'],
    ]);
    assert.equal(l.listener_filters, undefined);
  });

  it('resolves the short names Istio accepts and echoes the requested name; all share one route config', () => {
    const ctx = mesh();
    for (const name of ['helloworld:5000', 'helloworld.default:5000', 'helloworld.default.svc:5000']) {
      const l = must(TYPE.LDS, ctx, proxy(), name);
      assert.equal(l.name, name);
      assert.equal(l.api_listener.api_listener.rds.route_config_name, C());
    }
  });

  it('expands a bare name in the proxy namespace only; name.ns works from anywhere', () => {
    const ctx = mesh();
    const other = proxy({ ns: 'other' });
    assert.equal(gen(TYPE.LDS, ctx, other, 'helloworld:5000'), undefined);
    assert.equal(must(TYPE.LDS, ctx, other, 'helloworld.default:5000').name, 'helloworld.default:5000');
  });

  it('does not exist for unknown services, ports or names without a port', () => {
    const ctx = mesh();
    for (const name of ['nope.default.svc.cluster.local:5000', `${HOST}:5001`, HOST, 'helloworld', `${HOST}:0`, `${HOST}:x`]) {
      assert.equal(gen(TYPE.LDS, ctx, proxy(), name), undefined, name);
    }
  });

  it('uses 0.0.0.0 when the service has no cluster IP', () => {
    const ctx = mesh(service('headless', 'default', [{ name: 'grpc', port: 7000 }], 'None'));
    assert.equal(must(TYPE.LDS, ctx, proxy(), 'headless:7000').address.socket_address.address, '0.0.0.0');
  });
});

describe('grpc generator: LDS server listeners', () => {
  const NAME = 'xds.istio.io/grpc/lds/inbound/0.0.0.0:5000';

  it('serves IP:PORT with one plaintext chain: inline route config, non_forwarding_action, router', () => {
    const l = must(TYPE.LDS, mesh(), proxy({ pod: 'helloworld-v1', ip: '10.1.0.11' }), NAME);
    assert.equal(l.name, NAME);
    assert.deepEqual(l.address, { socket_address: { address: '0.0.0.0', port_value: 5000 } });
    assert.equal(l.filter_chains.length, 1);
    const chain = l.filter_chains[0];
    assert.equal(chain.name, 'inbound-plaintext');
    assert.equal(chain.transport_socket, undefined);
    assert.equal(chain.filter_chain_match, undefined);
    const hcm = chain.filters[0].typed_config;
    assert.deepEqual(hcm.route_config.virtual_hosts[0].domains, ['*']);
    assert.deepEqual(hcm.route_config.virtual_hosts[0].routes, [{ match: { prefix: '/' }, non_forwarding_action: {} }]);
    assert.deepEqual(hcm.http_filters.map((f: Obj) => f.name), ['envoy.filters.http.router']);
    for (const banned of ['listener_filters', 'use_original_dst', 'api_listener']) assert.ok(!(banned in l), banned);
  });

  it('answers a port that backs no service (plaintext), and IPv6 addresses', () => {
    const ctx = mesh();
    assert.equal(must(TYPE.LDS, ctx, proxy(), 'xds.istio.io/grpc/lds/inbound/10.1.0.20:9999').address.socket_address.port_value, 9999);
    const v6 = must(TYPE.LDS, ctx, proxy(), 'xds.istio.io/grpc/lds/inbound/[::]:5000');
    assert.deepEqual(v6.address, { socket_address: { address: '::', port_value: 5000 } });
  });

  it('does not exist for malformed names', () => {
    for (const n of ['xds.istio.io/grpc/lds/inbound/0.0.0.0', 'xds.istio.io/grpc/lds/inbound/host:5000', 'xds.istio.io/grpc/lds/inbound/:::5000', 'xds.istio.io/grpc/lds/inbound/1.2.3.4:70000']) {
      assert.equal(gen(TYPE.LDS, mesh(), proxy(), n), undefined, n);
    }
  });
});

describe('grpc generator: RDS virtual host', () => {
  it('lists every authority a client may dial, with and without the port', () => {
    const rc = must(TYPE.RDS, mesh(), proxy(), C());
    assert.equal(rc.name, C());
    const vh = rc.virtual_hosts[0];
    assert.equal(vh.name, `${HOST}:5000`);
    assert.deepEqual(vh.domains, [
      HOST, `${HOST}:5000`, `${HOST}.`, `${HOST}.:5000`,
      'helloworld', 'helloworld:5000', 'helloworld.default.svc', 'helloworld.default.svc:5000',
      'helloworld.default', 'helloworld.default:5000', '10.96.0.50', '10.96.0.50:5000',
    ]);
  });

  it('leaves out the bare name for proxies of other namespaces', () => {
    const vh = must(TYPE.RDS, mesh(), proxy({ ns: 'other' }), C()).virtual_hosts[0];
    assert.ok(!vh.domains.includes('helloworld'));
    assert.ok(!vh.domains.includes('helloworld:5000'));
    assert.ok(vh.domains.includes('helloworld.default:5000'));
  });

  it('without a VirtualService: one default route to outbound|PORT||FQDN with istiod default retries, no timeout', () => {
    assert.deepEqual(routesOf(mesh()), [{
      name: 'default',
      match: { prefix: '/' },
      route: {
        cluster: C(),
        timeout: { seconds: 0, nanos: 0 },
        max_stream_duration: { max_stream_duration: { seconds: 0, nanos: 0 } },
        retry_policy: { retry_on: 'unavailable,cancelled', num_retries: { value: 2 } },
      },
    }]);
  });

  it('also answers listener-style names, and empty for unknown services; malformed names do not exist', () => {
    const ctx = mesh();
    assert.equal(must(TYPE.RDS, ctx, proxy(), 'helloworld:5000').virtual_hosts.length, 1);
    assert.equal(must(TYPE.RDS, ctx, proxy(), 'helloworld:5000').name, 'helloworld:5000');
    assert.deepEqual(must(TYPE.RDS, ctx, proxy(), C('', 5000, 'nope.default.svc.cluster.local')).virtual_hosts, []);
    assert.deepEqual(must(TYPE.RDS, ctx, proxy(), C('', 5001)).virtual_hosts, []);
    for (const n of ['garbage', 'inbound|5000||', 'nope:5000']) assert.equal(gen(TYPE.RDS, ctx, proxy(), n), undefined, n);
  });
});

describe('grpc generator: VirtualService matches', () => {
  const to = (subset: string) => [{ destination: { host: 'helloworld', subset } }];

  it('translates uri exact / prefix / regex and ignoreUriCase', () => {
    const routes = routesOf(mesh(dr({ subsets: SUBSETS }), vs([
      { match: [{ uri: { exact: '/hello.Greeter/SayHello' } }], route: to('v1') },
      { match: [{ uri: { prefix: '/hello.' }, ignoreUriCase: true }], route: to('v1') },
      { match: [{ uri: { regex: '/hello\\..*/Say.*' } }], route: to('v2') },
    ])));
    assert.deepEqual(routes.map((r) => r.match), [
      { path: '/hello.Greeter/SayHello', case_sensitive: { value: true } },
      { prefix: '/hello.', case_sensitive: { value: false } },
      { safe_regex: { google_re2: {}, regex: '/hello\\..*/Say.*' }, case_sensitive: { value: true } },
    ]);
  });

  it('writes header matchers in the deprecated forms gRPC C-core 1.51 accepts, sorted, then pseudo-headers', () => {
    const routes = routesOf(mesh(dr({ subsets: SUBSETS }), unvalidated(vs([{
      match: [{
        headers: { 'x-b-prefix': { prefix: 'ab' }, 'x-a-exact': { exact: 'v' }, 'x-c-regex': { regex: 'a+b' }, 'x-d-present': {}, 'x-e-star': { regex: '*' } },
        withoutHeaders: { 'x-f-not': { exact: 'no' }, 'x-g-absent': {} },
        method: { exact: 'POST' },
        authority: { prefix: 'helloworld' },
      }],
      route: to('v1'),
    }]))));
    const common = [
      { name: 'x-a-exact', exact_match: 'v' },
      { name: 'x-b-prefix', prefix_match: 'ab' },
      { name: 'x-c-regex', safe_regex_match: { google_re2: {}, regex: 'a+b' } },
      { name: 'x-d-present', present_match: true },
      { name: 'x-e-star', present_match: true },
      { name: ':method', exact_match: 'POST' },
      { name: ':authority', prefix_match: 'helloworld' },
    ];
    // withoutHeaders: a value condition becomes "absent" | "present and different" (two routes)
    assert.deepEqual(routes.map((r) => r.match.headers), [
      [...common, { name: 'x-f-not', present_match: true, invert_match: true }, { name: 'x-g-absent', present_match: true, invert_match: true }],
      [...common, { name: 'x-f-not', present_match: true }, { name: 'x-f-not', exact_match: 'no', invert_match: true }, { name: 'x-g-absent', present_match: true, invert_match: true }],
    ]);
    assert.ok(!keysDeep(routes).has('string_match'), 'string_match must never be written for gRPC');
  });

  it('expands withoutHeaders value conditions (C-core 1.51 never matches an inverted matcher on an absent header)', () => {
    const two = routesOf(mesh(vs([{ match: [{ withoutHeaders: { a: { exact: '1' }, b: { prefix: 'x' } } }], route: [{ destination: { host: 'helloworld' } }] }])));
    assert.deepEqual(two.map((r) => r.match.headers.map((h: Obj) => `${h.name}:${h.invert_match ? '!' : ''}${'present_match' in h ? 'present' : 'value'}`)), [
      ['a:!present', 'b:!present'],
      ['a:!present', 'b:present', 'b:!value'],
      ['a:present', 'a:!value', 'b:!present'],
      ['a:present', 'a:!value', 'b:present', 'b:!value'],
    ]);
    assert.deepEqual(two.map((r) => r.route.cluster), [C(), C(), C(), C()]);
    // more than three value conditions: one route with Envoy's semantics (invert + treat missing as empty)
    const many = routesOf(mesh(vs([{ match: [{ withoutHeaders: { a: { exact: '1' }, b: { exact: '1' }, c: { exact: '1' }, d: { exact: '1' } } }], route: [{ destination: { host: 'helloworld' } }] }])));
    assert.equal(many.length, 1);
    assert.deepEqual(many[0].match.headers[0], { name: 'a', exact_match: '1', invert_match: true, treat_missing_header_as_empty: true });
  });

  it('drops matches gRPC cannot evaluate: query parameters and JWT claims', () => {
    // (istiod's webhook only allows JWT-claim routing on gateway-bound VirtualServices)
    const routes = routesOf(mesh(dr({ subsets: SUBSETS }), unvalidated(vs([
      { name: 'q', match: [{ queryParams: { debug: { exact: '1' } } }], route: to('v2') },
      { name: 'jwt', match: [{ headers: { '@request.auth.claims.group': { exact: 'admin' } } }], route: to('v2') },
      { name: 'rest', route: to('v1') },
    ]))));
    assert.deepEqual(routes.map((r) => r.name), ['rest']);
  });

  it('applies a match only to its port, and to the proxies its source conditions select', () => {
    const ctx = mesh(
      service('multi', 'default', [{ name: 'grpc-a', port: 6000 }, { name: 'grpc-b', port: 6001 }], '10.96.0.60'),
      dr({ subsets: SUBSETS }),
      vs([
        { name: 'on6001', match: [{ port: 6001, headers: { x: { exact: '1' } } }], route: [{ destination: { host: 'multi' } }] },
        { name: 'only6001', match: [{ port: 6001 }], route: [{ destination: { host: 'multi' } }] },
        { name: 'all', route: [{ destination: { host: 'multi' } }] },
      ], { hosts: ['multi'] }, 'multi'),
      vs([
        { name: 'canary', match: [{ sourceLabels: { track: 'canary' } }], route: to('v2') },
        { name: 'from-other', match: [{ sourceNamespace: 'other' }], route: to('v2') },
        { name: 'gateway-only', match: [{ gateways: ['my-gateway'] }], route: to('v2') },
        { name: 'mesh-gw', match: [{ gateways: ['mesh'], uri: { prefix: '/x' } }], route: to('v2') },
        { name: 'rest', route: to('v1') },
      ]),
    );
    const M = 'multi.default.svc.cluster.local';
    assert.deepEqual(routesOf(ctx, proxy(), C('', 6000, M)).map((r) => r.name), ['all']);
    // a match with nothing but a port is a catch-all on that port (istiod stops there too)
    assert.deepEqual(routesOf(ctx, proxy(), C('', 6001, M)).map((r) => r.name), ['on6001', 'only6001']);
    assert.deepEqual(routesOf(ctx, proxy()).map((r) => r.name), ['mesh-gw', 'rest']);
    // a match with only source conditions is a catch-all for the proxies it selects
    assert.deepEqual(routesOf(ctx, proxy({ labels: { track: 'canary' } })).map((r) => r.name), ['canary']);
    assert.deepEqual(routesOf(ctx, proxy({ ns: 'other' })).map((r) => r.name), ['from-other']);
  });

  it('stops at the first catch-all route, and names routes route.match', () => {
    const routes = routesOf(mesh(dr({ subsets: SUBSETS }), vs([
      { name: 'a', match: [{ name: 'hdr', headers: { x: { exact: '1' } } }, { name: 'all', uri: { prefix: '/' } }, { name: 'never', uri: { prefix: '/z' } }], route: to('v2') },
      { name: 'b', route: to('v1') },
    ])));
    assert.deepEqual(routes.map((r) => r.name), ['a.hdr', 'a.all']);
  });

  it('falls back to the default route when no VirtualService route applies to the proxy', () => {
    const routes = routesOf(mesh(dr({ subsets: SUBSETS }), vs([{ match: [{ sourceLabels: { app: 'someone-else' } }], route: to('v2') }])));
    assert.deepEqual(routes.map((r) => [r.name, r.route.cluster]), [['default', C()]]);
  });
});

describe('grpc generator: VirtualService actions', () => {
  it('splits by weight across subset clusters (zero weights dropped, total_weight = sum)', () => {
    const routes = routesOf(mesh(dr({ subsets: SUBSETS }), vs([{ route: [
      { destination: { host: 'helloworld', subset: 'v1' }, weight: 90 },
      { destination: { host: 'helloworld', subset: 'v2' }, weight: 10 },
      { destination: { host: 'helloworld', subset: 'v3' }, weight: 0 },
    ] }])));
    assert.deepEqual(routes[0].route.weighted_clusters, {
      clusters: [{ name: C('v1'), weight: { value: 90 } }, { name: C('v2'), weight: { value: 10 } }],
      total_weight: { value: 100 },
    });
    assert.equal(routes[0].route.cluster, undefined);
  });

  it('routes a single destination to one cluster; destination port, other services and namespaces resolve', () => {
    const ctx = mesh(
      service('other', 'ns2', [{ name: 'grpc', port: 7070 }], '10.96.0.70'),
      vs([
        { match: [{ headers: { a: { exact: '1' } } }], route: [{ destination: { host: 'other.ns2.svc.cluster.local' } }] },
        { match: [{ headers: { b: { exact: '1' } } }], route: [{ destination: { host: 'helloworld', port: { number: 5001 }, subset: 'x' } }] },
        { route: [{ destination: { host: 'helloworld' }, weight: 100 }] },
      ]),
    );
    assert.deepEqual(routesOf(ctx).map((r) => r.route.cluster), [
      'outbound|7070||other.ns2.svc.cluster.local', C('x', 5001), C(),
    ]);
  });

  it('timeout → timeout and max_stream_duration (what gRPC reads)', () => {
    const r = routesOf(mesh(vs([{ timeout: '1.5s', route: [{ destination: { host: 'helloworld' } }] }])))[0];
    assert.deepEqual(r.route.timeout, { seconds: 1, nanos: 500000000 });
    assert.deepEqual(r.route.max_stream_duration, { max_stream_duration: { seconds: 1, nanos: 500000000 } });
  });

  it('retries keep gRPC retry_on codes only; attempts 0 or no gRPC code turns them off', () => {
    const ctx = mesh(vs([
      { name: 'full', match: [{ headers: { a: { exact: '1' } } }], retries: { attempts: 3, retryOn: 'unavailable,5xx,resource-exhausted,503,gateway-error,deadline-exceeded', perTryTimeout: '250ms', backoff: '50ms' }, route: [{ destination: { host: 'helloworld' } }] },
      { name: 'attempts-only', match: [{ headers: { b: { exact: '1' } } }], retries: { attempts: 4 }, route: [{ destination: { host: 'helloworld' } }] },
      { name: 'off', match: [{ headers: { c: { exact: '1' } } }], retries: { attempts: 0 }, route: [{ destination: { host: 'helloworld' } }] },
      { name: 'http-only', match: [{ headers: { d: { exact: '1' } } }], retries: { attempts: 2, retryOn: '5xx,reset' }, route: [{ destination: { host: 'helloworld' } }] },
      { name: 'none', route: [{ destination: { host: 'helloworld' } }] },
    ]));
    const byName = Object.fromEntries(routesOf(ctx).map((r) => [r.name, r.route.retry_policy]));
    assert.deepEqual(byName.full, {
      retry_on: 'unavailable,resource-exhausted,deadline-exceeded', num_retries: { value: 3 },
      per_try_timeout: { seconds: 0, nanos: 250000000 }, retry_back_off: { base_interval: { seconds: 0, nanos: 50000000 } },
    });
    assert.deepEqual(byName['attempts-only'], { retry_on: 'unavailable,cancelled', num_retries: { value: 4 } });
    assert.equal(byName.off, undefined);
    assert.equal(byName['http-only'], undefined);
    assert.deepEqual(byName.none, { retry_on: 'unavailable,cancelled', num_retries: { value: 2 } });
  });

  it('fault delay and abort → HTTPFault in typed_per_filter_config with explicit percentages', () => {
    const ctx = mesh(unvalidated(vs([
      { name: 'delay', match: [{ headers: { a: { exact: '1' } } }], fault: { delay: { fixedDelay: '200ms', percentage: { value: 12.5 } } }, route: [{ destination: { host: 'helloworld' } }] },
      { name: 'delay-int', match: [{ headers: { b: { exact: '1' } } }], fault: { delay: { fixedDelay: '1s', percent: 30 } }, route: [{ destination: { host: 'helloworld' } }] },
      { name: 'grpc-abort', match: [{ headers: { c: { exact: '1' } } }], fault: { abort: { grpcStatus: 'UNAVAILABLE', percentage: { value: 100 } } }, route: [{ destination: { host: 'helloworld' } }] },
      { name: 'http-abort', match: [{ headers: { d: { exact: '1' } } }], fault: { abort: { httpStatus: 503 } }, route: [{ destination: { host: 'helloworld' } }] },
      { name: 'unsupported', match: [{ headers: { e: { exact: '1' } } }], fault: { delay: { exponentialDelay: '1s' }, abort: { http2Error: 'x' } }, route: [{ destination: { host: 'helloworld' } }] },
    ])));
    const f = Object.fromEntries(routesOf(ctx).map((r) => [r.name, r.typed_per_filter_config?.['envoy.filters.http.fault']]));
    const T = 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault';
    assert.deepEqual(f.delay, { '@type': T, delay: { fixed_delay: { seconds: 0, nanos: 200000000 }, percentage: { numerator: 125000, denominator: 'MILLION' } } });
    assert.deepEqual(f['delay-int'], { '@type': T, delay: { fixed_delay: { seconds: 1, nanos: 0 }, percentage: { numerator: 30, denominator: 'HUNDRED' } } });
    assert.deepEqual(f['grpc-abort'], { '@type': T, abort: { grpc_status: 14, percentage: { numerator: 1000000, denominator: 'MILLION' } } });
    assert.deepEqual(f['http-abort'], { '@type': T, abort: { http_status: 503, percentage: { numerator: 0, denominator: 'HUNDRED' } } });
    assert.equal(f.unsupported, undefined);
  });

  it('drops redirect / directResponse / delegate routes, a catch-all among them still ends the list', () => {
    const ctx = mesh(vs([
      { name: 'redir', match: [{ headers: { a: { exact: '1' } } }], redirect: { uri: '/x' } },
      { name: 'direct', match: [{ headers: { b: { exact: '1' } } }], directResponse: { status: 503 } },
      { name: 'kept', match: [{ headers: { c: { exact: '1' } } }], route: [{ destination: { host: 'helloworld' } }] },
      { name: 'catchall-redirect', redirect: { uri: '/y' } },
      { name: 'unreachable', route: [{ destination: { host: 'helloworld' } }] },
    ]));
    assert.deepEqual(routesOf(ctx).map((r) => r.name), ['kept']);
    // only unsupported routes apply: the virtual host has no route (RPCs fail) rather than silently
    // falling back to the default destination
    assert.deepEqual(routesOf(mesh(vs([{ redirect: { uri: '/x' } }]))), []);
  });

  it('does not write Envoy-only route features gRPC ignores or rejects (rewrite, headers, mirror, CORS)', () => {
    const r = routesOf(mesh(vs([{
      rewrite: { uri: '/other', authority: 'x' },
      headers: { request: { set: { a: 'b' } }, response: { remove: ['c'] } },
      mirror: { host: 'helloworld' },
      mirrorPercentage: { value: 5 },
      corsPolicy: { allowOrigins: [{ exact: 'https://a' }] },
      route: [{ destination: { host: 'helloworld' }, headers: { request: { add: { d: 'e' } } } }],
    }])))[0];
    const keys = keysDeep(r);
    for (const k of ['prefix_rewrite', 'host_rewrite_literal', 'request_headers_to_add', 'response_headers_to_remove', 'request_mirror_policies', 'typed_per_filter_config']) {
      assert.ok(!keys.has(k), k);
    }
    assert.equal(r.route.cluster, C());
  });

  it('adds route hash policies from the DestinationRule consistentHash (subset > port-level > top level)', () => {
    const ctx = mesh(
      dr({
        trafficPolicy: {
          loadBalancer: { consistentHash: { httpHeaderName: 'x-user' } },
          portLevelSettings: [{ port: { number: 5000 }, loadBalancer: { consistentHash: { useSourceIp: true } } }],
        },
        subsets: [
          { name: 'v1', labels: { version: 'v1' }, trafficPolicy: { loadBalancer: { consistentHash: { httpCookie: { name: 'c', ttl: '10s', path: '/' } } } } },
          { name: 'v2', labels: { version: 'v2' } },
        ],
      }),
      vs([
        { match: [{ headers: { a: { exact: '1' } } }], route: [{ destination: { host: 'helloworld', subset: 'v1' } }] },
        { match: [{ headers: { b: { exact: '1' } } }], route: [{ destination: { host: 'helloworld', subset: 'v2', port: { number: 5000 } } }] },
        { route: [{ destination: { host: 'helloworld', subset: 'v2' } }] },
      ]),
    );
    assert.deepEqual(routesOf(ctx).map((r) => r.route.hash_policy), [
      [{ cookie: { name: 'c', ttl: { seconds: 10, nanos: 0 }, path: '/' } }],
      [{ connection_properties: { source_ip: true } }],
      [{ header: { header_name: 'x-user' } }],
    ]);
    // without a VirtualService the default route hashes by the port's setting, else the top level
    const noVs = mesh(dr({ trafficPolicy: { loadBalancer: { consistentHash: { httpHeaderName: 'x-user' } } } }));
    assert.deepEqual(routesOf(noVs)[0].route.hash_policy, [{ header: { header_name: 'x-user' } }]);
  });
});

describe('grpc generator: CDS', () => {
  it('answers outbound|PORT||FQDN as an EDS cluster over ADS, round robin', () => {
    assert.deepEqual(must(TYPE.CDS, mesh(), proxy(), C()), {
      name: C(),
      type: 'EDS',
      eds_cluster_config: { service_name: C(), eds_config: { ads: {}, resource_api_version: 'V3' } },
      lb_policy: 'ROUND_ROBIN',
    });
  });

  it('answers subset clusters only for subsets of the visible DestinationRule', () => {
    const ctx = mesh(dr({ subsets: SUBSETS }));
    assert.equal(must(TYPE.CDS, ctx, proxy(), C('v1')).eds_cluster_config.service_name, C('v1'));
    assert.equal(gen(TYPE.CDS, ctx, proxy(), C('v3')), undefined);
    assert.equal(gen(TYPE.CDS, mesh(), proxy(), C('v1')), undefined);
  });

  it('answers unknown hosts with a plain cluster (as istiod); malformed and inbound names do not exist', () => {
    const ctx = mesh();
    assert.equal(must(TYPE.CDS, ctx, proxy(), C('', 5000, 'nope.default.svc.cluster.local')).type, 'EDS');
    for (const n of ['nope', 'outbound|x||h', 'inbound|5000||', 'outbound|5000||']) assert.equal(gen(TYPE.CDS, ctx, proxy(), n), undefined, n);
  });

  it('maps load balancers to what gRPC implements', () => {
    const lbOf = (lb: Obj) => {
      const c = must(TYPE.CDS, mesh(dr({ trafficPolicy: { loadBalancer: lb } })), proxy(), C());
      return [c.lb_policy, c.ring_hash_lb_config?.minimum_ring_size?.value];
    };
    for (const simple of ['ROUND_ROBIN', 'UNSPECIFIED', 'LEAST_REQUEST', 'LEAST_CONN', 'RANDOM', 'PASSTHROUGH']) {
      assert.deepEqual(lbOf({ simple }), ['ROUND_ROBIN', undefined], simple);
    }
    assert.deepEqual(lbOf({ consistentHash: { httpHeaderName: 'x' } }), ['RING_HASH', 1024]);
    assert.deepEqual(lbOf({ consistentHash: { httpHeaderName: 'x', minimumRingSize: 2048 } }), ['RING_HASH', 2048]);
    assert.deepEqual(lbOf({ consistentHash: { httpHeaderName: 'x', ringHash: { minimumRingSize: 4096 } } }), ['RING_HASH', 4096]);
    assert.deepEqual(lbOf({ consistentHash: { httpHeaderName: 'x', ringHash: {} } }), ['RING_HASH', undefined]);
    assert.deepEqual(lbOf({ consistentHash: { httpHeaderName: 'x', maglev: { tableSize: 65537 } } }), ['RING_HASH', undefined]);
    assert.deepEqual(lbOf({ consistentHash: { useSourceIp: true, ringHash: { minimumRingSize: 100000000 } } }), ['RING_HASH', 8388608]);
  });

  it('outlierDetection → outlier_detection, http2MaxRequests → circuit_breakers max_requests', () => {
    const c = must(TYPE.CDS, mesh(dr({ trafficPolicy: {
      outlierDetection: { consecutive5xxErrors: 5, consecutiveGatewayErrors: 0, interval: '10s', baseEjectionTime: '30s', maxEjectionPercent: 50 },
      connectionPool: { http: { http2MaxRequests: 100, http1MaxPendingRequests: 7 }, tcp: { maxConnections: 3 } },
    } })), proxy(), C());
    assert.deepEqual(c.outlier_detection, {
      enforcing_success_rate: { value: 0 },
      consecutive_5xx: { value: 5 }, enforcing_consecutive_5xx: { value: 100 },
      consecutive_gateway_failure: { value: 0 }, enforcing_consecutive_gateway_failure: { value: 0 },
      interval: { seconds: 10, nanos: 0 }, base_ejection_time: { seconds: 30, nanos: 0 }, max_ejection_percent: { value: 50 },
    });
    assert.deepEqual(c.circuit_breakers, { thresholds: [{ max_requests: { value: 100 } }] });
  });

  it('merges subset and port-level policies as istiod (port level replaces a part wholesale)', () => {
    const ctx = mesh(
      service('multi', 'default', [{ name: 'grpc-a', port: 6000 }, { name: 'grpc-b', port: 6001 }], '10.96.0.60'),
      dr({
        host: 'multi',
        trafficPolicy: {
          loadBalancer: { consistentHash: { httpHeaderName: 'x' } },
          connectionPool: { http: { http2MaxRequests: 10 } },
          portLevelSettings: [{ port: { number: 6001 }, outlierDetection: { consecutive5xxErrors: 2 } }],
        },
        subsets: [
          { name: 'big', labels: { size: 'big' }, trafficPolicy: { connectionPool: { http: { http2MaxRequests: 1000 } } } },
          { name: 'plain', labels: { size: 'plain' }, trafficPolicy: { portLevelSettings: [{ port: { number: 6000 }, loadBalancer: { simple: 'ROUND_ROBIN' } }] } },
        ],
      }, 'multi'),
    );
    const M = 'multi.default.svc.cluster.local';
    const summary = (name: string) => {
      const c = must(TYPE.CDS, ctx, proxy(), name);
      return { lb: c.lb_policy, max: c.circuit_breakers?.thresholds[0].max_requests.value, od: c.outlier_detection?.consecutive_5xx?.value };
    };
    assert.deepEqual(summary(C('', 6000, M)), { lb: 'RING_HASH', max: 10, od: undefined });
    assert.deepEqual(summary(C('', 6001, M)), { lb: 'ROUND_ROBIN', max: undefined, od: 2 });
    assert.deepEqual(summary(C('big', 6000, M)), { lb: 'RING_HASH', max: 1000, od: undefined });
    assert.deepEqual(summary(C('big', 6001, M)), { lb: 'ROUND_ROBIN', max: 1000, od: 2 });
    assert.deepEqual(summary(C('plain', 6000, M)), { lb: 'ROUND_ROBIN', max: undefined, od: undefined });
  });
});

describe('grpc generator: EDS', () => {
  const zoned = (name: string, ip: string, version: string, zone: string, phase = 'Running') =>
    pod(name, 'default', ip, { app: 'helloworld', version, 'topology.kubernetes.io/region': 'r1', 'topology.kubernetes.io/zone': zone }, phase);

  it('groups ready endpoints by locality, weight = endpoint count, all HEALTHY, target port', () => {
    const ctx = mesh(zoned('hw-a', '10.1.1.1', 'v1', 'z1'), zoned('hw-b', '10.1.1.2', 'v2', 'z1'), zoned('hw-c', '10.1.1.3', 'v1', 'z2'), zoned('hw-d', '10.1.1.4', 'v1', 'z2', 'Pending'));
    const cla = must(TYPE.EDS, ctx, proxy(), C());
    assert.equal(cla.cluster_name, C());
    const summary = cla.endpoints.map((g: Obj) => [g.locality, g.load_balancing_weight.value, g.lb_endpoints.map((e: Obj) => `${e.endpoint.address.socket_address.address}:${e.endpoint.address.socket_address.port_value}:${e.health_status}`)]);
    assert.deepEqual(summary, [
      [{}, 2, ['10.1.0.11:50051:HEALTHY', '10.1.0.12:50051:HEALTHY']],
      [{ region: 'r1', zone: 'z1' }, 2, ['10.1.1.1:50051:HEALTHY', '10.1.1.2:50051:HEALTHY']],
      [{ region: 'r1', zone: 'z2' }, 1, ['10.1.1.3:50051:HEALTHY']],
    ]);
  });

  it('subset clusters keep endpoints whose pod labels match the subset', () => {
    const ctx = mesh(dr({ subsets: [...SUBSETS, { name: 'all' }] }));
    const ips = (name: string) => must(TYPE.EDS, ctx, proxy(), name).endpoints.flatMap((g: Obj) => g.lb_endpoints.map((e: Obj) => e.endpoint.address.socket_address.address));
    assert.deepEqual(ips(C('v1')), ['10.1.0.11']);
    assert.deepEqual(ips(C('v2')), ['10.1.0.12']);
    assert.deepEqual(ips(C('all')), ['10.1.0.11', '10.1.0.12']);
    assert.deepEqual(ips(C('v9')), []);
  });

  it('answers unknown services with no endpoints; malformed names do not exist', () => {
    assert.deepEqual(must(TYPE.EDS, mesh(), proxy(), C('', 5000, 'nope.x.svc.cluster.local')).endpoints, []);
    assert.equal(gen(TYPE.EDS, mesh(), proxy(), 'nope'), undefined);
  });

  it('uses EndpointSlice conditions and drops duplicate addresses', () => {
    const slice = {
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', addressType: 'IPv4',
      metadata: { name: 'helloworld-abc', namespace: 'default', labels: { 'kubernetes.io/service-name': 'helloworld' } },
      ports: [{ name: 'grpc', port: 50051 }],
      endpoints: [
        { addresses: ['10.1.0.11'], conditions: { ready: true }, targetRef: { kind: 'Pod', name: 'helloworld-v1' } },
        { addresses: ['10.1.0.11'], conditions: { ready: true } },
        { addresses: ['10.1.0.12'], conditions: { ready: false, serving: true, terminating: true } },
      ],
    };
    const cla = must(TYPE.EDS, mesh(slice), proxy(), C());
    assert.deepEqual(cla.endpoints.flatMap((g: Obj) => g.lb_endpoints.map((e: Obj) => e.endpoint.address.socket_address.address)), ['10.1.0.11']);
  });
});

describe('grpc generator: class key', () => {
  const every = (ctx: PushContext, p: Proxy) => [
    [TYPE.LDS, 'helloworld:5000'], [TYPE.RDS, C()], [TYPE.CDS, C()], [TYPE.CDS, C('v1')], [TYPE.EDS, C('v1')],
  ].map(([t, n]) => JSON.stringify(grpcGenerator.generate(t as TypeUrl, ctx, p, n as string) ?? null));

  it('differs for proxies in different namespaces, whose outputs differ', () => {
    // a DestinationRule only its own namespace sees, and a namespace-scoped VirtualService match
    const ctx = mesh(
      dr({ exportTo: ['.'], subsets: SUBSETS }),
      vs([{ match: [{ sourceNamespace: 'default' }], route: [{ destination: { host: 'helloworld', subset: 'v1' } }] }]),
    );
    const a = proxy({ ns: 'default' });
    const b = proxy({ ns: 'other' });
    assert.notEqual(grpcGenerator.classKey(ctx, a), grpcGenerator.classKey(ctx, b));
    assert.notDeepEqual(every(ctx, a), every(ctx, b));
  });

  it('differs for proxies whose labels a VirtualService selects on, whose outputs differ', () => {
    const ctx = mesh(dr({ subsets: SUBSETS }), vs([
      { match: [{ sourceLabels: { track: 'canary' } }], route: [{ destination: { host: 'helloworld', subset: 'v2' } }] },
      { route: [{ destination: { host: 'helloworld', subset: 'v1' } }] },
    ]));
    const stable = proxy({ labels: { app: 'client', track: 'stable' } });
    const canary = proxy({ labels: { app: 'client', track: 'canary' } });
    const unlabeled = proxy({ labels: { app: 'client' } });
    assert.notEqual(grpcGenerator.classKey(ctx, stable), grpcGenerator.classKey(ctx, canary));
    assert.notEqual(grpcGenerator.classKey(ctx, unlabeled), grpcGenerator.classKey(ctx, canary));
    assert.notDeepEqual(every(ctx, stable), every(ctx, canary));
  });

  it('is shared by replicas with the same facts (other pod names, IPs and unrelated labels)', () => {
    const ctx = mesh(dr({ subsets: SUBSETS }), vs([
      { match: [{ sourceLabels: { track: 'canary' } }], route: [{ destination: { host: 'helloworld', subset: 'v2' } }] },
      { route: [{ destination: { host: 'helloworld', subset: 'v1' } }] },
    ]));
    const r1 = proxy({ pod: 'client-1', ip: '10.1.0.20', labels: { app: 'client', track: 'canary', 'pod-template-hash': 'aaa', 'statefulset.kubernetes.io/pod-name': 'client-1' } });
    const r2 = proxy({ pod: 'client-2', ip: '10.1.0.21', labels: { app: 'client', track: 'canary', 'pod-template-hash': 'bbb', 'statefulset.kubernetes.io/pod-name': 'client-2' } });
    assert.equal(grpcGenerator.classKey(ctx, r1), grpcGenerator.classKey(ctx, r2));
    assert.deepEqual(every(ctx, r1), every(ctx, r2));
    // labels do not matter at all when no VirtualService selects sources by label
    const plain = mesh(dr({ subsets: SUBSETS }));
    assert.equal(grpcGenerator.classKey(plain, proxy({ labels: { track: 'canary' } })), grpcGenerator.classKey(plain, proxy({ labels: { track: 'stable' } })));
  });

  it('applies a DestinationRule with a workloadSelector only to matching workloads of its namespace, and keys on it', () => {
    const selected = dr({
      workloadSelector: { matchLabels: { track: 'canary' } },
      trafficPolicy: { loadBalancer: { consistentHash: { httpHeaderName: 'x-user' } } },
    }, 'for-canary');
    const ctx = mesh(dr({ subsets: SUBSETS }), selected);
    const canary = proxy({ labels: { app: 'client', track: 'canary' } });
    const stable = proxy({ labels: { app: 'client', track: 'stable' } });
    const elsewhere = proxy({ ns: 'other', labels: { app: 'client', track: 'canary' } });
    assert.equal(ctx.destinationRuleFor('default', 'helloworld.default.svc.cluster.local', canary.labels)?.config.metadata.name, 'for-canary');
    assert.notEqual(ctx.destinationRuleFor('default', 'helloworld.default.svc.cluster.local', stable.labels)?.config.metadata.name, 'for-canary');
    assert.notEqual(ctx.destinationRuleFor('other', 'helloworld.default.svc.cluster.local', elsewhere.labels)?.config.metadata.name, 'for-canary');
    assert.notEqual(grpcGenerator.classKey(ctx, canary), grpcGenerator.classKey(ctx, stable));
    const lb = (p: Proxy) => must(TYPE.CDS, ctx, p, C()).lb_policy;
    assert.equal(lb(canary), 'RING_HASH');
    assert.equal(lb(stable), 'ROUND_ROBIN');
  });

  it('uses the pod labels when the node metadata has none', () => {
    const ctx = mesh(
      pod('client-2', 'default', '10.1.0.21', { app: 'client', track: 'canary' }),
      vs([{ match: [{ sourceLabels: { track: 'canary' } }], route: [{ destination: { host: 'helloworld' } }] }]),
    );
    const fromPod = proxy({ pod: 'client-2', ip: '10.1.0.21' });
    assert.notEqual(grpcGenerator.classKey(ctx, fromPod), grpcGenerator.classKey(ctx, proxy()));
    assert.notEqual(routesOf(ctx, fromPod)[0].name, 'default');
    assert.equal(routesOf(ctx, proxy())[0].name, 'default');
  });
});

describe('grpc generator: wildcard and protos', () => {
  it('answers a wildcard LDS with every service listener and nothing for other types', () => {
    const ctx = mesh();
    assert.deepEqual(grpcGenerator.wildcardNames(TYPE.LDS, ctx, proxy()), [`${HOST}:5000`]);
    for (const t of [TYPE.CDS, TYPE.RDS, TYPE.EDS]) assert.deepEqual(grpcGenerator.wildcardNames(t, ctx, proxy()), []);
  });

  it('the round-trip check catches misspelt fields, wrong enums and unknown Any types', () => {
    assert.deepEqual(roundTripLosses('envoy.config.cluster.v3.Cluster', { name: 'x', lb_policy: 'ROUND_ROBIN' }), []);
    assert.match(roundTripLosses('envoy.config.cluster.v3.Cluster', { name: 'x', lbPolicy: 'RING_HASH' })[0]!, /lbPolicy: lost/);
    assert.match(roundTripLosses('envoy.config.cluster.v3.Cluster', { name: 'x', lb_policy: 'MOST_REQUEST' })[0]!, /lb_policy: wrote "MOST_REQUEST"/);
    assert.ok(roundTripLosses('envoy.config.route.v3.Route', { typed_per_filter_config: { f: { '@type': 'type.googleapis.com/not.a.Type', x: 1 } } }).length > 0);
  });
});
