import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { Agent, CERT_FILES } from '../../src/agent/agent.js';
import { CA_FILES, CertificateAuthority } from '../../src/ca/authority.js';
import { signJwt } from '../../src/ca/jwt.js';
import { RootCertPublisher, ROOT_CERT_CONFIGMAP, ROOT_CERT_KEY, type KubeRequester } from '../../src/ca/root-publisher.js';
import { createCsr, generateKeyPair, parseCsr, splitPemCertificates } from '../../src/ca/x509.js';
import { Daemon } from '../../src/daemon.js';
import { ConfigStore } from '../../src/config/store.js';
import { validateDocument } from '../../src/config/validate.js';
import { PushContext } from '../../src/model/push-context.js';
import { parseProxy } from '../../src/model/proxy.js';
import { sidecarInboundSecurity } from '../../src/security/sidecar.js';
import { simulateHttpFilters } from '../../src/simulate/http-filters.js';
import { silentLogger } from '../../src/telemetry/log.js';
import { pluggedCacerts } from '../support/cacerts.js';
import { opensslVerify } from '../support/openssl.js';

// A plugged root-cert.pem with two roots (the usual first step of a root rotation): both are trusted and
// published — the CSR response's root element, the file a proxyless gRPC agent writes for its ROOTCA
// certificate provider, the istio-ca-root-cert ConfigMap, the TLS port's client-certificate trust — and
// workloads holding certificates of either root reach each other, with AuthorizationPolicy principals
// matched across trustDomainAliases.

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'meshd-multiroot-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const OLD = path.join(tmp, 'old');
const NEW = path.join(tmp, 'new');
const CA_DIR = path.join(tmp, 'ca');
const read = (dir: string, f: string) => fs.readFileSync(path.join(dir, f), 'utf8');

let oldRoot = '';
let newRoot = '';

before(() => {
  pluggedCacerts(OLD, 'old');
  pluggedCacerts(NEW, 'new');
  oldRoot = read(OLD, CA_FILES.root);
  newRoot = read(NEW, CA_FILES.root);
  // the CA signs with the new intermediate; root-cert.pem trusts both roots
  fs.mkdirSync(CA_DIR);
  for (const f of [CA_FILES.cert, CA_FILES.key, CA_FILES.chain]) fs.copyFileSync(path.join(NEW, f), path.join(CA_DIR, f));
  fs.writeFileSync(path.join(CA_DIR, CA_FILES.root), oldRoot + newRoot);
});

async function issue(ca: CertificateAuthority, uri: string) {
  const { privateKey } = generateKeyPair('ec');
  const issued = await ca.sign(parseCsr(createCsr(privateKey, { uris: [uri] })), { uris: [uri], ttlMs: 3600e3 });
  return { key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, chain: issued.chain };
}

describe('a plugged two-root root-cert.pem', () => {
  it('is loaded whole: both roots trusted, signing chains to the new one; a chain to neither root is refused', () => {
    const ca = CertificateAuthority.open({ dir: CA_DIR, trustDomain: 'cluster.local', log: silentLogger, watchIntervalMs: 0 });
    assert.equal(ca.roots.length, 2);
    assert.deepEqual(splitPemCertificates(ca.rootPem), [...splitPemCertificates(oldRoot), ...splitPemCertificates(newRoot)]);
    assert.equal(ca.signingRootFingerprint, new crypto.X509Certificate(newRoot).fingerprint256);
    const stray = path.join(tmp, 'stray');
    pluggedCacerts(stray, 'stray');
    const bad = path.join(tmp, 'bad');
    fs.mkdirSync(bad);
    for (const f of [CA_FILES.cert, CA_FILES.key, CA_FILES.chain]) fs.copyFileSync(path.join(stray, f), path.join(bad, f));
    fs.writeFileSync(path.join(bad, CA_FILES.root), oldRoot + newRoot);
    assert.throws(() => CertificateAuthority.open({ dir: bad, trustDomain: 'cluster.local', log: silentLogger, watchIntervalMs: 0 }), /do not chain to any of the 2 roots/);
    void ca.close();
  });

  it('the CSR response ends with both roots, and the leaf verifies against that bundle (openssl)', async () => {
    const ca = CertificateAuthority.open({ dir: CA_DIR, trustDomain: 'cluster.local', log: silentLogger, watchIntervalMs: 0 });
    const { chain } = await issue(ca, 'spiffe://cluster.local/ns/default/sa/a');
    assert.equal(chain.at(-1), oldRoot + newRoot);
    fs.mkdirSync(path.join(tmp, 'v1'), { recursive: true });
    assert.equal(opensslVerify(chain, path.join(tmp, 'v1')).status, 0);
    void ca.close();
  });

  it('istio-ca-root-cert carries both roots', async () => {
    const ca = CertificateAuthority.open({ dir: CA_DIR, trustDomain: 'cluster.local', log: silentLogger, watchIntervalMs: 0 });
    const written = new Map<string, string>();
    const http: KubeRequester = {
      async request<T>(method: string, urlPath: string, opts?: { body?: unknown }): Promise<T> {
        if (method === 'GET') throw Object.assign(new Error('not found'), { statusCode: 404 });
        const body = opts?.body as { metadata: { name: string; namespace: string }; data: Record<string, string> };
        written.set(`${body.metadata.namespace}/${body.metadata.name}`, body.data[ROOT_CERT_KEY]!);
        return {} as T;
      },
    };
    const pub = new RootCertPublisher({ http, isLeader: () => true, namespaces: () => ['default', 'shop'], rootPem: () => ca.rootPem, log: silentLogger, resyncMs: 3_600_000 });
    await pub.sync();
    pub.stop();
    assert.equal(written.get(`default/${ROOT_CERT_CONFIGMAP}`), oldRoot + newRoot);
    assert.equal(written.get(`shop/${ROOT_CERT_CONFIGMAP}`), oldRoot + newRoot);
    void ca.close();
  });
});

describe('two roots through the running CA (TLS port, meshd agent)', () => {
  const jwtKey = generateKeyPair('ec');
  const tokenFile = path.join(tmp, 'token');
  let daemon: Daemon;
  let secureAddr = '';
  before(async () => {
    fs.writeFileSync(path.join(tmp, 'issuer.pem'), jwtKey.publicKey.export({ type: 'spki', format: 'pem' }));
    fs.writeFileSync(tokenFile, signJwt({ sub: 'system:serviceaccount:default:greeter', aud: 'istio-ca', exp: Math.floor(Date.now() / 1000) + 3600 }, jwtKey.privateKey));
    fs.mkdirSync(path.join(tmp, 'config'));
    daemon = new Daemon({
      configDir: path.join(tmp, 'config'), grpcAddr: '127.0.0.1:0', monitoringAddr: '127.0.0.1:0', httpAddr: '127.0.0.1:0',
      debounce: { quietMs: 20, maxMs: 1000 }, log: silentLogger,
      security: { addr: '127.0.0.1:0', caDir: CA_DIR, jwtPublicKeysFile: path.join(tmp, 'issuer.pem') },
    });
    secureAddr = (await daemon.start()).secureGrpcAddr!;
  });
  after(async () => {
    await daemon.stop(1000);
  });

  it('the agent (trusting only the OLD root for the CA) gets a certificate and writes both roots as its ROOTCA file', async () => {
    fs.writeFileSync(path.join(tmp, 'old-only.pem'), oldRoot);
    const dir = path.join(tmp, 'agent');
    // the CA's serving certificate chains to the new root: an agent that trusts only the old one must fail
    const oldOnly = new Agent({
      caAddr: secureAddr, caRootFile: path.join(tmp, 'old-only.pem'), caServerName: 'istiod.istio-system.svc', tokenFile,
      xdsAddr: '127.0.0.1:15010', namespace: 'default', serviceAccount: 'greeter', podName: 'greeter-1', podIp: '127.0.0.5',
      trustDomain: 'cluster.local', certDir: path.join(dir, 'certs'), bootstrapFile: path.join(dir, 'bootstrap.json'), certTtlMs: 3600e3, log: silentLogger,
      initialCertTimeoutMs: 1, backoff: { initialMs: 1, maxMs: 1 },
    });
    await assert.rejects(oldOnly.start());
    oldOnly.stop();
    // with the published bundle (istio-ca-root-cert) it works, and its ROOTCA file is the bundle
    fs.writeFileSync(path.join(tmp, 'bundle.pem'), daemon['secure']!.ca.rootPem);
    const agent = new Agent({
      caAddr: secureAddr, caRootFile: path.join(tmp, 'bundle.pem'), caServerName: 'istiod.istio-system.svc', tokenFile,
      xdsAddr: '127.0.0.1:15010', namespace: 'default', serviceAccount: 'greeter', podName: 'greeter-1', podIp: '127.0.0.5',
      trustDomain: 'cluster.local', certDir: path.join(dir, 'certs'), bootstrapFile: path.join(dir, 'bootstrap.json'), certTtlMs: 3600e3, log: silentLogger,
    });
    await agent.start();
    agent.stop();
    assert.equal(fs.readFileSync(path.join(dir, 'certs', CERT_FILES.root), 'utf8'), oldRoot + newRoot);
  });
});

describe('workloads of both roots talk over mTLS; principals match across trustDomainAliases', () => {
  it('a server with a new-root certificate accepts a client with an old-root certificate (and back), and RBAC allows the aliased identity', async () => {
    // the old root's intermediate issued certificates in the old trust domain before the migration
    const oldCa = CertificateAuthority.open({ dir: OLD, trustDomain: 'old.local', log: silentLogger, watchIntervalMs: 0 });
    const newCa = CertificateAuthority.open({ dir: CA_DIR, trustDomain: 'cluster.local', log: silentLogger, watchIntervalMs: 0 });
    const bundle = newCa.rootPem;
    const server = await issue(newCa, 'spiffe://cluster.local/ns/shop/sa/reviews');
    const client = await issue(oldCa, 'spiffe://old.local/ns/shop/sa/productpage');
    const stranger = await issue(CertificateAuthority.open({ dir: path.join(tmp, 'stray'), trustDomain: 'evil.local', log: silentLogger, watchIntervalMs: 0 }), 'spiffe://evil.local/ns/shop/sa/productpage');

    const open = new Set<tls.TLSSocket>();
    const srv = tls.createServer({ key: server.key, cert: server.chain.slice(0, -1).join(''), ca: bundle, requestCert: true, rejectUnauthorized: true }, (s) => s.end('ok'));
    srv.on('secureConnection', (s) => {
      open.add(s);
      s.on('close', () => open.delete(s));
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as AddressInfo).port;
    const connect = (c: { key: string; chain: readonly string[] }) =>
      // the answer, not the handshake, proves the server accepted the client's certificate (TLS 1.3 clients
      // finish their handshake before the server has checked theirs)
      new Promise<{ peer: string }>((resolve, reject) => {
        let peer = '';
        const sock = tls.connect({ host: '127.0.0.1', port, key: c.key, cert: c.chain.slice(0, -1).join(''), ca: bundle, checkServerIdentity: () => undefined }, () => {
          peer = sock.getPeerX509Certificate()?.subjectAltName ?? '';
        });
        let data = '';
        sock.on('data', (d: Buffer) => (data += d.toString()));
        sock.on('error', reject);
        sock.on('close', () => (data === 'ok' ? resolve({ peer }) : reject(new Error('closed without an answer'))));
      });
    const got = await connect(client);
    assert.equal(got.peer, 'URI:spiffe://cluster.local/ns/shop/sa/reviews');
    await assert.rejects(connect(stranger), 'a third root is not trusted');
    for (const sock of open) sock.destroy();
    await new Promise<void>((r) => srv.close(() => r()));

    // the RBAC the sidecar gets for `cluster.local/ns/shop/sa/productpage`, with old.local as an alias
    const store = new ConfigStore();
    for (const d of [
      { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'reviews-1', namespace: 'shop', labels: { app: 'reviews' } }, status: { podIP: '10.0.0.9', phase: 'Running' } },
      { apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'pp', namespace: 'shop' }, spec: { rules: [{ from: [{ source: { principals: ['cluster.local/ns/shop/sa/productpage'] } }] }] } },
    ]) {
      const r = validateDocument(d);
      assert.ok(r.ok);
      store.upsert(r.value.kind, r.value.object, { source: 'memory', label: 't' }, 't');
    }
    const ctx = new PushContext(store, 'v1', { domainSuffix: 'cluster.local', trustDomain: 'cluster.local', rootNamespace: 'istio-system', trustDomainAliases: ['old.local'] });
    const filters = sidecarInboundSecurity(ctx, parseProxy({ id: 'sidecar~10.0.0.9~reviews-1.shop~shop.svc.cluster.local', metadata: { NAMESPACE: 'shop' } }), 9080).httpFilters as Record<string, unknown>[];
    const decide = (peerPrincipal: string) => simulateHttpFilters(filters, { headers: new Map(), query: new Map(), path: '/', method: 'GET', peerPrincipal });
    const clientUri = new crypto.X509Certificate(client.chain[0]!).subjectAltName!.replace(/^URI:/, '');
    assert.equal((await decide(clientUri)).status, 200, 'the old-root workload in the aliased trust domain');
    assert.equal((await decide('spiffe://cluster.local/ns/shop/sa/productpage')).status, 200);
    assert.equal((await decide('spiffe://evil.local/ns/shop/sa/productpage')).status, 403);
    for (const ca of [oldCa, newCa]) void ca.close();
  });
});
