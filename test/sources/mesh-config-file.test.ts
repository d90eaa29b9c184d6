import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { Daemon } from '../../src/daemon.js';
import { MeshConfigFileSource } from '../../src/sources/mesh/mesh-config-file.js';
import { TYPE } from '../../src/xds/resource-types.js';
import { RawAdsClient, type Response } from '../support/ads-client.js';
import { hangGuardMs } from '../support/hang-guard.js';

// The mesh config file (--mesh-config, ConfigMap `istio` key `mesh` in a cluster): what it sets reaches the
// mesh model, command-line flags beat it, edits are followed without a restart, and a broken edit is
// refused with the file and field while the last good config stays in force.

function capture() {
  const lines: string[] = [];
  const stream = new Writable({ write(chunk, _e, cb) { lines.push(...String(chunk).trim().split('\n')); cb(); } });
  return { log: pino({ level: 'debug' }, stream), lines };
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'meshd-meshcfg-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('MeshConfigFileSource', () => {
  it('reads trust domain, root namespace, outbound policy and providers; flags beat the file', () => {
    const file = path.join(tmp, 'a.yaml');
    fs.writeFileSync(file, 'trustDomain: example.org\ntrustDomainAliases: [old.example.org]\nrootNamespace: mesh-root\noutboundTrafficPolicy: {mode: REGISTRY_ONLY}\nenablePrometheusMerge: true\n');
    const { log } = capture();
    const m = new MeshConfigFileSource(file, { domainSuffix: 'cluster.local' }, log).current;
    assert.deepEqual(m, { domainSuffix: 'cluster.local', trustDomain: 'example.org', rootNamespace: 'mesh-root', outboundTrafficPolicy: 'REGISTRY_ONLY', trustDomainAliases: ['old.example.org'] });
    const flagged = new MeshConfigFileSource(file, { domainSuffix: 'cluster.local', trustDomain: 'flag.org', rootNamespace: 'istio-system' }, log).current;
    assert.equal(flagged.trustDomain, 'flag.org');
    assert.equal(flagged.rootNamespace, 'istio-system');
  });

  it('refuses an unusable file at start with its path and field', () => {
    const file = path.join(tmp, 'bad.yaml');
    fs.writeFileSync(file, 'outboundTrafficPolicy: {mode: NEVER}\n');
    assert.throws(() => new MeshConfigFileSource(file, { domainSuffix: 'cluster.local' }, capture().log), new RegExp(`${file}: outboundTrafficPolicy.mode: `));
    assert.throws(() => new MeshConfigFileSource(path.join(tmp, 'missing.yaml'), { domainSuffix: 'cluster.local' }, capture().log), /missing\.yaml: no such file/);
  });

  it('follows edits; a broken edit is refused with the field and the last good config kept; trustDomain needs a restart', () => {
    const file = path.join(tmp, 'live.yaml');
    fs.writeFileSync(file, 'trustDomain: a.org\n');
    const { log, lines } = capture();
    const src = new MeshConfigFileSource(file, { domainSuffix: 'cluster.local' }, log);
    const seen: unknown[] = [];
    fs.writeFileSync(file, 'trustDomain: a.org\noutboundTrafficPolicy: {mode: REGISTRY_ONLY}\n');
    src.reload((m) => seen.push(m.outboundTrafficPolicy));
    fs.writeFileSync(file, 'outboundTrafficPolicy: {mode: 7}\n');
    src.reload((m) => seen.push(m.outboundTrafficPolicy));
    assert.deepEqual(seen, ['REGISTRY_ONLY']);
    assert.equal(src.current.outboundTrafficPolicy, 'REGISTRY_ONLY');
    assert.ok(lines.some((l) => l.includes('mesh config refused') && l.includes(`${file}: outboundTrafficPolicy.mode:`)), lines.join('\n'));
    fs.writeFileSync(file, 'trustDomain: b.org\n');
    src.reload(() => undefined);
    assert.equal(src.current.trustDomain, 'a.org');
    assert.ok(lines.some((l) => l.includes('restart meshd to apply it')));
  });
});

const WORLD = `
apiVersion: v1
kind: Service
metadata: { name: reviews, namespace: shop }
spec: { selector: { app: reviews }, ports: [{ name: http, port: 9080 }] }
---
apiVersion: v1
kind: Pod
metadata: { name: reviews-1, namespace: shop, labels: { app: reviews } }
spec: { serviceAccountName: reviews }
status: { podIP: 127.0.0.21, phase: Running }
---
apiVersion: v1
kind: Service
metadata: { name: ext-authz, namespace: security }
spec: { selector: { app: ext-authz }, ports: [{ name: grpc, port: 9000 }] }
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: ext, namespace: shop }
spec:
  action: CUSTOM
  provider: { name: ext-grpc }
  rules: [{ to: [{ operation: { paths: ["/admin*"] } }] }]
`;
const PROVIDER = 'extensionProviders:\n- name: ext-grpc\n  envoyExtAuthzGrpc: {service: ext-authz.security.svc.cluster.local, port: 9000}\n';

describe('daemon with --mesh-config: a CUSTOM policy follows the provider list live', () => {
  const dir = path.join(tmp, 'config');
  const meshFile = path.join(tmp, 'mesh');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'world.yaml'), WORLD);
  fs.writeFileSync(meshFile, 'enablePrometheusMerge: true\n');
  const { log, lines } = capture();
  const daemon = new Daemon({
    configDir: dir, grpcAddr: '127.0.0.1:0', monitoringAddr: '127.0.0.1:0', httpAddr: '127.0.0.1:0',
    debounce: { quietMs: 20, maxMs: 1000 }, log, meshConfigFile: new MeshConfigFileSource(meshFile, { domainSuffix: 'cluster.local' }, log),
  });
  let addrs: Awaited<ReturnType<Daemon['start']>>;
  before(async () => {
    addrs = await daemon.start();
  });
  after(() => daemon.stop(1000));

  const inboundBytes = (r: Response) => Buffer.concat(r.resources.map((x) => Buffer.from(x.value))).toString('latin1');

  it('fails closed with a logged warning while the provider is missing, then sends ext_authz once the mesh config names it', async () => {
    const c = new RawAdsClient(addrs.grpcAddr);
    try {
      c.send({ node: { id: 'sidecar~127.0.0.21~reviews-1.shop~shop.svc.cluster.local', metadata: { NAMESPACE: 'shop', LABELS: { app: 'reviews' } } }, type_url: TYPE.LDS, resource_names: ['virtualInbound'] });
      const first = await c.next();
      assert.ok(inboundBytes(first).includes('deny-due-to-bad-CUSTOM-action'));
      assert.ok(!inboundBytes(first).includes('envoy.filters.http.ext_authz'));
      assert.ok(lines.some((l) => l.includes('configuration not applied as written') && l.includes('no extension provider \\"ext-grpc\\"')), lines.filter((l) => l.includes('warn')).join('\n'));
      const metrics = await (await fetch(`http://${addrs.monitoringAddr}/metrics`)).text();
      assert.match(metrics, /^meshd_config_warnings_total [1-9]/m);
      c.ack(first);

      fs.writeFileSync(meshFile, PROVIDER);
      const second = await c.next((r) => r.type_url === TYPE.LDS && r.nonce !== first.nonce, 10_000);
      assert.ok(inboundBytes(second).includes('envoy.filters.http.ext_authz'));
      assert.ok(inboundBytes(second).includes('outbound|9000||ext-authz.security.svc.cluster.local'));
      c.ack(second);

      // a broken edit changes nothing for the proxy
      fs.writeFileSync(meshFile, 'extensionProviders: [{name: ext-grpc, envoyExtAuthzGrpc: {service: x, port: nine}}]\n');
      const deadline = Date.now() + hangGuardMs(5000);
      while (!lines.some((l) => l.includes('mesh config refused')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      assert.ok(lines.some((l) => l.includes('mesh config refused') && l.includes('extensionProviders[0].envoyExtAuthzGrpc.port')));
      assert.equal(c.responses.filter((r) => r.type_url === TYPE.LDS).length, 2);
    } finally {
      c.close();
    }
  });
});
