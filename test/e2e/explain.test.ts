// `meshd explain` against a running meshd (what it serves the source sidecar, and the destination's own
// sidecar for authorization) and offline on the same config directory.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { SotwFollower } from '../support/xds-follow.js';
import { startMeshd, type Meshd } from './harness/meshd.js';
import { writeMesh } from './harness/mesh.js';
import { connectSleep, meshdAddr, REVIEWS, reviewsMesh, runMeshd, SLEEP_NODE } from './harness/operator.js';
import { exitWhenIdle, tempDir } from './harness/util.js';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const sidecarNode = (pod: string, ip: string, labels: Record<string, string>) => ({
  id: `sidecar~${ip}~${pod}.default~default.svc.cluster.local`,
  metadata: { NAMESPACE: 'default', LABELS: { ...labels, 'security.istio.io/tlsMode': 'istio' }, ISTIO_VERSION: '1.26.0', CLUSTER_ID: 'Kubernetes', INSTANCE_IPS: ip, SERVICE_ACCOUNT: 'reviews' },
});

describe('meshd explain', { timeout: 300_000 }, () => {
  const tmp = tempDir('explain');
  let meshd: Meshd;
  const sidecars: SotwFollower[] = [];

  before(async () => {
    writeMesh(tmp.dir, reviewsMesh());
    meshd = await startMeshd({ configDir: tmp.dir, startTimeoutMs: 120_000 });
    sidecars.push(await connectSleep(meshd));
    // the v1 pod's sidecar is connected (authorization is evaluated there); v2's is not
    sidecars.push(await connectSleep(meshd, sidecarNode('reviews-v1', '10.1.0.11', { app: 'reviews', version: 'v1' }) as unknown as typeof SLEEP_NODE));
  });

  after(async () => {
    for (const s of sidecars) s.close();
    const code = await meshd?.stop();
    tmp.remove();
    exitWhenIdle();
    assert.equal(code, 0);
  });

  const explain = async (args: string[]) => {
    const run = await runMeshd(['explain', ...args, '-o', 'json', '--meshd-addr', meshdAddr(meshd)]);
    assert.ok(run.code === 0 || run.code === 1, run.stderr);
    return { code: run.code, e: JSON.parse(run.stdout) as Obj, stderr: run.stderr };
  };

  test('names the VirtualService route, the weighted choice, the DestinationRule subset, endpoints and the AuthorizationPolicy', async () => {
    const { code, e } = await explain(['http://reviews:9080/reviews/1', '--proxy', 'sleep-1']);
    assert.equal(code, 0);
    assert.equal(e.forwarded, true);
    assert.equal(e.route.name, 'split');
    assert.deepEqual([e.route.virtualService.kind, e.route.virtualService.namespace, e.route.virtualService.name], ['VirtualService', 'default', 'reviews']);
    assert.match(e.route.virtualService.origin, /reviews-vs\.yaml#0$/);
    assert.deepEqual(e.clusters.map((c: Obj) => [c.name, c.weight, c.subset]), [[`outbound|9080|v1|${REVIEWS}`, 80, 'v1'], [`outbound|9080|v2|${REVIEWS}`, 20, 'v2']]);
    assert.equal(e.picked, `outbound|9080|v1|${REVIEWS}`);
    const v1 = e.clusters[0];
    assert.equal(v1.destinationRule.name, 'reviews');
    assert.match(v1.destinationRule.origin, /reviews-dr\.yaml#0$/);
    assert.match(v1.tls, /ISTIO_MUTUAL/);
    assert.deepEqual(v1.endpoints.map((ep: Obj) => [ep.address, ep.health, ep.pod, ep.labels.version, ep.mtls]), [['10.1.0.11:9080', 'HEALTHY', 'reviews-v1.default', 'v1', true]]);
    assert.deepEqual([e.authorization.decision, e.authorization.at, e.authorization.policy.name], ['ALLOW', 'reviews-v1.default', 'reviews-viewers']);
    assert.match(e.verdict, /^forwarded to outbound\|9080\|v1\|/);
  });

  test('a header match picks its route; a method no ALLOW rule admits is refused, naming the policy; text output is short', async () => {
    const jason = await explain(['http://reviews:9080/', '--proxy', 'sleep-1.default', '-H', 'end-user: jason']);
    assert.equal(jason.e.route.name, 'jason');
    assert.deepEqual(jason.e.clusters.map((c: Obj) => c.name), [`outbound|9080|v2|${REVIEWS}`]);
    assert.equal(jason.e.authorization.evaluated, false, 'reviews-v2 has no sidecar connected to this meshd');
    assert.match(jason.e.authorization.detail, /reviews-v2\.default has no sidecar connected/);

    const post = await explain(['http://reviews:9080/', '--proxy', 'sleep-1', '-X', 'POST']);
    assert.equal(post.code, 1);
    assert.equal(post.e.forwarded, false);
    assert.equal(post.e.authorization.decision, 'DENY');
    assert.match(post.e.verdict, /refused at reviews-v1\.default: DENY .*ALLOW policy default\/reviews-viewers/);

    const text = await runMeshd(['explain', 'http://reviews:9080/', '--proxy', 'sleep-1', '--meshd-addr', meshdAddr(meshd)]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /from VirtualService default\/reviews \(.*reviews-vs\.yaml#0\)/);
    assert.match(text.stdout, /authz\s+ALLOW at reviews-v1\.default by AuthorizationPolicy default\/reviews-viewers/);
    assert.match(text.stdout, /^verdict: forwarded/m);
    assert.ok(text.stdout.split('\n').length < 25, 'short');
  });

  test('offline on the config directory gives the same verdict; unknown proxies and bad requests exit 2', async () => {
    const live = await explain(['http://reviews:9080/', '--proxy', 'sleep-1']);
    const offline = await runMeshd(['explain', 'http://reviews:9080/', '--proxy', 'sleep-1', '--config-dir', tmp.dir, '-o', 'json']);
    assert.equal(offline.code, 0, offline.stderr);
    const o = JSON.parse(offline.stdout) as Obj;
    assert.equal(o.verdict, live.e.verdict);
    assert.deepEqual(o.clusters.map((c: Obj) => c.name), live.e.clusters.map((c: Obj) => c.name));
    assert.equal(o.authorization.policy.name, 'reviews-viewers');

    const tcp = await runMeshd(['explain', 'tcp://10.1.0.11:9080', '--proxy', 'sleep-1', '--config-dir', tmp.dir, '-o', 'json']);
    assert.ok(tcp.code === 0 || tcp.code === 1, tcp.stderr);
    assert.ok((JSON.parse(tcp.stdout) as Obj).listener, 'a TCP connection is matched to a listener');

    const nobody = await runMeshd(['explain', 'http://reviews:9080/', '--proxy', 'nobody', '--meshd-addr', meshdAddr(meshd)]);
    assert.equal(nobody.code, 2);
    assert.match(nobody.stderr, /nobody\.default.*not connected/);
    const bad = await runMeshd(['explain', 'ftp://reviews/', '--proxy', 'sleep-1', '--meshd-addr', meshdAddr(meshd)]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /scheme ftp is not http, tcp or grpc/);
  });
});
