// A real xDS *server*: grpc-js-xds XdsServer in its own process gets its inbound listener
// (xds.istio.io/grpc/lds/inbound/IP:PORT) from meshd, starts serving, and answers a grpc-js-xds client
// that found it through meshd (LDS → RDS → CDS → EDS from the Service and Pod in the config dir).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startMeshd, type Meshd } from './harness/meshd.js';
import { namespaceDoc, podDoc, serviceDoc, writeMesh, xdsTarget } from './harness/mesh.js';
import { exitWhenIdle, freePort, tempDir } from './harness/util.js';
import { XdsClient } from './harness/xds-client.js';
import { startXdsServer, type XdsServerProcess } from './harness/xds-server.js';

const SVC = 'xds-greeter';
const SERVICE_PORT = 7070;
const POD_IP = '127.0.4.11';

describe('grpc-js-xds XdsServer served by meshd', { timeout: 180_000 }, () => {
  const tmp = tempDir('xds-server');
  let meshd: Meshd | undefined;
  let server: XdsServerProcess | undefined;
  let client: XdsClient | undefined;
  let port: number;

  before(async () => {
    // XdsServer must know its port before binding (the listener name carries it): ask the OS for one.
    port = await freePort(POD_IP);
    writeMesh(tmp.dir, {
      'mesh.yaml': [
        namespaceDoc('default'),
        serviceDoc({ name: SVC, port: SERVICE_PORT, targetPort: port, selector: { app: SVC } }),
        podDoc({ name: `${SVC}-0`, ip: POD_IP, labels: { app: SVC, version: 'v1' }, serviceAccount: SVC }),
      ],
    });
    meshd = await startMeshd({ configDir: tmp.dir });
  });

  after(async () => {
    // meshd first, while both peers are connected: SIGTERM ends their streams and exits at once. (Stopped
    // after them, its graceful shutdown waits its full 5 s grace for a connection grpc-js-xds leaves open.)
    const code = await meshd?.stop();
    client?.close();
    await server?.stop();
    tmp.remove();
    exitWhenIdle();
    assert.equal(code, 0, 'meshd exits 0 on SIGTERM');
  });

  test('XdsServer receives its inbound listener from meshd and serves a call from an xDS client', { timeout: 180_000 }, async () => {
    const t0 = Date.now();
    server = startXdsServer(`${SVC}-0`, POD_IP, port, meshd!.grpcAddr, { pod: `${SVC}-0` });
    const serving = await server.waitServing();
    console.log(`XdsServer serving ${Date.now() - t0} ms after spawn (process start + xds.register + LDS): ${JSON.stringify(serving)}`);

    const listener = `xds.istio.io/grpc/lds/inbound/${POD_IP}:${port}`;
    const adsz = await meshd!.getJson<{ connections: { proxy: string; subscriptions: Record<string, string[]> }[] }>('/debug/adsz');
    const conn = adsz.connections.find((c) => c.proxy === server!.nodeId);
    assert.ok(conn, `the server is connected as ${server.nodeId}: ${JSON.stringify(adsz.connections.map((c) => c.proxy))}`);
    assert.deepEqual(conn.subscriptions.LDS, [listener]);
    await meshd!.waitForAck((s) => s.some((e) => e.nodeId === server!.nodeId && e.types.LDS?.synced && !e.types.LDS.lastNack), 'server ACKs LDS');

    client = new XdsClient(meshd!.grpcAddr, xdsTarget(SVC, SERVICE_PORT), { pod: 'xds-server-client', ip: '127.0.4.1' });
    const r = await client.waitReady();
    assert.equal(r.backend, `${SVC}-0`);
    const counts = await client.split(20);
    assert.deepEqual(counts, { [`${SVC}-0`]: 20 });
  });
});
