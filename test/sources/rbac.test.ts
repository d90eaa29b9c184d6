// The ClusterRole lists exactly what the Kubernetes source uses: the rules derived from the kinds table
// match the manifest, and match the (group, resource, verb) of every request the source made against the
// API-server fixture in a run that exercises every path (informers, status writes, leader election).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import { ConfigStore } from '../../src/config/store.js';
import { KubeSource } from '../../src/sources/kube/kube-source.js';
import { clusterRoleRules, permissionTriples } from '../../src/sources/kube/rbac.js';
import { silentLogger } from '../../src/telemetry/log.js';
import { FakeApiServer } from '../kube-fixture/server.js';
import { kubeConfigFor, until } from '../support/kube.js';
import { INVALID_ISTIO_OBJECTS } from '../support/kube-objects.js';

describe('RBAC: manifests/rbac/clusterrole.yaml', () => {
  const api = new FakeApiServer();
  let src: KubeSource;
  before(async () => {
    const url = await api.start();
    for (const o of INVALID_ISTIO_OBJECTS) api.create(o);
    src = new KubeSource({
      kc: kubeConfigFor(url), store: new ConfigStore(), log: silentLogger,
      status: { namespace: 'istio-system', name: 'istio-status-leader', identity: 'rbac-test', retryPeriodMs: 50 },
    });
    src.start();
    await src.waitSynced();
    await until('status on every refused Istio object', () =>
      INVALID_ISTIO_OBJECTS.every((o) => {
        const cur = api.get(String(o.apiVersion), String(o.kind), o.metadata.namespace, o.metadata.name);
        return (cur?.status as { validationMessages?: unknown[] } | undefined)?.validationMessages?.length;
      }));
    await until('a lease renewal', () => api.requests.some((r) => r.resource === 'leases' && r.verb === 'update'));
  });
  after(async () => {
    await src.stop();
    await api.stop();
  });

  it('is the rule set derived from src/config/kinds.ts', () => {
    const manifest = YAML.parse(readFileSync('manifests/rbac/clusterrole.yaml', 'utf8')) as { kind: string; rules: unknown };
    assert.equal(manifest.kind, 'ClusterRole');
    assert.deepEqual(manifest.rules, clusterRoleRules());
  });

  it('grants exactly the requests the source makes: nothing missing, nothing unused', () => {
    const used = new Set(
      api.requests.filter((r) => r.verb && r.resource).map((r) => `${r.group}|${r.resource}${r.subresource ? `/${r.subresource}` : ''}|${r.verb}`),
    );
    const granted = permissionTriples();
    assert.deepEqual([...used].filter((t) => !granted.has(t)).sort(), [], 'requests the ClusterRole does not allow');
    assert.deepEqual([...granted].filter((t) => !used.has(t)).sort(), [], 'permissions the source never uses');
  });
});
