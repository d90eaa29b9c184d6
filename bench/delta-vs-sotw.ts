// What Delta xDS saves on the wire: one Envoy-shaped sidecar client per protocol (CDS/LDS by wildcard,
// RDS/EDS followed by name) against an in-process DiscoveryServer with the sidecar generator, through a
// few config changes and a reconnect. Counts response bytes, resources and responses per step.
//
//   npx tsx bench/delta-vs-sotw.ts [--services 500] [--ports 10]
//
// Both clients run in meshd's process (this is a byte count, not a latency benchmark), and each step
// waits until both clients hold the answer to their subscriptions (test/support/xds-follow.ts).

import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { ConfigStore } from '../src/config/store.js';
import { validateDocument } from '../src/config/validate.js';
import { PushContext } from '../src/model/push-context.js';
import { silentLogger } from '../src/telemetry/log.js';
import { Metrics } from '../src/telemetry/metrics.js';
import { sidecarGenerator } from '../src/xds/generators/sidecar/index.js';
import { TYPE } from '../src/xds/resource-types.js';
import { DiscoveryServer } from '../src/xds/server.js';
import { DeltaFollower, SotwFollower, type Follower, type FollowOptions } from '../test/support/xds-follow.js';

const { values } = parseArgs({ options: { services: { type: 'string', default: '500' }, ports: { type: 'string', default: '10' } } });
const services = Number(values.services);
const ports = Number(values.ports);

const store = new ConfigStore();
const origin = { source: 'memory', label: 'bench' } as const;
function apply(doc: Record<string, unknown>): void {
  const r = validateDocument(doc);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  store.upsert(r.value.kind, r.value.object, origin, 'bench');
}
const port = (i: number) => 8000 + (i % ports);
const slice = (i: number, ips: string[]) => ({
  apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: `svc-${i}-1`, namespace: 'default', labels: { 'kubernetes.io/service-name': `svc-${i}` } },
  addressType: 'IPv4', ports: [{ name: 'http', port: 8080, protocol: 'TCP' }], endpoints: ips.map((ip) => ({ addresses: [ip], conditions: { ready: true } })),
});
const ip = (i: number, k: number) => `10.${(i >> 8) & 255}.${i & 255}.${k}`;
const service = (i: number) => ({
  apiVersion: 'v1', kind: 'Service', metadata: { name: `svc-${i}`, namespace: 'default' },
  spec: { selector: { app: `svc-${i}` }, ports: [{ name: 'http', port: port(i), targetPort: 8080 }] },
});
for (let i = 0; i < services; i++) {
  apply(service(i));
  apply(slice(i, [ip(i, 1), ip(i, 2)]));
}
apply({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'client-1', namespace: 'default', labels: { app: 'client' } }, spec: { containers: [{ name: 'app', image: 'x' }] }, status: { phase: 'Running', podIP: '10.250.0.1' } });

const ds = new DiscoveryServer({ log: silentLogger, metrics: new Metrics(), generators: { sidecar: sidecarGenerator } });
const server = new grpc.Server();
ds.register(server);
const boundPort = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
const addr = `127.0.0.1:${boundPort}`;
let version = 0;
const push = () => ds.push(new PushContext(store, `v${++version}`));

const follow: FollowOptions = {
  node: { id: 'sidecar~10.250.0.1~client-1.default~default.svc.cluster.local', metadata: { NAMESPACE: 'default', LABELS: { app: 'client' }, INSTANCE_IPS: '10.250.0.1' } },
  wildcard: [TYPE.CDS, TYPE.LDS],
};

async function settle(followers: Follower[]): Promise<void> {
  await ds.settled();
  for (let i = 0; !followers.every((f) => f.settledOn(ds)); i++) {
    if (i > 6000) throw new Error('clients did not settle within 60 s');
    await new Promise((r) => setTimeout(r, 10));
  }
}

interface Mark { bytes: number; responses: number; resources: number }
const markOf = (f: SotwFollower | DeltaFollower): Mark => f instanceof SotwFollower
  ? { bytes: f.client.bytesReceived, responses: f.client.responses.length, resources: f.client.responses.reduce((n, r) => n + r.resources.length, 0) }
  : { bytes: f.client.bytesReceived, responses: f.log.length, resources: f.log.reduce((n, r) => n + r.resources.length, 0) };
const since = (a: Mark, b: Mark): Mark => ({ bytes: b.bytes - a.bytes, responses: b.responses - a.responses, resources: b.resources - a.resources });

const rows: { step: string; sotw: Mark; delta: Mark }[] = [];
let sotw = new SotwFollower(addr, follow);
let delta = new DeltaFollower(addr, follow);
push();
await settle([sotw, delta]);
rows.push({ step: 'initial sync', sotw: markOf(sotw), delta: markOf(delta) });
const held = [...delta.held].map(([t, m]) => `${t.slice(t.lastIndexOf('.') + 1)} ${m.size}`).join(', ');

async function step(what: string, change: () => void): Promise<void> {
  const s0 = markOf(sotw);
  const d0 = markOf(delta);
  change();
  push();
  await settle([sotw, delta]);
  rows.push({ step: what, sotw: since(s0, markOf(sotw)), delta: since(d0, markOf(delta)) });
}

await step('one endpoint added to one service (EDS)', () => apply(slice(7, [ip(7, 1), ip(7, 2), ip(7, 3)])));
await step('VirtualService on one service (RDS)', () => apply({
  apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'svc-3', namespace: 'default' },
  spec: { hosts: ['svc-3'], http: [{ timeout: '3s', route: [{ destination: { host: 'svc-3' } }] }] },
}));
await step('one service added (CDS, EDS, RDS)', () => {
  apply(service(services));
  apply(slice(services, [ip(services, 1)]));
});

// Reconnect after missing one endpoint change: SotW starts over; Delta says what it holds.
sotw.close();
delta.close();
apply(slice(11, [ip(11, 1)]));
push();
await ds.settled();
const resumed = new DeltaFollower(addr, follow, delta);
sotw = new SotwFollower(addr, follow);
delta = resumed;
await settle([sotw, delta]);
rows.push({ step: 'reconnect after missing one EDS change', sotw: markOf(sotw), delta: markOf(delta) });

const kb = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
console.log(`npx tsx bench/delta-vs-sotw.ts --services ${services} --ports ${ports}`);
console.log(`sidecar generator, 1 client per protocol, holding: ${held}`);
console.log('| step | SotW bytes | SotW resources (responses) | Delta bytes | Delta resources (responses) |');
console.log('| --- | ---: | ---: | ---: | ---: |');
for (const r of rows) {
  console.log(`| ${r.step} | ${kb(r.sotw.bytes)} | ${r.sotw.resources} (${r.sotw.responses}) | ${kb(r.delta.bytes)} | ${r.delta.resources} (${r.delta.responses}) |`);
}
sotw.close();
delta.close();
server.forceShutdown();
