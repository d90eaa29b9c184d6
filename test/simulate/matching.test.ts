import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { clusterFacts, simulate, ResourceSet } from '../../src/simulate/envoy-sim.js';
import { re2FullMatch, re2GlobalReplace, InvalidRegexError } from '../../src/regex/re2.js';
import { headerMatches, queryParameterMatches, parseQuery, selectVirtualHost } from '../../src/simulate/route-match.js';

// The simulator's matching rules on hand-written Envoy resources: each case pins one documented Envoy
// behaviour (config.listener.v3.FilterChainMatch, config.route.v3 VirtualHost/RouteMatch/HeaderMatcher/
// QueryParameterMatcher, RE2 full-match semantics).

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const TCP = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';

const hdrs = (o: Record<string, string | string[]>) => new Map(Object.entries(o).map(([k, v]) => [k, Array.isArray(v) ? v : [v]]));

describe('simulator: RE2 translation', () => {
  it('anchors a full match, whatever alternation or flags', () => {
    assert.equal(re2FullMatch('a|ab', 'ab'), true);
    assert.equal(re2FullMatch('/api/.*', '/api/v1'), true);
    assert.equal(re2FullMatch('/api', '/api/v1'), false);
    assert.equal(re2FullMatch('(?i)/API/v[0-9]+', '/api/V12'), true);
    assert.equal(re2FullMatch('(?s)a.b', 'a\nb'), true);
    assert.equal(re2FullMatch('a.b', 'a\nb'), false);
  });

  it('reads RE2-only syntax: named groups, \\Q…\\E, POSIX classes, escaped punctuation, \\pL, \\A \\z', () => {
    assert.equal(re2FullMatch('(?P<v>v[12])', 'v2'), true);
    assert.equal(re2FullMatch('\\Q/a.b\\E', '/a.b'), true);
    assert.equal(re2FullMatch('\\Q/a.b\\E', '/axb'), false);
    assert.equal(re2FullMatch('[[:digit:]]+-[[:alpha:]]', '42-x'), true);
    assert.equal(re2FullMatch('a\\-b\\_c', 'a-b_c'), true);
    assert.equal(re2FullMatch('\\pL+', 'héllo'), true);
    assert.equal(re2FullMatch('\\Aab\\z', 'ab'), true);
    assert.equal(re2FullMatch('a\\sb', 'a\u000bb'), false, 'RE2 \\s has no \\v');
  });

  it('refuses what RE2 refuses (Envoy would NACK): lookaround, backreferences', () => {
    assert.throws(() => re2FullMatch('(?=a)a', 'a'), InvalidRegexError);
    assert.throws(() => re2FullMatch('(a)\\1', 'aa'), InvalidRegexError);
  });

  it('matches in linear time: `/(a+)+$` on 40 a\'s and a ! (JavaScript backtracking never returns)', { timeout: 180_000 }, () => {
    // a backtracking engine takes 2^n steps here; RE2 walks the input once
    assert.equal(re2FullMatch('/(a+)+$', `/${'a'.repeat(40)}!`), false);
    assert.equal(re2FullMatch('/(a+)+$', `/${'a'.repeat(100_000)}!`), false);
    assert.equal(re2FullMatch('/(a+)+', `/${'a'.repeat(100_000)}`), true);
  });

  it('refuses repeat counts RE2 refuses, with RE2\'s message', () => {
    assert.throws(() => re2FullMatch('(a{1000}){1000}', 'a'), /invalid repeat count: `\{1000\}`/);
    assert.throws(() => re2FullMatch('((a{10}){10}){11}', 'a'), /invalid repeat count: `\{11\}`/);
  });

  it('GlobalReplace with \\N substitutions', () => {
    assert.equal(re2GlobalReplace('^/service/([^/]+)(/.*)$', '/service/foo/v1/api', '\\2/instance/\\1'), '/v1/api/instance/foo');
    assert.equal(re2GlobalReplace('o', 'foo', '0'), 'f00');
    assert.equal(re2GlobalReplace('a*', 'baaac', '-'), '-b-c-', 'RE2 skips an empty match where the last one ended');
    assert.equal(re2GlobalReplace('(b)', 'abc', '[\\0|\\1|\\\\]'), 'a[b|b|\\]c');
  });
});

describe('simulator: HeaderMatcher (HeaderUtility::matchHeaders)', () => {
  const h = hdrs({ 'x-v': 'v1', 'x-n': '42', 'x-multi': ['a', 'b'], 'x-empty': '' });
  const cases: [string, Obj, boolean][] = [
    ['string_match exact', { name: 'x-v', string_match: { exact: 'v1' } }, true],
    ['string_match exact other', { name: 'x-v', string_match: { exact: 'v2' } }, false],
    ['string_match prefix ignore_case', { name: 'x-v', string_match: { prefix: 'V', ignore_case: true } }, true],
    ['string_match suffix', { name: 'x-v', string_match: { suffix: '1' } }, true],
    ['string_match contains', { name: 'x-multi', string_match: { contains: 'a,b' } }, true],
    ['string_match safe_regex full', { name: 'x-v', string_match: { safe_regex: { regex: 'v' } } }, false],
    ['legacy exact', { name: 'x-v', exact_match: 'v1' }, true],
    ['legacy empty exact matches any value', { name: 'x-v', exact_match: '' }, true],
    ['legacy prefix', { name: 'x-v', prefix_match: 'v' }, true],
    ['legacy suffix', { name: 'x-v', suffix_match: 'x' }, false],
    ['legacy contains', { name: 'x-v', contains_match: '1' }, true],
    ['legacy safe_regex', { name: 'x-v', safe_regex_match: { regex: 'v[0-9]' } }, true],
    ['range in [40,43)', { name: 'x-n', range_match: { start: 40, end: 43 } }, true],
    ['range end exclusive', { name: 'x-n', range_match: { start: 0, end: 42 } }, false],
    ['range on non-number', { name: 'x-v', range_match: { start: 0, end: 100 } }, false],
    ['present', { name: 'x-v', present_match: true }, true],
    ['present on missing', { name: 'x-none', present_match: true }, false],
    ['present_match false on missing', { name: 'x-none', present_match: false }, true],
    ['present inverted on missing', { name: 'x-none', present_match: true, invert_match: true }, true],
    ['exact on missing', { name: 'x-none', string_match: { exact: 'v1' } }, false],
    ['exact inverted on missing (no treat_missing) is still false', { name: 'x-none', string_match: { exact: 'v1' }, invert_match: true }, false],
    ['exact inverted on missing with treat_missing_header_as_empty', { name: 'x-none', string_match: { exact: 'v1' }, invert_match: true, treat_missing_header_as_empty: true }, true],
    ['inverted exact on a different value', { name: 'x-v', string_match: { exact: 'v2' }, invert_match: true }, true],
    ['empty value exact ""', { name: 'x-empty', string_match: { exact: '' } }, true],
    ['no specifier = present', { name: 'x-v' }, true],
    ['name is case-insensitive', { name: 'X-V', string_match: { exact: 'v1' } }, true],
  ];
  for (const [name, hm, want] of cases) {
    it(name, () => assert.equal(headerMatches(hm, h), want));
  }
});

describe('simulator: QueryParameterMatcher', () => {
  const q = parseQuery('/p?a=1&b=x%20y&a=2&flag');
  it('matches the first value, decoded; presence; missing parameter never matches', () => {
    assert.equal(queryParameterMatches({ name: 'a', string_match: { exact: '1' } }, q), true);
    assert.equal(queryParameterMatches({ name: 'a', string_match: { exact: '2' } }, q), false);
    assert.equal(queryParameterMatches({ name: 'b', string_match: { exact: 'x y' } }, q), true);
    assert.equal(queryParameterMatches({ name: 'flag', present_match: true }, q), true);
    assert.equal(queryParameterMatches({ name: 'c', present_match: true }, q), false);
    assert.equal(queryParameterMatches({ name: 'b', string_match: { safe_regex: { regex: 'x.*' } } }, q), true);
  });
});

describe('simulator: virtual host selection', () => {
  const rc = {
    name: 'rc',
    virtual_hosts: [
      { name: 'exact', domains: ['www.foo.com', 'www.foo.com:8080'] },
      { name: 'suffix-short', domains: ['*.com'] },
      { name: 'suffix-long', domains: ['*.foo.com'] },
      { name: 'dash', domains: ['*-bar.foo.com'] },
      { name: 'prefix', domains: ['foo.*', 'foo.bar.*'] },
      { name: 'any', domains: ['*'] },
    ],
  };
  const cases: [string, string][] = [
    ['www.foo.com', 'exact'], ['WWW.Foo.COM', 'exact'], ['www.foo.com:8080', 'exact'],
    ['www.foo.com:9090', 'any'], // the port is part of the host unless stripped: no suffix matches
    ['a.foo.com', 'suffix-long'], ['baz-bar.foo.com', 'dash'], ['x.y.com', 'suffix-short'],
    ['.foo.com', 'suffix-short'], // the wildcard never matches the empty string
    ['foo.bar.baz', 'prefix'], ['foo.org', 'prefix'], ['bar.org', 'any'],
  ];
  for (const [host, want] of cases) {
    it(`${host} → ${want}`, () => assert.equal(selectVirtualHost(rc, host)?.virtualHost.name, want));
  }
  it('ignore_port_in_host_matching strips the port first', () => {
    assert.equal(selectVirtualHost({ ...rc, ignore_port_in_host_matching: true }, 'www.foo.com:9090')?.virtualHost.name, 'exact');
    assert.equal(selectVirtualHost({ ...rc, ignore_port_in_host_matching: true }, '[::1]:80')?.virtualHost.name, 'any');
  });
  it('no `*` and nothing else → none', () => {
    assert.equal(selectVirtualHost({ name: 'x', virtual_hosts: [{ name: 'a', domains: ['a'] }] }, 'b'), undefined);
  });
});

// ---------------------------------------------------------------------------------------------------------
// full pipeline on a hand-written Istio-like sidecar

function hcm(routeConfigName: string, extra: Obj = {}): Obj {
  return {
    name: 'envoy.filters.network.http_connection_manager',
    typed_config: { '@type': HCM, stat_prefix: 's', rds: { route_config_name: routeConfigName, config_source: { ads: {} } }, http_filters: [{ name: 'envoy.filters.http.router' }], ...extra },
  };
}
const tcpProxy = (cluster: string): Obj => ({ name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': TCP, stat_prefix: cluster, cluster } });

const WORLD = new ResourceSet({
  listeners: [
    {
      name: 'virtualOutbound', address: { socket_address: { address: '0.0.0.0', port_value: 15001 } }, use_original_dst: true,
      filter_chains: [{ name: 'virtualOutbound-blackhole', filter_chain_match: { destination_port: 15001 }, filters: [tcpProxy('BlackHoleCluster')] }],
      default_filter_chain: { name: 'PassthroughFilterChain', filters: [tcpProxy('PassthroughCluster')] },
    },
    {
      name: '0.0.0.0_80', address: { socket_address: { address: '0.0.0.0', port_value: 80 } }, bind_to_port: false,
      listener_filters: [{ name: 'envoy.filters.listener.http_inspector', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.http_inspector.v3.HttpInspector' } }],
      filter_chains: [
        { name: 'http', filter_chain_match: { application_protocols: ['http/1.1', 'h2c'] }, filters: [hcm('80', { merge_slashes: true, normalize_path: true })] },
        { name: 'tcp', filters: [tcpProxy('PassthroughCluster')] },
      ],
    },
    {
      name: '10.96.0.9_3306', address: { socket_address: { address: '10.96.0.9', port_value: 3306 } }, bind_to_port: { value: false },
      filter_chains: [{ name: 'mysql', filters: [tcpProxy('outbound|3306||mysql.db.svc.cluster.local')] }],
    },
    {
      name: '0.0.0.0_443', address: { socket_address: { address: '0.0.0.0', port_value: 443 } }, bind_to_port: false,
      listener_filters: [{ name: 'envoy.filters.listener.tls_inspector', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector' } }],
      filter_chains: [
        { name: 'exact-sni', filter_chain_match: { server_names: ['api.example.com'] }, filters: [tcpProxy('exact')] },
        { name: 'wild-sni', filter_chain_match: { server_names: ['*.example.com'] }, filters: [tcpProxy('wild')] },
        { name: 'tls-any', filter_chain_match: { transport_protocol: 'tls' }, filters: [tcpProxy('tls-any')] },
        { name: 'raw', filter_chain_match: { transport_protocol: 'raw_buffer' }, filters: [tcpProxy('raw')] },
      ],
    },
    {
      name: 'virtualInbound', address: { socket_address: { address: '0.0.0.0', port_value: 15006 } },
      filter_chains: [
        { name: 'inbound-port-9080', filter_chain_match: { destination_port: 9080, prefix_ranges: [{ address_prefix: '10.1.0.0', prefix_len: 16 }] }, filters: [tcpProxy('wide')] },
        { name: 'inbound-port-9080-narrow', filter_chain_match: { destination_port: 9080, prefix_ranges: [{ address_prefix: '10.1.0.11', prefix_len: { value: 32 } }] }, filters: [tcpProxy('narrow')] },
        { name: 'inbound-port-9080-from-local', filter_chain_match: { destination_port: 9080, prefix_ranges: [{ address_prefix: '10.1.0.11', prefix_len: 32 }], source_type: 'SAME_IP_OR_LOOPBACK' }, filters: [tcpProxy('local')] },
        { name: 'inbound-port-7000-only-from-pod', filter_chain_match: { destination_port: 7000, source_prefix_ranges: [{ address_prefix: '10.9.0.0', prefix_len: 16 }] }, filters: [tcpProxy('7000')] },
        { name: 'inbound-any-port', filter_chain_match: { prefix_ranges: [{ address_prefix: '0.0.0.0', prefix_len: 0 }] }, filters: [tcpProxy('InboundPassthroughCluster')] },
      ],
    },
  ],
  routes: [
    {
      name: '80',
      request_headers_to_add: [{ header: { key: 'x-rc', value: '1' } }],
      virtual_hosts: [
        {
          name: 'reviews.default.svc.cluster.local:80', domains: ['reviews.default.svc.cluster.local', 'reviews', 'reviews:80', '10.96.0.7', '10.96.0.7:80'],
          routes: [
            { name: 'exact', match: { path: '/exact', case_sensitive: { value: false } }, route: { cluster: 'exact', prefix_rewrite: '/rewritten' } },
            { name: 'hdr', match: { prefix: '/', headers: [{ name: 'end-user', string_match: { exact: 'jason' } }] }, route: { cluster: 'outbound|80|v2|reviews.default.svc.cluster.local', timeout: '2.5s' } },
            { name: 'q', match: { prefix: '/q', query_parameters: [{ name: 'debug', string_match: { exact: 'on' } }] }, direct_response: { status: 418, body: { inline_string: 'teapot' } } },
            { name: 'regex', match: { safe_regex: { regex: '/api/v[0-9]+/.*' } }, route: { cluster: 'api', regex_rewrite: { pattern: { regex: '^/api/(v[0-9]+)/(.*)$' }, substitution: '/\\2?ver=\\1' } } },
            { name: 'sep', match: { path_separated_prefix: '/sep' }, route: { cluster: 'sep' } },
            { name: 'moved', match: { prefix: '/old/' }, redirect: { prefix_rewrite: '/new/', host_redirect: 'new.example.com', response_code: 'FOUND' } },
            { name: 'half', match: { prefix: '/half', runtime_fraction: { default_value: { numerator: 50, denominator: 'HUNDRED' } } }, route: { cluster: 'half' } },
            {
              name: 'default', match: { prefix: '/' },
              route: { weighted_clusters: { clusters: [{ name: 'v1', weight: { value: 75 } }, { name: 'v3', weight: 25 }] }, timeout: { seconds: 0 }, retry_policy: { num_retries: 2, retry_on: '5xx' }, hash_policy: [{ header: { header_name: 'x-user' } }] },
              typed_per_filter_config: { 'envoy.filters.http.fault': { '@type': 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault', abort: { http_status: 503 } } },
            },
          ],
        },
        { name: 'allow_any', domains: ['*'], routes: [{ name: 'allow_any', match: { prefix: '/' }, route: { cluster: 'PassthroughCluster' } }] },
      ],
    },
  ],
  clusters: [
    { name: 'outbound|80|v2|reviews.default.svc.cluster.local', type: 'EDS', lb_policy: 'LEAST_REQUEST', eds_cluster_config: { service_name: 'outbound|80|v2|reviews.default.svc.cluster.local' }, transport_socket_matches: [{ name: 'tlsMode-istio' }, { name: 'tlsMode-disabled' }] },
    { name: 'v1', type: 'EDS' },
    { name: 'PassthroughCluster', type: 'ORIGINAL_DST', lb_policy: 'CLUSTER_PROVIDED' },
  ],
});

const http = (o: Obj) => simulate(WORLD, { destinationIp: '10.96.0.7', port: 80, host: 'reviews', ...o });

describe('simulator: listeners and filter chains', () => {
  it('virtualOutbound hands a connection to the listener bound to the original destination', () => {
    const r = http({});
    assert.equal(r.listener, '0.0.0.0_80');
    assert.equal(r.handedOffFrom, 'virtualOutbound');
    assert.equal(r.filterChain, 'http');
    assert.deepEqual(r.connection?.applicationProtocols, ['http/1.1']);
  });

  it('an exact IP:port listener wins over the wildcard address', () => {
    const r = simulate(WORLD, { destinationIp: '10.96.0.9', port: 3306, protocol: 'tcp' });
    assert.equal(r.listener, '10.96.0.9_3306');
    assert.deepEqual(r.tcpClusters, [{ name: 'outbound|3306||mysql.db.svc.cluster.local', weight: 1 }]);
  });

  it('no listener for the original destination → the virtual listener: its default (passthrough) chain', () => {
    const r = simulate(WORLD, { destinationIp: '93.184.216.34', port: 8443, protocol: 'tcp' });
    assert.equal(r.listener, 'virtualOutbound');
    assert.equal(r.filterChain, 'PassthroughFilterChain');
    assert.equal(r.defaultFilterChain, true);
    assert.equal(r.clusters[0]?.type, 'ORIGINAL_DST');
  });

  it('plaintext non-HTTP on an HTTP port falls to the chain without application_protocols', () => {
    assert.equal(http({ protocol: 'tcp' }).filterChain, 'tcp');
  });

  it('SNI: exact name, then *.suffix, then chains without server_names; raw_buffer without TLS', () => {
    const tls = (sni?: string) => simulate(WORLD, { destinationIp: '1.2.3.4', port: 443, protocol: 'tcp', tls: sni === undefined ? { alpn: [] } : { sni, alpn: [] } }).filterChain;
    assert.equal(tls('api.example.com'), 'exact-sni');
    assert.equal(tls('www.example.com'), 'wild-sni');
    assert.equal(tls('a.b.example.com'), 'wild-sni');
    assert.equal(tls('example.org'), 'tls-any');
    assert.equal(tls(), 'tls-any');
    assert.equal(simulate(WORLD, { destinationIp: '1.2.3.4', port: 443, protocol: 'tcp' }).filterChain, 'raw');
  });

  it('inbound: destination port, then the most specific destination prefix, then source type', () => {
    const inbound = (o: Obj) => simulate(WORLD, { entryPort: 15006, destinationIp: '10.1.0.11', port: 9080, protocol: 'tcp', ...o }).filterChain;
    assert.equal(inbound({}), 'inbound-port-9080-narrow');
    assert.equal(inbound({ source: { ip: '10.1.0.11' } }), 'inbound-port-9080-from-local');
    assert.equal(inbound({ source: { ip: '127.0.0.6' } }), 'inbound-port-9080-from-local');
    assert.equal(inbound({ destinationIp: '10.1.0.12' }), 'inbound-port-9080');
    assert.equal(inbound({ port: 8080 }), 'inbound-any-port');
  });

  it('no backtracking: a port-specific chain whose source range fails does not fall back to the any-port chain', () => {
    const r = simulate(WORLD, { entryPort: 15006, destinationIp: '10.1.0.11', port: 7000, protocol: 'tcp', source: { ip: '10.1.0.20' } });
    assert.equal(r.failure, 'no_filter_chain');
    const ok = simulate(WORLD, { entryPort: 15006, destinationIp: '10.1.0.11', port: 7000, protocol: 'tcp', source: { ip: '10.9.1.1' } });
    assert.equal(ok.filterChain, 'inbound-port-7000-only-from-pod');
  });
});

describe('simulator: routes', () => {
  it('first match in order; header route; exact path case-insensitive with prefix_rewrite', () => {
    assert.equal(http({ path: '/EXACT?x=1' }).http?.routeName, 'exact');
    assert.equal(http({ path: '/EXACT?x=1' }).http?.upstreamPath, '/rewritten?x=1');
    const r = http({ path: '/exact', headers: { 'end-user': 'jason' } });
    assert.equal(r.http?.routeName, 'exact', 'the earlier route wins even though the header route also matches');
    const h = http({ path: '/other', headers: { 'end-user': 'jason' } }).http!;
    assert.equal(h.routeName, 'hdr');
    assert.equal(h.timeout, '2.5s');
    assert.deepEqual(http({ headers: { 'end-user': 'jason' } }).clusters.map((c) => [c.name, c.lbPolicy, c.transportSocketMatches.length]), [['outbound|80|v2|reviews.default.svc.cluster.local', 'LEAST_REQUEST', 2]]);
  });

  it('query parameter route with direct response', () => {
    const r = http({ path: '/q', query: { debug: 'on' } }).http!;
    assert.equal(r.action, 'direct_response');
    assert.deepEqual(r.directResponse, { status: 418, body: 'teapot' });
    assert.equal(http({ path: '/q?debug=off' }).http?.routeName, 'default');
  });

  it('safe_regex route (full match on the path without query) with regex_rewrite', () => {
    const r = http({ path: '/api/v2/users?id=1' }).http!;
    assert.equal(r.routeName, 'regex');
    assert.equal(r.upstreamPath, '/users?ver=v2?id=1');
    assert.equal(http({ path: '/api/vx/users' }).http?.routeName, 'default');
  });

  it('path_separated_prefix matches the prefix as whole segments only', () => {
    assert.equal(http({ path: '/sep' }).http?.routeName, 'sep');
    assert.equal(http({ path: '/sep/x' }).http?.routeName, 'sep');
    assert.equal(http({ path: '/sep?x' }).http?.routeName, 'sep');
    assert.equal(http({ path: '/separate' }).http?.routeName, 'default');
  });

  it('redirect: prefix rewrite, new host, 302', () => {
    const r = http({ path: '/old/page?a=1' }).http!;
    assert.deepEqual([r.action, r.redirect?.status, r.redirect?.location], ['redirect', 302, 'http://new.example.com/new/page?a=1']);
  });

  it('runtime_fraction samples the request random value', () => {
    assert.equal(http({ path: '/half', random: 49 }).http?.routeName, 'half');
    assert.equal(http({ path: '/half', random: 50 }).http?.routeName, 'default');
  });

  it('HCM normalize_path and merge_slashes apply before matching', () => {
    assert.equal(http({ path: '//sep/./x/../' }).http?.routeName, 'sep');
  });

  it('weighted clusters, retry, hash policy, fault and header mutations of the default route', () => {
    const r = http({ path: '/', random: 80 });
    const o = r.http!;
    assert.deepEqual(o.clusters, [{ name: 'v1', weight: 75 }, { name: 'v3', weight: 25 }]);
    assert.equal(o.totalWeight, 100);
    assert.equal(o.pickedCluster, 'v3');
    assert.equal(http({ path: '/', random: 74 }).http?.pickedCluster, 'v1');
    assert.equal(o.timeout, '0s');
    assert.deepEqual(o.retryPolicy, { num_retries: 2, retry_on: '5xx' });
    assert.deepEqual(o.hashPolicy, [{ header: { header_name: 'x-user' } }]);
    assert.equal(o.fault?.abort.http_status, 503);
    assert.deepEqual(o.headers.routeConfiguration.requestHeadersToAdd, [{ header: { key: 'x-rc', value: '1' } }]);
    assert.deepEqual(r.clusters.map((c) => [c.name, c.found]), [['v1', true], ['v3', false]]);
  });

  it('an unknown host goes to the `*` virtual host; the Host port selects the ported domain', () => {
    assert.equal(http({ host: 'example.org' }).http?.virtualHost, 'allow_any');
    assert.equal(http({ host: 'reviews:80' }).http?.virtualHost, 'reviews.default.svc.cluster.local:80');
    assert.equal(http({ host: 'reviews:81' }).http?.virtualHost, 'allow_any');
  });

  it('names the missing route configuration', () => {
    const w = new ResourceSet({ listeners: [{ name: 'l', address: { socket_address: { address: '0.0.0.0', port_value: 80 } }, filter_chains: [{ filters: [hcm('nope')] }] }] });
    const r = simulate(w, { entryPort: 0, port: 80 });
    assert.equal(r.failure, 'no_route_configuration');
  });
});

describe('simulator: inputs', () => {
  it('reads an Envoy admin /config_dump (static and dynamic, active listeners only)', () => {
    const rs = ResourceSet.fromDump({
      configs: [
        { '@type': 'type.googleapis.com/envoy.admin.v3.ListenersConfigDump', static_listeners: [{ listener: { name: 's' } }], dynamic_listeners: [{ name: 'd', active_state: { listener: { name: 'd' } } }, { name: 'warming', warming_state: { listener: { name: 'warming' } } }] },
        { '@type': 'type.googleapis.com/envoy.admin.v3.RoutesConfigDump', dynamic_route_configs: [{ route_config: { name: '80' } }] },
        { '@type': 'type.googleapis.com/envoy.admin.v3.ClustersConfigDump', static_clusters: [{ cluster: { name: 'xds-grpc' } }], dynamic_active_clusters: [{ cluster: { name: 'outbound|80||a' } }] },
      ],
    });
    assert.deepEqual(rs.listeners.map((l) => l.name), ['s', 'd']);
    assert.deepEqual([...rs.routes.keys()], ['80']);
    assert.deepEqual([...rs.clusters.keys()], ['xds-grpc', 'outbound|80||a']);
  });

  it('reads EDS from a config_dump taken with ?include_eds and reports the picked cluster\'s locality groups', () => {
    const cla = {
      cluster_name: 'outbound|80||a',
      endpoints: [
        { locality: { region: 'r1', zone: 'z1' }, lb_endpoints: [{ endpoint: { address: { socket_address: { address: '10.0.0.1', port_value: 80 } } } }], load_balancing_weight: { value: 3 } },
        { locality: { region: 'r2' }, priority: 1, lb_endpoints: [{ endpoint: { address: { socket_address: { address: '10.0.0.2', port_value: 80 } } } }] },
      ],
    };
    const rs = ResourceSet.fromDump({
      configs: [
        { '@type': 'type.googleapis.com/envoy.admin.v3.ClustersConfigDump', dynamic_active_clusters: [{ cluster: { name: 'outbound|80||a', type: 'EDS', eds_cluster_config: { eds_config: { ads: {} } } } }] },
        { '@type': 'type.googleapis.com/envoy.admin.v3.EndpointsConfigDump', dynamic_endpoint_configs: [{ endpoint_config: cla }] },
      ],
    });
    // without service_name, EDS asks for the cluster's own name
    assert.deepEqual(clusterFacts(rs, 'outbound|80||a').localities, [
      { locality: 'r1/z1/', priority: 0, weight: 3, endpoints: ['10.0.0.1:80'] },
      { locality: 'r2//', priority: 1, endpoints: ['10.0.0.2:80'] },
    ]);
    assert.throws(() => new ResourceSet({ endpoints: [cla, cla] }), /two ClusterLoadAssignments named "outbound\|80\|\|a"/);
  });

  it('cluster facts fill in what Envoy assumes when a field is unset', () => {
    const rs = new ResourceSet({ clusters: [{ name: 'bare', type: 'STATIC' }] });
    const c = clusterFacts(rs, 'bare');
    assert.equal(c.connectTimeout, '5s');
    assert.deepEqual(c.circuitBreakers, { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 });
    assert.equal(c.healthyPanicThreshold, 50);
    assert.equal(c.localityWeightedLb, false);
    assert.equal(c.upstreamHttp, undefined);
    assert.equal(c.localities, undefined);
  });

  it('slow start counts only for the lb policies that use it; HIGH-priority thresholds are not the DEFAULT ones', () => {
    const slow = { slow_start_config: { slow_start_window: '30s' } };
    const rs = new ResourceSet({
      clusters: [
        { name: 'rr', round_robin_lb_config: slow, circuit_breakers: { thresholds: [{ priority: 'HIGH', max_connections: { value: 5 } }, { max_retries: { value: 9 } }] } },
        { name: 'ring', lb_policy: 'RING_HASH', round_robin_lb_config: slow },
      ],
    });
    assert.deepEqual(clusterFacts(rs, 'rr').slowStart, slow.slow_start_config);
    assert.deepEqual(clusterFacts(rs, 'rr').circuitBreakers, { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 9 });
    assert.equal(clusterFacts(rs, 'ring').slowStart, undefined);
  });

  it('names what is wrong with resources and requests', () => {
    assert.throws(() => new ResourceSet({ clusters: [{ name: 'a' }, { name: 'a' }] }), /two Clusters named "a"/);
    assert.throws(() => new ResourceSet({ listeners: [{ address: {} } as never] }), /listeners/);
    assert.throws(() => simulate(WORLD, { port: 0 }), /simulator request: port/);
  });

  it('matches IPv6 prefixes and the v4-mapped form', () => {
    const w = new ResourceSet({
      listeners: [{
        name: 'in', address: { socket_address: { address: '::', port_value: 15006 } },
        filter_chains: [
          { name: 'v6', filter_chain_match: { prefix_ranges: [{ address_prefix: 'fd00::', prefix_len: 8 }] }, filters: [tcpProxy('v6')] },
          { name: 'mapped', filter_chain_match: { prefix_ranges: [{ address_prefix: '::ffff:10.0.0.0', prefix_len: 104 }] }, filters: [tcpProxy('mapped')] },
        ],
      }],
    });
    const chain = (ip: string) => simulate(w, { entryPort: 15006, destinationIp: ip, port: 80, protocol: 'tcp' }).filterChain;
    assert.equal(chain('fd12::1'), 'v6');
    assert.equal(chain('::ffff:10.1.2.3'), 'mapped');
    assert.equal(chain('2001:db8::1'), undefined);
  });

  it('a `]` first in a class is a literal, as in RE2', () => {
    assert.equal(re2FullMatch('[]a]+', ']a]'), true);
    assert.equal(re2FullMatch('[^]a]', 'b'), true);
  });
});

describe('simulator: RE2 literals JavaScript spells differently', () => {
  it('braces that are not a repetition are literals; \\x{…} code points', () => {
    assert.equal(re2FullMatch('/api/{id}', '/api/{id}'), true);
    assert.equal(re2FullMatch('a{2}', 'aa'), true);
    assert.equal(re2FullMatch('a{2,}b{,', 'aaab{,'), true);
    assert.equal(re2FullMatch('\\x{41}\\x{1F600}', 'A😀'), true);
  });
});
