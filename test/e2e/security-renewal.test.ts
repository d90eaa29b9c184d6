import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { CA_FILES } from '../../src/ca/authority.js';
import { startMeshd, type Meshd } from './harness/meshd.js';
import { greeterDocs, ONLY_CLIENT_POLICY_DOC, strictPeerAuthenticationDoc, writeMesh, xdsTarget } from './harness/mesh.js';
import { HANG_ONLY_MS, SecureClient, startAgent, startSecureXdsServer, TokenIssuer, type AgentProcess, type SecureServerProcess } from './harness/secure.js';
import { exitWhenIdle, freePort, sleep, tempDir } from './harness/util.js';

// Certificates with a 60 s lifetime: `meshd agent` renews at about half life (± jitter), gRPC's
// file_watcher picks the new files up, and calls keep succeeding — on a long-lived channel and on fresh
// channels (new TLS handshakes) made after the first certificates have expired.

const TTL_S = 60;

describe('mTLS across certificate renewals (60 s TTL)', { timeout: 3 * HANG_ONLY_MS }, () => {
  const tmp = tempDir('renewal');
  const caDir = path.join(tmp.dir, 'ca');
  const issuer = new TokenIssuer(tmp.dir);
  let meshd: Meshd | undefined;
  let server: SecureServerProcess | undefined;
  const agents: AgentProcess[] = [];
  const clients: SecureClient[] = [];
  let port = 0;

  before(async () => {
    port = await freePort('127.0.0.1');
    const configDir = path.join(tmp.dir, 'config');
    writeMesh(configDir, {
      'mesh.yaml': [
        ...greeterDocs(5000, port),
        strictPeerAuthenticationDoc('default'),
        ONLY_CLIENT_POLICY_DOC,
      ],
    });
    meshd = await startMeshd({ configDir, caDir, extraArgs: ['--jwt-public-keys', issuer.publicKeyFile] });
    const common = { caAddr: meshd.secureGrpcAddr, caRoot: path.join(caDir, CA_FILES.root), xdsAddr: meshd.grpcAddr, dir: tmp.dir };
    agents.push(await startAgent({ name: 'greeter-1', serviceAccount: 'greeter', labels: { app: 'greeter' }, certTtl: `${TTL_S}s` }, { ...common, tokenFile: issuer.tokenFile(tmp.dir, 'default', 'greeter') }));
    agents.push(await startAgent({ name: 'client-1', serviceAccount: 'client', labels: { app: 'client' }, certTtl: `${TTL_S}s` }, { ...common, tokenFile: issuer.tokenFile(tmp.dir, 'default', 'client') }));
    server = startSecureXdsServer('greeter-v1', `127.0.0.1:${port}`, agents[0]!.bootstrapFile);
    await server.waitServing();
  });

  after(async () => {
    for (const c of clients) c.close();
    await server?.stop();
    for (const a of agents) await a.stop();
    await meshd?.stop();
    tmp.remove();
    exitWhenIdle();
  });

  it('keeps succeeding while both sides renew, past the first certificates’ expiry', async () => {
    const [serverAgent, clientAgent] = agents as [AgentProcess, AgentProcess];
    const leafOf = (a: AgentProcess) => new crypto.X509Certificate(fs.readFileSync(path.join(a.certDir, 'cert-chain.pem')));
    const firstServer = leafOf(serverAgent);
    const firstClient = leafOf(clientAgent);
    assert.equal(Date.parse(firstServer.validTo) - Date.parse(firstServer.validFrom), TTL_S * 1000);
    const firstExpiry = Math.max(Date.parse(firstServer.validTo), Date.parse(firstClient.validTo));

    const longLived = new SecureClient(xdsTarget('greeter', 5000), clientAgent.bootstrapFile);
    clients.push(longLived);
    const warm = await longLived.call('SayHello', { waitForReady: true });
    assert.equal(warm.status, 'OK', warm.details);

    const results: Record<string, number> = {};
    const count = (k: string) => (results[k] = (results[k] ?? 0) + 1);
    let fresh = 0;
    let freshAfterExpiry = 0;
    const deadline = Date.now() + HANG_ONLY_MS;
    // bounded: until the first certificates expired, a fresh handshake succeeded after that, and both agents renewed
    while (Date.now() < deadline && (Date.now() < firstExpiry + 1000 || freshAfterExpiry === 0 || serverAgent.written() < 2 || clientAgent.written() < 2)) {
      const r = await longLived.call('SayHello');
      count(r.status === 'OK' ? 'long-lived OK' : `long-lived ${r.status}: ${r.details}`);
      if (fresh % 10 === 0 || (Date.now() > firstExpiry && freshAfterExpiry === 0)) {
        // a new channel → a new TLS handshake with whatever certificates are on disk now
        const c = new SecureClient(xdsTarget('greeter', 5000), clientAgent.bootstrapFile);
        const f = await c.call('SayHello', { waitForReady: true });
        c.close();
        count(f.status === 'OK' ? 'fresh channel OK' : `fresh channel ${f.status}: ${f.details}`);
        if (Date.now() > firstExpiry && f.status === 'OK') freshAfterExpiry++;
      }
      fresh++;
      await sleep(400);
    }
    console.log(`renewal run: ${JSON.stringify(results)}; certificates written: server ${serverAgent.written()}, client ${clientAgent.written()}; fresh handshakes after first expiry: ${freshAfterExpiry}`);
    assert.ok(Date.now() > firstExpiry, 'ran past the first certificates’ expiry');
    assert.ok(serverAgent.written() >= 2 && clientAgent.written() >= 2, 'both agents renewed');
    assert.deepEqual(Object.keys(results).sort(), ['fresh channel OK', 'long-lived OK'], `every call succeeded: ${JSON.stringify(results)}`);
    assert.ok(freshAfterExpiry >= 1, 'a fresh handshake succeeded after the first certificates expired');
    assert.notEqual(leafOf(serverAgent).serialNumber, firstServer.serialNumber);
    assert.notEqual(leafOf(clientAgent).serialNumber, firstClient.serialNumber);
    // the agent waited for about half life before renewing (30 s − 6 s jitter at the earliest, from the
    // certificate's own validity; X.509 times have whole seconds); how much later the renewal came depends
    // on the machine's load, so only that lower bound is asserted
    const gap = (Date.parse(leafOf(serverAgent).validFrom) - Date.parse(firstServer.validFrom)) / 1000;
    assert.ok(gap >= 23, `server renewed ${gap} s into the first certificate's life`);
  });
});
