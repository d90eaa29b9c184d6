import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigStore, objectKey } from '../../src/config/store.js';
import type { Kind } from '../../src/config/kinds.js';
import { PushContext } from '../../src/model/push-context.js';
import { parseProxy, type Proxy } from '../../src/model/proxy.js';
import { ResourceCache } from '../../src/xds/cache.js';
import { grpcGenerator } from '../../src/xds/generators/grpc/index.js';
import { TYPE, type TypeUrl } from '../../src/xds/resource-types.js';

// The encode cache keeps resources across snapshots while nothing they read has changed. A stale entry
// would hand a proxy old config (or another proxy's), so this walks a mesh through a series of changes
// and after each one compares every cached resource with a fresh generation — and checks that the
// cache really reused what a change did not touch.

const origin = { source: 'memory', label: 'test' } as const;
type Obj = Record<string, unknown> & { kind: Kind; metadata: { name: string; namespace?: string; labels?: Record<string, string> } };

const svc = (name: string, port = 5000, ns = 'default'): Obj => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns }, spec: { selector: { app: name }, ports: [{ name: 'grpc', port }] } });
const pod = (name: string, app: string, ip: string, labels: Record<string, string> = {}, ns = 'default'): Obj => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: ns, labels: { app, ...labels } }, spec: { serviceAccountName: app }, status: { podIP: ip, phase: 'Running' } });
const dr = (name: string, spec: Record<string, unknown>, ns = 'default'): Obj => ({ apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name, namespace: ns }, spec: { host: name, ...spec } });
const vs = (name: string, http: unknown[], ns = 'default'): Obj => ({ apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name, namespace: ns }, spec: { hosts: [name], http } });
const SUBSETS = { subsets: [{ name: 'v1', labels: { version: 'v1' } }, { name: 'v2', labels: { version: 'v2' } }] };
const split = (a: number) => [{ route: [{ destination: { host: 'hello', subset: 'v1' }, weight: a }, { destination: { host: 'hello', subset: 'v2' }, weight: 100 - a }] }];

const proxy = (pod: string, ip: string, ns: string, labels: Record<string, string>): Proxy =>
  parseProxy({ id: `sidecar~${ip}~${pod}.${ns}~${ns}.svc.cluster.local`, metadata: { GENERATOR: 'grpc', NAMESPACE: ns, LABELS: labels } });

const PROXIES = [
  proxy('client-a', '10.9.0.1', 'default', { app: 'client', track: 'stable' }),
  proxy('client-b', '10.9.0.2', 'default', { app: 'client', track: 'canary' }),
  proxy('client-c', '10.9.0.3', 'other', { app: 'client' }),
  proxy('hello-v1', '10.1.0.1', 'default', { app: 'hello', version: 'v1' }),
];

function namesOf(ctx: PushContext): [TypeUrl, string][] {
  const out: [TypeUrl, string][] = [];
  for (const s of ctx.registry.services) {
    for (const p of s.ports) {
      out.push([TYPE.LDS, `${s.hostname}:${p.port}`], [TYPE.RDS, `outbound|${p.port}||${s.hostname}`]);
      for (const subset of ['', 'v1', 'v2', 'v3']) {
        out.push([TYPE.CDS, `outbound|${p.port}|${subset}|${s.hostname}`], [TYPE.EDS, `outbound|${p.port}|${subset}|${s.hostname}`]);
      }
    }
  }
  for (const ip of ['10.1.0.1', '10.1.0.2', '10.1.0.9']) out.push([TYPE.LDS, `xds.istio.io/grpc/lds/inbound/${ip}:5000`]);
  return out;
}

describe('resource cache across snapshots', () => {
  it('never serves a stale or foreign resource, and reuses what a change did not touch', () => {
    const store = new ConfigStore();
    const put = (o: Obj) => store.upsert(o.kind, o as never, origin, 't');
    const del = (kind: Kind, name: string, ns = 'default') => store.delete(kind, objectKey(kind, kind === 'Namespace' ? undefined : ns, name));
    [svc('hello'), svc('world', 6000), pod('hello-v1', 'hello', '10.1.0.1', { version: 'v1' }), pod('hello-v2', 'hello', '10.1.0.2', { version: 'v2' }),
      pod('world-1', 'world', '10.2.0.1'), dr('hello', SUBSETS), vs('hello', split(90))].forEach(put);

    const steps: [string, () => void, (TypeUrl | 'none')[]][] = [
      ['nothing changed', () => {}, []],
      ['VirtualService weights', () => put(vs('hello', split(50))), [TYPE.RDS]],
      ['VirtualService with sourceLabels (class keys change)', () => put(vs('hello', [{ match: [{ sourceLabels: { track: 'canary' } }], route: [{ destination: { host: 'hello', subset: 'v2' } }] }, ...split(100)])), [TYPE.RDS]],
      ['new pod for an existing subset', () => put(pod('hello-v2b', 'hello', '10.1.0.3', { version: 'v2' })), [TYPE.EDS]],
      ['pod relabelled into another subset', () => put(pod('hello-v2b', 'hello', '10.1.0.3', { version: 'v1' })), [TYPE.EDS]],
      ['DestinationRule policy', () => put(dr('hello', { ...SUBSETS, trafficPolicy: { loadBalancer: { consistentHash: { httpHeaderName: 'x-user' } } } })), [TYPE.CDS]],
      ['DestinationRule subset labels', () => put(dr('hello', { subsets: [{ name: 'v1', labels: { version: 'v2' } }, { name: 'v3', labels: { version: 'v1' } }] })), [TYPE.EDS]],
      ['namespace-local DestinationRule for one client namespace', () => put(dr('hello.default.svc.cluster.local', { trafficPolicy: { loadBalancer: { simple: 'RANDOM' } } }, 'other')), []],
      ['workload-selected DestinationRule', () => put(dr('hello', { ...SUBSETS, workloadSelector: { matchLabels: { track: 'stable' } }, trafficPolicy: { connectionPool: { http: { http2MaxRequests: 7 } } } }, 'default')), []],
      ['service port change', () => put(svc('world', 6001)), []],
      ['STRICT PeerAuthentication', () => put({ apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name: 'default', namespace: 'default' }, spec: { mtls: { mode: 'STRICT' } } }), []],
      // its selector's label key joins every class key, so nothing can be reused for this snapshot
      ['AuthorizationPolicy (new selector label key)', () => put({ apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'allow', namespace: 'default' }, spec: { selector: { matchLabels: { app: 'hello' } }, rules: [{ from: [{ source: { principals: ['cluster.local/ns/default/sa/client'] } }] }] } }), []],
      ['VirtualService deleted', () => del('VirtualService', 'hello'), [TYPE.RDS]],
      ['pod deleted', () => del('Pod', 'hello-v1'), []],
      ['service deleted', () => del('Service', 'world'), []],
    ];

    const cache = new ResourceCache();
    let version = 0;
    for (const [what, change, mustRebuild] of steps) {
      change();
      const ctx = new PushContext(store, `v${++version}`);
      cache.beginSnapshot(ctx);
      const before = { ...cache.stats };
      const rebuiltTypes = new Set<string>();
      for (const p of PROXIES) {
        const classId = `grpc\u0000${grpcGenerator.classKey(ctx, p)}`;
        for (const [type, name] of namesOf(ctx)) {
          const builtBefore = cache.stats.built;
          const cached = cache.resource(classId, type, name, () => grpcGenerator.generate(type, ctx, p, name));
          if (cache.stats.built > builtBefore) rebuiltTypes.add(type);
          const fresh = grpcGenerator.generate(type, ctx, p, name) ?? null;
          assert.deepEqual(cached?.body ?? null, fresh, `${what}: ${p.podName} ${type.split('.').pop()} ${name} is stale`);
        }
      }
      if (version > 1) {
        if (!what.includes('new selector label key')) assert.ok(cache.stats.reused > before.reused, `${what}: nothing was reused`);
        for (const t of mustRebuild) assert.ok(rebuiltTypes.has(t), `${what}: ${t} should have been rebuilt`);
        if (what === 'nothing changed') assert.equal(cache.stats.built, before.built, 'an unchanged snapshot rebuilds nothing');
        if (what === 'VirtualService weights') assert.deepEqual([...rebuiltTypes], [TYPE.RDS], 'a weight edit only rebuilds routes');
      }
    }
  });
});
