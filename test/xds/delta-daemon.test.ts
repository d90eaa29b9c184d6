import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/telemetry/log.js';
import { TYPE } from '../../src/xds/resource-types.js';
import type { SyncStatus } from '../../src/xds/debug.js';
import { RawDeltaClient, type DeltaResponse } from '../support/ads-client.js';

// Delta xDS through the whole daemon, as istio-proxy would use it: an Envoy-shaped node (no GENERATOR,
// so the sidecar generator) opens DeltaAggregatedResources on the plaintext xDS port, subscribes to
// CDS and LDS by wildcard and to EDS by name; a config-dir edit reaches it as one changed resource; the
// operational surface (/debug/adsz, /debug/syncz, /metrics) shows the Delta stream.

const MESH = `
apiVersion: v1
kind: Service
metadata: { name: hello, namespace: default }
spec: { selector: { app: hello }, ports: [{ name: http, port: 8080 }] }
---
apiVersion: v1
kind: Pod
metadata: { name: hello-v1, namespace: default, labels: { app: hello, version: v1 } }
spec: { serviceAccountName: hello }
status: { podIP: 10.1.0.11, phase: Running }
`;
const SECOND_POD = `
---
apiVersion: v1
kind: Pod
metadata: { name: hello-v2, namespace: default, labels: { app: hello, version: v2 } }
spec: { serviceAccountName: hello }
status: { podIP: 10.1.0.12, phase: Running }
`;

const HELLO = 'outbound|8080||hello.default.svc.cluster.local';
const NODE = { id: 'sidecar~10.1.0.20~client-1.default~default.svc.cluster.local', metadata: { NAMESPACE: 'default', ISTIO_VERSION: '1.24.0' } };

async function getJson<T>(addr: string, p: string): Promise<T> {
  return (await (await fetch(`http://${addr}${p}`)).json()) as T;
}

describe('daemon serving a Delta client', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshd-delta-'));
  fs.writeFileSync(path.join(dir, 'mesh.yaml'), MESH);
  const daemon = new Daemon({
    configDir: dir, grpcAddr: '127.0.0.1:0', monitoringAddr: '127.0.0.1:0', httpAddr: '127.0.0.1:0',
    debounce: { quietMs: 20, maxMs: 1000 }, log: silentLogger,
  });
  let addrs: Awaited<ReturnType<Daemon['start']>>;
  let c: RawDeltaClient;
  before(async () => {
    addrs = await daemon.start();
    c = new RawDeltaClient(addrs.grpcAddr);
  });
  after(async () => {
    c?.close();
    await daemon.stop(1000);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const ofType = (type: string) => (r: DeltaResponse) => r.type_url === type;

  it('answers wildcard CDS/LDS and named EDS from the sidecar generator', async () => {
    c.send({ node: NODE, type_url: TYPE.CDS });
    const cds = await c.next(ofType(TYPE.CDS));
    assert.ok(c.names(cds).includes(HELLO), `CDS has ${HELLO}: ${c.names(cds).join(', ')}`);
    c.ack(cds);
    c.send({ type_url: TYPE.EDS, resource_names_subscribe: [HELLO] });
    const eds = await c.next(ofType(TYPE.EDS));
    assert.deepEqual(c.names(eds), [HELLO]);
    c.ack(eds);
    c.send({ type_url: TYPE.LDS });
    const lds = await c.next(ofType(TYPE.LDS));
    assert.ok(lds.resources.length > 0);
    c.ack(lds);
  });

  it('turns a config-dir edit into one changed EDS resource and nothing else', async () => {
    const before = c.responses.length;
    const next = c.next(ofType(TYPE.EDS), 10_000);
    fs.writeFileSync(path.join(dir, 'mesh.yaml'), MESH + SECOND_POD);
    const r = await next;
    assert.deepEqual(c.names(r), [HELLO]);
    const cla = c.decode(r)[0] as { endpoints: { lb_endpoints: unknown[] }[] };
    assert.equal(cla.endpoints.flatMap((e) => e.lb_endpoints).length, 2);
    c.ack(r);
    // the snapshot changes nothing else this sidecar holds: no CDS or LDS response came with it
    await c.quiet(TYPE.CDS, 200);
    assert.deepEqual(c.responses.slice(before).map((x) => x.type_url), [TYPE.EDS]);
  });

  it('shows the Delta stream in /debug/adsz, /debug/syncz and the xDS metrics', async () => {
    const adsz = await getJson<{ connections: { proxy: string; mode: string; generator: string; subscriptions: Record<string, unknown> }[] }>(addrs.monitoringAddr, '/debug/adsz');
    const conn = adsz.connections.find((x) => x.proxy === NODE.id)!;
    assert.equal(conn.mode, 'delta');
    assert.equal(conn.generator, 'sidecar');
    assert.deepEqual(conn.subscriptions, { CDS: '*', EDS: [HELLO], LDS: '*' });
    const syncz = await getJson<SyncStatus[]>(addrs.monitoringAddr, '/debug/syncz');
    const entry = syncz.find((x) => x.nodeId === NODE.id)!;
    assert.equal(entry.mode, 'delta');
    assert.deepEqual(Object.values(entry.types).map((t) => t.synced), [true, true, true]);
    // istiod's SyncStatus fields, as Kiali and istioctl read them: POD.NS, and the nonces sent and ACKed
    assert.equal(entry.proxy, NODE.id.split('~')[2]);
    assert.equal(entry.proxy_type, 'sidecar');
    assert.equal(entry.cluster_sent, entry.types.CDS!.sent.nonce);
    assert.equal(entry.cluster_acked, entry.cluster_sent);
    assert.equal(entry.endpoint_acked, entry.types.EDS!.sent.nonce);
    assert.equal(entry.listener_acked, entry.types.LDS!.sent.nonce);
    assert.equal(entry.route_sent, undefined, 'a type never asked for is left out (omitempty)');
    assert.equal(entry.resources?.['type.googleapis.com/envoy.config.cluster.v3.Cluster']?.acked, entry.cluster_acked);
    assert.deepEqual(await getJson<SyncStatus[]>(addrs.monitoringAddr, '/debug/syncz?namespace=elsewhere'), [], '?namespace= filters as istiod');
    const metrics = await (await fetch(`http://${addrs.monitoringAddr}/metrics`)).text();
    assert.match(metrics, /^pilot_xds\{version="1\.24\.0"\} 1$/m);
    assert.match(metrics, /^pilot_xds_pushes\{type="eds"\} [2-9]/m);
  });
});
