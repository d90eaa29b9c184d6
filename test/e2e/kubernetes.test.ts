// The user's workflow against a cluster: real `kubectl apply -f` / `kubectl delete -f` against the
// API-server fixture move the traffic of a real grpc-js-xds client through a real meshd process; a kubectl
// edit of an EndpointSlice brings a backend into rotation; `kubectl get vs -o yaml` shows the status of a
// refused object; while the API server is down meshd keeps serving and says "not synced"; it converges
// once the API is back.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { after, before, describe, test } from 'node:test';
import YAML from 'yaml';
import { FakeApiServer } from '../kube-fixture/server.js';
import { kubectlFor, type Kubectl } from '../kube-fixture/kubectl.js';
import { startBackend, type Backend } from './harness/backend.js';
import { startMeshd, type Meshd } from './harness/meshd.js';
import { dest, endpointSliceDoc, fqdn, toYaml, versionedService, virtualServiceDoc, xdsTarget, type Version } from './harness/mesh.js';
import { withinBinomial } from './harness/stats.js';
import { failures, format, total, untilTraffic } from './harness/traffic.js';
import { REPO_ROOT, tempDir, trackChild, waitUntil } from './harness/util.js';
import { XdsClient } from './harness/xds-client.js';
import { startHelloworldVersions } from './harness/helloworld.js';
import { meshdCommand } from '../support/meshd-bin.js';

const SVC = 'helloworld';
const HOST = fqdn(SVC);
const PORT = 5000;
const vsDoc = (w1: number, w2: number) => virtualServiceDoc(SVC, [HOST], [{ route: [dest(HOST, 'v1', w1), dest(HOST, 'v2', w2)] }]);

describe('Kubernetes source end to end: kubectl → API server → meshd → grpc-js-xds traffic', { timeout: 180_000 }, () => {
  const tmp = tempDir('kube');
  const api = new FakeApiServer();
  let kubectl: Kubectl;
  let meshd: Meshd | undefined;
  const backends: Backend[] = [];
  let client: XdsClient;
  let versions: Version[];
  const file = (name: string, docs: Record<string, unknown>[]) => {
    const f = path.join(tmp.dir, name);
    writeFileSync(f, toYaml(docs));
    return f;
  };

  before(async () => {
    const url = await api.start();
    kubectl = kubectlFor({ server: url });
    const hello = await startHelloworldVersions('127.0.4');
    backends.push(hello.v1, hello.v2);
    versions = hello.versions;
    // the cluster: Service, Pods, EndpointSlices, DestinationRule — applied with kubectl like a user would
    const mesh = versionedService(SVC, PORT, versions);
    await kubectl.run(['apply', '-f', file('mesh.yaml', Object.values(mesh).flat())]);
    const emptyDir = tempDir('kube-empty');
    meshd = await startMeshd({ configDir: emptyDir.dir, extraArgs: ['--kubeconfig', kubectl.kubeconfig] });
    client = new XdsClient(meshd.grpcAddr, xdsTarget(SVC, PORT), { pod: 'kube-client', ip: '127.0.4.1' });
    await client.waitReady();
  });

  after(async () => {
    client?.close();
    const code = await meshd?.stop();
    await Promise.all(backends.map((b) => b.stop()));
    await api.stop();
    kubectl?.cleanup();
    tmp.remove();
    assert.equal(code, 0, 'meshd exits 0 on SIGTERM');
  });

  test('kubectl apply -f of a VirtualService moves the split; kubectl delete -f reverts it', { timeout: 180_000 }, async () => {
    const rr = await client.split(200);
    assert.ok((rr['helloworld-v1'] ?? 0) > 60 && (rr['helloworld-v2'] ?? 0) > 60, `no VirtualService: round robin (${format(rr)})`);

    const vsFile = file('vs.yaml', [vsDoc(10, 90)]);
    let t0 = Date.now();
    assert.match(await kubectl.run(['apply', '-f', vsFile]), /virtualservice.networking.istio.io\/helloworld created/);
    const moved = await untilTraffic(client, 'v2 dominant', (c) => (c['helloworld-v2'] ?? 0) >= total(c) * 0.7, { batch: 40 });
    const appliedMs = Date.now() - t0;
    const n = 400;
    const split = await client.split(n);
    const v2 = withinBinomial(split['helloworld-v2'] ?? 0, n, 0.9);
    console.log(`kubectl apply 10/90: traffic moved ${appliedMs} ms after kubectl started (${moved.ms} ms probing); over ${n} calls: ${format(split)}`);
    assert.deepEqual(failures(split), {});
    assert.ok(v2.ok, `10/90 after kubectl apply: ${v2.why}`);

    t0 = Date.now();
    assert.match(await kubectl.run(['delete', '-f', vsFile]), /deleted/);
    await untilTraffic(client, 'round robin again', (c) => Math.abs((c['helloworld-v1'] ?? 0) - (c['helloworld-v2'] ?? 0)) <= total(c) * 0.2, { batch: 40 });
    const back = await client.split(200);
    console.log(`kubectl delete: round robin again ${Date.now() - t0} ms after kubectl started: ${format(back)}`);
    assert.ok(Math.abs((back['helloworld-v1'] ?? 0) - 100) <= 20, `reverted to round robin: ${format(back)}`);
  });

  test('editing an EndpointSlice with kubectl brings a new backend into rotation', { timeout: 180_000 }, async () => {
    const v1b = await startBackend('helloworld-v1-b', '127.0.4.13', versions[0]!.port);
    backends.push(v1b);
    const edited = endpointSliceDoc({
      name: `${SVC}-v1`, service: SVC, port: versions[0]!.port,
      endpoints: [{ ip: versions[0]!.ip, pod: 'helloworld-v1' }, { ip: v1b.ip }],
    });
    const t0 = Date.now();
    assert.match(await kubectl.run(['apply', '-f', file('slice.yaml', [edited])]), /endpointslice.discovery.k8s.io\/helloworld-v1 configured/);
    await untilTraffic(client, 'the new replica answering', (c) => (c['helloworld-v1-b'] ?? 0) > 0);
    const rr = await client.split(300);
    console.log(`EndpointSlice edit via kubectl: new backend answered ${Date.now() - t0} ms after kubectl started; ${format(rr)}`);
    for (const b of ['helloworld-v1', 'helloworld-v1-b', 'helloworld-v2']) assert.ok(Math.abs((rr[b] ?? 0) - 100) <= 30, `${b} in rotation: ${format(rr)}`);
  });

  test('kubectl get vs shows the Istio status of a refused VirtualService; the last good version keeps serving', { timeout: 180_000 }, async () => {
    await kubectl.run(['apply', '-f', file('good.yaml', [vsDoc(0, 100)])]);
    await untilTraffic(client, 'all on v2', (c) => c['helloworld-v2'] === total(c));
    const bad = vsDoc(0, 100) as { spec: { http: { route: { destination: Record<string, unknown> }[] }[] } };
    bad.spec.http[0]!.route[0]!.destination = { subset: 'v1' }; // no host: refused by validation
    await kubectl.run(['apply', '-f', file('bad.yaml', [bad as unknown as Record<string, unknown>])]);
    const status = await waitUntil('status written on the VirtualService', async () => {
      const o = YAML.parse(await kubectl.run(['get', 'vs', SVC, '-o', 'yaml'])) as { status?: { validationMessages?: { type: { code: string }; level: string; message: string }[] } };
      return o.status?.validationMessages?.length ? o.status : undefined;
    }, { timeoutMs: 10_000, intervalMs: 200 });
    console.log(`kubectl get vs ${SVC} -o yaml → status: ${JSON.stringify(status)}`);
    assert.equal(status.validationMessages![0]!.type.code, 'IST0106');
    assert.equal(status.validationMessages![0]!.level, 'ERROR');
    assert.match(status.validationMessages![0]!.message, /spec\.http\[0\]\.route\[0\]\.destination\.host: required field is missing/);
    assert.match(await kubectl.run(['get', 'vs']), new RegExp(`^${SVC}\\s`, 'm'));
    assert.deepEqual(await client.split(100), { 'helloworld-v2': 100 }, 'the last good version (0/100) stays in force');
    // fixing it clears the status
    await kubectl.run(['apply', '-f', file('good.yaml', [vsDoc(0, 100)])]);
    await waitUntil('status cleared', async () => {
      const o = YAML.parse(await kubectl.run(['get', 'vs', SVC, '-o', 'yaml'])) as { status?: { validationMessages?: unknown[] } };
      return o.status?.validationMessages?.length ? undefined : true;
    }, { timeoutMs: 10_000, intervalMs: 200 });
  });

  test('API server down: meshd keeps serving the last config and reports not synced; converges when it returns', { timeout: 180_000 }, async () => {
    await api.down();
    await waitUntil('meshd_kube_informer_synced 0 for every kind', async () => {
      const m = await meshd!.metrics();
      // every kind meshd watches (the set grows with the served kinds), none still synced
      const series = m.match(/^meshd_kube_informer_synced\{kind="\w+"\} [01]$/gm) ?? [];
      return series.length > 0 && series.every((l) => l.endsWith(' 0')) ? m : undefined;
    }, { timeoutMs: 15_000, intervalMs: 200 });
    assert.equal((await meshd!.getText('/ready', 'http')).status, 200, 'still ready: serving the last config');
    assert.deepEqual(await client.split(100), { 'helloworld-v2': 100 }, 'traffic follows the last config during the outage');
    // the cluster changes while meshd cannot see it
    api.put(vsDoc(100, 0) as never);
    const t0 = Date.now();
    await api.up();
    await untilTraffic(client, 'all on v1 after the API returns', (c) => c['helloworld-v1'] === total(c), { timeoutMs: 20_000 });
    console.log(`API back: converged (traffic all on v1) ${Date.now() - t0} ms after the API returned`);
    await waitUntil('synced again', async () => (/meshd_kube_informer_synced\{kind="\w+"\} 0/.test(await meshd!.metrics()) ? undefined : true), { timeoutMs: 10_000 });
  });
});

test('meshd serve without --config-dir uses the cluster from $KUBECONFIG', { timeout: 180_000 }, async () => {
  const api = new FakeApiServer();
  const url = await api.start();
  const k = kubectlFor({ server: url });
  const ca = tempDir('kubeconfig-ca');
  const child = spawn(...meshdCommand(['serve', '--grpc-addr', '127.0.0.1:0', '--monitoring-addr', '127.0.0.1:0', '--http-addr', '127.0.0.1:0', '--secure-grpc-addr', '127.0.0.1:0', '--webhook-addr', '127.0.0.1:0', '--ca-admin-addr', '127.0.0.1:0', '--ca-dir', ca.dir]), {
    cwd: REPO_ROOT, env: { ...process.env, KUBECONFIG: k.kubeconfig }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  trackChild(child);
  const out: string[] = [];
  readline.createInterface({ input: child.stdout }).on('line', (l) => out.push(l));
  try {
    const line = await waitUntil('serving banner', () => out.find((l) => l.startsWith('meshd is serving')), { timeoutMs: 20_000 });
    assert.match(line, new RegExp(`Kubernetes cluster Kubernetes \\(${url.replace(/[.]/g, '\\.')}\\)`));
    // the banner follows the initial LIST; the WATCH that follows it may reach the API a moment later
    await waitUntil('meshd watches the cluster', () => api.requests.some((r) => r.verb === 'watch' && r.resource === 'virtualservices') || undefined, { timeoutMs: 10_000 });
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    await api.stop();
    k.cleanup();
    ca.remove();
  }
});
