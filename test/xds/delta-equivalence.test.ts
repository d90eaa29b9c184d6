import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { ConfigStore, objectKey } from '../../src/config/store.js';
import type { Kind } from '../../src/config/kinds.js';
import { PushContext } from '../../src/model/push-context.js';
import { silentLogger } from '../../src/telemetry/log.js';
import { Metrics } from '../../src/telemetry/metrics.js';
import { DiscoveryServer } from '../../src/xds/server.js';
import { TYPE, SHORT_TYPE, type TypeUrl } from '../../src/xds/resource-types.js';
import { grpcGenerator } from '../../src/xds/generators/grpc/index.js';
import { sidecarGenerator } from '../../src/xds/generators/sidecar/index.js';
import type { Generator } from '../../src/xds/generators/generator.js';
import { DeltaFollower, SotwFollower, type FollowOptions, type Holdings } from '../support/xds-follow.js';
import { addDocs } from '../support/snapshot.js';

// The proof for Delta xDS: a state-of-the-world client and a Delta client of the same node, both
// following references like Envoy (LDS/CDS → RDS/EDS names), are driven through the same sequence of
// config changes (VirtualServices, DestinationRules, Services, Pods and EndpointSlices added, edited and
// deleted). After every step both hold the same resources, byte for byte; and the Delta client was sent
// exactly the resources that changed for it — nothing for a step that changes nothing it holds. Run for
// the proxyless generator (LDS by wildcard, the rest by name, as gRPC subscribes) and the Envoy sidecar
// generator (CDS and LDS by wildcard, RDS and EDS by name, as Envoy subscribes).

type Doc = Record<string, unknown>;

const service = (name: string, ports: number[], ns = 'default'): Doc => ({
  apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns },
  spec: { selector: { app: name }, ports: ports.map((port, i) => ({ name: `grpc-${i}`, port })) },
});
const pod = (name: string, ip: string, labels: Record<string, string>, ns = 'default'): Doc => ({
  apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: ns, labels }, spec: { containers: [{ name: 'app', image: 'x' }] }, status: { phase: 'Running', podIP: ip },
});
const slice = (name: string, svc: string, port: number, ips: string[], ns = 'default'): Doc => ({
  apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name, namespace: ns, labels: { 'kubernetes.io/service-name': svc } },
  addressType: 'IPv4', ports: [{ name: 'grpc-0', port, protocol: 'TCP' }], endpoints: ips.map((ip) => ({ addresses: [ip], conditions: { ready: true } })),
});
const virtualService = (host: string, http: unknown[]): Doc => ({
  apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: host, namespace: 'default' }, spec: { hosts: [host], http },
});
const destinationRule = (host: string, spec: Doc): Doc => ({
  apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: host, namespace: 'default' }, spec: { host, ...spec },
});
const SUBSETS = [{ name: 'v1', labels: { version: 'v1' } }, { name: 'v2', labels: { version: 'v2' } }];
const split = (w1: number) => [{ route: [{ destination: { host: 'helloworld', subset: 'v1' }, weight: w1 }, { destination: { host: 'helloworld', subset: 'v2' }, weight: 100 - w1 }] }];

function apply(store: ConfigStore, doc: Doc): void {
  addDocs(store, [doc], { label: 'delta-equivalence.test' });
}
function remove(store: ConfigStore, kind: Kind, name: string, ns = 'default'): void {
  assert.ok(store.delete(kind, objectKey(kind, ns, name)), `${kind} ${ns}/${name} existed`);
}

/** The steps both clients live through; each says what it does to the mesh. */
const STEPS: { what: string; change: (s: ConfigStore) => void }[] = [
  { what: 'VirtualService splits helloworld 90/10 over DestinationRule subsets', change: (s) => {
    apply(s, destinationRule('helloworld', { subsets: SUBSETS }));
    apply(s, virtualService('helloworld', split(90)));
  } },
  { what: 'VirtualService weights edited to 50/50', change: (s) => apply(s, virtualService('helloworld', split(50))) },
  { what: 'DestinationRule gains a traffic policy', change: (s) => apply(s, destinationRule('helloworld', { subsets: SUBSETS, trafficPolicy: { loadBalancer: { simple: 'ROUND_ROBIN' }, outlierDetection: { consecutive5xxErrors: 3 } } })) },
  { what: 'a helloworld v2 replica is added', change: (s) => apply(s, pod('helloworld-v2-b', '10.1.0.13', { app: 'helloworld', version: 'v2' })) },
  { what: 'the ratings EndpointSlice gains an endpoint', change: (s) => apply(s, slice('ratings-1', 'ratings', 9080, ['10.2.0.1', '10.2.0.2'])) },
  { what: 'Service reviews is created with a port and endpoints', change: (s) => {
    apply(s, service('reviews', [9080]));
    apply(s, slice('reviews-1', 'reviews', 9080, ['10.3.0.1']));
  } },
  { what: 'the same VirtualService is applied again (nothing changes)', change: (s) => apply(s, virtualService('helloworld', split(50))) },
  { what: 'Service ratings gains a second port', change: (s) => apply(s, service('ratings', [9080, 9081])) },
  { what: 'the VirtualService is deleted (subset clusters are no longer referenced)', change: (s) => remove(s, 'VirtualService', 'helloworld') },
  { what: 'Service ratings and its EndpointSlice are deleted', change: (s) => {
    remove(s, 'Service', 'ratings');
    remove(s, 'EndpointSlice', 'ratings-1');
  } },
  { what: 'the DestinationRule is deleted', change: (s) => remove(s, 'DestinationRule', 'helloworld') },
];

function initialMesh(): ConfigStore {
  const store = new ConfigStore();
  apply(store, service('helloworld', [5000]));
  apply(store, pod('helloworld-v1', '10.1.0.11', { app: 'helloworld', version: 'v1' }));
  apply(store, pod('helloworld-v2', '10.1.0.12', { app: 'helloworld', version: 'v2' }));
  apply(store, service('ratings', [9080]));
  apply(store, slice('ratings-1', 'ratings', 9080, ['10.2.0.1']));
  apply(store, pod('client-1', '10.1.0.20', { app: 'client' }));
  return store;
}

const SCENARIOS: { label: string; generators: Partial<Record<'grpc' | 'sidecar', Generator>>; follow: FollowOptions }[] = [
  {
    label: 'proxyless grpc generator, LDS by wildcard, RDS/CDS/EDS followed by name',
    generators: { grpc: grpcGenerator },
    follow: { node: { id: 'sidecar~10.1.0.20~client-1.default~default.svc.cluster.local', metadata: { GENERATOR: 'grpc', NAMESPACE: 'default' } }, wildcard: [TYPE.LDS] },
  },
  {
    label: 'Envoy sidecar generator, CDS and LDS by wildcard, RDS/EDS followed by name',
    generators: { sidecar: sidecarGenerator },
    follow: {
      node: { id: 'sidecar~10.1.0.20~client-1.default~default.svc.cluster.local', metadata: { NAMESPACE: 'default', LABELS: { app: 'client' }, INSTANCE_IPS: '10.1.0.20', ISTIO_VERSION: '1.24.0' } },
      wildcard: [TYPE.CDS, TYPE.LDS],
    },
  },
];

function snapshotOf(h: Holdings): Holdings {
  return new Map([...h].map(([t, m]) => [t, new Map(m)]));
}
function count(h: Holdings): string {
  return [...h].map(([t, m]) => `${SHORT_TYPE[t]} ${m.size}`).join(', ');
}

for (const scenario of SCENARIOS) {
  describe(`SotW and Delta converge on the same resources (${scenario.label})`, () => {
    const store = initialMesh();
    const ds = new DiscoveryServer({ log: silentLogger, metrics: new Metrics(), generators: scenario.generators });
    const server = new grpc.Server();
    let sotw: SotwFollower;
    let delta: DeltaFollower;
    let version = 0;
    let addr = '';

    const converge = async (what: string) => {
      await ds.settled();
      for (let i = 0; !(sotw.settledOn(ds) && delta.settledOn(ds)); i++) {
        if (i > 1000) throw new Error(`${what}: clients did not settle (sotw ${count(sotw.held)}; delta ${count(delta.held)})`);
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    const assertSameHoldings = (what: string) => {
      for (const type of Object.values(TYPE)) {
        const s = sotw.held.get(type)!;
        const d = delta.held.get(type)!;
        assert.deepEqual([...d.keys()].sort(), [...s.keys()].sort(), `${what}: ${SHORT_TYPE[type]} names`);
        for (const [name, hex] of s) assert.equal(d.get(name), hex, `${what}: ${SHORT_TYPE[type]} ${name} bytes`);
      }
    };

    before(async () => {
      ds.register(server);
      const port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
      ds.push(new PushContext(store, `v${++version}`));
      addr = `127.0.0.1:${port}`;
      sotw = new SotwFollower(addr, scenario.follow);
      delta = new DeltaFollower(addr, scenario.follow);
    });
    after(() => {
      sotw?.close();
      delta?.close();
      server.forceShutdown();
    });

    it('starts from the same resources on both protocols', async () => {
      await converge('initial sync');
      assertSameHoldings('initial sync');
      // SDS carries gateway credentials only (kubernetes://NAME); this mesh has no gateway, so it stays empty
      for (const type of Object.values(TYPE)) if (type !== TYPE.SDS) assert.ok(delta.held.get(type)!.size > 0, `${SHORT_TYPE[type]} is not empty`);
    });

    for (const [i, step] of STEPS.entries()) {
      it(`step ${i + 1}: ${step.what}`, async (t) => {
        const beforeStep = snapshotOf(delta.held);
        const logFrom = delta.log.length;
        const unsolicitedFrom = delta.unsolicited.length;
        const redundantFrom = delta.redundant.length;
        const sotwFrom = sotw.client.responses.length;
        step.change(store);
        ds.push(new PushContext(store, `v${++version}`));
        await converge(step.what);
        assertSameHoldings(step.what);

        // Delta sent each added or changed resource exactly once and nothing else: nothing the client
        // already held, nothing twice, and everything that differs from before the step.
        const sent = delta.log.slice(logFrom).flatMap((r) => r.resources.map((x) => `${SHORT_TYPE[r.type_url]} ${x.name}`)).sort();
        assert.deepEqual(delta.redundant.slice(redundantFrom), [], 'no resource resent with bytes the client held');
        assert.deepEqual(sent, [...new Set(sent)], 'no resource sent twice in one step');
        const changed: string[] = [];
        const gone: string[] = [];
        for (const [type, now] of delta.held) {
          const was = beforeStep.get(type)!;
          for (const [name, hex] of now) if (was.get(name) !== hex) changed.push(`${SHORT_TYPE[type]} ${name}`);
          for (const name of was.keys()) if (!now.has(name)) gone.push(`${SHORT_TYPE[type]} ${name}`);
        }
        for (const c of changed) assert.ok(sent.includes(c), `${c} changed but was not sent`);
        // A push may cross an unsubscribe on the wire (the server had not read it yet): the client
        // ignores those, as gRPC does; they changed too, for the subscription the server knew.
        const crossed = delta.unsolicited.slice(unsolicitedFrom);
        // Removals: whatever the server reported removed is really gone (the client also drops, by
        // itself, names it stops referencing).
        const removed = delta.log.slice(logFrom).flatMap((r) => r.removed_resources.map((n) => `${SHORT_TYPE[r.type_url]} ${n}`));
        for (const r of removed) assert.ok(gone.includes(r), `${r} reported removed but still held`);
        if (changed.length === 0 && gone.length === 0) assert.equal(delta.log.length, logFrom, 'no Delta response when nothing changed');
        const sotwSent = sotw.client.responses.slice(sotwFrom).reduce((n, r) => n + r.resources.length, 0);
        t.diagnostic(`delta: ${sent.length} resources (${crossed.length} crossing an unsubscribe) + ${removed.length} removals in ${delta.log.length - logFrom} responses; sotw: ${sotwSent} resources in ${sotw.client.responses.length - sotwFrom} responses`);
      });
    }

    it('a Delta client reconnecting with initial_resource_versions is sent only what changed while it was away', async (t) => {
      const away = delta;
      away.close();
      // what it held when it went away: a half-closed stream may still be sent the push below
      const heldAtClose = new Map([...away.held].map(([type, m]) => [type, new Map(m)]));
      apply(store, pod('helloworld-v1-b', '10.1.0.14', { app: 'helloworld', version: 'v1' }));
      remove(store, 'Service', 'reviews');
      remove(store, 'EndpointSlice', 'reviews-1');
      ds.push(new PushContext(store, `v${++version}`));
      delta = new DeltaFollower(addr, scenario.follow, away);
      await converge('reconnect');
      assertSameHoldings('reconnect');
      const sent = delta.log.flatMap((r) => r.resources.map((x) => `${SHORT_TYPE[r.type_url]} ${x.name}`)).sort();
      const changed: string[] = [];
      for (const [type, now] of delta.held) {
        for (const [name, hex] of now) if (heldAtClose.get(type)!.get(name) !== hex) changed.push(`${SHORT_TYPE[type]} ${name}`);
      }
      assert.deepEqual(delta.redundant, [], 'nothing the client held at the current version was resent');
      assert.deepEqual(sent, [...changed, ...delta.unsolicited].sort());
      assert.ok(changed.some((c) => c.startsWith('EDS ') && c.includes('helloworld')), 'the new helloworld endpoint arrived');
      const removed = delta.log.flatMap((r) => r.removed_resources);
      assert.ok(removed.some((n) => n.includes('reviews')), 'what reviews had is reported removed');
      const heldBefore = [...heldAtClose.values()].reduce((n, m) => n + m.size, 0);
      t.diagnostic(`reconnect: ${sent.length} resources + ${removed.length} removals sent for ${heldBefore} held`);
    });
  });
}
