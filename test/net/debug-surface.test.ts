import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/telemetry/log.js';
import { isLoopback } from '../../src/net/debug-http.js';
import { TYPE } from '../../src/xds/resource-types.js';
import { RawAdsClient } from '../support/ads-client.js';

// Issue 12 items 4 and 5: who may read the debug pages, what /debug/configz shows of Kubernetes objects,
// and metric label values a client cannot inflate.

const SECRET = 's3cr3t-database-password';
const MESH = `
apiVersion: v1
kind: Service
metadata: { name: hello, namespace: default }
spec: { selector: { app: hello }, ports: [{ name: grpc, port: 5000 }] }
---
apiVersion: v1
kind: Pod
metadata:
  name: hello-v1
  namespace: default
  labels: { app: hello, version: v1 }
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: '{"spec":{"containers":[{"env":[{"name":"DB_PASSWORD","value":"${SECRET}"}]}]}}'
    sidecar.istio.io/inject: "true"
  managedFields: [{ manager: kubectl, operation: Apply }]
spec:
  serviceAccountName: hello
  containers:
  - name: app
    image: hello:1
    env: [{ name: DB_PASSWORD, value: ${SECRET} }]
    args: ["--password=${SECRET}"]
status: { podIP: 127.0.0.11, phase: Running }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: hello, namespace: default }
spec:
  hosts: [hello]
  http: [{ route: [{ destination: { host: hello } }] }]
`;

/** an address of this machine that is not loopback: a caller from it is remote */
const remoteAddress = Object.values(os.networkInterfaces()).flat().find((i) => i && !i.internal && i.family === 'IPv4')?.address;

async function get(host: string, port: string, p: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`http://${host}:${port}${p}`);
  return { status: res.status, text: await res.text() };
}

describe('debug surfaces (item 4)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshd-debug-'));
  fs.writeFileSync(path.join(dir, 'mesh.yaml'), MESH);
  const daemon = new Daemon({
    configDir: dir, grpcAddr: '127.0.0.1:0', monitoringAddr: '0.0.0.0:0', httpAddr: '0.0.0.0:0',
    debounce: { quietMs: 20, maxMs: 1000 }, log: silentLogger,
  });
  let ports: { monitoring: string; http: string };
  before(async () => {
    const addrs = await daemon.start();
    ports = { monitoring: addrs.monitoringAddr.split(':').pop()!, http: addrs.httpAddr.split(':').pop()! };
  });
  after(async () => {
    await daemon.stop(1000);
  });

  it('knows loopback callers, in IPv4, IPv6 and mapped form', () => {
    for (const a of ['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1']) assert.equal(isLoopback(a), true, a);
    for (const a of ['10.0.0.1', '::ffff:10.0.0.1', 'fd00::2', '0.0.0.0', '', undefined]) assert.equal(isLoopback(a), false, String(a));
  });

  it('answers /debug/* to a remote caller with 403 on both ports, while /metrics and /ready stay open', { skip: remoteAddress ? false : 'this machine has no non-loopback IPv4 address' }, async () => {
    for (const port of [ports.monitoring, ports.http]) {
      const ui = port === ports.monitoring ? ['/ui', '/ui/state', '/ui/events'] : []; // the mesh view: monitoring port only
      for (const page of ['/debug/configz', '/debug/syncz', '/debug/adsz', '/debug', '/debug/nothing', ...ui]) {
        const r = await get(remoteAddress!, port, page);
        assert.equal(r.status, 403, `${page} on ${port}`);
        assert.doesNotMatch(r.text, new RegExp(SECRET));
      }
      assert.equal((await get(remoteAddress!, port, '/ready')).status, 200);
      const metrics = await get(remoteAddress!, port, '/metrics');
      assert.equal(metrics.status, 200);
      assert.match(metrics.text, /pilot_services 1/);
    }
  });

  it('serves the debug pages to a local caller', async () => {
    for (const port of [ports.monitoring, ports.http]) {
      assert.equal((await get('127.0.0.1', port, '/debug/syncz')).status, 200);
      // the mesh view (/ui) is the monitoring port's only
      assert.deepEqual(JSON.parse((await get('127.0.0.1', port, '/debug')).text).endpoints, ['/debug/syncz', '/debug/configz', '/debug/adsz', '/debug/config_dump', '/debug/registryz', '/debug/endpointz', '/debug/push_status', '/metrics', '/ready', ...(port === ports.monitoring ? ['/ui'] : [])]);
    }
    assert.equal((await get('127.0.0.1', ports.http, '/ui')).status, 404);
    const ui = await get('127.0.0.1', ports.monitoring, '/ui/state');
    assert.equal(ui.status, 200);
    assert.doesNotMatch(ui.text, new RegExp(`${SECRET}|DB_PASSWORD|last-applied-configuration`));
  });

  it('shows the Istio config and only the fields the model reads of Kubernetes objects: no env, no args, no last-applied-configuration', async () => {
    const r = await get('127.0.0.1', ports.monitoring, '/debug/configz');
    assert.equal(r.status, 200);
    assert.doesNotMatch(r.text, new RegExp(SECRET));
    assert.doesNotMatch(r.text, /last-applied-configuration|managedFields|DB_PASSWORD/);
    const configz = JSON.parse(r.text) as { objects: { kind: string; name: string; object: Record<string, any> }[] }; // eslint-disable-line @typescript-eslint/no-explicit-any
    const pod = configz.objects.find((o) => o.kind === 'Pod')!.object;
    assert.deepEqual(pod, {
      apiVersion: 'v1', kind: 'Pod',
      metadata: { name: 'hello-v1', namespace: 'default', labels: { app: 'hello', version: 'v1' }, annotations: { 'sidecar.istio.io/inject': 'true' } },
      spec: { serviceAccountName: 'hello', containers: [{ name: 'app' }] },
      status: { podIP: '127.0.0.11', phase: 'Running' },
    });
    const vs = configz.objects.find((o) => o.kind === 'VirtualService')!.object;
    assert.deepEqual(vs.spec, { hosts: ['hello'], http: [{ route: [{ destination: { host: 'hello' } }] }] });
  });
});

describe('bounded metric series (item 5)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshd-metrics-'));
  fs.writeFileSync(path.join(dir, 'mesh.yaml'), MESH);
  const daemon = new Daemon({
    configDir: dir, grpcAddr: '127.0.0.1:0', monitoringAddr: '127.0.0.1:0', httpAddr: '127.0.0.1:0',
    debounce: { quietMs: 20, maxMs: 1000 }, log: silentLogger,
  });
  let grpcAddr = '';
  before(async () => {
    grpcAddr = (await daemon.start()).grpcAddr;
  });
  after(async () => {
    await daemon.stop(1000);
  });
  const metricLines = async (name: string) => (await daemon.metrics.registry.metrics()).split('\n').filter((l) => l.startsWith(`${name}{`));
  const until = async (cond: () => Promise<boolean>, what: string) => {
    for (let i = 0; i < 500; i++) {
      if (await cond()) return;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`timed out waiting for ${what}`);
  };

  it('labels a NACK by node and gRPC code with bounded values, and drops its series when the proxy leaves', async () => {
    const longPod = `p${'x'.repeat(20_000)}`;
    const c = new RawAdsClient(grpcAddr);
    c.send({
      node: { id: `sidecar~127.0.0.21~${longPod}.default~default.svc.cluster.local`, metadata: { GENERATOR: 'grpc', NAMESPACE: 'default', ISTIO_VERSION: 'x'.repeat(10_000) } },
      type_url: TYPE.LDS, resource_names: ['hello.default.svc.cluster.local:5000'],
    });
    const r = await c.next();
    c.send({ type_url: TYPE.LDS, response_nonce: r.nonce, resource_names: ['hello.default.svc.cluster.local:5000'], error_detail: { code: 13, message: 'y'.repeat(100_000) } });
    await until(async () => (await metricLines('pilot_xds_lds_reject')).length === 1, 'the reject series');
    const [line] = await metricLines('pilot_xds_lds_reject');
    assert.ok(line!.length < 400, `the series line is ${line!.length} characters`);
    assert.match(line!, /err="Internal"/);
    assert.match(line!, /node="sidecar~127\.0\.0\.21~pxxx[^"]*…[0-9a-f]{16}"/);
    assert.deepEqual(await metricLines('pilot_xds'), ['pilot_xds{version="unknown"} 1'], 'a 10 KB ISTIO_VERSION is not a label value');
    c.close();
    await until(async () => (await metricLines('pilot_xds_lds_reject')).length === 0, 'the reject series removed');
    await until(async () => (await metricLines('pilot_xds')).length === 0, 'the version series removed');
  });

  it('keeps one pilot_xds series per version in use, however many clients come and go', async () => {
    for (let round = 0; round < 30; round++) {
      const c = new RawAdsClient(grpcAddr);
      c.send({ node: { id: `sidecar~127.0.0.22~p${round}.default~default.svc.cluster.local`, metadata: { GENERATOR: 'grpc', NAMESPACE: 'default', ISTIO_VERSION: `1.${round}.0` } }, type_url: TYPE.LDS, resource_names: ['hello.default.svc.cluster.local:5000'] });
      await c.next();
      c.close();
    }
    const stay = new RawAdsClient(grpcAddr);
    stay.send({ node: { id: 'sidecar~127.0.0.23~stay.default~default.svc.cluster.local', metadata: { GENERATOR: 'grpc', NAMESPACE: 'default', ISTIO_VERSION: '1.24.2' } }, type_url: TYPE.LDS, resource_names: ['hello.default.svc.cluster.local:5000'] });
    await stay.next();
    await until(async () => JSON.stringify(await metricLines('pilot_xds')) === JSON.stringify(['pilot_xds{version="1.24.2"} 1']), 'only the connected version left');
    stay.close();
  });
});
