import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runSimulate, type SimulateFlags } from '../../src/simulate/cli.js';

// `meshd simulate` end to end in-process: mesh config from a directory, generated for one sidecar, one
// request routed; and the same from a resources file.

const DEFAULTS: SimulateFlags = { label: [], port: '9080', path: '/', method: 'GET', scheme: 'http', header: [], random: '0' };

async function run(flags: Partial<SimulateFlags>): Promise<{ code: number; out: any; err: string }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  let out = '';
  let err = '';
  const code = await runSimulate({ ...DEFAULTS, ...flags }, { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) } });
  return { code, out: out ? JSON.parse(out) : undefined, err };
}

describe('meshd simulate', () => {
  const dir = mkdtempSync(join(tmpdir(), 'meshd-simulate-'));
  copyFileSync(new URL('./sidecar-world.yaml', import.meta.url), join(dir, 'world.yaml'));
  const PROXY = 'sidecar~10.1.0.20~productpage-v1.default~default.svc.cluster.local';

  it('routes a request through the sidecar generated from a config directory', async () => {
    const r = await run({ configDir: dir, proxy: PROXY, label: ['app=productpage'], ip: '10.96.0.10', host: 'reviews:9080', header: ['end-user: jason'] });
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out.listener, '0.0.0.0_9080');
    assert.equal(r.out.http.routeName, 'jason');
    assert.deepEqual(r.out.http.clusters, [{ name: 'outbound|9080|v2|reviews.default.svc.cluster.local', weight: 1 }]);
    assert.equal(r.out.http.route, undefined, 'raw resources only with --verbose');
  });

  it('exits 1 and says why when Envoy would not forward', async () => {
    const r = await run({ configDir: dir, proxy: PROXY, ip: '10.96.0.13', host: 'productpage:9080', path: '/gw' });
    assert.equal(r.code, 1);
    assert.equal(r.out.failure, 'no_route');
  });

  it('reads resources from a file instead', async () => {
    const file = join(dir, 'resources.json');
    const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
    writeFileSync(file, JSON.stringify({
      listeners: [{ name: 'l', address: { socket_address: { address: '0.0.0.0', port_value: 15001 } }, filter_chains: [{ filters: [{ name: 'hcm', typed_config: { '@type': HCM, route_config: { name: 'inline', virtual_hosts: [{ name: 'vh', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'c' } }] }] } } }] }] }],
    }));
    const r = await run({ resources: file, port: '80', tcp: false });
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(r.out.clusters, [{ name: 'c', found: false, transportSocketMatches: [] }]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('a router~ node id is a gateway: the request reaches the listener on the pod port and routes by Gateway + VirtualService', async () => {
    const gwDir = mkdtempSync(join(tmpdir(), 'meshd-simulate-gw-'));
    writeFileSync(join(gwDir, 'gateway.yaml'), `
apiVersion: v1
kind: Service
metadata: {name: istio-ingressgateway, namespace: istio-system}
spec: {clusterIP: 10.96.1.1, selector: {istio: ingressgateway}, ports: [{name: http2, port: 80, targetPort: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec: {clusterIP: 10.96.2.1, selector: {app: web}, ports: [{name: http, port: 8000}]}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: public, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ['*/web.example.com']}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: default}
spec:
  hosts: [web.example.com]
  gateways: [istio-system/public]
  http: [{route: [{destination: {host: web, port: {number: 8000}}}]}]
`);
    const proxy = 'router~10.1.1.10~istio-ingressgateway-abcde.istio-system~istio-system.svc.cluster.local';
    try {
      const r = await run({ configDir: gwDir, proxy, label: ['istio=ingressgateway'], port: '8080', host: 'web.example.com' });
      assert.equal(r.code, 0, r.err);
      assert.equal(r.out.listener, '0.0.0.0_8080');
      assert.equal(r.out.http.routeConfiguration, 'http.8080');
      assert.deepEqual(r.out.http.clusters, [{ name: 'outbound|8000||web.default.svc.cluster.local', weight: 1 }]);
      const miss = await run({ configDir: gwDir, proxy, label: ['istio=ingressgateway'], port: '8080', host: 'other.example.com' });
      assert.equal(miss.code, 1);
      assert.equal(miss.out.failure, 'no_virtual_host');
    } finally {
      rmSync(gwDir, { recursive: true, force: true });
    }
  });

  it('needs a source of resources', async () => {
    const r = await run({});
    assert.equal(r.code, 2);
    assert.match(r.err, /--resources FILE, or --config-dir DIR with --proxy/);
  });
});
