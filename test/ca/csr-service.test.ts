import { after, before, describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import { CA_FILES, CertificateAuthority } from '../../src/ca/authority.js';
import { certificateServiceClient, MAX_CSR_BYTES, type IstioCertificateResponse } from '../../src/ca/csr-service.js';
import { signJwt } from '../../src/ca/jwt.js';
import { createCsr, generateKeyPair } from '../../src/ca/x509.js';
import { Daemon } from '../../src/daemon.js';
import { lookupType, jsonToStruct } from '../../src/envoy/protos.js';
import { TYPE } from '../../src/xds/resource-types.js';
import { FakeApiServer } from '../kube-fixture/server.js';
import { opensslAsync, opensslVerify } from '../support/openssl.js';

// IstioCertificateService/CreateCertificate and xDS on the TLS port, through real gRPC over TLS against
// an in-process daemon: Kubernetes TokenReview (the API-server fixture), locally verified service-account
// JWTs (config-dir mode), client-certificate renewal, and every refusal with its gRPC status.

const SERVING_NAME = 'istiod.istio-system.svc';
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'meshd-csr-'));
const caDir = path.join(tmp, 'ca');
const jwtKey = generateKeyPair('rsa');
const jwtKeyFile = path.join(tmp, 'sa-issuer.pub.pem');
fs.writeFileSync(jwtKeyFile, jwtKey.publicKey.export({ type: 'spki', format: 'pem' }));
const otherKey = generateKeyPair('rsa').privateKey;

const now = () => Math.floor(Date.now() / 1000);
function saToken(ns: string, sa: string, over: Record<string, unknown> = {}, key = jwtKey.privateKey): string {
  return signJwt({ iss: 'https://kubernetes.default.svc.cluster.local', sub: `system:serviceaccount:${ns}:${sa}`, aud: ['istio-ca'], exp: now() + 600, iat: now(), ...over }, key);
}

const logLines: string[] = [];
const log = pino(
  { level: 'debug' },
  new Writable({
    write(chunk, _enc, cb) {
      logLines.push(String(chunk));
      cb();
    },
  }),
);

const apiServer = new FakeApiServer({
  tokenReviews: {
    'kube-token-hello': { username: 'system:serviceaccount:default:hello', audiences: ['istio-ca'] },
    'kube-token-wrong-aud': { username: 'system:serviceaccount:default:hello', audiences: ['https://kubernetes.default.svc'] },
    'kube-token-user': { username: 'alice', audiences: ['istio-ca'] },
  },
});

let daemon: Daemon;
let secureAddr = '';
let rootPem = '';

interface Creds {
  token?: string;
  clientKey?: string;
  clientCert?: string;
}

function client(creds: Creds = {}): grpc.Client {
  const Client = certificateServiceClient();
  const ssl = grpc.credentials.createSsl(
    Buffer.from(rootPem),
    creds.clientKey ? Buffer.from(creds.clientKey) : null,
    creds.clientCert ? Buffer.from(creds.clientCert) : null,
  );
  return new Client(secureAddr, ssl, { 'grpc.ssl_target_name_override': SERVING_NAME, 'grpc.default_authority': SERVING_NAME });
}

interface CallOutcome {
  code: grpc.status;
  details: string;
  chain?: string[];
}

function createCertificate(creds: Creds, csr: string, validity = 0): Promise<CallOutcome> {
  const c = client(creds);
  const md = new grpc.Metadata();
  if (creds.token !== undefined) md.set('authorization', `Bearer ${creds.token}`);
  return new Promise((resolve) => {
    (c as unknown as Record<string, Function>).CreateCertificate!(
      { csr, validity_duration: validity },
      md,
      { deadline: Date.now() + 10_000 },
      (err: grpc.ServiceError | null, res?: IstioCertificateResponse) => {
        c.close();
        if (err) resolve({ code: err.code, details: err.details });
        else resolve({ code: grpc.status.OK, details: '', chain: res?.cert_chain });
      },
    );
  });
}

function csrFor(ns: string, sa: string, type: 'rsa' | 'ec' = 'ec') {
  const { privateKey } = generateKeyPair(type);
  return { key: privateKey, keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, csr: createCsr(privateKey, { uris: [`spiffe://cluster.local/ns/${ns}/sa/${sa}`] }) };
}

async function metric(name: string): Promise<number> {
  const text = await daemon.metrics.registry.getSingleMetricAsString(name);
  const line = text.split('\n').find((l) => l.startsWith(name) && !l.startsWith('#'));
  return line ? Number(line.split(' ').pop()) : 0;
}

before(async () => {
  const apiUrl = await apiServer.start();
  const configDir = path.join(tmp, 'config');
  fs.mkdirSync(configDir);
  daemon = new Daemon({
    configDir,
    grpcAddr: '127.0.0.1:0',
    monitoringAddr: '127.0.0.1:0',
    httpAddr: '127.0.0.1:0',
    debounce: { quietMs: 20, maxMs: 1000 },
    log,
    security: { addr: '127.0.0.1:0', caDir, tokenReview: { url: apiUrl }, jwtPublicKeysFile: jwtKeyFile, extraDnsNames: ['meshd.local'] },
  });
  const addrs = await daemon.start();
  secureAddr = addrs.secureGrpcAddr!;
  rootPem = fs.readFileSync(path.join(caDir, CA_FILES.root), 'utf8');
});

after(async () => {
  await daemon.stop(1000);
  await apiServer.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('CreateCertificate on the TLS port', () => {
  it('serves TLS with a CA-issued certificate for istiod.istio-system.svc (+ --ca-dns-names)', async () => {
    const { status, out } = await opensslAsync(['s_client', '-connect', secureAddr, '-servername', SERVING_NAME, '-alpn', 'h2', '-CAfile', path.join(caDir, CA_FILES.root), '-verify_return_error', '-brief'], '');
    assert.equal(status, 0, out);
    assert.match(out, /Verification: OK/);
    const shown = await opensslAsync(['s_client', '-connect', secureAddr, '-servername', SERVING_NAME, '-alpn', 'h2']);
    const serving = new crypto.X509Certificate(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(shown.out)![0]);
    assert.equal(serving.subjectAltName, 'DNS:istiod.istio-system.svc, DNS:meshd.local');
  });

  it('issues a certificate for a Kubernetes token checked by TokenReview (audience istio-ca)', async () => {
    const before = await metric('citadel_server_success_cert_issuance_count');
    const { csr, key } = csrFor('default', 'hello', 'rsa');
    const r = await createCertificate({ token: 'kube-token-hello' }, csr, 3600);
    assert.equal(r.code, grpc.status.OK, r.details);
    assert.equal(r.chain!.length, 2);
    assert.equal(r.chain![1], rootPem, 'root last');
    const leaf = new crypto.X509Certificate(r.chain![0]!);
    assert.equal(leaf.subjectAltName, 'URI:spiffe://cluster.local/ns/default/sa/hello');
    assert.ok(leaf.checkPrivateKey(key));
    assert.ok(Math.abs(Date.parse(leaf.validTo) - Date.parse(leaf.validFrom) - 3600e3) <= 1000);
    const v = opensslVerify(r.chain!, tmp);
    assert.equal(v.status, 0, v.out);
    assert.equal(await metric('citadel_server_success_cert_issuance_count'), before + 1);
    const tr = apiServer.requests.filter((q) => q.resource === 'tokenreviews');
    assert.ok(tr.length >= 1, 'the API server saw a TokenReview');
  });

  it('issues for a locally verified service-account JWT (config-dir mode), default TTL 24h', async () => {
    const { csr } = csrFor('ns1', 'app');
    const r = await createCertificate({ token: saToken('ns1', 'app') }, csr);
    assert.equal(r.code, grpc.status.OK, r.details);
    const leaf = new crypto.X509Certificate(r.chain![0]!);
    assert.equal(leaf.subjectAltName, 'URI:spiffe://cluster.local/ns/ns1/sa/app');
    assert.ok(Math.abs(Date.parse(leaf.validTo) - Date.parse(leaf.validFrom) - 24 * 3600e3) <= 1000);
    assert.equal(opensslVerify(r.chain!, tmp).status, 0);
  });

  it('renews with the client certificate it issued (mTLS peer identity), no token', async () => {
    const first = csrFor('ns2', 'renewer');
    const r1 = await createCertificate({ token: saToken('ns2', 'renewer') }, first.csr, 600);
    assert.equal(r1.code, grpc.status.OK, r1.details);
    const second = csrFor('ns2', 'renewer');
    const r2 = await createCertificate({ clientKey: first.keyPem, clientCert: r1.chain!.slice(0, -1).join('') }, second.csr, 600);
    assert.equal(r2.code, grpc.status.OK, r2.details);
    assert.equal(new crypto.X509Certificate(r2.chain![0]!).subjectAltName, 'URI:spiffe://cluster.local/ns/ns2/sa/renewer');
    // the renewal cannot switch identity
    const other = csrFor('ns2', 'somebody-else');
    const r3 = await createCertificate({ clientKey: first.keyPem, clientCert: r1.chain![0]! }, other.csr, 600);
    assert.equal(r3.code, grpc.status.PERMISSION_DENIED);
  });

  describe('refusals: the right status and no certificate', () => {
    const { csr: helloCsr } = csrFor('default', 'hello');
    const cases: [string, () => Promise<CallOutcome>, grpc.status, RegExp][] = [
      ['no token', () => createCertificate({}, helloCsr), grpc.status.UNAUTHENTICATED, /no credential/],
      ['malformed authorization header', () => createCertificate({ token: '' }, helloCsr), grpc.status.UNAUTHENTICATED, /Bearer/],
      ['malformed token', () => createCertificate({ token: 'not.a-jwt' }, helloCsr), grpc.status.UNAUTHENTICATED, /malformed token/],
      ['expired token', () => createCertificate({ token: saToken('default', 'hello', { exp: now() - 3600 }) }, helloCsr), grpc.status.UNAUTHENTICATED, /expired/],
      ['wrong audience (JWT)', () => createCertificate({ token: saToken('default', 'hello', { aud: ['kubernetes'] }) }, helloCsr), grpc.status.UNAUTHENTICATED, /audience/],
      ['wrong audience (TokenReview)', () => createCertificate({ token: 'kube-token-wrong-aud' }, helloCsr), grpc.status.UNAUTHENTICATED, /invalid for the target audiences/],
      ['not a service account (TokenReview)', () => createCertificate({ token: 'kube-token-user' }, helloCsr), grpc.status.UNAUTHENTICATED, /not a service account/],
      ['untrusted signing key', () => createCertificate({ token: saToken('default', 'hello', {}, otherKey) }, helloCsr), grpc.status.UNAUTHENTICATED, /signature/],
      ['token for SA X, CSR names SA Y', () => createCertificate({ token: saToken('default', 'x') }, csrFor('default', 'y').csr), grpc.status.PERMISSION_DENIED, /not authorized to request a certificate for spiffe:\/\/cluster.local\/ns\/default\/sa\/y/],
      ['token for namespace A, CSR names namespace B', () => createCertificate({ token: 'kube-token-hello' }, csrFor('kube-system', 'hello').csr), grpc.status.PERMISSION_DENIED, /not authorized/],
      ['empty CSR', () => createCertificate({ token: saToken('default', 'hello') }, ''), grpc.status.INVALID_ARGUMENT, /csr is empty/],
      ['malformed CSR', () => createCertificate({ token: saToken('default', 'hello') }, '-----BEGIN CERTIFICATE REQUEST-----\nMIIBIjANBgkqhkiG9w0BAQ\n-----END CERTIFICATE REQUEST-----\n'), grpc.status.INVALID_ARGUMENT, /malformed CSR|truncated/],
      ['oversized CSR', () => createCertificate({ token: saToken('default', 'hello') }, helloCsr + 'x'.repeat(MAX_CSR_BYTES)), grpc.status.INVALID_ARGUMENT, /larger than/],
      ['TTL above the 90-day maximum', () => createCertificate({ token: saToken('default', 'hello') }, helloCsr, 91 * 24 * 3600), grpc.status.INVALID_ARGUMENT, /greater than the max allowed TTL/],
      ['negative TTL', () => createCertificate({ token: saToken('default', 'hello') }, helloCsr, -5), grpc.status.INVALID_ARGUMENT, /non-negative/],
    ];
    for (const [name, run, code, message] of cases) {
      it(name, async () => {
        const r = await run();
        assert.equal(grpc.status[r.code], grpc.status[code], `${name}: ${r.details}`);
        assert.match(r.details, message);
        assert.equal(r.chain, undefined, 'no certificate');
      });
    }
  });

  it('answers INTERNAL with no certificate when signing fails, counts it as a sign error, and recovers', async () => {
    const signErrors = async () => {
      const text = await daemon.metrics.registry.getSingleMetricAsString('citadel_server_csr_sign_err_count');
      return Number(/error="sign"\} (\d+)/.exec(text)?.[1] ?? 0);
    };
    const [errorsBefore, issuedBefore] = [await signErrors(), await metric('citadel_server_success_cert_issuance_count')];
    // the CA's key becomes unusable for one request (a plugged key file half-rewritten, an HSM gone)
    const sign = mock.method(CertificateAuthority.prototype, 'sign');
    sign.mock.mockImplementationOnce(async () => {
      throw new Error('the signing key is unavailable');
    });
    try {
      const r = await createCertificate({ token: saToken('default', 'hello') }, csrFor('default', 'hello').csr);
      assert.equal(grpc.status[r.code], grpc.status[grpc.status.INTERNAL], r.details);
      assert.match(r.details, /^signing failed: the signing key is unavailable$/);
      assert.equal(r.chain, undefined, 'no certificate');
      assert.equal(sign.mock.callCount(), 1);
    } finally {
      sign.mock.restore();
    }
    assert.equal(await signErrors(), errorsBefore + 1);
    assert.equal(await metric('citadel_server_success_cert_issuance_count'), issuedBefore);
    assert.ok(logLines.some((l) => l.includes('CSR refused') && l.includes('signing failed: the signing key is unavailable')));
    const again = await createCertificate({ token: saToken('default', 'hello') }, csrFor('default', 'hello').csr);
    assert.equal(again.code, grpc.status.OK, again.details);
    assert.equal(await metric('citadel_server_success_cert_issuance_count'), issuedBefore + 1);
  });

  it('counts CSRs, authentication failures and sign errors (citadel_* metrics)', async () => {
    assert.ok((await metric('citadel_server_csr_count')) >= 15);
    assert.ok((await metric('citadel_server_authentication_failure_count')) >= 8);
    const signErrs = await daemon.metrics.registry.getSingleMetricAsString('citadel_server_csr_sign_err_count');
    assert.match(signErrs, /error="identity"/);
    assert.match(signErrs, /error="ttl"/);
    const expiry = await metric('citadel_server_root_cert_expiry_seconds');
    assert.ok(expiry > 9.9 * 365 * 24 * 3600 && expiry <= 10 * 365 * 24 * 3600, `root expiry ${expiry}`);
  });

  it('never logs key material or tokens', () => {
    const all = logLines.join('');
    assert.ok(logLines.length > 10);
    assert.doesNotMatch(all, /PRIVATE KEY|BEGIN CERTIFICATE REQUEST/);
    assert.doesNotMatch(all, /kube-token-hello|eyJ/);
    assert.equal(fs.statSync(path.join(caDir, CA_FILES.key)).mode & 0o777, 0o600);
  });
});

describe('xDS on the TLS port', () => {
  const reqType = lookupType('envoy.service.discovery.v3.DiscoveryRequest');
  const resType = lookupType('envoy.service.discovery.v3.DiscoveryResponse');
  function ads(creds: Creds, namespace: string, serviceAccount?: string): Promise<{ code: grpc.status; details: string; responses: number }> {
    const c = client(creds);
    const md = new grpc.Metadata();
    if (creds.token) md.set('authorization', `Bearer ${creds.token}`);
    const stream = c.makeBidiStreamRequest(
      '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources',
      (r: object) => Buffer.from(reqType.encode(reqType.fromObject(r)).finish()),
      (b: Buffer) => resType.decode(b),
      md,
    );
    const node = {
      id: `sidecar~127.0.0.1~pod-1.${namespace}~${namespace}.svc.cluster.local`,
      metadata: jsonToStruct({ GENERATOR: 'grpc', NAMESPACE: namespace, ...(serviceAccount ? { SERVICE_ACCOUNT: serviceAccount } : {}) }),
    };
    stream.write({ type_url: TYPE.LDS, resource_names: ['xds.istio.io/grpc/lds/inbound/127.0.0.1:9999'], node });
    let responses = 0;
    // a served stream answers (first response: done); a refused one ends with an error; the timer only
    // catches a stream that does neither
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        stream.cancel();
        c.close();
        resolve({ code: grpc.status.OK, details: '', responses });
      };
      const timer = setTimeout(done, 60_000);
      stream.on('data', () => {
        responses++;
        done();
      });
      stream.on('error', (e: grpc.ServiceError) => {
        clearTimeout(timer);
        c.close();
        resolve({ code: e.code, details: e.details, responses });
      });
    });
  }

  it('serves a proxy whose token holds its namespace', async () => {
    const r = await ads({ token: saToken('default', 'hello') }, 'default', 'hello');
    assert.equal(r.code, grpc.status.OK, r.details);
    assert.ok(r.responses >= 1);
  });

  it('serves a proxy presenting its mesh certificate', async () => {
    const k = csrFor('ns3', 'app');
    const issued = await createCertificate({ token: saToken('ns3', 'app') }, k.csr, 600);
    const r = await ads({ clientKey: k.keyPem, clientCert: issued.chain![0]! }, 'ns3');
    assert.equal(r.code, grpc.status.OK, r.details);
    assert.ok(r.responses >= 1);
  });

  it('refuses a proxy claiming a namespace its token does not hold', async () => {
    const r = await ads({ token: saToken('default', 'hello') }, 'kube-system');
    assert.equal(r.code, grpc.status.PERMISSION_DENIED, r.details);
    assert.match(r.details, /may not receive configuration for namespace kube-system/);
    assert.equal(r.responses, 0);
  });

  it('refuses a proxy claiming a namespace its certificate does not hold', async () => {
    const k = csrFor('ns4', 'app');
    const issued = await createCertificate({ token: saToken('ns4', 'app') }, k.csr, 600);
    const r = await ads({ clientKey: k.keyPem, clientCert: issued.chain![0]! }, 'default');
    assert.equal(r.code, grpc.status.PERMISSION_DENIED, r.details);
    assert.equal(r.responses, 0);
  });

  it('refuses a proxy claiming another service account', async () => {
    const r = await ads({ token: saToken('default', 'hello') }, 'default', 'admin');
    assert.equal(r.code, grpc.status.PERMISSION_DENIED, r.details);
  });

  it('refuses an unauthenticated stream', async () => {
    const r = await ads({}, 'default');
    assert.equal(r.code, grpc.status.UNAUTHENTICATED, r.details);
    const bad = await ads({ token: saToken('default', 'hello', { exp: now() - 3600 }) }, 'default');
    assert.equal(bad.code, grpc.status.UNAUTHENTICATED, bad.details);
  });
});
