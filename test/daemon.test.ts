import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { Daemon } from '../src/daemon.js';
import { silentLogger } from '../src/telemetry/log.js';
import { meshdVersion } from '../src/telemetry/build-info.js';
import { TYPE } from '../src/xds/resource-types.js';
import { RawAdsClient } from './support/ads-client.js';
import { meshdCommand } from './support/meshd-bin.js';
import { hangGuardMs } from './support/hang-guard.js';

// The daemon wired end to end in one process: config dir → store → snapshot → ADS, plus the
// operational surface (readiness, istiod metric names, debug endpoints).

const MESH = `
apiVersion: v1
kind: Service
metadata: { name: hello, namespace: default }
spec: { selector: { app: hello }, ports: [{ name: grpc, port: 5000 }] }
---
apiVersion: v1
kind: Pod
metadata: { name: hello-v1, namespace: default, labels: { app: hello, version: v1 } }
spec: { serviceAccountName: hello }
status: { podIP: 127.0.0.11, phase: Running }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: hello, namespace: default }
spec:
  hosts: [hello]
  http: [{ route: [{ destination: { host: hello } }] }]
`;

async function get(addr: string, p: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`http://${addr}${p}`);
  return { status: res.status, text: await res.text() };
}

describe('daemon', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshd-daemon-'));
  fs.writeFileSync(path.join(dir, 'mesh.yaml'), MESH);
  const daemon = new Daemon({
    configDir: dir, grpcAddr: '127.0.0.1:0', monitoringAddr: '127.0.0.1:0', httpAddr: '127.0.0.1:0',
    debounce: { quietMs: 20, maxMs: 1000 }, log: silentLogger,
  });
  let addrs: Awaited<ReturnType<Daemon['start']>>;
  before(async () => {
    addrs = await daemon.start();
  });
  after(async () => {
    await daemon.stop(1000);
  });

  it('is ready once the first snapshot is built', async () => {
    assert.equal((await get(addrs.httpAddr, '/ready')).status, 200);
    assert.equal((await get(addrs.monitoringAddr, '/ready')).status, 200);
  });

  it('serves a proxyless client the listener for a service', async () => {
    const c = new RawAdsClient(addrs.grpcAddr);
    try {
      const name = 'hello.default.svc.cluster.local:5000';
      c.send({ node: { id: 'sidecar~127.0.0.2~client.default~default.svc.cluster.local', metadata: { GENERATOR: 'grpc' } }, type_url: TYPE.LDS, resource_names: [name] });
      const r = await c.next();
      assert.deepEqual(c.decode(r).map((l) => l.name), [name]);
      c.ack(r);
      // the ACK is handled asynchronously: poll until syncz shows it (a hang guard, not a deadline)
      type Syncz = { types: { LDS: { acked: { nonce: string } } } }[];
      let syncz: Syncz = [];
      for (const deadline = Date.now() + hangGuardMs(0); Date.now() < deadline; await new Promise((res) => setTimeout(res, 20))) {
        syncz = JSON.parse((await get(addrs.monitoringAddr, '/debug/syncz')).text) as Syncz;
        if (syncz[0]?.types.LDS.acked.nonce === r.nonce) break;
      }
      assert.equal(syncz[0]?.types.LDS.acked.nonce, r.nonce);
      const adsz = JSON.parse((await get(addrs.monitoringAddr, '/debug/adsz')).text) as { connections: { subscriptions: { LDS: string[] } }[] };
      assert.deepEqual(adsz.connections[0]?.subscriptions.LDS, [name]);
      const metrics = (await get(addrs.monitoringAddr, '/metrics')).text;
      assert.match(metrics, /^pilot_xds\{version="unknown"\} 1$/m);
      assert.match(metrics, /^pilot_xds_pushes\{type="lds"\} [1-9]/m);
      // what the control-plane dashboard's Push Time / Push Size heatmaps read, recorded where the response is built
      assert.match(metrics, /^pilot_xds_push_time_count\{type="lds"\} [1-9]/m);
      assert.match(metrics, /^pilot_xds_config_size_bytes_count\{type="type\.googleapis\.com\/envoy\.config\.listener\.v3\.Listener"\} [1-9]/m);
    } finally {
      c.close();
    }
  });

  it('exposes istiod metric names for what exists', async () => {
    const metrics = (await get(addrs.monitoringAddr, '/metrics')).text;
    assert.match(metrics, /^pilot_services 1$/m);
    assert.match(metrics, /^pilot_virt_services 1$/m);
    assert.match(metrics, /^pilot_inbound_updates\{type="config"\} 1$/m);
    assert.match(metrics, new RegExp(`^istio_build\\{component="pilot",tag="${meshdVersion().replaceAll('.', '\\.')}"\\} 1$`, 'm'));
    for (const name of ['pilot_proxy_convergence_time', 'pilot_total_xds_rejects', 'pilot_xds_cds_reject', 'pilot_xds_eds_reject', 'pilot_xds_lds_reject', 'pilot_xds_rds_reject']) {
      assert.match(metrics, new RegExp(`^# TYPE ${name} `, 'm'), name);
    }
  });

  it('shows accepted objects with their origin, and refusals, in /debug/configz', async () => {
    fs.writeFileSync(path.join(dir, 'bad.yaml'), 'apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: broken}\nspec: {}\n');
    const deadline = Date.now() + hangGuardMs(5000);
    let configz: { objects: { kind: string; name: string; origin: string }[]; rejected: { name: string; messages: string[] }[] };
    do {
      await new Promise((res) => setTimeout(res, 30));
      configz = JSON.parse((await get(addrs.monitoringAddr, '/debug/configz')).text);
    } while (configz.rejected.length === 0 && Date.now() < deadline);
    const vs = configz.objects.find((o) => o.kind === 'VirtualService');
    assert.match(vs!.origin, /mesh\.yaml#2$/);
    assert.equal(configz.rejected[0]?.name, 'broken');
    assert.match(configz.rejected[0]!.messages[0]!, /bad\.yaml#0 DestinationRule default\/broken: spec\.host: /);
  });
});

describe('meshd CLI', () => {
  const cli = (...args: string[]) =>
    spawnSync(...meshdCommand(args), { encoding: 'utf8' });

  it('refuses to serve without a config source and says why', () => {
    const r = cli('serve', '--grpc-addr', '127.0.0.1:0');
    assert.equal(r.status, 2);
    assert.match(r.stderr, /no configuration source: pass --config-dir/);
  });

  it('refuses a bad flag value with the flag name', () => {
    const r = cli('serve', '--config-dir', '.', '--debounce-after', 'soon');
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--debounce-after: "soon" is not a duration/);
  });
});
