import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { ConfigStore } from '../../src/config/store.js';
import { validateDocument } from '../../src/config/validate.js';
import { PushContext } from '../../src/model/push-context.js';
import { DEFAULT_MESH_CONFIG } from '../../src/config/mesh-config.js';
import { parseProxy, type Proxy } from '../../src/model/proxy.js';
import { viewKey } from '../../src/model/proxy-view.js';
import { subscriptionOf, WILDCARD_ONLY } from '../../src/xds/connection.js';
import type { EncodedResource, ResourceSet } from '../../src/xds/cache.js';
import type { Generator } from '../../src/xds/generators/generator.js';
import { grpcGenerator } from '../../src/xds/generators/grpc/index.js';
import { createRouterGenerator } from '../../src/xds/generators/router/index.js';
import { sidecarGenerator } from '../../src/xds/generators/sidecar/index.js';
import { Resolver } from '../../src/xds/resolve.js';
import { TYPE, type TypeUrl } from '../../src/xds/resource-types.js';

// Outbound resources are generated once per outbound *view* from a canonical proxy built from the view
// alone (model/proxy-view.ts), not once per proxy class from the real proxy. These tests pin that:
// - equivalence: for every proxy of the simulator world (and variants of each view field), what the
//   resolver serves is exactly what the generator makes for the real proxy — the view loses nothing;
// - sharing: two classes differing only in labels are served the same built outbound objects;
// - keying: changing each view field changes the view, and the output where the field matters.

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const GENERATORS = { sidecar: sidecarGenerator, grpc: grpcGenerator, router: createRouterGenerator() };
const origin = { source: 'memory', label: 'proxy-view test' } as const;

function storeOf(docs: Obj[], base = true): ConfigStore {
  const store = new ConfigStore();
  const all = base
    ? [...parseAllDocuments(readFileSync(new URL('../simulate/sidecar-world.yaml', import.meta.url), 'utf8')).map((d) => d.toJS() as Obj), ...docs]
    : docs;
  all.forEach((doc, i) => {
    const r = validateDocument(doc);
    if (!r.ok) throw new Error(`doc ${i}: ${JSON.stringify(r.problems)}`);
    store.upsert(r.value.kind, r.value.object, origin, 't');
  });
  return store;
}

interface ProxyOpts {
  ip?: string;
  pod?: string;
  ns?: string;
  labels?: Record<string, string>;
  mode?: string;
  locality?: { region: string; zone: string };
  stock?: boolean;
  domain?: string;
  grpc?: boolean;
}

function proxy(o: ProxyOpts = {}): Proxy {
  const ns = o.ns ?? 'default';
  const ip = o.ip ?? '10.1.0.200';
  return parseProxy({
    id: `sidecar~${ip.split(',')[0]}~${o.pod ?? 'client-1'}.${ns}~${ns}.svc.${o.domain ?? 'cluster.local'}`,
    metadata: {
      NAMESPACE: ns, LABELS: o.labels ?? { app: 'client' }, INSTANCE_IPS: ip, ISTIO_VERSION: '1.24.0',
      INTERCEPTION_MODE: o.mode ?? 'REDIRECT', ...(o.stock ? { ISTIO_PROXY_EXTENSIONS: 'false' } : {}),
      ...(o.grpc ? { GENERATOR: 'grpc' } : {}),
    },
    ...(o.locality ? { locality: o.locality } : {}),
  });
}

/** Names a value references under `key` (EDS service names of clusters, RDS names of HCMs). */
function referenced(value: unknown, key: string, out = new Set<string>()): Set<string> {
  if (Array.isArray(value)) for (const v of value) referenced(v, key, out);
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === key && typeof v === 'string') out.add(v);
      else referenced(v, key, out);
    }
  }
  return out;
}

/** Everything Envoy fetches through the resolver: CDS/LDS wildcard, EDS/RDS by the names those name. */
function resolveAll(resolver: Resolver, p: Proxy): Map<TypeUrl, ResourceSet> {
  const out = new Map<TypeUrl, ResourceSet>();
  const cds = resolver.resolve(p, TYPE.CDS, WILDCARD_ONLY);
  const lds = resolver.resolve(p, TYPE.LDS, WILDCARD_ONLY);
  const eds = referenced(cds.resources.map((r) => r.body), 'service_name');
  const rds = referenced(lds.resources.map((r) => r.body), 'route_config_name');
  out.set(TYPE.CDS, cds).set(TYPE.LDS, lds);
  out.set(TYPE.EDS, resolver.resolve(p, TYPE.EDS, subscriptionOf(false, eds)));
  out.set(TYPE.RDS, resolver.resolve(p, TYPE.RDS, subscriptionOf(false, rds)));
  return out;
}

/** The resolver's answer equals the generator's for the real proxy, resource by resource. */
function assertEquivalent(ctx: PushContext, resolver: Resolver, p: Proxy, label: string): void {
  const g: Generator = GENERATORS[p.generator];
  for (const [type, set] of resolveAll(resolver, p)) {
    const names = type === TYPE.CDS || type === TYPE.LDS ? [...new Set(g.wildcardNames(type, ctx, p))].sort() : set.resources.map((r) => r.name).sort();
    assert.deepEqual(set.resources.map((r) => r.name).sort(), names.filter((n) => g.generate(type, ctx, p, n) !== undefined), `${label} ${type}: names`);
    for (const r of set.resources) assert.deepEqual(r.body, g.generate(type, ctx, p, r.name), `${label} ${type} ${r.name}`);
  }
}

describe('outbound views: equivalence with the real proxy', () => {
  it('every simulator-world proxy and every view-field variant gets exactly what its own generation gives', () => {
    const store = storeOf([
      // failoverPriority ranks endpoints by the proxy's labels: a DestinationRule that makes them matter
      { apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'ratings-fo', namespace: 'default' },
        spec: { host: 'ratings', trafficPolicy: { outlierDetection: { consecutive5xxErrors: 3 }, loadBalancer: { localityLbSetting: { failoverPriority: ['version', 'topology.kubernetes.io/zone'] } } } } },
    ]);
    const ctx = new PushContext(store, 'v1');
    const resolver = new Resolver(GENERATORS);
    resolver.beginSnapshot(ctx);
    const proxies: [string, Proxy][] = [
      ['productpage', proxy({ ip: '10.1.0.20', pod: 'productpage-v1', labels: { app: 'productpage', version: 'v1' }, locality: { region: 'us-east1', zone: 'us-east1-b' } })],
      ['sleep', proxy({ ip: '10.2.0.5', pod: 'sleep', ns: 'other', labels: { app: 'sleep' } })],
      ['httpbin', proxy({ ip: '10.1.0.61', pod: 'httpbin-v1', labels: { app: 'httpbin', version: 'v1' } })],
      ['legacy (NONE)', proxy({ ip: '10.1.0.90', pod: 'legacy-v1', labels: { app: 'legacy' }, mode: 'NONE' })],
      ['TPROXY', proxy({ mode: 'TPROXY' })],
      ['IPv6', proxy({ ip: 'fd00::5' })],
      ['dual stack', proxy({ ip: '10.1.0.201,fd00::6' })],
      ['IPv6 + unparsable', proxy({ ip: 'fd00::7,nonsense' })],
      ['stock Envoy', proxy({ stock: true })],
      ['other DNS domain', proxy({ domain: 'corp.example' })],
      ['no labels at all', proxy({ labels: {} })],
      ['failoverPriority label', proxy({ labels: { version: 'v2' }, locality: { region: 'us-west1', zone: 'us-west1-a' } })],
      ['unrelated labels only', proxy({ labels: { team: 'a' }, locality: { region: 'us-west1', zone: 'us-west1-a' } })],
    ];
    for (const [label, p] of proxies) assertEquivalent(ctx, resolver, p, label);
  });

  it('Sidecar egress listeners with a port, bind and captureMode: each proxy gets what its own generation gives', () => {
    const store = storeOf([
      { apiVersion: 'networking.istio.io/v1', kind: 'Sidecar', metadata: { name: 'ported', namespace: 'default' },
        spec: { workloadSelector: { labels: { egress: 'ported' } }, egress: [
          { port: { number: 9080, protocol: 'HTTP', name: 'http' }, hosts: ['./reviews.default.svc.cluster.local'] },
          { port: { number: 3306, protocol: 'TCP', name: 'tcp' }, captureMode: 'NONE', hosts: ['./mysql.default.svc.cluster.local'] },
          { hosts: ['./*'] },
        ] } },
      { apiVersion: 'networking.istio.io/v1', kind: 'Sidecar', metadata: { name: 'default', namespace: 'other' },
        spec: { egress: [{ port: { number: 9080, name: 'http' }, bind: '127.0.0.5', captureMode: 'NONE', hosts: ['default/*'] }] } },
    ]);
    const ctx = new PushContext(store, 'v1');
    const resolver = new Resolver(GENERATORS);
    resolver.beginSnapshot(ctx);
    const proxies: [string, Proxy][] = [
      ['selected', proxy({ labels: { app: 'client', egress: 'ported' } })],
      ['not selected (same namespace)', proxy({ labels: { app: 'client' } })],
      ['selected, NONE', proxy({ labels: { egress: 'ported' }, mode: 'NONE' })],
      ['selected, IPv6', proxy({ ip: 'fd00::5', labels: { egress: 'ported' } })],
      ['namespace default with bind', proxy({ ns: 'other', labels: { app: 'sleep' } })],
    ];
    for (const [label, p] of proxies) assertEquivalent(ctx, resolver, p, label);
    const outbound = (p: Proxy) => resolver.resolve(p, TYPE.LDS, WILDCARD_ONLY).resources.map((r) => r.name).filter((n) => !n.startsWith('virtual')).sort();
    assert.ok(outbound(proxies[0]![1]).includes('127.0.0.1_3306'), 'the selected proxy has its loopback MySQL socket');
    assert.ok(!outbound(proxies[1]![1]).includes('127.0.0.1_3306'), 'the same namespace without the selector label has not');
    assert.deepEqual(outbound(proxies[4]![1]), ['127.0.0.5_9080']);
  });

  it('proxyless gRPC: client listeners, routes, clusters and assignments by view, server listeners by class', () => {
    const ctx = new PushContext(storeOf([]), 'v1');
    const resolver = new Resolver(GENERATORS);
    resolver.beginSnapshot(ctx);
    const clients = [
      proxy({ grpc: true, labels: { app: 'sleep' }, ip: '10.1.0.210' }),
      proxy({ grpc: true, labels: { app: 'productpage', version: 'v1' }, ip: '10.1.0.20', pod: 'productpage-v1' }),
    ];
    const lds = ['reviews:9080', 'reviews.default.svc.cluster.local:9080', 'ratings:9080', 'nope:1', 'xds.istio.io/grpc/lds/inbound/10.1.0.20:9080'];
    const rds = ['outbound|9080||reviews.default.svc.cluster.local', 'outbound|9080||ratings.default.svc.cluster.local'];
    const cds = ['outbound|9080|v1|reviews.default.svc.cluster.local', 'outbound|9080||reviews.default.svc.cluster.local'];
    for (const p of clients) {
      for (const [type, names] of [[TYPE.LDS, lds], [TYPE.RDS, rds], [TYPE.CDS, cds], [TYPE.EDS, cds]] as [TypeUrl, string[]][]) {
        const set = resolver.resolve(p, type, subscriptionOf(false, names));
        const want = [...names].sort().filter((n) => grpcGenerator.generate(type, ctx, p, n) !== undefined);
        assert.deepEqual(set.resources.map((r) => r.name).sort(), want, `${p.podName} ${type}`);
        for (const r of set.resources) assert.deepEqual(r.body, grpcGenerator.generate(type, ctx, p, r.name), `${p.podName} ${type} ${r.name}`);
      }
    }
  });
});

describe('outbound views: a workload\'s own listeners', () => {
  it('a Sidecar ingress port bound for real is the class\'s own listener, replacing the outbound one of that name', () => {
    const docs: Obj[] = [
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'ratings', namespace: 'apps' }, spec: { clusterIP: '10.96.5.1', selector: { app: 'ratings' }, ports: [{ name: 'http', port: 9080 }] } },
      // an HTTP service on 9443 gives every sidecar an outbound 0.0.0.0_9443
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'admin', namespace: 'apps' }, spec: { clusterIP: '10.96.5.2', selector: { app: 'admin' }, ports: [{ name: 'http', port: 9443 }] } },
      { apiVersion: 'networking.istio.io/v1', kind: 'Sidecar', metadata: { name: 'ratings-ingress', namespace: 'apps' },
        spec: { workloadSelector: { labels: { app: 'ratings' } }, ingress: [
          { port: { number: 9080, protocol: 'HTTP', name: 'http' }, defaultEndpoint: '0.0.0.0:8080' },
          { port: { number: 9443, protocol: 'TCP', name: 'admin' }, bind: '0.0.0.0', captureMode: 'NONE', defaultEndpoint: '127.0.0.1:9000' },
        ] } },
    ];
    const ctx = new PushContext(storeOf(docs, false), 'v1');
    const resolver = new Resolver(GENERATORS);
    resolver.beginSnapshot(ctx);
    const ratings = proxy({ ns: 'apps', pod: 'ratings-1', ip: '10.2.0.7', labels: { app: 'ratings' } });
    const ratingsNone = proxy({ ns: 'apps', pod: 'ratings-2', ip: '10.2.0.8', labels: { app: 'ratings' }, mode: 'NONE' });
    const other = proxy({ ns: 'apps', pod: 'other-1', ip: '10.2.0.9', labels: { app: 'other' } });
    for (const p of [ratings, ratingsNone, other]) assertEquivalent(ctx, resolver, p, p.podName);
    const listener = (p: Proxy) => resolver.resolve(p, TYPE.LDS, WILDCARD_ONLY).get('0.0.0.0_9443')!;
    assert.match(JSON.stringify(listener(ratings).body), /"traffic_direction":"INBOUND"/, 'ratings binds its admin port: its own inbound listener');
    assert.match(JSON.stringify(listener(other).body), /"traffic_direction":"OUTBOUND"/, 'the others keep the outbound listener');
  });
});

/** A mesh like the load bench's: services on port 5000 with DestinationRule subsets and a VirtualService. */
function benchLikeStore(extra: Obj[] = []): ConfigStore {
  const docs: Obj[] = [];
  for (const name of ['alpha', 'beta', 'gamma']) {
    docs.push(
      { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'ns1' }, spec: { clusterIP: `10.96.1.${docs.length + 1}`, selector: { app: name }, ports: [{ name: 'http', port: 5000 }] } },
      { apiVersion: 'v1', kind: 'Pod', metadata: { name: `${name}-v1`, namespace: 'ns1', labels: { app: name, version: 'v1', 'security.istio.io/tlsMode': 'istio' } }, spec: { serviceAccountName: name }, status: { podIP: `10.1.1.${docs.length + 1}`, phase: 'Running' } },
    );
    // gamma is left without routing config for the keying tests to add their own
    if (name === 'gamma') continue;
    docs.push(
      { apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name, namespace: 'ns1' }, spec: { host: name, subsets: [{ name: 'v1', labels: { version: 'v1' } }, { name: 'v2', labels: { version: 'v2' } }] } },
      { apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name, namespace: 'ns1' }, spec: { hosts: [name], http: [{ route: [{ destination: { host: name, subset: 'v1' }, weight: 90 }, { destination: { host: name, subset: 'v2' }, weight: 10 }] }] } },
    );
  }
  return storeOf([...docs, ...extra], false);
}

const names = (rs: readonly EncodedResource[]) => rs.map((r) => r.name);

describe('outbound views: sharing', () => {
  it('two classes differing only in labels (and their own Services) are served the same built outbound objects', () => {
    const ctx = new PushContext(benchLikeStore(), 'v1');
    const resolver = new Resolver(GENERATORS);
    resolver.beginSnapshot(ctx);
    const a = proxy({ ns: 'ns1', pod: 'alpha-v1', ip: '10.1.1.2', labels: { app: 'alpha', version: 'v1', 'security.istio.io/tlsMode': 'istio' } });
    const b = proxy({ ns: 'ns1', pod: 'beta-v1', ip: '10.1.1.6', labels: { app: 'beta', version: 'v1', 'security.istio.io/tlsMode': 'istio' } });
    assert.notEqual(sidecarGenerator.classKey(ctx, a), sidecarGenerator.classKey(ctx, b), 'two classes');
    const setsA = resolveAll(resolver, a);
    const before = resolver.stats.built;
    const setsB = resolveAll(resolver, b);
    for (const type of [TYPE.CDS, TYPE.EDS, TYPE.RDS, TYPE.LDS]) {
      const [sa, sb] = [setsA.get(type)!, setsB.get(type)!];
      assert.equal(sb.segments[0], sa.segments[0], `${type}: one outbound segment object for both classes`);
      for (const r of sa.segments[0]!.resources) assert.equal(sb.get(r.name), r, `${type} ${r.name}: the same built object`);
    }
    assert.deepEqual(names(setsA.get(TYPE.LDS)!.segments[0]!.resources), ['0.0.0.0_5000', 'virtualOutbound'], 'the outbound listeners are in the shared segment');
    // what each workload serves is its own
    const inbound = (sets: Map<TypeUrl, ResourceSet>) => sets.get(TYPE.CDS)!.resources.filter((r) => r.name.startsWith('inbound|'));
    assert.deepEqual(names(inbound(setsA)), ['inbound|5000||']);
    assert.notEqual(inbound(setsA)[0], inbound(setsB)[0], 'inbound clusters are per class');
    const ownBuilt = resolver.stats.built - before;
    assert.equal(ownBuilt, 2, `the second class built only its own inbound cluster and virtualInbound (built ${ownBuilt})`);
    assert.equal(resolver.stats.views, 2, 'one view for clusters, assignments and routes; one for listeners (their span tags)');
    assert.equal(resolver.stats.classes, 2);
  });

  it('outbound listeners: shared by classes differing only in labels, unless a Telemetry selects one or their span tags differ', () => {
    const alpha = (labels: Record<string, string> = {}) => proxy({ ns: 'ns1', pod: 'alpha-v1', ip: '10.1.1.2', labels: { app: 'alpha', version: 'v1', ...labels } });
    const beta = (labels: Record<string, string> = {}) => proxy({ ns: 'ns1', pod: 'beta-v1', ip: '10.1.1.6', labels: { app: 'beta', version: 'v1', ...labels } });
    const gamma = () => proxy({ ns: 'ns1', pod: 'gamma-v1', ip: '10.1.1.10', labels: { app: 'gamma', version: 'v1' } });
    /** each proxy's LDS set and the outbound listener objects it is served, through one resolver */
    const listenersOf = (ctx: PushContext, ...ps: Proxy[]) => {
      const resolver = new Resolver(GENERATORS);
      resolver.beginSnapshot(ctx);
      return ps.map((p) => {
        assertEquivalent(ctx, resolver, p, p.podName);
        const lds = resolver.resolve(p, TYPE.LDS, WILDCARD_ONLY);
        return new Map(lds.resources.filter((r) => r.name !== 'virtualInbound').map((r) => [r.name, r]));
      });
    };
    const same = (a: Map<string, EncodedResource>, b: Map<string, EncodedResource>) => [...a.keys()].length > 0 && [...a].every(([n, r]) => b.get(n) === r);

    // tracing on (istiod's default) with no canonical-service labels, no Telemetry: one set of objects
    const plain = new PushContext(benchLikeStore(), 'v1');
    const [a0, b0] = listenersOf(plain, alpha(), beta());
    assert.ok(same(a0!, b0!), 'no Telemetry and equal span tags: the same listener objects');
    assert.match(JSON.stringify(a0!.get('0.0.0.0_5000')!.body), /istio\.canonical_service/, 'tracing is on');

    // Istio's span tags carry the canonical service: different listeners while tracing writes them ...
    const canonical = (name: string) => ({ 'service.istio.io/canonical-name': name });
    const [a1, b1] = listenersOf(plain, alpha(canonical('alpha')), beta(canonical('beta')));
    assert.equal(a1!.get('0.0.0.0_5000') === b1!.get('0.0.0.0_5000'), false, 'span tags differ per workload');
    // ... which splits only the listeners: clusters, assignments and routes stay one object per view
    const shared = new Resolver(GENERATORS);
    shared.beginSnapshot(plain);
    const [setsA, setsB] = [resolveAll(shared, alpha(canonical('alpha'))), resolveAll(shared, beta(canonical('beta')))];
    for (const type of [TYPE.CDS, TYPE.EDS, TYPE.RDS]) assert.equal(setsA.get(type)!.segments[0], setsB.get(type)!.segments[0], `${type}: still shared`);
    assert.notEqual(setsA.get(TYPE.LDS)!.segments[0], setsB.get(TYPE.LDS)!.segments[0]);
    // ... and shared again when tracing is off
    const untraced = new PushContext(benchLikeStore(), 'v1', { ...DEFAULT_MESH_CONFIG, telemetry: { enableTracing: false } });
    const [a2, b2] = listenersOf(untraced, alpha(canonical('alpha')), beta(canonical('beta')));
    assert.ok(same(a2!, b2!), 'tracing off: the canonical service is read by nothing outbound');

    // a Telemetry selecting alpha: alpha's listeners are its own; beta and gamma (not selected) still share
    const selecting: Obj = { apiVersion: 'telemetry.istio.io/v1', kind: 'Telemetry', metadata: { name: 'alpha-logs', namespace: 'ns1' },
      spec: { selector: { matchLabels: { app: 'alpha' } }, accessLogging: [{ providers: [{ name: 'envoy' }] }] } };
    const selected = new PushContext(benchLikeStore([selecting]), 'v1');
    const [a3, b3, c3] = listenersOf(selected, alpha(), beta(), gamma());
    assert.equal(a3!.get('0.0.0.0_5000') === b3!.get('0.0.0.0_5000'), false, 'the selected class has its own listeners');
    assert.match(JSON.stringify(a3!.get('0.0.0.0_5000')!.body), /dev\/stdout/, 'with the access log');
    assert.doesNotMatch(JSON.stringify(b3!.get('0.0.0.0_5000')!.body), /dev\/stdout/);
    assert.ok(same(b3!, c3!), 'classes no Telemetry selects still share');
    // a namespace-wide Telemetry applies to everyone there: shared again
    const nsWide: Obj = { ...selecting, metadata: { name: 'default', namespace: 'ns1' }, spec: { accessLogging: [{ providers: [{ name: 'envoy' }] }] } };
    const [a4, b4] = listenersOf(new PushContext(benchLikeStore([nsWide]), 'v1'), alpha(), beta());
    assert.ok(same(a4!, b4!), 'a namespace-wide Telemetry splits nothing');
  });

  it('outbound views: a tracer that names the service and span tags from node metadata reproduce exactly (equivalence)', () => {
    const mesh = { ...DEFAULT_MESH_CONFIG, extensionProviders: [{ name: 'otel', opentelemetry: { service: 'alpha.ns1.svc.cluster.local', port: 5000 } }], telemetry: { proxyTracing: { customTags: { team: { literal: { value: 'x' } } } } } };
    const tracing: Obj = { apiVersion: 'telemetry.istio.io/v1', kind: 'Telemetry', metadata: { name: 'mesh-default', namespace: 'istio-system' },
      spec: { tracing: [{ providers: [{ name: 'otel' }], randomSamplingPercentage: 5 }] } };
    const ctx = new PushContext(benchLikeStore([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'istio-system' } }, tracing]), 'v1', mesh as never);
    const resolver = new Resolver(GENERATORS);
    resolver.beginSnapshot(ctx);
    const withNode = (cluster: string, md: Record<string, string>) => parseProxy({
      id: 'sidecar~10.1.1.2~alpha-v1.ns1~ns1.svc.cluster.local', cluster,
      metadata: { NAMESPACE: 'ns1', LABELS: { app: 'alpha', 'service.istio.io/canonical-name': 'alpha' }, INSTANCE_IPS: '10.1.1.2', ...md },
    });
    const one = withNode('alpha.ns1', { MESH_ID: 'mesh-a', CLUSTER_ID: 'east' });
    const other = withNode('alpha.ns1', { MESH_ID: 'mesh-b', CLUSTER_ID: 'east' });
    const renamed = withNode('alpha-renamed.ns1', { MESH_ID: 'mesh-a', CLUSTER_ID: 'east' });
    for (const p of [one, other, renamed]) assertEquivalent(ctx, resolver, p, `${p.serviceCluster} ${String(p.metadata.MESH_ID)}`);
    const viewOf = (p: Proxy) => viewKey(sidecarGenerator.view!(ctx, p, TYPE.LDS));
    assert.notEqual(viewOf(one), viewOf(other), 'MESH_ID is a span tag');
    assert.notEqual(viewOf(one), viewOf(renamed), 'node.cluster is the OpenTelemetry service name');
    assert.match(JSON.stringify(resolver.resolve(renamed, TYPE.LDS, WILDCARD_ONLY).get('0.0.0.0_5000')!.body), /alpha-renamed\.ns1/);
  });

  it('a new snapshot in which nothing changed serves the same set objects; a change elsewhere keeps unrelated segments', () => {
    const store = benchLikeStore();
    const resolver = new Resolver(GENERATORS);
    const p = proxy({ ns: 'ns1', pod: 'alpha-v1', ip: '10.1.1.2', labels: { app: 'alpha', version: 'v1' } });
    resolver.beginSnapshot(new PushContext(store, 'v1'));
    const first = resolveAll(resolver, p);
    resolver.beginSnapshot(new PushContext(store, 'v2'));
    const second = resolveAll(resolver, p);
    for (const [type, set] of first) assert.equal(second.get(type), set, `${type}: same set object`);
  });
});

describe('outbound views: keying (a mis-keyed view would serve one proxy another\'s config)', () => {
  const worldWith = (extra: Obj[]) => new PushContext(benchLikeStore(extra), 'v1');
  const viewOf = (ctx: PushContext, p: Proxy) => viewKey(sidecarGenerator.view!(ctx, p, TYPE.CDS));
  /** The outbound resources a proxy is served (its view segments), as JSON by name. */
  const outbound = (ctx: PushContext, p: Proxy): Map<string, string> => {
    const resolver = new Resolver(GENERATORS);
    resolver.beginSnapshot(ctx);
    const out = new Map<string, string>();
    for (const [type, set] of resolveAll(resolver, p)) {
      for (const r of set.resources) {
        if (sidecarGenerator.scopeOf!(type, r.name) === 'view') out.set(`${type} ${r.name}`, JSON.stringify(r.body));
      }
    }
    return out;
  };
  const differs = (ctx: PushContext, a: Proxy, b: Proxy, field: string) => {
    assert.notEqual(viewOf(ctx, a), viewOf(ctx, b), `${field}: different views`);
    const [oa, ob] = [outbound(ctx, a), outbound(ctx, b)];
    const changed = [...new Set([...oa.keys(), ...ob.keys()])].filter((k) => oa.get(k) !== ob.get(k));
    assert.ok(changed.length > 0, `${field}: the outbound output differs`);
    return changed;
  };
  const sourceLabelsVs: Obj = { apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'gamma-canary', namespace: 'ns1' },
    spec: { hosts: ['gamma'], http: [{ match: [{ sourceLabels: { track: 'canary' } }], route: [{ destination: { host: 'gamma', port: { number: 5000 } }, headers: { request: { set: { 'x-canary': '1' } } } }] }, { route: [{ destination: { host: 'gamma' } }] }] } };

  it('namespace', () => {
    const ctx = worldWith([]);
    differs(ctx, proxy({ ns: 'ns1' }), proxy({ ns: 'ns2' }), 'namespace');
  });
  it('DNS domain', () => {
    const ctx = worldWith([]);
    differs(ctx, proxy({ ns: 'ns1' }), proxy({ ns: 'ns1', domain: 'corp.example' }), 'dnsDomain');
  });
  it('IP family (v4, v6, dual, v6 with an unparsable address)', () => {
    const ctx = worldWith([]);
    const v4 = proxy({ ns: 'ns1' });
    assert.ok(differs(ctx, v4, proxy({ ns: 'ns1', ip: 'fd00::1' }), 'v6').some((k) => k.includes('::_5000') || k.includes('InboundPassthroughCluster')));
    differs(ctx, v4, proxy({ ns: 'ns1', ip: '10.1.0.9,fd00::1' }), 'dual');
    differs(ctx, proxy({ ns: 'ns1', ip: 'fd00::1' }), proxy({ ns: 'ns1', ip: 'fd00::1,nonsense' }), 'v6-mixed');
  });
  it('interception mode', () => {
    const ctx = worldWith([]);
    differs(ctx, proxy({ ns: 'ns1' }), proxy({ ns: 'ns1', mode: 'NONE' }), 'NONE');
    assert.equal(viewOf(ctx, proxy({ mode: 'TPROXY' })) === viewOf(ctx, proxy()), false, 'TPROXY is its own view');
  });
  it('stock Envoy or istio-proxy', () => {
    const ctx = worldWith([]);
    differs(ctx, proxy({ ns: 'ns1' }), proxy({ ns: 'ns1', stock: true }), 'istioExtensions');
  });
  it('labels: only the keys outbound output selects on, and then they change it', () => {
    const plain = worldWith([]);
    assert.equal(viewOf(plain, proxy({ labels: { app: 'a', track: 'canary' } })), viewOf(plain, proxy({ labels: { app: 'b' } })), 'unreferenced labels do not split views');
    const ctx = worldWith([sourceLabelsVs]);
    const changed = differs(ctx, proxy({ ns: 'ns1', labels: { app: 'a', track: 'canary' } }), proxy({ ns: 'ns1', labels: { app: 'a', track: 'stable' } }), 'sourceLabels');
    assert.deepEqual(changed, [`${TYPE.RDS} 5000`]);
    const selected: Obj = { apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'alpha-for-batch', namespace: 'ns1' },
      spec: { host: 'alpha', workloadSelector: { matchLabels: { role: 'batch' } }, trafficPolicy: { connectionPool: { tcp: { maxConnections: 7 } } } } };
    const drCtx = worldWith([selected]);
    assert.ok(differs(drCtx, proxy({ ns: 'ns1', labels: { role: 'batch' } }), proxy({ ns: 'ns1', labels: { role: 'web' } }), 'workloadSelector').some((k) => k.includes('outbound|5000||alpha')));
  });
  it('Sidecar resource: its workloadSelector labels pick the Sidecar, so they are in the view, and its egress scopes the output', () => {
    const scoped: Obj = { apiVersion: 'networking.istio.io/v1', kind: 'Sidecar', metadata: { name: 'batch-only-alpha', namespace: 'ns1' },
      spec: { workloadSelector: { labels: { role: 'batch' } }, egress: [{ hosts: ['./alpha.ns1.svc.cluster.local'] }], outboundTrafficPolicy: { mode: 'REGISTRY_ONLY' } } };
    const ctx = worldWith([scoped]);
    const batch = proxy({ ns: 'ns1', labels: { role: 'batch' } });
    const web = proxy({ ns: 'ns1', labels: { role: 'web' } });
    const changed = differs(ctx, batch, web, 'Sidecar workloadSelector');
    assert.ok(changed.some((k) => k.includes('outbound|5000||gamma')), 'gamma is hidden from the batch proxy only');
    const mine = outbound(ctx, batch);
    assert.ok([...mine.keys()].some((k) => k.includes('outbound|5000||alpha')), 'alpha stays');
    assert.ok(![...mine.keys()].some((k) => k.includes('||gamma')), 'no gamma cluster');
    assert.match(mine.get(`${TYPE.LDS} virtualOutbound`) ?? '', /BlackHoleCluster","cluster":"BlackHoleCluster"|"cluster":"BlackHoleCluster"/, 'REGISTRY_ONLY from the Sidecar');
    // a namespace default (no selector) applies to every proxy there: one view for both again
    const nsDefault: Obj = { ...scoped, metadata: { name: 'default', namespace: 'ns1' }, spec: { egress: [{ hosts: ['./*'] }] } };
    const ctx2 = worldWith([nsDefault]);
    assert.equal(viewOf(ctx2, batch), viewOf(ctx2, web));
  });
  it('locality and failoverPriority labels, only when a DestinationRule makes them matter', () => {
    const near = { region: 'r1', zone: 'z1' };
    const far = { region: 'r2', zone: 'z2' };
    const plain = worldWith([]);
    assert.equal(viewOf(plain, proxy({ locality: near })), viewOf(plain, proxy({ locality: far })), 'locality does not split views by default');
    const failover: Obj = { apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'gamma-fo', namespace: 'ns1' },
      spec: { host: 'gamma', trafficPolicy: { outlierDetection: { consecutive5xxErrors: 3 }, loadBalancer: { localityLbSetting: { failoverPriority: ['version'] } } } } };
    const extraPod: Obj = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'gamma-v2', namespace: 'ns1', labels: { app: 'gamma', version: 'v2', 'istio-locality': 'r2.z2' } }, status: { podIP: '10.1.1.99', phase: 'Running' } };
    const ctx = worldWith([failover, extraPod]);
    differs(ctx, proxy({ ns: 'ns1', locality: near, labels: { version: 'v1' } }), proxy({ ns: 'ns1', locality: near, labels: { version: 'v2' } }), 'failoverPriority label');
    const unversioned: Obj = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'gamma-unversioned', namespace: 'ns1', labels: { app: 'gamma' } }, status: { podIP: '10.1.1.98', phase: 'Running' } };
    differs(worldWith([failover, extraPod, unversioned]), proxy({ ns: 'ns1', labels: { app: 'x' } }), proxy({ ns: 'ns1', labels: {} }), 'labeled (istiod skips failoverPriority for a proxy without labels or locality)');
    const distribute: Obj = { apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'gamma-lb', namespace: 'ns1' },
      spec: { host: 'gamma', trafficPolicy: { outlierDetection: { consecutive5xxErrors: 3 }, loadBalancer: { localityLbSetting: { failover: [{ from: 'r1', to: 'r3' }] } } } } };
    differs(worldWith([distribute, extraPod]), proxy({ ns: 'ns1', locality: near }), proxy({ ns: 'ns1', locality: far }), 'locality');
  });
});

describe('what a change rebuilds (narrow dependencies)', () => {
  /** The sidecar generator, recording every (type, name) it is asked to build. */
  const recording = (built: string[]): Generator => ({
    ...sidecarGenerator,
    generate: (type, ctx, p, name) => {
      built.push(`${type.split('.').pop()} ${name}`);
      return sidecarGenerator.generate(type, ctx, p, name);
    },
  });

  it('a new Pod rebuilds only the load assignments that contain it: no route configuration, listener or cluster', () => {
    const store = benchLikeStore();
    const built: string[] = [];
    const resolver = new Resolver({ sidecar: recording(built) });
    const proxies = [
      proxy({ ns: 'ns1', pod: 'alpha-v1', ip: '10.1.1.2', labels: { app: 'alpha', version: 'v1', 'security.istio.io/tlsMode': 'istio' } }),
      proxy({ ns: 'ns2', pod: 'client-1', ip: '10.1.2.1', labels: { app: 'client' } }),
    ];
    const syncAll = (version: string) => {
      resolver.beginSnapshot(new PushContext(store, version));
      for (const p of proxies) resolveAll(resolver, p);
    };
    syncAll('v1');
    built.length = 0;
    const before = resolver.stats;
    syncAll('v1b');
    assert.deepEqual(built, [], 'an unchanged snapshot builds nothing');
    assert.equal(resolver.stats.segmentsBuilt + resolver.stats.segmentsPatched, before.segmentsBuilt + before.segmentsPatched, 'and keeps every segment whole');
    store.upsert('Pod', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'beta-v2', namespace: 'ns1', labels: { app: 'beta', version: 'v2', 'security.istio.io/tlsMode': 'istio' } }, spec: { serviceAccountName: 'beta' }, status: { podIP: '10.1.1.50', phase: 'Running' } } as never, origin, 't');
    const kept = resolver.stats;
    syncAll('v2');
    assert.equal(resolver.stats.segmentsBuilt, kept.segmentsBuilt, 'no segment rebuilt');
    assert.equal(resolver.stats.segmentsPatched - kept.segmentsPatched, 2, "each view's EDS segment patched in place");
    // once per outbound view (two namespaces): the service's assignments — the v1 subset's too, which
    // reads the same endpoint list (its body comes out unchanged and is not re-encoded)
    const beta = 'beta.ns1.svc.cluster.local';
    assert.deepEqual([...built].sort(), [
      `ClusterLoadAssignment outbound|5000||${beta}`, `ClusterLoadAssignment outbound|5000||${beta}`,
      `ClusterLoadAssignment outbound|5000|v1|${beta}`, `ClusterLoadAssignment outbound|5000|v1|${beta}`,
      `ClusterLoadAssignment outbound|5000|v2|${beta}`, `ClusterLoadAssignment outbound|5000|v2|${beta}`,
    ].sort());
  });

  it('a VirtualService edit rebuilds its route configuration once per view, not per class; every class of a view is served that one object', () => {
    const client = (name: string): Obj => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'ns2' }, spec: { clusterIP: `10.96.2.${name.slice(-1)}`, selector: { app: name }, ports: [{ name: 'http', port: 5000 }] } });
    const store = benchLikeStore([client('client-1'), client('client-2')]);
    const built: string[] = [];
    const resolver = new Resolver({ sidecar: recording(built) });
    // two views (namespaces) × two classes each (own labels, as every Deployment has)
    const proxies = [
      proxy({ ns: 'ns1', pod: 'alpha-v1', ip: '10.1.1.2', labels: { app: 'alpha', version: 'v1' } }),
      proxy({ ns: 'ns1', pod: 'beta-v1', ip: '10.1.1.6', labels: { app: 'beta', version: 'v1' } }),
      proxy({ ns: 'ns2', pod: 'client-1', ip: '10.1.2.1', labels: { app: 'client-1' } }),
      proxy({ ns: 'ns2', pod: 'client-2', ip: '10.1.2.2', labels: { app: 'client-2' } }),
    ];
    const syncAll = (version: string) => {
      resolver.beginSnapshot(new PushContext(store, version));
      return proxies.map((p) => resolveAll(resolver, p).get(TYPE.RDS)!);
    };
    const rdsBefore = syncAll('v1');
    assert.equal(resolver.stats.classes, 4);
    assert.equal(resolver.stats.views, 4, 'per namespace: one view for clusters, assignments and routes, one for listeners');
    built.length = 0;
    store.upsert('VirtualService', { apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'alpha', namespace: 'ns1' },
      spec: { hosts: ['alpha'], http: [{ route: [{ destination: { host: 'alpha', subset: 'v1' }, weight: 50 }, { destination: { host: 'alpha', subset: 'v2' }, weight: 50 }] }] } } as never, origin, 't');
    const rds = syncAll('v2');
    assert.deepEqual(built, ['RouteConfiguration 5000', 'RouteConfiguration 5000'], 'one route configuration per view, nothing else');
    assert.equal(rds[0]!.get('5000'), rds[1]!.get('5000'), 'ns1: both classes are served the same object');
    assert.equal(rds[2]!.get('5000'), rds[3]!.get('5000'), 'ns2: both classes are served the same object');
    assert.match(JSON.stringify(rds[0]!.get('5000')!.body), /"weight":\{"value":50\}/);
    // inside each rebuild, only alpha's virtual host is new: the others are the objects built before
    // (their encodings are reused too, envoy/encode-parts.ts)
    for (const i of [0, 2]) {
      const vhosts = (set: ResourceSet) => (set.get('5000')!.body as Obj).virtual_hosts as Obj[];
      const fresh = vhosts(rds[i]!).filter((vh) => !vhosts(rdsBefore[i]!).includes(vh)).map((vh) => vh.name);
      assert.deepEqual(fresh, ['alpha.ns1.svc.cluster.local:5000'], `view of ${proxies[i]!.namespace}`);
    }
  });

  it('a DestinationRule policy edit that keeps its subsets patches segments in place: no segment rebuilt, only what reads that rule', () => {
    const store = benchLikeStore();
    const built: string[] = [];
    const resolver = new Resolver({ sidecar: recording(built) });
    const proxies = [
      proxy({ ns: 'ns1', pod: 'alpha-v1', ip: '10.1.1.2', labels: { app: 'alpha', version: 'v1' } }),
      proxy({ ns: 'ns2', pod: 'client-1', ip: '10.1.2.1', labels: { app: 'client' } }),
    ];
    const syncAll = (version: string) => {
      resolver.beginSnapshot(new PushContext(store, version));
      return proxies.map((p) => resolveAll(resolver, p));
    };
    syncAll('v1');
    built.length = 0;
    const before = resolver.stats;
    store.upsert('DestinationRule', { apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'beta', namespace: 'ns1' },
      spec: { host: 'beta', trafficPolicy: { connectionPool: { http: { http2MaxRequests: 7 } } }, subsets: [{ name: 'v1', labels: { version: 'v1' } }, { name: 'v2', labels: { version: 'v2' } }] } } as never, origin, 't');
    const after = syncAll('v2');
    assert.equal(resolver.stats.segmentsBuilt, before.segmentsBuilt, 'the cluster name list read the DestinationRules but did not change: patched, not rebuilt');
    const beta = 'beta.ns1.svc.cluster.local';
    assert.ok(built.includes(`Cluster outbound|5000||${beta}`), 'its clusters are rebuilt');
    assert.deepEqual(built.filter((b) => b.startsWith('Cluster ') && !b.endsWith(beta)).filter((b) => !b.includes('inbound|')), [], 'no other outbound cluster');
    assert.match(JSON.stringify(after[0]!.get(TYPE.CDS)!.get(`outbound|5000||${beta}`)!.body), /"max_requests":\{"value":7\}|http2MaxRequests|"max_requests":7/);
    for (const [i, p] of proxies.entries()) assertEquivalent(new PushContext(store, 'v2'), resolver, p, `proxy ${i}`);
  });

  it('a mesh config change reaches resources that read nothing else (REGISTRY_ONLY: virtualOutbound, the route catch-all)', () => {
    const store = benchLikeStore();
    const resolver = new Resolver(GENERATORS);
    const p = proxy({ ns: 'ns1' });
    resolver.beginSnapshot(new PushContext(store, 'v1'));
    const before = resolveAll(resolver, p);
    resolver.beginSnapshot(new PushContext(store, 'v2', { ...DEFAULT_MESH_CONFIG, outboundTrafficPolicy: 'REGISTRY_ONLY' }));
    const after = resolveAll(resolver, p);
    const body = (sets: Map<TypeUrl, ResourceSet>, type: TypeUrl, name: string) => JSON.stringify(sets.get(type)!.get(name)?.body);
    assert.notEqual(body(after, TYPE.LDS, 'virtualOutbound'), body(before, TYPE.LDS, 'virtualOutbound'));
    assert.match(body(after, TYPE.LDS, 'virtualOutbound'), /BlackHoleCluster/);
    assert.match(body(after, TYPE.RDS, '5000'), /block_all/);
  });
});
