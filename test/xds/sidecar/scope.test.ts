import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Kind } from '../../../src/config/kinds.js';
import type { PushContext } from '../../../src/model/push-context.js';
import { parseProxy, type Proxy } from '../../../src/model/proxy.js';
import { inboundServicePorts, outboundServices, sidecarClassKey } from '../../../src/xds/generators/sidecar/scope.js';
import { snapshotOf } from '../../support/snapshot.js';

// What a sidecar sees and serves, and which proxies share encoded resources (class key).

type Obj = Record<string, unknown> & { kind: Kind; metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> } };

function ctxOf(objs: Obj[]): PushContext {
  return snapshotOf(objs, { label: 'scope.test' });
}
const svc = (name: string, ns: string, ports: unknown[], selector: Record<string, string> | undefined = { app: name }, annotations?: Record<string, string>): Obj =>
  ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns, ...(annotations ? { annotations } : {}) }, spec: { ...(selector ? { selector } : {}), ports } });
const pod = (name: string, ns: string, ip: string, labels: Record<string, string>, containerPorts: { name: string; containerPort: number }[] = []): Obj =>
  ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: ns, labels }, spec: { serviceAccountName: 'sa', containers: [{ name: 'app', ports: containerPorts }] }, status: { podIP: ip, phase: 'Running' } });
const proxy = (podName: string, ip: string, ns: string, labels: Record<string, string>, md: Record<string, unknown> = {}, locality: Record<string, string> = {}): Proxy =>
  parseProxy({ id: `sidecar~${ip}~${podName}.${ns}~${ns}.svc.cluster.local`, metadata: { NAMESPACE: ns, LABELS: labels, INSTANCE_IPS: ip, ...md }, locality });

describe('sidecar scope', () => {
  it('outbound services honour the exportTo annotation and are sorted by hostname', () => {
    const ctx = ctxOf([
      svc('zeta', 'default', [{ name: 'http', port: 80 }]),
      svc('alpha', 'other', [{ name: 'http', port: 80 }]),
      svc('private', 'other', [{ name: 'http', port: 80 }], undefined, { 'networking.istio.io/exportTo': '.' }),
      svc('hidden', 'other', [{ name: 'http', port: 80 }], undefined, { 'networking.istio.io/exportTo': '~' }),
      svc('shared', 'other', [{ name: 'http', port: 80 }], undefined, { 'networking.istio.io/exportTo': 'default, third' }),
    ]);
    const names = (ns: string) => outboundServices(ctx, proxy('p', '10.0.0.1', ns, {})).map((s) => s.hostname);
    assert.deepEqual(names('default'), ['alpha.other.svc.cluster.local', 'shared.other.svc.cluster.local', 'zeta.default.svc.cluster.local']);
    assert.deepEqual(names('other'), ['alpha.other.svc.cluster.local', 'private.other.svc.cluster.local', 'zeta.default.svc.cluster.local']);
  });

  it('inbound service ports: selector match in the proxy namespace, named targetPort resolved, deduplicated by container port', () => {
    const ctx = ctxOf([
      svc('reviews', 'default', [{ name: 'http', port: 9080, targetPort: 'web' }, { name: 'grpc', port: 7070, targetPort: 7071 }, { name: 'dns', port: 53, protocol: 'UDP' }]),
      svc('reviews-alias', 'default', [{ name: 'http', port: 80, targetPort: 'web' }], { app: 'reviews' }),
      svc('reviews', 'other', [{ name: 'http', port: 1234 }]),
      svc('ratings', 'default', [{ name: 'http', port: 9080 }]),
      svc('unnamed', 'default', [{ name: 'http', port: 8000, targetPort: 'nosuch' }], { app: 'reviews' }),
      pod('reviews-1', 'default', '10.0.0.5', { app: 'reviews' }, [{ name: 'web', containerPort: 8080 }]),
    ]);
    const ports = inboundServicePorts(ctx, proxy('reviews-1', '10.0.0.5', 'default', { app: 'reviews' }))
      .map((p) => `${p.service.name}:${p.port.port}>${p.targetPort}`);
    assert.deepEqual(ports, ['reviews:7070>7071', 'unnamed:8000>8000', 'reviews-alias:80>8080']);
    assert.deepEqual(inboundServicePorts(ctx, proxy('x', '10.0.0.9', 'default', { app: 'nothing' })), []);
  });

  it('replicas share a class; what changes output splits it', () => {
    const base: Obj[] = [
      svc('reviews', 'default', [{ name: 'http', port: 9080 }]),
      svc('tracked', 'default', [{ name: 'http', port: 9080 }], { track: 'canary' }),
      { apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'r', namespace: 'default' }, spec: { hosts: ['reviews'], http: [{ match: [{ sourceLabels: { version: 'v1' } }], route: [{ destination: { host: 'reviews' } }] }] } },
      { apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'a', namespace: 'default' }, spec: { selector: { matchLabels: { role: 'db' } } } },
      { apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'db', namespace: 'default' }, spec: { hosts: ['db'], tcp: [{ match: [{ sourceLabels: { tier: 'batch' } }], route: [{ destination: { host: 'db' } }] }] } },
    ];
    const ctx = ctxOf(base);
    const labels = { app: 'reviews', version: 'v1', 'pod-template-hash': 'abc' };
    const key = (p: Proxy, c = ctx) => sidecarClassKey(c, p);
    const r1 = proxy('reviews-abc-1', '10.0.0.5', 'default', labels);
    const shares: [string, Proxy][] = [
      ['another replica (name, IP, pod-template-hash)', proxy('reviews-def-2', '10.0.0.6', 'default', { ...labels, 'pod-template-hash': 'def' })],
      ['another service account / Istio version', proxy('reviews-x', '10.0.0.7', 'default', labels, { SERVICE_ACCOUNT: 'other', ISTIO_VERSION: '1.99.0' })],
      ['a locality while no DestinationRule is locality-aware', proxy('reviews-y', '10.0.0.8', 'default', labels, {}, { region: 'r2', zone: 'z9' })],
    ];
    for (const [what, p] of shares) assert.equal(key(p), key(r1), what);
    const splits: [string, Proxy][] = [
      ['namespace', proxy('reviews-abc-1', '10.0.0.5', 'other', labels)],
      ['DNS domain', parseProxy({ id: 'sidecar~10.0.0.5~reviews-abc-1.default~default.svc.corp.example', metadata: { NAMESPACE: 'default', LABELS: labels } })],
      ['VirtualService sourceLabels value', proxy('r', '10.0.0.5', 'default', { ...labels, version: 'v2' })],
      ['AuthorizationPolicy selector label', proxy('r', '10.0.0.5', 'default', { ...labels, role: 'db' })],
      ['VirtualService tcp sourceLabels value', proxy('r', '10.0.0.5', 'default', { ...labels, tier: 'batch' })],
      ['Service selector label (serves another service)', proxy('r', '10.0.0.5', 'default', { ...labels, track: 'canary' })],
      ['tlsMode label', proxy('r', '10.0.0.5', 'default', { ...labels, 'security.istio.io/tlsMode': 'istio' })],
      ['interception mode', proxy('r', '10.0.0.5', 'default', labels, { INTERCEPTION_MODE: 'TPROXY' })],
      ['interception mode NONE (no virtual listeners, loopback binds, no inbound clusters)', proxy('r', '10.0.0.5', 'default', labels, { INTERCEPTION_MODE: 'NONE' })],
      ['IP family', proxy('r', 'fd00::5', 'default', labels)],
    ];
    for (const [what, p] of splits) assert.notEqual(key(p), key(r1), what);

    const localityAware = ctxOf([...base, { apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'd', namespace: 'default' }, spec: { host: 'reviews', trafficPolicy: { outlierDetection: { consecutive5xxErrors: 3 }, loadBalancer: { localityLbSetting: { failoverPriority: ['topology.istio.io/network'] } } } } }]);
    const east = proxy('a', '10.0.0.5', 'default', labels, {}, { region: 'us-east' });
    assert.notEqual(key(east, localityAware), key(proxy('b', '10.0.0.6', 'default', labels, {}, { region: 'us-west' }), localityAware), 'locality under locality LB');
    assert.equal(key(east, localityAware), key(proxy('c', '10.0.0.7', 'default', labels, {}, { region: 'us-east' }), localityAware));
    assert.notEqual(key(east, localityAware), key(proxy('d', '10.0.0.5', 'default', { ...labels, 'topology.istio.io/network': 'n2' }, {}, { region: 'us-east' }), localityAware), 'failoverPriority label');
  });
});
