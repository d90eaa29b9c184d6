import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { parseDocuments } from '../../src/config/documents.js';
import { KINDS, isIgnorableKind, type KindInfo } from '../../src/config/kinds.js';
import { NOT_SERVED_REASON } from '../../src/sources/apply.js';
import { ConfigStore } from '../../src/config/store.js';
import { validateDocument } from '../../src/config/validate.js';
import { PushContext } from '../../src/model/push-context.js';
import { parseProxy, type Proxy } from '../../src/model/proxy.js';
import { checkEnvoyResource } from '../support/envoy-check/pgv-check.js';
import { sidecarGenerator } from '../../src/xds/generators/sidecar/index.js';
import { TYPE, type TypeUrl } from '../../src/xds/resource-types.js';
import { istioReference } from '../support/istio-reference.js';
import { generateAll as generateAllOf, type XdsOutput } from '../support/generate-all.js';

// Golden files of the Envoy sidecar generator's full output (CDS, EDS, LDS, RDS as Envoy would fetch them:
// CDS/LDS by wildcard, EDS/RDS by the names those reference) for meshd's helloworld example, Istio's
// helloworld sample, and bookinfo with each of Istio's bookinfo networking samples applied:
// test/golden/sidecar/<scenario>/<proxy>.json.
// `UPDATE_GOLDEN=1 node --import tsx --test test/xds/sidecar-golden.test.ts` rewrites them; otherwise any
// difference fails. Every resource must survive Envoy's protos (no field lost) and pass their PGV rules.

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const REFERENCE = istioReference('samples');
const BOOKINFO = path.join(REFERENCE, 'bookinfo');
const NETWORKING = path.join(BOOKINFO, 'networking');
const GOLDEN_DIR = path.join(ROOT, 'test', 'golden', 'sidecar');
const UPDATE = process.env.UPDATE_GOLDEN === '1';

type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function readDocs(file: string): { doc: Doc; where: string }[] {
  const out: { doc: Doc; where: string }[] = [];
  for (const d of parseDocuments(fs.readFileSync(file, 'utf8'))) {
    if (d.error) throw new Error(`${file}#${d.index}: ${d.error}`);
    if (d.value) out.push({ doc: d.value as Doc, where: `${path.relative(path.join(ROOT, '..'), file)}#${d.index}` });
  }
  return out;
}

/**
 * What a cluster would hold after `kubectl apply -f FILE` into namespace default: the Services with
 * ClusterIPs, and for each Deployment one running Pod (template labels + pod-template-hash, its service
 * account and container ports) with a pod IP. Deterministic names and addresses.
 */
function appliedWorld(file: string): { doc: Doc; where: string }[] {
  const out: { doc: Doc; where: string }[] = [];
  let serviceIndex = 0;
  let podIndex = 0;
  for (const { doc, where } of readDocs(file)) {
    if (doc.kind === 'Service') {
      out.push({ doc: { ...doc, metadata: { ...doc.metadata, namespace: 'default' }, spec: { ...doc.spec, clusterIP: `10.96.0.${10 + serviceIndex++}` } }, where });
    } else if (doc.kind === 'Deployment') {
      const template = doc.spec.template;
      const hash = `${doc.metadata.name.replace(/[^a-z0-9]/g, '').slice(0, 6)}0000`.slice(0, 10);
      const labels = { ...template.metadata.labels, 'pod-template-hash': hash };
      out.push({
        doc: {
          apiVersion: 'v1', kind: 'Pod',
          metadata: { name: `${doc.metadata.name}-${hash}-abcde`, namespace: 'default', labels },
          spec: template.spec,
          status: { phase: 'Running', podIP: `10.1.0.${10 + podIndex++}`, conditions: [{ type: 'Ready', status: 'True' }] },
        },
        where: `${where} (pod of Deployment ${doc.metadata.name})`,
      });
    }
  }
  return out;
}

const bookinfoWorld = () => appliedWorld(path.join(BOOKINFO, 'platform', 'kube', 'bookinfo.yaml'));

/**
 * Istio's own helloworld sample (samples/helloworld/helloworld.yaml): Service helloworld:5000 `http`,
 * Deployments helloworld-v1/v2, no DestinationRule or VirtualService (the sample's routing is left to
 * the user), so both versions sit behind the one default route.
 */
const istioHelloworldWorld = () => appliedWorld(path.join(REFERENCE, 'helloworld', 'helloworld.yaml'));

/** meshd's helloworld example mesh (examples/helloworld: Service helloworld:5000 grpc, pods v1/v2, DR subsets, VS 90/10). */
function helloworldWorld(): { doc: Doc; where: string }[] {
  const dir = path.join(ROOT, 'examples', 'helloworld');
  return fs.readdirSync(dir).filter((f) => /\.(ya?ml|json)$/.test(f)).sort().flatMap((f) => readDocs(path.join(dir, f)));
}

/** Loads documents like `meshd serve` does; objects of kinds meshd validates but does not serve are stored and reported. */
function load(docs: { doc: Doc; where: string }[]): { ctx: PushContext; skipped: string[] } {
  const store = new ConfigStore();
  const skipped: string[] = [];
  for (const { doc, where } of docs) {
    if (isIgnorableKind(doc.apiVersion, doc.kind)) continue;
    const namespaced = doc.metadata?.namespace ? doc : { ...doc, metadata: { ...doc.metadata, namespace: 'default' } };
    const r = validateDocument(namespaced);
    if (!r.ok) {
      skipped.push(`${doc.kind}/${doc.metadata?.name}: ${r.problems.map((p) => `${p.path}: ${p.reason}`).join('; ')}`);
      continue;
    }
    store.upsert(r.value.kind, r.value.object, { source: 'memory', label: where }, 'golden');
    if (!(KINDS[r.value.kind] as KindInfo).served) skipped.push(`${doc.kind}/${doc.metadata?.name}: ${NOT_SERVED_REASON}`);
  }
  return { ctx: new PushContext(store, 'golden'), skipped };
}

/**
 * The sidecar of a pod of `app` (and `version`), as istio-proxy announces itself. A client that is no
 * service's endpoint (helloworld's `sleep`) is not in the registry: it gets its labels and a fixed IP.
 */
function proxyFor(ctx: PushContext, app: string, version?: string): Proxy {
  const pod = [...ctx.registry.workloadsByName.values()].find((w) => w.labels.app === app && (!version || w.labels.version === version));
  const name = pod?.name ?? `${app}-6c8b8f6d5c-abcde`;
  const labels = pod?.labels ?? { app, ...(version ? { version } : {}) };
  return parseProxy({
    id: `sidecar~${pod?.ips[0] ?? '10.1.0.70'}~${name}.default~default.svc.cluster.local`,
    metadata: { NAMESPACE: 'default', LABELS: labels, ISTIO_VERSION: '1.24.0', INTERCEPTION_MODE: 'REDIRECT', SERVICE_ACCOUNT: pod?.serviceAccount ?? app, CLUSTER_ID: 'Kubernetes' },
  });
}

type Output = XdsOutput;

/** Scenarios share most resources byte for byte: check each distinct body once (the check dominates the time). */
const checkedBodies = new Map<string, string[]>();
function checkOnce(type: TypeUrl, body: object): string[] {
  const key = `${type} ${JSON.stringify(body)}`;
  let problems = checkedBodies.get(key);
  if (!problems) checkedBodies.set(key, (problems = checkEnvoyResource(type, body)));
  return problems;
}

/** Everything Envoy would fetch: CDS/LDS wildcard, then EDS and RDS for the names those reference. */
function generateAll(ctx: PushContext, proxy: Proxy): { output: Output; problems: string[] } {
  return generateAllOf(sidecarGenerator, ctx, proxy, checkOnce);
}

/**
 * What Envoy checks at load time beyond PGV rules, on one proxy's whole output: a RouteConfiguration's
 * domains are unique across its virtual hosts (else Envoy rejects it), a listener's filter chains have
 * distinct matches (else "multiple filter chains with the same matching rules"), listeners that bind do
 * not share an address, and every cluster a route or tcp_proxy names is in CDS (validate_clusters is off,
 * so a missing one is not a NACK but a 503 NC / refused connection at run time).
 */
function envoyLoadProblems(output: Output): string[] {
  const problems: string[] = [];
  for (const [name, rc] of Object.entries(output.rds) as [string, Doc][]) {
    const seen = new Map<string, string>();
    for (const vh of rc.virtual_hosts ?? []) {
      for (const domain of vh.domains ?? []) {
        const other = seen.get(domain.toLowerCase());
        if (other) problems.push(`RDS ${name}: domain ${domain} in virtual hosts ${other} and ${vh.name}`);
        seen.set(domain.toLowerCase(), vh.name);
      }
    }
  }
  const bound = new Map<string, string>();
  for (const [name, l] of Object.entries(output.lds) as [string, Doc][]) {
    const chains = new Map<string, number>();
    (l.filter_chains ?? []).forEach((fc: Doc, i: number) => {
      const key = JSON.stringify(fc.filter_chain_match ?? {});
      if (chains.has(key)) problems.push(`LDS ${name}: filter chains ${chains.get(key)} and ${i} have the same match ${key}`);
      chains.set(key, i);
    });
    if (l.bind_to_port?.value === false) continue;
    const sa = l.address?.socket_address ?? {};
    const addr = `${sa.address}:${sa.port_value}`;
    if (bound.has(addr)) problems.push(`LDS ${name}: binds ${addr} like ${bound.get(addr)}`);
    bound.set(addr, name);
  }
  const named = new Set<string>();
  const collect = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(collect);
    else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (k === 'cluster' && typeof x === 'string') named.add(x);
        else if (k === 'clusters' && Array.isArray(x)) x.forEach((c: Doc) => typeof c?.name === 'string' && named.add(c.name));
        else collect(x);
      }
    }
  };
  collect(output.rds);
  collect(output.lds);
  for (const c of named) if (!(c in output.cds)) problems.push(`cluster ${c} is routed to but not in CDS`);
  return problems;
}

interface Scenario {
  readonly name: string;
  readonly docs: () => { doc: Doc; where: string }[];
  readonly proxies: readonly (readonly [string, string, string?])[];
  /** the proxy for a label when it is no workload of the registry (istiod's benchmark proxy) */
  readonly proxyOf?: (ctx: PushContext, label: string) => Proxy;
  /** Why a sample leaves a sidecar's config as plain bookinfo (bound to a gateway, or kinds meshd does not serve). */
  readonly sameAsBase?: { readonly why: string; readonly reported: readonly RegExp[] };
}

/**
 * Samples that must leave a sidecar's configuration exactly as plain bookinfo, why, and the kinds meshd
 * reports as not served while loading them. Their goldens would repeat bookinfo/productpage.json, so the
 * test asserts equality instead of writing a copy.
 */
const SAME_AS_BASE: Record<string, { readonly why: string; readonly reported: readonly RegExp[] }> = {
  'bookinfo-gateway.yaml': {
    why: 'Gateway + VirtualService bound to bookinfo-gateway only: applies to the ingress gateway (test/xds/router-golden.test.ts), not to sidecars (gateways: [mesh] is not listed)',
    reported: [],
  },
  'certmanager-gateway.yaml': {
    why: 'Gateway + VirtualService bound to cert-manager-gateway only: applies to the ingress gateway (test/xds/router-golden.test.ts), not to sidecars',
    reported: [],
  },
};

/** VirtualService samples route to subsets v1/v2/v3 that only destination-rule-all.yaml defines. */
const needsSubsets = (file: string) => file.startsWith('virtual-service-') || file.startsWith('fault-injection-');

/** Istio's egress samples (samples/external): ServiceEntries for github.com (HTTPS + TCP CIDRs), apt and PyPI. */
const EXTERNAL = path.join(REFERENCE, 'external');

/**
 * istiod's benchmark config testdata/pilot-benchmarks/serviceentry-workloadentry.yaml (a Go template)
 * rendered small: 3 ServiceEntries selecting WorkloadEntries by label, 7 WorkloadEntries (so the selectors
 * pick 3, 2 and 2 of them), and the proxy's own STATIC MESH_INTERNAL ServiceEntry at 1.1.1.1.
 */
const BENCH_SERVICES = 3;
const BENCH_INSTANCES = 7;
function serviceEntryWorkloadEntryWorld(): { doc: Doc; where: string }[] {
  const file = istioReference('testdata', 'pilot-benchmarks', 'serviceentry-workloadentry.yaml');
  const where = path.relative(path.join(ROOT, '..'), file);
  const rendered = fs.readFileSync(file, 'utf8')
    .replace(/\{\{-? range \$i := until \.Services \}\}([\s\S]*?)\{\{-? end \}\}/g, (_m, body: string) =>
      Array.from({ length: BENCH_SERVICES }, (_, i) => body.replaceAll('{{$i}}', String(i))).join('\n'))
    .replace(/\{\{-? range \$j := until \.Instances \}\}([\s\S]*?)\{\{-? end \}\}/g, (_m, body: string) =>
      Array.from({ length: BENCH_INSTANCES }, (_, j) => body
        .replaceAll('{{$j}}', String(j))
        .replaceAll('{{div $j 255 }}', String(Math.floor(j / 255)))
        .replaceAll('{{mod $j 255 }}', String(j % 255))
        .replaceAll('{{mod $j $.Services}}', String(j % BENCH_SERVICES))).join('\n'));
  assert.doesNotMatch(rendered, /\{\{/, 'every template action rendered');
  return parseDocuments(rendered).flatMap((d) => {
    if (d.error) throw new Error(`${where}#${d.index}: ${d.error}`);
    return d.value ? [{ doc: d.value as Doc, where: `${where}#${d.index} (rendered)` }] : [];
  });
}

/** The benchmark's proxy: 1.1.1.1 in namespace default, the endpoint of proxy-service-instance (tlsMode istio). */
function benchmarkProxy(): Proxy {
  return parseProxy({
    id: 'sidecar~1.1.1.1~bench-proxy.default~default.svc.cluster.local',
    metadata: { NAMESPACE: 'default', LABELS: { 'security.istio.io/tlsMode': 'istio' }, ISTIO_VERSION: '1.24.0', INTERCEPTION_MODE: 'REDIRECT', SERVICE_ACCOUNT: 'default', CLUSTER_ID: 'Kubernetes' },
  });
}

const SCENARIOS: Scenario[] = [
  { name: 'helloworld', docs: helloworldWorld, proxies: [['sleep', 'sleep'], ['helloworld-v1', 'helloworld', 'v1']] },
  { name: 'istio-helloworld', docs: istioHelloworldWorld, proxies: [['sleep', 'sleep'], ['helloworld-v1', 'helloworld', 'v1']] },
  { name: 'bookinfo', docs: bookinfoWorld, proxies: [['productpage', 'productpage'], ['reviews-v2', 'reviews', 'v2']] },
  ...fs.readdirSync(NETWORKING).filter((f) => f.endsWith('.yaml')).sort().map((file): Scenario => ({
    name: `bookinfo+${file.replace(/\.yaml$/, '')}`,
    // Bookinfo's routing tasks apply destination-rule-all.yaml first: its VirtualServices name its subsets.
    docs: () => [...bookinfoWorld(), ...(needsSubsets(file) ? readDocs(path.join(NETWORKING, 'destination-rule-all.yaml')) : []), ...readDocs(path.join(NETWORKING, file))],
    // Inbound matters where a sample changes what a workload serves (mTLS DestinationRules change how
    // peers call reviews; its inbound side is PeerAuthentication's, which no sample sets).
    proxies: file.startsWith('destination-rule') ? [['productpage', 'productpage'], ['reviews-v2', 'reviews', 'v2']] : [['productpage', 'productpage']],
    ...(SAME_AS_BASE[file] ? { sameAsBase: SAME_AS_BASE[file] } : {}),
  })),
  ...fs.readdirSync(EXTERNAL).filter((f) => f.endsWith('.yaml')).sort().map((file): Scenario => ({
    name: `bookinfo+external-${file.replace(/\.yaml$/, '')}`,
    docs: () => [...bookinfoWorld(), ...readDocs(path.join(EXTERNAL, file))],
    proxies: [['productpage', 'productpage']],
  })),
  { name: 'serviceentry-workloadentry', docs: serviceEntryWorkloadEntryWorld, proxies: [['bench-proxy', '']], proxyOf: benchmarkProxy },
];

function goldenPath(scenario: string, proxy: string): string {
  return path.join(GOLDEN_DIR, scenario, `${proxy}.json`);
}

describe('sidecar goldens: helloworld (meshd\'s and Istio\'s) and bookinfo with each networking sample', () => {
  const results = new Map<string, Output>();
  for (const scenario of SCENARIOS) {
    it(`${scenario.name}: full CDS/EDS/LDS/RDS match the golden, and every resource passes Envoy's protos and PGV rules`, () => {
      const { ctx, skipped } = load(scenario.docs());
      for (const [label, app, version] of scenario.proxies) {
        const proxy = scenario.proxyOf ? scenario.proxyOf(ctx, label) : proxyFor(ctx, app, version);
        const { output, problems } = generateAll(ctx, proxy);
        assert.deepEqual(problems, [], `${scenario.name}/${label}`);
        assert.deepEqual(envoyLoadProblems(output), [], `${scenario.name}/${label}: Envoy's load-time checks`);
        assert.ok(Object.keys(output.cds).length > 0 && Object.keys(output.lds).length > 0, `${scenario.name}/${label}: CDS and LDS are not empty`);
        results.set(`${scenario.name}/${label}`, output);
        if (scenario.sameAsBase) continue;
        assert.deepEqual(skipped, [], `${scenario.name}: every document loads`);
        const golden = { scenario: scenario.name, proxy: proxy.id, ...output };
        const file = goldenPath(scenario.name, label);
        const text = `${JSON.stringify(golden, null, 2)}\n`;
        if (UPDATE) {
          fs.mkdirSync(path.dirname(file), { recursive: true });
          fs.writeFileSync(file, text);
        } else {
          assert.ok(fs.existsSync(file), `${path.relative(ROOT, file)} is missing: run with UPDATE_GOLDEN=1`);
          assert.deepEqual(JSON.parse(text), JSON.parse(fs.readFileSync(file, 'utf8')), `${path.relative(ROOT, file)} differs: review, then UPDATE_GOLDEN=1`);
        }
      }
      if (scenario.sameAsBase) {
        const { why, reported } = scenario.sameAsBase;
        assert.equal(skipped.length, reported.length, `${scenario.name}: reported as not served: ${skipped.join(' | ')}`);
        reported.forEach((re, i) => assert.match(skipped[i]!, re));
        assert.deepEqual(results.get(`${scenario.name}/productpage`), results.get('bookinfo/productpage'), why);
        assert.ok(!fs.existsSync(path.join(GOLDEN_DIR, scenario.name)), `${scenario.name} keeps no golden of its own`);
      }
    });
  }

  it('the load-time checks catch what Envoy would reject or leave unroutable', () => {
    const base = results.get('bookinfo/productpage');
    assert.ok(base, 'bookinfo scenario ran');
    const broken = structuredClone(base) as Output & Record<string, Record<string, Doc>>;
    const rc = broken.rds['9080'] as Doc;
    rc.virtual_hosts[1].domains.push(rc.virtual_hosts[0].domains[0]);
    const inbound = broken.lds.virtualInbound as Doc;
    inbound.filter_chains.push(inbound.filter_chains[0]);
    delete broken.cds['outbound|9080||reviews.default.svc.cluster.local'];
    const problems = envoyLoadProblems(broken);
    assert.equal(problems.length, 3, problems.join('\n'));
    assert.match(problems.join('\n'), /domain details\.default\.svc\.cluster\.local in virtual hosts/);
    assert.match(problems.join('\n'), /LDS virtualInbound: filter chains 0 and \d+ have the same match/);
    assert.match(problems.join('\n'), /cluster outbound\|9080\|\|reviews\.default\.svc\.cluster\.local is routed to but not in CDS/);
  });

  it('Istio names: outbound|PORT|SUBSET|FQDN clusters, 0.0.0.0_9080 / virtualOutbound / virtualInbound listeners, route configuration 9080', () => {
    const base = results.get('bookinfo/productpage');
    assert.ok(base, 'bookinfo scenario ran');
    for (const name of ['outbound|9080||reviews.default.svc.cluster.local', 'outbound|9080||details.default.svc.cluster.local', 'BlackHoleCluster', 'PassthroughCluster', 'inbound|9080||']) {
      assert.ok(name in base.cds, `cluster ${name}; have ${Object.keys(base.cds).join(', ')}`);
    }
    for (const name of ['virtualOutbound', 'virtualInbound', '0.0.0.0_9080']) assert.ok(name in base.lds, `listener ${name}; have ${Object.keys(base.lds).join(', ')}`);
    assert.ok('9080' in base.rds, `route configuration 9080; have ${Object.keys(base.rds).join(', ')}`);
    const subsets = results.get('bookinfo+destination-rule-all/productpage');
    assert.ok(subsets && 'outbound|9080|v3|reviews.default.svc.cluster.local' in subsets.cds, 'subset clusters from destination-rule-all');
  });
});
