import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { buildEnvoyBootstrap, type BootstrapInput } from '../../src/bootstrap/envoy-bootstrap.js';
import { formatDuration, toProto3Json } from '../../src/bootstrap/proto3-json.js';
import { bootstrapInputFromFlags, renderBootstrap, type BootstrapFlags } from '../../src/cli/bootstrap.js';
import { parseProxy } from '../../src/model/proxy.js';
import { checkEnvoyResource } from '../support/envoy-check/pgv-check.js';
import { istioReference } from '../support/istio-reference.js';
import { meshdCommand } from '../support/meshd-bin.js';

// `meshd bootstrap` output must be a Bootstrap Envoy accepts (nothing lost in an encode/decode with Envoy's
// protos, no PGV rule broken), identify the node the way meshd parses istio-proxy nodes, and keep the
// names and shape of Istio's own bootstrap (testdata/bootstrap/default_golden.json) where stock Envoy can.

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const BOOTSTRAP_TYPE = 'type.googleapis.com/envoy.config.bootstrap.v3.Bootstrap';
const ISTIO_GOLDEN = JSON.parse(fs.readFileSync(istioReference('testdata', 'bootstrap', 'default_golden.json'), 'utf8')) as Record<string, any>;

const FLAGS: BootstrapFlags = {
  proxyType: 'sidecar',
  podName: 'productpage-v1-5b9b7d8c6f-x2kqz', namespace: 'bookinfo', podIp: '10.1.0.5,fd00::5',
  label: ['app=productpage', 'version=v1', 'pod-template-hash=5b9b7d8c6f'], serviceAccount: 'bookinfo-productpage',
  domain: 'cluster.local', trustDomain: 'cluster.local', clusterId: 'Kubernetes', istioVersion: '1.24.0',
  interceptionMode: 'REDIRECT', xdsMode: 'delta', discoveryAddress: 'istiod.istio-system.svc:15010',
  xdsServerName: 'istiod.istio-system.svc', sdsSocket: './var/run/secrets/workload-spiffe-uds/socket',
  adminPort: '15000', statsPort: '15090', statusPort: '15021',
};
const input = (over: Partial<BootstrapFlags> = {}): BootstrapInput => bootstrapInputFromFlags({ ...FLAGS, ...over });
const printed = (over: Partial<BootstrapFlags> = {}) => JSON.parse(renderBootstrap(input(over))) as Record<string, any>;
const byName = (list: { name: string }[], name: string): any => list.find((x) => x.name === name);

describe('meshd bootstrap: a Bootstrap Envoy accepts', () => {
  for (const [label, over] of [
    ['plaintext, delta', {}],
    ['TLS to 15012, SotW, locality', { discoveryAddress: '10.0.0.1:15012', certDir: '/etc/certs', xdsMode: 'sotw', locality: 'us-east1/us-east1-b/rack1' }],
  ] as const) {
    it(`${label}: no field lost in encode/decode and no PGV rule broken`, () => {
      assert.deepEqual(checkEnvoyResource(BOOTSTRAP_TYPE, buildEnvoyBootstrap(input(over))), []);
    });
  }

  it('prints canonical proto3 JSON: Durations as strings, Struct metadata as plain JSON, wrappers bare', () => {
    const b = printed();
    assert.equal(b.static_resources.clusters[0].connect_timeout, '0.250s');
    assert.equal(b.dynamic_resources.cds_config.initial_fetch_timeout, '0s');
    assert.deepEqual(b.node.metadata.LABELS, { app: 'productpage', version: 'v1', 'pod-template-hash': '5b9b7d8c6f' });
    assert.equal(b.node.metadata.ENVOY_PROMETHEUS_PORT, 15090);
    assert.equal(b.stats_config.use_all_default_tags, false);
    assert.equal(formatDuration(1, 500_000_000), '1.500s');
    assert.equal(formatDuration(0, 1), '0.000000001s');
    assert.equal(formatDuration(-2, 0), '-2s');
    assert.deepEqual(toProto3Json('google.protobuf.Any', { '@type': 'type.googleapis.com/google.protobuf.Duration', seconds: 3 }), { '@type': 'type.googleapis.com/google.protobuf.Duration', value: '3s' });
    assert.deepEqual(toProto3Json('google.protobuf.Any', { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' }), { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' });
    assert.deepEqual(toProto3Json('google.protobuf.Struct', { fields: { a: { listValue: { values: [{ numberValue: 1 }, { nullValue: 'NULL_VALUE' }] } } } }), { a: [1, null] });
  });
});

describe('meshd bootstrap: golden', () => {
  it('the whole output for a bookinfo productpage pod matches test/golden/sidecar/bootstrap/productpage.json (UPDATE_GOLDEN=1 rewrites)', () => {
    const file = path.join(ROOT, 'test', 'golden', 'sidecar', 'bootstrap', 'productpage.json');
    const text = renderBootstrap(input());
    if (process.env.UPDATE_GOLDEN === '1') {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, text);
    }
    assert.equal(text, fs.readFileSync(file, 'utf8'), 'differs from the golden: review, then UPDATE_GOLDEN=1');
  });
});

describe('meshd bootstrap: the node meshd sees', () => {
  it('node id and metadata parse with meshd\'s parseProxy into the pod\'s identity', () => {
    const node = printed().node;
    const proxy = parseProxy(node);
    assert.equal(proxy.id, 'sidecar~10.1.0.5~productpage-v1-5b9b7d8c6f-x2kqz.bookinfo~bookinfo.svc.cluster.local');
    assert.equal(proxy.type, 'sidecar');
    assert.equal(proxy.generator, 'sidecar');
    assert.equal(proxy.podName, 'productpage-v1-5b9b7d8c6f-x2kqz');
    assert.equal(proxy.namespace, 'bookinfo');
    assert.equal(proxy.dnsDomain, 'cluster.local');
    assert.deepEqual(proxy.ips, ['10.1.0.5', 'fd00::5']);
    assert.deepEqual(proxy.labels, { app: 'productpage', version: 'v1', 'pod-template-hash': '5b9b7d8c6f' });
    assert.equal(proxy.serviceAccount, 'bookinfo-productpage');
    assert.equal(proxy.istioVersion, '1.24.0');
    assert.equal(proxy.clusterId, 'Kubernetes');
    assert.equal(proxy.interceptionMode, 'REDIRECT');
    assert.equal(node.cluster, 'productpage.bookinfo');
  });

  it('locality flag reaches the node locality', () => {
    const proxy = parseProxy(printed({ locality: 'us-east1/us-east1-b/rack1' }).node);
    assert.deepEqual(proxy.locality, { region: 'us-east1', zone: 'us-east1-b', subzone: 'rack1' });
  });
});

describe('meshd bootstrap: names and shape of Istio\'s bootstrap', () => {
  it('dynamic_resources equal Istio\'s (delta ADS over xds-grpc, CDS/LDS over ADS, no initial fetch timeout)', () => {
    assert.deepEqual(printed().dynamic_resources, ISTIO_GOLDEN.dynamic_resources);
    assert.equal(printed({ xdsMode: 'sotw' }).dynamic_resources.ads_config.api_type, 'GRPC');
  });

  it('cluster prometheus_stats and the admin address equal Istio\'s; xds-grpc and sds-grpc keep their names', () => {
    const b = printed();
    const goldenClusters = ISTIO_GOLDEN.static_resources.clusters as { name: string }[];
    assert.deepEqual(byName(b.static_resources.clusters, 'prometheus_stats'), byName(goldenClusters, 'prometheus_stats'));
    assert.deepEqual(b.admin.address, ISTIO_GOLDEN.admin.address);
    for (const name of ['xds-grpc', 'sds-grpc']) {
      const ours = byName(b.static_resources.clusters, name) as Record<string, any>;
      const istio = byName(goldenClusters, name) as Record<string, any>;
      assert.ok(ours, name);
      assert.equal(ours.alt_stat_name, istio.alt_stat_name);
      assert.deepEqual(ours.typed_extension_protocol_options, istio.typed_extension_protocol_options);
    }
    assert.deepEqual(byName(b.static_resources.clusters, 'xds-grpc').circuit_breakers, byName(goldenClusters, 'xds-grpc').circuit_breakers);
    // Deliberate: stock Envoy has no pilot-agent, so no `agent` cluster (see docs/envoy-sidecar.md).
    assert.deepEqual(b.static_resources.clusters.map((c: { name: string }) => c.name).sort(), ['prometheus_stats', 'sds-grpc', 'xds-grpc']);
  });

  it('listeners 0.0.0.0_15090 (/stats/prometheus → prometheus_stats) and 0.0.0.0_15021 (/healthz/ready) as Istio names them', () => {
    const b = printed();
    const goldenListeners = ISTIO_GOLDEN.static_resources.listeners as { name: string }[];
    assert.deepEqual(b.static_resources.listeners.map((l: { name: string }) => l.name), goldenListeners.map((l) => l.name));
    const hcm = (l: any) => l.filter_chains[0].filters[0].typed_config;
    const ours = byName(b.static_resources.listeners, '0.0.0.0_15090') as any;
    const istio = byName(goldenListeners, '0.0.0.0_15090') as any;
    assert.deepEqual(hcm(ours).route_config, hcm(istio).route_config);
    assert.deepEqual(ours.address, istio.address);
    assert.equal(ours.ignore_global_conn_limit, true);
    const ready = byName(b.static_resources.listeners, '0.0.0.0_15021') as any;
    assert.deepEqual(hcm(ready).route_config.virtual_hosts[0].routes, [{ match: { path: '/healthz/ready' }, route: { cluster: 'prometheus_stats', prefix_rewrite: '/ready' } }]);
  });

  it('node metadata uses Istio\'s keys; stats tags and inclusion list are Istio\'s', () => {
    const b = printed();
    for (const key of ['INSTANCE_IPS', 'ISTIO_VERSION', 'ENVOY_PROMETHEUS_PORT', 'ENVOY_STATUS_PORT', 'PROXY_CONFIG']) assert.ok(key in ISTIO_GOLDEN.node.metadata && key in b.node.metadata, key);
    const goldenTags = new Map((ISTIO_GOLDEN.stats_config.stats_tags as { tag_name: string; regex: string }[]).map((t) => [t.tag_name, t.regex]));
    for (const tag of b.stats_config.stats_tags as { tag_name: string; regex: string }[]) assert.equal(tag.regex, goldenTags.get(tag.tag_name), tag.tag_name);
    assert.deepEqual(b.stats_config.stats_matcher, ISTIO_GOLDEN.stats_config.stats_matcher);
    const all = printed({ allStats: true });
    assert.equal(all.stats_config.stats_matcher, undefined, '--all-stats: Envoy default, every stat');
    assert.deepEqual(checkEnvoyResource(BOOTSTRAP_TYPE, buildEnvoyBootstrap(input({ allStats: true }))), []);
  });

  it('TLS to meshd: client certificate, key and root from --cert-dir, SNI and DNS SAN of meshd\'s serving certificate', () => {
    const b = printed({ discoveryAddress: 'istiod.istio-system.svc:15012', certDir: '/var/lib/istio/data' });
    const xds = byName(b.static_resources.clusters, 'xds-grpc') as any;
    assert.equal(xds.type, 'STRICT_DNS');
    const tls = xds.transport_socket.typed_config;
    assert.equal(tls.sni, 'istiod.istio-system.svc');
    assert.deepEqual(tls.common_tls_context.tls_certificates, [{ certificate_chain: { filename: '/var/lib/istio/data/cert-chain.pem' }, private_key: { filename: '/var/lib/istio/data/key.pem' } }]);
    assert.deepEqual(tls.common_tls_context.validation_context.trusted_ca, { filename: '/var/lib/istio/data/root-cert.pem' });
    assert.deepEqual(b.node.metadata.PILOT_SAN, ['istiod.istio-system.svc']);
    assert.equal(byName(printed().static_resources.clusters, 'xds-grpc').transport_socket, undefined, 'plaintext without --cert-dir');
  });
});

describe('meshd bootstrap: bad input names the flag', () => {
  const error = (over: Partial<BootstrapFlags>) => {
    try {
      input(over);
    } catch (err) {
      return (err as Error).message;
    }
    return '';
  };
  it('each invalid flag is named, all at once', () => {
    assert.match(error({ podIp: '10.0.0.300' }), /^--pod-ip \(0\): is not an IP address$/);
    assert.match(error({ discoveryAddress: 'meshd' }), /^--discovery-address: "meshd" is not host:port/);
    assert.match(error({ discoveryAddress: 'meshd:15012' }), /^--cert-dir: is required for the TLS port 15012/);
    assert.match(error({ namespace: 'Bad_NS' }), /^--namespace: must be a Kubernetes namespace name/);
    assert.match(error({ label: ['app'] }), /^--label: "app" is not key=value/);
    assert.match(error({ labels: 'app' }), /^--labels: "app" is not key=value/);
    assert.match(error({ label: ['app=bad value'] }), /^--label \(app\): label value is not a valid/);
    assert.match(error({ statsPort: '15000' }), /^--stats-port: port 15000 is already used/);
    assert.match(error({ xdsMode: 'incremental' }), /^--xds-mode: /);
    assert.match(error({ adminPort: 'x', istioVersion: 'latest' }), /--istio-version: .*; --admin-port: must be a port|--admin-port: must be a port.*--istio-version/);
  });

  it('the CLI writes -o FILE, and exits 2 naming the flag on bad input', async () => {
    const run = promisify(execFile);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshd-bootstrap-'));
    const out = path.join(dir, 'envoy.json');
    const [, failed] = await Promise.all([
      run(...meshdCommand(['bootstrap', '--pod-name', 'reviews-v2-abc', '--namespace', 'default', '--pod-ip', '10.1.0.9', '--label', 'app=reviews', '--label', 'version=v2', '-o', out]), { cwd: ROOT }),
      run(...meshdCommand(['bootstrap', '--pod-ip', 'nope']), { cwd: ROOT }).then(() => undefined, (err: { code: number; stderr: string }) => err),
    ]);
    const written = JSON.parse(fs.readFileSync(out, 'utf8'));
    assert.equal(written.node.id, 'sidecar~10.1.0.9~reviews-v2-abc.default~default.svc.cluster.local');
    assert.equal(failed?.code, 2);
    assert.match(failed?.stderr ?? '', /--pod-ip \(0\): is not an IP address/);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('--proxy-type', () => {
  it('router: the node id a gateway sends, which meshd answers with the gateway generator', () => {
    const b = buildEnvoyBootstrap(input({ proxyType: 'router', podName: 'istio-ingressgateway-abcde', namespace: 'istio-system' })) as { node: { id: string } };
    assert.equal(b.node.id, 'router~10.1.0.5~istio-ingressgateway-abcde.istio-system~istio-system.svc.cluster.local');
    assert.equal(parseProxy(b.node as never).generator, 'router');
    assert.throws(() => input({ proxyType: 'gateway' }), /--proxy-type/);
  });
});
