import { ConfigStore } from '../src/config/store.js';
import { PushContext } from '../src/model/push-context.js';
const store = new ConfigStore();
const origin = { source: 'memory', label: 'x' } as const;
const N = 1000;
for (let i = 0; i < N; i++) {
  const ns = `ns-${i % 10}`; const name = `svc-${i}`;
  store.upsert('Service', { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns }, spec: { clusterIP: `10.96.${i >> 8}.${i & 255}`, selector: { app: name }, ports: [{ name: 'http', port: 5000 }] } } as never, origin, 't');
  for (const v of ['v1', 'v2', 'v3']) store.upsert('Pod', { apiVersion: 'v1', kind: 'Pod', metadata: { name: `${name}-${v}`, namespace: ns, labels: { app: name, version: v } }, spec: { serviceAccountName: name }, status: { podIP: `10.${v.charCodeAt(1)}.${i >> 8}.${i & 255}`, phase: 'Running' } } as never, origin, 't');
  store.upsert('DestinationRule', { apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name, namespace: ns }, spec: { host: name, subsets: [{ name: 'v1', labels: { version: 'v1' } }, { name: 'v2', labels: { version: 'v2' } }] } } as never, origin, 't');
  store.upsert('VirtualService', { apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name, namespace: ns }, spec: { hosts: [name], http: [{ route: [{ destination: { host: name, subset: 'v1' }, weight: 90 }, { destination: { host: name, subset: 'v2' }, weight: 10 }] }] } } as never, origin, 't');
}
const times: number[] = [];
for (let k = 0; k < 15; k++) {
  store.upsert('Pod', { apiVersion: 'v1', kind: 'Pod', metadata: { name: `extra-${k}`, namespace: 'ns-0', labels: { app: 'svc-0', version: 'v2' } }, spec: {}, status: { podIP: `10.200.0.${k}`, phase: 'Running' } } as never, origin, 't');
  const t0 = performance.now();
  const ctx = new PushContext(store, `v${k}`);
  times.push(performance.now() - t0);
  void ctx;
}
console.log('PushContext ms', times.map((t) => t.toFixed(1)).join(' '));
