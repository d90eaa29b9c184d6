import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseProxy, type Proxy } from '../../../src/model/proxy.js';
import { sidecarGenerator } from '../../../src/xds/generators/sidecar/index.js';
import { grpcGenerator } from '../../../src/xds/generators/grpc/index.js';
import { TYPE } from '../../../src/xds/resource-types.js';
import { checkEnvoyResource } from '../../support/envoy-check/pgv-check.js';
import { docsOfYaml, snapshotOf } from '../../support/snapshot.js';

// Sidecar `egress` listeners with a `port` (istiod buildSidecarOutboundListeners over
// SidecarScope.EgressListeners; the first case is istiod's testOutboundListenerConfigWithSidecar in
// pilot/pkg/networking/core/listener_test.go): the port-specific listener builds that port for its hosts
// with the Sidecar's protocol and bind, the catch-all fills the other ports, and route configurations hold
// the services of the egress listener for their port.

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const SERVICES = `
apiVersion: v1
kind: Service
metadata: {name: web, namespace: apps}
spec: {clusterIP: 10.96.5.1, ports: [{name: http, port: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: rpc, namespace: apps}
spec: {clusterIP: 10.96.5.2, ports: [{name: tcp, port: 9000}]}
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: apps}
spec: {clusterIP: 10.96.5.3, ports: [{name: tcp-mysql, port: 3306}]}
---
apiVersion: v1
kind: Service
metadata: {name: odd, namespace: apps}
spec: {clusterIP: 10.96.5.4, ports: [{name: tcp, port: 8888}]}
---
apiVersion: v1
kind: Service
metadata: {name: search, namespace: apps}
spec: {clusterIP: 10.96.5.5, ports: [{name: http, port: 9000}, {name: http-admin, port: 9001}]}
`;

function world(sidecarSpec: string) {
  return snapshotOf(docsOfYaml(`${SERVICES}---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: client}
spec:
${sidecarSpec}`), { label: 'egress-listeners.test' });
}

const client = (mode = 'REDIRECT', ip = '10.7.0.9'): Proxy => parseProxy({
  id: `sidecar~${ip}~client-1.client~client.svc.cluster.local`,
  metadata: { NAMESPACE: 'client', LABELS: { app: 'client' }, INSTANCE_IPS: ip, ISTIO_VERSION: '1.24.0', INTERCEPTION_MODE: mode },
});

const ISTIOD_CASE = `
  egress:
  - port: {number: 9000, protocol: GRPC, name: uds}
    hosts: ["*/*"]
  - port: {number: 3306, protocol: MySQL, name: MySQL}
    bind: 8.8.8.8
    hosts: ["*/*"]
  - port: {number: 8888, name: unknown}
    bind: 2.2.2.2
    hosts: ["*/*"]
  - hosts: ["*/*"]
`;

const listenersOf = (ctx: ReturnType<typeof world>, p: Proxy): Map<string, Obj> => {
  const out = new Map<string, Obj>();
  for (const name of sidecarGenerator.wildcardNames(TYPE.LDS, ctx, p)) {
    const l = sidecarGenerator.generate(TYPE.LDS, ctx, p, name) as Obj | undefined;
    if (l) out.set(name, l);
  }
  return out;
};
const filterNames = (chain: Obj): string[] => chain.filters.map((f: Obj) => f.name);
const isHttpChain = (chain: Obj) => filterNames(chain).includes('envoy.filters.network.http_connection_manager');
const route = (ctx: ReturnType<typeof world>, p: Proxy, name: string) => sidecarGenerator.generate(TYPE.RDS, ctx, p, name) as Obj | undefined;
const vhostNames = (rc: Obj | undefined) => (rc?.virtual_hosts ?? []).map((vh: Obj) => vh.name);

describe('Sidecar egress listeners with a port', () => {
  it('istiod\'s case: the Sidecar\'s port protocol and bind decide; the catch-all adds only the other ports', () => {
    const ctx = world(ISTIOD_CASE);
    for (const p of [client(), client('REDIRECT', '10.7.0.9,fd00::9')]) {
      const ls = listenersOf(ctx, p);
      for (const l of ls.values()) assert.deepEqual(checkEnvoyResource(TYPE.LDS, l), [], String(l.name));
      const outbound = [...ls.keys()].filter((n) => n !== 'virtualOutbound' && n !== 'virtualInbound').sort();
      // the port-specific listeners: 9000 once (both services), 3306 and 8888 on their binds. The catch-all
      // locks only those bind:port pairs, so TCP ports still get their cluster-IP listeners from it (istiod's
      // own case has services without a VIP, where they collapse onto the wildcard: 4 listeners)
      assert.deepEqual(outbound, [
        '0.0.0.0_8080', '0.0.0.0_9000', '0.0.0.0_9001', '10.96.5.2_9000', '10.96.5.3_3306', '10.96.5.4_8888', '2.2.2.2_8888', '8.8.8.8_3306',
      ]);
      // GRPC on 9000: an HTTP listener, though rpc's port 9000 is TCP
      const grpc = ls.get('0.0.0.0_9000')!;
      assert.ok(isHttpChain(grpc.filter_chains[0]) && grpc.filter_chains.length === 1, JSON.stringify(grpc.filter_chains.map(filterNames)));
      // MySQL on the given bind, still reached through virtualOutbound (no captureMode NONE)
      const mysql = ls.get('8.8.8.8_3306')!;
      assert.deepEqual(mysql.address, { socket_address: { address: '8.8.8.8', port_value: 3306 } });
      assert.deepEqual(mysql.bind_to_port, { value: false });
      assert.ok(filterNames(mysql.filter_chains[0]).includes('envoy.filters.network.tcp_proxy'));
      // an unknown protocol is sniffed: an HTTP chain matched by ALPN, TCP as the default chain
      const odd = ls.get('2.2.2.2_8888')!;
      assert.equal(odd.filter_chains.length, 1);
      assert.ok(isHttpChain(odd.filter_chains[0]));
      assert.ok(!isHttpChain(odd.default_filter_chain));
      assert.ok(JSON.stringify(odd.listener_filters).includes('http_inspector'));
      // 8080 from the catch-all: HTTP on the wildcard, as without a Sidecar
      assert.ok(isHttpChain(ls.get('0.0.0.0_8080')!.filter_chains[0]));
    }
  });

  it('route configurations: the port-specific listener\'s services (whatever their port protocol) and VirtualService hosts, the catch-all\'s for the rest', () => {
    const ctx = world(`
  egress:
  - port: {number: 9000, protocol: HTTP, name: http}
    hosts: ["apps/rpc.apps.svc.cluster.local"]
  - hosts: ["apps/*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: httpbin-org, namespace: apps}
spec:
  hosts: [httpbin.org]
  http: [{route: [{destination: {host: httpbin.org}}]}]
`);
    const p = client();
    // search also has 9000 but only the catch-all sees it: not on route 9000; nor is the VirtualService host
    assert.deepEqual(vhostNames(route(ctx, p, '9000')), ['rpc.apps.svc.cluster.local:9000', 'allow_any']);
    assert.deepEqual(vhostNames(route(ctx, p, '9001')), ['search.apps.svc.cluster.local:9001', 'httpbin.org:9001', 'allow_any']);
    assert.deepEqual(vhostNames(route(ctx, p, '8080')), ['web.apps.svc.cluster.local:8080', 'httpbin.org:8080', 'allow_any']);
    // clusters are the union: search keeps outbound|9000 (its catch-all import has every port)
    const clusters = sidecarGenerator.wildcardNames(TYPE.CDS, ctx, p);
    assert.ok(clusters.includes('outbound|9000||search.apps.svc.cluster.local'), clusters.join(','));
  });

  it('without a catch-all, only the declared ports exist (listeners, routes, clusters); a host without that port is not imported', () => {
    const ctx = world(`
  egress:
  - port: {number: 9000, protocol: HTTP, name: http}
    hosts: ["apps/*"]
`);
    const p = client();
    const outbound = [...listenersOf(ctx, p).keys()].filter((n) => !n.startsWith('virtual'));
    assert.deepEqual(outbound, ['0.0.0.0_9000']);
    assert.deepEqual(vhostNames(route(ctx, p, '9000')), ['rpc.apps.svc.cluster.local:9000', 'search.apps.svc.cluster.local:9000', 'allow_any']);
    assert.deepEqual(vhostNames(route(ctx, p, '8080')), ['allow_any'], 'no egress listener covers 8080');
    // istiod trims a service a port-specific listener imports to that port: clusters and endpoints too
    const clusters = sidecarGenerator.wildcardNames(TYPE.CDS, ctx, p).filter((n) => n.startsWith('outbound|'));
    assert.deepEqual(clusters.sort(), ['outbound|9000||rpc.apps.svc.cluster.local', 'outbound|9000||search.apps.svc.cluster.local']);
    assert.equal(sidecarGenerator.generate(TYPE.CDS, ctx, p, 'outbound|9001||search.apps.svc.cluster.local'), undefined);
    assert.equal(sidecarGenerator.generate(TYPE.CDS, ctx, p, 'outbound|8080||web.apps.svc.cluster.local'), undefined);
  });

  it('captureMode NONE on a captured proxy binds that listener for real, on its bind or loopback', () => {
    const ctx = world(`
  egress:
  - port: {number: 3306, protocol: TCP, name: tcp}
    captureMode: NONE
    hosts: ["apps/db.apps.svc.cluster.local"]
  - port: {number: 8080, protocol: HTTP, name: http}
    captureMode: NONE
    bind: 127.0.0.2
    hosts: ["apps/web.apps.svc.cluster.local"]
  - hosts: ["apps/*"]
`);
    const p = client();
    const ls = listenersOf(ctx, p);
    assert.ok(ls.has('virtualOutbound'));
    const db = ls.get('127.0.0.1_3306')!;
    assert.equal(db.bind_to_port, undefined, 'a real socket');
    assert.deepEqual(db.address, { socket_address: { address: '127.0.0.1', port_value: 3306 } });
    const web = ls.get('127.0.0.2_8080')!;
    assert.equal(web.bind_to_port, undefined);
    assert.equal(web.listener_filters, undefined, 'HTTP bound to one address: no sniffing');
    assert.equal(web.filter_chains[0].filters[0].typed_config.rds.route_config_name, '8080');
    // istiod locks bind:port: the catch-all's web still gets the wildcard 8080 (behind virtualOutbound), whose
    // route `8080` is the port-specific listener's all the same
    assert.deepEqual(ls.get('0.0.0.0_8080')!.bind_to_port, { value: false });
    assert.deepEqual(ls.get('0.0.0.0_9000')!.bind_to_port, { value: false }, 'catch-all listeners stay behind virtualOutbound');
    for (const l of ls.values()) assert.deepEqual(checkEnvoyResource(TYPE.LDS, l), [], String(l.name));
  });

  it('an IPv6-only NONE-mode proxy binds every egress listener on ::1', () => {
    const ctx = world(`
  egress:
  - port: {number: 3306, protocol: TCP, name: tcp}
    hosts: ["apps/db.apps.svc.cluster.local"]
  - hosts: ["apps/web.apps.svc.cluster.local"]
`);
    const ls = listenersOf(ctx, client('NONE', 'fd00::9'));
    assert.deepEqual([...ls.keys()].sort(), ['::1_3306', '::1_8080']);
    for (const l of ls.values()) assert.equal(l.bind_to_port, undefined);
  });
  it('HTTP_PROXY (istiod TestOutboundListenerConfigWithSidecarHTTPProxy): one plain HTTP listener whose route holds every HTTP port of the imported services', () => {
    const ctx = world(`
  egress:
  - port: {number: 15080, protocol: HTTP_PROXY, name: "15080"}
    bind: 127.0.0.1
    captureMode: NONE
    hosts: ["apps/*"]
`);
    for (const p of [client(), client('REDIRECT', '10.7.0.9,fd00::9')]) {
      const ls = listenersOf(ctx, p);
      const outbound = [...ls.keys()].filter((n) => !n.startsWith('virtual'));
      assert.deepEqual(outbound, ['127.0.0.1_15080']);
      const l = ls.get('127.0.0.1_15080')!;
      assert.deepEqual(checkEnvoyResource(TYPE.LDS, l), []);
      assert.equal(l.filter_chains.length, 1);
      assert.ok(isHttpChain(l.filter_chains[0]));
      assert.equal(l.filter_chains[0].filter_chain_match, undefined, 'no sniffing');
      assert.equal(l.listener_filters, undefined);
      assert.equal(l.default_filter_chain, undefined);
      assert.equal(l.bind_to_port, undefined, 'a real socket');
      assert.equal(l.filter_chains[0].filters[0].typed_config.rds.route_config_name, '15080');
      // the application names host:port: every HTTP port of every imported service, TCP ones not
      const rc = route(ctx, p, '15080')!;
      assert.deepEqual(vhostNames(rc), [
        'search.apps.svc.cluster.local:9000', 'search.apps.svc.cluster.local:9001', 'web.apps.svc.cluster.local:8080', 'allow_any',
      ]);
      assert.ok(rc.virtual_hosts[2].domains.includes('web.apps.svc.cluster.local:8080'));
      assert.deepEqual(checkEnvoyResource(TYPE.RDS, rc), []);
      // needsPortMatch is false: the services are imported whole (clusters for every port)
      const clusters = sidecarGenerator.wildcardNames(TYPE.CDS, ctx, p).filter((n) => n.startsWith('outbound|')).sort();
      assert.ok(clusters.includes('outbound|3306||db.apps.svc.cluster.local') && clusters.includes('outbound|9001||search.apps.svc.cluster.local'), clusters.join());
    }
  });

  it('HTTP_PROXY without captureMode: on the wildcard behind virtualOutbound; nothing without an imported service', () => {
    const ctx = world(`
  egress:
  - port: {number: 15080, protocol: HTTP_PROXY, name: proxy}
    hosts: ["apps/web.apps.svc.cluster.local"]
  - port: {number: 15081, protocol: HTTP_PROXY, name: none}
    hosts: ["nowhere/*"]
`);
    const ls = listenersOf(ctx, client());
    assert.deepEqual([...ls.keys()].filter((n) => !n.startsWith('virtual')), ['0.0.0.0_15080']);
    assert.deepEqual(ls.get('0.0.0.0_15080')!.bind_to_port, { value: false });
    assert.deepEqual(vhostNames(route(ctx, client(), '15080')), ['web.apps.svc.cluster.local:8080', 'allow_any']);
  });

  it('a unix:// bind listens on that socket (pipe address) with a route named after it; the catch-all is unaffected', () => {
    const ctx = world(`
  egress:
  - port: {number: 0, protocol: HTTP, name: uds}
    bind: unix:///var/run/app/egress.sock
    hosts: ["apps/web.apps.svc.cluster.local", "apps/search.apps.svc.cluster.local"]
  - hosts: ["apps/*"]
`);
    const p = client();
    const ls = listenersOf(ctx, p);
    const name = 'unix:///var/run/app/egress.sock_0';
    const uds = ls.get(name)!;
    assert.ok(uds, [...ls.keys()].join());
    assert.deepEqual(checkEnvoyResource(TYPE.LDS, uds), []);
    assert.deepEqual(uds.address, { pipe: { path: '/var/run/app/egress.sock' } });
    assert.equal(uds.bind_to_port, undefined, 'a socket is always bound for real');
    assert.equal(uds.filter_chains.length, 1);
    assert.equal(uds.filter_chains[0].filters[0].typed_config.rds.route_config_name, 'unix:///var/run/app/egress.sock');
    assert.equal(uds.filter_chains[0].filters[0].typed_config.stat_prefix, `outbound_${name}`);
    const rc = route(ctx, p, 'unix:///var/run/app/egress.sock')!;
    assert.deepEqual(vhostNames(rc), [
      'search.apps.svc.cluster.local:9000', 'search.apps.svc.cluster.local:9001', 'web.apps.svc.cluster.local:8080', 'allow_any',
    ]);
    assert.equal(route(ctx, p, 'unix:///var/run/other.sock')!.virtual_hosts.length, 1, 'no egress listener on that socket');
    // the catch-all still builds every port as usual
    assert.ok(ls.has('0.0.0.0_8080') && ls.has('10.96.5.3_3306'));
    assert.deepEqual(vhostNames(route(ctx, p, '8080')), ['web.apps.svc.cluster.local:8080', 'allow_any']);
  });
});

describe('Sidecar scope: VirtualService destinations (istiod SidecarScope collectImportedServices)', () => {
  // the client's Sidecar imports only its own namespace; its VirtualService for `shop.example.com` routes to
  // apps services: istiod adds those destinations to the proxy's scope (clusters, endpoints), not to listeners
  const VS = `
  egress:
  - hosts: ["./*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: shop, namespace: client}
spec:
  hosts: [shop.example.com]
  http:
  - match: [{sourceNamespace: elsewhere}]
    route: [{destination: {host: web.apps.svc.cluster.local}}]
  - route: [{destination: {host: search.apps.svc.cluster.local, port: {number: 9001}}}]
    mirror: {host: odd.apps.svc.cluster.local, port: {number: 7777}}
  tcp:
  - route: [{destination: {host: db.apps.svc.cluster.local}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: other, namespace: apps}
spec:
  hosts: [other.example.com]
  http: [{route: [{destination: {host: rpc.apps.svc.cluster.local}}]}]
`;
  const outboundClusters = (ctx: ReturnType<typeof world>, p: Proxy) =>
    sidecarGenerator.wildcardNames(TYPE.CDS, ctx, p).filter((n) => n.startsWith('outbound|')).sort();

  it('clusters and endpoints for the ports routed to; not for routes of another sourceNamespace, VirtualServices not selected, or ports the service lacks', () => {
    const ctx = world(VS);
    const p = client();
    // search: only the destination port 9001; db: a destination without a port imports every port; web only
    // under a sourceNamespace match for another namespace; odd has no port 7777; rpc's VirtualService is in apps
    assert.deepEqual(outboundClusters(ctx, p), ['outbound|3306||db.apps.svc.cluster.local', 'outbound|9001||search.apps.svc.cluster.local']);
    const cluster = sidecarGenerator.generate(TYPE.CDS, ctx, p, 'outbound|9001||search.apps.svc.cluster.local') as Obj;
    assert.equal(cluster.type, 'EDS');
    assert.ok(sidecarGenerator.generate(TYPE.EDS, ctx, p, 'outbound|9001||search.apps.svc.cluster.local'));
    assert.equal(sidecarGenerator.generate(TYPE.CDS, ctx, p, 'outbound|9000||search.apps.svc.cluster.local'), undefined);
    // listeners and routes still follow the egress hosts: no listener for apps services
    const outbound = [...listenersOf(ctx, p).keys()].filter((n) => !n.startsWith('virtual'));
    assert.deepEqual(outbound, []);
    // the VirtualService's own host is routed on the port, to the imported cluster
    const rc = route(ctx, p, '80');
    assert.ok(JSON.stringify(rc).includes('outbound|9001||search.apps.svc.cluster.local'), JSON.stringify(rc));
  });

  it('a port-specific egress listener imports its own port of a destination only; web, without the port, nothing', () => {
    const ctx = world(`
  egress:
  - port: {number: 9000, protocol: HTTP, name: http}
    hosts: ["./*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: shop, namespace: client}
spec:
  hosts: [shop.example.com]
  http: [{route: [{destination: {host: search.apps.svc.cluster.local}, weight: 50}, {destination: {host: web.apps.svc.cluster.local}, weight: 50}]}]
`);
    assert.deepEqual(outboundClusters(ctx, client()), ['outbound|9000||search.apps.svc.cluster.local']);
  });

  it('proxyless gRPC resolves a VirtualService destination on the ports imported only', () => {
    const ctx = world(VS);
    const p = grpcClient();
    assert.ok(grpcGenerator.generate(TYPE.LDS, ctx, p, 'search.apps.svc.cluster.local:9001'));
    assert.equal(grpcGenerator.generate(TYPE.LDS, ctx, p, 'search.apps.svc.cluster.local:9000'), undefined);
    assert.equal(grpcGenerator.generate(TYPE.LDS, ctx, p, 'web.apps.svc.cluster.local:8080'), undefined);
  });
});

const grpcClient = (): Proxy => parseProxy({
  id: 'sidecar~10.7.0.9~client-1.client~client.svc.cluster.local',
  metadata: { NAMESPACE: 'client', LABELS: { app: 'client' }, INSTANCE_IPS: '10.7.0.9', ISTIO_VERSION: '1.24.0', GENERATOR: 'grpc' },
});

describe('proxyless gRPC: each egress listener\'s hosts per port (istiod grpcgen over SidecarScope.Services())', () => {
  it('a host imported only by a port-specific listener resolves on that port only; the catch-all\'s on every port', () => {
    const ctx = world(`
  egress:
  - port: {number: 9000, protocol: GRPC, name: grpc}
    hosts: ["apps/search.apps.svc.cluster.local"]
  - hosts: ["apps/web.apps.svc.cluster.local"]
`);
    const p = grpcClient();
    const lds = (name: string) => grpcGenerator.generate(TYPE.LDS, ctx, p, name);
    assert.ok(lds('search.apps.svc.cluster.local:9000'));
    assert.equal(lds('search.apps.svc.cluster.local:9001'), undefined, 'search:9001 is not imported (before: the union of hosts applied to every port)');
    assert.ok(lds('web.apps.svc.cluster.local:8080'));
    assert.equal(lds('rpc.apps.svc.cluster.local:9000'), undefined);
  });
});

describe('Sidecar outboundTrafficPolicy.egressProxy (istiod: unknown destinations go to the egress proxy\'s cluster)', () => {
  it('replaces PassthroughCluster in allow_any, the per-port passthrough chains and virtualOutbound; REGISTRY_ONLY still blackholes', () => {
    const ctx = world(`
  egress:
  - hosts: ["apps/*"]
  outboundTrafficPolicy:
    mode: ALLOW_ANY
    egressProxy: {host: web.apps.svc.cluster.local, subset: v1, port: {number: 8080}}
`);
    const p = client();
    const want = 'outbound|8080|v1|web.apps.svc.cluster.local';
    const allowAny = route(ctx, p, '8080')!.virtual_hosts.find((vh: Obj) => vh.name === 'allow_any');
    assert.equal(allowAny.routes[0].route.cluster, want);
    const ls = listenersOf(ctx, p);
    const tcpCluster = (chain: Obj) => chain.filters.find((f: Obj) => f.name === 'envoy.filters.network.tcp_proxy').typed_config.cluster;
    assert.equal(tcpCluster(ls.get('0.0.0.0_8080')!.default_filter_chain), want);
    const vo = ls.get('virtualOutbound')!;
    assert.equal(tcpCluster(vo.filter_chains.find((c: Obj) => c.name === 'virtualOutbound-catchall-tcp')), want);
    assert.equal(tcpCluster(vo.filter_chains.find((c: Obj) => c.name === 'virtualOutbound-blackhole')), 'BlackHoleCluster', 'the loop guard stays');
    for (const l of ls.values()) assert.deepEqual(checkEnvoyResource(TYPE.LDS, l), [], String(l.name));

    const registryOnly = world(`
  egress:
  - hosts: ["apps/*"]
  outboundTrafficPolicy:
    mode: REGISTRY_ONLY
`);
    assert.equal(tcpCluster(listenersOf(registryOnly, p).get('0.0.0.0_8080')!.default_filter_chain), 'BlackHoleCluster');
  });
});
