import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Agent, CERT_FILES, INBOUND_TEMPLATE, type AgentOptions } from '../../src/agent/agent.js';
import { CA_FILES } from '../../src/ca/authority.js';
import { signJwt } from '../../src/ca/jwt.js';
import { generateKeyPair } from '../../src/ca/x509.js';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/telemetry/log.js';
import { opensslAsync } from '../support/openssl.js';
import { meshdCommand } from '../support/meshd-bin.js';
import { hangGuardMs } from '../support/hang-guard.js';

// meshd agent against an in-process meshd CA: files, modes, atomic layout, bootstrap, renewal.

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'meshd-agent-'));
const jwtKey = generateKeyPair('ec');
fs.writeFileSync(path.join(tmp, 'issuer.pem'), jwtKey.publicKey.export({ type: 'spki', format: 'pem' }));
const tokenFile = path.join(tmp, 'istio-token');
const token = (ns: string, sa: string) =>
  signJwt({ sub: `system:serviceaccount:${ns}:${sa}`, aud: 'istio-ca', exp: Math.floor(Date.now() / 1000) + 3600 }, jwtKey.privateKey);
fs.writeFileSync(tokenFile, token('default', 'greeter'));
fs.mkdirSync(path.join(tmp, 'config'));

let daemon: Daemon;
let secureAddr = '';
before(async () => {
  daemon = new Daemon({
    configDir: path.join(tmp, 'config'), grpcAddr: '127.0.0.1:0', monitoringAddr: '127.0.0.1:0', httpAddr: '127.0.0.1:0',
    debounce: { quietMs: 20, maxMs: 1000 }, log: silentLogger,
    security: { addr: '127.0.0.1:0', caDir: path.join(tmp, 'ca'), jwtPublicKeysFile: path.join(tmp, 'issuer.pem') },
  });
  secureAddr = (await daemon.start()).secureGrpcAddr!;
});
after(async () => {
  await daemon.stop(1000);
  fs.rmSync(tmp, { recursive: true, force: true });
});

function agentFor(dir: string, ttlMs: number, over: Partial<AgentOptions> = {}) {
  return new Agent({
    caAddr: secureAddr, caRootFile: path.join(tmp, 'ca', CA_FILES.root), caServerName: 'istiod.istio-system.svc', tokenFile,
    xdsAddr: '127.0.0.1:15010', namespace: 'default', serviceAccount: 'greeter', podName: 'greeter-1', podIp: '127.0.0.5',
    labels: { app: 'greeter' }, trustDomain: 'cluster.local', certDir: path.join(dir, 'certs'), bootstrapFile: path.join(dir, 'bootstrap.json'),
    certTtlMs: ttlMs, log: silentLogger, ...over,
  });
}

/** A port nothing listens on (yet). */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

describe('meshd agent', () => {
  it('writes key (0600), chain and root atomically and a proxyless gRPC bootstrap', async () => {
    const dir = path.join(tmp, 'a1');
    const agent = agentFor(dir, 3600e3);
    const issued = await agent.start();
    agent.stop();
    const certs = path.join(dir, 'certs');
    for (const f of Object.values(CERT_FILES)) {
      assert.equal(fs.lstatSync(path.join(certs, f)).isSymbolicLink(), true, `${f} is a symlink into ..data`);
      assert.equal(fs.readlinkSync(path.join(certs, f)), path.join('..data', f));
    }
    assert.equal(fs.statSync(path.join(certs, CERT_FILES.key)).mode & 0o777, 0o600);
    const leaf = new crypto.X509Certificate(fs.readFileSync(path.join(certs, CERT_FILES.chain)));
    assert.equal(leaf.subjectAltName, 'URI:spiffe://cluster.local/ns/default/sa/greeter');
    assert.ok(leaf.checkPrivateKey(crypto.createPrivateKey(fs.readFileSync(path.join(certs, CERT_FILES.key)))));
    assert.equal(fs.readFileSync(path.join(certs, CERT_FILES.root), 'utf8'), fs.readFileSync(path.join(tmp, 'ca', CA_FILES.root), 'utf8'));
    assert.equal(issued.notAfter.getTime() - issued.notBefore.getTime(), 3600e3);
    const v = await opensslAsync(['verify', '-CAfile', path.join(certs, CERT_FILES.root), path.join(certs, CERT_FILES.chain)]);
    assert.equal(v.status, 0, v.out);

    const bs = JSON.parse(fs.readFileSync(path.join(dir, 'bootstrap.json'), 'utf8'));
    assert.equal(bs.server_listener_resource_name_template, INBOUND_TEMPLATE);
    assert.equal(bs.node.id, 'sidecar~127.0.0.5~greeter-1.default~default.svc.cluster.local');
    assert.equal(bs.node.metadata.GENERATOR, 'grpc');
    assert.deepEqual(bs.node.metadata.LABELS, { app: 'greeter' });
    assert.equal(bs.certificate_providers.default.plugin_name, 'file_watcher');
    assert.equal(bs.certificate_providers.default.config.private_key_file, path.join(certs, CERT_FILES.key));
    // grpc-js-xds accepts it (its validator throws on anything malformed)
    const { validateBootstrapConfig } = (await import('@grpc/grpc-js-xds/build/src/xds-bootstrap.js')) as { validateBootstrapConfig: (o: unknown) => unknown };
    assert.doesNotThrow(() => validateBootstrapConfig(bs));
  });

  it('renews at about half life with a fresh key, keeping the files valid', async () => {
    const dir = path.join(tmp, 'a2');
    const agent = agentFor(dir, 4000);
    const first = await agent.start();
    const firstKey = fs.readFileSync(path.join(dir, 'certs', CERT_FILES.key), 'utf8');
    const deadline = Date.now() + hangGuardMs(8000);
    while (agent.renewals < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    agent.stop();
    assert.ok(agent.renewals >= 2, `renewals ${agent.renewals}`);
    const now = agent.certificate!;
    assert.notEqual(now.serial, first.serial);
    assert.notEqual(fs.readFileSync(path.join(dir, 'certs', CERT_FILES.key), 'utf8'), firstKey);
    // old versions are pruned: at most the current and the previous one remain
    const versions = fs.readdirSync(path.join(dir, 'certs')).filter((e) => e.startsWith('..') && !e.startsWith('..data'));
    assert.ok(versions.length <= 2, versions.join(','));
  });

  it('keeps retrying while the CA is not up yet, then gets its certificate once it is', async () => {
    const port = await freePort();
    const dir = path.join(tmp, 'a4');
    const lines: string[] = [];
    const log = pino({ level: 'info' }, new Writable({ write: (chunk, _enc, cb) => (lines.push(String(chunk)), cb()) }));
    // short backoff so the test takes a second, not the default 1 s doubling to 30 s
    const agent = agentFor(dir, 3600e3, { caAddr: `127.0.0.1:${port}`, backoff: { initialMs: 100, maxMs: 400 }, initialCertTimeoutMs: 30_000, log });
    const started = agent.start();
    while (lines.filter((l) => l.includes('retrying')).length < 3) await new Promise((r) => setTimeout(r, 50));
    // meshd comes up on that port, with the same CA directory (so the same root)
    const late = new Daemon({
      configDir: path.join(tmp, 'config'), grpcAddr: '127.0.0.1:0', monitoringAddr: '127.0.0.1:0', httpAddr: '127.0.0.1:0',
      debounce: { quietMs: 20, maxMs: 1000 }, log: silentLogger,
      security: { addr: `127.0.0.1:${port}`, caDir: path.join(tmp, 'ca'), jwtPublicKeysFile: path.join(tmp, 'issuer.pem') },
    });
    await late.start();
    try {
      await started;
    } finally {
      agent.stop();
      await late.stop(1000);
    }
    const v = await opensslAsync(['verify', '-CAfile', path.join(dir, 'certs', CERT_FILES.root), path.join(dir, 'certs', CERT_FILES.chain)]);
    assert.equal(v.status, 0, v.out);
    const retries = lines.filter((l) => l.includes('first certificate request failed; retrying')).map((l) => JSON.parse(l) as { attempt: number; err: string; retryInMs: number });
    assert.ok(retries.length >= 3);
    assert.match(retries[0]!.err, /UNAVAILABLE/);
    for (const r of retries) assert.ok(r.retryInMs >= 80 && r.retryInMs <= 480, `retryInMs ${r.retryInMs}`);
    assert.doesNotMatch(lines.join(''), /PRIVATE KEY|BEGIN CERTIFICATE|eyJ/);
  });

  it('runs as a CLI (`meshd agent --once`) and refuses when the token is for another namespace', async () => {
    const dir = path.join(tmp, 'a3');
    const run = (extra: string[]) =>
      new Promise<{ code: number | null; err: string }>((resolve) => {
        const child = spawn(...meshdCommand(['agent', '--once', '--ca-addr', secureAddr,
          '--ca-root', path.join(tmp, 'ca', CA_FILES.root), '--token-file', tokenFile, '--cert-dir', path.join(dir, 'certs'),
          '--bootstrap', path.join(dir, 'bootstrap.json'), '--xds-addr', '127.0.0.1:1', '--pod-name', 'p', '--log-level', 'error', ...extra]));
        let err = '';
        child.stderr.on('data', (d: Buffer) => (err += d.toString()));
        child.on('exit', (code) => resolve({ code, err }));
      });
    const ok = await run(['--namespace', 'default', '--service-account', 'greeter']);
    assert.equal(ok.code, 0, ok.err);
    assert.ok(fs.existsSync(path.join(dir, 'bootstrap.json')));
    const denied = await run(['--namespace', 'kube-system', '--service-account', 'greeter']);
    assert.notEqual(denied.code, 0);
    assert.match(denied.err, /PERMISSION_DENIED/);
  });
});
