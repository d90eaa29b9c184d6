// Generation vs encoding for one Envoy sidecar's whole push, in process (no gRPC): S services with
// DestinationRules (subsets v1/v2) and VirtualServices (90/10), one sidecar proxy. For each xDS type it
// generates every resource the sidecar subscribes to (CDS/LDS wildcard, RDS/EDS by the names those
// reference) and encodes each body the way the cache does (src/xds/cache.ts encodeResource), timing the
// two apart, best of R rounds (CPU time of this process; the machine may be shared).
//
//   npx tsx bench/sidecar-encode.ts [--services 500] [--rounds 5] [--cpu-prof]
//
// `--cpu-prof` is node's: run `node --cpu-prof --cpu-prof-dir=bench/results/prof --import tsx bench/sidecar-encode.ts`
// and summarise with `npx tsx bench/prof-top.ts FILE`.

import os from 'node:os';
import { parseArgs } from 'node:util';
import { ConfigStore } from '../src/config/store.js';
import { validateDocument } from '../src/config/validate.js';
import { PushContext } from '../src/model/push-context.js';
import { parseProxy } from '../src/model/proxy.js';
import { encodeResource } from '../src/xds/cache.js';
import { sidecarGenerator } from '../src/xds/generators/sidecar/index.js';
import { TYPE, type TypeUrl } from '../src/xds/resource-types.js';

const { values } = parseArgs({ options: { services: { type: 'string', default: '500' }, rounds: { type: 'string', default: '5' } } });
const services = Number(values.services);
const rounds = Number(values.rounds);

const store = new ConfigStore();
const origin = { source: 'memory', label: 'bench' } as const;
function apply(doc: Record<string, unknown>): void {
  const r = validateDocument(doc);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  store.upsert(r.value.kind, r.value.object, origin, 'bench');
}
const ns = (i: number) => `bench-${i % 10}`;
const fqdn = (i: number) => `svc-${i}.${ns(i)}.svc.cluster.local`;
for (let i = 0; i < services; i++) {
  const meta = { name: `svc-${i}`, namespace: ns(i) };
  apply({ apiVersion: 'v1', kind: 'Service', metadata: meta, spec: { selector: { app: `svc-${i}` }, ports: [{ name: 'http', port: 5000, targetPort: 5000 }] } });
  for (const [k, version] of [[1, 'v1'], [2, 'v2']] as const) {
    apply({
      apiVersion: 'v1', kind: 'Pod', metadata: { name: `svc-${i}-${version}`, namespace: ns(i), labels: { app: `svc-${i}`, version } },
      spec: { serviceAccountName: `svc-${i}`, containers: [{ name: 'app', image: 'bench/app:1', ports: [{ containerPort: 5000 }] }] },
      status: { phase: 'Running', podIP: `10.${(i >> 8) & 255}.${i & 255}.${k}` },
    });
  }
  apply({ apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: meta, spec: { host: fqdn(i), subsets: [{ name: 'v1', labels: { version: 'v1' } }, { name: 'v2', labels: { version: 'v2' } }] } });
  apply({
    apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: meta,
    spec: { hosts: [fqdn(i)], http: [{ route: [{ destination: { host: fqdn(i), subset: 'v1' }, weight: 90 }, { destination: { host: fqdn(i), subset: 'v2' }, weight: 10 }] }] },
  });
}
apply({
  apiVersion: 'v1', kind: 'Pod', metadata: { name: 'client-0', namespace: 'bench-0', labels: { app: 'svc-0', version: 'v1' } },
  spec: { serviceAccountName: 'svc-0', containers: [{ name: 'app', image: 'bench/app:1', ports: [{ containerPort: 5000 }] }] },
  status: { phase: 'Running', podIP: '10.250.0.1' },
});

const ctx = new PushContext(store, 'v1');
const proxy = parseProxy({
  id: 'sidecar~10.250.0.1~client-0.bench-0~bench-0.svc.cluster.local',
  metadata: { NAMESPACE: 'bench-0', LABELS: { app: 'svc-0', version: 'v1' }, INSTANCE_IPS: '10.250.0.1', ISTIO_VERSION: '1.24.0', INTERCEPTION_MODE: 'REDIRECT' },
});

/** Names the sidecar holds per type after following references (as Envoy subscribes). */
function names(): Map<TypeUrl, string[]> {
  const cds = sidecarGenerator.wildcardNames(TYPE.CDS, ctx, proxy);
  const lds = sidecarGenerator.wildcardNames(TYPE.LDS, ctx, proxy);
  const rds = new Set<string>();
  for (const l of lds) collectRouteNames(sidecarGenerator.generate(TYPE.LDS, ctx, proxy, l), rds);
  const eds: string[] = [];
  for (const c of cds) {
    const body = sidecarGenerator.generate(TYPE.CDS, ctx, proxy, c) as { type?: string; eds_cluster_config?: { service_name?: string } } | undefined;
    if (body?.type === 'EDS') eds.push(body.eds_cluster_config?.service_name || c);
  }
  return new Map<TypeUrl, string[]>([[TYPE.CDS, cds], [TYPE.EDS, eds], [TYPE.LDS, lds], [TYPE.RDS, [...rds]]]);
}

function collectRouteNames(o: unknown, out: Set<string>): void {
  if (Array.isArray(o)) for (const x of o) collectRouteNames(x, out);
  else if (o && typeof o === 'object') {
    const rds = (o as { rds?: { route_config_name?: unknown } }).rds;
    if (typeof rds?.route_config_name === 'string') out.add(rds.route_config_name);
    for (const v of Object.values(o)) collectRouteNames(v, out);
  }
}

const cpuUs = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

const byType = names();
const short = (t: string) => t.slice(t.lastIndexOf('.') + 1);
const rows: { type: string; n: number; bytes: number; genUs: number; encUs: number }[] = [];
for (const [type, list] of byType) {
  let best = { genUs: Infinity, encUs: Infinity, bytes: 0 };
  for (let r = 0; r < rounds; r++) {
    const t0 = cpuUs();
    const bodies = list.map((n) => sidecarGenerator.generate(type, ctx, proxy, n));
    const t1 = cpuUs();
    let bytes = 0;
    bodies.forEach((b, k) => {
      if (b) bytes += encodeResource(type, list[k]!, b).any.length;
    });
    const t2 = cpuUs();
    best = { genUs: Math.min(best.genUs, t1 - t0), encUs: Math.min(best.encUs, t2 - t1), bytes };
  }
  rows.push({ type: short(type), n: list.length, ...best });
}

const f = (us: number) => (us / 1000).toFixed(1);
console.log(`npx tsx bench/sidecar-encode.ts --services ${services} --rounds ${rounds}`);
console.log(`node ${process.version}, nproc ${os.availableParallelism()}, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
console.log('| type | resources | bytes | generate, ms CPU | encode, ms CPU | encode µs / resource | encode / generate |');
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const r of rows) {
  console.log(`| ${r.type} | ${r.n} | ${r.bytes} | ${f(r.genUs)} | ${f(r.encUs)} | ${(r.encUs / Math.max(1, r.n)).toFixed(0)} | ${(r.encUs / Math.max(1, r.genUs)).toFixed(2)} |`);
}
const tot = rows.reduce((a, r) => ({ gen: a.gen + r.genUs, enc: a.enc + r.encUs }), { gen: 0, enc: 0 });
console.log(`| all | ${rows.reduce((a, r) => a + r.n, 0)} | ${rows.reduce((a, r) => a + r.bytes, 0)} | ${f(tot.gen)} | ${f(tot.enc)} | | ${(tot.enc / tot.gen).toFixed(2)} |`);
console.log(JSON.stringify({ bench: 'sidecar-encode', services, rounds, loadavg: os.loadavg(), rows }));
