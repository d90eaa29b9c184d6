import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CA_FILES, CertificateAuthority, createSelfSignedRoot, type CaPems } from '../../src/ca/authority.js';
import { SelfSignedRootRotator } from '../../src/ca/root-rotator.js';
import { CA_SECRET_TYPE, PLUGGED_CA_SECRET, SELF_SIGNED_CA_SECRET } from '../../src/ca/ca-secret.js';
import { openAuthority, type SecurityOptions } from '../../src/ca/setup.js';
import { createCsr, generateKeyPair, parseCsr } from '../../src/ca/x509.js';
import { KubeHttp } from '../../src/sources/kube/client.js';
import { silentLogger } from '../../src/telemetry/log.js';
import { FakeApiServer } from '../kube-fixture/server.js';
import { kubectlFor, type Kubectl } from '../kube-fixture/kubectl.js';
import { kubeConfigFor } from '../support/kube.js';
import { openssl } from '../support/openssl.js';
import { pluggedCacerts } from '../support/cacerts.js';

// Kubernetes mode keeps the CA in Secrets of istio-system, as istiod does: istio-ca-secret is created with
// a self-signed root on first start and read on every later one (so a restart, or a second replica, signs
// with the same root); a replica that loses the create race adopts the winner's root; a plugged `cacerts`
// Secret, or plugged files in --ca-dir, win over istio-ca-secret. Against the API-server fixture, with real
// kubectl where an operator would use it.

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'meshd-ca-secret-'));
const api = new FakeApiServer();
let url = '';
let kubectl: Kubectl;
const cas: CertificateAuthority[] = [];

before(async () => {
  url = await api.start();
  kubectl = kubectlFor({ server: url });
});
after(async () => {
  await Promise.all(cas.map((ca) => ca.close()));
  kubectl.cleanup();
  await api.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

let dirs = 0;
const persisters = new Map<CertificateAuthority, (pems: CaPems) => Promise<void>>();
/** What `meshd serve` with the Kubernetes source does at start: a fresh pod, so an empty --ca-dir. */
async function start(overrides: Partial<SecurityOptions> = {}): Promise<CertificateAuthority> {
  const caDir = path.join(tmp, `pod-${++dirs}`);
  const { ca, persist } = await openAuthority(
    { addr: ':0', caDir, caKeyType: 'ec', caSecret: { http: new KubeHttp(kubeConfigFor(url)), namespace: 'istio-system', resyncMs: 50 }, ...overrides },
    { trustDomain: 'cluster.local', log: silentLogger },
  );
  cas.push(ca);
  persisters.set(ca, persist);
  return ca;
}

async function issue(ca: CertificateAuthority, sa: string): Promise<string> {
  const { privateKey } = generateKeyPair('ec');
  const uri = `spiffe://cluster.local/ns/default/sa/${sa}`;
  const issued = await ca.sign(parseCsr(createCsr(privateKey, { uris: [uri] })), { uris: [uri], ttlMs: 3600e3 });
  const file = path.join(tmp, `${sa}.pem`);
  fs.writeFileSync(file, issued.chain.join(''));
  return file;
}

function secretData(name: string): Record<string, string> {
  const s = api.get('v1', 'Secret', 'istio-system', name) as { data?: Record<string, string> } | undefined;
  return Object.fromEntries(Object.entries(s?.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
}

describe('CA in Secret istio-ca-secret (Kubernetes mode)', () => {
  it('first start creates istio-ca-secret (Istio layout); a restart reuses it and earlier certificates still verify', async () => {
    const first = await start();
    assert.equal(first.source, 'Secret istio-system/istio-ca-secret');
    const secret = api.get('v1', 'Secret', 'istio-system', SELF_SIGNED_CA_SECRET) as { type?: string };
    assert.equal(secret.type, CA_SECRET_TYPE);
    const data = secretData(SELF_SIGNED_CA_SECRET);
    assert.deepEqual(Object.keys(data).sort(), [CA_FILES.cert, CA_FILES.key, CA_FILES.chain, CA_FILES.root].sort());
    assert.equal(data[CA_FILES.root], first.rootPem);
    assert.ok(new crypto.X509Certificate(first.rootPem).ca);
    assert.ok(!fs.existsSync(path.join(tmp, 'pod-1')), 'nothing written to --ca-dir');
    const leafBefore = await issue(first, 'before-restart');
    await first.close();

    const second = await start();
    assert.equal(second.rootPem, first.rootPem, 'same root after the restart');
    // the root as an operator sees it, through real kubectl
    const rootB64 = await kubectl.run(['get', 'secret', SELF_SIGNED_CA_SECRET, '-n', 'istio-system', '-o', 'jsonpath={.data.root-cert\\.pem}']);
    const rootFile = path.join(tmp, 'root-after-restart.pem');
    fs.writeFileSync(rootFile, Buffer.from(rootB64, 'base64'));
    for (const leaf of [leafBefore, await issue(second, 'after-restart')]) {
      const v = openssl(['verify', '-x509_strict', '-CAfile', rootFile, leaf]);
      assert.equal(v.status, 0, v.out);
    }
  });

  it('a replica that loses the create race adopts the winner\'s root', async () => {
    await Promise.all(cas.map((earlier) => earlier.close())); // their Secret polls would take the injected 404s
    api.remove('v1', 'Secret', 'istio-system', SELF_SIGNED_CA_SECRET);
    // the other replica's root lands between our GET (404) and our create (409 AlreadyExists)
    const theirs = createSelfSignedRoot({ trustDomain: 'cluster.local', keyType: 'ec' });
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    api.create({
      apiVersion: 'v1', kind: 'Secret', metadata: { name: SELF_SIGNED_CA_SECRET, namespace: 'istio-system' }, type: CA_SECRET_TYPE,
      data: { [CA_FILES.cert]: b64(theirs.cert), [CA_FILES.key]: b64(theirs.key), [CA_FILES.chain]: '', [CA_FILES.root]: b64(theirs.root) },
    });
    api.fail({ verbs: ['get'], resources: ['secrets'], times: 2, respond: { status: 404 } });
    const before = api.requests.length;
    const ca = await start();
    const calls = api.requests.slice(before).filter((r) => r.resource === 'secrets').map((r) => `${r.verb} ${r.name ?? ''} ${r.status}`);
    assert.deepEqual(calls, [`get ${PLUGGED_CA_SECRET} 404`, `get ${SELF_SIGNED_CA_SECRET} 404`, 'create  409', `get ${SELF_SIGNED_CA_SECRET} 200`]);
    assert.equal(ca.rootPem, theirs.root);
    assert.equal(secretData(SELF_SIGNED_CA_SECRET)[CA_FILES.key], theirs.key, 'their Secret is left as it was');
  });

  it('a plugged cacerts Secret (kubectl create secret generic cacerts --from-file …) wins and is followed when replaced', async () => {
    const dirA = path.join(tmp, 'plugged-a');
    pluggedCacerts(dirA, 'first', 'ec');
    // kubectl's generators POST protobuf, which the fixture does not speak: render the manifest, then create it
    const manifestOf = (dir: string) => kubectl.run(['create', 'secret', 'generic', PLUGGED_CA_SECRET, '-n', 'istio-system',
      ...Object.values(CA_FILES).map((f) => `--from-file=${f}=${path.join(dir, f)}`), '--dry-run=client', '-o', 'yaml']);
    await kubectl.run(['create', '-f', '-'], await manifestOf(dirA));
    const ca = await start();
    assert.equal(ca.source, 'Secret istio-system/cacerts');
    assert.equal(ca.selfSigned, false);
    assert.match(new crypto.X509Certificate(ca.rootPem).subject, /first Root CA/);

    const dirB = path.join(tmp, 'plugged-b');
    pluggedCacerts(dirB, 'second', 'ec');
    const rotated = new Promise((resolve) => ca.once('rotated', resolve));
    await kubectl.run(['replace', '-f', '-'], await manifestOf(dirB));
    await rotated; // the CA re-reads the Secret it uses on its own (a hang is the test runner's timeout)
    assert.match(new crypto.X509Certificate(ca.rootPem).subject, /second Root CA/);
    api.remove('v1', 'Secret', 'istio-system', PLUGGED_CA_SECRET);
  });

  it('plugged files in --ca-dir win over the Secrets; without the Kubernetes source --ca-dir gets the root', async () => {
    const dir = path.join(tmp, 'plugged-dir');
    pluggedCacerts(dir, 'files', 'ec');
    const ca = await start({ caDir: dir });
    assert.equal(ca.source, `--ca-dir ${dir}`);
    assert.match(new crypto.X509Certificate(ca.rootPem).subject, /files Root CA/);

    const configDirMode = path.join(tmp, 'config-dir-mode');
    const own = await start({ caDir: configDirMode, caSecret: undefined });
    assert.equal(own.rootPem, fs.readFileSync(path.join(configDirMode, CA_FILES.root), 'utf8'));
    assert.notEqual(own.rootPem, secretData(SELF_SIGNED_CA_SECRET)[CA_FILES.root]);
  });

  it('the self-signed root rotator renews istio-ca-secret with the same key; certificates issued before verify under the new root', async () => {
    await Promise.all(cas.map((earlier) => earlier.close()));
    api.remove('v1', 'Secret', 'istio-system', SELF_SIGNED_CA_SECRET);
    // a root created with 1 s left: well inside the 20 % grace period of its (61 s) lifetime
    const ca = await start({ rootTtlMs: 1000 });
    const leafBefore = await issue(ca, 'before-rotation');
    const oldRoot = ca.rootPem;
    const rotator = new SelfSignedRootRotator({ ca, log: silentLogger, persist: persisters.get(ca)!, rootTtlMs: 3600e3, jitter: false });
    assert.ok(rotator.waitMs() <= 0);
    assert.equal(await rotator.checkNow(), true);
    const data = secretData(SELF_SIGNED_CA_SECRET);
    assert.equal(data[CA_FILES.root], ca.rootPem, 'the Secret holds the new root');
    assert.notEqual(ca.rootPem, oldRoot);
    const [o, n] = [new crypto.X509Certificate(oldRoot), new crypto.X509Certificate(ca.rootPem)];
    assert.equal(n.subject, o.subject);
    assert.ok(n.publicKey.equals(o.publicKey), 'same key');
    assert.ok(Date.parse(n.validTo) > Date.parse(o.validTo) + 3000e3);
    const rootFile = path.join(tmp, 'rotated-root.pem');
    fs.writeFileSync(rootFile, ca.rootPem);
    for (const leaf of [leafBefore, await issue(ca, 'after-rotation')]) {
      const v = openssl(['verify', '-x509_strict', '-CAfile', rootFile, leaf]);
      assert.equal(v.status, 0, v.out);
    }
    // well before its grace period the new root is left alone
    assert.equal(await rotator.checkNow(), false);
  });

  it('without the Kubernetes source the rotator renews the root in --ca-dir (same key); a restart signs under the new root', async () => {
    const ca = await start({ caSecret: undefined, rootTtlMs: 1000 });
    const caDir = path.join(tmp, `pod-${dirs}`);
    const keyBefore = fs.readFileSync(path.join(caDir, CA_FILES.key), 'utf8');
    const leafBefore = await issue(ca, 'dir-before-rotation');
    const oldRoot = ca.rootPem;
    const rotator = new SelfSignedRootRotator({ ca, log: silentLogger, persist: persisters.get(ca)!, rootTtlMs: 3600e3, jitter: false });
    assert.equal(await rotator.checkNow(), true);
    assert.notEqual(ca.rootPem, oldRoot);
    assert.equal(fs.readFileSync(path.join(caDir, CA_FILES.root), 'utf8'), ca.rootPem, 'the new root is written where the CA lives');
    assert.equal(fs.readFileSync(path.join(caDir, CA_FILES.key), 'utf8'), keyBefore, 'same key');
    const restarted = CertificateAuthority.open({ dir: caDir, trustDomain: 'cluster.local', log: silentLogger });
    cas.push(restarted);
    assert.equal(restarted.rootPem, ca.rootPem);
    const rootFile = path.join(tmp, 'dir-rotated-root.pem');
    fs.writeFileSync(rootFile, ca.rootPem);
    for (const leaf of [leafBefore, await issue(restarted, 'dir-after-restart')]) {
      const v = openssl(['verify', '-x509_strict', '-CAfile', rootFile, leaf]);
      assert.equal(v.status, 0, v.out);
    }
  });
});
