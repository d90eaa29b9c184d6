import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseProxy } from '../../src/model/proxy.js';
import { simulate } from '../../src/simulate/envoy-sim.js';
import type { SimRequestInput } from '../../src/simulate/resources.js';
import { generateSidecarResources } from '../../src/simulate/sidecar-resources.js';
import { createRouterGenerator } from '../../src/xds/generators/router/index.js';
import { TYPE } from '../../src/xds/resource-types.js';
import { docsOfYaml, snapshotOf } from '../support/snapshot.js';

// An east-west gateway's AUTO_PASSTHROUGH server (istiod's multi-network gateway) through the simulator:
// a sidecar of another network connects with Istio mTLS and SNI `outbound_.PORT_.SUBSET_.FQDN`; the
// gateway picks the SNI-DNAT cluster of that name without terminating TLS. Connections without an Istio
// mTLS ALPN, SNIs of hosts outside the server's hosts, and mesh-external hosts find no chain.

const WORLD = `
apiVersion: v1
kind: Service
metadata: { name: istio-eastwestgateway, namespace: istio-system }
spec:
  clusterIP: 10.96.1.2
  selector: { istio: eastwestgateway }
  ports: [{ name: tls, port: 15443, targetPort: 15443 }]
---
apiVersion: v1
kind: Pod
metadata: { name: ew-abcde, namespace: istio-system, labels: { istio: eastwestgateway } }
status: { phase: Running, podIP: 10.1.1.20, conditions: [{ type: Ready, status: "True" }] }
---
apiVersion: v1
kind: Service
metadata: { name: reviews, namespace: default }
spec: { clusterIP: 10.96.0.50, selector: { app: reviews }, ports: [{ name: http, port: 9080 }] }
---
apiVersion: v1
kind: Pod
metadata: { name: reviews-v1-abcde, namespace: default, labels: { app: reviews, version: v1, security.istio.io/tlsMode: istio } }
status: { phase: Running, podIP: 10.1.0.50, conditions: [{ type: Ready, status: "True" }] }
---
apiVersion: v1
kind: Pod
metadata: { name: reviews-v2-abcde, namespace: default, labels: { app: reviews, version: v2 } }
status: { phase: Running, podIP: 10.1.0.51, conditions: [{ type: Ready, status: "True" }] }
---
apiVersion: v1
kind: Service
metadata: { name: billing, namespace: finance }
spec: { clusterIP: 10.96.0.60, selector: { app: billing }, ports: [{ name: grpc, port: 7070 }] }
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: external-api, namespace: default }
spec:
  hosts: [api.partner.local]
  location: MESH_EXTERNAL
  resolution: DNS
  ports: [{ number: 443, name: tls, protocol: TLS }]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: reviews, namespace: default }
spec:
  host: reviews
  subsets: [{ name: v1, labels: { version: v1 } }, { name: v2, labels: { version: v2 } }]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: cross-network-gateway, namespace: istio-system }
spec:
  selector: { istio: eastwestgateway }
  servers:
  - port: { number: 15443, name: tls, protocol: TLS }
    tls: { mode: AUTO_PASSTHROUGH }
    hosts: ["*.default.svc.cluster.local", "*.local"]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: default-only, namespace: istio-system }
spec:
  selector: { istio: eastwestgateway }
  servers:
  - port: { number: 16443, name: tls-default, protocol: TLS }
    tls: { mode: AUTO_PASSTHROUGH }
    hosts: ["*.default.svc.cluster.local"]
`;

const ctx = snapshotOf(docsOfYaml(WORLD), { label: 'router-auto-passthrough' });
const gateway = parseProxy({
  id: 'router~10.1.1.20~ew-abcde.istio-system~istio-system.svc.cluster.local',
  metadata: { NAMESPACE: 'istio-system', LABELS: { istio: 'eastwestgateway' }, ISTIO_VERSION: '1.24.0' },
});
const gen = createRouterGenerator();
const { resources } = generateSidecarResources(ctx, gateway, gen);
const mtls = (port: number, sni: string, alpn: string[] = ['istio-peer-exchange', 'istio']): SimRequestInput => ({ entryPort: port, destinationIp: '10.1.1.20', port, protocol: 'tcp', tls: { sni, alpn } });
const REVIEWS_V1 = 'outbound_.9080_.v1_.reviews.default.svc.cluster.local';

describe('AUTO_PASSTHROUGH (east-west gateway) through the simulator', () => {
  it('Istio mTLS with SNI outbound_.9080_.v1_.reviews… goes to the SNI-DNAT cluster of that name', () => {
    const r = simulate(resources, mtls(15443, REVIEWS_V1));
    assert.equal(r.listener, '0.0.0.0_15443');
    assert.deepEqual(r.tcpClusters?.map((c) => c.name), [REVIEWS_V1]);
    assert.equal(r.filterChainTransportSocket, undefined, 'TLS is passed through, not terminated');
  });
  it('the service itself (no subset) and a service of another namespace within *.local', () => {
    assert.deepEqual(simulate(resources, mtls(15443, 'outbound_.9080_._.reviews.default.svc.cluster.local')).tcpClusters?.map((c) => c.name), ['outbound_.9080_._.reviews.default.svc.cluster.local']);
    assert.deepEqual(simulate(resources, mtls(15443, 'outbound_.7070_._.billing.finance.svc.cluster.local')).tcpClusters?.map((c) => c.name), ['outbound_.7070_._.billing.finance.svc.cluster.local']);
  });
  it('TLS without an Istio mTLS ALPN finds no chain', () => {
    assert.equal(simulate(resources, mtls(15443, REVIEWS_V1, ['h2', 'http/1.1'])).failure, 'no_filter_chain');
  });
  it("a server's hosts bound what it forwards: *.default.svc.cluster.local on 16443 has no chain for finance", () => {
    assert.deepEqual(simulate(resources, mtls(16443, REVIEWS_V1)).tcpClusters?.map((c) => c.name), [REVIEWS_V1]);
    assert.equal(simulate(resources, mtls(16443, 'outbound_.7070_._.billing.finance.svc.cluster.local')).failure, 'no_filter_chain');
  });
  it('a mesh-external host gets neither a chain nor an SNI-DNAT cluster', () => {
    assert.equal(simulate(resources, mtls(15443, 'outbound_.443_._.api.partner.local')).failure, 'no_filter_chain');
    assert.ok(!gen.wildcardNames(TYPE.CDS, ctx, gateway).some((n) => n.includes('api.partner.local') && n.startsWith('outbound_.')));
  });
  it('SNI-DNAT clusters carry no TLS of their own, and their endpoints are only the mTLS-capable ones', () => {
    const cluster = gen.generate(TYPE.CDS, ctx, gateway, REVIEWS_V1) as Record<string, unknown>;
    assert.equal(cluster.transport_socket, undefined);
    assert.equal(cluster.transport_socket_matches, undefined);
    const eds = (name: string) => (gen.generate(TYPE.EDS, ctx, gateway, name) as { endpoints: { lb_endpoints: { endpoint: { address: { socket_address: { address: string } } } }[] }[] }).endpoints.flatMap((l) => l.lb_endpoints.map((e) => e.endpoint.address.socket_address.address));
    assert.deepEqual(eds('outbound_.9080_._.reviews.default.svc.cluster.local'), ['10.1.0.50'], 'reviews-v2 has no sidecar: not reachable through the passthrough');
    assert.deepEqual(eds('outbound_.9080_.v2_.reviews.default.svc.cluster.local'), []);
    assert.deepEqual(eds('outbound|9080||reviews.default.svc.cluster.local').sort(), ['10.1.0.50', '10.1.0.51'], 'the ordinary outbound cluster keeps both');
  });
});
