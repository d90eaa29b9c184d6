import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_MESH_CONFIG } from '../../../src/config/mesh-config.js';
import { envoyRouteMatch } from '../../../src/envoy/envoy-match.js';
import { roundTripLosses } from '../../support/envoy-check/proto-check.js';
import { BASE, C, dr, mesh, RATINGS, REVIEWS, routeConfig, routesFor, service, sidecar, vhost, vs, type Obj } from './lds-rds-fixture.js';

// Sidecar RDS: route configurations per port and VirtualService HTTP features, asserted on the Envoy
// fields istiod writes; every route configuration goes through Envoy's protos without losing a field.

const ZERO = { seconds: 0, nanos: 0 };
const reviewsVs = (http: Obj[], extra: Obj = {}) => vs('reviews', { hosts: ['reviews'], http, ...extra });
const only = (routes: Obj[]) => {
  assert.equal(routes.length, 1, JSON.stringify(routes));
  return routes[0]!;
};

describe('sidecar RDS: route configuration per port', () => {
  it('named PORT: a virtual host per HTTP service on the port, then allow_any to PassthroughCluster', () => {
    const rc = routeConfig(mesh(), sidecar(), '9080');
    assert.equal(rc.name, '9080');
    assert.deepEqual(rc.virtual_hosts.map((v: Obj) => v.name), [
      'productpage.default.svc.cluster.local:9080', `${RATINGS}:9080`, `${REVIEWS}:9080`, 'allow_any',
    ]);
    const any = vhost(rc, 'allow_any');
    assert.deepEqual(any.domains, ['*']);
    assert.deepEqual(any.routes, [{ name: 'allow_any', match: { prefix: '/' }, route: { cluster: 'PassthroughCluster', timeout: ZERO, max_grpc_timeout: ZERO } }]);
    assert.deepEqual(rc.validate_clusters, { value: false });
  });

  it('REGISTRY_ONLY: block_all answers unknown hosts with 502', () => {
    const rc = routeConfig(mesh([], BASE, { ...DEFAULT_MESH_CONFIG, outboundTrafficPolicy: 'REGISTRY_ONLY' }), sidecar(), '9080');
    assert.deepEqual(vhost(rc, 'block_all').routes[0].direct_response, { status: 502 });
  });

  it('domains: FQDN, short names relative to the proxy namespace, cluster IP, each with and without :PORT', () => {
    const vh = vhost(routeConfig(mesh(), sidecar(), '9080'), `${REVIEWS}:9080`);
    assert.deepEqual(vh.domains, [
      REVIEWS, `${REVIEWS}:9080`, `${REVIEWS}.`, `${REVIEWS}.:9080`,
      'reviews', 'reviews:9080', 'reviews.default.svc', 'reviews.default.svc:9080', 'reviews.default', 'reviews.default:9080',
      '10.96.0.10', '10.96.0.10:9080',
    ]);
    assert.equal(vh.include_request_attempt_count, true);
    // from another namespace the bare name means something else: not offered
    const other = vhost(routeConfig(mesh(), sidecar({ ns: 'other', pod: 'g', labels: { app: 'g' } }), '9080'), `${REVIEWS}:9080`);
    assert.ok(!other.domains.includes('reviews'));
    assert.ok(other.domains.includes('reviews.default'));
  });

  it('VirtualService hosts that are no service get their own virtual host on every port route', () => {
    const ctx = mesh([vs('api', { hosts: ['api.example.com'], http: [{ match: [{ port: 9080 }], route: [{ destination: { host: 'reviews', subset: 'v1' } }] }] })]);
    const rc = routeConfig(ctx, sidecar(), '9080');
    const vh = vhost(rc, 'api.example.com:9080');
    assert.deepEqual(vh.domains, ['api.example.com', 'api.example.com:9080']);
    assert.equal(vh.routes[0].route.cluster, C(REVIEWS, 9080, 'v1'));
    assert.equal(rc.virtual_hosts.at(-1).name, 'allow_any');
    // no route applies on 5000: no virtual host there
    assert.ok(!routeConfig(ctx, sidecar(), '5000').virtual_hosts.some((v: Obj) => v.name.startsWith('api.example.com')));
  });

  it('no domain appears in two virtual hosts (Envoy rejects the whole configuration): the first claim wins', () => {
    const ctx = mesh([vs('alias', { hosts: ['reviews.default'], http: [{ route: [{ destination: { host: 'ratings' } }] }] })]);
    const rc = routeConfig(ctx, sidecar(), '9080');
    const all = (rc.virtual_hosts as Obj[]).flatMap((v) => v.domains as string[]);
    assert.equal(new Set(all).size, all.length);
    assert.ok(vhost(rc, `${REVIEWS}:9080`).domains.includes('reviews.default'));
    assert.ok(!(rc.virtual_hosts as Obj[]).some((v) => v.name === 'reviews.default:9080'), 'a virtual host left without domains is dropped');
  });

  it('named FQDN:PORT (sniffed ports): only that service', () => {
    const rc = routeConfig(mesh(), sidecar(), 'legacy.default.svc.cluster.local:7000');
    assert.deepEqual(rc.virtual_hosts.map((v: Obj) => v.name), ['legacy.default.svc.cluster.local:7000', 'allow_any']);
  });

  it('default route: outbound cluster, 0s timeouts, istiod default retries, tracing decorator', () => {
    const r = only(routesFor(mesh(), sidecar(), REVIEWS));
    assert.deepEqual(r, {
      name: 'default',
      match: { prefix: '/' },
      route: {
        cluster: C(REVIEWS),
        timeout: ZERO,
        max_grpc_timeout: ZERO,
        retry_policy: {
          retry_on: 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes',
          num_retries: { value: 2 },
          retry_host_predicate: [{ name: 'envoy.retry_host_predicates.previous_hosts', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate' } }],
          host_selection_retry_max_attempts: 5,
          retriable_status_codes: [503],
        },
      },
      decorator: { operation: `${REVIEWS}:9080/*` },
    });
  });

  it('DestinationRule consistentHash → hash_policy, and no previous_hosts predicate (it would defeat stickiness)', () => {
    const ctx = mesh([dr('reviews', { host: 'reviews', trafficPolicy: { loadBalancer: { consistentHash: { httpHeaderName: 'x-user' } } } })]);
    const r = only(routesFor(ctx, sidecar(), REVIEWS));
    assert.deepEqual(r.route.hash_policy, [{ header: { header_name: 'x-user' } }]);
    assert.equal(r.route.retry_policy.retry_host_predicate, undefined);
  });
});

describe('sidecar RDS: VirtualService match', () => {
  it('uri exact/prefix/regex, ignoreUriCase, each match its own route named route.match, up to a catch-all', () => {
    const ctx = mesh([reviewsVs([
      { name: 'r', match: [{ name: 'exact', uri: { exact: '/a' }, statPrefix: 'reviews-a' }, { name: 'prefix', uri: { prefix: '/b' }, ignoreUriCase: true }, { uri: { regex: '/c/[0-9]+' } }], route: [{ destination: { host: 'reviews', subset: 'v1' } }] },
      { name: 'all', route: [{ destination: { host: 'reviews', subset: 'v2' } }] },
      { name: 'never', route: [{ destination: { host: 'reviews', subset: 'v3' } }] },
    ])]);
    const routes = routesFor(ctx, sidecar(), REVIEWS);
    assert.deepEqual(routes.map((r) => r.name), ['r.exact', 'r.prefix', 'r', 'all']);
    assert.deepEqual(routes.map((r) => r.match), [
      { path: '/a' },
      { prefix: '/b', case_sensitive: { value: false } },
      { safe_regex: { regex: '/c/[0-9]+' } },
      { prefix: '/' },
    ]);
    assert.equal(routes[0]!.route.cluster, C(REVIEWS, 9080, 'v1'));
    assert.equal(routes[0]!.decorator.operation, `${REVIEWS}:9080/a`);
    assert.equal(routes[0]!.stat_prefix, 'reviews-a');
    assert.equal(routes[1]!.decorator.operation, `${REVIEWS}:9080/b*`);
    assert.deepEqual(routes[0]!.metadata, {
      filter_metadata: { istio: { fields: { config: { stringValue: '/apis/networking.istio.io/v1/namespaces/default/virtual-service/reviews' } } } },
    });
  });

  it('headers (string_match, presence), withoutHeaders (inverted, missing = empty), method/authority/scheme pseudo-headers, queryParams', () => {
    const ctx = mesh([reviewsVs([{
      match: [{
        headers: { 'x-b': { prefix: 'p' }, 'x-a': { exact: 'v' }, 'x-any': {}, 'x-re': { regex: 'a.*' } },
        withoutHeaders: { 'x-debug': { exact: '1' }, 'x-skip': {} },
        method: { exact: 'GET' }, authority: { prefix: 'reviews' }, scheme: { exact: 'http' },
        queryParams: { v: { exact: '2' }, flag: {}, q: { regex: '[a-z]+' } },
      }],
      route: [{ destination: { host: 'reviews' } }],
    }])]);
    const m = routesFor(ctx, sidecar(), REVIEWS)[0]!.match;
    assert.deepEqual(m.headers, [
      { name: 'x-a', string_match: { exact: 'v' } },
      { name: 'x-any', present_match: true },
      { name: 'x-b', string_match: { prefix: 'p' } },
      { name: 'x-debug', string_match: { exact: '1' }, invert_match: true, treat_missing_header_as_empty: true },
      { name: 'x-re', string_match: { safe_regex: { regex: 'a.*' } } },
      { name: 'x-skip', present_match: true, invert_match: true },
      { name: ':method', string_match: { exact: 'GET' } },
      { name: ':authority', string_match: { prefix: 'reviews' } },
      { name: ':scheme', string_match: { exact: 'http' } },
    ]);
    assert.deepEqual(m.query_parameters, [
      { name: 'flag', present_match: true },
      { name: 'q', string_match: { safe_regex: { regex: '[a-z]+' } } },
      { name: 'v', string_match: { exact: '2' } },
    ]);
  });

  it('a header/query match is not a catch-all: later routes stay', () => {
    const ctx = mesh([reviewsVs([
      { match: [{ headers: { end: { exact: 'jason' } } }], route: [{ destination: { host: 'reviews', subset: 'v2' } }] },
      { route: [{ destination: { host: 'reviews', subset: 'v1' } }] },
    ])]);
    assert.equal(routesFor(ctx, sidecar(), REVIEWS).length, 2);
  });

  it('JWT claim conditions (accepted by Istio only on gateway routes) become dynamic_metadata matchers on the jwt_authn payload, as current istiod', () => {
    const m = envoyRouteMatch({ headers: { '@request.auth.claims.groups': { exact: 'admin' } }, withoutHeaders: { '@request.auth.claims[org][team]': {} } });
    assert.equal(m.headers, undefined);
    assert.deepEqual(m.dynamic_metadata, [
      { filter: 'envoy.filters.http.jwt_authn', path: [{ key: 'payload' }, { key: 'groups' }], value: { or_match: { value_matchers: [{ list_match: { one_of: { string_match: { exact: 'admin' } } } }, { string_match: { exact: 'admin' } }] } } },
      { filter: 'envoy.filters.http.jwt_authn', path: [{ key: 'payload' }, { key: 'org' }, { key: 'team' }], value: { or_match: { value_matchers: [{ list_match: { one_of: { present_match: true } } }, { present_match: true }] } }, invert: true },
    ]);
    assert.deepEqual(roundTripLosses('envoy.config.route.v3.RouteMatch', m), []);
  });

  it('port, sourceLabels, sourceNamespace and match.gateways decide whether a match applies to this proxy and port', () => {
    const ctx = mesh([reviewsVs([
      { name: 'port', match: [{ port: 8000 }], route: [{ destination: { host: 'reviews', subset: 'p' } }] },
      { name: 'labels', match: [{ sourceLabels: { app: 'ratings' } }], route: [{ destination: { host: 'reviews', subset: 'l' } }] },
      { name: 'ns', match: [{ sourceNamespace: 'other' }], route: [{ destination: { host: 'reviews', subset: 'n' } }] },
      { name: 'gw', match: [{ gateways: ['istio-system/ingress'] }], route: [{ destination: { host: 'reviews', subset: 'g' } }] },
      { name: 'mine', match: [{ sourceLabels: { app: 'productpage' }, sourceNamespace: 'default', gateways: ['mesh'], port: 9080 }], route: [{ destination: { host: 'reviews', subset: 'm' } }] },
    ])]);
    assert.deepEqual(routesFor(ctx, sidecar(), REVIEWS).map((r) => r.name), ['mine']);
  });

  it('a VirtualService bound only to gateways does not route sidecars (the default route stays)', () => {
    const ctx = mesh([reviewsVs([{ route: [{ destination: { host: 'reviews', subset: 'v1' } }] }], { gateways: ['bookinfo-gateway'] })]);
    assert.equal(only(routesFor(ctx, sidecar(), REVIEWS)).name, 'default');
  });

  it('no applicable match keeps the default route', () => {
    const ctx = mesh([reviewsVs([{ match: [{ port: 1 }], route: [{ destination: { host: 'reviews', subset: 'v1' } }] }])]);
    assert.equal(only(routesFor(ctx, sidecar(), REVIEWS)).name, 'default');
  });
});

describe('sidecar RDS: VirtualService destinations', () => {
  it('weights → weighted_clusters of subset clusters (zero weights dropped); destination ports pick the cluster port', () => {
    const ctx = mesh([reviewsVs([{ route: [
      { destination: { host: 'reviews', subset: 'v1' }, weight: 75 },
      { destination: { host: 'reviews', subset: 'v2' }, weight: 25 },
      { destination: { host: 'reviews', subset: 'v3' }, weight: 0 },
    ] }])]);
    const r = only(routesFor(ctx, sidecar(), REVIEWS));
    assert.deepEqual(r.route.weighted_clusters, { clusters: [{ name: C(REVIEWS, 9080, 'v1'), weight: { value: 75 } }, { name: C(REVIEWS, 9080, 'v2'), weight: { value: 25 } }] });
    assert.equal(r.decorator.operation, 'reviews:9080/*', 'several clusters: the VirtualService name stands in');
    const ported = mesh([reviewsVs([{ route: [{ destination: { host: 'ratings', port: { number: 9080 } } }] }])]);
    assert.equal(only(routesFor(ported, sidecar(), REVIEWS)).route.cluster, C(RATINGS));
  });

  it('redirect: uri, authority, scheme, port / derivePort, redirectCode', () => {
    const ctx = mesh([reviewsVs([
      { match: [{ uri: { exact: '/a' } }], redirect: { uri: '/new', authority: 'example.com', scheme: 'https', port: 8443, redirectCode: 302 } },
      { match: [{ uri: { exact: '/b' } }], redirect: { uri: '/b2', derivePort: 'FROM_REQUEST_PORT', redirectCode: 308 } },
      { match: [{ uri: { exact: '/c' } }], redirect: { authority: 'c.example.com', derivePort: 'FROM_PROTOCOL_DEFAULT' } },
    ])]);
    const [a, b, c] = routesFor(ctx, sidecar(), REVIEWS);
    assert.deepEqual(a!.redirect, { host_redirect: 'example.com', path_redirect: '/new', scheme_redirect: 'https', port_redirect: 8443, response_code: 'FOUND' });
    assert.deepEqual(b!.redirect, { path_redirect: '/b2', port_redirect: 9080, response_code: 'PERMANENT_REDIRECT' });
    assert.deepEqual(c!.redirect, { host_redirect: 'c.example.com', response_code: 'MOVED_PERMANENTLY' });
    assert.equal(a!.route, undefined);
  });

  it('directResponse: status and inline body (string or bytes)', () => {
    const ctx = mesh([reviewsVs([
      { match: [{ uri: { exact: '/s' } }], directResponse: { status: 503, body: { string: 'unavailable' } } },
      { match: [{ uri: { exact: '/b' } }], directResponse: { status: 200, body: { bytes: 'aGVsbG8=' } } },
      { directResponse: { status: 404 } },
    ])]);
    const [s, b, n] = routesFor(ctx, sidecar(), REVIEWS);
    assert.deepEqual(s!.direct_response, { status: 503, body: { inline_string: 'unavailable' } });
    assert.deepEqual(b!.direct_response, { status: 200, body: { inline_bytes: 'aGVsbG8=' } });
    assert.deepEqual(n!.direct_response, { status: 404 });
  });

  it('rewrite: uri → prefix_rewrite, authority → host_rewrite_literal, uriRegexRewrite → regex_rewrite', () => {
    const ctx = mesh([reviewsVs([
      { match: [{ uri: { prefix: '/old' } }], rewrite: { uri: '/new', authority: 'reviews.internal' }, route: [{ destination: { host: 'reviews' } }] },
      { rewrite: { uriRegexRewrite: { match: '^/v1/(.*)$', rewrite: '/\\1' } }, route: [{ destination: { host: 'reviews' } }] },
    ])]);
    const [a, b] = routesFor(ctx, sidecar(), REVIEWS);
    assert.equal(a!.route.prefix_rewrite, '/new');
    assert.equal(a!.route.host_rewrite_literal, 'reviews.internal');
    assert.deepEqual(b!.route.regex_rewrite, { pattern: { regex: '^/v1/(.*)$' }, substitution: '/\\1' });
  });

  it('timeout → timeout and max_grpc_timeout', () => {
    const ctx = mesh([reviewsVs([{ timeout: '1.5s', route: [{ destination: { host: 'reviews' } }] }])]);
    const r = only(routesFor(ctx, sidecar(), REVIEWS));
    assert.deepEqual(r.route.timeout, { seconds: 1, nanos: 500000000 });
    assert.deepEqual(r.route.max_grpc_timeout, { seconds: 1, nanos: 500000000 });
  });
});

describe('sidecar RDS: VirtualService retries', () => {
  const retryOf = (retries: Obj | undefined) =>
    only(routesFor(mesh([reviewsVs([{ ...(retries ? { retries } : {}), route: [{ destination: { host: 'reviews' } }] }])]), sidecar(), REVIEWS)).route.retry_policy;

  it('attempts, perTryTimeout, retryOn with numeric codes → retriable_status_codes (+ retriable-status-codes)', () => {
    const p = retryOf({ attempts: 4, perTryTimeout: '2s', retryOn: 'gateway-error,connect-failure,503,429' });
    assert.equal(p.retry_on, 'gateway-error,connect-failure,retriable-status-codes');
    assert.deepEqual(p.retriable_status_codes, [503, 429]);
    assert.deepEqual(p.num_retries, { value: 4 });
    assert.deepEqual(p.per_try_timeout, { seconds: 2, nanos: 0 });
    assert.equal(p.host_selection_retry_max_attempts, 5);
  });

  it('retryOn without codes drops the default 503; retryRemoteLocalities → previous_priorities; backoff', () => {
    const p = retryOf({ attempts: 3, retryOn: '5xx', retryRemoteLocalities: true, backoff: '100ms' });
    assert.equal(p.retry_on, '5xx');
    assert.equal(p.retriable_status_codes, undefined);
    assert.deepEqual(p.retry_priority, {
      name: 'envoy.retry_priorities.previous_priorities',
      typed_config: { '@type': 'type.googleapis.com/envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig', update_frequency: 2 },
    });
    assert.deepEqual(p.retry_back_off, { base_interval: { seconds: 0, nanos: 100000000 } });
  });

  it('no retries → istiod default; attempts 0 → none; retryIgnorePreviousHosts false → no predicate', () => {
    assert.equal(retryOf(undefined).retry_on, 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes');
    assert.equal(retryOf({ attempts: 0 }), undefined);
    assert.equal(retryOf({ attempts: 2, retryIgnorePreviousHosts: false }).retry_host_predicate, undefined);
  });
});

describe('sidecar RDS: fault, mirror, CORS, headers', () => {
  it('fault delay/abort (http and grpc status, percentages) in typed_per_filter_config', () => {
    const ctx = mesh([reviewsVs([
      { match: [{ uri: { prefix: '/d' } }], fault: { delay: { fixedDelay: '7s', percentage: { value: 10 } }, abort: { httpStatus: 500, percentage: { value: 0.5 } } }, route: [{ destination: { host: 'reviews' } }] },
      { fault: { abort: { grpcStatus: 'UNAVAILABLE', percentage: { value: 100 } } }, route: [{ destination: { host: 'reviews' } }] },
    ])]);
    const [a, b] = routesFor(ctx, sidecar(), REVIEWS);
    const fa = a!.typed_per_filter_config['envoy.filters.http.fault'];
    assert.equal(fa['@type'], 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault');
    assert.deepEqual(fa.delay, { fixed_delay: { seconds: 7, nanos: 0 }, percentage: { numerator: 100000, denominator: 'MILLION' } });
    assert.deepEqual(fa.abort, { http_status: 500, percentage: { numerator: 5000, denominator: 'MILLION' } });
    assert.deepEqual(b!.typed_per_filter_config['envoy.filters.http.fault'].abort, { grpc_status: 14, percentage: { numerator: 1000000, denominator: 'MILLION' } });
  });

  it('mirror (100 % unless mirrorPercentage; 0 % = none) and mirrors[] with their own percentages', () => {
    const ctx = mesh([reviewsVs([
      { match: [{ uri: { prefix: '/a' } }], mirror: { host: 'ratings' }, route: [{ destination: { host: 'reviews' } }] },
      { match: [{ uri: { prefix: '/b' } }], mirror: { host: 'ratings', subset: 'v2' }, mirrorPercentage: { value: 25 }, route: [{ destination: { host: 'reviews' } }] },
      { match: [{ uri: { prefix: '/c' } }], mirror: { host: 'ratings' }, mirrorPercentage: { value: 0 }, route: [{ destination: { host: 'reviews' } }] },
      { mirrors: [{ destination: { host: 'ratings' }, percentage: { value: 50 } }, { destination: { host: 'productpage' } }], route: [{ destination: { host: 'reviews' } }] },
    ])]);
    const [a, b, c, d] = routesFor(ctx, sidecar(), REVIEWS);
    assert.deepEqual(a!.route.request_mirror_policies, [{ cluster: C(RATINGS), runtime_fraction: { default_value: { numerator: 100, denominator: 'HUNDRED' } }, trace_sampled: { value: false } }]);
    assert.deepEqual(b!.route.request_mirror_policies[0].cluster, C(RATINGS, 9080, 'v2'));
    assert.deepEqual(b!.route.request_mirror_policies[0].runtime_fraction, { default_value: { numerator: 250000, denominator: 'MILLION' } });
    assert.equal(c!.route.request_mirror_policies, undefined);
    assert.deepEqual(d!.route.request_mirror_policies.map((m: Obj) => [m.cluster, m.runtime_fraction.default_value.numerator]), [[C(RATINGS), 500000], [C('productpage.default.svc.cluster.local'), 100]]);
  });

  it('corsPolicy → CorsPolicy in typed_per_filter_config[envoy.filters.http.cors]', () => {
    const ctx = mesh([reviewsVs([{
      corsPolicy: { allowOrigins: [{ exact: 'https://a.example' }, { regex: 'https://.*\\.b\\.example' }], allowMethods: ['GET', 'POST'], allowHeaders: ['x-a'], exposeHeaders: ['x-b'], maxAge: '24h', allowCredentials: true },
      route: [{ destination: { host: 'reviews' } }],
    }])]);
    assert.deepEqual(only(routesFor(ctx, sidecar(), REVIEWS)).typed_per_filter_config['envoy.filters.http.cors'], {
      '@type': 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy',
      allow_origin_string_match: [{ exact: 'https://a.example' }, { safe_regex: { regex: 'https://.*\\.b\\.example' } }],
      allow_methods: 'GET,POST', allow_headers: 'x-a', expose_headers: 'x-b', max_age: '86400',
      allow_credentials: { value: true },
      filter_enabled: { default_value: { numerator: 100, denominator: 'HUNDRED' } },
      forward_not_matching_preflights: { value: true },
    });
  });

  it('headers: a single destination\'s header operations follow the route\'s', () => {
    const ctx = mesh([reviewsVs([{ headers: { request: { set: { 'x-route': '1' } } }, route: [{ destination: { host: 'reviews' }, headers: { request: { set: { 'x-dest': '2' } } } }] }])]);
    assert.deepEqual(only(routesFor(ctx, sidecar(), REVIEWS)).request_headers_to_add.map((o: Obj) => o.header.key), ['x-route', 'x-dest']);
  });

  it('headers: route-level and per-destination set/add/remove; request Host set → host rewrite', () => {
    const ctx = mesh([reviewsVs([
      {
        headers: { request: { set: { 'x-env': 'prod', host: 'api.internal' }, add: { 'x-trace': 'on' }, remove: ['x-secret'] }, response: { set: { 'x-served-by': 'mesh' }, remove: ['server'] } },
        route: [
          { destination: { host: 'reviews', subset: 'v1' }, weight: 50, headers: { request: { set: { 'x-version': 'v1' } } } },
          { destination: { host: 'reviews', subset: 'v2' }, weight: 50, headers: { response: { add: { 'x-version': 'v2' } } } },
        ],
      },
    ])]);
    const r = only(routesFor(ctx, sidecar(), REVIEWS));
    assert.deepEqual(r.request_headers_to_add, [
      { header: { key: 'x-env', value: 'prod' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
      { header: { key: 'x-trace', value: 'on' }, append_action: 'APPEND_IF_EXISTS_OR_ADD' },
    ]);
    assert.deepEqual(r.request_headers_to_remove, ['x-secret']);
    assert.deepEqual(r.response_headers_to_add, [{ header: { key: 'x-served-by', value: 'mesh' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }]);
    assert.deepEqual(r.response_headers_to_remove, ['server']);
    assert.equal(r.route.host_rewrite_literal, 'api.internal');
    const [w1, w2] = r.route.weighted_clusters.clusters;
    assert.deepEqual(w1.request_headers_to_add, [{ header: { key: 'x-version', value: 'v1' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }]);
    assert.deepEqual(w2.response_headers_to_add, [{ header: { key: 'x-version', value: 'v2' }, append_action: 'APPEND_IF_EXISTS_OR_ADD' }]);
  });
});

describe('sidecar RDS: delegate VirtualServices', () => {
  it('a root route with delegate takes the delegate\'s routes, matches merged (root prefix ∧ delegate conditions)', () => {
    const ctx = mesh([
      reviewsVs([
        { match: [{ uri: { prefix: '/api' } }], delegate: { name: 'reviews-api', namespace: 'team' } },
        { route: [{ destination: { host: 'reviews', subset: 'v1' } }] },
      ]),
      vs('reviews-api', { http: [
        { match: [{ uri: { prefix: '/api/v2' }, headers: { 'x-beta': { exact: '1' } } }], route: [{ destination: { host: 'reviews.default.svc.cluster.local', subset: 'v2' } }] },
        { match: [{ uri: { prefix: '/other' } }], route: [{ destination: { host: 'reviews.default.svc.cluster.local', subset: 'x' } }] },
        { route: [{ destination: { host: 'reviews.default.svc.cluster.local', subset: 'v3' } }] },
      ] }, 'team'),
    ]);
    const routes = routesFor(ctx, sidecar(), REVIEWS);
    assert.deepEqual(routes.map((r) => [r.match, r.route.cluster]), [
      [{ prefix: '/api/v2', headers: [{ name: 'x-beta', string_match: { exact: '1' } }] }, C(REVIEWS, 9080, 'v2')],
      [{ prefix: '/api' }, C(REVIEWS, 9080, 'v3')],
      [{ prefix: '/' }, C(REVIEWS, 9080, 'v1')],
    ]);
    // routes say which VirtualService they came from: the delegate for delegated ones
    assert.match(JSON.stringify(routes[0]!.metadata), /namespaces\/team\/virtual-service\/reviews-api/);
    assert.match(JSON.stringify(routes[2]!.metadata), /namespaces\/default\/virtual-service\/reviews"/);
  });

  it('a delegate not exported to the root\'s namespace routes nothing', () => {
    const ctx = mesh([
      reviewsVs([{ match: [{ uri: { prefix: '/api' } }], delegate: { name: 'private', namespace: 'team' } }, { route: [{ destination: { host: 'reviews', subset: 'v1' } }] }]),
      vs('private', { exportTo: ['.'], http: [{ route: [{ destination: { host: 'reviews.default.svc.cluster.local', subset: 'v9' } }] }] }, 'team'),
    ]);
    assert.deepEqual(routesFor(ctx, sidecar(), REVIEWS).map((r) => r.route.cluster), [C(REVIEWS, 9080, 'v1')]);
  });

  it('a missing delegate routes nothing for its matches', () => {
    const ctx = mesh([reviewsVs([
      { match: [{ uri: { prefix: '/api' } }], delegate: { name: 'nope' } },
      { route: [{ destination: { host: 'reviews', subset: 'v1' } }] },
    ])]);
    assert.deepEqual(routesFor(ctx, sidecar(), REVIEWS).map((r) => r.match), [{ prefix: '/' }]);
  });
});

describe('sidecar RDS: bookinfo reviews routing', () => {
  it('end-user jason → v2, everyone else → v1 (samples/bookinfo/networking/virtual-service-reviews-test-v2.yaml)', () => {
    const ctx = mesh([
      service('reviews', 'default', [{ name: 'http', port: 9080 }], '10.96.0.10'),
      reviewsVs([
        { match: [{ headers: { 'end-user': { exact: 'jason' } } }], route: [{ destination: { host: 'reviews', subset: 'v2' } }] },
        { route: [{ destination: { host: 'reviews', subset: 'v1' } }] },
      ]),
    ], BASE.filter((d) => (d.metadata as Obj).name !== 'reviews'));
    const routes = routesFor(ctx, sidecar(), REVIEWS);
    assert.deepEqual(routes.map((r) => [r.match.headers?.[0]?.string_match?.exact ?? '*', r.route.cluster]), [['jason', C(REVIEWS, 9080, 'v2')], ['*', C(REVIEWS, 9080, 'v1')]]);
  });
});
