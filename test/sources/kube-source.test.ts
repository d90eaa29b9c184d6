// Kubernetes source specifics: connection (in-cluster service account over TLS with a token), version
// fallback and "not served", discoverySelectors, list-vs-watch normalisation, leader election for status.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigStore, objectKey } from '../../src/config/store.js';
import { resolveKubeConnection, SERVICE_ACCOUNT_DIR } from '../../src/sources/kube/client.js';
import { KubeSource } from '../../src/sources/kube/kube-source.js';
import { normalizeObject } from '../../src/sources/kube/normalize.js';
import { namespaceSelected, parseDiscoverySelectors } from '../../src/sources/kube/selectors.js';
import { silentLogger } from '../../src/telemetry/log.js';
import { Metrics } from '../../src/telemetry/metrics.js';
import { FakeApiServer } from '../kube-fixture/server.js';
import { kubeConfigFor, until } from '../support/kube.js';
import { INVALID_ISTIO_OBJECTS, ns, svc, vs } from '../support/kube-objects.js';

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function fixture(opts: ConstructorParameters<typeof FakeApiServer>[0] = {}) {
  const api = new FakeApiServer(opts);
  const url = await api.start();
  cleanups.push(() => api.stop());
  return { api, url };
}

function source(url: string, opts: Partial<ConstructorParameters<typeof KubeSource>[0]> = {}) {
  const store = new ConfigStore();
  const src = new KubeSource({ kc: kubeConfigFor(url), store, log: silentLogger, ...opts });
  cleanups.push(() => src.stop());
  src.start();
  return { store, src };
}

describe('Kubernetes source: connection', () => {
  it('in-cluster: service-account token and CA over TLS, as a pod sees them', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'meshd-sa-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'),
      '-days', '1', '-subj', '/CN=kubernetes', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    const sa = path.join(dir, SERVICE_ACCOUNT_DIR);
    mkdirSync(sa, { recursive: true });
    writeFileSync(path.join(sa, 'token'), 'sa-token');
    writeFileSync(path.join(sa, 'ca.crt'), readFileSync(path.join(dir, 'cert.pem')));
    writeFileSync(path.join(sa, 'namespace'), 'istio-system');
    const { api, url } = await fixture({ tls: { cert: readFileSync(path.join(dir, 'cert.pem')), key: readFileSync(path.join(dir, 'key.pem')) }, tokens: ['sa-token'], tokenReviews: { 'sa-token': { username: 'system:serviceaccount:istio-system:meshd' } } });
    api.create(vs('r', 'reviews'));
    const conn = resolveKubeConnection({ env: { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: new URL(url).port }, serviceAccountDir: sa });
    assert.equal(conn?.from, 'in-cluster service account');
    const store = new ConfigStore();
    const src = new KubeSource({ kc: conn!.kc, store, log: silentLogger });
    cleanups.push(() => src.stop());
    src.start();
    await src.waitSynced();
    assert.ok(store.get('VirtualService', objectKey('VirtualService', 'default', 'r')));
    assert.ok(api.requests.every((r) => !r.verb || r.user === 'system:serviceaccount:istio-system:meshd'), 'every request carried the token');
  });

  it('no flag, no in-cluster env: no connection unless default files are allowed', () => {
    assert.equal(resolveKubeConnection({ env: { HOME: '/nonexistent' } }), undefined);
    assert.equal(resolveKubeConnection({ env: { HOME: '/nonexistent' }, useDefaultFiles: true }), undefined);
    assert.throws(() => resolveKubeConnection({ kubeconfig: '/nonexistent/kc' }), /--kubeconfig \/nonexistent\/kc: no such file/);
  });

  it('a wrong token: not synced, restarting with backoff, never crashes', async () => {
    const { url } = await fixture({ tokens: ['right'] });
    const store = new ConfigStore();
    const src = new KubeSource({ kc: kubeConfigFor(url, { token: 'wrong' }), store, log: silentLogger, kinds: ['Service'], backoff: { initialMs: 20, maxMs: 100 } });
    cleanups.push(() => src.stop());
    src.start();
    await until('restarts', () => src.states()[0]!.restarts >= 3);
    assert.equal(src.hasSynced, false);
    assert.match(src.states()[0]!.lastError ?? '', /401/);
  });
});

describe('Kubernetes source: versions', () => {
  it('uses the first served version of an Istio kind (v1beta1 when v1 is not served)', async () => {
    const { api, url } = await fixture({ servedVersions: { 'virtualservices.networking.istio.io': ['v1beta1', 'v1alpha3'] } });
    api.create(vs('r', 'reviews'));
    const { store, src } = source(url, { kinds: ['VirtualService'] });
    await src.waitSynced();
    assert.equal(src.states()[0]!.version, 'v1beta1');
    assert.equal(store.get('VirtualService', objectKey('VirtualService', 'default', 'r'))?.object.apiVersion, 'networking.istio.io/v1beta1');
  });

  it('reads Telemetry at v1alpha1 where the cluster has only that version, and counts informer events as istiod does', async () => {
    const { api, url } = await fixture({ servedVersions: { 'telemetries.telemetry.istio.io': ['v1alpha1'] } });
    api.create({ apiVersion: 'telemetry.istio.io/v1alpha1', kind: 'Telemetry', metadata: { name: 'mesh-default', namespace: 'istio-system' }, spec: { accessLogging: [{ providers: [{ name: 'envoy' }] }] } } as never);
    api.create(svc('reviews', 9080));
    const metrics = new Metrics();
    const { store, src } = source(url, { kinds: ['Telemetry', 'Service'], metrics });
    await src.waitSynced();
    assert.equal(src.states().find((s) => s.kind === 'Telemetry')!.version, 'v1alpha1');
    assert.equal(store.get('Telemetry', objectKey('Telemetry', 'istio-system', 'mesh-default'))?.object.apiVersion, 'telemetry.istio.io/v1alpha1');
    const text = await metrics.registry.metrics();
    assert.match(text, /^pilot_k8s_cfg_events\{type="Telemetry",event="add"\} 1$/m);
    assert.match(text, /^pilot_k8s_reg_events\{type="Services",event="add"\} 1$/m);
  });

  it('a kind served at no version is an empty, synced collection', async () => {
    const { url } = await fixture({ servedVersions: { 'peerauthentications.security.istio.io': [] } });
    const { src } = source(url, { kinds: ['PeerAuthentication', 'Service'] });
    await src.waitSynced();
    const pa = src.states().find((s) => s.kind === 'PeerAuthentication')!;
    assert.deepEqual([pa.hasSynced, pa.served, pa.version], [true, false, undefined]);
  });
});

describe('Kubernetes source: discoverySelectors', () => {
  it('parses and matches like Istio (matchLabels, matchExpressions; any selector; none = all)', () => {
    const sel = parseDiscoverySelectors([{ matchLabels: { mesh: 'on' } }, { matchExpressions: [{ key: 'team', operator: 'In', values: ['a'] }] }]);
    assert.equal(namespaceSelected(sel, { mesh: 'on' }), true);
    assert.equal(namespaceSelected(sel, { team: 'a' }), true);
    assert.equal(namespaceSelected(sel, { team: 'b' }), false);
    assert.equal(namespaceSelected([], {}), true);
    assert.throws(() => parseDiscoverySelectors([{ matchExpressions: [{ key: 'x', operator: 'Near' }] }]), /discoverySelectors\[0\]\.matchExpressions\[0\]\.operator/);
  });

  it('only selected namespaces are in the store; relabelling a namespace brings its objects in and out', async () => {
    const { api, url } = await fixture();
    api.create(ns('in', { mesh: 'on' }));
    api.create(ns('out'));
    api.create(svc('a', 80, 'in'));
    api.create(svc('b', 80, 'out'));
    const { store, src } = source(url, { kinds: ['Service', 'Namespace'], discoverySelectors: [{ matchLabels: { mesh: 'on' } }] });
    await src.waitSynced();
    const services = () => store.list('Service').map((s) => s.object.metadata.name).sort().join(',');
    await until('selected only', () => services() === 'a');
    assert.deepEqual(store.list('Namespace').map((s) => s.object.metadata.name), ['in']);
    api.update(ns('out', { mesh: 'on' }));
    await until('out selected', () => services() === 'a,b');
    api.update(ns('in'));
    await until('in deselected', () => services() === 'b');
  });
});

describe('Kubernetes source: objects', () => {
  it('normalises typed-LIST objects (Date, no kind) to the WATCH shape', () => {
    const o = normalizeObject({ metadata: { name: 'x', creationTimestamp: new Date('2024-05-01T10:00:00Z'), managedFields: [{}] }, spec: {} }, 'v1', 'Service');
    assert.deepEqual(o, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'x', creationTimestamp: '2024-05-01T10:00:00Z' }, spec: {} });
  });

  it('a status-only change is not a config change (no store revision, no repeated refusal)', async () => {
    const { api, url } = await fixture();
    api.create(vs('r', 'reviews'));
    const { store, src } = source(url, { kinds: ['VirtualService'] });
    await src.waitSynced();
    const rev = store.revision;
    const o = api.get('networking.istio.io/v1', 'VirtualService', 'default', 'r')!;
    api.update({ ...o, status: { observedGeneration: 1 } });
    // a watch delivers events in order: once a later object is in the store, the status event was handled
    api.create(vs('marker', 'marker'));
    await until('the marker after the status change', () => store.get('VirtualService', objectKey('VirtualService', 'default', 'marker')));
    assert.equal(store.revision, rev + 1, 'only the marker changed the store');
  });
});

describe('Kubernetes source: status by the Lease holder only', () => {
  it('two replicas: one writes status; when it stops, the other takes the lease and keeps status current', async () => {
    const { api, url } = await fixture();
    for (const o of INVALID_ISTIO_OBJECTS) api.create(o);
    // a lease long enough that a busy machine never lets it lapse while its holder runs; b's tries are counted, not timed
    const lease = { namespace: 'istio-system', name: 'istio-status-leader', leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 100 };
    const a = source(url, { status: { ...lease, identity: 'replica-a' } });
    await a.src.waitSynced();
    await until('a leads', () => a.src.leader!.isLeader);
    const b = source(url, { status: { ...lease, identity: 'replica-b' } });
    await b.src.waitSynced();
    await until('status on every refused object', () => INVALID_ISTIO_OBJECTS.every((o) => (api.get(String(o.apiVersion), String(o.kind), 'default', o.metadata.name)?.status as { validationMessages?: unknown[] })?.validationMessages?.length));
    // both replicas read the lease every retry period (a to renew, b to try): wait for several rounds
    const leaseRequests = () => api.requests.filter((r) => r.resource === 'leases').length;
    const atStart = leaseRequests();
    await until('a few more lease rounds', () => leaseRequests() >= atStart + 8 || undefined);
    assert.equal(b.src.leader!.isLeader, false, 'b follows while a renews');
    const statusWriters = new Set(api.requests.filter((r) => r.subresource === 'status').map((r) => r.user ?? 'anonymous'));
    assert.equal(statusWriters.size, 1);
    await a.src.stop(); // releases the lease
    await until('b leads', () => b.src.leader!.isLeader, 5000);
    // a new refused object is now b's to report
    api.create({ ...INVALID_ISTIO_OBJECTS[0]!, metadata: { name: 'bad-vs-2', namespace: 'default' } });
    await until('b wrote status', () => (api.get('networking.istio.io/v1', 'VirtualService', 'default', 'bad-vs-2')?.status as { validationMessages?: unknown[] })?.validationMessages?.length);
    const holder = api.get('coordination.k8s.io/v1', 'Lease', 'istio-system', 'istio-status-leader')!;
    assert.equal((holder.spec as { holderIdentity: string; leaseTransitions: number }).holderIdentity, 'replica-b');
    assert.ok((holder.spec as { leaseTransitions: number }).leaseTransitions >= 1);
  });
});
