import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Kind } from '../../../src/config/kinds.js';
import type { PushContext } from '../../../src/model/push-context.js';
import { parseProxy, type XdsNode } from '../../../src/model/proxy.js';
import { sidecarGenerator } from '../../../src/xds/generators/sidecar/index.js';
import { TYPE } from '../../../src/xds/resource-types.js';
import { checkEnvoyResource } from '../../support/envoy-check/pgv-check.js';
import { snapshotOf } from '../../support/snapshot.js';

// Stock Envoy rejects a listener that names an extension it lacks (istio.stats is istio-proxy's). A node
// that says it is stock Envoy — by the extensions Envoy reports, or `meshd bootstrap`'s metadata — gets
// listeners without them; istio-proxy keeps them for users' Prometheus dashboards.

type Obj = Record<string, unknown> & { kind: Kind; metadata: { name: string; namespace?: string; labels?: Record<string, string> } };

const objs: Obj[] = [
  { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'default' }, spec: { selector: { app: 'web' }, clusterIP: '10.96.0.10', ports: [{ name: 'http', port: 80 }] } },
  { apiVersion: 'v1', kind: 'Service', metadata: { name: 'db', namespace: 'default' }, spec: { selector: { app: 'db' }, clusterIP: '10.96.0.11', ports: [{ name: 'tcp', port: 5432 }] } },
  { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-1', namespace: 'default', labels: { app: 'web' } }, spec: { containers: [{ name: 'app' }] }, status: { podIP: '10.0.0.5', phase: 'Running' } },
];

function ctx(): PushContext {
  return snapshotOf(objs, { label: 'stock-envoy.test' });
}

const node = (extra: Partial<XdsNode> = {}, md: Record<string, unknown> = {}): XdsNode => ({
  id: 'sidecar~10.0.0.5~web-1.default~default.svc.cluster.local',
  metadata: { NAMESPACE: 'default', LABELS: { app: 'web' }, INSTANCE_IPS: '10.0.0.5', ...md },
  ...extra,
});

function filterNames(listeners: object[]): string[] {
  const out: string[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      if (typeof o.name === 'string' && 'typed_config' in o) out.push(o.name);
      Object.values(o).forEach(walk);
    }
  };
  walk(listeners);
  return out;
}

function listenersFor(n: XdsNode): object[] {
  const c = ctx();
  const p = parseProxy(n);
  return sidecarGenerator.wildcardNames(TYPE.LDS, c, p).map((name) => sidecarGenerator.generate(TYPE.LDS, c, p, name)!);
}

describe('stock Envoy sidecars', () => {
  it('istio-proxy (no extension list, or one with istio.* extensions) keeps istio.stats', () => {
    assert.ok(filterNames(listenersFor(node())).includes('istio.stats'));
    const reported = node({ extensions: [{ name: 'envoy.filters.http.router' }, { name: 'istio.stats' }] } as Partial<XdsNode>);
    assert.ok(filterNames(listenersFor(reported)).includes('istio.stats'));
  });

  for (const [what, n] of [
    ['meshd bootstrap metadata ISTIO_PROXY_EXTENSIONS=false', node({}, { ISTIO_PROXY_EXTENSIONS: 'false' })],
    ['an extension list without istio.* extensions', node({ extensions: [{ name: 'envoy.filters.http.router' }, { name: 'envoy.filters.network.tcp_proxy' }] } as Partial<XdsNode>)],
  ] as const) {
    it(`${what}: no istio-proxy-only filter in any listener, everything else unchanged and valid`, () => {
      const stock = listenersFor(n);
      const istio = listenersFor(node());
      const names = filterNames(stock);
      assert.ok(!names.includes('istio.stats'));
      assert.deepEqual(names, filterNames(istio).filter((f) => f !== 'istio.stats'));
      for (const l of stock) assert.deepEqual(checkEnvoyResource(TYPE.LDS, l), []);
    });
  }

  it('stock Envoy and istio-proxy proxies never share a class (their listeners differ)', () => {
    const c = ctx();
    assert.notEqual(sidecarGenerator.classKey(c, parseProxy(node())), sidecarGenerator.classKey(c, parseProxy(node({}, { ISTIO_PROXY_EXTENSIONS: 'false' }))));
  });
});
