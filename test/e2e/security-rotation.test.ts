import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { CA_FILES } from '../../src/ca/authority.js';
import type { RotationStatus } from '../../src/ca/rotation.js';
import { startMeshd, type Meshd } from './harness/meshd.js';
import { greeterDocs, ONLY_CLIENT_POLICY_DOC, strictPeerAuthenticationDoc, writeMesh, xdsTarget } from './harness/mesh.js';
import { HANG_ONLY_MS, SecureClient, startAgent, startSecureXdsServer, TokenIssuer, type AgentProcess, type SecureServerProcess } from './harness/secure.js';
import { PyXdsClient } from './harness/py-client.js';
import { exitWhenIdle, freePort, REPO_ROOT, requirePythonGrpc, sleep, tempDir, trackChild, waitUntil } from './harness/util.js';
import { pluggedCacerts } from '../support/cacerts.js';
import { meshdCommand } from '../support/meshd-bin.js';

// Root-of-trust rotation without downtime, with real peers: a grpc-js-xds server and client with mTLS
// (STRICT, an AuthorizationPolicy allowing only the client) keep exchanging requests — on a long-lived
// channel and on fresh channels (new handshakes) — while `meshd ca rotate --new-dir DIR --wait` (the real
// CLI) takes meshd from its self-signed root to a plugged CA through all phases: (a) old+new roots published
// until both proxies' agents fetched them, (b) signing with the new intermediate until every certificate of
// the old CA was renewed, (c) the old root dropped. A gRPC C-core client (python3-grpcio with
// xds_channel_credentials, reading the client agent's files through its file watcher) calls alongside
// through every phase. Zero failed calls; both workloads end with certificates of the new CA and a trust
// bundle of the new root only.

const TTL_S = 20;

describe('root rotation under mTLS traffic (meshd ca rotate)', { timeout: 3 * HANG_ONLY_MS }, () => {
  const tmp = tempDir('rotation');
  const caDir = path.join(tmp.dir, 'ca');
  const newDir = path.join(tmp.dir, 'new-ca');
  const issuer = new TokenIssuer(tmp.dir);
  let meshd: Meshd | undefined;
  let server: SecureServerProcess | undefined;
  const agents: AgentProcess[] = [];
  const clients: SecureClient[] = [];
  let ccore: PyXdsClient | undefined;
  let port = 0;
  let admin = '';

  before(async () => {
    requirePythonGrpc();
    port = await freePort('127.0.0.1');
    const configDir = path.join(tmp.dir, 'config');
    writeMesh(configDir, { 'mesh.yaml': [...greeterDocs(5000, port), strictPeerAuthenticationDoc('default'), ONLY_CLIENT_POLICY_DOC] });
    meshd = await startMeshd({
      configDir, caDir,
      extraArgs: ['--jwt-public-keys', issuer.publicKeyFile, '--ca-admin-addr', '127.0.0.1:0', '--ca-rotation-check-interval', '500ms'],
    });
    admin = String(meshd.logs.find((l) => l.msg === 'meshd is serving')?.caAdminAddr ?? '');
    assert.ok(admin, 'meshd reports its CA admin address');
    const common = { caAddr: meshd.secureGrpcAddr, caRoot: path.join(caDir, CA_FILES.root), xdsAddr: meshd.grpcAddr, dir: tmp.dir };
    agents.push(await startAgent({ name: 'greeter-1', serviceAccount: 'greeter', labels: { app: 'greeter' }, certTtl: `${TTL_S}s` }, { ...common, tokenFile: issuer.tokenFile(tmp.dir, 'default', 'greeter') }));
    agents.push(await startAgent({ name: 'client-1', serviceAccount: 'client', labels: { app: 'client' }, certTtl: `${TTL_S}s` }, { ...common, tokenFile: issuer.tokenFile(tmp.dir, 'default', 'client') }));
    server = startSecureXdsServer('greeter-v1', `127.0.0.1:${port}`, agents[0]!.bootstrapFile);
    await server.waitServing();
    ccore = await PyXdsClient.start(meshd.grpcAddr, xdsTarget('greeter', 5000), { pod: 'client-1' }, tmp.dir, { bootstrapFile: agents[1]!.bootstrapFile, xdsCreds: true });
    pluggedCacerts(newDir, 'rotated', 'ec');
  });

  after(async () => {
    for (const c of clients) c.close();
    await ccore?.close();
    await server?.stop();
    for (const a of agents) await a.stop();
    await meshd?.stop();
    tmp.remove();
    exitWhenIdle();
  });

  const status = async (): Promise<RotationStatus> => (await fetch(`http://${admin}/ca/rotation`)).json() as Promise<RotationStatus>;

  it('every call succeeds while the root is rotated through all phases; workloads end on the new CA only', async () => {
    const [serverAgent, clientAgent] = agents as [AgentProcess, AgentProcess];
    const oldRoot = fs.readFileSync(path.join(caDir, CA_FILES.root), 'utf8');
    const newRoot = fs.readFileSync(path.join(newDir, CA_FILES.root), 'utf8');
    const longLived = new SecureClient(xdsTarget('greeter', 5000), clientAgent.bootstrapFile);
    clients.push(longLived);
    const warm = await longLived.call('SayHello', { waitForReady: true });
    assert.equal(warm.status, 'OK', warm.details);
    const warmCcore = await ccore!.call({ waitForReady: true, deadlineMs: HANG_ONLY_MS });
    assert.equal(warmCcore.status, 'OK', warmCcore.details);

    // traffic for the whole rotation: a call every 150 ms on one channel, a fresh channel every ~2 s, and a
    // C-core call on its long-lived channel every other round
    const results: Record<string, number> = {};
    const count = (k: string) => (results[k] = (results[k] ?? 0) + 1);
    let running = true;
    const traffic = (async () => {
      for (let i = 0; running; i++) {
        const r = await longLived.call('SayHello');
        count(r.status === 'OK' ? 'long-lived OK' : `long-lived ${r.status}: ${r.details}`);
        if (i % 2 === 0) {
          const c = await ccore!.call({ deadlineMs: 60_000 });
          count(c.status === 'OK' ? 'c-core OK' : `c-core ${c.status}: ${c.details}`);
        }
        if (i % 12 === 0) {
          const c = new SecureClient(xdsTarget('greeter', 5000), clientAgent.bootstrapFile);
          const f = await c.call('SayHello', { waitForReady: true });
          c.close();
          count(f.status === 'OK' ? 'fresh channel OK' : `fresh channel ${f.status}: ${f.details}`);
        }
        await sleep(150);
      }
    })();

    // the phases as `meshd ca status` shows them
    const phases: string[] = [];
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const s = await status();
        if (phases.at(-1) !== s.phase) phases.push(s.phase);
        await sleep(200);
      }
    })();

    const cli = spawn(...meshdCommand(['ca', 'rotate', '--new-dir', newDir, '--wait', '--poll', '300ms', '--admin', admin]), { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    trackChild(cli);
    let out = '';
    cli.stdout.on('data', (d: Buffer) => (out += d.toString()));
    cli.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((resolve) => cli.on('exit', (c) => resolve(c)));
    assert.equal(code, 0, out);

    // a little more traffic on the new root alone, then stop
    const before = results['fresh channel OK'] ?? 0;
    await waitUntil('a fresh handshake after the rotation', () => ((results['fresh channel OK'] ?? 0) > before ? true : undefined), { timeoutMs: HANG_ONLY_MS });
    running = false;
    watching = false;
    await traffic;
    await watcher;
    console.log(`rotation run: ${JSON.stringify(results)}; phases seen: ${phases.join(' → ')}; certificates written: server ${serverAgent.written()}, client ${clientAgent.written()}`);
    console.log(out);

    assert.deepEqual(Object.keys(results).sort(), ['c-core OK', 'fresh channel OK', 'long-lived OK'], `every call succeeded: ${JSON.stringify(results)}`);
    assert.ok(phases.includes('publishing') && phases.includes('signing'), `phases seen: ${phases.join(' → ')}`);
    assert.equal(phases.at(-1), 'idle');
    assert.match(out, /phase: publishing/);
    assert.match(out, /phase: signing/);
    assert.match(out, /rotation complete/);
    const final = await status();
    assert.ok(final.lastCompleted);
    assert.deepEqual(final.bundle, [new crypto.X509Certificate(newRoot).fingerprint256]);
    // meshd's material and both workloads: the new CA only
    assert.equal(fs.readFileSync(path.join(caDir, CA_FILES.root), 'utf8'), newRoot);
    assert.equal(fs.readFileSync(path.join(caDir, CA_FILES.cert), 'utf8'), fs.readFileSync(path.join(newDir, CA_FILES.cert), 'utf8'));
    const newIntermediate = new crypto.X509Certificate(fs.readFileSync(path.join(newDir, CA_FILES.cert)));
    for (const a of agents) {
      await waitUntil(`${a.name} holds the new bundle only`, () => (fs.readFileSync(path.join(a.certDir, 'root-cert.pem'), 'utf8') === newRoot ? true : undefined), { timeoutMs: HANG_ONLY_MS });
      const leaf = new crypto.X509Certificate(fs.readFileSync(path.join(a.certDir, 'cert-chain.pem')));
      assert.ok(leaf.verify(newIntermediate.publicKey), `${a.name}'s certificate is signed by the new intermediate`);
    }
    assert.notEqual(oldRoot, newRoot);
    assert.match(await meshd!.metrics(), /^meshd_ca_rotation_phase 0$/m);
  });
});
