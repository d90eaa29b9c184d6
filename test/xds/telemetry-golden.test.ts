import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { parseMeshConfig } from '../../src/config/mesh-config.js';
import { ConfigStore } from '../../src/config/store.js';
import { validateDocument } from '../../src/config/validate.js';
import { PushContext } from '../../src/model/push-context.js';
import { parseProxy, type Proxy } from '../../src/model/proxy.js';
import { meshFromFile } from '../../src/sources/mesh/mesh-config-file.js';
import { sidecarGenerator } from '../../src/xds/generators/sidecar/index.js';
import { createRouterGenerator } from '../../src/xds/generators/router/index.js';
import { WILDCARD_ONLY } from '../../src/xds/connection.js';
import { Resolver } from '../../src/xds/resolve.js';
import { TYPE } from '../../src/xds/resource-types.js';
import { checkEnvoyResource } from '../support/envoy-check/pgv-check.js';
import { statsPluginConfigProblems } from '../support/envoy-check/stats-config-check.js';
import { assertGolden } from '../support/golden.js';
import { istioReference } from '../support/istio-reference.js';

// Goldens of the observability part of sidecar listeners (test/golden/telemetry/<scenario>.json): for each
// listener its NR access log, and per filter chain the tcp_proxy access loggers, the istio.stats configs
// and the HCM's access_log / tracing / request_id_extension — for the mesh config and Telemetry set-ups
// Istio's observability tasks use. Every whole listener passes Envoy's protos and PGV rules
// (test/support/envoy-check) and every istio.stats config decodes as istio-proxy's stats.PluginConfig.
// `UPDATE_GOLDEN=1 node --import tsx --test test/xds/telemetry-golden.test.ts` rewrites them.

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const GOLDEN_DIR = path.join(ROOT, 'test', 'golden', 'telemetry');

type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** helloworld v1/v2 serving HTTP on 5000, a TCP port 9000, and the collectors the providers name. */
const WORLD = `
apiVersion: v1
kind: Service
metadata: {name: helloworld, namespace: default}
spec:
  clusterIP: 10.96.0.10
  selector: {app: helloworld}
  ports: [{name: http, port: 5000}, {name: tcp-echo, port: 9000}]
---
apiVersion: v1
kind: Service
metadata: {name: zipkin, namespace: istio-system}
spec: {clusterIP: 10.96.0.20, selector: {app: zipkin}, ports: [{name: http-query, port: 9411}]}
---
apiVersion: v1
kind: Service
metadata: {name: opentelemetry-collector, namespace: observability}
spec: {clusterIP: 10.96.0.30, selector: {app: otel}, ports: [{name: grpc-otlp, port: 4317}, {name: http-otlp, port: 4318}]}
---
apiVersion: v1
kind: Pod
metadata: {name: helloworld-v1-abc, namespace: default, labels: {app: helloworld, version: v1, service.istio.io/canonical-name: helloworld, service.istio.io/canonical-revision: v1}}
spec: {serviceAccountName: helloworld, containers: [{name: app, image: x, ports: [{containerPort: 5000}, {containerPort: 9000}]}]}
status: {phase: Running, podIP: 10.1.0.11}
---
apiVersion: v1
kind: Pod
metadata: {name: helloworld-v2-abc, namespace: default, labels: {app: helloworld, version: v2, service.istio.io/canonical-name: helloworld, service.istio.io/canonical-revision: v2}}
spec: {serviceAccountName: helloworld, containers: [{name: app, image: x, ports: [{containerPort: 5000}, {containerPort: 9000}]}]}
status: {phase: Running, podIP: 10.1.0.12}
`;

const PROVIDERS = `
extensionProviders:
- name: zipkin
  zipkin: {service: zipkin.istio-system.svc.cluster.local, port: 9411}
- name: otel-tracing
  opentelemetry:
    service: opentelemetry-collector.observability.svc.cluster.local
    port: 4317
    resourceDetectors: {environment: {}}
- name: otel-http
  opentelemetry:
    service: observability/opentelemetry-collector.observability.svc.cluster.local
    port: 4318
    http: {path: /v1/traces, timeout: 10s, headers: [{name: x-tenant, value: mesh}]}
    dynatraceSampler: {tenant: abc, clusterId: 123}
- name: otel-als
  envoyOtelAls:
    service: opentelemetry-collector.observability.svc.cluster.local
    port: 4317
    logFormat: {labels: {path: '%REQ_WITHOUT_QUERY(:PATH)%', status: '%RESPONSE_CODE%'}}
- name: grpc-als
  envoyHttpAls: {service: opentelemetry-collector.observability.svc.cluster.local, port: 4317, additionalRequestHeadersToLog: [x-user]}
- name: tcp-als
  envoyTcpAls: {service: opentelemetry-collector.observability.svc.cluster.local, port: 4317}
`;

interface Scenario {
  readonly name: string;
  readonly why: string;
  readonly mesh: string;
  readonly config?: string;
}

const SCENARIOS: Scenario[] = [
  { name: 'defaults', why: 'no observability settings: istio.stats everywhere (defaultProviders.metrics prometheus), tracing at 1 % without a tracer, no access logs', mesh: '{}' },
  { name: 'mesh-access-log-text', why: 'accessLogFile /dev/stdout: Istio\'s text format on every HCM, tcp_proxy and (NR) virtual listener', mesh: 'accessLogFile: /dev/stdout' },
  { name: 'mesh-access-log-json', why: 'accessLogEncoding JSON: Istio\'s JSON format', mesh: 'accessLogFile: /dev/stdout\naccessLogEncoding: JSON' },
  {
    name: 'workload-access-log-off',
    why: 'mesh-wide accessLogFile; a namespace Telemetry selecting version v2 disables the envoy provider for it only',
    mesh: 'accessLogFile: /dev/stdout',
    config: `
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: no-logs-v2, namespace: default}
spec:
  selector: {matchLabels: {version: v2}}
  accessLogging: [{providers: [{name: envoy}], disabled: true}]`,
  },
  {
    name: 'access-log-filter',
    why: 'a root-namespace Telemetry logging only errors through the envoy provider (CEL filter), server side only',
    mesh: '{}',
    config: `
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: mesh-default, namespace: istio-system}
spec:
  accessLogging:
  - providers: [{name: envoy}]
    filter: {expression: 'response.code >= 400'}
    match: {mode: SERVER}`,
  },
  {
    name: 'als-providers',
    why: 'OpenTelemetry and gRPC access-log services through their outbound|PORT||HOST clusters; TCP ALS on tcp_proxy only',
    mesh: PROVIDERS,
    config: `
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: mesh-default, namespace: istio-system}
spec:
  accessLogging: [{providers: [{name: otel-als}, {name: grpc-als}, {name: tcp-als}]}]`,
  },
  {
    name: 'zipkin-tracing',
    why: 'zipkin at 1 % with literal, environment and header custom tags',
    mesh: PROVIDERS,
    config: `
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: mesh-default, namespace: istio-system}
spec:
  tracing:
  - providers: [{name: zipkin}]
    randomSamplingPercentage: 1
    customTags:
      cluster: {literal: {value: east}}
      pod: {environment: {name: POD_NAME, defaultValue: unknown}}
      user: {header: {name: x-user, defaultValue: anonymous}}`,
  },
  {
    name: 'opentelemetry-tracing',
    why: 'OpenTelemetry over gRPC at 1 % with a custom tag and the environment resource detector; a namespace Telemetry sends v2 (server side) to OTLP/HTTP with the Dynatrace sampler',
    mesh: PROVIDERS,
    config: `
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: mesh-default, namespace: istio-system}
spec:
  tracing:
  - providers: [{name: otel-tracing}]
    randomSamplingPercentage: 1
    customTags: {team: {literal: {value: payments}}}
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: v2-http, namespace: default}
spec:
  selector: {matchLabels: {version: v2}}
  tracing:
  - providers: [{name: otel-http}]
    match: {mode: SERVER}
    useRequestIdForTraceSampling: false`,
  },
  {
    name: 'legacy-tracing',
    why: 'mesh config defaultConfig.tracing (zipkin address for the bootstrap, sampling 10, custom tags) without Telemetry',
    mesh: `
defaultConfig:
  tracing:
    zipkin: {address: zipkin.istio-system:9411}
    sampling: 10
    customTags: {env: {literal: {value: prod}}}`,
  },
  {
    name: 'metrics-overrides',
    why: 'a root Telemetry removing request_protocol from istio_requests_total and dropping istio_request_duration_milliseconds for clients; TCP reporting every 10s',
    mesh: '{}',
    config: `
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: mesh-default, namespace: istio-system}
spec:
  metrics:
  - providers: [{name: prometheus}]
    reportingInterval: 10s
    overrides:
    - match: {metric: REQUEST_COUNT}
      tagOverrides: {request_protocol: {operation: REMOVE}, destination_port: {value: upstream_peer.port}}
    - match: {metric: REQUEST_DURATION, mode: CLIENT}
      disabled: true`,
  },
  {
    name: 'metrics-disabled-for-workload',
    why: 'a workload Telemetry disabling all metrics for v2: no istio.stats filter at all there',
    mesh: '{}',
    config: `
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: no-metrics-v2, namespace: default}
spec:
  selector: {matchLabels: {version: v2}}
  metrics: [{overrides: [{disabled: true}]}]`,
  },
  { name: 'tracing-off', why: 'enableTracing false: no tracing block; the request-id extension stays', mesh: 'enableTracing: false' },
];

function load(s: Scenario): { ctx: PushContext; warnings: string[] } {
  const store = new ConfigStore();
  for (const doc of YAML.parseAllDocuments(`${WORLD}\n---\n${s.config ?? ''}`).map((d) => d.toJS() as Doc).filter(Boolean)) {
    const r = validateDocument(doc);
    assert.ok(r.ok, `${s.name}: ${doc.kind}/${doc.metadata?.name}: ${r.ok ? '' : r.problems.map((p) => `${p.path}: ${p.reason}`).join('; ')}`);
    store.upsert(r.value.kind, r.value.object, { source: 'memory', label: s.name }, 'telemetry-golden');
  }
  const mesh = meshFromFile(parseMeshConfig(s.mesh, `${s.name} mesh config`), { domainSuffix: 'cluster.local' });
  const warnings: string[] = [];
  return { ctx: new PushContext(store, s.name, mesh, { onWarning: (m) => warnings.push(m) }), warnings };
}

function proxyFor(version: 'v1' | 'v2'): Proxy {
  return parseProxy({
    id: `sidecar~10.1.0.${version === 'v1' ? 11 : 12}~helloworld-${version}-abc.default~default.svc.cluster.local`,
    cluster: 'helloworld.default',
    metadata: {
      NAMESPACE: 'default', ISTIO_VERSION: '1.24.0', INTERCEPTION_MODE: 'REDIRECT', SERVICE_ACCOUNT: 'helloworld', CLUSTER_ID: 'Kubernetes', MESH_ID: 'cluster.local',
      LABELS: { app: 'helloworld', version, 'service.istio.io/canonical-name': 'helloworld', 'service.istio.io/canonical-revision': version },
    },
  });
}

/** Decodes a typed_config Any's body for the golden: `@type` and the fields, Structs left as written. */
const ISTIO_STATS = 'istio.stats';

/** The observability fragments of one listener (what this test's goldens hold). */
function observability(listener: Doc, statsConfigs: Doc[]): Doc {
  const out: Doc = {};
  if (listener.access_log) out.access_log = listener.access_log;
  const chains = [...(listener.filter_chains ?? []), ...(listener.default_filter_chain ? [listener.default_filter_chain] : [])];
  out.chains = chains.map((c: Doc, i: number) => {
    const o: Doc = { chain: c.name ?? `#${i}` };
    for (const f of c.filters ?? []) {
      if (f.name === ISTIO_STATS) (o.stats ??= []).push(statsValue(f, statsConfigs));
      if (f.name === 'envoy.filters.network.tcp_proxy' && f.typed_config.access_log) o.tcp_access_log = f.typed_config.access_log;
      if (f.name === 'envoy.filters.network.http_connection_manager') {
        const h = f.typed_config;
        o.hcm = {
          ...(h.access_log ? { access_log: h.access_log } : {}),
          ...(h.tracing ? { tracing: h.tracing } : {}),
          request_id_extension: h.request_id_extension,
          stats: (h.http_filters as Doc[]).filter((x) => x.name === ISTIO_STATS).map((x) => statsValue(x, statsConfigs)),
        };
      }
    }
    return o;
  });
  return out;
}

/** The stats.PluginConfig a TypedStruct carries, as plain JSON. */
function statsValue(filter: Doc, statsConfigs: Doc[]): Doc {
  const value = structToJson(filter.typed_config.value) as Doc;
  statsConfigs.push(value);
  return value;
}

function structToJson(s: Doc): unknown {
  const v = (x: Doc): unknown => {
    if ('stringValue' in x) return x.stringValue;
    if ('numberValue' in x) return x.numberValue;
    if ('boolValue' in x) return x.boolValue;
    if ('listValue' in x) return (x.listValue.values ?? []).map(v);
    if ('structValue' in x) return structToJson(x.structValue);
    return null;
  };
  return Object.fromEntries(Object.entries(s.fields ?? {}).map(([k, x]) => [k, v(x as Doc)]));
}

const compareGolden = (name: string, golden: Doc) => assertGolden(path.join(GOLDEN_DIR, `${name}.json`), golden);

describe('telemetry goldens: access logs, tracing and metrics in sidecar listeners', () => {
  const outputs = new Map<string, Doc>();
  for (const s of SCENARIOS) {
    it(`${s.name}: ${s.why}`, () => {
      const { ctx, warnings } = load(s);
      const golden: Doc = { scenario: s.name, why: s.why };
      // what each proxy is served goes through the resolver: outbound listeners come from its outbound
      // view's canonical proxy (model/proxy-view.ts), and must equal the proxy's own generation
      const resolver = new Resolver({ sidecar: sidecarGenerator });
      resolver.beginSnapshot(ctx);
      for (const version of ['v1', 'v2'] as const) {
        const proxy = proxyFor(version);
        const statsConfigs: Doc[] = [];
        const listeners: Doc = {};
        const served = resolver.resolve(proxy, TYPE.LDS, WILDCARD_ONLY);
        const names = sidecarGenerator.wildcardNames(TYPE.LDS, ctx, proxy).sort();
        assert.deepEqual(served.resources.map((r) => r.name).sort(), names, `${s.name} ${version}: listener names served`);
        for (const name of names) {
          const body = sidecarGenerator.generate(TYPE.LDS, ctx, proxy, name) as Doc;
          assert.deepEqual(served.get(name)?.body, body, `${s.name} ${version} ${name}: served (through its view) = its own generation`);
          assert.deepEqual(checkEnvoyResource(TYPE.LDS, body), [], `${s.name} ${version} ${name}: Envoy protos and PGV`);
          listeners[name] = observability(body, statsConfigs);
        }
        for (const c of statsConfigs) assert.deepEqual(statsPluginConfigProblems(c), [], `${s.name} ${version}: stats.PluginConfig`);
        golden[`helloworld-${version}`] = listeners;
      }
      assert.deepEqual(warnings, [], `${s.name}: nothing meshd could not honour`);
      outputs.set(s.name, golden);
      compareGolden(s.name, golden);
    });
  }
});

/**
 * Gateways (the router generator): two gateway deployments — Istio's ingress gateway (istio-system,
 * istio=ingressgateway) and a Gateway API gateway `gw` (default, labelled gateway.networking.k8s.io/gateway-name)
 * — with HTTP on 80 and TCP on 31400 routed to helloworld. istiod's gateway listener class: the client
 * side of Telemetry (match mode CLIENT, client tracing and metrics) without the istio.stats Host-header
 * fallback, the NR listener log, the tcp_proxy access log.
 */
const GATEWAY_WORLD = `
apiVersion: v1
kind: Pod
metadata: {name: istio-ingressgateway-abc, namespace: istio-system, labels: {app: istio-ingressgateway, istio: ingressgateway, service.istio.io/canonical-name: istio-ingressgateway, service.istio.io/canonical-revision: latest}}
spec: {serviceAccountName: istio-ingressgateway-service-account, containers: [{name: istio-proxy, image: x}]}
status: {phase: Running, podIP: 10.1.1.10}
---
apiVersion: v1
kind: Pod
metadata: {name: gw-istio-abc, namespace: default, labels: {gateway.networking.k8s.io/gateway-name: gw, service.istio.io/canonical-name: gw-istio, service.istio.io/canonical-revision: latest}}
spec: {serviceAccountName: gw-istio, containers: [{name: istio-proxy, image: x}]}
status: {phase: Running, podIP: 10.1.1.20}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: ingress, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - {port: {number: 80, name: http, protocol: HTTP}, hosts: ['*']}
  - {port: {number: 31400, name: tcp, protocol: TCP}, hosts: ['*']}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  selector: {gateway.networking.k8s.io/gateway-name: gw}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ['*']}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: helloworld-edge, namespace: default}
spec:
  hosts: ['*']
  gateways: [istio-system/ingress, gw]
  http: [{route: [{destination: {host: helloworld.default.svc.cluster.local, port: {number: 5000}}}]}]
  tcp: [{match: [{port: 31400}], route: [{destination: {host: helloworld.default.svc.cluster.local, port: {number: 9000}}}]}]
`;

function gatewayProxy(which: 'ingress' | 'gw'): Proxy {
  return which === 'ingress'
    ? parseProxy({
        id: 'router~10.1.1.10~istio-ingressgateway-abc.istio-system~istio-system.svc.cluster.local',
        metadata: { NAMESPACE: 'istio-system', ISTIO_VERSION: '1.24.0', CLUSTER_ID: 'Kubernetes', MESH_ID: 'cluster.local', LABELS: { app: 'istio-ingressgateway', istio: 'ingressgateway', 'service.istio.io/canonical-name': 'istio-ingressgateway', 'service.istio.io/canonical-revision': 'latest' } },
      })
    : parseProxy({
        id: 'router~10.1.1.20~gw-istio-abc.default~default.svc.cluster.local',
        metadata: { NAMESPACE: 'default', ISTIO_VERSION: '1.24.0', CLUSTER_ID: 'Kubernetes', MESH_ID: 'cluster.local', LABELS: { 'gateway.networking.k8s.io/gateway-name': 'gw', 'service.istio.io/canonical-name': 'gw-istio', 'service.istio.io/canonical-revision': 'latest' } },
      });
}

const GATEWAY_SCENARIOS: Scenario[] = [
  {
    name: 'gateway-defaults',
    why: 'gateways without observability settings: istio.stats without the Host-header fallback, tracing at 1 %, no access logs',
    mesh: '{}',
  },
  {
    name: 'gateway-access-log-tracing-metrics',
    why: 'mesh-wide accessLogFile (JSON) on gateway HCMs, tcp_proxy and the NR listener log; a Telemetry selecting the ingress gateway: zipkin at 1 % with a custom tag and a client metrics override removing request_protocol',
    mesh: `${PROVIDERS}
accessLogFile: /dev/stdout
accessLogEncoding: JSON`,
    config: `
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: ingress, namespace: istio-system}
spec:
  selector: {matchLabels: {istio: ingressgateway}}
  tracing: [{providers: [{name: zipkin}], randomSamplingPercentage: 1, customTags: {edge: {literal: {value: ingress}}}}]
  metrics:
  - providers: [{name: prometheus}]
    overrides: [{match: {metric: REQUEST_COUNT, mode: CLIENT}, tagOverrides: {request_protocol: {operation: REMOVE}}}]`,
  },
  {
    name: 'gateway-api-targetref',
    why: 'a Telemetry with targetRefs to the Gateway API gateway gw turns on OpenTelemetry access logs there only (server-mode logs do not apply to a gateway)',
    mesh: PROVIDERS,
    config: `
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: gw-logs, namespace: default}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw}]
  accessLogging:
  - providers: [{name: otel-als}]
  - providers: [{name: envoy}]
    match: {mode: SERVER}`,
  },
];

describe('telemetry goldens: gateways', () => {
  for (const s of GATEWAY_SCENARIOS) {
    it(`${s.name}: ${s.why}`, () => {
      const { ctx, warnings } = load({ ...s, config: `${GATEWAY_WORLD}\n---\n${s.config ?? ''}` });
      const router = createRouterGenerator();
      const golden: Doc = { scenario: s.name, why: s.why };
      for (const which of ['ingress', 'gw'] as const) {
        const proxy = gatewayProxy(which);
        const statsConfigs: Doc[] = [];
        const listeners: Doc = {};
        for (const name of router.wildcardNames(TYPE.LDS, ctx, proxy).sort()) {
          const body = router.generate(TYPE.LDS, ctx, proxy, name) as Doc;
          assert.deepEqual(checkEnvoyResource(TYPE.LDS, body), [], `${s.name} ${which} ${name}: Envoy protos and PGV`);
          listeners[name] = observability(body, statsConfigs);
        }
        assert.ok(Object.keys(listeners).length > 0, `${which} has listeners`);
        for (const c of statsConfigs) {
          assert.deepEqual(statsPluginConfigProblems(c), [], `${s.name} ${which}: stats.PluginConfig`);
          assert.equal(c.disable_host_header_fallback, true, 'gateways never fall back to the Host header (istiod disableHostHeaderFallback)');
        }
        golden[which] = listeners;
      }
      assert.deepEqual(warnings, [], `${s.name}: nothing meshd could not honour`);
      compareGolden(s.name, golden);
    });
  }
});

/**
 * istiod's own benchmark config for the Telemetry API (testdata/pilot-benchmarks/telemetry-api.yaml, a Go
 * template) rendered small (3 services), pushed with the benchmark's mesh config (built-in providers plus
 * `envoy-json`, a file logger with empty labels: Istio's JSON format) to its proxy (1.1.1.1, namespace
 * default, label istio.io/benchmark=true).
 */
describe('telemetry-api benchmark config (rendered small)', () => {
  it('generates every listener, cluster and route without error, with JSON access logs and istio.stats', () => {
    const template = fs.readFileSync(istioReference('testdata', 'pilot-benchmarks', 'telemetry-api.yaml'), 'utf8');
    const rendered = template.replace(/\{\{-? range \$i := until \.Services \}\}([\s\S]*?)\{\{-? end \}\}/g, (_m, body: string) =>
      [0, 1, 2].map((i) => body.replaceAll('{{$i}}', String(i))).join('\n'));
    assert.doesNotMatch(rendered, /\{\{/, 'every template action rendered');
    const store = new ConfigStore();
    const notServed: string[] = [];
    for (const doc of YAML.parseAllDocuments(rendered).map((d) => d.toJS() as Doc).filter(Boolean)) {
      const r = validateDocument({ ...doc, metadata: { namespace: 'default', ...doc.metadata } });
      if (!r.ok) {
        // ServiceEntry is reported as a kind meshd does not serve until it does; nothing else may fail
        assert.equal(doc.kind, 'ServiceEntry', `${doc.kind}/${doc.metadata?.name}: ${r.problems.map((p) => p.reason).join('; ')}`);
        notServed.push(doc.metadata.name);
        continue;
      }
      store.upsert(r.value.kind, r.value.object, { source: 'memory', label: 'telemetry-api.yaml' }, 'bench');
    }
    assert.equal(store.list('Telemetry').length, 1);
    const mesh = meshFromFile(parseMeshConfig('extensionProviders: [{name: envoy-json, envoyFileAccessLog: {path: /dev/stdout, logFormat: {labels: {}}}}]', 'bench mesh'), { domainSuffix: 'cluster.local' });
    const warnings: string[] = [];
    const ctx = new PushContext(store, 'bench', mesh, { onWarning: (m) => warnings.push(m) });
    const proxy = parseProxy({ id: 'sidecar~1.1.1.1~v0.default~default.svc.cluster.local', metadata: { NAMESPACE: 'default', LABELS: { 'istio.io/benchmark': 'true' }, CLUSTER_ID: 'Kubernetes', ISTIO_VERSION: '1.26.0' } });
    let hcms = 0;
    for (const type of [TYPE.LDS, TYPE.CDS] as const) {
      for (const name of sidecarGenerator.wildcardNames(type, ctx, proxy)) {
        const body = sidecarGenerator.generate(type, ctx, proxy, name) as Doc;
        assert.ok(body, `${type} ${name}`);
        assert.deepEqual(checkEnvoyResource(type, body), [], `${name}: Envoy protos and PGV`);
        const text = JSON.stringify(body);
        hcms += (text.match(/HttpConnectionManager"/g) ?? []).length;
        if (type === TYPE.LDS) assert.ok(text.includes('"json_format"') && text.includes('istio.stats'), `${name}: JSON access log and istio.stats`);
      }
    }
    assert.ok(hcms > 0, 'HTTP connection managers were generated');
    assert.deepEqual(warnings, []);
    for (const name of notServed) assert.match(name, /^(proxy-service-instance|service-\d)$/);
  });
});
