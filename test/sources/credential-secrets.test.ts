import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigStore } from '../../src/config/store.js';
import { SecretStore } from '../../src/config/secrets.js';
import { configz } from '../../src/config/debug.js';
import { DirectorySource } from '../../src/sources/dir/directory-source.js';
import { KubeSource } from '../../src/sources/kube/kube-source.js';
import { KubeHttp } from '../../src/sources/kube/client.js';
import { SubjectAccessReviewAuthorizer } from '../../src/sources/kube/subject-access.js';
import { silentLogger } from '../../src/telemetry/log.js';
import { FakeApiServer, type AccessReview } from '../kube-fixture/server.js';
import { kubeConfigFor, until } from '../support/kube.js';

// Where gateway credentials come from: the cluster's Secrets (istiod's credentials controller: every
// namespace discoverySelectors admit, no Helm releases or service-account tokens), or — only with
// --config-dir-secrets — Secret documents of the config directory. Never the config store.

const b64 = (s: string) => Buffer.from(s).toString('base64');
const secret = (name: string, namespace: string, value: string, type = 'kubernetes.io/tls') =>
  ({ apiVersion: 'v1', kind: 'Secret', type, metadata: { name, namespace }, data: { 'tls.crt': b64(value), 'tls.key': b64(value) } });

describe('credential Secrets from the config directory', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshd-secrets-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const yaml = (docs: object[]) => docs.map((d) => JSON.stringify(d)).join('\n---\n');

  it('with --config-dir-secrets they follow their file; the config store never holds them', async () => {
    fs.writeFileSync(path.join(dir, 'creds.yaml'), yaml([secret('a', 'istio-system', 'one'), secret('b', 'istio-system', 'two')]));
    const store = new ConfigStore();
    const secrets = new SecretStore();
    const src = new DirectorySource({ dir, store, log: silentLogger, secrets, settleMs: 10 });
    await src.start();
    try {
      assert.deepEqual([...secrets.snapshot().keys()].sort(), ['istio-system/a', 'istio-system/b']);
      assert.equal(secrets.snapshot().get('istio-system/a')!.data['tls.crt'], 'one');
      assert.ok(!JSON.stringify(configz(store)).includes(b64('one')), 'not in /debug/configz');
      fs.writeFileSync(path.join(dir, 'creds.yaml'), yaml([secret('a', 'istio-system', 'rotated')]));
      await until('the rotated Secret, and b gone', () => secrets.snapshot().get('istio-system/a')?.data['tls.crt'] === 'rotated' && !secrets.snapshot().has('istio-system/b'));
      fs.rmSync(path.join(dir, 'creds.yaml'));
      await until('every Secret gone with its file', () => secrets.size === 0);
    } finally {
      await src.stop();
    }
  });

  it('without the flag a Secret document is not read', async () => {
    fs.writeFileSync(path.join(dir, 'creds.yaml'), yaml([secret('a', 'istio-system', 'one')]));
    const store = new ConfigStore();
    const src = new DirectorySource({ dir, store, log: silentLogger });
    await src.start();
    await src.stop();
    assert.equal(store.revision, 0);
  });
});

describe('credential Secrets from the cluster', () => {
  const reviews: AccessReview[] = [];
  const api = new FakeApiServer({
    subjectAccess: (r) => {
      reviews.push(r);
      return r.user === 'system:serviceaccount:istio-system:gw' && r.verb === 'list' && r.resource === 'secrets' && r.namespace === 'istio-system'
        ? { allowed: true } : { allowed: false, reason: 'RBAC: no rule' };
    },
  });
  let url = '';
  before(async () => {
    url = await api.start();
  });
  after(() => api.stop());

  it('holds TLS Secrets of every namespace, not service-account tokens or Helm releases; follows updates and deletes', async () => {
    api.create(secret('gw-cert', 'istio-system', 'v1') as never);
    api.create(secret('sa-token', 'istio-system', 'tok', 'kubernetes.io/service-account-token') as never);
    api.create(secret('sh.helm.release.v1.x.v1', 'default', 'big', 'helm.sh/release.v1') as never);
    api.create(secret('app-cert', 'default', 'v1', 'Opaque') as never);
    const secrets = new SecretStore();
    const store = new ConfigStore();
    const src = new KubeSource({ kc: kubeConfigFor(url), store, log: silentLogger, secrets, kinds: ['Namespace'] });
    src.start();
    try {
      await src.waitSynced();
      assert.deepEqual([...secrets.snapshot().keys()].sort(), ['default/app-cert', 'istio-system/gw-cert']);
      const list = api.requests.find((r) => r.resource === 'secrets' && r.verb === 'list');
      assert.match(decodeURIComponent(list?.query ?? ''), /fieldSelector=type!=helm.sh\/release.v1,type!=kubernetes.io\/service-account-token/);
      api.update({ ...secret('gw-cert', 'istio-system', 'v2') } as never);
      await until('the updated Secret', () => secrets.snapshot().get('istio-system/gw-cert')?.data['tls.crt'] === 'v2');
      api.remove('v1', 'Secret', 'default', 'app-cert');
      await until('the deleted Secret gone', () => !secrets.snapshot().has('default/app-cert'));
      assert.equal(store.list('Namespace').length > 0, true);
      assert.ok(!JSON.stringify(configz(store)).includes(b64('v2')));
    } finally {
      await src.stop();
    }
  });

  it('asks the API server (SubjectAccessReview) whether a service account may read Secrets, and caches the answer', async () => {
    const sar = new SubjectAccessReviewAuthorizer({ http: new KubeHttp(kubeConfigFor(url)), log: silentLogger });
    const gw = { namespace: 'istio-system', serviceAccount: 'gw', identity: 'spiffe://cluster.local/ns/istio-system/sa/gw' };
    const other = { namespace: 'istio-system', serviceAccount: 'other', identity: 'spiffe://cluster.local/ns/istio-system/sa/other' };
    assert.equal(sar.cached(gw), undefined);
    assert.deepEqual(await sar.check(gw), { allowed: true });
    const denied = await sar.check(other);
    assert.equal(denied.allowed, false);
    assert.match(denied.reason ?? '', /other\/istio-system is not authorized to read secrets: RBAC: no rule/);
    assert.deepEqual(reviews.map((r) => `${r.user} ${r.verb} ${r.resource} ${r.namespace}`), [
      'system:serviceaccount:istio-system:gw list secrets istio-system',
      'system:serviceaccount:istio-system:other list secrets istio-system',
    ]);
    assert.deepEqual(sar.cached(gw), { allowed: true });
    assert.equal(sar.cached(other)?.allowed, false);
    const bounded = new SubjectAccessReviewAuthorizer({ http: new KubeHttp(kubeConfigFor(url)), log: silentLogger, maxEntries: 1 });
    await bounded.check(gw);
    await bounded.check(other);
    assert.equal(bounded.size, 1, 'the cache is bounded');
  });
});
