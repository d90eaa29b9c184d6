import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import jsonpatch from 'fast-json-patch';
import { CertificateAuthority } from '../../src/ca/authority.js';
import { silentLogger } from '../../src/telemetry/log.js';
import { Metrics } from '../../src/telemetry/metrics.js';
import { DEFAULT_INJECTION_CONFIG } from '../../src/webhook/inject/config.js';
import { injectRequired } from '../../src/webhook/inject/decision.js';
import { WebhookMetrics } from '../../src/webhook/metrics.js';
import { WebhookServer } from '../../src/webhook/server.js';
import { hangGuardMs } from '../support/hang-guard.js';

// AdmissionReviews from test/fixtures/webhook through the real HTTPS webhook server, with a Node https
// client that trusts only the mesh root (what the caBundle carries) and checks the name
// istiod.istio-system.svc, as the API server does.

const FIXTURES = path.resolve(import.meta.dirname, '../fixtures/webhook');
const fixture = (name: string) => JSON.parse(fs.readFileSync(path.join(FIXTURES, name), 'utf8')) as Record<string, any>;
type Json = Record<string, any>;

const NAMESPACES: Record<string, Record<string, string>> = {
  injected: { 'istio-injection': 'enabled' },
  revisioned: { 'istio.io/rev': 'default' },
  otherrev: { 'istio.io/rev': 'canary' },
  disabled: { 'istio-injection': 'disabled' },
  plain: {},
  'kube-system': { 'istio-injection': 'enabled' },
};

const caDir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshd-webhook-test-'));
const ca = CertificateAuthority.open({ dir: caDir, trustDomain: 'cluster.local', keyType: 'ec', log: silentLogger, watchIntervalMs: 0 });
const metrics = new Metrics();
const server = new WebhookServer({
  ca,
  dnsNames: ['istiod.istio-system.svc'],
  inject: { cfg: DEFAULT_INJECTION_CONFIG, namespaceLabels: (ns) => NAMESPACES[ns] },
  metrics: new WebhookMetrics(metrics),
  log: silentLogger,
  servingTtlMs: 4000,
});
let port = 0;

before(async () => {
  port = Number((await server.start('127.0.0.1', 0)).split(':').pop());
});
after(async () => {
  await server.stop();
  ca.close();
  fs.rmSync(caDir, { recursive: true, force: true });
});

function post(pathName: string, body: string | object, method = 'POST'): Promise<{ status: number; text: string; json?: Json; peerFingerprint: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: '127.0.0.1', port, path: pathName, method, ca: ca.rootPem, servername: 'istiod.istio-system.svc', agent: false,
      headers: { 'content-type': 'application/json' },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: Json | undefined;
        try { json = JSON.parse(text) as Json; } catch { json = undefined; }
        const peer = (res.socket as import('node:tls').TLSSocket).getPeerCertificate?.();
        resolve({ status: res.statusCode ?? 0, text, ...(json ? { json } : {}), peerFingerprint: peer?.fingerprint256 ?? '' });
      });
    });
    req.on('error', reject);
    req.end(typeof body === 'string' ? body : JSON.stringify(body));
  });
}

let uidSeq = 0;
function review(object: Json, opts: { namespace?: string; operation?: string; kind?: Json } = {}): Json {
  const kind = opts.kind ?? (object.kind === 'Pod' ? { group: '', version: 'v1', kind: 'Pod' } : { group: 'networking.istio.io', version: 'v1', kind: object.kind });
  return {
    apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview',
    request: { uid: `uid-${++uidSeq}`, kind, operation: opts.operation ?? 'CREATE', namespace: opts.namespace ?? object.metadata?.namespace, name: object.metadata?.name, object },
  };
}

async function inject(pod: Json, namespace: string): Promise<{ response: Json; patched?: Json }> {
  const rev = review(pod, { namespace });
  const res = await post('/inject', rev);
  assert.equal(res.status, 200, res.text);
  const response = res.json!.response as Json;
  assert.equal(response.uid, rev.request.uid);
  assert.equal(res.json!.apiVersion, 'admission.k8s.io/v1');
  if (!response.patch) return { response };
  assert.equal(response.patchType, 'JSONPatch');
  const ops = JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8')) as jsonpatch.Operation[];
  const patched = jsonpatch.applyPatch(structuredClone(pod), ops, true, false).newDocument as Json;
  return { response, patched };
}

const podWith = (mutate: (p: Json) => void = () => {}) => {
  const p = fixture('pod.json');
  mutate(p);
  return p;
};

describe('/inject over HTTPS', () => {
  it('injects into a pod of an istio-injection=enabled namespace: containers, ports, volumes, annotations', async () => {
    const { response, patched } = await inject(podWith(), 'injected');
    assert.equal(response.allowed, true);
    assert.ok(patched, 'a patch was returned');
    const spec = patched.spec;
    assert.deepEqual(spec.initContainers.map((c: Json) => c.name), ['istio-init', 'istio-proxy']);
    assert.deepEqual(spec.containers.map((c: Json) => c.name), ['reviews']);
    const init = spec.initContainers[0];
    assert.deepEqual(init.args.slice(0, 5), ['istio-iptables', '-p', '15001', '-z', '15006']);
    assert.deepEqual(init.securityContext.capabilities.add, ['NET_ADMIN', 'NET_RAW']);
    const proxy = spec.initContainers[1];
    assert.equal(proxy.image, 'docker.io/istio/proxyv2:1.28.0');
    assert.equal(proxy.restartPolicy, 'Always');
    assert.deepEqual(proxy.args.slice(0, 4), ['proxy', 'sidecar', '--domain', '$(POD_NAMESPACE).svc.cluster.local']);
    assert.deepEqual(proxy.ports, [{ containerPort: 15090, name: 'http-envoy-prom', protocol: 'TCP' }]);
    assert.deepEqual(proxy.readinessProbe.httpGet, { path: '/healthz/ready', port: 15021 });
    const env = Object.fromEntries(proxy.env.map((e: Json) => [e.name, e.value]));
    assert.equal(env.CA_ADDR, 'istiod.istio-system.svc:15012');
    assert.equal(env.ISTIO_META_WORKLOAD_NAME, 'reviews-v1');
    assert.equal(env.ISTIO_META_OWNER, 'kubernetes://apis/apps/v1/namespaces/injected/deployments/reviews-v1');
    assert.equal(env.ISTIO_META_POD_PORTS, '[\n    {"name":"http","containerPort":9080}\n]');
    assert.equal(env.ISTIO_KUBE_APP_PROBERS, '{"/app-health/reviews/readyz":{"httpGet":{"port":9080,"path":"/health"}}}');
    assert.deepEqual(spec.containers[0].readinessProbe, { httpGet: { path: '/app-health/reviews/readyz', port: 15020 } });
    const volumes = Object.fromEntries(spec.volumes.map((v: Json) => [v.name, v]));
    assert.deepEqual(Object.keys(volumes), ['workload-socket', 'credential-socket', 'workload-certs', 'istio-envoy', 'istio-data', 'istio-podinfo', 'istio-token', 'istiod-ca-cert', 'istio-ca-crl']);
    assert.equal(volumes['istio-token'].projected.sources[0].serviceAccountToken.audience, 'istio-ca');
    assert.equal(volumes['istiod-ca-cert'].configMap.name, 'istio-ca-root-cert');
    const ann = patched.metadata.annotations;
    assert.equal(ann['kubectl.kubernetes.io/default-container'], 'reviews');
    assert.equal(ann['prometheus.io/port'], '15020');
    assert.equal(ann['prometheus.io/path'], '/stats/prometheus');
    assert.deepEqual(JSON.parse(ann['sidecar.istio.io/status']).initContainers, ['istio-init', 'istio-proxy']);
    assert.equal(patched.metadata.labels['security.istio.io/tlsMode'], 'istio');
    assert.equal(patched.metadata.labels['service.istio.io/canonical-name'], 'reviews');
    assert.equal(patched.metadata.labels['service.istio.io/canonical-revision'], 'v1');
  });

  it('a pod\'s own istio-proxy is merged over the template (resources field by field) and recorded in proxy.istio.io/overrides', async () => {
    const user = { name: 'istio-proxy', image: 'auto', resources: { limits: { cpu: '3000m' } }, securityContext: { runAsUser: 1234 } };
    const { patched } = await inject(podWith((p) => {
      p.spec.containers.push(user);
      p.metadata.labels['service.istio.io/workload-name'] = 'reviews-canary';
    }), 'injected');
    assert.ok(patched);
    const proxy = patched.spec.initContainers.find((c: Json) => c.name === 'istio-proxy');
    // the limit the user set, and the template's memory limit and requests the user did not touch
    assert.deepEqual(proxy.resources, { limits: { cpu: '3', memory: '1Gi' }, requests: { cpu: '100m', memory: '128Mi' } });
    assert.equal(proxy.image, 'docker.io/istio/proxyv2:1.28.0');
    assert.equal(proxy.securityContext.runAsUser, 1234);
    assert.equal(proxy.securityContext.readOnlyRootFilesystem, true);
    assert.deepEqual(patched.spec.containers.map((c: Json) => c.name), ['reviews']);
    const init = patched.spec.initContainers.find((c: Json) => c.name === 'istio-init');
    assert.equal(init.args[init.args.indexOf('-u') + 1], '1234', 'iptables exempts the user the proxy runs as');
    assert.deepEqual(JSON.parse(patched.metadata.annotations['proxy.istio.io/overrides']), {
      initContainers: [{ name: 'istio-proxy', resources: { limits: { cpu: '3' } }, securityContext: { runAsUser: 1234 } }],
    });
    const env = Object.fromEntries(proxy.env.map((e: Json) => [e.name, e.value]));
    assert.equal(env.ISTIO_META_WORKLOAD_NAME, 'reviews-canary');
    assert.equal(env.ISTIO_META_OWNER, 'kubernetes://apis/apps/v1/namespaces/injected/deployments/reviews-v1');
    const plain = await inject(podWith(), 'injected');
    assert.equal(plain.patched!.metadata.annotations['proxy.istio.io/overrides'], undefined, 'no overrides annotation without a customised container');
  });

  const cases: [string, string, (p: Json) => void, boolean][] = [
    ['namespace istio.io/rev=default', 'revisioned', () => {}, true],
    ['namespace of another revision', 'otherrev', () => {}, false],
    ['namespace istio-injection=disabled, even with the pod label', 'disabled', (p) => (p.metadata.labels['sidecar.istio.io/inject'] = 'true'), false],
    ['unlabelled namespace', 'plain', () => {}, false],
    ['pod label sidecar.istio.io/inject=true in an unlabelled namespace', 'plain', (p) => (p.metadata.labels['sidecar.istio.io/inject'] = 'true'), true],
    ['pod label istio.io/rev=default in an unlabelled namespace', 'plain', (p) => (p.metadata.labels['istio.io/rev'] = 'default'), true],
    ['pod label sidecar.istio.io/inject=false', 'injected', (p) => (p.metadata.labels['sidecar.istio.io/inject'] = 'false'), false],
    ['pod annotation sidecar.istio.io/inject=false', 'injected', (p) => (p.metadata.annotations = { 'sidecar.istio.io/inject': 'false' }), false],
    ['hostNetwork pod', 'injected', (p) => (p.spec.hostNetwork = true), false],
    ['kube-system, even labelled', 'kube-system', () => {}, false],
    ['already injected pod', 'injected', (p) => (p.metadata.annotations = { 'sidecar.istio.io/status': '{}' }), false],
  ];
  for (const [what, ns, mutate, expected] of cases) {
    it(`${expected ? 'injects' : 'does not inject'}: ${what}`, async () => {
      const { response, patched } = await inject(podWith(mutate), ns);
      assert.equal(response.allowed, true);
      assert.equal(patched !== undefined, expected);
    });
  }

  it('neverInjectSelector and alwaysInjectSelector decide when the pod says nothing', () => {
    const cfg = { neverInjectSelector: [{ matchLabels: { app: 'reviews' } }], alwaysInjectSelector: [{ matchLabels: { version: 'v1' } }] };
    assert.equal(injectRequired(podWith(), 'injected', cfg).inject, false);
    assert.equal(injectRequired(podWith(), 'injected', { neverInjectSelector: [], alwaysInjectSelector: cfg.alwaysInjectSelector }).inject, true);
    assert.equal(injectRequired(podWith((p) => (p.metadata.annotations = { 'sidecar.istio.io/inject': 'true' })), 'injected', cfg).inject, true);
  });

  it('honours traffic annotations in istio-init and resources annotations on istio-proxy', async () => {
    const { patched } = await inject(podWith((p) => (p.metadata.annotations = {
      'traffic.sidecar.istio.io/includeOutboundIPRanges': '10.0.0.0/8',
      'traffic.sidecar.istio.io/excludeInboundPorts': '9443',
      'traffic.sidecar.istio.io/excludeOutboundPorts': '5432',
      'sidecar.istio.io/proxyCPU': '500m',
      'sidecar.istio.io/logLevel': 'debug',
      'proxy.istio.io/config': 'proxyMetadata:\n  DNS_AGENT: ""\n',
    })), 'injected');
    const [init, proxy] = patched!.spec.initContainers;
    assert.deepEqual(init.args.slice(9, 17), ['-i', '10.0.0.0/8', '-x', '', '-b', '*', '-d', '15090,15021,9443,15020']);
    assert.deepEqual(init.args.slice(17, 19), ['-o', '5432']);
    assert.deepEqual(proxy.resources, { requests: { cpu: '500m' } });
    assert.ok(proxy.args.includes('--proxyLogLevel=debug'));
    assert.ok(proxy.env.some((e: Json) => e.name === 'DNS_AGENT'));
    assert.equal(proxy.env.find((e: Json) => e.name === 'PROXY_CONFIG').value, '{"proxyMetadata":{"DNS_AGENT":""}}\n');
  });

  it('refuses a pod with a malformed traffic annotation, naming it', async () => {
    const { response } = await inject(podWith((p) => (p.metadata.annotations = { 'traffic.sidecar.istio.io/includeOutboundIPRanges': 'bad' })), 'injected');
    assert.equal(response.allowed, false);
    assert.match(response.status.message, /traffic\.sidecar\.istio\.io\/includeOutboundIPRanges \(includeIPRanges\): "bad" is not a CIDR/);
  });

  it('grpc-agent template: runs `meshd agent` and points the app at its bootstrap', async () => {
    const { patched } = await inject(podWith((p) => (p.metadata.annotations = { 'inject.istio.io/templates': 'grpc-agent' })), 'injected');
    const [agent, app] = patched!.spec.containers;
    assert.equal(agent.name, 'istio-proxy');
    assert.equal(agent.image, DEFAULT_INJECTION_CONFIG.agentImage);
    assert.equal(agent.args[0], 'agent');
    assert.deepEqual(agent.args.slice(agent.args.indexOf('--xds-addr'), agent.args.indexOf('--xds-addr') + 2), ['--xds-addr', 'istiod.istio-system.svc:15010']);
    assert.equal(patched!.spec.initContainers, undefined, 'no iptables: proxyless');
    assert.equal(app.name, 'reviews');
    assert.ok(app.env.some((e: Json) => e.name === 'GRPC_XDS_BOOTSTRAP' && e.value === '/etc/istio/proxy/grpc-bootstrap.json'));
    assert.ok(app.volumeMounts.some((m: Json) => m.name === 'istio-xds' && m.mountPath === '/etc/istio/proxy'));
    assert.deepEqual(app.readinessProbe, { httpGet: { port: 'http', path: '/health' } }, 'probes untouched');
  });
});

describe('/validate over HTTPS', () => {
  it('denies an invalid VirtualService with its field-level message', async () => {
    const res = await post('/validate', review(fixture('virtualservice-bad-weight.json')));
    assert.equal(res.status, 200);
    assert.equal(res.json!.response.allowed, false);
    assert.match(res.json!.response.status.message, /VirtualService bookinfo\/reviews: spec\.http\[0\]\.route\[0\]\.weight: /);
  });

  it('allows a valid VirtualService, a DELETE, and kinds meshd does not validate', async () => {
    for (const r of [
      review(fixture('virtualservice-valid.json')),
      review(fixture('virtualservice-bad-weight.json'), { operation: 'DELETE' }),
      review({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w', namespace: 'bookinfo' }, spec: { nonsense: 1 } }),
    ]) {
      const res = await post('/validate', r);
      assert.equal(res.json!.response.allowed, true, res.text);
      assert.equal(res.json!.response.uid, r.request.uid);
    }
    const text = await metrics.registry.metrics();
    assert.match(text, /galley_validation_passed\{group="networking.istio.io",version="v1",resource="virtualservice"\} 1/);
    assert.match(text, /galley_validation_failed\{[^}]*reason="invalid_resource"\} 1/);
  });

  it('validates every Istio kind, served or not: an invalid ServiceEntry is denied, a valid Gateway admitted, a valid ProxyConfig admitted with a "not served" warning', async () => {
    const se = review({ apiVersion: 'networking.istio.io/v1', kind: 'ServiceEntry', metadata: { name: 'se', namespace: 'bookinfo' }, spec: { hosts: ['*'], resolution: 'DNS' } });
    const denied = await post('/validate', se);
    assert.equal(denied.json!.response.allowed, false);
    assert.match(denied.json!.response.status.message, /ServiceEntry bookinfo\/se: spec\.hosts\[0\]: Invalid value: "string": hostname cannot be wildcard/);
    const bad = await post('/validate', review({ apiVersion: 'networking.istio.io/v1', kind: 'Gateway', metadata: { name: 'gw', namespace: 'bookinfo' }, spec: { nonsense: 1 } }));
    assert.equal(bad.json!.response.allowed, false);
    assert.match(bad.json!.response.status.message, /spec\.nonsense: unknown field/);
    const gw = review({ apiVersion: 'networking.istio.io/v1', kind: 'Gateway', metadata: { name: 'gw', namespace: 'bookinfo' }, spec: { selector: { istio: 'ingressgateway' }, servers: [{ port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: ['*'] }] } });
    const ok = await post('/validate', gw);
    assert.equal(ok.json!.response.allowed, true, ok.text);
    assert.doesNotMatch(JSON.stringify(ok.json!.response.warnings ?? []), /not served/);
    const proxyConfig = review({ apiVersion: 'networking.istio.io/v1beta1', kind: 'ProxyConfig', metadata: { name: 'pc', namespace: 'bookinfo' }, spec: { concurrency: 2 } });
    const admitted = await post('/validate', proxyConfig);
    assert.equal(admitted.json!.response.allowed, true, admitted.text);
    assert.match(JSON.stringify(admitted.json!.response.warnings), /ProxyConfig is validated but not served by meshd/);
  });
});

describe('/validate: istiod\'s validation warnings for VirtualService rules that never match', () => {
  it('admits the VirtualService with IST0130/IST0131 texts as admission warnings (kubectl prints them); a clean one has none', async () => {
    const vs = (http: unknown[]) => review({ apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'example-vs', namespace: 'bookinfo' }, spec: { hosts: ['reviews'], http } });
    const to = { route: [{ destination: { host: 'reviews' } }] };
    const shadowed = await post('/validate', vs([
      { name: 'slash', match: [{ uri: { prefix: '/' } }], ...to },
      { name: 'slash-api', match: [{ uri: { prefix: '/api' } }], ...to },
      { name: 'catch-all', ...to },
      { name: 'after-all', ...to },
    ]));
    assert.equal(shadowed.json!.response.allowed, true, shadowed.text);
    assert.deepEqual(shadowed.json!.response.warnings, [
      'virtualService rule "after-all" not used (only the last rule can have no matches)',
      'virtualService rule "slash-api" match #0 of prefix /api is not used (duplicate/overlapping match in rule #0 of prefix / on "slash")',
    ]);
    const clean = await post('/validate', vs([{ match: [{ uri: { prefix: '/api' } }], ...to }, to]));
    assert.equal(clean.json!.response.allowed, true);
    assert.equal(clean.json!.response.warnings, undefined);
  });
});

describe('malformed requests are answered cleanly', () => {
  for (const path of ['/inject', '/validate']) {
    it(`${path}: bad JSON, missing request, wrong apiVersion, wrong method`, async () => {
      const bad = await post(path, '{not json');
      assert.equal(bad.status, 400);
      assert.match(bad.text, /not JSON/);
      const noRequest = await post(path, { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' });
      assert.equal(noRequest.status, 400);
      assert.match(noRequest.text, /request/);
      const wrongVersion = await post(path, { ...review(fixture('pod.json')), apiVersion: 'admission.k8s.io/v1beta1' });
      assert.equal(wrongVersion.status, 200);
      assert.equal(wrongVersion.json!.response.allowed, false);
      assert.match(wrongVersion.json!.response.status.message, /apiVersion must be admission.k8s.io\/v1/);
      const get = await post(path, '', 'GET');
      assert.equal(get.status, 405);
    });
  }
  it('unknown path → 404', async () => {
    assert.equal((await post('/mutate', {})).status, 404);
  });
});

describe('serving certificate', () => {
  it('chains to the mesh root for istiod.istio-system.svc and is re-issued before expiry without a restart', async () => {
    const first = await post('/validate', review(fixture('virtualservice-valid.json')));
    const deadline = Date.now() + hangGuardMs(10_000);
    let later = first;
    while (later.peerFingerprint === first.peerFingerprint && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      later = await post('/validate', review(fixture('virtualservice-valid.json')));
    }
    assert.notEqual(later.peerFingerprint, first.peerFingerprint, 'a new certificate is served');
    assert.equal(later.json!.response.allowed, true);
  });
});
