// PILOT_ENABLE_ANALYSIS: analyzer messages reach the Istio objects' status through the Kubernetes source's
// status writer (the Lease holder writes), and leave it when the config is fixed.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigStore } from '../../src/config/store.js';
import { DEFAULT_MESH_CONFIG } from '../../src/config/mesh-config.js';
import { KubeSource } from '../../src/sources/kube/kube-source.js';
import { AnalysisController } from '../../src/analyze/controller.js';
import { silentLogger } from '../../src/telemetry/log.js';
import { FakeApiServer } from '../kube-fixture/server.js';
import { kubeConfigFor, until } from '../support/kube.js';
import { svc, vs } from '../support/kube-objects.js';

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

type Status = { validationMessages?: { level: string; type: { code: string; name: string }; message: string; documentationUrl: string }[] } | undefined;

test('analyzer messages are written to status.validationMessages and cleared when fixed', async () => {
  const api = new FakeApiServer();
  const url = await api.start();
  cleanups.push(() => api.stop());
  api.create(vs('reviews', 'reviews'));
  api.create(vs('ratings', 'ratings'));
  api.create(svc('ratings', 9080));
  const store = new ConfigStore();
  const lease = { namespace: 'istio-system', name: 'istio-status-leader', leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 100, identity: 'meshd-0' };
  const src = new KubeSource({ kc: kubeConfigFor(url), store, log: silentLogger, status: lease });
  cleanups.push(() => src.stop());
  src.start();
  await src.waitSynced();
  const controller = new AnalysisController({
    store, mesh: () => DEFAULT_MESH_CONFIG, istioNamespace: 'istio-system', log: silentLogger, intervalMs: 50,
    onResult: (byKey) => src.status!.setAnalysis(byKey),
  });
  cleanups.push(() => controller.stop());
  controller.start();

  const statusOf = (name: string) => api.get('networking.istio.io/v1', 'VirtualService', 'default', name)?.status as Status;
  const messages = await until('IST0101 on reviews', () => statusOf('reviews')?.validationMessages);
  assert.deepEqual(messages, [{
    documentationUrl: 'https://istio.io/latest/docs/reference/config/analysis/ist0101/?ref=status-controller',
    level: 'ERROR',
    type: { code: 'IST0101', name: 'ReferencedResourceNotFound' },
    message: 'Referenced host not found: "reviews"',
  }]);
  // the Service arrives: the next analysis run clears the message
  api.create(svc('reviews', 9080));
  await until('reviews status cleared', () => !statusOf('reviews')?.validationMessages?.length);
  // an object without messages never had its status written
  assert.equal(api.requests.filter((r) => r.subresource === 'status' && r.name === 'ratings').length, 0);
});

test('status patch: validation + analysis entries together; entries of other writers stay; nothing to write when current', async () => {
  const { StatusWriter } = await import('../../src/sources/kube/status.js');
  const analysis = [{ documentationUrl: 'u', level: 'WARNING' as const, type: { code: 'IST0130', name: 'VirtualServiceUnreachableRule' }, message: 'VirtualService rule #1 not used (only the last rule can have no matches).' }];
  const foreign = { type: { code: 'ACME0001', name: 'Other' }, level: 'INFO', message: 'kept' };
  const obj = { apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'v', namespace: 'default', generation: 2 }, status: { validationMessages: [foreign] } };
  const patch = StatusWriter.desiredPatch(obj as never, [], undefined, analysis);
  assert.deepEqual(patch, { validationMessages: [foreign, ...analysis], observedGeneration: 2 });
  const current = { ...obj, status: { ...patch } };
  assert.equal(StatusWriter.desiredPatch(current as never, [], undefined, analysis), undefined);
  // fixed: meshd's entries go, the other writer's stays
  assert.deepEqual(StatusWriter.desiredPatch(current as never, [], undefined, []), { validationMessages: [foreign], observedGeneration: 2 });
});
