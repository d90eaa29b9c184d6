import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { PushContext } from '../../src/model/push-context.js';
import { hostMatches, resolveHostname } from '../../src/model/push-context.js';
import { snapshotOf } from '../support/snapshot.js';

// Istio's lookup rules for which VirtualService and DestinationRule apply to a host, from a namespace.

const HOST = 'reviews.prod.svc.cluster.local';

function vs(name: string, ns: string, hosts: string[], extra: Record<string, unknown> = {}) {
  return { apiVersion: 'networking.istio.io/v1', kind: 'VirtualService' as const, metadata: { name, namespace: ns }, spec: { hosts, http: [{ route: [{ destination: { host: 'reviews.prod.svc.cluster.local' } }] }], ...extra } };
}
function dr(name: string, ns: string, host: string, extra: Record<string, unknown> = {}) {
  return { apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule' as const, metadata: { name, namespace: ns }, spec: { host, ...extra } };
}
function ctxOf(...objs: (ReturnType<typeof vs> | ReturnType<typeof dr>)[]): PushContext {
  return snapshotOf([{ apiVersion: 'v1', kind: 'Service', metadata: { name: 'reviews', namespace: 'prod' }, spec: { ports: [{ port: 9080, name: 'http' }] } }, ...objs]);
}

describe('host names', () => {
  it('resolves short names in the object namespace and keeps FQDNs and wildcards', () => {
    assert.equal(resolveHostname('reviews', 'prod', 'cluster.local'), HOST);
    assert.equal(resolveHostname('reviews.prod.svc.cluster.local', 'x', 'cluster.local'), HOST);
    assert.equal(resolveHostname('*.prod.svc.cluster.local', 'x', 'cluster.local'), '*.prod.svc.cluster.local');
  });
  it('matches wildcards by suffix', () => {
    assert.ok(hostMatches('*.prod.svc.cluster.local', HOST));
    assert.ok(hostMatches('*', HOST));
    assert.ok(!hostMatches('*.dev.svc.cluster.local', HOST));
  });
});

describe('virtualServiceFor', () => {
  it('prefers an exact host over a wildcard, then the oldest', () => {
    const ctx = ctxOf(vs('wild', 'prod', ['*.prod.svc.cluster.local']), vs('exact', 'prod', ['reviews']), vs('exact-newer', 'prod', ['reviews']));
    assert.equal(ctx.virtualServiceFor('prod', HOST)?.config.metadata.name, 'exact');
    assert.equal(ctx.virtualServiceFor('prod', 'ratings.prod.svc.cluster.local')?.config.metadata.name, 'wild');
  });
  it('honours exportTo and ignores VirtualServices bound only to gateways', () => {
    const ctx = ctxOf(vs('private', 'prod', ['reviews'], { exportTo: ['.'] }), vs('gw', 'prod', ['reviews'], { gateways: ['my-gateway'] }));
    assert.equal(ctx.virtualServiceFor('prod', HOST)?.config.metadata.name, 'private');
    assert.equal(ctx.virtualServiceFor('other', HOST), undefined);
  });
});

describe('destinationRuleFor', () => {
  it('looks in the proxy namespace, then the service namespace, then the root namespace', () => {
    const ctx = ctxOf(dr('root', 'istio-system', HOST), dr('svc-ns', 'prod', 'reviews'), dr('client-ns', 'client', HOST));
    assert.equal(ctx.destinationRuleFor('client', HOST)?.config.metadata.name, 'client-ns');
    assert.equal(ctx.destinationRuleFor('elsewhere', HOST)?.config.metadata.name, 'svc-ns');
    const rootOnly = ctxOf(dr('root', 'istio-system', '*.svc.cluster.local'));
    assert.equal(rootOnly.destinationRuleFor('elsewhere', HOST)?.config.metadata.name, 'root');
  });
  it('prefers exact over wildcard within a namespace, and honours exportTo', () => {
    const ctx = ctxOf(dr('wild', 'prod', '*.prod.svc.cluster.local'), dr('exact', 'prod', 'reviews', { exportTo: ['.'] }));
    assert.equal(ctx.destinationRuleFor('prod', HOST)?.config.metadata.name, 'exact');
    assert.equal(ctx.destinationRuleFor('other', HOST)?.config.metadata.name, 'wild');
  });
});
