import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ROOT_CERT_CONFIGMAP, RootCertPublisher } from '../../src/ca/root-publisher.js';
import { KubeHttp } from '../../src/sources/kube/client.js';
import { silentLogger } from '../../src/telemetry/log.js';
import { FakeApiServer } from '../kube-fixture/server.js';
import { kubeConfigFor } from '../support/kube.js';
import { hangGuardMs } from '../support/hang-guard.js';

// ConfigMap istio-ca-root-cert in every namespace, kept current, written only by the leader — against
// the API-server fixture through the Kubernetes source's HTTP client.

const api = new FakeApiServer({ namespaces: ['default', 'shop', 'kube-system'] });
let http: KubeHttp;
before(async () => {
  http = new KubeHttp(kubeConfigFor(await api.start()));
});
after(() => api.stop());

const cm = (ns: string) => api.get('v1', 'ConfigMap', ns, ROOT_CERT_CONFIGMAP) as { data?: Record<string, string>; metadata: { labels?: Record<string, string> } } | undefined;

describe('istio-ca-root-cert publisher', () => {
  let leader = false;
  let root = 'ROOT-1';
  const namespaces = ['default', 'shop', 'kube-system'];
  let pub: RootCertPublisher;
  before(() => {
    pub = new RootCertPublisher({ http, isLeader: () => leader, namespaces: () => namespaces, rootPem: () => root, log: silentLogger, resyncMs: 3_600_000 });
  });
  after(() => pub.stop());

  it('writes nothing while not the leader', async () => {
    await pub.sync();
    assert.equal(cm('default'), undefined);
  });

  it('creates the ConfigMap in every namespace but the system ones', async () => {
    leader = true;
    await pub.sync();
    assert.deepEqual(cm('default')?.data, { 'root-cert.pem': 'ROOT-1' });
    assert.equal(cm('default')?.metadata.labels?.['istio.io/config'], 'true');
    assert.deepEqual(cm('shop')?.data, { 'root-cert.pem': 'ROOT-1' });
    assert.equal(cm('kube-system'), undefined);
  });

  it('follows a new root and a new namespace, and repairs an edited or deleted ConfigMap on resync', async () => {
    root = 'ROOT-2';
    namespaces.push('late');
    api.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'late' } });
    await pub.sync();
    assert.equal(cm('default')?.data?.['root-cert.pem'], 'ROOT-2');
    assert.equal(cm('late')?.data?.['root-cert.pem'], 'ROOT-2');
    api.remove('v1', 'ConfigMap', 'shop', ROOT_CERT_CONFIGMAP);
    const edited = cm('default')!;
    api.update({ ...edited, data: { 'root-cert.pem': 'tampered', other: 'kept' } });
    pub.trigger(true);
    await pub.sync();
    assert.equal(cm('shop')?.data?.['root-cert.pem'], 'ROOT-2');
    assert.deepEqual(cm('default')?.data, { 'root-cert.pem': 'ROOT-2', other: 'kept' });
  });
});

describe('meshd (Kubernetes source + CA) publishes istio-ca-root-cert', () => {
  it('writes the CA root into every namespace of the cluster once it holds the lease', async () => {
    const fs = await import('node:fs');
    const os = await import('node:os');
    const path = await import('node:path');
    const { Daemon } = await import('../../src/daemon.js');
    const cluster = new FakeApiServer({ namespaces: ['default', 'shop', 'istio-system'] });
    const url = await cluster.start();
    const caDir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshd-rootpub-'));
    const daemon = new Daemon({
      grpcAddr: '127.0.0.1:0', monitoringAddr: '127.0.0.1:0', httpAddr: '127.0.0.1:0', debounce: { quietMs: 20, maxMs: 500 }, log: silentLogger,
      kube: { kc: kubeConfigFor(url), status: { namespace: 'istio-system', name: 'istio-status-leader', identity: 'root-pub-test', retryPeriodMs: 50 } },
      security: { addr: '127.0.0.1:0', caDir },
    });
    try {
      await daemon.start();
      const root = fs.readFileSync(path.join(caDir, 'root-cert.pem'), 'utf8');
      const deadline = Date.now() + hangGuardMs(10_000);
      const dataOf = (ns: string) => (cluster.get('v1', 'ConfigMap', ns, ROOT_CERT_CONFIGMAP) as { data?: Record<string, string> } | undefined)?.data;
      const all = () => ['default', 'shop', 'istio-system'].every((ns) => dataOf(ns)?.['root-cert.pem'] === root);
      while (!all() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      assert.ok(all(), 'istio-ca-root-cert in default, shop and istio-system');
      // a namespace created later gets it too
      cluster.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'newcomer' } });
      const later = Date.now() + hangGuardMs(10_000);
      while (!cluster.get('v1', 'ConfigMap', 'newcomer', ROOT_CERT_CONFIGMAP) && Date.now() < later) await new Promise((r) => setTimeout(r, 100));
      assert.equal(dataOf('newcomer')?.['root-cert.pem'], root);
    } finally {
      await daemon.stop(500);
      await cluster.stop();
      fs.rmSync(caDir, { recursive: true, force: true });
    }
  });
});
