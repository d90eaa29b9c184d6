import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { Daemon } from '../../src/daemon.js';
import { objectKey } from '../../src/config/store.js';
import { CA_FILES } from '../../src/ca/authority.js';
import { TYPE } from '../../src/xds/resource-types.js';
import { silentLogger } from '../../src/telemetry/log.js';
import { FakeApiServer } from '../kube-fixture/server.js';
import { RawAdsClient } from '../support/ads-client.js';
import { kubeConfigFor, until } from '../support/kube.js';

// WorkloadEntry auto-registration as istiod does it in Kubernetes mode (pilot/pkg/autoregistration): a raw
// ADS client on the TLS port, authenticated by a Kubernetes token (TokenReview by the API-server fixture),
// announces AUTO_REGISTER_GROUP; meshd creates the WorkloadEntry from the WorkloadGroup, marks it
// disconnected when the stream ends and deletes it after PILOT_WORKLOAD_ENTRY_GRACE_PERIOD.

const SERVING_NAME = 'istiod.istio-system.svc';
const GRACE_MS = 300;

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const api = new FakeApiServer({
  namespaces: ['vm', 'other', 'istio-system'],
  tokenReviews: {
    'vm-token': { username: 'system:serviceaccount:vm:vm-sa', audiences: ['istio-ca'] },
    'other-token': { username: 'system:serviceaccount:other:vm-sa', audiences: ['istio-ca'] },
    'wrong-sa-token': { username: 'system:serviceaccount:vm:somebody', audiences: ['istio-ca'] },
  },
});
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'meshd-autoreg-'));
let daemon: Daemon;
let secureAddr = '';
let plainAddr = '';
let rootPem = '';

const GROUP = {
  apiVersion: 'networking.istio.io/v1',
  kind: 'WorkloadGroup',
  metadata: { name: 'reviews-vm', namespace: 'vm' },
  spec: {
    metadata: { labels: { app: 'reviews', version: 'v3' }, annotations: { team: 'books' } },
    template: { serviceAccount: 'vm-sa', ports: { http: 9080 }, labels: { tier: 'backend', app: 'ignored' } },
  },
};

function vmNode(ip: string, extra: Record<string, unknown> = {}) {
  return {
    id: `sidecar~${ip}~vm-1.vm~vm.svc.cluster.local`,
    metadata: { NAMESPACE: 'vm', AUTO_REGISTER_GROUP: 'reviews-vm', INSTANCE_IPS: ip, NETWORK: 'vm-net', LABELS: { 'istio-locality': 'r1.z1', host: 'vm-1' }, ISTIO_VERSION: '1.24.0', ...extra },
    locality: { region: 'r1', zone: 'z1' },
  };
}

function secureClient(token: string): RawAdsClient {
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${token}`);
  return new RawAdsClient(secureAddr, {
    metadata: md,
    credentials: grpc.credentials.createSsl(Buffer.from(rootPem)),
    channelOptions: { 'grpc.ssl_target_name_override': SERVING_NAME, 'grpc.default_authority': SERVING_NAME },
  });
}

const entry = (name: string) => api.get('networking.istio.io/v1', 'WorkloadEntry', 'vm', name) as Obj | undefined;
const ended = (c: RawAdsClient) => until('the stream to end with an error', () => c.error);

before(async () => {
  const url = await api.start();
  api.create(GROUP);
  daemon = new Daemon({
    grpcAddr: '127.0.0.1:0', monitoringAddr: '127.0.0.1:0', httpAddr: '127.0.0.1:0', debounce: { quietMs: 20, maxMs: 500 }, log: silentLogger,
    kube: { kc: kubeConfigFor(url) },
    security: { addr: '127.0.0.1:0', caDir: path.join(tmp, 'ca'), tokenReview: { url } },
    autoRegistration: { gracePeriodMs: GRACE_MS, instanceId: 'meshd-test-0' },
  });
  const addrs = await daemon.start();
  secureAddr = addrs.secureGrpcAddr!;
  plainAddr = addrs.grpcAddr;
  rootPem = fs.readFileSync(path.join(tmp, 'ca', CA_FILES.root), 'utf8');
});

after(async () => {
  await daemon.stop(500);
  await api.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('WorkloadEntry auto-registration (AUTO_REGISTER_GROUP)', () => {
  it('creates the WorkloadEntry from the group, serves the proxy, marks it disconnected and removes it after the grace period', async () => {
    const c = secureClient('vm-token');
    try {
      c.send({ type_url: TYPE.CDS, node: vmNode('10.9.0.7') });
      await c.next((r) => r.type_url === TYPE.CDS, 60_000);
      const name = 'reviews-vm-10.9.0.7-vm-net';
      const wle = await until('the WorkloadEntry in the API server', () => entry(name));
      assert.deepEqual(wle.spec, {
        serviceAccount: 'vm-sa',
        ports: { http: 9080 },
        address: '10.9.0.7',
        // template < group metadata < the proxy's LABELS (istio-locality dropped)
        labels: { tier: 'backend', app: 'reviews', version: 'v3', host: 'vm-1' },
        network: 'vm-net',
        locality: 'r1/z1',
      });
      assert.deepEqual(wle.metadata.labels, wle.spec.labels);
      const a = wle.metadata.annotations;
      assert.equal(a['istio.io/autoRegistrationGroup'], 'reviews-vm');
      assert.equal(a.team, 'books');
      assert.equal(a['istio.io/workloadController'], 'meshd-test-0');
      assert.ok(!Number.isNaN(Date.parse(a['istio.io/connectedAt'])));
      const group = api.get('networking.istio.io/v1', 'WorkloadGroup', 'vm', 'reviews-vm') as Obj;
      assert.deepEqual(wle.metadata.ownerReferences, [{ apiVersion: 'networking.istio.io/v1', kind: 'WorkloadGroup', name: 'reviews-vm', uid: group.metadata.uid, controller: true }]);
      // the entry reaches the store through the informer like any other
      await until('the entry in meshd\'s store', () => daemon.store.get('WorkloadEntry', objectKey('WorkloadEntry', 'vm', name)));
    } finally {
      c.close();
    }
    const name = 'reviews-vm-10.9.0.7-vm-net';
    const marked = await until('istio.io/disconnectedAt', () => entry(name)?.metadata.annotations?.['istio.io/disconnectedAt'] && entry(name));
    assert.equal(marked.metadata.annotations['istio.io/connectedAt'], undefined);
    await until('the entry deleted after the grace period', () => !entry(name), 30_000);
  });

  it('a reconnect within the grace period keeps the entry (re-marked connected)', async () => {
    const name = 'reviews-vm-10.9.0.8-vm-net';
    const first = secureClient('vm-token');
    first.send({ type_url: TYPE.CDS, node: vmNode('10.9.0.8') });
    await first.next((r) => r.type_url === TYPE.CDS, 60_000);
    await until('the entry', () => entry(name));
    // a second stream of the same proxy (istio-agent reconnecting) before the first ends
    const second = secureClient('vm-token');
    second.send({ type_url: TYPE.CDS, node: vmNode('10.9.0.8') });
    await second.next((r) => r.type_url === TYPE.CDS, 60_000);
    first.close();
    try {
      await until('connectedAt of the second stream', () => entry(name)?.metadata.annotations?.['istio.io/connectedAt']);
      // once meshd has let go of the first stream, the entry is still connected: the proxy has another
      await until('the first stream forgotten', () => daemon.discovery.connections.filter((c) => c.proxy.ips[0] === '10.9.0.8').length === 1);
      assert.ok(entry(name)?.metadata.annotations?.['istio.io/connectedAt']);
      assert.equal(entry(name)?.metadata.annotations?.['istio.io/disconnectedAt'], undefined);
    } finally {
      second.close();
    }
    await until('the entry deleted once the last stream ended', () => !entry(name), 30_000);
  });

  it('refuses what istiod refuses: no verified identity (plaintext port), another namespace, another service account, a missing group', async () => {
    const plain = new RawAdsClient(plainAddr);
    plain.send({ type_url: TYPE.CDS, node: vmNode('10.9.0.9') });
    assert.match((await ended(plain)).details, /requires a verified identity/);
    plain.close();

    const wrongSa = secureClient('wrong-sa-token');
    wrongSa.send({ type_url: TYPE.CDS, node: vmNode('10.9.0.10') });
    const e = await ended(wrongSa);
    assert.equal(e.code, grpc.status.PERMISSION_DENIED);
    assert.match(e.details, /service account mismatch: "somebody" vs "vm-sa"/);
    wrongSa.close();

    const noGroup = secureClient('vm-token');
    noGroup.send({ type_url: TYPE.CDS, node: vmNode('10.9.0.11', { AUTO_REGISTER_GROUP: 'nope' }) });
    const g = await ended(noGroup);
    assert.equal(g.code, grpc.status.FAILED_PRECONDITION);
    assert.match(g.details, /cannot find WorkloadGroup vm\/nope/);
    noGroup.close();

    // the TLS port's guard already refuses a proxy announcing another namespace than its token's
    const otherNs = secureClient('other-token');
    otherNs.send({ type_url: TYPE.CDS, node: vmNode('10.9.0.12') });
    assert.equal((await ended(otherNs)).code, grpc.status.PERMISSION_DENIED);
    otherNs.close();

    for (const ip of ['10.9.0.9', '10.9.0.10', '10.9.0.11', '10.9.0.12']) {
      assert.equal(entry(`reviews-vm-${ip}-vm-net`), undefined, ip);
      assert.equal(entry(`nope-${ip}-vm-net`), undefined, ip);
    }
  });
});
