import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { CertificateAuthority, createSelfSignedRoot } from '../../src/ca/authority.js';
import { JwksResolver, isBlockedJwksAddress } from '../../src/security/jwt/jwks-resolver.js';
import { jwksSourceKey } from '../../src/model/push-context.js';
import { PUBLIC_ONLY_JWKS } from '../../src/security/jwt/fake-jwks.js';
import { Daemon } from '../../src/daemon.js';
import { sidecarInboundSecurity } from '../../src/security/sidecar.js';
import { parseProxy } from '../../src/model/proxy.js';
import { validateDocument } from '../../src/config/validate.js';
import { silentLogger } from '../../src/telemetry/log.js';

// meshd's JWKS fetching against a real local HTTPS server: fetched and cached, refreshed (a key rotation
// reaches the snapshot; an unchanged set does not trigger a push), OpenID discovery from the issuer, an
// unreachable or invalid source leaves the fake key in place (tokens rejected), a failed refresh keeps the
// last good keys, blocked addresses are refused, and the daemon's push never waits for a fetch.

const log = silentLogger;

const jwks = (kid: string) => JSON.stringify({ keys: [{ kty: 'EC', crv: 'P-256', kid, x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0' }] });

let server: https.Server;
let base = '';
let rootPem = '';
let body = jwks('k1');
let status = 200;
let hangs = false;
const hung: import('node:http').ServerResponse[] = [];
let jwksHits = 0;

before(async () => {
  const ca = CertificateAuthority.fromPems({ trustDomain: 'test', log, source: 'test' }, createSelfSignedRoot({ trustDomain: 'test', keyType: 'ec' }));
  rootPem = ca.rootPem;
  const serving = await ca.issueServing(['localhost'], 3600_000);
  server = https.createServer({ cert: serving.certChainPem, key: serving.keyPem }, (req, res) => {
    if (hangs) {
      hung.push(res);
      return;
    }
    if (req.url === '/.well-known/openid-configuration') {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ issuer: base, jwks_uri: `${base}/keys` }));
      return;
    }
    if (req.url === '/keys') {
      jwksHits++;
      res.statusCode = status;
      res.end(body);
      return;
    }
    res.statusCode = 404;
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, 'localhost', r));
  base = `https://localhost:${(server.address() as AddressInfo).port}`;
});

after(() => {
  for (const r of hung) r.destroy();
  server.close();
  server.closeAllConnections();
});

/**
 * The fetch timeout the tests give their sources: long enough to only catch a hang (a TLS handshake on a
 * busy machine can take seconds). Failures the tests provoke never wait for it: refused connections,
 * blocked addresses and HTTP errors fail at once.
 */
const HANG_ONLY_MS = 120_000;

function resolver(onChange: () => void = () => {}): JwksResolver {
  return new JwksResolver({ log, onChange, extraCaPem: rootPem });
}

async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('JWKS resolver (local HTTPS server)', () => {
  it('fetches in the background, caches, and a key rotation reaches the snapshot on refresh', async () => {
    body = jwks('k1');
    status = 200;
    let changes = 0;
    const r = resolver(() => changes++);
    const key = jwksSourceKey('issuer-a', `${base}/keys`);
    r.sync([{ issuer: 'issuer-a', jwksUri: `${base}/keys`, timeoutMs: HANG_ONLY_MS }]);
    assert.equal(r.snapshot().get(key), undefined, 'sync returns before the fetch lands');
    await r.settled();
    assert.equal(r.snapshot().get(key), jwks('k1'));
    assert.equal(changes, 1);
    const before = r.snapshot();
    // the same keys again: no new snapshot, no push
    await r.refreshAll();
    assert.equal(changes, 1);
    assert.equal(r.snapshot(), before);
    // rotated at the source
    body = jwks('k2');
    await r.refreshAll();
    assert.equal(r.snapshot().get(key), jwks('k2'));
    assert.equal(changes, 2);
    assert.notEqual(r.snapshot(), before, 'a new immutable map');
    r.stop();
  });

  it('OpenID discovery when only the issuer is given', async () => {
    body = jwks('disc');
    const r = resolver();
    r.sync([{ issuer: base, jwksUri: '', timeoutMs: HANG_ONLY_MS }]);
    await r.settled();
    assert.equal(r.snapshot().get(jwksSourceKey(base, '')), jwks('disc'));
    r.stop();
  });

  it('unreachable server → nothing fetched (generators inline the fake JWKS); the failure is in status()', async () => {
    const r = resolver();
    const uri = `https://127.0.0.1:${await closedPort()}/keys`;
    r.sync([{ issuer: 'down', jwksUri: uri, timeoutMs: HANG_ONLY_MS }]);
    await r.settled();
    assert.equal(r.snapshot().get(jwksSourceKey('down', uri)), undefined);
    assert.match(r.status()[0]!.lastError ?? '', /ECONNREFUSED/);
    r.stop();
  });

  it('a failed refresh (HTTP 500, then an invalid JWKS) keeps the last good keys', async () => {
    body = jwks('good');
    status = 200;
    const r = resolver();
    const key = jwksSourceKey('flaky', `${base}/keys`);
    r.sync([{ issuer: 'flaky', jwksUri: `${base}/keys`, timeoutMs: HANG_ONLY_MS }]);
    await r.settled();
    status = 500;
    await r.refreshAll();
    assert.equal(r.snapshot().get(key), jwks('good'));
    assert.match(r.status()[0]!.lastError ?? '', /HTTP 500/);
    status = 200;
    body = '{"keys":[{"kty":"RSA","n":"!!"}]}';
    await r.refreshAll();
    assert.equal(r.snapshot().get(key), jwks('good'));
    assert.match(r.status()[0]!.lastError ?? '', /jwks parse error/);
    r.stop();
  });

  it('an untrusted server certificate is a failure (no trust beyond the system roots and --jwks-ca-file)', async () => {
    const r = new JwksResolver({ log, onChange: () => {} });
    r.sync([{ issuer: 'x', jwksUri: `${base}/keys`, timeoutMs: HANG_ONLY_MS }]);
    await r.settled();
    assert.equal(r.snapshot().size, 0);
    assert.match(r.status()[0]!.lastError ?? '', /certificate/);
    r.stop();
  });

  it('link-local and cloud-metadata addresses are refused before connecting', async () => {
    assert.ok(isBlockedJwksAddress('169.254.169.254'));
    assert.ok(isBlockedJwksAddress('fe80::1'));
    assert.ok(isBlockedJwksAddress('::ffff:169.254.1.1'));
    assert.ok(!isBlockedJwksAddress('127.0.0.1'));
    assert.ok(!isBlockedJwksAddress('10.0.0.1'));
    const r = resolver();
    r.sync([{ issuer: 'meta', jwksUri: 'http://169.254.169.254/latest/meta-data', timeoutMs: HANG_ONLY_MS }]);
    await r.settled();
    assert.match(r.status()[0]!.lastError ?? '', /blocked/);
    r.stop();
  });

  it('sources no policy names any more are dropped (and that is a new snapshot)', async () => {
    body = jwks('k1');
    status = 200;
    let changes = 0;
    const r = resolver(() => changes++);
    r.sync([{ issuer: 'gone', jwksUri: `${base}/keys`, timeoutMs: HANG_ONLY_MS }]);
    await r.settled();
    r.sync([]);
    assert.equal(r.snapshot().size, 0);
    assert.equal(changes, 2);
    r.stop();
  });
});

describe('the daemon: a JWKS fetch never blocks a push', () => {
  it('the push goes out with the fake key while the server hangs; the fetched keys arrive in a later snapshot', async () => {
    body = jwks('daemon');
    status = 200;
    hangs = true;
    const d = new Daemon({
      grpcAddr: '127.0.0.1:0', monitoringAddr: '127.0.0.1:0', httpAddr: '127.0.0.1:0', debounce: { quietMs: 10, maxMs: 100 }, log,
      jwks: { extraCaPem: rootPem },
    });
    const doc = validateDocument({ apiVersion: 'security.istio.io/v1', kind: 'RequestAuthentication', metadata: { name: 'jwt', namespace: 'foo' }, spec: { jwtRules: [{ issuer: 'daemon-issuer', jwksUri: `${base}/keys`, timeout: '120s' }] } });
    assert.ok(doc.ok);
    d.store.upsert(doc.value.kind, doc.value.object, { source: 'memory', label: 'test' }, 'test');
    const proxy = parseProxy({ id: 'sidecar~10.2.0.5~httpbin-1.foo~foo.svc.cluster.local', metadata: { NAMESPACE: 'foo' } });
    const inlined = (ctx: ReturnType<Daemon['rebuild']>) =>
      ((sidecarInboundSecurity(ctx, proxy, 80).httpFilters[0] as { typed_config: { providers: Record<string, { local_jwks: { inline_string: string } }> } }).typed_config.providers['origins-0']!.local_jwks.inline_string);
    const first = d.rebuild(1, Date.now());
    assert.equal(inlined(first), PUBLIC_ONLY_JWKS);
    assert.equal(d.jwks.status()[0]!.fetched, false, 'the fetch is still in flight');
    // the server answers: the resolver's change builds a new snapshot on its own
    hangs = false;
    for (const r of hung.splice(0)) {
      r.end(body);
    }
    await d.jwks.settled();
    const next = d.rebuild(0, Date.now());
    assert.equal(inlined(next), jwks('daemon'));
    d.jwks.stop();
  });
});
