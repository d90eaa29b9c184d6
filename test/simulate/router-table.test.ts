import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseProxy } from '../../src/model/proxy.js';
import { simulate, type SimResult } from '../../src/simulate/envoy-sim.js';
import type { SimRequestInput } from '../../src/simulate/resources.js';
import { generateSidecarResources } from '../../src/simulate/sidecar-resources.js';
import { createRouterGenerator } from '../../src/xds/generators/router/index.js';
import { docsOfYaml, snapshotOf } from '../support/snapshot.js';

// Requests through an ingress gateway's generated LDS/RDS/CDS, answered by the simulator (Envoy's
// documented matching): host and path routing, httpsRedirect, SNI passthrough, a mutual-TLS server,
// cross-namespace `ns/host` binding, a VirtualService bound to the gateway versus one for the mesh, and a
// host nothing claims (404).

const WORLD = `
apiVersion: v1
kind: Service
metadata: { name: istio-ingressgateway, namespace: istio-system }
spec:
  clusterIP: 10.96.1.1
  selector: { istio: ingressgateway }
  ports: [{ name: http2, port: 80, targetPort: 8080 }, { name: https, port: 443, targetPort: 8443 }, { name: tls, port: 15443, targetPort: 15443 }]
---
apiVersion: v1
kind: Pod
metadata: { name: gw-abcde, namespace: istio-system, labels: { istio: ingressgateway } }
status: { phase: Running, podIP: 10.1.1.10, conditions: [{ type: Ready, status: "True" }] }
---
apiVersion: v1
kind: Service
metadata: { name: web, namespace: default }
spec: { clusterIP: 10.96.0.40, selector: { app: web }, ports: [{ name: http, port: 8000 }] }
---
apiVersion: v1
kind: Service
metadata: { name: api, namespace: team }
spec: { clusterIP: 10.96.0.41, selector: { app: api }, ports: [{ name: http, port: 9000 }] }
---
apiVersion: v1
kind: Service
metadata: { name: db, namespace: default }
spec: { clusterIP: 10.96.0.42, selector: { app: db }, ports: [{ name: tls, port: 5432 }] }
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: public, namespace: istio-system }
spec:
  selector: { istio: ingressgateway }
  servers:
  - port: { number: 80, name: http, protocol: HTTP }
    hosts: ["default/web.example.com", "team/api.example.com"]
    tls: { httpsRedirect: true }
  - port: { number: 443, name: https, protocol: HTTPS }
    hosts: ["default/web.example.com"]
    tls: { mode: SIMPLE, credentialName: web-cert }
  - port: { number: 443, name: https-mtls, protocol: HTTPS }
    hosts: ["team/api.example.com"]
    tls: { mode: MUTUAL, credentialName: api-cert }
  - port: { number: 15443, name: tls, protocol: TLS }
    hosts: ["*/db.example.com"]
    tls: { mode: PASSTHROUGH }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: web, namespace: default }
spec:
  hosts: [web.example.com]
  gateways: [istio-system/public]
  http:
  - match: [{ uri: { prefix: /static } }]
    route: [{ destination: { host: web, port: { number: 8000 } } }]
    headers: { response: { set: { x-served-by: static } } }
  - route: [{ destination: { host: web, port: { number: 8000 } } }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: api, namespace: team }
spec:
  hosts: [api.example.com]
  gateways: [istio-system/public]
  http:
  - route: [{ destination: { host: api.team.svc.cluster.local, port: { number: 9000 } } }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: api-elsewhere, namespace: default }
spec:
  hosts: [api.example.com]
  gateways: [istio-system/public]
  http:
  - route: [{ destination: { host: web, port: { number: 8000 } } }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: db, namespace: default }
spec:
  hosts: [db.example.com]
  gateways: [istio-system/public]
  tls:
  - match: [{ sniHosts: [db.example.com] }]
    route: [{ destination: { host: db, port: { number: 5432 } } }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: web-mesh, namespace: default }
spec:
  hosts: [web]
  http:
  - route: [{ destination: { host: api.team.svc.cluster.local, port: { number: 9000 } } }]
`;

const ctx = snapshotOf(docsOfYaml(WORLD), { label: 'router-table' });
const gateway = parseProxy({
  id: 'router~10.1.1.10~gw-abcde.istio-system~istio-system.svc.cluster.local',
  metadata: { NAMESPACE: 'istio-system', LABELS: { istio: 'ingressgateway' }, ISTIO_VERSION: '1.24.0' },
});
const { resources, missingRoutes } = generateSidecarResources(ctx, gateway, createRouterGenerator());
const at = (port: number, extra: Partial<SimRequestInput> = {}): SimRequestInput => ({ entryPort: port, destinationIp: '10.1.1.10', port, ...extra });
const WEB = 'outbound|8000||web.default.svc.cluster.local';
const API = 'outbound|9000||api.team.svc.cluster.local';

const ROWS: { name: string; req: SimRequestInput; check: (r: SimResult) => void }[] = [
  { name: 'httpsRedirect: plain HTTP on port 80 (pod 8080) gets a 301 to https, whatever the path', req: at(8080, { host: 'web.example.com', path: '/static/app.js' }), check: (r) => {
    assert.equal(r.listener, '0.0.0.0_8080');
    assert.equal(r.http?.routeConfiguration, 'http.8080');
    assert.equal(r.http?.action, 'redirect');
    assert.equal(r.http?.redirect?.location, 'https://web.example.com/static/app.js');
    assert.equal(r.http?.redirect?.status, 301);
  } },
  { name: 'host and path over HTTPS: /static on web.example.com → web', req: at(8443, { host: 'web.example.com', path: '/static/app.js', scheme: 'https', tls: { sni: 'web.example.com', alpn: ['h2'] } }), check: (r) => {
    assert.equal(r.http?.routeName, undefined);
    assert.equal(r.http?.routeIndex, 0, 'the /static rule');
    assert.deepEqual(r.http?.clusters.map((c) => c.name), [WEB]);
  } },
  { name: 'cross-namespace ns/host: team/api.example.com binds only the team VirtualService', req: at(8443, { host: 'api.example.com', scheme: 'https', tls: { sni: 'api.example.com', alpn: ['h2'] } }), check: (r) => {
    assert.deepEqual(r.http?.clusters.map((c) => c.name), [API], 'default/api-elsewhere is not allowed by the server host team/api.example.com');
  } },
  { name: 'a host no VirtualService claims: 404 (no virtual host)', req: at(8080, { host: 'unknown.example.com' }), check: (r) => {
    assert.equal(r.failure, 'no_virtual_host');
  } },
  { name: 'HTTPS SIMPLE: SNI web.example.com terminates TLS and routes', req: at(8443, { host: 'web.example.com', scheme: 'https', tls: { sni: 'web.example.com', alpn: ['h2'] } }), check: (r) => {
    assert.equal(r.http?.routeConfiguration, 'https.443.https.public.istio-system');
    assert.match(r.filterChainTransportSocket ?? '', /DownstreamTlsContext/);
    assert.deepEqual(r.http?.clusters.map((c) => c.name), [WEB]);
  } },
  { name: 'mutual TLS server: SNI api.example.com gets its own chain and route configuration', req: at(8443, { host: 'api.example.com', scheme: 'https', tls: { sni: 'api.example.com', alpn: ['h2'] } }), check: (r) => {
    assert.equal(r.http?.routeConfiguration, 'https.443.https-mtls.public.istio-system');
    assert.deepEqual(r.http?.clusters.map((c) => c.name), [API]);
  } },
  { name: 'SNI passthrough: db.example.com is proxied as TCP by SNI', req: at(15443, { protocol: 'tcp', tls: { sni: 'db.example.com', alpn: [] } }), check: (r) => {
    assert.deepEqual(r.tcpClusters?.map((c) => c.name), ['outbound|5432||db.default.svc.cluster.local']);
  } },
  { name: 'SNI passthrough: another SNI finds no chain', req: at(15443, { protocol: 'tcp', tls: { sni: 'other.example.com', alpn: [] } }), check: (r) => {
    assert.equal(r.failure, 'no_filter_chain');
  } },
];

describe('gateway (router) requests through the simulator', () => {
  it('every route configuration a listener names is generated', () => assert.deepEqual(missingRoutes, []));
  for (const row of ROWS) it(row.name, () => row.check(simulate(resources, row.req)));
  it('the mesh VirtualService for web does not reach the gateway, the gateway-bound ones do not reach sidecars', () => {
    const r = simulate(resources, at(8443, { host: 'web.example.com', scheme: 'https', tls: { sni: 'web.example.com', alpn: ['h2'] } }));
    assert.deepEqual(r.http?.clusters.map((c) => c.name), [WEB], 'web-mesh (gateways: mesh) would send it to api');
    const sidecar = parseProxy({ id: 'sidecar~10.1.0.5~client-abcde.default~default.svc.cluster.local', metadata: { NAMESPACE: 'default', LABELS: { app: 'client' } } });
    const side = generateSidecarResources(ctx, sidecar);
    const toWeb = simulate(side.resources, { destinationIp: '10.96.0.40', port: 8000, host: 'web:8000' });
    assert.deepEqual(toWeb.http?.clusters.map((c) => c.name), [API], 'the sidecar follows web-mesh');
  });
});
