import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { SignJWT, exportJWK, generateKeyPair, type JWK } from 'jose';
import { jwksSourceKey, type PushContext } from '../../src/model/push-context.js';
import { parseProxy, type Proxy } from '../../src/model/proxy.js';
import { createRouterGenerator } from '../../src/xds/generators/router/index.js';
import { TYPE } from '../../src/xds/resource-types.js';
import { routeMatches } from '../../src/simulate/route-match.js';
import { simulateHttpFilters } from '../../src/simulate/http-filters.js';
import { checkEnvoyResource } from '../support/envoy-check/pgv-check.js';
import { assertGolden } from '../support/golden.js';
import { istioReference } from '../support/istio-reference.js';
import { docsOfYaml, snapshotOf, type Doc } from '../support/snapshot.js';

// RequestAuthentication and AuthorizationPolicy on gateways (the router generator), as istiod attaches and
// builds them: the policy filters come first in every gateway HCM (CUSTOM, jwt_authn with
// clear_route_cache so routes can match on claims, RBAC) and before every tcp_proxy. Attachment: selector
// policies of the gateway's namespace and the root namespace; targetRefs only on the Gateway API gateway
// they name, from the gateway's own namespace. Checker rows run real tokens through the generated HCM and
// the claim route of the generated route configuration (istio.io "JWT claim based routing"; the
// VirtualService/Gateway pair of Istio's analyzer testdata virtualservice_jwtclaimroute.yaml).
//
// Golden: test/golden/security/requestauthn/gateway-claim-route.json; `UPDATE_GOLDEN=1` rewrites it.

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const GOLDEN = path.join(ROOT, 'test', 'golden', 'security', 'requestauthn', 'gateway-claim-route.json');
const ISSUER = 'testing@secure.istio.io';
const JWKS_URI = 'https://raw.githubusercontent.com/istio/istio/release-1.28/security/tools/jwt/samples/jwks.json';

const INGRESS_LABELS = { app: 'istio-ingressgateway', istio: 'ingressgateway' };
const GW_LABELS = { 'gateway.networking.k8s.io/gateway-name': 'gw' };

/** istiod (the analyzer's claim-route VirtualService points at it), the ingress gateway, a Gateway API gateway `gw` in foo. */
const WORLD: Doc[] = [
  ...docsOfYaml(fs.readFileSync(istioReference('testdata', 'analyzers', 'testdata', 'virtualservice_jwtclaimroute.yaml'), 'utf8'))
    .map((d) => ({ ...d, metadata: { namespace: 'istio-system', ...(d.metadata as Obj) } })),
  { apiVersion: 'v1', kind: 'Service', metadata: { name: 'istiod', namespace: 'istio-system' }, spec: { clusterIP: '10.96.0.2', selector: { app: 'istiod' }, ports: [{ name: 'grpc-xds', port: 15010 }] } },
  { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'istio-ingressgateway-abc', namespace: 'istio-system', labels: INGRESS_LABELS }, spec: { serviceAccountName: 'istio-ingressgateway' }, status: { phase: 'Running', podIP: '10.1.1.10' } },
  { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'gw-istio-abc', namespace: 'foo', labels: GW_LABELS }, spec: { serviceAccountName: 'gw-istio' }, status: { phase: 'Running', podIP: '10.1.1.20' } },
  { apiVersion: 'networking.istio.io/v1', kind: 'Gateway', metadata: { name: 'gw', namespace: 'foo' }, spec: { selector: GW_LABELS, servers: [{ port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: ['*'] }, { port: { number: 31400, name: 'tcp', protocol: 'TCP' }, hosts: ['*'] }] } },
  { apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'gw-routes', namespace: 'foo' }, spec: { hosts: ['*'], gateways: ['gw'], http: [{ route: [{ destination: { host: 'istiod.istio-system.svc.cluster.local', port: { number: 15010 } } }] }], tcp: [{ match: [{ port: 31400 }], route: [{ destination: { host: 'istiod.istio-system.svc.cluster.local', port: { number: 15010 } } }] }] } },
];

const ra = (name: string, ns: string, spec: Obj): Doc => ({ apiVersion: 'security.istio.io/v1', kind: 'RequestAuthentication', metadata: { name, namespace: ns }, spec });
const ap = (name: string, ns: string, spec: Obj): Doc => ({ apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name, namespace: ns }, spec });
const gwRef = (name = 'gw') => ({ group: 'gateway.networking.k8s.io', kind: 'Gateway', name });
/** istio.io's task: the ingress gateway verifies tokens of the sample issuer */
const INGRESS_JWT = ra('ingress-jwt', 'istio-system', { selector: { matchLabels: { istio: 'ingressgateway' } }, jwtRules: [{ issuer: ISSUER, jwksUri: JWKS_URI }] });

const ingress: Proxy = parseProxy({ id: 'router~10.1.1.10~istio-ingressgateway-abc.istio-system~istio-system.svc.cluster.local', metadata: { NAMESPACE: 'istio-system', LABELS: INGRESS_LABELS, CLUSTER_ID: 'Kubernetes' } });
const gatewayApi: Proxy = parseProxy({ id: 'router~10.1.1.20~gw-istio-abc.foo~foo.svc.cluster.local', metadata: { NAMESPACE: 'foo', LABELS: GW_LABELS, CLUSTER_ID: 'Kubernetes' } });

let jwksText = '';
let key: CryptoKey;

before(async () => {
  const pair = await generateKeyPair('RS256', { extractable: true });
  key = pair.privateKey as CryptoKey;
  const jwk: JWK = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  jwksText = JSON.stringify({ keys: [jwk] });
});

/** `jwks`: what meshd fetched from JWKS_URI (the checker rows' signing key unless given) */
function mesh(extra: Doc[], jwks = jwksText): PushContext {
  return snapshotOf([...WORLD, ...extra], { label: 'gateway-policy', jwks: new Map([[jwksSourceKey(ISSUER, JWKS_URI), jwks]]) });
}

const router = createRouterGenerator();

/** A gateway listener as Envoy gets it (checked against Envoy's protos and PGV rules). */
function listener(ctx: PushContext, proxy: Proxy, port: number): Obj {
  const body = router.generate(TYPE.LDS, ctx, proxy, `0.0.0.0_${port}`) as Obj;
  assert.ok(body, `listener 0.0.0.0_${port}`);
  assert.deepEqual(checkEnvoyResource(TYPE.LDS, body), []);
  return body;
}

function hcmFilters(ctx: PushContext, proxy: Proxy): Obj[] {
  const hcm = listener(ctx, proxy, 80).filter_chains[0].filters.find((f: Obj) => f.name === 'envoy.filters.network.http_connection_manager');
  return hcm.typed_config.http_filters as Obj[];
}

const names = (filters: readonly Obj[]) => filters.map((f) => f.name as string);

async function token(claims: Obj): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setIssuer(ISSUER).setIssuedAt(now - 10).setExpirationTime(now + 3600).sign(key);
}

function request(headers: Record<string, string> = {}): Parameters<typeof simulateHttpFilters>[1] {
  return { headers: new Map(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), [v]])), query: new Map(), path: '/', method: 'GET' };
}

const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

describe('RequestAuthentication and AuthorizationPolicy on gateways', () => {
  it('istio.io JWT claim-based routing: jwt_authn first in the gateway HCM, clearing the route cache (golden)', () => {
    const filters = hcmFilters(mesh([INGRESS_JWT], '{"keys":[]}'), ingress);
    assert.deepEqual(names(filters), ['envoy.filters.http.jwt_authn', 'envoy.filters.http.fault', 'envoy.filters.http.cors', 'istio.stats', 'envoy.filters.http.router']);
    const jwt = filters[0]!;
    assert.equal(jwt.typed_config.providers['origins-0'].clear_route_cache, true, 'routes are re-picked once the payload is known');
    assertGolden(GOLDEN, jwt);
  });

  it('checker rows: a valid token passes and its claim selects the route; an invalid one gets 401; no token does not match the claim route', async () => {
    const ctx = mesh([INGRESS_JWT]);
    const filters = hcmFilters(ctx, ingress);
    const rds = router.generate(TYPE.RDS, ctx, ingress, 'http.80') as Obj;
    assert.deepEqual(checkEnvoyResource(TYPE.RDS, rds), []);
    const claimRoute = (rds.virtual_hosts as Obj[]).flatMap((vh) => vh.routes as Obj[]).find((r) => JSON.stringify(r.match).includes('jwt_authn'));
    assert.ok(claimRoute, `the VirtualService's @request.auth.claims.foo match reads the jwt_authn payload: ${JSON.stringify(rds)}`);
    const routed = async (headers: Record<string, string>) => {
      const d = await simulateHttpFilters(filters, request(headers));
      const matched = d.status === 200 ? routeMatches(claimRoute.match, { headers: new Map(), path: '/', query: new Map(), method: 'GET', random: 0, tlsPresented: false, dynamicMetadata: d.metadata }) : undefined;
      return { status: d.status, routed: matched !== undefined };
    };
    assert.deepEqual(await routed(bearer(await token({ sub: 'alice', foo: 'foo' }))), { status: 200, routed: true });
    assert.deepEqual(await routed(bearer(await token({ sub: 'bob', foo: 'bar' }))), { status: 200, routed: false });
    assert.deepEqual(await routed({}), { status: 200, routed: false });
    assert.equal((await routed(bearer('not.a.jwt'))).status, 401);
  });

  it('an AuthorizationPolicy with requestPrincipals on the gateway: RBAC after jwt_authn; no token → 403, a token of the issuer → 200', async () => {
    const requireJwt = ap('require-jwt', 'istio-system', { selector: { matchLabels: { istio: 'ingressgateway' } }, rules: [{ from: [{ source: { requestPrincipals: [`${ISSUER}/*`] } }] }] });
    const filters = hcmFilters(mesh([INGRESS_JWT, requireJwt]), ingress);
    assert.deepEqual(names(filters).slice(0, 2), ['envoy.filters.http.jwt_authn', 'envoy.filters.http.rbac']);
    assert.equal((await simulateHttpFilters(filters, request())).status, 403);
    assert.equal((await simulateHttpFilters(filters, request(bearer(await token({ sub: 'alice' }))))).status, 200);
  });

  it('TCP servers: RBAC network filters before istio.stats and tcp_proxy', () => {
    const denyAll = ap('deny-all', 'foo', { targetRefs: [gwRef()], action: 'DENY', rules: [{}] });
    const chain = listener(mesh([denyAll]), gatewayApi, 31400).filter_chains[0];
    assert.deepEqual(names(chain.filters), ['envoy.filters.network.rbac', 'istio.stats', 'envoy.filters.network.tcp_proxy']);
  });

  it('attachment as istiod: targetRefs reach only the Gateway API gateway they name, from its namespace; selectors reach gateways too', () => {
    const jwtOf = (docs: Doc[], proxy: Proxy) => names(hcmFilters(mesh(docs), proxy)).includes('envoy.filters.http.jwt_authn');
    const rule = { jwtRules: [{ issuer: ISSUER, jwksUri: JWKS_URI }] };
    assert.ok(jwtOf([ra('to-gw', 'foo', { targetRefs: [gwRef()], ...rule })], gatewayApi));
    assert.ok(jwtOf([ra('to-gw-old-field', 'foo', { targetRef: gwRef(), ...rule })], gatewayApi));
    assert.ok(!jwtOf([ra('to-other', 'foo', { targetRefs: [gwRef('other')], ...rule })], gatewayApi));
    assert.ok(!jwtOf([ra('from-root', 'istio-system', { targetRefs: [gwRef()], ...rule })], gatewayApi), 'a targetRef from another namespace');
    assert.ok(!jwtOf([ra('to-gw', 'foo', { targetRefs: [gwRef()], ...rule })], ingress), 'the ingress gateway is not that Gateway');
    assert.ok(jwtOf([ra('ns-wide', 'foo', rule)], gatewayApi), 'a namespace-wide policy (PILOT_ENABLE_SELECTOR_BASED_K8S_GATEWAY_POLICY)');
    assert.ok(jwtOf([ra('mesh-wide', 'istio-system', rule)], ingress));
    assert.ok(!jwtOf([ra('elsewhere', 'bar', rule)], ingress));
    const rbacOf = (docs: Doc[], proxy: Proxy) => names(hcmFilters(mesh(docs), proxy)).includes('envoy.filters.http.rbac');
    assert.ok(rbacOf([ap('gw-allow', 'foo', { targetRefs: [gwRef()], rules: [{}] })], gatewayApi));
    assert.ok(!rbacOf([ap('gw-allow', 'foo', { targetRefs: [gwRef()], rules: [{}] })], ingress));
  });
});
