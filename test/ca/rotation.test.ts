import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CA_FILES, CertificateAuthority, type CaPems } from '../../src/ca/authority.js';
import { CaAdminServer, readCacertsDir } from '../../src/ca/admin.js';
import { RootRotation, type ConnectedProxy, type Issuance } from '../../src/ca/rotation.js';
import { createCsr, generateKeyPair, parseCsr } from '../../src/ca/x509.js';
import { silentLogger } from '../../src/telemetry/log.js';
import { pluggedCacerts } from '../support/cacerts.js';

// The rotation's phases and holds with a clock and proxies under the test's control: (a) waits for every
// connected proxy to fetch the bundle and for its reload interval, (b) for every certificate of the old CA
// to be renewed, (c) drops the old root; abort goes one step back and refuses to drop a root whose
// certificates are alive; new material arriving from the CA's own source is staged, not swapped; the admin
// endpoint answers the CLI.

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'meshd-rotation-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

let n = 0;
function setup() {
  const dir = path.join(tmp, `ca-${++n}`);
  const ca = CertificateAuthority.open({ dir, trustDomain: 'cluster.local', keyType: 'ec', log: silentLogger, watchIntervalMs: 0 });
  const next = path.join(tmp, `next-${n}`);
  pluggedCacerts(next, `next-${n}`, 'ec');
  let now = Date.now();
  const proxies: ConnectedProxy[] = [
    { id: 'sidecar~10.0.0.1~a-1.default~default.svc.cluster.local', namespace: 'default', serviceAccount: 'a', ips: ['10.0.0.1'] },
    { id: 'sidecar~10.0.0.2~b-1.default~default.svc.cluster.local', namespace: 'default', serviceAccount: 'b', ips: ['10.0.0.2'] },
  ];
  const persisted: CaPems[] = [];
  const rotation = new RootRotation({
    ca, log: silentLogger, trustDomain: 'cluster.local', proxies: () => proxies, now: () => now,
    persist: async (p) => {
      persisted.push(p);
    },
  });
  /** what the CSR service reports when `p`'s agent renews now */
  const renew = async (p: ConnectedProxy, opts: { byNode?: boolean; reloadMs?: number } = {}): Promise<Issuance> => {
    const { privateKey } = generateKeyPair('ec');
    const uri = `spiffe://cluster.local/ns/${p.namespace}/sa/${p.serviceAccount}`;
    const issued = await ca.sign(parseCsr(createCsr(privateKey, { uris: [uri] })), { uris: [uri], ttlMs: 60_000 });
    const i: Issuance = {
      identity: uri, peerIp: p.ips[0]!, issuedAt: now, notAfter: now + 60_000, bundle: issued.chain.at(-1)!, signerRoot: issued.rootFingerprint,
      ...(opts.byNode !== false ? { nodeId: p.id } : {}), ...(opts.reloadMs !== undefined ? { reloadMs: opts.reloadMs } : {}),
    };
    rotation.recordIssuance(i);
    return i;
  };
  return { ca, dir, next, proxies, rotation, renew, persisted, advance: (ms: number) => (now += ms), now: () => now };
}

describe('root rotation phases', () => {
  it('(a) holds until every connected proxy fetched the bundle and had time to load it, (b) until the old CA\'s certificates are renewed, (c) drops the old root', async () => {
    const t = setup();
    const oldRoot = t.ca.rootPem;
    // proxy a has a meshd agent (node id sent), proxy b an istio-agent (identity + pod IP)
    await t.renew(t.proxies[0]!);
    await t.renew(t.proxies[1]!, { byNode: false });
    const staged = await t.rotation.stage(readCacertsDir(t.next), 'test');
    assert.equal(staged.phase, 'publishing');
    assert.equal(staged.bundle.length, 2, 'old and new roots published');
    assert.equal(t.ca.signingRootFingerprint, staged.oldRoots[0], 'still signing with the old CA');
    assert.equal(t.persisted.at(-1)!.root, t.ca.rootPem, 'the bundle is written where the CA lives');
    assert.equal(staged.pendingCount, 2);
    assert.match(staged.pending[0]!.reason, /no certificate request since the bundle was published/);

    t.advance(1000);
    await t.renew(t.proxies[0]!, { reloadMs: 10_000 });
    await t.renew(t.proxies[1]!, { byNode: false }); // istio-agent: matched by identity and pod IP
    await t.rotation.tick();
    let s = t.rotation.status();
    assert.equal(s.phase, 'publishing');
    assert.deepEqual(s.pending.map((p) => p.id), [t.proxies[0]!.id, t.proxies[1]!.id]);
    assert.match(s.pending[0]!.reason, /waiting for its proxy to load it/);
    t.advance(6000);
    await t.rotation.tick();
    assert.deepEqual(t.rotation.status().pending.map((p) => p.id), [t.proxies[0]!.id], 'the default 5 s grace passed for the SDS-style proxy');
    t.advance(5000);
    await t.rotation.tick();
    s = t.rotation.status();
    assert.equal(s.phase, 'signing');
    assert.equal(t.ca.signingRootFingerprint, s.newRoots[0], 'signing with the new CA');
    assert.equal(s.bundle.length, 2);

    // (b): both still hold certificates of the old CA
    assert.equal(s.oldCertificatesAlive, 2);
    await t.renew(t.proxies[0]!);
    await t.rotation.tick();
    assert.equal(t.rotation.status().phase, 'signing');
    assert.deepEqual(t.rotation.status().pending.map((p) => p.id), [t.proxies[1]!.id]);
    await t.renew(t.proxies[1]!, { byNode: false });
    await t.rotation.tick();
    s = t.rotation.status();
    assert.equal(s.phase, 'idle');
    assert.ok(s.lastCompleted);
    assert.deepEqual(s.bundle, [s.signingRoot], 'only the new root is trusted');
    assert.ok(!t.ca.rootPem.includes(oldRoot.trim()));
  });

  it('a proxy that never fetches the bundle holds phase (a), and says why', async () => {
    const t = setup();
    await t.rotation.stage(readCacertsDir(t.next), 'test');
    await t.renew(t.proxies[0]!);
    for (let i = 0; i < 5; i++) {
      t.advance(60_000);
      await t.rotation.tick();
    }
    const s = t.rotation.status();
    assert.equal(s.phase, 'publishing');
    assert.equal(s.pendingCount, 1);
    assert.equal(s.pending[0]!.id, t.proxies[1]!.id);
    assert.match(s.message, /waiting for 1 connected proxy to hold the new trust bundle/);
  });

  it('abort: (b) → (a) signs with the old CA again; (a) → idle only once no certificate of the new CA is alive', async () => {
    const t = setup();
    const oldFp = t.ca.signingRootFingerprint;
    await t.rotation.stage(readCacertsDir(t.next), 'test');
    for (const p of t.proxies) await t.renew(p);
    t.advance(6000);
    await t.rotation.tick();
    assert.equal(t.rotation.status().phase, 'signing');
    await t.renew(t.proxies[0]!); // a certificate of the new CA is out
    let s = await t.rotation.abort();
    assert.equal(s.phase, 'publishing');
    assert.equal(t.ca.signingRootFingerprint, oldFp);
    assert.equal(s.bundle.length, 2, 'the new root stays trusted');
    await assert.rejects(t.rotation.abort(), /certificate\(s\) of the new CA are alive/);
    await t.renew(t.proxies[0]!); // renewed under the old CA
    s = await t.rotation.abort();
    assert.equal(s.phase, 'idle');
    assert.deepEqual(s.bundle, [oldFp]);
    await assert.rejects(t.rotation.abort(), /no rotation in progress/);
  });

  it('refuses material that does not load or whose root is the one in use, and a second rotation', async () => {
    const t = setup();
    await assert.rejects(t.rotation.stage({ ...readCacertsDir(t.next), key: readCacertsDir(t.dir).key }, 'mismatch'), /does not match/);
    await assert.rejects(t.rotation.stage(readCacertsDir(t.dir), 'same'), /the one in use/);
    await t.rotation.stage(readCacertsDir(t.next), 'test');
    await assert.rejects(t.rotation.stage(readCacertsDir(t.next), 'again'), /already in phase publishing/);
  });

  it('new root material from the CA\'s own source (files replaced in --ca-dir) is staged, not swapped in', async () => {
    const t = setup();
    const oldFp = t.ca.signingRootFingerprint;
    let staged: CaPems | undefined;
    t.ca.onNewRoot = (p) => (staged = p);
    for (const f of Object.values(CA_FILES)) fs.copyFileSync(path.join(t.next, f), path.join(t.dir, f));
    assert.equal(t.ca.reload(), false);
    assert.equal(t.ca.signingRootFingerprint, oldFp, 'still the old CA');
    assert.equal(staged?.cert, fs.readFileSync(path.join(t.next, CA_FILES.cert), 'utf8'));
  });
});

describe('CA admin endpoint', () => {
  it('status, stage (absolute paths only, read on meshd\'s host), abort; errors are 400 with a reason', async () => {
    const t = setup();
    const admin = new CaAdminServer(t.rotation, silentLogger);
    const addr = await admin.listen('127.0.0.1', 0);
    const call = async (method: string, p: string, body?: unknown) => {
      const r = await fetch(`http://${addr}${p}`, { method, ...(body ? { body: JSON.stringify(body) } : {}) });
      return { status: r.status, body: (await r.json()) as Record<string, unknown> };
    };
    assert.equal((await call('GET', '/ca/rotation')).body.phase, 'idle');
    const rel = await call('POST', '/ca/rotation', { newDir: 'relative/dir' });
    assert.equal(rel.status, 400);
    assert.match(String(rel.body.error), /absolute path/);
    assert.equal((await call('POST', '/ca/rotation', { newDir: t.next, extra: 1 })).status, 400);
    const missing = await call('POST', '/ca/rotation', { newDir: path.join(tmp, 'nope') });
    assert.match(String(missing.body.error), /cannot read ca-cert.pem/);
    const ok = await call('POST', '/ca/rotation', { newDir: t.next });
    assert.equal(ok.status, 200);
    assert.equal(ok.body.phase, 'publishing');
    assert.ok(!JSON.stringify(ok.body).includes('PRIVATE KEY'), 'no key material in answers');
    assert.equal((await call('POST', '/ca/rotation/abort')).body.phase, 'idle');
    await admin.close();
  });
});
