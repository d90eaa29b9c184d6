// Cold sync of the Kubernetes source: a cluster with 1000 Services, 5000 Pods and 1000 EndpointSlices
// (plus namespaces), served by the API-server fixture in this process; a real meshd process started with
// --kubeconfig. Measures time from spawn to "Kubernetes informers synced", to /ready, and meshd's RSS
// once ready (process_resident_memory_bytes from its /metrics). Not part of `npm test`.
//   npx tsx bench/kube-cold-sync.ts [--services 1000] [--pods 5000] [--slices 1000] [--runs 3]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { parseArgs } from 'node:util';
import { FakeApiServer } from '../test/kube-fixture/server.js';
import { kubeconfigYaml } from '../test/kube-fixture/kubectl.js';

const { values } = parseArgs({ options: { services: { type: 'string', default: '1000' }, pods: { type: 'string', default: '5000' }, slices: { type: 'string', default: '1000' }, runs: { type: 'string', default: '3' } } });
const SERVICES = Number(values.services);
const PODS = Number(values.pods);
const SLICES = Number(values.slices);
const NAMESPACES = 20;

const api = new FakeApiServer({ historySize: 100 });
const url = await api.start();
for (let n = 0; n < NAMESPACES; n++) api.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: `ns-${n}`, labels: { 'istio-injection': 'enabled' } } });
const nsOf = (i: number) => `ns-${i % NAMESPACES}`;
for (let i = 0; i < SERVICES; i++) {
  api.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: `svc-${i}`, namespace: nsOf(i), labels: { app: `svc-${i}` } },
    spec: { type: 'ClusterIP', clusterIP: `10.96.${i >> 8}.${i & 255}`, selector: { app: `svc-${i}` }, ports: [{ name: 'grpc', port: 5000, targetPort: 5000, protocol: 'TCP' }, { name: 'http', port: 8080, protocol: 'TCP' }] } });
}
for (let i = 0; i < PODS; i++) {
  const s = i % SERVICES;
  api.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: `svc-${s}-pod-${i}`, namespace: nsOf(s), labels: { app: `svc-${s}`, version: `v${i % 3}`, 'security.istio.io/tlsMode': 'istio' } },
    spec: { serviceAccountName: `svc-${s}`, nodeName: `node-${i % 50}`, containers: [{ name: 'app', image: 'registry.local/app:1.0', ports: [{ containerPort: 5000, name: 'grpc' }] }, { name: 'istio-proxy', image: 'istio/proxyv2:1.24' }] },
    status: { phase: 'Running', podIP: `10.${1 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`, podIPs: [{ ip: `10.${1 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}` }], conditions: [{ type: 'Ready', status: 'True' }] } });
}
for (let i = 0; i < SLICES; i++) {
  const s = i % SERVICES;
  const eps = [];
  for (let p = s; p < PODS; p += SERVICES) eps.push({ addresses: [`10.${1 + (p >> 16)}.${(p >> 8) & 255}.${p & 255}`], conditions: { ready: true, serving: true, terminating: false }, nodeName: `node-${p % 50}`, targetRef: { kind: 'Pod', namespace: nsOf(s), name: `svc-${s}-pod-${p}` } });
  api.create({ apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: `svc-${s}-${i}`, namespace: nsOf(s), labels: { 'kubernetes.io/service-name': `svc-${s}` } },
    addressType: 'IPv4', ports: [{ name: 'grpc', port: 5000, protocol: 'TCP' }], endpoints: eps });
}
const dir = mkdtempSync(path.join(os.tmpdir(), 'meshd-bench-kube-'));
const kubeconfig = path.join(dir, 'kubeconfig');
writeFileSync(kubeconfig, kubeconfigYaml({ server: url }));

interface Run { syncedMs: number; readyMs: number; rssMiB: number; heapMiB: number }
async function once(): Promise<Run> {
  const t0 = performance.now();
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--kubeconfig', kubeconfig, '--grpc-addr', '127.0.0.1:0', '--monitoring-addr', '127.0.0.1:0', '--http-addr', '127.0.0.1:0', '--log-level', 'info'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let syncedMs = 0;
  let monitoring = '';
  let http = '';
  readline.createInterface({ input: child.stderr! }).on('line', (line) => {
    try {
      const l = JSON.parse(line) as { msg?: string; monitoringAddr?: string; httpAddr?: string };
      if (l.msg === 'Kubernetes informers synced') syncedMs = performance.now() - t0;
      if (l.msg === 'meshd is serving') {
        monitoring = l.monitoringAddr!;
        http = l.httpAddr!;
      }
    } catch { /* not JSON */ }
  });
  const deadline = Date.now() + 120_000;
  let readyMs = 0;
  while (Date.now() < deadline) {
    if (http) {
      const ok = await fetch(`http://${http}/ready`).then((r) => r.status === 200, () => false);
      if (ok) {
        readyMs = performance.now() - t0;
        break;
      }
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  if (!readyMs) throw new Error('meshd did not become ready within 120 s');
  await new Promise((r) => setTimeout(r, 1000));
  const metrics = await (await fetch(`http://${monitoring}/metrics`)).text();
  const num = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics)?.[1] ?? NaN);
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  return { syncedMs, readyMs, rssMiB: num('process_resident_memory_bytes') / 2 ** 20, heapMiB: num('nodejs_heap_size_used_bytes') / 2 ** 20 };
}

const runs: Run[] = [];
for (let i = 0; i < Number(values.runs); i++) runs.push(await once());
await api.stop();
rmSync(dir, { recursive: true, force: true });
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const f = (x: number) => x.toFixed(0);
console.log(`cluster: ${SERVICES} Services, ${PODS} Pods, ${SLICES} EndpointSlices, ${NAMESPACES} Namespaces (fixture in the bench process)`);
console.log('| run | spawn → informers synced (ms) | spawn → /ready (ms) | RSS when ready (MiB) | heap used (MiB) |');
console.log('| --- | --- | --- | --- | --- |');
runs.forEach((r, i) => console.log(`| ${i + 1} | ${f(r.syncedMs)} | ${f(r.readyMs)} | ${f(r.rssMiB)} | ${f(r.heapMiB)} |`));
console.log(`| median | ${f(med(runs.map((r) => r.syncedMs)))} | ${f(med(runs.map((r) => r.readyMs)))} | ${f(med(runs.map((r) => r.rssMiB)))} | ${f(med(runs.map((r) => r.heapMiB)))} |`);
