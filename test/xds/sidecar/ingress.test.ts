import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseProxy, type Proxy } from '../../../src/model/proxy.js';
import { sidecarGenerator } from '../../../src/xds/generators/sidecar/index.js';
import { TYPE } from '../../../src/xds/resource-types.js';
import { checkEnvoyResource } from '../../support/envoy-check/pgv-check.js';
import { docsOfYaml, snapshotOf } from '../../support/snapshot.js';

// Sidecar `ingress` listeners (istiod buildInboundChainConfigs / buildInboundClustersFromSidecar): they
// replace the Service-derived inbound ports, bind for real where capture is off, and their clusters send
// to `defaultEndpoint`.

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const WORLD = `
apiVersion: v1
kind: Service
metadata: {name: ratings, namespace: apps}
spec:
  selector: {app: ratings}
  ports: [{name: http, port: 9080}, {name: grpc, port: 7070}]
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: ratings-ingress, namespace: apps}
spec:
  workloadSelector: {labels: {app: ratings}}
  ingress:
  - port: {number: 9080, protocol: HTTP, name: http}
    defaultEndpoint: 0.0.0.0:8080
  - port: {number: 9443, protocol: TCP, name: admin}
    bind: 0.0.0.0
    captureMode: NONE
    defaultEndpoint: 127.0.0.1:9000
`;

const ctx = snapshotOf(docsOfYaml(WORLD), { label: 'ingress.test' });
const ratings = (ip: string, mode = 'REDIRECT'): Proxy => parseProxy({
  id: `sidecar~${ip}~ratings-1.apps~apps.svc.cluster.local`,
  metadata: { NAMESPACE: 'apps', LABELS: { app: 'ratings' }, INSTANCE_IPS: ip, ISTIO_VERSION: '1.24.0', INTERCEPTION_MODE: mode },
});
const gen = (p: Proxy, type: typeof TYPE.LDS | typeof TYPE.CDS, name: string) => sidecarGenerator.generate(type, ctx, p, name) as Obj | undefined;

describe('Sidecar ingress listeners', () => {
  const p = ratings('10.2.0.7');

  it('replace the Service ports: virtualInbound has chains for the captured ingress port only, named after the pod IP', () => {
    const vi = gen(p, TYPE.LDS, 'virtualInbound')!;
    const named = vi.filter_chains.map((c: Obj) => c.name).filter((n: string) => !n.startsWith('virtualInbound'));
    assert.ok(named.length > 0 && named.every((n: string) => n === '10.2.0.7_9080'), named.join(','));
    const chain = vi.filter_chains.find((c: Obj) => c.name === '10.2.0.7_9080');
    assert.match(JSON.stringify(chain.metadata), /\/apis\/networking\.istio\.io\/v1\/namespaces\/apps\/sidecar\/ratings-ingress/);
    assert.ok(!JSON.stringify(vi).includes('"value":7070'), 'the Service port 7070 is not served: the Sidecar ingress decides');
    assert.deepEqual(checkEnvoyResource(TYPE.LDS, vi), []);
  });

  it('captureMode NONE binds a listener of its own (no original_dst), beside virtualInbound', () => {
    const names = sidecarGenerator.wildcardNames(TYPE.LDS, ctx, p);
    assert.ok(names.includes('virtualInbound') && names.includes('0.0.0.0_9443'), names.join(','));
    const l = gen(p, TYPE.LDS, '0.0.0.0_9443')!;
    assert.deepEqual(l.address, { socket_address: { address: '0.0.0.0', port_value: 9443 } });
    assert.equal(l.bind_to_port, undefined);
    assert.equal(l.traffic_direction, 'INBOUND');
    assert.ok(!JSON.stringify(l.listener_filters ?? []).includes('original_dst'));
    assert.ok(l.filter_chains.every((c: Obj) => c.filter_chain_match.destination_port.value === 9443));
    assert.deepEqual(checkEnvoyResource(TYPE.LDS, l), []);
  });

  it('inbound clusters: STATIC to the defaultEndpoint (0.0.0.0 = the pod IP, with the passthrough source; loopback without)', () => {
    assert.deepEqual(sidecarGenerator.wildcardNames(TYPE.CDS, ctx, p, 'class'), ['inbound|9080||', 'inbound|9443||']);
    const podIp = gen(p, TYPE.CDS, 'inbound|9080||')!;
    assert.equal(podIp.type, 'STATIC');
    assert.deepEqual(podIp.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address, { socket_address: { address: '10.2.0.7', port_value: 8080 } });
    assert.ok(podIp.upstream_bind_config, 'to the pod IP: bind the passthrough source so iptables lets it through');
    const loop = gen(p, TYPE.CDS, 'inbound|9443||')!;
    assert.deepEqual(loop.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address, { socket_address: { address: '127.0.0.1', port_value: 9000 } });
    assert.equal(loop.upstream_bind_config, undefined);
    assert.equal(gen(p, TYPE.CDS, 'inbound|7070||'), undefined);
    for (const c of [podIp, loop]) assert.deepEqual(checkEnvoyResource(TYPE.CDS, c), []);
  });

  it('NONE mode: no virtual listeners, every ingress port binds for real', () => {
    const none = ratings('10.2.0.8', 'NONE');
    const names = sidecarGenerator.wildcardNames(TYPE.LDS, ctx, none);
    assert.ok(!names.includes('virtualInbound') && !names.includes('virtualOutbound'));
    assert.ok(names.includes('10.2.0.8_9080') && names.includes('0.0.0.0_9443'), names.join(','));
  });

  it('the class key carries the pod IP when a port binds or sends to it, so replicas do not share those listeners', () => {
    assert.notEqual(sidecarGenerator.classKey(ctx, ratings('10.2.0.7')), sidecarGenerator.classKey(ctx, ratings('10.2.0.9')));
    const plain = snapshotOf(docsOfYaml(WORLD.split('---').slice(0, 1).join('---')), { label: 'no sidecar' });
    assert.equal(sidecarGenerator.classKey(plain, ratings('10.2.0.7')), sidecarGenerator.classKey(plain, ratings('10.2.0.9')));
  });
});
