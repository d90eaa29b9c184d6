// Live changes: edits to the config directory move traffic of an already-connected grpc-js-xds client
// without restarting the client or meshd (same meshd pid, same ADS stream throughout).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startBackend, type Backend } from './harness/backend.js';
import { startMeshd, type Meshd } from './harness/meshd.js';
import {
  dest,
  endpointSliceDoc,
  fqdn,
  toYaml,
  versionedService,
  virtualServiceDoc,
  writeMesh,
  xdsTarget,
  type Version,
} from './harness/mesh.js';
import { withinBinomial } from './harness/stats.js';
import { failures, format, total, untilTraffic } from './harness/traffic.js';
import { exitWhenIdle, tempDir } from './harness/util.js';
import { XdsClient } from './harness/xds-client.js';
import { startHelloworldVersions } from './harness/helloworld.js';

const SVC = 'helloworld';
const HOST = fqdn(SVC);
const PORT = 5000;
const vsDoc = (w1: number, w2: number) => virtualServiceDoc(SVC, [HOST], [{ route: [dest(HOST, 'v1', w1), dest(HOST, 'v2', w2)] }]);
const vsYaml = (w1: number, w2: number) => toYaml([vsDoc(w1, w2)]);

describe('live changes reach a connected grpc-js-xds client', { timeout: 180_000 }, () => {
  const tmp = tempDir('live');
  let meshd: Meshd | undefined;
  const backends: Backend[] = [];
  let client: XdsClient;
  let versions: Version[];
  let connectionId = '';

  const connection = async () => (await meshd!.syncz()).find((e) => e.nodeId === client.nodeId)?.connection;

  before(async () => {
    const hello = await startHelloworldVersions('127.0.2');
    backends.push(hello.v1, hello.v2);
    versions = hello.versions;
    writeMesh(tmp.dir, { ...versionedService(SVC, PORT, versions), 'virtual-service.yaml': [vsDoc(90, 10)] });
    meshd = await startMeshd({ configDir: tmp.dir });
    client = new XdsClient(meshd.grpcAddr, xdsTarget(SVC, PORT), { pod: 'live-client', ip: '127.0.2.1' });
    await client.waitReady();
    await meshd.waitForAck((s) => s.some((e) => e.nodeId === client.nodeId && e.types.RDS?.synced), 'client synced');
    connectionId = (await connection())!;
  });

  after(async () => {
    client?.close();
    const code = await meshd?.stop();
    await Promise.all(backends.map((b) => b.stop()));
    tmp.remove();
    exitWhenIdle();
    assert.equal(code, 0, 'meshd exits 0 on SIGTERM');
  });

  test('editing the VirtualService weights moves traffic: 90/10 → 0/100 → 50/50', { timeout: 180_000 }, async () => {
    const first = await client.split(200);
    const v1first = withinBinomial(first['helloworld-v1'] ?? 0, 200, 0.9);
    assert.ok(v1first.ok, `before the edit, 90/10: ${v1first.why}`);

    let since = Date.now();
    // saved as editors do (temp file renamed over the old one)
    meshd!.editFile('virtual-service.yaml', vsYaml(0, 100), 'atomic');
    await meshd!.waitForProxyAck(client.nodeId, 'RDS', since);
    const ackMs = Date.now() - since;
    const moved = await untilTraffic(client, 'all on v2', (c) => c['helloworld-v2'] === total(c));
    console.log(`VS edit 90/10 → 0/100: RDS ACKed ${ackMs} ms after the write; all traffic on v2 ${Date.now() - since} ms after it`);
    assert.deepEqual(await client.split(100), { 'helloworld-v2': 100 });
    assert.ok(moved.ms < 5000);

    since = Date.now();
    // saved in place (same inode), as `cat > file` does
    meshd!.editFile('virtual-service.yaml', vsYaml(50, 50), 'in-place');
    await meshd!.waitForProxyAck(client.nodeId, 'RDS', since);
    await untilTraffic(client, 'v1 back in rotation', (c) => (c['helloworld-v1'] ?? 0) > 0, { batch: 40 });
    const n = 400;
    const half = await client.split(n);
    console.log(`after 50/50 edit over ${n} calls: ${format(half)}`);
    assert.deepEqual(failures(half), {});
    const v1half = withinBinomial(half['helloworld-v1'] ?? 0, n, 0.5);
    assert.ok(v1half.ok, `50/50: ${v1half.why}`);
    assert.equal(await connection(), connectionId, 'same ADS stream: the client never reconnected');
  });

  test('deleting the VirtualService file restores default routing: round robin over all endpoints', { timeout: 180_000 }, async () => {
    const since = Date.now();
    meshd!.removeFile('virtual-service.yaml');
    await meshd!.waitForProxyAck(client.nodeId, 'RDS', since);
    await untilTraffic(client, 'both versions', (c) => (c['helloworld-v1'] ?? 0) > 0 && (c['helloworld-v2'] ?? 0) > 0);
    const n = 300;
    const rr = await client.split(n);
    console.log(`without a VirtualService over ${n} calls: ${format(rr)}`);
    assert.deepEqual(failures(rr), {});
    // round robin is not random: each of 2 endpoints gets half, give or take the in-flight window
    for (const b of ['helloworld-v1', 'helloworld-v2']) {
      assert.ok(Math.abs((rr[b] ?? 0) - n / 2) <= n * 0.1, `${b}: ${rr[b]} ≈ ${n / 2} (${format(rr)})`);
    }
    assert.equal(await connection(), connectionId, 'same ADS stream');
  });

  test('editing an EndpointSlice brings a new backend into rotation', { timeout: 180_000 }, async () => {
    // a second v1 replica on its own pod IP, listening on the same port as the first (one slice, one port)
    const v1b = await startBackend('helloworld-v1-b', '127.0.2.13', versions[0]!.port);
    backends.push(v1b);
    const since = Date.now();
    meshd!.editFile(
      'endpoints.yaml',
      toYaml([
        endpointSliceDoc({
          name: `${SVC}-v1`, service: SVC, port: versions[0]!.port,
          endpoints: [{ ip: versions[0]!.ip, pod: 'helloworld-v1' }, { ip: v1b.ip }],
        }),
        endpointSliceDoc({ name: `${SVC}-v2`, service: SVC, port: versions[1]!.port, endpoints: [{ ip: versions[1]!.ip, pod: 'helloworld-v2' }] }),
      ]),
    );
    await meshd!.waitForProxyAck(client.nodeId, 'EDS', since);
    const joined = await untilTraffic(client, 'the new replica answering', (c) => (c['helloworld-v1-b'] ?? 0) > 0);
    console.log(`EndpointSlice edit: new backend answered ${Date.now() - since} ms after the write (${joined.ms} ms of probing)`);
    const n = 300;
    const rr = await client.split(n);
    console.log(`3 endpoints, round robin over ${n} calls: ${format(rr)}`);
    assert.deepEqual(failures(rr), {});
    for (const b of ['helloworld-v1', 'helloworld-v1-b', 'helloworld-v2']) {
      assert.ok(Math.abs((rr[b] ?? 0) - n / 3) <= n * 0.1, `${b}: ${rr[b]} ≈ ${n / 3} (${format(rr)})`);
    }
    assert.equal(await connection(), connectionId, 'same ADS stream');
  });
});
