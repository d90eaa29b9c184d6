import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { CA_FILES } from '../../src/ca/authority.js';
import { startMeshd, type Meshd } from './harness/meshd.js';
import { greeterDocs, ONLY_CLIENT_POLICY_DOC, strictPeerAuthenticationDoc, writeMesh, xdsTarget } from './harness/mesh.js';
import { PyXdsClient } from './harness/py-client.js';
import { HANG_ONLY_MS, startAgent, startSecureXdsServer, TokenIssuer, type AgentProcess, type SecureServerProcess } from './harness/secure.js';
import { exitWhenIdle, freePort, requirePythonGrpc, tempDir } from './harness/util.js';

// gRPC C-core (Debian python3-grpcio 1.51) as a second peer for mTLS and RBAC: clients with
// xds_channel_credentials and certificates from `meshd agent`, against a grpc-js-xds XdsServer that meshd
// configures with PeerAuthentication STRICT and an ALLOW policy for one principal.

describe('C-core clients: STRICT mTLS and ALLOW/deny', { timeout: HANG_ONLY_MS }, () => {
  const tmp = tempDir('security-ccore');
  const caDir = path.join(tmp.dir, 'ca');
  const issuer = new TokenIssuer(tmp.dir);
  let meshd: Meshd | undefined;
  let server: SecureServerProcess | undefined;
  const agents: Record<string, AgentProcess> = {};
  const py: PyXdsClient[] = [];

  before(async () => {
    requirePythonGrpc();
    const port = await freePort('127.0.0.1');
    const configDir = path.join(tmp.dir, 'config');
    writeMesh(configDir, {
      'mesh.yaml': [
        ...greeterDocs(5000, port),
        strictPeerAuthenticationDoc('istio-system'),
        ONLY_CLIENT_POLICY_DOC,
      ],
    });
    meshd = await startMeshd({ configDir, caDir, extraArgs: ['--jwt-public-keys', issuer.publicKeyFile] });
    const common = { caAddr: meshd.secureGrpcAddr, caRoot: path.join(caDir, CA_FILES.root), xdsAddr: meshd.grpcAddr, dir: tmp.dir };
    for (const [name, sa] of [['greeter-1', 'greeter'], ['client-1', 'client'], ['intruder-1', 'intruder']] as const) {
      agents[sa] = await startAgent({ name, serviceAccount: sa, labels: { app: name.replace(/-1$/, '') } }, { ...common, tokenFile: issuer.tokenFile(tmp.dir, 'default', sa) });
    }
    server = startSecureXdsServer('greeter-v1', `127.0.0.1:${port}`, agents.greeter!.bootstrapFile);
    await server.waitServing();
  });

  after(async () => {
    for (const c of py) await c.close();
    await server?.stop();
    for (const a of Object.values(agents)) await a.stop();
    await meshd?.stop();
    tmp.remove();
    exitWhenIdle();
  });

  const start = async (sa: string, xdsCreds: boolean) => {
    const c = await PyXdsClient.start(meshd!.grpcAddr, xdsTarget('greeter', 5000), { pod: `${sa}-1` }, tmp.dir, { bootstrapFile: agents[sa]!.bootstrapFile, xdsCreds });
    py.push(c);
    return c;
  };

  it('STRICT: a C-core mTLS client (the listed principal) gets through; a plaintext C-core client does not', async () => {
    const client = await start('client', true);
    const ok = await client.call({ waitForReady: true, deadlineMs: 120_000 });
    assert.equal(ok.status, 'OK', ok.details);
    assert.equal(ok.backend, 'greeter-v1');
    assert.deepEqual(await client.split(20), { 'greeter-v1': 20 });
    const plain = await start('client', false);
    const r = await plain.call({ deadlineMs: 60_000 });
    assert.equal(r.status, 'UNAVAILABLE', `plaintext must not reach a STRICT server: ${JSON.stringify(r)}`);
  });

  it('ALLOW: a C-core mTLS client with another identity gets PERMISSION_DENIED', async () => {
    const intruder = await start('intruder', true);
    const r = await intruder.call({ waitForReady: true, deadlineMs: 120_000 });
    assert.equal(r.status, 'PERMISSION_DENIED', JSON.stringify(r));
  });
});
