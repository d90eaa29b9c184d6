import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { ConfigStore } from '../../src/config/store.js';
import { PushContext } from '../../src/model/push-context.js';
import { silentLogger } from '../../src/telemetry/log.js';
import { Metrics } from '../../src/telemetry/metrics.js';
import { DiscoveryServer } from '../../src/xds/server.js';
import { TYPE, SHORT_TYPE } from '../../src/xds/resource-types.js';
import { sidecarGenerator } from '../../src/xds/generators/sidecar/index.js';
import { DeltaFollower, SotwFollower, type Follower } from '../support/xds-follow.js';
import { parseProxy, type Proxy } from '../../src/model/proxy.js';
import { encodeMessage } from '../../src/envoy/protos.js';
import { typeName } from '../../src/xds/resource-types.js';
import { addDocs } from '../support/snapshot.js';

// Many proxies, several classes and outbound views, one server: resolved sets, their segments and the
// Delta diffs are shared between proxies and kept across snapshots (resolve.ts, cache.ts). Sharing must
// never show: through a series of changes every proxy, over SotW and over Delta, holds exactly what its
// own resolution says, byte for byte, and Delta never resends a resource the proxy already holds.

type Doc = Record<string, unknown>;
const NAMESPACES = ['ns-a', 'ns-b'];

const service = (name: string, ns: string, selector = name): Doc => ({
  apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns }, spec: { selector: { app: selector }, ports: [{ name: 'http', port: 5000 }] },
});
const pod = (name: string, ns: string, ip: string, labels: Record<string, string>): Doc => ({
  apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: ns, labels }, spec: { serviceAccountName: String(labels.app) }, status: { phase: 'Running', podIP: ip },
});
const dr = (name: string, ns: string, extra: Doc = {}): Doc => ({
  apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name, namespace: ns },
  spec: { host: name, ...extra, subsets: [{ name: 'v1', labels: { version: 'v1' } }, { name: 'v2', labels: { version: 'v2' } }] },
});
const vs = (name: string, ns: string, v1: number): Doc => ({
  apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name, namespace: ns },
  spec: { hosts: [name], http: [{ route: [{ destination: { host: name, subset: 'v1' }, weight: v1 }, { destination: { host: name, subset: 'v2' }, weight: 100 - v1 }] }] },
});

/** Client classes: per namespace two Deployments (own Service, own labels) of two replicas each. */
const CLIENTS = NAMESPACES.flatMap((ns, n) => ['web', 'batch'].flatMap((app, a) => [0, 1].map((r) => ({
  ns, app: `${app}-${n}`, pod: `${app}-${n}-${r}`, ip: `172.16.${n}.${a * 10 + r + 1}`,
}))));

function mesh(): ConfigStore {
  const store = new ConfigStore();
  const docs: Doc[] = [];
  NAMESPACES.forEach((ns, n) => {
    for (const s of ['alpha', 'beta']) {
      const name = `${s}-${n}`;
      docs.push(service(name, ns), pod(`${name}-v1`, ns, `10.${n}.${s.length}.1`, { app: name, version: 'v1' }), dr(name, ns), vs(name, ns, 90));
    }
  });
  for (const c of CLIENTS) docs.push(service(c.app, c.ns), pod(c.pod, c.ns, c.ip, { app: c.app, version: 'v1', 'security.istio.io/tlsMode': 'istio' }));
  addDocs(store, docs, { label: 'shared-sets.test' });
  return store;
}

const STEPS: { what: string; change: (s: ConfigStore) => void }[] = [
  { what: 'nothing changes', change: () => {} },
  { what: 'a new endpoint for alpha-0 (subset v2)', change: (s) => addDocs(s, [pod('alpha-0-v2', 'ns-a', '10.0.5.2', { app: 'alpha-0', version: 'v2' })]) },
  { what: 'VirtualService beta-1 weights', change: (s) => addDocs(s, [vs('beta-1', 'ns-b', 50)]) },
  { what: 'DestinationRule alpha-0 policy', change: (s) => addDocs(s, [dr('alpha-0', 'ns-a', { trafficPolicy: { connectionPool: { http: { http2MaxRequests: 1000 } } } })]) },
  { what: 'a new service in ns-b', change: (s) => addDocs(s, [service('gamma-1', 'ns-b'), pod('gamma-1-v1', 'ns-b', '10.1.9.1', { app: 'gamma-1', version: 'v1' })]) },
  { what: 'a VirtualService with sourceLabels (views split by app)', change: (s) => addDocs(s, [{
    apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'gamma-1', namespace: 'ns-b' },
    spec: { hosts: ['gamma-1'], http: [{ match: [{ sourceLabels: { app: 'web-1' } }], route: [{ destination: { host: 'gamma-1' } }], timeout: '3s' }, { route: [{ destination: { host: 'gamma-1' } }] }] },
  }]) },
  { what: 'a web-0 replica goes away and comes back relabelled', change: (s) => addDocs(s, [pod('web-0-1', 'ns-a', '172.16.0.2', { app: 'web-0', version: 'v2', 'security.istio.io/tlsMode': 'istio' })]) },
];

describe('shared sets across proxies, classes and views: every proxy holds its own answer', () => {
  const store = mesh();
  const ds = new DiscoveryServer({ log: silentLogger, metrics: new Metrics(), generators: { sidecar: sidecarGenerator } });
  const server = new grpc.Server();
  const followers: { sotw: SotwFollower; delta: DeltaFollower; label: string; proxy: Proxy }[] = [];
  let version = 0;
  let ctx: PushContext;

  const settle = async (what: string) => {
    await ds.settled();
    const all: Follower[] = followers.flatMap((f) => [f.sotw, f.delta]);
    for (let i = 0; !all.every((f) => f.settledOn(ds)); i++) {
      if (i > 2000) throw new Error(`${what}: clients did not settle`);
      await new Promise((r) => setTimeout(r, 10));
      await ds.settled();
    }
  };

  before(async () => {
    ds.register(server);
    const port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
    ds.push((ctx = new PushContext(store, `v${++version}`)));
    for (const c of CLIENTS) {
      const options = {
        node: { id: `sidecar~${c.ip}~${c.pod}.${c.ns}~${c.ns}.svc.cluster.local`, metadata: { NAMESPACE: c.ns, LABELS: { app: c.app, version: 'v1', 'security.istio.io/tlsMode': 'istio' }, INSTANCE_IPS: c.ip, ISTIO_VERSION: '1.24.0' } },
        wildcard: [TYPE.CDS, TYPE.LDS],
      };
      followers.push({ label: c.pod, proxy: parseProxy(options.node), sotw: new SotwFollower(`127.0.0.1:${port}`, options), delta: new DeltaFollower(`127.0.0.1:${port}`, options) });
    }
    await settle('initial sync');
  });
  after(() => {
    for (const f of followers) {
      f.sotw.close();
      f.delta.close();
    }
    server.forceShutdown();
  });

  const assertHoldings = (what: string) => {
    for (const f of followers) {
      // what a sidecar holds (SDS is served to gateways on the TLS port only)
      for (const type of [TYPE.CDS, TYPE.EDS, TYPE.LDS, TYPE.RDS]) {
        const s = f.sotw.held.get(type)!;
        const d = f.delta.held.get(type)!;
        assert.ok(s.size > 0, `${what}: ${f.label} holds ${SHORT_TYPE[type]}`);
        assert.deepEqual([...d.keys()].sort(), [...s.keys()].sort(), `${what}: ${f.label} ${SHORT_TYPE[type]} names`);
        for (const [name, hex] of s) {
          assert.equal(d.get(name), hex, `${what}: ${f.label} ${SHORT_TYPE[type]} ${name}`);
          // the proxy's own answer: what the generator makes for this very proxy
          const own = Buffer.from(encodeMessage(typeName(type), sidecarGenerator.generate(type, ctx, f.proxy, name)!)).toString('hex');
          assert.equal(hex, own, `${what}: ${f.label} ${SHORT_TYPE[type]} ${name} is not its own generation`);
        }
      }
      assert.deepEqual(f.delta.redundant, [], `${what}: ${f.label} was resent resources it held`);
    }
  };

  it('initial sync: SotW and Delta hold the same, classes of one namespace share their outbound segments', () => {
    assertHoldings('initial sync');
    const stats = ds.cacheStats;
    // per namespace: one view for clusters, assignments and routes, one for listeners (span tags)
    assert.equal(stats.views, 2 * NAMESPACES.length);
    assert.equal(stats.classes, CLIENTS.length / 2);
  });

  for (const step of STEPS) {
    it(`${step.what}: every proxy converges to its own answer, Delta sends only what changed for it`, async () => {
      const sentBefore = followers.map((f) => f.delta.log.length);
      step.change(store);
      ds.push((ctx = new PushContext(store, `v${++version}`)));
      await settle(step.what);
      assertHoldings(step.what);
      if (step.what === 'nothing changes') {
        followers.forEach((f, i) => assert.equal(f.delta.log.length, sentBefore[i], `${f.label}: nothing sent when nothing changed`));
      }
    });
  }
});
