import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { structToJson } from '../../../src/envoy/protos.js';
import { assignment, ctxOf, dr, HOST, pa, pod, proxyOf, SIDECAR, svc, type Body, type Obj } from './cds-fixture.js';
import { unvalidated } from '../../support/snapshot.js';

// Sidecar EDS: health from EndpointSlice conditions, locality groups, istiod's endpoint metadata, subsets
// and locality load balancing. Every assignment goes through Envoy's protos with no field lost.

const slice = (name: string, service: string, endpoints: unknown[], ports = [{ name: 'http', port: 9080 }]): Obj => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { name, namespace: 'default', labels: { 'kubernetes.io/service-name': service } },
  addressType: 'IPv4',
  endpoints,
  ports,
});
const ep = (ip: string, podName: string | undefined, conditions: Record<string, boolean>, zone?: string) => ({
  addresses: [ip],
  conditions,
  ...(podName ? { targetRef: { kind: 'Pod', name: podName, namespace: 'default' } } : {}),
  ...(zone ? { zone } : {}),
});
const reviews = (labels: Record<string, string> = {}) => svc('reviews', [{ name: 'http', port: 9080 }], { labels });
const NAME = `outbound|9080||${HOST}`;

/** [address, health, tlsMode metadata, workload metadata] per endpoint, in order */
function flat(cla: Body): [string, string, unknown, unknown][] {
  return cla.endpoints.flatMap((g: Body) =>
    g.lb_endpoints.map((e: Body) => [
      e.endpoint.address.socket_address.address,
      e.health_status,
      e.metadata.filter_metadata['envoy.transport_socket_match'] ? structToJson(e.metadata.filter_metadata['envoy.transport_socket_match']).tlsMode : undefined,
      structToJson(e.metadata.filter_metadata.istio).workload,
    ]),
  );
}

describe('sidecar EDS: health and metadata', () => {
  it('ready → HEALTHY; not ready and terminating endpoints are left out (istiod defaults)', () => {
    const ctx = ctxOf([
      reviews(),
      pod('reviews-v1-abc-x1', '10.0.0.1', { app: 'reviews', 'pod-template-hash': 'abc', ...SIDECAR, 'service.istio.io/canonical-name': 'reviews', 'service.istio.io/canonical-revision': 'v1' }),
      slice('reviews-1', 'reviews', [
        ep('10.0.0.1', 'reviews-v1-abc-x1', { ready: true }),
        ep('10.0.0.2', undefined, { ready: false }),
        ep('10.0.0.3', undefined, { ready: false, serving: true, terminating: true }),
        ep('10.0.0.4', undefined, {}),
      ]),
    ]);
    const cla = assignment(ctx, NAME);
    assert.equal(cla.cluster_name, NAME);
    assert.deepEqual(flat(cla), [
      ['10.0.0.1', 'HEALTHY', 'istio', 'reviews-v1;default;reviews;v1;Kubernetes'],
      ['10.0.0.4', 'HEALTHY', undefined, ';default;;;Kubernetes'],
    ]);
    assert.deepEqual(cla.endpoints[0].lb_endpoints[0].load_balancing_weight, { value: 1 });
    assert.deepEqual(cla.endpoints[0].load_balancing_weight, { value: 2 });
    assert.deepEqual(cla.endpoints[0].locality, {});
  });

  it('serving-but-terminating endpoints are DRAINING for persistent-session services', () => {
    const ctx = ctxOf([
      reviews({ 'istio.io/persistent-session': 'session' }),
      slice('reviews-1', 'reviews', [ep('10.0.0.1', undefined, { ready: true }), ep('10.0.0.3', undefined, { ready: false, serving: true, terminating: true }), ep('10.0.0.5', undefined, { ready: false, serving: false, terminating: true })]),
    ]);
    assert.deepEqual(flat(assignment(ctx, NAME)).map(([a, h]) => [a, h]), [['10.0.0.1', 'HEALTHY'], ['10.0.0.3', 'DRAINING']]);
  });

  it('tlsMode metadata only for sidecar pods whose mTLS is not turned off', () => {
    const pods = [
      pod('a', '10.0.0.1', { app: 'reviews', ...SIDECAR }),
      pod('b', '10.0.0.2', { app: 'reviews' }),
      pod('c', '10.0.0.3', { app: 'reviews', ...SIDECAR, legacy: 'yes' }),
    ];
    const tlsModes = (extra: Obj[]) => flat(assignment(ctxOf([reviews(), ...pods, ...extra]), NAME)).map(([a, , t]) => [a, t]);
    assert.deepEqual(tlsModes([]), [['10.0.0.1', 'istio'], ['10.0.0.2', undefined], ['10.0.0.3', 'istio']]);
    assert.deepEqual(
      tlsModes([pa('legacy', 'default', { selector: { matchLabels: { legacy: 'yes' } }, mtls: { mode: 'DISABLE' } })]),
      [['10.0.0.1', 'istio'], ['10.0.0.2', undefined], ['10.0.0.3', undefined]],
      'workload PeerAuthentication DISABLE',
    );
    assert.deepEqual(tlsModes([dr('reviews', { trafficPolicy: { tls: { mode: 'SIMPLE' } } })]).map(([, t]) => t), [undefined, undefined, undefined], 'DestinationRule tls other than ISTIO_MUTUAL');
  });

  it('workload names: Deployment, StatefulSet, bare pod', () => {
    const ctx = ctxOf([
      reviews(),
      pod('reviews-v2-5d8f-q7x2p', '10.0.0.1', { app: 'reviews', 'pod-template-hash': '5d8f' }),
      pod('reviews-db-0', '10.0.0.2', { app: 'reviews', 'statefulset.kubernetes.io/pod-name': 'reviews-db-0' }),
      pod('debug', '10.0.0.3', { app: 'reviews' }),
    ]);
    assert.deepEqual(flat(assignment(ctx, NAME)).map(([, , , w]) => w), ['reviews-v2;default;;;Kubernetes', 'reviews-db;default;;;Kubernetes', 'debug;default;;;Kubernetes']);
  });

  it('unknown service, port or subset → empty assignment; subsets filter by pod labels', () => {
    const ctx = ctxOf([
      reviews(),
      pod('v1', '10.0.0.1', { app: 'reviews', version: 'v1' }),
      pod('v2', '10.0.0.2', { app: 'reviews', version: 'v2' }),
      dr('reviews', { subsets: [{ name: 'v2', labels: { version: 'v2' } }] }),
    ]);
    assert.deepEqual(assignment(ctx, 'outbound|9080||nope.default.svc.cluster.local'), { cluster_name: 'outbound|9080||nope.default.svc.cluster.local', endpoints: [] });
    assert.deepEqual(assignment(ctx, `outbound|1||${HOST}`).endpoints, []);
    assert.deepEqual(assignment(ctx, `outbound|9080|v9|${HOST}`).endpoints, []);
    assert.deepEqual(flat(assignment(ctx, `outbound|9080|v2|${HOST}`)).map(([a]) => a), ['10.0.0.2']);
    assert.equal(assignment(ctx, 'inbound|9080||'), undefined);
  });
});

describe('sidecar EDS: locality', () => {
  const zoned = (extra: Obj[] = []) => ctxOf([
    reviews(),
    slice('reviews-1', 'reviews', [
      ep('10.1.0.1', undefined, { ready: true }, 'us-east-1a'),
      ep('10.1.0.2', undefined, { ready: true }, 'us-east-1a'),
      ep('10.2.0.1', undefined, { ready: true }, 'us-east-1b'),
      ep('10.3.0.1', undefined, { ready: true }),
    ]),
    ...extra,
  ]);
  const groups = (cla: Body) => cla.endpoints.map((g: Body) => [g.locality.zone ?? '', g.lb_endpoints.length, g.load_balancing_weight.value, g.priority ?? 0]);

  it('groups by locality with weight = endpoints, no priorities without locality LB', () => {
    assert.deepEqual(groups(assignment(zoned(), NAME)), [['', 1, 1, 0], ['us-east-1a', 2, 2, 0], ['us-east-1b', 1, 1, 0]]);
  });

  it('mesh-default failover with outlierDetection: priority by closeness to the proxy', () => {
    const ctx = zoned([dr('reviews', { trafficPolicy: { outlierDetection: { consecutive5xxErrors: 3 } } })]);
    const client = proxyOf('client-1', '10.9.9.9', { app: 'client' }, { locality: { zone: 'us-east-1b' } });
    // same (empty) region everywhere: same zone → 0, other zones → 1 (renumbered from 0 and 2)
    assert.deepEqual(groups(assignment(ctx, NAME, client)), [['', 1, 1, 1], ['us-east-1a', 2, 2, 1], ['us-east-1b', 1, 1, 0]]);
  });

  it('localityLbSetting.enabled false turns failover off', () => {
    const ctx = zoned([dr('reviews', { trafficPolicy: { outlierDetection: { consecutive5xxErrors: 3 }, loadBalancer: { localityLbSetting: { enabled: false } } } })]);
    const client = proxyOf('client-1', '10.9.9.9', { app: 'client' }, { locality: { zone: 'us-east-1b' } });
    assert.deepEqual(groups(assignment(ctx, NAME, client)).map((g: Body) => g[3]), [0, 0, 0]);
  });

  it('failover region rules push regions not listed to the last priority', () => {
    const ctx = ctxOf([
      reviews(),
      pod('e1', '10.1.0.1', { app: 'reviews', 'topology.kubernetes.io/region': 'us-east', 'topology.kubernetes.io/zone': 'a' }),
      pod('w1', '10.2.0.1', { app: 'reviews', 'topology.kubernetes.io/region': 'us-west', 'topology.kubernetes.io/zone': 'a' }),
      pod('eu', '10.3.0.1', { app: 'reviews', 'topology.kubernetes.io/region': 'eu', 'topology.kubernetes.io/zone': 'a' }),
      dr('reviews', { trafficPolicy: { outlierDetection: { consecutive5xxErrors: 3 }, loadBalancer: { localityLbSetting: { failover: [{ from: 'us-east', to: 'eu' }] } } } }),
    ]);
    const client = proxyOf('client-1', '10.9.9.9', { app: 'client' }, { locality: { region: 'us-east', zone: 'a' } });
    const byRegion = assignment(ctx, NAME, client).endpoints.map((g: Body) => [g.locality.region, g.priority ?? 0]);
    assert.deepEqual(byRegion, [['eu', 1], ['us-east', 0], ['us-west', 2]]);
  });

  it('distribute reweights matched localities and empties the rest', () => {
    // validation refuses localities with an empty region; such a DestinationRule reaches istiod from a cluster whose webhook is off
    const ctx = zoned([unvalidated(dr('reviews', { trafficPolicy: { loadBalancer: { localityLbSetting: { distribute: [{ from: '*', to: { '/us-east-1a': 80, '/us-east-1b': 20 } }] } } } }))]);
    assert.deepEqual(groups(assignment(ctx, NAME)), [['', 0, 1, 0], ['us-east-1a', 2, 80, 0], ['us-east-1b', 1, 20, 0]]);
  });

  it('failoverPriority splits a locality by the labels endpoints share with the proxy', () => {
    const ctx = ctxOf([
      reviews(),
      pod('r-a', '10.1.0.1', { app: 'reviews', network: 'n1' }),
      pod('r-b', '10.1.0.2', { app: 'reviews', network: 'n2' }),
      dr('reviews', { trafficPolicy: { outlierDetection: { consecutive5xxErrors: 3 }, loadBalancer: { localityLbSetting: { failoverPriority: ['network'] } } } }),
    ]);
    const client = proxyOf('client-1', '10.9.9.9', { app: 'client', network: 'n2' });
    const cla = assignment(ctx, NAME, client);
    assert.deepEqual(cla.endpoints.map((g: Body) => [g.lb_endpoints[0].endpoint.address.socket_address.address, g.priority ?? 0, g.load_balancing_weight.value]), [['10.1.0.2', 0, 1], ['10.1.0.1', 1, 1]]);
    const overridden = assignment(ctxOf([
      reviews(),
      pod('r-a', '10.1.0.1', { app: 'reviews', network: 'n1' }),
      pod('r-b', '10.1.0.2', { app: 'reviews', network: 'n2' }),
      dr('reviews', { trafficPolicy: { outlierDetection: { consecutive5xxErrors: 3 }, loadBalancer: { localityLbSetting: { failoverPriority: ['network=n1'] } } } }),
    ]), NAME, client);
    assert.equal(overridden.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address, '10.1.0.1', '`label=value` ranks by the given value');
  });
});
