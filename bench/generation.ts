// Generation and memory benchmark, in process (no gRPC, no workers): what meshd's resolver builds and
// keeps for a mesh like bench/xds-load.ts's — S services in 10 namespaces (port 5000, pods v1/v2, a
// DestinationRule with subsets v1/v2 and a VirtualService each) and C client Deployments (own Service,
// own labels: one proxy class each) of R sidecar replicas — and what a new Pod, a VirtualService edit
// and a DestinationRule edit cost afterwards. The push path (encoding responses, writing streams) is
// bench/xds-load.ts's; this isolates generation so its cost per class and per proxy can be read off.
//
//   node --expose-gc --import tsx bench/generation.ts [--services 1000] [--classes 1000] [--replicas 2] [--sidecar namespace-local]
//
// Prints one line per phase: CPU time (this process; wall time on a loaded machine says little), resources built / encoded (bodies not already encoded), cache
// entries, distinct views and classes, heap used after a full GC.

import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { parseArgs } from 'node:util';
import { ConfigStore } from '../src/config/store.js';
import { validateDocument } from '../src/config/validate.js';
import { PushContext } from '../src/model/push-context.js';
import { parseProxy, type Proxy } from '../src/model/proxy.js';
import { subscriptionOf, WILDCARD_ONLY } from '../src/xds/connection.js';
import type { EncodedResource, ResourceSet } from '../src/xds/cache.js';
import { sidecarGenerator } from '../src/xds/generators/sidecar/index.js';
import { Resolver } from '../src/xds/resolve.js';
import { TYPE } from '../src/xds/resource-types.js';

const { values } = parseArgs({
  options: {
    services: { type: 'string', default: '1000' },
    classes: { type: 'string', default: '1000' },
    replicas: { type: 'string', default: '2' },
    // `namespace-local`: every namespace gets a default Sidecar whose egress is `./*` (issue 13's comparison)
    sidecar: { type: 'string', default: 'none' },
  },
});
const S = Number(values.services);
const C = Number(values.classes);
const R = Number(values.replicas);
const NAMESPACES = 10;
const PORT = 5000;

type Doc = Record<string, unknown>;
const store = new ConfigStore();
const put = (doc: Doc) => {
  const r = validateDocument(doc);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  store.upsert(r.value.kind, r.value.object, { source: 'memory', label: 'generation bench' }, 'bench');
};
const ns = (i: number) => `bench-${i % NAMESPACES}`;
const svcName = (i: number) => `svc-${String(i).padStart(4, '0')}`;
const dr = (i: number, extra: Doc = {}): Doc => ({
  apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: svcName(i), namespace: ns(i) },
  spec: { host: `${svcName(i)}.${ns(i)}.svc.cluster.local`, ...extra, subsets: [{ name: 'v1', labels: { version: 'v1' } }, { name: 'v2', labels: { version: 'v2' } }] },
});
const vs = (i: number, v1: number): Doc => ({
  apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: svcName(i), namespace: ns(i) },
  spec: { hosts: [`${svcName(i)}.${ns(i)}.svc.cluster.local`], http: [{ route: [{ destination: { host: `${svcName(i)}.${ns(i)}.svc.cluster.local`, subset: 'v1' }, weight: v1 }, { destination: { host: `${svcName(i)}.${ns(i)}.svc.cluster.local`, subset: 'v2' }, weight: 100 - v1 }] }] },
});
const pod = (i: number, version: string, k: number, suffix = ''): Doc => ({
  apiVersion: 'v1', kind: 'Pod', metadata: { name: `${svcName(i)}-${version}${suffix}`, namespace: ns(i), labels: { app: svcName(i), version } },
  spec: { serviceAccountName: svcName(i), containers: [{ name: 'app', image: 'bench/app:1', ports: [{ containerPort: PORT }] }] },
  status: { phase: 'Running', podIP: `10.${(i >> 8) & 255}.${i & 255}.${k}` },
});

for (let k = 0; k < NAMESPACES; k++) put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: `bench-${k}` } });
if (values.sidecar === 'namespace-local') {
  for (let k = 0; k < NAMESPACES; k++) {
    put({ apiVersion: 'networking.istio.io/v1', kind: 'Sidecar', metadata: { name: 'default', namespace: `bench-${k}` }, spec: { egress: [{ hosts: ['./*'] }] } });
  }
} else if (values.sidecar !== 'none') throw new Error(`--sidecar: none or namespace-local, not ${values.sidecar}`);
for (let i = 0; i < S; i++) {
  put({ apiVersion: 'v1', kind: 'Service', metadata: { name: svcName(i), namespace: ns(i) }, spec: { clusterIP: `10.96.${(i >> 8) & 255}.${i & 255}`, selector: { app: svcName(i) }, ports: [{ name: 'http', port: PORT }] } });
  put(pod(i, 'v1', 1));
  put(pod(i, 'v2', 2));
  put(dr(i));
  put(vs(i, 90));
}
const proxies: Proxy[] = [];
for (let d = 0; d < C; d++) {
  const deployment = `client-${String(d).padStart(4, '0')}`;
  const namespace = `bench-${d % NAMESPACES}`;
  const labels = { app: deployment, version: 'v1', 'pod-template-hash': '5d8f7c9b4', 'security.istio.io/tlsMode': 'istio' };
  put({ apiVersion: 'v1', kind: 'Service', metadata: { name: deployment, namespace }, spec: { selector: { app: deployment }, ports: [{ name: 'grpc', port: PORT, targetPort: PORT }] } });
  for (let r = 0; r < R; r++) {
    const p = d * R + r;
    const ip = `172.16.${(p >> 8) & 255}.${p & 255}`;
    const podName = `${deployment}-5d8f7c9b4-${r}`;
    put({ apiVersion: 'v1', kind: 'Pod', metadata: { name: podName, namespace, labels }, spec: { serviceAccountName: deployment }, status: { phase: 'Running', podIP: ip } });
    proxies.push(parseProxy({ id: `sidecar~${ip}~${podName}.${namespace}~${namespace}.svc.cluster.local`, metadata: { NAMESPACE: namespace, LABELS: labels, INSTANCE_IPS: ip, ISTIO_VERSION: '1.24.0' } }));
  }
}

/** Names a resource references under `key` (EDS service names of clusters, RDS names of HCMs). */
function referenced(value: unknown, key: string, out: Set<string>): void {
  if (Array.isArray(value)) for (const v of value) referenced(v, key, out);
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === key && typeof v === 'string') out.add(v);
      else referenced(v, key, out);
    }
  }
}

const resolver = new Resolver({ sidecar: sidecarGenerator });
// what each proxy subscribes to, as Envoy would after its first CDS/LDS (kept across snapshots)
const subscriptions = new Map<Proxy, { eds: ReturnType<typeof subscriptionOf>; rds: ReturnType<typeof subscriptionOf> }>();
const refs = new WeakMap<EncodedResource, readonly string[]>();
function refsOf(r: EncodedResource, key: string): readonly string[] {
  let out = refs.get(r);
  if (!out) {
    const found = new Set<string>();
    referenced(r.body, key, found);
    refs.set(r, (out = [...found]));
  }
  return out;
}
const held: ResourceSet[] = [];

function syncAll(): void {
  held.length = 0;
  for (const p of proxies) {
    const cds = resolver.resolve(p, TYPE.CDS, WILDCARD_ONLY);
    const lds = resolver.resolve(p, TYPE.LDS, WILDCARD_ONLY);
    let subs = subscriptions.get(p);
    if (!subs) {
      // what Envoy would subscribe to after this CDS and LDS; each shared resource is walked once (the
      // walk is the bench's cost, not meshd's)
      const eds = new Set<string>();
      const rds = new Set<string>();
      for (const r of cds.resources) for (const n of refsOf(r, 'service_name')) eds.add(n);
      for (const r of lds.resources) for (const n of refsOf(r, 'route_config_name')) rds.add(n);
      subscriptions.set(p, (subs = { eds: subscriptionOf(false, eds), rds: subscriptionOf(false, rds) }));
    }
    held.push(cds, lds, resolver.resolve(p, TYPE.EDS, subs.eds), resolver.resolve(p, TYPE.RDS, subs.rds));
  }
}

const gc = (globalThis as { gc?: () => void }).gc;
let version = 0;
/** GENERATION_BENCH_PROFILE=PREFIX[,PREFIX]: a CPU profile of each phase whose name starts with a PREFIX (bench/prof-top.ts reads them). */
const profilePrefixes = process.env.GENERATION_BENCH_PROFILE?.split(',');
const profiler = profilePrefixes ? new Session() : undefined;
profiler?.connect();
const post = (method: string) => new Promise<unknown>((resolve, reject) => profiler!.post(method, (err, result) => (err ? reject(err) : resolve(result))));

async function phase(name: string, change: () => void): Promise<void> {
  const profiled = profilePrefixes?.some((p) => name.startsWith(p)) ?? false;
  if (profiled) await post('Profiler.enable').then(() => post('Profiler.start'));
  await phaseOf(name, change);
  if (profiled) {
    const { profile } = (await post('Profiler.stop')) as { profile: unknown };
    const file = `generation-${name.replace(/[^a-z0-9]+/gi, '-')}.cpuprofile`;
    writeFileSync(file, JSON.stringify(profile));
    console.log(`  profile: ${file}`);
  }
}

async function phaseOf(name: string, change: () => void): Promise<void> {
  change();
  const before = { ...resolver.stats };
  const cpu = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  const t0 = cpu();
  const ctx = new PushContext(store, `v${++version}`);
  const t1 = cpu();
  resolver.beginSnapshot(ctx);
  syncAll();
  const t2 = cpu();
  gc?.();
  const s = resolver.stats;
  const built = s.built - before.built;
  const encoded = built - (s.sameBody - before.sameBody);
  const heap = gc ? `${(process.memoryUsage().heapUsed / 2 ** 20).toFixed(1)} MiB` : 'n/a (run with --expose-gc)';
  console.log(
    `${name.padEnd(34)} CPU: PushContext ${(t1 - t0).toFixed(0).padStart(5)} ms, resolve ${(t2 - t1).toFixed(0).padStart(6)} ms; built ${String(built).padStart(7)}, encoded ${String(encoded).padStart(6)}; entries ${s.size}; views ${s.views}, classes ${s.classes}; heap ${heap}`,
  );
}

console.log(`generation bench: ${S} services, ${C} client classes × ${R} replicas = ${proxies.length} sidecars, ${NAMESPACES} namespaces, Sidecar resources: ${values.sidecar}`);
await phase('initial sync', () => {});
await phase('nothing changed', () => {});
for (let i = 0; i < Number(process.env.GENERATION_BENCH_REPEAT ?? 0); i++) await phase('nothing changed (again)', () => {});
await phase('new endpoint (Pod v2b of svc-0000)', () => put(pod(0, 'v2', 3, 'b')));
await phase('VirtualService weights svc-0001', () => put(vs(1, 50)));
await phase('DestinationRule policy svc-0000', () => put(dr(0, { trafficPolicy: { connectionPool: { http: { http2MaxRequests: 1000 } } } })));
