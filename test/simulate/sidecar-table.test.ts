import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { PushContext } from '../../src/model/push-context.js';
import { parseProxy, type Proxy } from '../../src/model/proxy.js';
import { durationText, simulate, type SimResult } from '../../src/simulate/envoy-sim.js';
import type { SimRequestInput } from '../../src/simulate/resources.js';
import { checkEnvoyResource } from '../support/envoy-check/pgv-check.js';
import { docsOfYaml, snapshotOf } from '../support/snapshot.js';
import { TYPE } from '../../src/xds/resource-types.js';
import { generateSidecarResources, type GeneratedSidecar } from '../../src/simulate/sidecar-resources.js';

// Table-driven proof of the sidecar generator without Envoy: load Istio YAML (sidecar-world.yaml), generate
// one sidecar's LDS/RDS/CDS, and ask the simulator (Envoy's documented matching) what each request does.
// Every VirtualService and DestinationRule feature has at least one row; the expectations are what
// istiod's output does in a real Envoy.

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const FQDN = (name: string) => `${name}.default.svc.cluster.local`;
const C = (name: string, port: number, subset = '') => `outbound|${port}|${subset}|${FQDN(name)}`;
const IP: Record<string, string> = {
  productpage: '10.96.0.13', reviews: '10.96.0.10', ratings: '10.96.0.11', details: '10.96.0.12', httpbin: '10.96.0.14',
  gwonly: '10.96.0.15', mysql: '10.96.0.20', secure: '10.96.0.30', web: '10.96.0.40', private: '10.96.0.50',
  payments: '10.96.0.60', inventory: '10.96.0.61', carts: '10.96.0.62', passthru: '10.96.0.63', legacy: '10.96.0.90',
};

function world(): PushContext {
  return snapshotOf(docsOfYaml(readFileSync(new URL('./sidecar-world.yaml', import.meta.url), 'utf8')), { label: 'sidecar-world.yaml' });
}

// productpage reports its locality in the node (as istio-proxy does from the pod's node): locality
// failover and distribute rows are relative to it. legacy's sidecar runs without traffic capture.
type ProxyName = 'productpage' | 'sleep' | 'httpbin' | 'legacy';
interface ProxySpec {
  readonly ip: string; readonly pod: string; readonly ns: string; readonly labels: Record<string, string>;
  readonly locality?: { readonly region: string; readonly zone: string };
  readonly mode?: 'NONE';
}
const PROXIES: Record<ProxyName, ProxySpec> = {
  productpage: { ip: '10.1.0.20', pod: 'productpage-v1', ns: 'default', labels: { app: 'productpage', version: 'v1' }, locality: { region: 'us-east1', zone: 'us-east1-b' } },
  sleep: { ip: '10.2.0.5', pod: 'sleep', ns: 'other', labels: { app: 'sleep' } },
  httpbin: { ip: '10.1.0.61', pod: 'httpbin-v1', ns: 'default', labels: { app: 'httpbin', version: 'v1' } },
  legacy: { ip: '10.1.0.90', pod: 'legacy-v1', ns: 'default', labels: { app: 'legacy' }, mode: 'NONE' },
};

function proxy(name: ProxyName): Proxy {
  const p = PROXIES[name];
  return parseProxy({
    id: `sidecar~${p.ip}~${p.pod}.${p.ns}~${p.ns}.svc.cluster.local`,
    metadata: { NAMESPACE: p.ns, LABELS: p.labels, INSTANCE_IPS: p.ip, ISTIO_VERSION: '1.24.0', INTERCEPTION_MODE: p.mode ?? 'REDIRECT', SERVICE_ACCOUNT: 'default' },
    ...(p.locality ? { locality: p.locality } : {}),
  });
}

/** An HTTP request from the application to `svc:port` (outbound, captured to 15001). */
function to(svc: string, port: number, o: Partial<SimRequestInput> = {}): SimRequestInput {
  return { destinationIp: IP[svc]!, port, host: `${svc}:${port}`, ...o };
}

// ---------------------------------------------------------------------------------------------------------
// expectation helpers

function routed(r: SimResult): NonNullable<SimResult['http']> {
  assert.equal(r.failure, undefined, `expected an HTTP route, got ${r.failure}: ${r.detail}`);
  assert.ok(r.http, `expected an HTTP route on listener ${r.listener} chain ${r.filterChain} (filters ${r.networkFilters})`);
  return r.http;
}

function cluster(want: string) {
  return (r: SimResult) => {
    const h = routed(r);
    assert.equal(h.action, 'route');
    assert.deepEqual(h.clusters.map((c) => c.name), [want], `route ${h.routeName ?? h.routeIndex} in ${h.virtualHost}`);
    assert.ok(r.clusters.find((c) => c.name === want)?.found, `cluster ${want} must exist in CDS`);
  };
}

function ruleAndCluster(rule: string, want: string) {
  return (r: SimResult) => {
    cluster(want)(r);
    assert.equal(r.http!.routeName, rule);
  };
}

function clusterFacts(r: SimResult, name: string) {
  const c = r.clusters.find((x) => x.name === name);
  assert.ok(c?.found, `cluster ${name} must exist in CDS`);
  return c;
}

function mutationKeys(list: readonly Obj[]): string[] {
  return list.map((h) => String(h.header?.key));
}

interface Row {
  readonly name: string;
  readonly proxy?: ProxyName;
  readonly req: SimRequestInput;
  readonly check: (r: SimResult) => void;
}

const R = 'reviews';
const SPLIT = (r: SimResult) => {
  const h = routed(r);
  assert.equal(h.routeName, 'split');
  assert.deepEqual(h.clusters, [{ name: C(R, 9080, 'v1'), weight: 80 }, { name: C(R, 9080, 'v2'), weight: 20 }]);
  assert.equal(h.totalWeight, 100);
};

const ROWS: Row[] = [
  // --- HTTPMatchRequest ---------------------------------------------------------------------------------
  { name: 'headers exact: end-user jason → v2', req: to(R, 9080, { headers: { 'end-user': 'jason' } }), check: ruleAndCluster('jason', C(R, 9080, 'v2')) },
  { name: 'headers exact: another user falls through to the weighted default', req: to(R, 9080, { headers: { 'end-user': 'mary' } }), check: SPLIT },
  { name: 'weights: 80/20 split across subsets', req: to(R, 9080), check: SPLIT },
  { name: 'weights: a sample at 85 of 100 picks v2', req: to(R, 9080, { random: 85 }), check: (r) => assert.equal(routed(r).pickedCluster, C(R, 9080, 'v2')) },
  { name: 'withoutHeaders: header absent → rule applies', req: to(R, 9080, { path: '/nobeta' }), check: ruleAndCluster('without-beta', C(R, 9080, 'v3')) },
  { name: 'withoutHeaders: other value → rule applies', req: to(R, 9080, { path: '/nobeta', headers: { 'x-beta': 'no' } }), check: ruleAndCluster('without-beta', C(R, 9080, 'v3')) },
  { name: 'withoutHeaders: excluded value → falls through', req: to(R, 9080, { path: '/nobeta', headers: { 'x-beta': 'yes' } }), check: SPLIT },
  { name: 'uri exact', req: to(R, 9080, { path: '/exact' }), check: ruleAndCluster('exact', C(R, 9080, 'v1')) },
  { name: 'uri exact ignores the query string', req: to(R, 9080, { path: '/exact?x=1' }), check: ruleAndCluster('exact', C(R, 9080, 'v1')) },
  { name: 'uri exact does not match a longer path', req: to(R, 9080, { path: '/exact/more' }), check: SPLIT },
  { name: 'uri prefix with ignoreUriCase', req: to(R, 9080, { path: '/case/x' }), check: ruleAndCluster('ignore-case', C(R, 9080, 'v3')) },
  { name: 'uri regex (full match)', req: to(R, 9080, { path: '/items/42' }), check: ruleAndCluster('regex', C(R, 9080, 'v2')) },
  { name: 'uri regex does not match a partial path', req: to(R, 9080, { path: '/items/42/x' }), check: SPLIT },
  { name: 'queryParams exact', req: to(R, 9080, { path: '/anything', query: { debug: 'on' } }), check: ruleAndCluster('query', C(R, 9080, 'v3')) },
  { name: 'queryParams other value', req: to(R, 9080, { path: '/anything?debug=off' }), check: SPLIT },
  { name: 'method', req: to(R, 9080, { method: 'DELETE' }), check: ruleAndCluster('method', C(R, 9080, 'v1')) },
  { name: 'authority prefix', req: to(R, 9080, { host: 'reviews.default:9080' }), check: ruleAndCluster('authority', C(R, 9080, 'v2')) },
  { name: 'scheme', req: to(R, 9080, { scheme: 'https' }), check: ruleAndCluster('scheme', C(R, 9080, 'v3')) },
  { name: 'port: a rule for this port applies', req: to(R, 9080, { path: '/port' }), check: ruleAndCluster('port', C(R, 9080, 'v1')) },
  { name: 'port: a rule for another port is not on this listener', req: to(R, 9080, { path: '/elsewhere' }), check: SPLIT },
  { name: 'sourceLabels: the matching client gets the rule', proxy: 'sleep', req: to(R, 9080, { host: '10.96.0.10:9080', path: '/labels' }), check: ruleAndCluster('source-labels', C(R, 9080, 'v2')) },
  { name: 'sourceLabels: other clients do not', req: to(R, 9080, { path: '/labels' }), check: SPLIT },
  { name: 'sourceNamespace: a client in that namespace gets the rule', proxy: 'sleep', req: to(R, 9080, { host: '10.96.0.10:9080', path: '/ns' }), check: ruleAndCluster('source-namespace', C(R, 9080, 'v3')) },
  { name: 'sourceNamespace: clients elsewhere do not', req: to(R, 9080, { path: '/ns' }), check: SPLIT },
  { name: 'headers prefix', req: to(R, 9080, { headers: { 'x-tier': 'golden' } }), check: ruleAndCluster('header-prefix', C(R, 9080, 'v1')) },
  { name: 'headers regex is a full match', req: to(R, 9080, { headers: { 'x-ver': 'v12' } }), check: ruleAndCluster('header-regex', C(R, 9080, 'v2')) },
  { name: 'headers regex does not match a substring', req: to(R, 9080, { headers: { 'x-ver': 'xv12' } }), check: SPLIT },
  { name: 'headers {} means present, any value', req: to(R, 9080, { headers: { 'x-present': '' } }), check: ruleAndCluster('header-present', C(R, 9080, 'v3')) },
  { name: 'queryParams regex', req: to(R, 9080, { path: '/?id=123' }), check: ruleAndCluster('query-regex', C(R, 9080, 'v1')) },
  { name: 'queryParams regex does not match letters', req: to(R, 9080, { path: '/?id=abc' }), check: SPLIT },
  { name: 'uri exact is case-sensitive without ignoreUriCase', req: to(R, 9080, { path: '/EXACT' }), check: SPLIT },
  { name: 'Host is case-insensitive and may omit the port', req: to(R, 9080, { host: 'REVIEWS', path: '/exact' }), check: ruleAndCluster('exact', C(R, 9080, 'v1')) },
  { name: 'weights: a zero-weight destination gets no traffic', req: to(R, 9080, { path: '/zero' }), check: (r) => {
    const h = routed(r);
    assert.equal(h.routeName, 'zero-weight');
    assert.deepEqual(h.clusters.filter((c) => c.weight > 0).map((c) => c.name), [C(R, 9080, 'v1')]);
    assert.equal(h.pickedCluster ?? h.clusters[0]?.name, C(R, 9080, 'v1'));
  } },
  { name: 'domains: FQDN with port', req: to(R, 9080, { host: `${FQDN(R)}:9080`, path: '/exact' }), check: ruleAndCluster('exact', C(R, 9080, 'v1')) },
  { name: 'exportTo ".": the VirtualService applies in its namespace', req: to('private', 9080), check: ruleAndCluster('local-only', C(R, 9080, 'v1')) },
  { name: 'exportTo ".": other namespaces get the default route', proxy: 'sleep', req: to('private', 9080, { host: 'private.default:9080' }), check: cluster(C('private', 9080)) },
  { name: 'domains: name.namespace.svc with port', req: to(R, 9080, { host: 'reviews.default.svc:9080', path: '/exact' }), check: ruleAndCluster('exact', C(R, 9080, 'v1')) },
  { name: 'sourceLabels on one of several matches: the others still apply', req: to(R, 9080, { path: '/mix-b' }), check: ruleAndCluster('mixed-sources', C(R, 9080, 'v3')) },
  { name: 'sourceLabels on one of several matches: that one is dropped for other clients', req: to(R, 9080, { path: '/mix-a' }), check: SPLIT },
  { name: 'sourceLabels on one of several matches: kept for the matching client', proxy: 'sleep', req: to(R, 9080, { host: '10.96.0.10:9080', path: '/mix-a' }), check: ruleAndCluster('mixed-sources', C(R, 9080, 'v3')) },
  { name: 'several matches are ORed', req: to(R, 9080, { path: '/or-b/x' }), check: (r) => cluster(C(R, 9080, 'v1'))(r) },
  { name: 'domains: FQDN, name.namespace and cluster IP reach the same virtual host', req: to(R, 9080, { host: '10.96.0.10:9080', path: '/exact' }), check: ruleAndCluster('exact', C(R, 9080, 'v1')) },
  { name: 'domains: a short name only resolves in the client namespace', proxy: 'sleep', req: to(R, 9080, { host: 'reviews:9080', path: '/exact' }), check: (r) => assert.notEqual(routed(r).virtualHost, `${FQDN(R)}:9080`) },

  // --- DestinationRule on reviews ------------------------------------------------------------------------
  { name: 'DR subsets: one cluster per subset', req: to(R, 9080), check: (r) => { for (const s of ['v1', 'v2']) clusterFacts(r, C(R, 9080, s)); } },
  { name: 'DR loadBalancer ROUND_ROBIN on the subset clusters', req: to(R, 9080, { path: '/exact' }), check: (r) => assert.equal(clusterFacts(r, C(R, 9080, 'v1')).lbPolicy, 'ROUND_ROBIN') },
  { name: 'DR subset trafficPolicy overrides: v3 is RANDOM', req: to(R, 9080, { path: '/case' }), check: (r) => assert.equal(clusterFacts(r, C(R, 9080, 'v3')).lbPolicy, 'RANDOM') },
  { name: 'no DR TLS: auto-mTLS by endpoint tlsMode metadata', req: to(R, 9080, { path: '/exact' }), check: (r) => assert.ok(clusterFacts(r, C(R, 9080, 'v1')).transportSocketMatches.length >= 2) },
  { name: 'no timeout in the VirtualService: 0s (Istio disables Envoy\'s 15 s default)', req: to(R, 9080), check: (r) => assert.equal(routed(r).timeout, '0s') },
  { name: 'no retries in the VirtualService: Istio\'s default retry policy', req: to(R, 9080), check: (r) => {
    const rp = routed(r).retryPolicy;
    assert.ok(rp, 'retry policy');
    assert.match(String(rp.retry_on), /connect-failure/);
    assert.equal(rp.num_retries?.value ?? rp.num_retries, 2);
  } },

  // --- ratings: fault, timeout, retries, mirror, CORS, headers, consistent hash, ISTIO_MUTUAL ------------
  { name: 'fault abort 500', req: to('ratings', 9080, { headers: { 'x-fault': 'abort' } }), check: (r) => {
    const h = routed(r);
    assert.equal(h.routeName, 'abort');
    assert.equal(h.fault?.abort?.http_status, 500);
  } },
  { name: 'fault abort with a gRPC status', req: to('ratings', 9080, { headers: { 'x-fault': 'grpc' } }), check: (r) => assert.equal(routed(r).fault?.abort?.grpc_status, 14) },
  { name: 'fault delay 7s', req: to('ratings', 9080, { headers: { 'x-fault': 'delay' } }), check: (r) => {
    const d = routed(r).fault?.delay;
    assert.ok(d, 'delay');
    assert.ok(d.fixed_delay === '7s' || Number(d.fixed_delay?.seconds) === 7, JSON.stringify(d.fixed_delay));
  } },
  { name: 'timeout 3s', req: to('ratings', 9080), check: (r) => assert.equal(routed(r).timeout, '3s') },
  { name: 'retries: attempts, perTryTimeout, retryOn', req: to('ratings', 9080), check: (r) => {
    const rp = routed(r).retryPolicy!;
    assert.equal(rp.num_retries?.value ?? rp.num_retries, 4);
    assert.equal(rp.retry_on, '5xx,gateway-error');
    assert.ok(rp.per_try_timeout === '1s' || Number(rp.per_try_timeout?.seconds) === 1, JSON.stringify(rp.per_try_timeout));
  } },
  { name: 'mirror with percentage', req: to('ratings', 9080), check: (r) => {
    const m = routed(r).mirrors;
    assert.deepEqual(m.map((x) => x.cluster), [C('ratings', 9080, 'v2')]);
    assert.ok(m[0]!.runtime_fraction, 'mirror percentage');
    clusterFacts(r, C('ratings', 9080, 'v2'));
  } },
  { name: 'corsPolicy', req: to('ratings', 9080), check: (r) => {
    const cors = routed(r).cors;
    assert.ok(cors, 'CORS policy on the route');
    assert.deepEqual(cors.allow_origin_string_match, [{ exact: 'https://example.com' }]);
  } },
  { name: 'headers: request set/add/remove, response set/remove, destination headers', req: to('ratings', 9080), check: (r) => {
    const h = routed(r).headers.route;
    assert.deepEqual(mutationKeys(h.requestHeadersToAdd).sort(), ['x-add', 'x-dest', 'x-set']);
    assert.deepEqual(h.requestHeadersToRemove, ['x-remove']);
    assert.deepEqual(mutationKeys(h.responseHeadersToAdd), ['x-resp']);
    assert.deepEqual(h.responseHeadersToRemove, ['server']);
  } },
  { name: 'consistentHash httpHeaderName → route hash_policy and RING_HASH', req: to('ratings', 9080), check: (r) => {
    assert.deepEqual(routed(r).hashPolicy, [{ header: { header_name: 'x-user' } }]);
    assert.equal(clusterFacts(r, C('ratings', 9080, 'v1')).lbPolicy, 'RING_HASH');
  } },
  { name: 'tls ISTIO_MUTUAL: UpstreamTlsContext with the Istio SNI and SDS certificates', req: to('ratings', 9080), check: (r) => {
    const tls = clusterFacts(r, C('ratings', 9080, 'v1')).tls;
    assert.ok(tls, 'UpstreamTlsContext');
    assert.equal(tls.sni, 'outbound_.9080_.v1_.ratings.default.svc.cluster.local');
    assert.equal(tls.common_tls_context?.tls_certificate_sds_secret_configs?.[0]?.name, 'default');
  } },

  // --- details: redirect, direct response, rewrites, DR SIMPLE + portLevelSettings --------------------------
  { name: 'redirect uri+authority, 302', req: to('details', 9080, { path: '/old/page' }), check: (r) => {
    const h = routed(r);
    assert.equal(h.action, 'redirect');
    assert.equal(h.redirect?.status, 302);
    assert.equal(h.redirect?.location, 'http://new.details/new');
  } },
  { name: 'redirect scheme and port keep host and path', req: to('details', 9080, { path: '/secure/x?y=1' }), check: (r) => {
    assert.equal(routed(r).redirect?.location, 'https://details:8443/secure/x?y=1');
    assert.equal(routed(r).redirect?.status, 301);
  } },
  { name: 'mirrors: several mirror destinations with percentages', req: to('details', 9080, { path: '/plain' }), check: (r) => {
    const m = routed(r).mirrors;
    assert.deepEqual(m.map((x) => x.cluster), [C('httpbin', 8000), C('ratings', 9080, 'v2')]);
    assert.equal(m[0]!.runtime_fraction?.default_value?.numerator, 100000);
    assert.equal(m[0]!.runtime_fraction?.default_value?.denominator, 'MILLION');
  } },
  { name: 'directResponse without body', req: to('details', 9080, { path: '/health' }), check: (r) => assert.deepEqual(routed(r).directResponse, { status: 204 }) },
  { name: 'directResponse with body', req: to('details', 9080, { path: '/down' }), check: (r) => assert.deepEqual(routed(r).directResponse, { status: 503, body: 'maintenance' }) },
  { name: 'rewrite uri prefix and authority', req: to('details', 9080, { path: '/v1/users?id=7' }), check: (r) => {
    const h = routed(r);
    cluster(C('details', 9080))(r);
    assert.equal(h.upstreamPath, '/api/v1/users?id=7');
    assert.equal(h.upstreamAuthority, 'details-internal');
  } },
  { name: 'rewrite uri on an exact match replaces the whole path', req: to('details', 9080, { path: '/legacy?q=1' }), check: (r) => assert.equal(routed(r).upstreamPath, '/modern?q=1') },
  { name: 'rewrite uriRegexRewrite', req: to('details', 9080, { path: '/r/a/b' }), check: (r) => assert.equal(routed(r).upstreamPath, '/rewritten/a/b') },
  { name: 'DR tls SIMPLE with sni, loadBalancer RANDOM', req: to('details', 9080), check: (r) => {
    const c = clusterFacts(r, C('details', 9080));
    assert.equal(c.lbPolicy, 'RANDOM');
    assert.equal(c.tls?.sni, 'details.example.com');
  } },
  { name: 'DR portLevelSettings: port 9090 is ROUND_ROBIN and plaintext (DISABLE)', req: to('details', 9090), check: (r) => {
    cluster(C('details', 9090))(r);
    const c = clusterFacts(r, C('details', 9090));
    assert.equal(c.lbPolicy, 'ROUND_ROBIN');
    assert.equal(c.tls, undefined);
    assert.deepEqual(c.transportSocketMatches, []);
  } },

  // --- delegate, consistent hash by source IP with Maglev ---------------------------------------------------
  { name: 'delegate: child rule under the root prefix', req: to('httpbin', 8000, { path: '/delegated/v2/x' }), check: cluster(C('httpbin', 8000, 'v2')) },
  { name: 'delegate: child catch-all under the root prefix', req: to('httpbin', 8000, { path: '/delegated/x' }), check: cluster(C('httpbin', 8000, 'v1')) },
  { name: 'delegate: a child header match is merged with the root prefix', req: to('httpbin', 8000, { path: '/delegated/q', headers: { 'x-child': '1' } }), check: cluster(C('httpbin', 8000, 'v2')) },
  { name: 'delegate: the child header match does not apply outside the root prefix', req: to('httpbin', 8000, { path: '/other', headers: { 'x-child': '1' } }), check: ruleAndCluster('root-default', C('httpbin', 8000, 'v1')) },
  { name: 'a VirtualService without port applies on every port of the service', req: to('details', 9090, { path: '/old' }), check: (r) => assert.equal(routed(r).action, 'redirect') },
  { name: 'delegate: root rule after the delegated one', req: to('httpbin', 8000, { path: '/other' }), check: ruleAndCluster('root-default', C('httpbin', 8000, 'v1')) },
  { name: 'consistentHash useSourceIp + maglev', req: to('httpbin', 8000, { path: '/other' }), check: (r) => {
    assert.deepEqual(routed(r).hashPolicy, [{ connection_properties: { source_ip: true } }]);
    assert.equal(clusterFacts(r, C('httpbin', 8000, 'v1')).lbPolicy, 'MAGLEV');
  } },

  { name: 'DR tls MUTUAL with client certificate files and sni', req: to('httpbin', 8000, { path: '/other' }), check: (r) => {
    const tls = clusterFacts(r, C('httpbin', 8000, 'v1')).tls;
    assert.ok(tls, 'UpstreamTlsContext');
    assert.equal(tls.sni, 'httpbin.example.com');
    const ctx = tls.common_tls_context ?? {};
    const cert = JSON.stringify([ctx.tls_certificates, ctx.tls_certificate_sds_secret_configs]);
    assert.match(cert, /\/etc\/certs\/cert\.pem/);
    assert.match(JSON.stringify(ctx), /\/etc\/certs\/ca\.pem/);
  } },

  { name: 'retryOn with a status code → retriable-status-codes', req: to('httpbin', 8000, { path: '/other' }), check: (r) => {
    const rp = routed(r).retryPolicy!;
    assert.deepEqual(String(rp.retry_on).split(',').sort(), ['reset', 'retriable-status-codes']);
    assert.deepEqual(rp.retriable_status_codes, [503]);
  } },

  // --- DestinationRule on the cluster: connection pool, outlier detection, locality, warmup, passthrough ---
  { name: 'DR connectionPool: circuit breaker thresholds and connect timeout', req: to('payments', 9080), check: (r) => {
    const c = clusterFacts(r, C('payments', 9080));
    assert.deepEqual(c.circuitBreakers, { maxConnections: 100, maxPendingRequests: 10, maxRequests: 500, maxRetries: 4 });
    assert.equal(c.connectTimeout, '0.25s');
  } },
  { name: 'DR connectionPool: upstream idle timeout, max requests per connection and TCP keepalive', req: to('payments', 9080), check: (r) => {
    const c = clusterFacts(r, C('payments', 9080));
    assert.deepEqual(c.upstreamHttp, { protocol: 'http/1.1', idleTimeout: '90s', maxRequestsPerConnection: 20 });
    assert.deepEqual(c.tcpKeepalive, { keepalive_time: { value: 600 }, keepalive_interval: { value: 30 } });
  } },
  { name: 'no connectionPool: istiod\'s unlimited thresholds (not Envoy\'s 1024/3) and a 10s connect timeout', req: to('gwonly', 9080), check: (r) => {
    const c = clusterFacts(r, C('gwonly', 9080));
    const max = 4294967295;
    assert.deepEqual(c.circuitBreakers, { maxConnections: max, maxPendingRequests: max, maxRequests: max, maxRetries: max });
    assert.equal(c.connectTimeout, '10s');
    assert.equal(c.outlierDetection, undefined);
  } },
  { name: 'DR outlierDetection: consecutive 5xx ejection, panic threshold from minHealthPercent', req: to('payments', 9080), check: (r) => {
    const c = clusterFacts(r, C('payments', 9080));
    const od = c.outlierDetection!;
    assert.equal(od.consecutive_5xx?.value, 5);
    assert.equal(od.enforcing_consecutive_5xx?.value, 100);
    assert.equal(durationText(od.interval), '10s');
    assert.equal(durationText(od.base_ejection_time), '30s');
    assert.equal(od.max_ejection_percent?.value, 50);
    assert.equal(od.enforcing_success_rate?.value, 0);
    assert.equal(c.healthyPanicThreshold, 25);
  } },
  { name: 'DR localityLbSetting failover (outlier detection on): priorities by distance from the client, the failover region before the rest', req: to('payments', 9080), check: (r) => {
    const c = clusterFacts(r, C('payments', 9080));
    assert.equal(c.localityWeightedLb, true);
    const byPriority = [...c.localities!].sort((a, b) => a.priority - b.priority).map((l) => [l.priority, l.locality, l.endpoints]);
    assert.deepEqual(byPriority, [
      [0, 'us-east1/us-east1-b/', ['10.1.0.101:9080']], // the client's zone
      [1, 'us-east1/us-east1-c/', ['10.1.0.102:9080']], // its region
      [2, 'us-west1/us-west1-a/', ['10.1.0.103:9080']], // the failover target of us-east1
      [3, 'europe-west1/europe-west1-b/', ['10.1.0.104:9080']],
    ]);
  } },
  { name: 'VS retryRemoteLocalities: retry_priority previous_priorities moves retries to other priorities', req: to('payments', 9080), check: (r) => {
    const rp = routed(r).retryPolicy!;
    assert.equal(rp.retry_priority?.name, 'envoy.retry_priorities.previous_priorities');
    assert.equal(rp.retry_priority?.typed_config?.update_frequency, 2);
    assert.equal(rp.num_retries?.value, 3);
    assert.equal(rp.retry_on, '5xx,reset');
  } },
  { name: 'VS retries without retryRemoteLocalities: no retry_priority', req: to('ratings', 9080), check: (r) => assert.equal(routed(r).retryPolicy?.retry_priority, undefined) },
  { name: 'DR warmup on LEAST_REQUEST: slow start window, aggression and minimum weight', req: to('inventory', 9080), check: (r) => {
    const c = clusterFacts(r, C('inventory', 9080));
    assert.equal(c.lbPolicy, 'LEAST_REQUEST');
    assert.equal(durationText(c.slowStart?.slow_start_window), '60s');
    assert.equal(c.slowStart?.aggression?.default_value, 2);
    assert.equal(c.slowStart?.min_weight_percent?.value, 10);
  } },
  { name: 'DR localityLbSetting distribute: the client\'s zone gets 80, us-west1 20, other localities no endpoints', req: to('inventory', 9080), check: (r) => {
    const c = clusterFacts(r, C('inventory', 9080));
    assert.equal(c.localityWeightedLb, true);
    const served = c.localities!.filter((l) => l.endpoints.length > 0).map((l) => [l.locality, l.weight, l.priority]);
    assert.deepEqual(served, [['us-east1/us-east1-b/', 80, 0], ['us-west1/us-west1-a/', 20, 0]]);
    assert.deepEqual(c.localities!.find((l) => l.locality.startsWith('europe-west1'))?.endpoints, []);
  } },
  { name: 'DR localityLbSetting distribute: a client outside every `from` keeps endpoint-proportional weights', proxy: 'sleep', req: to('inventory', 9080, { host: 'inventory.default:9080' }), check: (r) => {
    const c = clusterFacts(r, C('inventory', 9080));
    assert.deepEqual(c.localities!.map((l) => [l.weight, l.endpoints.length]), [[1, 1], [1, 1], [1, 1]]);
  } },
  { name: 'DR consistentHash httpCookie → cookie hash_policy on the route, RING_HASH, retries without previous_hosts', req: to('carts', 9080), check: (r) => {
    const h = routed(r);
    assert.deepEqual(h.hashPolicy, [{ cookie: { name: 'session', ttl: { seconds: 3600, nanos: 0 }, path: '/' } }]);
    assert.equal(h.retryPolicy?.retry_host_predicate, undefined);
    assert.equal(clusterFacts(r, C('carts', 9080)).lbPolicy, 'RING_HASH');
  } },
  { name: 'DR loadBalancer PASSTHROUGH: ORIGINAL_DST to the address the client dialled, no EDS', req: to('passthru', 9080), check: (r) => {
    cluster(C('passthru', 9080))(r);
    const c = clusterFacts(r, C('passthru', 9080));
    assert.equal(c.type, 'ORIGINAL_DST');
    assert.equal(c.lbPolicy, 'CLUSTER_PROVIDED');
    assert.equal(c.edsServiceName, undefined);
    assert.equal(c.localities, undefined);
  } },

  // --- gateways ------------------------------------------------------------------------------------------
  { name: 'gateways: a VirtualService bound only to a gateway does not apply to sidecars', req: to('gwonly', 9080), check: cluster(C('gwonly', 9080)) },
  { name: 'gateways: mesh-bound VirtualService applies', req: to('productpage', 9080, { path: '/mesh' }), check: ruleAndCluster('mesh', C(R, 9080, 'v2')) },
  { name: 'gateways: a match limited to a gateway is dropped for sidecars', req: to('productpage', 9080, { path: '/gw' }), check: (r) => {
    // Istio adds no fallback to a VirtualService without a catch-all: Envoy answers 404 (no route).
    assert.equal(r.failure, 'no_route');
    assert.equal(r.listener, '0.0.0.0_9080');
  } },

  // --- TCP and TLS routes ------------------------------------------------------------------------------------
  { name: 'tcp route: weighted tcp_proxy on the service-IP listener, DR tls DISABLE', req: to('mysql', 3306, { protocol: 'tcp' }), check: (r) => {
    assert.equal(r.failure, undefined, r.detail);
    assert.deepEqual(r.tcpClusters, [{ name: C('mysql', 3306, 'v1'), weight: 70 }, { name: C('mysql', 3306, 'v2'), weight: 30 }]);
    const c = clusterFacts(r, C('mysql', 3306, 'v1'));
    assert.equal(c.tls, undefined);
    assert.deepEqual(c.transportSocketMatches, []);
  } },
  { name: 'tls route: SNI chain to the subset', req: to('secure', 443, { protocol: 'tcp', tls: { sni: FQDN('secure'), alpn: [] } }), check: (r) => {
    assert.equal(r.failure, undefined, r.detail);
    assert.deepEqual(r.tcpClusters?.map((c) => c.name), [C('secure', 443, 'v2')]);
  } },
  { name: 'tls route: another SNI goes to the service', req: to('secure', 443, { protocol: 'tcp', tls: { sni: 'other.example.com', alpn: [] } }), check: (r) => {
    assert.notDeepEqual(r.tcpClusters?.map((c) => c.name), [C('secure', 443, 'v2')]);
  } },

  // --- mesh defaults -----------------------------------------------------------------------------------------
  { name: 'no DestinationRule: LEAST_REQUEST (Istio default), auto-mTLS', req: to('gwonly', 9080, { host: 'gwonly.default:9080' }), check: (r) => {
    cluster(C('gwonly', 9080))(r);
    const c = clusterFacts(r, C('gwonly', 9080));
    assert.equal(c.lbPolicy, 'LEAST_REQUEST');
    assert.ok(c.transportSocketMatches.length >= 2);
  } },
  { name: 'unknown host on a known port: allow_any → PassthroughCluster', req: to(R, 9080, { host: 'example.org' }), check: cluster('PassthroughCluster') },
  { name: 'unknown destination: virtualOutbound passthrough', req: { destinationIp: '93.184.216.34', port: 8443, protocol: 'tcp' }, check: (r) => {
    assert.equal(r.listener, 'virtualOutbound');
    assert.deepEqual(r.tcpClusters?.map((c) => c.name), ['PassthroughCluster']);
  } },
  { name: 'protocol sniffing: HTTP on an unnamed port is routed by the HCM', req: to('web', 7070), check: cluster(C('web', 7070)) },
  { name: 'protocol sniffing: non-HTTP on the same port is proxied as TCP', req: to('web', 7070, { protocol: 'tcp' }), check: (r) => {
    assert.equal(r.http, undefined);
    assert.deepEqual(r.tcpClusters?.map((c) => c.name), [C('web', 7070)]);
  } },
  { name: 'inbound PERMISSIVE: plaintext reaches the port on a plaintext chain', req: { entryPort: 15006, destinationIp: '10.1.0.20', port: 9080, host: 'productpage:9080' }, check: (r) => {
    assert.equal(r.filterChainTransportSocket, undefined);
    assert.deepEqual(r.http?.clusters.map((c) => c.name), ['inbound|9080||']);
  } },
  { name: 'inbound PERMISSIVE: Istio mTLS (ALPN istio-peer-exchange) lands on the TLS chain', req: { entryPort: 15006, destinationIp: '10.1.0.20', port: 9080, host: 'productpage:9080', tls: { alpn: ['istio-peer-exchange', 'istio', 'h2'] } }, check: (r) => {
    assert.match(String(r.filterChainTransportSocket), /DownstreamTlsContext$/);
    assert.deepEqual(r.http?.clusters.map((c) => c.name), ['inbound|9080||']);
  } },
  { name: 'inbound STRICT: plaintext never reaches the workload port', proxy: 'sleep', req: { entryPort: 15006, destinationIp: '10.2.0.5', port: 80, host: 'sleep.other:80' }, check: (r) => {
    // Only TLS chains exist for port 80 and Envoy does not fall back to less specific chains: closed.
    assert.equal(r.failure, 'no_filter_chain', `plaintext reached chain ${r.filterChain}`);
  } },
  { name: 'inbound STRICT: mTLS reaches it', proxy: 'sleep', req: { entryPort: 15006, destinationIp: '10.2.0.5', port: 80, host: 'sleep.other:80', tls: { alpn: ['istio-peer-exchange', 'istio', 'h2'] } }, check: (r) => {
    assert.match(String(r.filterChainTransportSocket), /DownstreamTlsContext$/);
    assert.deepEqual(r.http?.clusters.map((c) => c.name), ['inbound|80||']);
  } },
  { name: 'inbound: the cluster is named after the target (container) port', proxy: 'httpbin', req: { entryPort: 15006, destinationIp: '10.1.0.61', port: 80, host: 'httpbin:8000' }, check: (r) => {
    assert.deepEqual(r.http?.clusters.map((c) => c.name), ['inbound|80||']);
  } },
  { name: 'outbound to a pod IP on a known HTTP port: allow_any passthrough', req: { destinationIp: '10.1.0.31', port: 9080, host: '10.1.0.31:9080' }, check: cluster('PassthroughCluster') },
  { name: 'HTTP/2 cleartext (h2c) is routed like HTTP/1.1', req: to(R, 9080, { httpVersion: 'h2c', path: '/exact' }), check: ruleAndCluster('exact', C(R, 9080, 'v1')) },
  { name: 'non-HTTP bytes to an HTTP port leave through the passthrough chain', req: to(R, 9080, { protocol: 'tcp' }), check: (r) => {
    assert.equal(r.http, undefined);
    assert.deepEqual(r.tcpClusters?.map((c) => c.name), ['PassthroughCluster']);
  } },
  { name: 'inbound: 15006 to the pod port reaches inbound|9080||', req: { entryPort: 15006, destinationIp: '10.1.0.20', port: 9080, host: 'productpage:9080' }, check: (r) => {
    assert.equal(r.listener, 'virtualInbound');
    const names = [...(r.http?.clusters.map((c) => c.name) ?? []), ...(r.tcpClusters?.map((c) => c.name) ?? [])];
    assert.deepEqual(names, ['inbound|9080||']);
  } },

  // --- interception mode NONE: no iptables, the application dials the sidecar on 127.0.0.1 -------------
  { name: 'NONE: a request to 127.0.0.1:PORT is routed like a captured one', proxy: 'legacy', req: { entryPort: 0, destinationIp: '127.0.0.1', port: 9080, host: 'reviews:9080', headers: { 'end-user': 'jason' } }, check: (r) => {
    assert.equal(r.listener, '127.0.0.1_9080');
    assert.equal(r.handedOffFrom, undefined);
    ruleAndCluster('jason', C(R, 9080, 'v2'))(r);
  } },
  { name: 'NONE: a TCP service on 127.0.0.1:PORT keeps its tcp routes', proxy: 'legacy', req: { entryPort: 0, destinationIp: '127.0.0.1', port: 3306, protocol: 'tcp' }, check: (r) => {
    assert.equal(r.listener, '127.0.0.1_3306');
    assert.deepEqual(r.tcpClusters, [{ name: C('mysql', 3306, 'v1'), weight: 70 }, { name: C('mysql', 3306, 'v2'), weight: 30 }]);
  } },
  { name: 'NONE: a connection to a service IP bypasses the sidecar (nothing captures it, nothing binds it)', proxy: 'legacy', req: { entryPort: 0, destinationIp: IP.reviews!, port: 9080, host: 'reviews:9080' }, check: (r) => assert.equal(r.failure, 'no_listener') },
  { name: 'NONE: no virtualInbound on 15006 (inbound listeners need a Sidecar ingress)', proxy: 'legacy', req: { entryPort: 15006, destinationIp: '10.1.0.90', port: 8080, host: 'legacy:8080' }, check: (r) => assert.equal(r.failure, 'no_listener') },
];

describe('sidecar simulation table (Istio YAML → sidecar generator → Envoy matching)', () => {
  const generated = new Map<ProxyName, GeneratedSidecar>();
  before(() => {
    const ctx = world();
    for (const name of Object.keys(PROXIES) as ProxyName[]) generated.set(name, generateSidecarResources(ctx, proxy(name)));
  });

  it('every route configuration a listener names is generated', () => {
    for (const [name, g] of generated) assert.deepEqual(g.missingRoutes, [], name);
  });

  it('every simulated resource decodes with Envoy\'s protos losing nothing and passes their PGV rules', () => {
    for (const [name, g] of generated) {
      const all: [string, Iterable<Obj>][] = [
        [TYPE.LDS, g.resources.listeners], [TYPE.RDS, g.resources.routes.values()], [TYPE.CDS, g.resources.clusters.values()],
        [TYPE.EDS, g.resources.endpoints.values()],
      ];
      for (const [type, items] of all) {
        for (const body of items) assert.deepEqual(checkEnvoyResource(type, body), [], `${name}: ${body.name}`);
      }
    }
  });

  for (const row of ROWS) {
    it(row.name, () => {
      const g = generated.get(row.proxy ?? 'productpage')!;
      row.check(simulate(g.resources, row.req));
    });
  }
});

// ---------------------------------------------------------------------------------------------------------
// ServiceEntry, outboundTrafficPolicy and the Sidecar resource, on top of the same world: an external API
// (DNS resolution, TLS origination on 443 via a VirtualService port rewrite, as egress-rule-google-apis) and
// a namespace `locked` whose default Sidecar sees only its own namespace and is REGISTRY_ONLY.

const EXTERNAL = 'api.example.com';
const BOUNDARY_DOCS = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: external-api, namespace: default}
spec:
  hosts: [${EXTERNAL}]
  location: MESH_EXTERNAL
  resolution: DNS
  ports:
  - {number: 80, name: http, protocol: HTTP}
  - {number: 443, name: https, protocol: HTTPS}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: external-api-v2, namespace: default}
spec:
  hosts: [${EXTERNAL}]
  http:
  - match: [{uri: {prefix: /v2}}]
    route: [{destination: {host: ${EXTERNAL}, port: {number: 443}}}]
  - route: [{destination: {host: ${EXTERNAL}, port: {number: 80}}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: static-db, namespace: default}
spec:
  hosts: [db.internal.example]
  addresses: [192.0.2.50]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 5432, name: tcp-postgres, protocol: TCP}]
  endpoints: [{address: 10.9.0.1}, {address: 10.9.0.2}]
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: locked}
spec:
  egress: [{hosts: ["./*", "istio-system/*"]}]
  outboundTrafficPolicy: {mode: REGISTRY_ONLY}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: legacy-api, namespace: vm}
spec:
  workloadSelector: {labels: {app: legacy-api}}
  ingress:
  - port: {number: 9080, protocol: HTTP, name: http}
    defaultEndpoint: 127.0.0.1:8080
  - port: {number: 5000, protocol: TCP, name: tcp}
    defaultEndpoint: unix:///var/run/legacy.sock
  egress: [{hosts: ["./*"]}]
`;

describe('sidecar simulation: ServiceEntry, outbound traffic policy, Sidecar egress', () => {
  let open: GeneratedSidecar;
  let locked: GeneratedSidecar;
  before(() => {
    const docs = [...docsOfYaml(readFileSync(new URL('./sidecar-world.yaml', import.meta.url), 'utf8')), ...docsOfYaml(BOUNDARY_DOCS)];
    const ctx = snapshotOf(docs, { label: 'sidecar-world.yaml + boundaries' });
    open = generateSidecarResources(ctx, proxy('productpage'));
    locked = generateSidecarResources(ctx, parseProxy({
      id: 'sidecar~10.3.0.5~app-1.locked~locked.svc.cluster.local',
      metadata: { NAMESPACE: 'locked', LABELS: { app: 'app' }, INSTANCE_IPS: '10.3.0.5', ISTIO_VERSION: '1.24.0', INTERCEPTION_MODE: 'REDIRECT' },
    }));
  });
  const ext = (port: number, o: Partial<SimRequestInput> = {}): SimRequestInput => ({ destinationIp: '203.0.113.10', port, host: `${EXTERNAL}:${port}`, ...o });
  let legacyApi: GeneratedSidecar;
  before(() => {
    const docs = [...docsOfYaml(readFileSync(new URL('./sidecar-world.yaml', import.meta.url), 'utf8')), ...docsOfYaml(BOUNDARY_DOCS)];
    const ctx = snapshotOf(docs, { label: 'sidecar-world.yaml + boundaries' });
    legacyApi = generateSidecarResources(ctx, parseProxy({
      id: 'sidecar~10.4.0.5~legacy-api-1.vm~vm.svc.cluster.local',
      metadata: { NAMESPACE: 'vm', LABELS: { app: 'legacy-api' }, INSTANCE_IPS: '10.4.0.5', ISTIO_VERSION: '1.24.0', INTERCEPTION_MODE: 'NONE' },
    }));
  });

  it('resources still pass Envoy\'s protos and PGV rules', () => {
    for (const g of [open, locked]) {
      for (const body of g.resources.clusters.values()) assert.deepEqual(checkEnvoyResource(TYPE.CDS, body), [], String(body.name));
      for (const body of g.resources.listeners) assert.deepEqual(checkEnvoyResource(TYPE.LDS, body), [], String(body.name));
    }
  });
  it('ServiceEntry + VirtualService: /v2 goes to the 443 cluster, the rest to 80', () => {
    cluster(`outbound|443||${EXTERNAL}`)(simulate(open.resources, ext(80, { path: '/v2/items' })));
    cluster(`outbound|80||${EXTERNAL}`)(simulate(open.resources, ext(80, { path: '/v1' })));
  });
  it('DNS resolution: STRICT_DNS clusters with the host as their endpoint, no auto-mTLS (MESH_EXTERNAL)', () => {
    const r = simulate(open.resources, ext(80));
    const c = clusterFacts(r, `outbound|80||${EXTERNAL}`);
    assert.equal(c.type, 'STRICT_DNS');
    const body = open.resources.clusters.get(`outbound|80||${EXTERNAL}`)!;
    assert.equal(body.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address, EXTERNAL);
    assert.equal(body.transport_socket_matches, undefined);
  });
  it('STATIC ServiceEntry with a VIP: a TCP listener on the address, an EDS cluster, auto-mTLS for MESH_INTERNAL', () => {
    const r = simulate(open.resources, { destinationIp: '192.0.2.50', port: 5432, protocol: 'tcp' });
    assert.equal(r.listener, '192.0.2.50_5432');
    assert.deepEqual(r.tcpClusters?.map((c) => c.name), ['outbound|5432||db.internal.example']);
    const body = open.resources.clusters.get('outbound|5432||db.internal.example')!;
    assert.equal(body.type, 'EDS');
    assert.ok(body.transport_socket_matches);
  });
  it('ALLOW_ANY (mesh default): an unknown destination leaves through PassthroughCluster', () => {
    const r = simulate(open.resources, { destinationIp: '198.51.100.7', port: 8443, protocol: 'tcp' });
    assert.deepEqual(r.tcpClusters?.map((c) => c.name), ['PassthroughCluster']);
  });
  it('REGISTRY_ONLY (Sidecar): an unknown destination goes to BlackHoleCluster (HTTP too: no listener on its port)', () => {
    const r = simulate(locked.resources, { destinationIp: '198.51.100.7', port: 8443, protocol: 'tcp' });
    assert.deepEqual(r.tcpClusters?.map((c) => c.name), ['BlackHoleCluster']);
    const h = simulate(locked.resources, { destinationIp: '198.51.100.7', port: 80, host: 'example.org' });
    assert.equal(h.listener, 'virtualOutbound');
    assert.deepEqual(h.tcpClusters?.map((c) => c.name), ['BlackHoleCluster']);
  });
  it('Sidecar ingress in NONE mode: the declared port binds the pod IP for real and forwards to the defaultEndpoint', () => {
    for (const body of legacyApi.resources.listeners) assert.deepEqual(checkEnvoyResource(TYPE.LDS, body), [], String(body.name));
    for (const body of legacyApi.resources.clusters.values()) assert.deepEqual(checkEnvoyResource(TYPE.CDS, body), [], String(body.name));
    const r = simulate(legacyApi.resources, { entryPort: 0, destinationIp: '10.4.0.5', port: 9080, host: 'legacy-api.vm:9080' });
    assert.equal(r.listener, '10.4.0.5_9080');
    assert.equal(r.handedOffFrom, undefined, 'a real socket: nothing redirected the connection');
    assert.deepEqual(r.http?.clusters.map((c) => c.name), ['inbound|9080||']);
    const c = legacyApi.resources.clusters.get('inbound|9080||')!;
    assert.equal(c.type, 'STATIC');
    assert.deepEqual(c.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address, { socket_address: { address: '127.0.0.1', port_value: 8080 } });
    assert.equal(c.upstream_bind_config, undefined, 'loopback endpoint: no passthrough source address');
    const t = simulate(legacyApi.resources, { entryPort: 0, destinationIp: '10.4.0.5', port: 5000, protocol: 'tcp' });
    assert.equal(t.listener, '10.4.0.5_5000');
    assert.deepEqual(t.tcpClusters?.map((x) => x.name), ['inbound|5000||']);
    assert.deepEqual(legacyApi.resources.clusters.get('inbound|5000||')!.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address, { pipe: { path: '/var/run/legacy.sock' } });
    assert.equal(simulate(legacyApi.resources, { entryPort: 15006, destinationIp: '10.4.0.5', port: 9080, host: 'x' }).failure, 'no_listener', 'no virtualInbound in NONE mode');
  });
  it('Sidecar egress scoping: services of other namespaces (and the ServiceEntry in default) are not there', () => {
    assert.ok(![...locked.resources.clusters.keys()].some((n) => n.includes('.default.svc.cluster.local') || n.includes(EXTERNAL)));
    const r = simulate(locked.resources, to(R, 9080));
    assert.notEqual(r.http?.action, 'route', 'reviews is not routable from `locked`');
  });
});

// ---------------------------------------------------------------------------------------------------------
// Sidecar egress listeners with a port (istiod buildSidecarOutboundListeners over the SidecarScope's egress
// listeners): namespace `ported` sees reviews only on 9080, mysql only on a loopback socket of its own
// (captureMode NONE), ratings and details through an HTTP proxy on 127.0.0.1:15080 (HTTP_PROXY), and every
// other default service through the catch-all — on the ports the port-specific listeners did not take.

const PORTED_DOCS = `
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: ported}
spec:
  egress:
  - port: {number: 9080, protocol: HTTP, name: http}
    hosts: ["default/reviews.default.svc.cluster.local"]
  - port: {number: 3306, protocol: MySQL, name: mysql}
    captureMode: NONE
    hosts: ["default/mysql.default.svc.cluster.local"]
  - port: {number: 15080, protocol: HTTP_PROXY, name: proxy}
    captureMode: NONE
    hosts: ["default/ratings.default.svc.cluster.local", "default/details.default.svc.cluster.local"]
  - hosts: ["default/*"]
`;

describe('sidecar simulation: Sidecar egress listeners with a port', () => {
  let ported: GeneratedSidecar;
  before(() => {
    const docs = [...docsOfYaml(readFileSync(new URL('./sidecar-world.yaml', import.meta.url), 'utf8')), ...docsOfYaml(PORTED_DOCS)];
    const ctx = snapshotOf(docs, { label: 'sidecar-world.yaml + ported Sidecar' });
    ported = generateSidecarResources(ctx, parseProxy({
      id: 'sidecar~10.5.0.5~client-1.ported~ported.svc.cluster.local',
      metadata: { NAMESPACE: 'ported', LABELS: { app: 'client' }, INSTANCE_IPS: '10.5.0.5', ISTIO_VERSION: '1.24.0', INTERCEPTION_MODE: 'REDIRECT' },
    }));
  });

  it('resources pass Envoy\'s protos and PGV rules', () => {
    for (const body of ported.resources.listeners) assert.deepEqual(checkEnvoyResource(TYPE.LDS, body), [], String(body.name));
  });
  // a client in `ported` names default's services by `NAME.default`
  const fromPorted = (svc: string, port: number) => to(svc, port, { host: `${svc}.default:${port}` });
  it('the 9080 egress listener: reviews is routed on 9080', () => {
    // reviews' own VirtualService routes it (to its subsets): what matters here is whose virtual host answers
    const h = routed(simulate(ported.resources, fromPorted(R, 9080)));
    assert.equal(h.virtualHost, 'reviews.default.svc.cluster.local:9080');
    assert.ok(h.clusters.every((c) => c.name.endsWith('|reviews.default.svc.cluster.local')), h.clusters.map((c) => c.name).join(','));
  });
  it('a host of the catch-all only is not on the 9080 route (ALLOW_ANY: it leaves as unknown traffic)', () => {
    for (const svc of ['ratings', 'details']) {
      const h = routed(simulate(ported.resources, fromPorted(svc, 9080)));
      assert.equal(h.virtualHost, 'allow_any', `${svc}:9080 must not have a virtual host of its own`);
      assert.deepEqual(h.clusters.map((c) => c.name), ['PassthroughCluster']);
    }
  });
  it('the catch-all still serves the other ports of its hosts: details:9090, httpbin:8000', () => {
    cluster('outbound|9090||details.default.svc.cluster.local')(simulate(ported.resources, fromPorted('details', 9090)));
    assert.equal(routed(simulate(ported.resources, fromPorted('httpbin', 8000))).virtualHost, 'httpbin.default.svc.cluster.local:8000');
  });
  it('HTTP_PROXY: the application sends ratings:9080 and details:9090 requests to 127.0.0.1:15080, each routed by its authority', () => {
    const viaProxy = (authority: string) => simulate(ported.resources, { entryPort: 0, destinationIp: '127.0.0.1', port: 15080, host: authority });
    const r = viaProxy('ratings.default:9080');
    assert.equal(r.listener, '127.0.0.1_15080');
    assert.equal(r.handedOffFrom, undefined, 'bound for real: the application dials it');
    assert.equal(routed(r).virtualHost, 'ratings.default.svc.cluster.local:9080');
    // with ratings' VirtualService (its v1 subset), as on ratings' own port
    cluster('outbound|9080|v1|ratings.default.svc.cluster.local')(r);
    cluster('outbound|9090||details.default.svc.cluster.local')(viaProxy('details.default:9090'));
    // reviews is not imported by the proxy listener: unknown there, so it leaves as ALLOW_ANY traffic
    assert.equal(routed(viaProxy('reviews.default:9080')).virtualHost, 'allow_any');
  });
  it('captureMode NONE: mysql is reached on 127.0.0.1:3306, a real socket', () => {
    const names = ported.resources.listeners.map((l) => l.name);
    // the catch-all's default/* also holds mysql: as istiod, it still gets its cluster-IP listener (another bind:port)
    assert.ok(names.includes('127.0.0.1_3306') && names.includes('10.96.0.20_3306'), names.join(','));
    assert.equal(ported.resources.listeners.find((l) => l.name === '127.0.0.1_3306')!.bind_to_port, undefined);
    const r = simulate(ported.resources, { entryPort: 0, destinationIp: '127.0.0.1', port: 3306, protocol: 'tcp' });
    assert.equal(r.listener, '127.0.0.1_3306');
    assert.equal(r.handedOffFrom, undefined, 'bound for real: the application dials it');
    // mysql's VirtualService splits it over subsets
    const clusters = r.tcpClusters?.map((c) => c.name) ?? [];
    assert.ok(clusters.length > 0 && clusters.every((c) => c.startsWith('outbound|3306|') && c.endsWith('|mysql.default.svc.cluster.local')), clusters.join(','));
  });
});
