// A gateway's certificate the way a user sets it up on a cluster: real `kubectl create secret tls` and
// `kubectl apply` of a Gateway + VirtualService against the API-server fixture, a real meshd process in
// Kubernetes mode, and an ingress gateway's xDS stream over TLS on the secure port with its
// service-account token (TokenReview; SubjectAccessReview for reading Secrets). The gateway receives its
// listener and the SDS secret — a key/certificate pair openssl confirms is the Secret's and matches —; a
// `kubectl apply` of a rotated Secret reaches it; a Secret of another namespace, and the plaintext port,
// give nothing.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import YAML from 'yaml';
import { FakeApiServer } from '../kube-fixture/server.js';
import { kubectlFor, type Kubectl } from '../kube-fixture/kubectl.js';
import { startMeshd, type Meshd } from './harness/meshd.js';
import { tempDir, waitUntil } from './harness/util.js';
import { HANG_ONLY_MS } from './harness/secure.js';
import { RawAdsClient, type Response } from '../support/ads-client.js';
import { openssl } from '../support/openssl.js';
import { TYPE } from '../../src/xds/resource-types.js';

const FIXTURES = path.resolve(import.meta.dirname, '..', 'fixtures', 'gateway-credentials');
const NS = 'istio-system';
const GW_SA = 'istio-ingressgateway-service-account';
const NODE = { id: `router~10.1.1.10~istio-ingressgateway-abcde.${NS}~${NS}.svc.cluster.local`, metadata: { NAMESPACE: NS, LABELS: { istio: 'ingressgateway' }, ISTIO_VERSION: '1.24.0', SERVICE_ACCOUNT: GW_SA } };
const CRED = 'kubernetes://bookinfo-credential';
const OTHER_NS = 'kubernetes://default/default-credential';

const yaml = (docs: object[]) => docs.map((d) => YAML.stringify(d)).join('---\n');

describe('gateway certificates over SDS: kubectl → API server → meshd → gateway xDS over TLS', { timeout: HANG_ONLY_MS }, () => {
  const tmp = tempDir('gw-sds');
  const api = new FakeApiServer({
    tokenReviews: {
      'gw-token': { username: `system:serviceaccount:${NS}:${GW_SA}`, audiences: ['istio-ca'] },
    },
    subjectAccess: (r) => ({ allowed: r.user === `system:serviceaccount:${NS}:${GW_SA}` && r.verb === 'list' && r.resource === 'secrets' && r.namespace === NS }),
  });
  let kubectl: Kubectl;
  let meshd: Meshd | undefined;
  const clients: RawAdsClient[] = [];
  let rootPem = '';

  const file = (name: string, docs: object[]) => {
    const f = path.join(tmp.dir, name);
    writeFileSync(f, yaml(docs));
    return f;
  };
  const secureClient = () => {
    const md = new grpc.Metadata();
    md.set('authorization', 'Bearer gw-token');
    const c = new RawAdsClient(meshd!.secureGrpcAddr, {
      metadata: md,
      credentials: grpc.credentials.createSsl(Buffer.from(rootPem)),
      channelOptions: { 'grpc.ssl_target_name_override': 'istiod.istio-system.svc', 'grpc.default_authority': 'istiod.istio-system.svc' },
    });
    clients.push(c);
    return c;
  };
  /** `kubectl create secret tls NAME --cert --key` rendered client-side, then `kubectl apply -f -` (the fixture speaks JSON, not protobuf) */
  const tlsSecret = async (name: string, namespace: string, host: string) => {
    const rendered = await kubectl.run(['create', 'secret', 'tls', name, '-n', namespace, '--cert', path.join(FIXTURES, `${host}.example.com.crt`), '--key', path.join(FIXTURES, `${host}.example.com.key`), '--dry-run=client', '-o', 'yaml']);
    await kubectl.run(['apply', '-f', '-'], rendered);
  };
  const secretOf = (c: RawAdsClient, r: Response, name: string) => c.decode(r).find((s) => s.name === name) as { tls_certificate: { certificate_chain: { inline_bytes: Uint8Array }; private_key: { inline_bytes: Uint8Array } } } | undefined;

  before(async () => {
    const url = await api.start();
    kubectl = kubectlFor({ server: url });
    await tlsSecret('bookinfo-credential', NS, 'bookinfo');
    await tlsSecret('default-credential', 'default', 'helloworld');
    await kubectl.run(['apply', '-f', file('gateway.yaml', [
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'istio-ingressgateway', namespace: NS }, spec: { clusterIP: '10.96.1.1', selector: { istio: 'ingressgateway' }, ports: [{ name: 'https', port: 443, targetPort: 8443 }] } },
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'productpage', namespace: 'default' }, spec: { clusterIP: '10.96.0.10', selector: { app: 'productpage' }, ports: [{ name: 'http', port: 9080 }] } },
      {
        apiVersion: 'networking.istio.io/v1', kind: 'Gateway', metadata: { name: 'bookinfo-gateway', namespace: NS },
        spec: { selector: { istio: 'ingressgateway' }, servers: [{ port: { number: 443, name: 'https', protocol: 'HTTPS' }, tls: { mode: 'SIMPLE', credentialName: 'bookinfo-credential' }, hosts: ['bookinfo.example.com'] }] },
      },
      {
        apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'bookinfo', namespace: 'default' },
        spec: { hosts: ['bookinfo.example.com'], gateways: [`${NS}/bookinfo-gateway`], http: [{ route: [{ destination: { host: 'productpage', port: { number: 9080 } } }] }] },
      },
    ])]);
    const emptyDir = tempDir('gw-sds-empty');
    meshd = await startMeshd({ configDir: emptyDir.dir, extraArgs: ['--kubeconfig', kubectl.kubeconfig] });
    // the mesh root meshd created in its Secret (Kubernetes mode keeps the CA there)
    const caSecret = await waitUntil('istio-ca-secret', async () => api.get('v1', 'Secret', NS, 'istio-ca-secret'), { timeoutMs: 30_000, intervalMs: 200 });
    rootPem = Buffer.from(String((caSecret.data as Record<string, string>)['ca-cert.pem']), 'base64').toString();
  });

  after(async () => {
    for (const c of clients) c.close();
    const code = await meshd?.stop();
    await api.stop();
    kubectl?.cleanup();
    tmp.remove();
    assert.equal(code, 0, 'meshd exits 0 on SIGTERM');
  });

  test('the gateway gets its listener and the Secret over SDS; openssl: the pair matches and is the Secret\'s; a Secret of another namespace is refused', async () => {
    const c = secureClient();
    c.send({ type_url: TYPE.LDS, node: NODE });
    const lds = await c.next((r) => r.type_url === TYPE.LDS && r.resources.length > 0, HANG_ONLY_MS);
    const bytes = Buffer.concat(lds.resources.map((x) => Buffer.from(x.value))).toString('latin1');
    assert.ok(bytes.includes('0.0.0.0_8443') && bytes.includes(CRED), 'listener 0.0.0.0_8443 asks SDS for kubernetes://bookinfo-credential');
    c.ack(lds);
    c.send({ type_url: TYPE.SDS, resource_names: [CRED, OTHER_NS] });
    const sds = await c.next((r) => r.type_url === TYPE.SDS && r.resources.length > 0, HANG_ONLY_MS);
    assert.deepEqual(c.decode(sds).map((s) => s.name), [CRED], 'only its own namespace\'s Secret');
    const s = secretOf(c, sds, CRED)!;
    const certPath = path.join(tmp.dir, 'served.crt');
    const keyPath = path.join(tmp.dir, 'served.key');
    writeFileSync(certPath, Buffer.from(s.tls_certificate.certificate_chain.inline_bytes));
    writeFileSync(keyPath, Buffer.from(s.tls_certificate.private_key.inline_bytes));
    const certKey = openssl(['x509', '-in', certPath, '-noout', '-pubkey']);
    const keyKey = openssl(['pkey', '-in', keyPath, '-pubout']);
    assert.equal(certKey.status, 0, certKey.out);
    assert.equal(keyKey.status, 0, keyKey.out);
    assert.equal(certKey.out.trim(), keyKey.out.trim(), 'openssl: the served key belongs to the served certificate');
    const fingerprint = (f: string) => openssl(['x509', '-in', f, '-noout', '-fingerprint', '-sha256']).out.trim();
    assert.equal(fingerprint(certPath), fingerprint(path.join(FIXTURES, 'bookinfo.example.com.crt')), 'the certificate is the Secret\'s');
    c.ack(sds);

    // rotate: kubectl apply the Secret with another certificate/key; the gateway is pushed the new one
    await tlsSecret('bookinfo-credential', NS, 'helloworld');
    const rotated = await c.next((r) => r.type_url === TYPE.SDS && r.nonce !== sds.nonce && r.resources.length > 0, HANG_ONLY_MS);
    writeFileSync(certPath, Buffer.from(secretOf(c, rotated, CRED)!.tls_certificate.certificate_chain.inline_bytes));
    assert.equal(fingerprint(certPath), fingerprint(path.join(FIXTURES, 'helloworld.example.com.crt')), 'the rotated certificate reached the gateway');
  });

  test('the plaintext xDS port serves no Secret', async () => {
    const c = new RawAdsClient(meshd!.grpcAddr);
    clients.push(c);
    c.send({ type_url: TYPE.SDS, node: NODE, resource_names: [CRED] });
    const r = await c.next((x) => x.type_url === TYPE.SDS, 30_000).catch(() => undefined);
    assert.ok(!r || r.resources.length === 0, 'nothing secret on 15010');
    await waitUntil('the refusal counted', async () => (/^pilot_sds_certificate_errors_total [1-9]/m.test(await meshd!.metrics()) ? true : undefined), { timeoutMs: 30_000, intervalMs: 200 });
  });
});
