// Bad input, two kinds: (1) a VirtualService meshd's validation refuses — logged as
// `FILE#doc Kind ns/name: field: reason`, last good config stays, traffic unaffected; (2) valid Istio
// config that a real proxy rejects — the grpc-js-xds client NACKs it, and meshd reports the NACK in
// /debug/syncz and /metrics while the client keeps its last good config.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Backend } from './harness/backend.js';
import { startMeshd, type Meshd } from './harness/meshd.js';
import { dest, fqdn, toYaml, versionedService, virtualServiceDoc, writeMesh, xdsTarget, type Doc } from './harness/mesh.js';
import { exitWhenIdle, tempDir, waitUntil } from './harness/util.js';
import { XdsClient } from './harness/xds-client.js';
import { hangGuardMs } from '../support/hang-guard.js';

const CALL_WAIT_MS = hangGuardMs(60_000);
import { startHelloworldVersions } from './harness/helloworld.js';

const SVC = 'helloworld';
const HOST = fqdn(SVC);
const PORT = 5000;
const vsDoc = (route: Doc[]) => virtualServiceDoc(SVC, [HOST], [{ route }]);
const vs = (route: Doc[]) => toYaml([vsDoc(route)]);

describe('bad input: refused config and NACKed config', { timeout: 180_000 }, () => {
  const tmp = tempDir('bad');
  let meshd: Meshd | undefined;
  let v1: Backend;
  let v2: Backend;
  let client: XdsClient;

  before(async () => {
    const hello = await startHelloworldVersions('127.0.3');
    ({ v1, v2 } = hello);
    writeMesh(tmp.dir, {
      ...versionedService(SVC, PORT, hello.versions),
      'virtual-service.yaml': [vsDoc([dest(HOST, 'v1')])],
    });
    meshd = await startMeshd({ configDir: tmp.dir });
    client = new XdsClient(meshd.grpcAddr, xdsTarget(SVC, PORT), { pod: 'bad-input-client', ip: '127.0.3.1' });
    await client.waitReady();
    await meshd.waitForAck(
      (s) => s.some((e) => e.nodeId === client.nodeId && e.types.RDS?.synced && e.types.CDS?.synced),
      'client synced',
    );
    assert.deepEqual(await client.split(50), { 'helloworld-v1': 50 });
  });

  after(async () => {
    client?.close();
    const code = await meshd?.stop();
    await Promise.all([v1?.stop(), v2?.stop()]);
    tmp.remove();
    exitWhenIdle();
    assert.equal(code, 0, 'meshd exits 0 on SIGTERM');
  });

  test('an invalid VirtualService is refused with FILE#doc Kind ns/name: field: reason; the last good one stays', { timeout: 180_000 }, async () => {
    const pushesBefore = (await meshd!.syncz()).find((e) => e.nodeId === client.nodeId)!.types.RDS!.sent.nonce;
    meshd!.editFile('virtual-service.yaml', vs([dest(HOST, 'v1', -5), dest(HOST, 'v2', 100)]), 'in-place');
    const line = await meshd!.waitForLog(
      (l) => typeof l.msg === 'string' && l.msg.includes('virtual-service.yaml#0 VirtualService default/helloworld:'),
      'the rejection line for virtual-service.yaml',
    );
    console.log(`meshd stderr: ${line.msg}`);
    assert.match(
      String(line.msg),
      /(^|\/)virtual-service\.yaml#0 VirtualService default\/helloworld: spec\.http\[0\]\.route\[0\]\.weight: .*-5/,
    );
    // still serving, still ready, and still routing with the last good config
    assert.equal((await meshd!.getText('/ready', 'http')).status, 200);
    const configz = await meshd!.getJson<{ objects: { kind: string; name: string; object: { spec: unknown } }[]; rejected: unknown[] }>('/debug/configz');
    const kept = configz.objects.find((o) => o.kind === 'VirtualService' && o.name === SVC)!;
    assert.deepEqual((kept.object.spec as { http: { route: Doc[] }[] }).http[0]!.route, [dest(HOST, 'v1')]);
    assert.ok(JSON.stringify(configz.rejected).includes('weight'), `configz lists the refusal: ${JSON.stringify(configz.rejected)}`);
    assert.deepEqual(await client.split(100), { 'helloworld-v1': 100 }, 'traffic is unaffected');
    const after = (await meshd!.syncz()).find((e) => e.nodeId === client.nodeId)!.types.RDS!;
    assert.equal(after.sent.nonce, pushesBefore, 'no new route was pushed for the refused edit');
    assert.match(await meshd!.metrics(), /meshd_config_rejections_total\{[^}]*kind="VirtualService"[^}]*\} [1-9]/);
  });

  test('valid Istio config the client rejects: NACK shows in /debug/syncz and pilot_total_xds_rejects', { timeout: 180_000 }, async () => {
    // Istio's webhook accepts any non-negative int32 weights (it does not bound their sum), meshd passes
    // weights through as istiod does, and gRFC A28 clients reject a weighted_clusters total above
    // UINT32_MAX: 3 × 2 000 000 000 is such a config.
    const since = Date.now();
    const w = 2_000_000_000;
    meshd!.editFile('virtual-service.yaml', vs([dest(HOST, 'v1', w), dest(HOST, 'v2', w), dest(HOST, undefined, w)]), 'in-place');
    const s = await meshd!.waitForAck(
      (all) => all.some((e) => e.nodeId === client.nodeId && !!e.types.RDS?.lastNack && Date.parse(e.types.RDS.lastNack.at) >= since),
      'the client to NACK the route configuration',
    );
    const rds = s.find((e) => e.nodeId === client.nodeId)!.types.RDS!;
    console.log(`NACK recorded in /debug/syncz: ${JSON.stringify(rds.lastNack)}`);
    assert.equal(rds.lastNack!.nonce, rds.sent.nonce, 'the NACK answers the latest response');
    assert.equal(rds.synced, false);
    assert.match(rds.lastNack!.message, /weight/i);
    assert.ok(!meshd!.logs.some((l) => /virtual-service\.yaml#\d+ VirtualService/.test(String(l.msg)) && /2000000000/.test(String(l.msg))),
      'meshd accepted the config (it is valid Istio)');
    const metrics = await meshd!.metrics();
    const rejects = /^pilot_total_xds_rejects\{[^}]*type="rds"[^}]*\} (\d+)/m.exec(metrics);
    assert.ok(rejects && Number(rejects[1]) >= 1, `pilot_total_xds_rejects{type="rds"} ≥ 1 in /metrics:\n${metrics.split('\n').filter((l) => l.includes('reject')).join('\n')}`);
    const gauge = metrics.split('\n').find((l) => l.startsWith('pilot_xds_rds_reject{'));
    if (gauge) console.log(`metrics: ${gauge}`);
    // the client keeps its last good config
    assert.deepEqual(await client.split(100), { 'helloworld-v1': 100 }, 'traffic still follows the last ACKed route');

    // a valid edit is ACKed again
    const again = Date.now();
    meshd!.editFile('virtual-service.yaml', vs([dest(HOST, 'v2')]), 'in-place');
    await meshd!.waitForProxyAck(client.nodeId, 'RDS', again);
    // An in-place write can be read half-done (an empty file first): meshd may then push and the client ACK
    // an intermediate route before the edit's own. So wait for traffic to follow the edit, then check sync.
    let last: Record<string, number> = {};
    await waitUntil('traffic to follow the valid edit', async () => {
      last = await client.split(20);
      return last['helloworld-v2'] === 20 ? last : undefined;
    }, { timeoutMs: CALL_WAIT_MS, intervalMs: 200, detail: () => `last split: ${JSON.stringify(last)}` });
    await meshd!.waitForAck((all) => all.some((e) => e.nodeId === client.nodeId && e.types.RDS?.synced === true), 'the client to be in sync again');
    assert.deepEqual(await client.split(50), { 'helloworld-v2': 50 });
  });
});
