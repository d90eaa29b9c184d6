// The operator commands against meshd in Kubernetes mode, reached as istioctl reaches istiod: through the
// API server (the in-repo fixture), which lists the running meshd pods of istio-system (app=istiod) and
// relays pods/portforward (WebSocket) to the pod's monitoring port — here the real meshd process serving
// the fixture's config. proxy-status, proxy-config, explain and diff with --kubeconfig/--context/-i/
// --revision, and what each says when the cluster has no meshd to reach; and real `kubectl port-forward`
// (SPDY) to the same pod, as the README's manual way.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FakeApiServer, type KObject } from '../kube-fixture/server.js';
import { KUBECTL, kubeconfigYaml, kubectlAvailable } from '../kube-fixture/kubectl.js';
import type { SotwFollower } from '../support/xds-follow.js';
import { startMeshd, type Meshd } from './harness/meshd.js';
import { dest, toYaml, virtualServiceDoc } from './harness/mesh.js';
import { connectSleep, REVIEWS, reviewsMesh, runMeshd } from './harness/operator.js';
import { exitWhenIdle, tempDir, trackChild, waitUntil } from './harness/util.js';
import { spawn } from 'node:child_process';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const ISTIOD_POD = 'istiod-7b9c6d5f4-x2k8p';

/** a meshd pod as the chart deploys it: app=istiod, its revision, the http-monitoring port */
function meshdPod(name: string, revision: string, phase = 'Running'): KObject {
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name, namespace: 'istio-system', labels: { app: 'istiod', istio: 'pilot', 'istio.io/rev': revision } },
    spec: { containers: [{ name: 'discovery', image: 'meshd', ports: [{ name: 'grpc-xds', containerPort: 15010 }, { name: 'http-monitoring', containerPort: 15014 }] }] },
    status: { phase, podIP: '10.2.0.5' },
  } as KObject;
}

describe('operator commands through the Kubernetes API (pods/portforward to the meshd pod)', { timeout: 300_000 }, () => {
  const tmp = tempDir('proxy-tools-kube');
  const api = new FakeApiServer();
  let kubeconfig: string;
  let meshd: Meshd;
  let sidecar: SotwFollower;
  const kube = (...args: string[]) => [...args, '--kubeconfig', kubeconfig];

  before(async () => {
    const server = await api.start();
    kubeconfig = path.join(tmp.dir, 'kubeconfig');
    writeFileSync(kubeconfig, kubeconfigYaml({ server }));
    for (const doc of Object.values(reviewsMesh()).flat()) {
      if (doc.kind !== 'Namespace') api.create(doc as KObject);
    }
    api.create(meshdPod(ISTIOD_POD, 'default'));
    // a canary control plane whose pod runs but whose port nothing listens on, and one not running yet
    api.create(meshdPod('istiod-canary-5f6d7c8b9-q4w2e', 'canary'));
    api.create(meshdPod('istiod-pending-1', 'pending', 'Pending'));
    const empty = tempDir('proxy-tools-kube-empty');
    meshd = await startMeshd({ configDir: empty.dir, extraArgs: ['--kubeconfig', kubeconfig], startTimeoutMs: 120_000 });
    const [host, port] = [meshd.monitoringAddr.slice(0, meshd.monitoringAddr.lastIndexOf(':')), Number(meshd.monitoringAddr.slice(meshd.monitoringAddr.lastIndexOf(':') + 1))];
    api.forwardPort('istio-system', ISTIOD_POD, 15014, { host, port });
    sidecar = await connectSleep(meshd);
  });

  after(async () => {
    sidecar?.close();
    const code = await meshd?.stop();
    await api.stop();
    tmp.remove();
    exitWhenIdle();
    assert.equal(code, 0);
  });

  const forwards = () => api.requests.filter((r) => r.subresource === 'portforward');

  test('proxy-status --kubeconfig: the running meshd pod is found by app=istiod and asked through pods/portforward', async () => {
    const before = forwards().length;
    const run = await runMeshd(kube('proxy-status', '--revision', 'default'));
    assert.equal(run.code, 0, run.stderr);
    const sleepRow = run.stdout.split('\n').find((l) => l.startsWith('sleep-1.default'));
    assert.ok(sleepRow, run.stdout);
    assert.match(sleepRow!, /^sleep-1\.default\s+Kubernetes\s+SYNCED \(\d+\w*\)\s+SYNCED \(\d+\w*\)\s+SYNCED \(\d+\w*\)\s+SYNCED \(\d+\w*\)\s+IGNORED\s+/);
    const used = forwards().slice(before);
    assert.ok(used.length >= 1, 'the command went through pods/portforward');
    assert.ok(used.every((r) => r.namespace === 'istio-system' && r.name === ISTIOD_POD && r.query === '?ports=15014' && r.status === 101), JSON.stringify(used));
    const list = api.requests.filter((r) => r.resource === 'pods' && r.verb === 'list' && r.namespace === 'istio-system');
    assert.match(list.at(-1)!.query, /labelSelector=app%3Distiod%2Cistio\.io%2Frev%3Ddefault/);
    // the tunnels end with the command
    await waitUntil('the port-forward tunnels to close', () => (api.openPortForwards === 0 ? true : undefined), { timeoutMs: 60_000, intervalMs: 50 });
  });

  test('proxy-config with --context and -i: clusters and endpoints as meshd sent them', async () => {
    const run = await runMeshd(kube('proxy-config', 'cluster', 'sleep-1', '--fqdn', REVIEWS, '--context', 'fixture', '-i', 'istio-system', '--revision', 'default'));
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(run.stdout.trimEnd().split('\n').slice(1).map((l) => l.split(/\s{2,}/).slice(2, 4)), [['-', 'outbound'], ['v1', 'outbound'], ['v2', 'outbound']]);
    const eps = await runMeshd(kube('pc', 'endpoint', 'sleep-1.default', '--subset', 'v2', '-o', 'json', '--revision', 'default'));
    assert.equal(eps.code, 0, eps.stderr);
    assert.match(eps.stdout, /10\.1\.0\.12/);
    const missing = await runMeshd(kube('pc', 'cluster', 'nobody', '--revision', 'default'));
    assert.equal(missing.code, 1, missing.stderr);
    assert.match(missing.stderr, /meshd pod istio-system\/istiod-7b9c6d5f4-x2k8p answered 404/);
  });

  test('explain and diff through the cluster: the VirtualService read from Kubernetes, the change it would make', async () => {
    const ex = await runMeshd(kube('explain', 'http://reviews:9080/', '--proxy', 'sleep-1', '-o', 'json', '--revision', 'default'));
    assert.ok(ex.code === 0 || ex.code === 1, ex.stderr);
    const e = JSON.parse(ex.stdout) as Obj;
    assert.equal(e.route.name, 'split');
    assert.match(e.route.virtualService.origin, /^kube/);
    assert.deepEqual(e.clusters.map((c: Obj) => c.weight), [80, 20]);

    const change = path.join(tmp.dir, 'weights.yaml');
    writeFileSync(change, toYaml([virtualServiceDoc('reviews', [REVIEWS], [
      { name: 'jason', match: [{ headers: { 'end-user': { exact: 'jason' } } }], route: [dest(REVIEWS, 'v2')] },
      { name: 'split', route: [dest(REVIEWS, 'v1', 50), dest(REVIEWS, 'v2', 50)] },
    ])]));
    const diff = await runMeshd(kube('diff', '-f', change, '-o', 'json', '--revision', 'default'));
    assert.equal(diff.code, 1, diff.stderr);
    const r = JSON.parse(diff.stdout) as Obj;
    assert.match(r.against, /^meshd pod istio-system\/istiod-7b9c6d5f4-x2k8p \(Kubernetes context "fixture"\)$/);
    assert.deepEqual(r.classes.map((c: Obj) => c.proxies), [['sleep-1.default']]);
    assert.deepEqual(r.classes[0].types.RDS.changed[0].fields.map((f: Obj) => [f.from, f.to]), [[80, 50], [20, 50]]);
  });

  test('real kubectl port-forward to the meshd pod (SPDY through the API server): /debug/syncz in istiod\'s shape, meshd ps --meshd-addr through it', { skip: !kubectlAvailable() && 'no kubectl' }, async () => {
    const child = spawn(KUBECTL, ['--kubeconfig', kubeconfig, '-n', 'istio-system', 'port-forward', `pod/${ISTIOD_POD}`, ':15014'], {
      env: { ...process.env, HOME: tmp.dir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    trackChild(child);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    try {
      const port = await waitUntil('kubectl port-forward to listen', () => /Forwarding from 127\.0\.0\.1:(\d+) -> 15014/.exec(out)?.[1], { timeoutMs: 60_000, intervalMs: 50, detail: () => out });
      const res = await fetch(`http://127.0.0.1:${port}/debug/syncz`, { headers: { connection: 'close' } });
      assert.equal(res.status, 200, 'the forwarded connection arrives from localhost in the pod: the loopback-only page answers');
      const syncz = (await res.json()) as Obj[];
      const sleep = syncz.find((e) => e.proxy === 'sleep-1.default');
      assert.ok(sleep, JSON.stringify(syncz).slice(0, 500));
      assert.equal(sleep!.cluster_acked, sleep!.cluster_sent);
      const ps = await runMeshd(['proxy-status', 'sleep-1', '--meshd-addr', `127.0.0.1:${port}`]);
      assert.equal(ps.code, 0, ps.stderr + out);
      assert.match(ps.stdout, /^sleep-1\.default\s+Kubernetes\s+SYNCED/m);
      assert.ok(forwards().some((r) => r.method === 'POST' && r.status === 101), 'kubectl upgraded to SPDY');
    } finally {
      child.kill();
    }
  });

  test('when there is no meshd to reach: an unknown context, no running pod, a pod whose port refuses — exit 2, saying which', async () => {
    const context = await runMeshd(kube('proxy-status', '--context', 'elsewhere'));
    assert.equal(context.code, 2);
    assert.match(context.stderr, /context "elsewhere" is not in the kubeconfig \(contexts: fixture\)/);

    const none = await runMeshd(kube('proxy-status', '-i', 'mesh-system'));
    assert.equal(none.code, 2);
    assert.match(none.stderr, /no running meshd pod \(app=istiod\) in namespace mesh-system of Kubernetes context "fixture"/);

    const pending = await runMeshd(kube('proxy-status', '--revision', 'pending'));
    assert.equal(pending.code, 2);
    assert.match(pending.stderr, /no running meshd pod \(app=istiod,istio\.io\/rev=pending\).*\(1 not running\)/);

    const refused = await runMeshd(kube('proxy-status', '--revision', 'canary'));
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /cannot reach meshd pod istio-system\/istiod-canary-5f6d7c8b9-q4w2e: error forwarding port 15014 to pod istiod-canary-5f6d7c8b9-q4w2e: .*connection refused/);
  });
});
