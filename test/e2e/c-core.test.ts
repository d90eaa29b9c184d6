// Second, independent xDS implementation: gRPC C-core (Debian python3-grpcio 1.51) against the same
// meshd as a grpc-js-xds client. Fails (does not skip) when python3-grpcio is missing.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Backend } from './harness/backend.js';
import { startMeshd, type Meshd } from './harness/meshd.js';
import { dest, fqdn, versionedService, virtualServiceDoc, writeMesh, xdsTarget } from './harness/mesh.js';
import { PyXdsClient } from './harness/py-client.js';
import { withinBinomial } from './harness/stats.js';
import { failures, format, total } from './harness/traffic.js';
import { exitWhenIdle, requirePythonGrpc, tempDir } from './harness/util.js';
import { XdsClient } from './harness/xds-client.js';
import { startHelloworldVersions } from './harness/helloworld.js';

const SVC = 'helloworld';
const HOST = fqdn(SVC);
const PORT = 5000;

describe('gRPC C-core (python3-grpcio) through meshd', { timeout: 180_000 }, () => {
  const tmp = tempDir('c-core');
  let meshd: Meshd | undefined;
  let v1: Backend | undefined;
  let v2: Backend | undefined;
  let py: PyXdsClient | undefined;
  let js: XdsClient | undefined;

  before(async () => {
    requirePythonGrpc();
    const hello = await startHelloworldVersions('127.0.5');
    ({ v1, v2 } = hello);
    writeMesh(tmp.dir, {
      ...versionedService(SVC, PORT, hello.versions),
      'virtual-service.yaml': [
        virtualServiceDoc(SVC, [HOST], [
          { name: 'canary-header', match: [{ headers: { 'x-canary': { exact: 'always' } } }], route: [dest(HOST, 'v2')] },
          { name: 'canary', route: [dest(HOST, 'v1', 90), dest(HOST, 'v2', 10)] },
        ]),
      ],
    });
    meshd = await startMeshd({ configDir: tmp.dir });
    py = await PyXdsClient.start(meshd.grpcAddr, xdsTarget(SVC, PORT), { pod: 'c-core-client', ip: '127.0.5.1' }, tmp.dir);
    await py.waitReady();
  });

  after(async () => {
    js?.close();
    await py?.close();
    const code = await meshd?.stop();
    await Promise.all([v1?.stop(), v2?.stop()]);
    tmp.remove();
    exitWhenIdle();
    assert.equal(code, 0, 'meshd exits 0 on SIGTERM');
  });

  test('python3-grpcio is importable by /usr/bin/python3', () => {
    requirePythonGrpc();
  });

  test('C-core ACKs every resource meshd sends it', { timeout: 180_000 }, async () => {
    const s = await meshd!.waitForAck(
      (all) => all.some((e) => e.nodeId === py!.nodeId && ['LDS', 'RDS', 'CDS', 'EDS'].every((t) => e.types[t]?.synced)),
      'the C-core client to ACK LDS, RDS, CDS and EDS',
    );
    const entry = s.find((e) => e.nodeId === py!.nodeId)!;
    for (const [t, st] of Object.entries(entry.types)) assert.equal(st.lastNack, undefined, `${t} was never NACKed by C-core`);
    console.log(`C-core ${py!.grpcVersion} synced: ${Object.keys(entry.types).join(', ')}`);
  });

  test('90/10 split over 500 calls is within binomial tolerance (C-core)', { timeout: 180_000 }, async () => {
    const n = 500;
    const counts = await py!.split(n);
    console.log(`C-core ${py!.grpcVersion} 90/10 split over ${n} calls: ${format(counts)}`);
    assert.deepEqual(failures(counts), {});
    assert.equal(total(counts), n);
    const share = withinBinomial(counts['helloworld-v1'] ?? 0, n, 0.9);
    assert.ok(share.ok, `v1 share: ${share.why}`);
  });

  test('header match routes to subset v2 (C-core)', { timeout: 180_000 }, async () => {
    assert.deepEqual(await py!.split(100, { md: { 'x-canary': 'always' } }), { 'helloworld-v2': 100 });
  });

  test('both peers at once: grpc-js-xds and C-core on the same meshd agree', { timeout: 180_000 }, async () => {
    js = new XdsClient(meshd!.grpcAddr, xdsTarget(SVC, PORT), { pod: 'grpc-js-client', ip: '127.0.5.2' });
    await js.waitReady();
    const [a, b] = await Promise.all([js.split(200, { md: { 'x-canary': 'always' } }), py!.split(200, { md: { 'x-canary': 'always' } })]);
    assert.deepEqual(a, { 'helloworld-v2': 200 });
    assert.deepEqual(b, { 'helloworld-v2': 200 });
    const s = await meshd!.syncz();
    const versions = [js.nodeId, py!.nodeId].map((id) => s.find((e) => e.nodeId === id)?.types.RDS?.acked.version);
    assert.ok(versions[0] && versions[0] === versions[1], `both ACKed the same RDS version: ${versions.join(' vs ')}`);
  });
});
