// One contract, two sources: "after these events the store (and the registry built from it) holds exactly
// this". The same scenarios run against the config-dir source (files written and removed) and against the
// Kubernetes source (objects written to and deleted from the API-server fixture, watched by informers).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { ALL_KINDS, isClusterScoped, type Kind } from '../../src/config/kinds.js';
import { ConfigStore, objectKey } from '../../src/config/store.js';
import { PushContext } from '../../src/model/push-context.js';
import { DirectorySource } from '../../src/sources/dir/directory-source.js';
import { KubeSource } from '../../src/sources/kube/kube-source.js';
import { silentLogger } from '../../src/telemetry/log.js';
import { FakeApiServer, type KObject } from '../kube-fixture/server.js';
import { kubeConfigFor, until } from '../support/kube.js';
import { ap, dr, everyOtherIstioKind, gatewayApiObjects, ingressObjects, ns, pa, pod, slice, svc, vs } from '../support/kube-objects.js';

interface SourceUnderTest {
  readonly name: string;
  readonly store: ConfigStore;
  readonly sourceId: string;
  /** creates or replaces objects */
  put(...objs: KObject[]): Promise<void>;
  remove(obj: KObject): Promise<void>;
  stop(): Promise<void>;
}

const fileOf = (o: KObject) => `${String(o.kind).toLowerCase()}-${o.metadata.namespace ?? 'cluster'}-${o.metadata.name}.yaml`;

async function dirSource(): Promise<SourceUnderTest> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshd-contract-'));
  const store = new ConfigStore();
  // the API server knows these namespaces from the start; so does the directory
  for (const n of ['default', 'kube-system', 'istio-system']) fs.writeFileSync(path.join(dir, fileOf(ns(n))), YAML.stringify(ns(n)));
  const src = new DirectorySource({ dir, store, log: silentLogger, settleMs: 10 });
  await src.start();
  return {
    name: 'config-dir', store, sourceId: src.sourceId,
    async put(...objs) {
      for (const o of objs) {
        const tmp = path.join(dir, `.${fileOf(o)}.tmp`);
        fs.writeFileSync(tmp, YAML.stringify(o));
        fs.renameSync(tmp, path.join(dir, fileOf(o)));
      }
    },
    async remove(o) {
      fs.rmSync(path.join(dir, fileOf(o)), { force: true });
    },
    async stop() {
      await src.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function kubeSource(): Promise<SourceUnderTest> {
  const api = new FakeApiServer();
  const url = await api.start();
  const store = new ConfigStore();
  const src = new KubeSource({ kc: kubeConfigFor(url), store, log: silentLogger });
  src.start();
  await src.waitSynced();
  return {
    name: 'kubernetes', store, sourceId: src.sourceId,
    async put(...objs) {
      for (const o of objs) api.put(o);
    },
    async remove(o) {
      api.remove(String(o.apiVersion), String(o.kind), o.metadata.namespace, o.metadata.name);
    },
    async stop() {
      await src.stop();
      await api.stop();
    },
  };
}

const keyOf = (o: KObject) => objectKey(o.kind as Kind, isClusterScoped(String(o.kind)) ? undefined : (o.metadata.namespace ?? 'default'), o.metadata.name);
const names = (store: ConfigStore, kind: Kind) => store.list(kind).map((s) => `${s.object.metadata.namespace ?? ''}/${s.object.metadata.name}`).sort();
const registry = (store: ConfigStore) => new PushContext(store, 'contract').registry;

for (const make of [dirSource, kubeSource]) {
  describe(`source contract: ${make.name.replace('Source', '')}`, () => {
    let s: SourceUnderTest;
    before(async () => {
      s = await make();
    });
    after(async () => {
      await s?.stop();
    });

    it('holds every object it is given, of every kind, owned by the source', async () => {
      await s.put(ns('shop'), svc('cart', 5000, 'shop'), pod('cart-1', '10.0.0.1', { app: 'cart', version: 'v1' }, 'shop'),
        slice('cart-a', 'cart', 5000, ['10.0.0.1'], 'shop'), vs('cart', 'cart', 'shop'), dr('cart', 'cart', 'shop'), pa('strict', 'STRICT', 'shop'), ap('allow', 'ALLOW', 'shop'),
        ...everyOtherIstioKind('shop'), ...ingressObjects('shop'), ...gatewayApiObjects('shop'));
      // the source already holds the pre-existing namespaces, so wait for the new one explicitly
      await until('every kind stored', () => ALL_KINDS.every((k) => s.store.count(k) > 0) && s.store.count('Namespace') === 4);
      assert.deepEqual(names(s.store, 'VirtualService'), ['shop/cart']);
      assert.deepEqual(names(s.store, 'Namespace'), ['/default', '/istio-system', '/kube-system', '/shop']);
      for (const k of ALL_KINDS) for (const key of s.store.keys(k)) assert.equal(s.store.get(k, key)!.sourceId, s.sourceId);
      assert.equal(s.store.listRejections().length, 0);
    });

    it('builds the registry: the service with the endpoints of its EndpointSlice', async () => {
      const r = registry(s.store);
      const host = 'cart.shop.svc.cluster.local';
      assert.ok(r.servicesByHost.get(host));
      assert.deepEqual(r.endpoints.get(`${host}|5000`)?.map((e) => `${e.address}:${e.port}`), ['10.0.0.1:5000']);
      assert.equal(r.workloadsByIp.get('10.0.0.1')?.name, 'cart-1');
    });

    it('applies updates: a new endpoint, a new VirtualService version', async () => {
      await s.put(slice('cart-a', 'cart', 5000, ['10.0.0.1', '10.0.0.2'], 'shop'), vs('cart', 'cart-v2', 'shop'));
      await until('endpoint added', () => registry(s.store).endpoints.get('cart.shop.svc.cluster.local|5000')?.length === 2);
      await until('VirtualService updated', () => s.store.get('VirtualService', keyOf(vs('cart', '', 'shop')))?.object.spec.hosts?.[0] === 'cart-v2');
    });

    it('applies deletions', async () => {
      await s.remove(dr('cart', 'cart', 'shop'));
      await s.remove(pod('cart-1', '', {}, 'shop'));
      await until('deleted', () => s.store.count('DestinationRule') === 0 && s.store.count('Pod') === 0);
      assert.equal(registry(s.store).workloadsByIp.get('10.0.0.1'), undefined);
    });

    it('refuses an invalid update with KIND ns/name: field: reason and keeps the last good version', async () => {
      const bad = vs('cart', 'cart-v2', 'shop');
      (bad.spec as { http: { route: { destination: Record<string, unknown> }[] }[] }).http[0]!.route[0]!.destination = { subset: 'v9' };
      await s.put(bad);
      const rej = await until('rejection recorded', () => s.store.listRejections().find((r) => r.name === 'cart'));
      assert.match(rej.messages[0]!, / VirtualService shop\/cart: spec\.http\[0\]\.route\[0\]\.destination\.host: required field is missing/);
      assert.equal(s.store.get('VirtualService', keyOf(bad))?.object.spec.hosts?.[0], 'cart-v2', 'last good version stays');
      await s.put(vs('cart', 'cart-v3', 'shop'));
      await until('fixed version accepted', () => s.store.get('VirtualService', keyOf(bad))?.object.spec.hosts?.[0] === 'cart-v3');
      assert.equal(s.store.listRejections().length, 0, 'the good version clears the rejection');
    });

    it('refuses an invalid new object: not stored, rejection recorded; deleting it clears the rejection', async () => {
      const bad = pa('weird', 'SOMETIMES', 'shop');
      await s.put(bad);
      await until('rejection recorded', () => s.store.listRejections().some((r) => r.name === 'weird'));
      assert.equal(s.store.get('PeerAuthentication', keyOf(bad)), undefined);
      await s.remove(bad);
      await until('rejection cleared', () => !s.store.listRejections().some((r) => r.name === 'weird'));
    });

    it('deleting the service takes it out of the registry', async () => {
      await s.remove(svc('cart', 5000, 'shop'));
      await until('service gone', () => !registry(s.store).servicesByHost.get('cart.shop.svc.cluster.local'));
    });
  });
}
