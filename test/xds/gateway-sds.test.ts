import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { inspect } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { ConfigStore } from '../../src/config/store.js';
import { SecretStore } from '../../src/config/secrets.js';
import { validateDocument } from '../../src/config/validate.js';
import { PushContext } from '../../src/model/push-context.js';
import { silentLogger } from '../../src/telemetry/log.js';
import { Metrics } from '../../src/telemetry/metrics.js';
import { DiscoveryServer } from '../../src/xds/server.js';
import { TYPE } from '../../src/xds/resource-types.js';
import { createRouterGenerator } from '../../src/xds/generators/router/index.js';
import type { AccessDecision, SecretReadAuthorizer, VerifiedIdentity } from '../../src/xds/secret-access.js';
import { RawAdsClient, RawDeltaClient, type Response } from '../support/ads-client.js';

// Gateway certificates over SDS through the real ADS server (both protocols): served only on a stream whose
// identity was verified (the TLS port's guard), only Secrets of that identity's namespace, certificates only
// when the authorizer (SubjectAccessReview in Kubernetes mode) allows the service account; `-cacert`
// bundles without it. A Secret change reaches only the gateways that read it.

const CREDENTIALS = path.resolve(import.meta.dirname, '..', 'fixtures', 'gateway-credentials');
const pem = (f: string) => fs.readFileSync(path.join(CREDENTIALS, f), 'utf8');
const b64 = (text: string) => Buffer.from(text).toString('base64');
const origin = { source: 'memory', label: 'test' } as const;
const NS = 'istio-system';
const GATEWAY_SA = 'istio-ingressgateway-service-account';

function tlsSecret(name: string, namespace: string, cert: string, key: string): Record<string, unknown> {
  return { apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls', metadata: { name, namespace }, data: { 'tls.crt': b64(cert), 'tls.key': b64(key), 'ca.crt': b64(pem('example-ca.crt')) } };
}

const CONFIG = [
  { apiVersion: 'v1', kind: 'Service', metadata: { name: 'istio-ingressgateway', namespace: NS }, spec: { clusterIP: '10.96.1.1', selector: { istio: 'ingressgateway' }, ports: [{ name: 'https', port: 443, targetPort: 8443 }] } },
  {
    apiVersion: 'networking.istio.io/v1', kind: 'Gateway', metadata: { name: 'gw', namespace: NS },
    spec: {
      selector: { istio: 'ingressgateway' },
      servers: [
        { port: { number: 443, name: 'https-bookinfo', protocol: 'HTTPS' }, tls: { mode: 'SIMPLE', credentialName: 'bookinfo-credential' }, hosts: ['bookinfo.example.com'] },
        { port: { number: 443, name: 'https-hello', protocol: 'HTTPS' }, tls: { mode: 'MUTUAL', credentialName: 'hello-credential' }, hosts: ['helloworld.example.com'] },
      ],
    },
  },
];

const identities: Record<string, VerifiedIdentity> = {
  gateway: { namespace: NS, serviceAccount: GATEWAY_SA, identity: `spiffe://cluster.local/ns/${NS}/sa/${GATEWAY_SA}` },
  // a workload of the same namespace whose service account may not read Secrets
  intruder: { namespace: NS, serviceAccount: 'intruder', identity: `spiffe://cluster.local/ns/${NS}/sa/intruder` },
};

/** The authorizer stand-in: asynchronous like a SubjectAccessReview, counting its questions. */
class FakeAuthorizer implements SecretReadAuthorizer {
  asked = 0;
  private readonly answers = new Map<string, AccessDecision>();
  cached(id: VerifiedIdentity): AccessDecision | undefined {
    return this.answers.get(id.serviceAccount);
  }
  async check(id: VerifiedIdentity): Promise<AccessDecision> {
    this.asked++;
    await new Promise((r) => setTimeout(r, 5));
    const d = id.serviceAccount === GATEWAY_SA ? { allowed: true } : { allowed: false, reason: `${id.serviceAccount}/${id.namespace} is not authorized to read secrets: no RBAC` };
    this.answers.set(id.serviceAccount, d);
    return d;
  }
}

const NODE = { id: `router~10.1.1.10~istio-ingressgateway-abcde.${NS}~${NS}.svc.cluster.local`, metadata: { NAMESPACE: NS, LABELS: { istio: 'ingressgateway' }, ISTIO_VERSION: '1.24.0' } };

function secretsOf(r: Response, client: RawAdsClient): Map<string, Record<string, any>> { // eslint-disable-line @typescript-eslint/no-explicit-any
  return new Map(client.decode(r).map((s) => [String(s.name), s]));
}

const chainOf = (s: Record<string, any>) => Buffer.from(s.tls_certificate.certificate_chain.inline_bytes).toString('utf8'); // eslint-disable-line @typescript-eslint/no-explicit-any

describe('gateway SDS over ADS: identity, namespace, SubjectAccessReview, pushes', () => {
  const store = new ConfigStore();
  const secrets = new SecretStore();
  const authorizer = new FakeAuthorizer();
  const metrics = new Metrics();
  const ds = new DiscoveryServer({ log: silentLogger, metrics, generators: { router: createRouterGenerator() }, secretAccess: authorizer });
  const guarded = new grpc.Server();
  const plain = new grpc.Server();
  let guardedAddr = '';
  let plainAddr = '';
  const clients: { close(): void }[] = [];
  let version = 0;
  const push = () => ds.push(new PushContext(store, `v${++version}`, undefined, { secrets: secrets.snapshot() }));

  before(async () => {
    for (const doc of CONFIG) {
      const r = validateDocument(doc);
      assert.ok(r.ok);
      store.upsert(r.value.kind, r.value.object, origin, 't');
    }
    assert.equal(secrets.apply(tlsSecret('bookinfo-credential', NS, pem('bookinfo.example.com.crt'), pem('bookinfo.example.com.key'))), undefined);
    assert.equal(secrets.apply(tlsSecret('hello-credential', NS, pem('helloworld.example.com.crt'), pem('helloworld.example.com.key'))), undefined);
    assert.equal(secrets.apply(tlsSecret('elsewhere', 'default', pem('bookinfo.example.com.crt'), pem('bookinfo.example.com.key'))), undefined);
    ds.register(guarded, async (call) => {
      const who = String(call.metadata.get('authorization')[0] ?? '').replace(/^Bearer /, '');
      const identity = identities[who];
      if (!identity) throw Object.assign(new Error('no valid token'), { code: grpc.status.UNAUTHENTICATED });
      return { identity, check: (p) => (p.namespace === identity.namespace ? undefined : `not ${p.namespace}`) };
    });
    ds.register(plain);
    const bind = (s: grpc.Server) => new Promise<number>((res, rej) => s.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
    guardedAddr = `127.0.0.1:${await bind(guarded)}`;
    plainAddr = `127.0.0.1:${await bind(plain)}`;
    push();
  });
  after(() => {
    for (const c of clients) c.close();
    guarded.forceShutdown();
    plain.forceShutdown();
  });

  const sotw = (addr: string, who?: string) => {
    const md = new grpc.Metadata();
    if (who) md.set('authorization', `Bearer ${who}`);
    const c = new RawAdsClient(addr, { metadata: md });
    clients.push(c);
    return c;
  };
  const WANTED = ['kubernetes://bookinfo-credential', 'kubernetes://hello-credential', 'kubernetes://hello-credential-cacert'];

  it('the listener names kubernetes:// secrets over ADS; the verified gateway receives them with the Secret\'s own bytes', async () => {
    const c = sotw(guardedAddr, 'gateway');
    c.send({ type_url: TYPE.LDS, node: NODE });
    const lds = await c.next((r) => r.type_url === TYPE.LDS);
    // (the names sit inside the listener's nested Any messages: look at the bytes)
    const bytes = Buffer.concat(lds.resources.map((x) => Buffer.from(x.value))).toString('latin1');
    for (const n of WANTED) assert.ok(bytes.includes(n), `LDS names ${n}`);
    c.send({ type_url: TYPE.SDS, resource_names: WANTED });
    const r = await c.next((x) => x.type_url === TYPE.SDS && x.resources.length > 0);
    const got = secretsOf(r, c);
    assert.deepEqual([...got.keys()].sort(), WANTED);
    assert.equal(chainOf(got.get('kubernetes://bookinfo-credential')!), pem('bookinfo.example.com.crt'));
    assert.equal(Buffer.from(got.get('kubernetes://bookinfo-credential')!.tls_certificate.private_key.inline_bytes).toString(), pem('bookinfo.example.com.key'));
    assert.equal(Buffer.from(got.get('kubernetes://hello-credential-cacert')!.validation_context.trusted_ca.inline_bytes).toString(), pem('example-ca.crt'));
    assert.equal(authorizer.asked, 1, 'one SubjectAccessReview for the service account');
    c.ack(r);
  });

  it('a Secret rotation pushes the new certificate to the gateway reading it; a change to another Secret pushes nothing', async () => {
    const c = sotw(guardedAddr, 'gateway');
    c.send({ type_url: TYPE.SDS, node: NODE, resource_names: ['kubernetes://bookinfo-credential'] });
    const first = await c.next((x) => x.type_url === TYPE.SDS && x.resources.length > 0);
    c.ack(first);
    // another Secret (another gateway's) changes: nothing for this stream
    secrets.apply(tlsSecret('hello-credential', NS, pem('bookinfo.example.com.crt'), pem('bookinfo.example.com.key')));
    push();
    await ds.settled();
    await c.quiet(TYPE.SDS, 200);
    // its own Secret is rotated (helloworld's certificate now): the new one is pushed
    secrets.apply(tlsSecret('bookinfo-credential', NS, pem('helloworld.example.com.crt'), pem('helloworld.example.com.key')));
    push();
    const rotated = await c.next((x) => x.type_url === TYPE.SDS && x.nonce !== first.nonce);
    assert.equal(chainOf(secretsOf(rotated, c).get('kubernetes://bookinfo-credential')!), pem('helloworld.example.com.crt'));
  });

  it('Delta: the same secrets, named and versioned', async () => {
    const md = new grpc.Metadata();
    md.set('authorization', 'Bearer gateway');
    const c = new RawDeltaClient(guardedAddr, { metadata: md });
    clients.push(c);
    c.send({ type_url: TYPE.SDS, node: NODE, resource_names_subscribe: ['kubernetes://bookinfo-credential', 'kubernetes://hello-credential-cacert'] });
    const r = await c.next((x) => x.type_url === TYPE.SDS);
    assert.deepEqual(r.resources.map((x) => x.name).sort(), ['kubernetes://bookinfo-credential', 'kubernetes://hello-credential-cacert']);
  });

  it('the plaintext port serves no secret at all', async () => {
    const before = metrics.sdsCertificateErrors;
    const c = sotw(plainAddr);
    c.send({ type_url: TYPE.SDS, node: NODE, resource_names: WANTED });
    const r = await c.next((x) => x.type_url === TYPE.SDS).catch(() => undefined);
    assert.ok(!r || r.resources.length === 0, 'no secret on 15010');
    assert.ok((await before.get()).values[0]!.value >= 1, 'pilot_sds_certificate_errors_total counts the refusal');
  });

  it('a Secret of another namespace is refused, even to the verified gateway', async () => {
    const c = sotw(guardedAddr, 'gateway');
    c.send({ type_url: TYPE.SDS, node: NODE, resource_names: ['kubernetes://default/elsewhere', 'kubernetes://bookinfo-credential'] });
    const r = await c.next((x) => x.type_url === TYPE.SDS);
    assert.deepEqual([...secretsOf(r, c).keys()], ['kubernetes://bookinfo-credential']);
  });

  it('a service account the API server does not allow gets CA bundles, never a private key', async () => {
    const c = sotw(guardedAddr, 'intruder');
    c.send({ type_url: TYPE.SDS, node: NODE, resource_names: WANTED });
    const r = await c.next((x) => x.type_url === TYPE.SDS && x.resources.length > 0);
    assert.deepEqual([...secretsOf(r, c).keys()], ['kubernetes://hello-credential-cacert']);
  });
});

describe('credential Secrets are never printed', () => {
  it('util.inspect, JSON and refusal reasons show names, keys and sizes only', () => {
    const secrets = new SecretStore();
    const key = pem('bookinfo.example.com.key');
    secrets.apply(tlsSecret('c', NS, pem('bookinfo.example.com.crt'), key));
    const s = secrets.snapshot().get(`${NS}/c`)!;
    for (const shown of [inspect(s), JSON.stringify(s), JSON.stringify(secrets), inspect(secrets.snapshot())]) {
      assert.ok(!shown.includes('PRIVATE KEY') && !shown.includes(b64(key).slice(0, 40)), shown);
      assert.match(shown, /tls\.key/);
    }
    const reason = secrets.apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'bad', namespace: NS }, data: { 'tls.key': `${b64(key)}!!` } });
    assert.equal(reason, 'data.tls.key: not base64');
  });

  it('is bounded: Secrets over the count or size are not held, and say so', () => {
    const refused: string[] = [];
    const secrets = new SecretStore({ maxSecrets: 2, maxBytesPerSecret: 1000 }, { onRefused: (_ns, name, reason) => refused.push(`${name}: ${reason}`) });
    const small = (name: string, bytes = 10) => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: NS }, data: { x: b64('a'.repeat(bytes)) } });
    assert.equal(secrets.apply(small('a')), undefined);
    assert.equal(secrets.apply(small('b')), undefined);
    assert.match(secrets.apply(small('c')) ?? '', /more than the 2 held/);
    assert.match(secrets.apply(small('a', 2000)) ?? '', /more than the 1000 allowed per Secret/);
    assert.equal(secrets.size, 1, 'a replaced Secret that cannot be held is not served in its old form either');
    assert.equal(refused.length, 2);
  });
});
