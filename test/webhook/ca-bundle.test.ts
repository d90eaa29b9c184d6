import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/telemetry/log.js';
import { CaBundlePatcher, MUTATING_WEBHOOK_CONFIGURATION, VALIDATING_WEBHOOK_CONFIGURATION } from '../../src/webhook/ca-bundle.js';
import { KubeHttp } from '../../src/sources/kube/client.js';
import { FakeApiServer } from '../kube-fixture/server.js';
import { kubeConfigFor, until } from '../support/kube.js';

// meshd in Kubernetes mode against the API-server fixture: it writes the mesh root into the caBundle of
// every webhook of istio-sidecar-injector and istio-validator-istio-system, re-writes it when the
// configuration is re-applied without it, and an HTTPS client that trusts only the caBundle read back
// from the cluster reaches the webhook as istiod.istio-system.svc. The injection decision uses the
// namespace labels meshd's Kubernetes source watched.

const ADMISSION = 'admissionregistration.k8s.io/v1';
const clientConfig = (p: string) => ({ service: { name: 'istiod', namespace: 'istio-system', path: p, port: 443 } });
const mutating = () => ({
  apiVersion: ADMISSION, kind: 'MutatingWebhookConfiguration', metadata: { name: MUTATING_WEBHOOK_CONFIGURATION },
  webhooks: ['rev.namespace', 'rev.object', 'namespace', 'object'].map((n) => ({
    name: `${n}.sidecar-injector.istio.io`, clientConfig: clientConfig('/inject'), admissionReviewVersions: ['v1'], sideEffects: 'None',
  })),
});
const validating = () => ({
  apiVersion: ADMISSION, kind: 'ValidatingWebhookConfiguration', metadata: { name: VALIDATING_WEBHOOK_CONFIGURATION },
  webhooks: [{ name: 'rev.validation.istio.io', clientConfig: clientConfig('/validate'), admissionReviewVersions: ['v1'], sideEffects: 'None' }],
});

type Hook = { webhooks: { clientConfig: { caBundle?: string } }[] };

function postWithBundle(port: number, caPem: string, pathName: string, body: object): Promise<Record<string, any>> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, path: pathName, method: 'POST', ca: caPem, servername: 'istiod.istio-system.svc', agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString('utf8'))));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

test('meshd keeps caBundle current in both webhook configurations; the chain verifies against it', { timeout: 180_000 }, async () => {
  const cluster = new FakeApiServer({ namespaces: ['default', 'istio-system'] });
  const url = await cluster.start();
  cluster.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', labels: { 'istio-injection': 'enabled' } } });
  cluster.create(mutating());
  cluster.create(validating());
  const caDir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshd-cabundle-'));
  const daemon = new Daemon({
    grpcAddr: '127.0.0.1:0', monitoringAddr: '127.0.0.1:0', httpAddr: '127.0.0.1:0', debounce: { quietMs: 20, maxMs: 500 }, log: silentLogger,
    kube: { kc: kubeConfigFor(url), status: { namespace: 'istio-system', name: 'istio-status-leader', identity: 'cabundle-test', retryPeriodMs: 50 } },
    security: { addr: '127.0.0.1:0', caDir, caKeyType: 'ec' },
    webhook: { addr: '127.0.0.1:0', caBundleResyncMs: 200 },
  });
  try {
    const addrs = await daemon.start();
    const port = Number(addrs.webhookAddr!.split(':').pop());
    const root = fs.readFileSync(path.join(caDir, 'root-cert.pem'), 'utf8');
    const expected = Buffer.from(root).toString('base64');
    const bundles = () => [
      ...(cluster.get(ADMISSION, 'MutatingWebhookConfiguration', undefined, MUTATING_WEBHOOK_CONFIGURATION) as unknown as Hook).webhooks,
      ...(cluster.get(ADMISSION, 'ValidatingWebhookConfiguration', undefined, VALIDATING_WEBHOOK_CONFIGURATION) as unknown as Hook).webhooks,
    ].map((w) => w.clientConfig.caBundle);
    await until('caBundle in all five webhooks', () => bundles().every((b) => b === expected));
    assert.equal(bundles().length, 5);

    // The API server's view: trust only what the caBundle says, call the webhook by its Service name.
    const bundlePem = Buffer.from(bundles()[0]!, 'base64').toString('utf8');
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'nginx' }] } };
    const out = await postWithBundle(port, bundlePem, '/inject', {
      apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview',
      request: { uid: 'u1', kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', namespace: 'shop', object: pod },
    });
    assert.equal(out.response.allowed, true);
    assert.equal(out.response.patchType, 'JSONPatch', 'namespace shop is labelled istio-injection=enabled in the cluster');
    const other = await postWithBundle(port, bundlePem, '/inject', {
      apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview',
      request: { uid: 'u2', kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', namespace: 'default', object: pod },
    });
    assert.equal(other.response.patch, undefined, 'namespace default is not labelled');

    // kubectl apply of the original manifest (no caBundle) is repaired by the periodic re-check
    cluster.update(validating());
    await until('caBundle restored after re-apply', () => bundles().every((b) => b === expected));
  } finally {
    await daemon.stop(500);
    await cluster.stop();
    fs.rmSync(caDir, { recursive: true, force: true });
  }
});

test('caBundle patcher: leader only, follows a new root, waits for a configuration not installed yet', { timeout: 180_000 }, async () => {
  const cluster = new FakeApiServer({ namespaces: ['istio-system'] });
  const http = new KubeHttp(kubeConfigFor(await cluster.start()));
  let leader = false;
  let root = 'ROOT-1';
  const patcher = new CaBundlePatcher({ http, rootPem: () => root, isLeader: () => leader, log: silentLogger, resyncMs: 3_600_000 });
  const bundlesOf = (kind: string, name: string) => ((cluster.get(ADMISSION, kind, undefined, name) as unknown as Hook | undefined)?.webhooks ?? []).map((w) => w.clientConfig.caBundle);
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  try {
    cluster.create(mutating());
    await patcher.sync();
    assert.deepEqual(bundlesOf('MutatingWebhookConfiguration', MUTATING_WEBHOOK_CONFIGURATION), [undefined, undefined, undefined, undefined], 'a follower writes nothing');

    leader = true;
    await patcher.sync();
    assert.deepEqual(bundlesOf('MutatingWebhookConfiguration', MUTATING_WEBHOOK_CONFIGURATION), Array(4).fill(b64('ROOT-1')));
    assert.equal(patcher.lastOutcome.get(VALIDATING_WEBHOOK_CONFIGURATION), 'missing');

    cluster.create(validating());
    root = 'ROOT-2';
    await patcher.sync();
    assert.deepEqual(bundlesOf('MutatingWebhookConfiguration', MUTATING_WEBHOOK_CONFIGURATION), Array(4).fill(b64('ROOT-2')));
    assert.deepEqual(bundlesOf('ValidatingWebhookConfiguration', VALIDATING_WEBHOOK_CONFIGURATION), [b64('ROOT-2')]);

    // a re-applied manifest drops the bundle; the next pass restores it and leaves other fields alone
    cluster.update({ ...validating(), metadata: { name: VALIDATING_WEBHOOK_CONFIGURATION, labels: { kept: 'yes' } } });
    assert.deepEqual(bundlesOf('ValidatingWebhookConfiguration', VALIDATING_WEBHOOK_CONFIGURATION), [undefined]);
    await patcher.sync();
    assert.deepEqual(bundlesOf('ValidatingWebhookConfiguration', VALIDATING_WEBHOOK_CONFIGURATION), [b64('ROOT-2')]);
    const v = cluster.get(ADMISSION, 'ValidatingWebhookConfiguration', undefined, VALIDATING_WEBHOOK_CONFIGURATION) as unknown as { metadata: { labels?: Record<string, string> }; webhooks: { clientConfig: { service?: { path?: string } } }[] };
    assert.equal(v.metadata.labels?.kept, 'yes');
    assert.equal(v.webhooks[0]!.clientConfig.service?.path, '/validate');
    assert.equal(patcher.lastOutcome.get(VALIDATING_WEBHOOK_CONFIGURATION), 'patched');
    await patcher.sync();
    assert.equal(patcher.lastOutcome.get(VALIDATING_WEBHOOK_CONFIGURATION), 'current', 'no write when nothing changed');
  } finally {
    patcher.stop();
    await cluster.stop();
  }
});
