import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { parseDocuments } from '../../src/config/documents.js';
import { KINDS } from '../../src/config/kinds.js';
import { DEFAULT_MESH_CONFIG } from '../../src/config/mesh-config.js';
import { ConfigStore } from '../../src/config/store.js';
import { PushContext } from '../../src/model/push-context.js';
import { parseProxy, type Proxy } from '../../src/model/proxy.js';
import { generateSidecarResources } from '../../src/simulate/sidecar-resources.js';
import { admit } from '../../src/sources/apply.js';
import { grpcGenerator } from '../../src/xds/generators/grpc/index.js';
import { TYPE, type TypeUrl } from '../../src/xds/resource-types.js';
import { checkEnvoyResource } from '../support/envoy-check/pgv-check.js';
import { istioReference } from '../support/istio-reference.js';
import { fuzzParameters, FUZZ_SEED, interestingValue } from './settings.js';

// Fuzz (a): documents from Istio's own corpora (samples and test data), mutated, through the path every
// document takes: validate (admit) → store → snapshot (PushContext) → every generator, for sidecars and a
// proxyless gRPC client. A document is either refused with validate-style problems, or accepted; nothing
// may throw, and every resource an accepted document leads to must be one Envoy accepts (its protos round
// trip losing nothing, its PGV rules hold).

type Doc = Record<string, unknown>;

/** every document of a kind meshd knows, from Istio's samples and test data */
function loadCorpus(): Doc[] {
  const docs: Doc[] = [];
  const skip = new Set(['pilot-benchmarks', 'istioctl-configdump', 'inject', 'bootstrap', 'grpc-xds-bootstrap']);
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const full = path.join(dir, e.name);
      if (e.isDirectory()) {
        if (!skip.has(e.name)) walk(full);
      } else if (/\.ya?ml$/.test(e.name)) {
        for (const d of parseDocuments(fs.readFileSync(full, 'utf8'))) {
          const kind = (d.value as Doc | undefined)?.kind;
          if (typeof kind === 'string' && kind in KINDS) docs.push(d.value as Doc);
        }
      }
    }
  };
  walk(istioReference('samples'));
  walk(istioReference('testdata'));
  return docs;
}

/** a small mesh the mutated documents land in: bookinfo's Services with one Pod each */
function world(corpus: readonly Doc[]): Doc[] {
  const services = corpus.filter((d) => d.kind === 'Service' && ['productpage', 'reviews', 'ratings', 'details'].includes(String((d.metadata as Doc)?.name))).slice(0, 4);
  const pods = services.map((s, i) => {
    const selector = ((s.spec as Doc)?.selector ?? {}) as Record<string, string>;
    const name = String((s.metadata as Doc).name);
    return {
      apiVersion: 'v1', kind: 'Pod',
      metadata: { name: `${name}-v1`, namespace: 'default', labels: { ...selector, version: 'v1' } },
      spec: { serviceAccountName: `bookinfo-${name}`, containers: [{ name: name, ports: [{ containerPort: 9080 }] }] },
      status: { podIP: `10.1.0.${10 + i}`, phase: 'Running' },
    };
  });
  return [...services, ...pods];
}

const sidecar = (pod: string, ip: string, app: string): Proxy =>
  parseProxy({
    id: `sidecar~${ip}~${pod}.default~default.svc.cluster.local`,
    metadata: { NAMESPACE: 'default', LABELS: { app, version: 'v1' }, INSTANCE_IPS: ip, ISTIO_VERSION: '1.24.0', INTERCEPTION_MODE: 'REDIRECT', SERVICE_ACCOUNT: `bookinfo-${app}` },
  });
const grpcClient = parseProxy({ id: 'sidecar~10.1.0.99~client.default~default.svc.cluster.local', metadata: { GENERATOR: 'grpc', NAMESPACE: 'default' } });

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** what a proxyless client would hold after following every name: LDS wildcard → RDS → CDS → EDS */
function grpcResources(ctx: PushContext, proxy: Proxy): [TypeUrl, Json][] {
  const gen = (type: TypeUrl, name: string) => grpcGenerator.generate(type, ctx, proxy, name) as Json | undefined;
  const out: [TypeUrl, Json][] = [];
  const collect = (value: unknown, key: string, into: Set<string>): void => {
    if (Array.isArray(value)) value.forEach((v) => collect(v, key, into));
    else if (value && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) {
        if (k === key && typeof v === 'string') into.add(v);
        else collect(v, key, into);
      }
    }
  };
  const routeNames = new Set<string>();
  for (const name of grpcGenerator.wildcardNames(TYPE.LDS, ctx, proxy)) {
    const l = gen(TYPE.LDS, name);
    if (l) out.push([TYPE.LDS, l]), collect(l, 'route_config_name', routeNames);
  }
  const clusterNames = new Set<string>();
  for (const name of routeNames) {
    const r = gen(TYPE.RDS, name);
    if (r) out.push([TYPE.RDS, r]), collect(r, 'cluster', clusterNames), collect(r, 'name', clusterNames);
  }
  const edsNames = new Set<string>();
  for (const name of clusterNames) {
    const c = gen(TYPE.CDS, name);
    if (c) out.push([TYPE.CDS, c]), collect(c, 'service_name', edsNames);
  }
  for (const name of edsNames) {
    const e = gen(TYPE.EDS, name);
    if (e) out.push([TYPE.EDS, e]);
  }
  return out;
}

/**
 * What a gRPC client would object to. gRPC decodes Envoy's protos but does not run their PGV rules, and
 * its TLS takes certificate provider instances: istiod sends proxyless clients a
 * combined_validation_context with only `default_validation_context.ca_certificate_provider_instance`
 * (no SDS config, which PGV marks required for Envoy), and so does meshd. That one rule is not gRPC's.
 */
function grpcViolations(type: TypeUrl, body: Json): string[] {
  return checkEnvoyResource(type, body).filter((v) => !/combined_validation_context\.validation_context_sds_secret_config: message\.required/.test(v));
}

/** every path of a JSON value, as key lists */
function pathsOf(value: unknown, prefix: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(prefix);
  if (Array.isArray(value)) value.forEach((v, i) => pathsOf(v, [...prefix, i], out));
  else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) pathsOf(v, [...prefix, k], out);
  return out;
}

type Mutation = { at: number; op: 'set' | 'delete' | 'duplicate' | 'rename' | 'wrap'; value: unknown };
const mutation: fc.Arbitrary<Mutation> = fc.record({
  at: fc.nat(),
  op: fc.constantFrom('set', 'set', 'set', 'delete', 'duplicate', 'rename', 'wrap'),
  value: interestingValue,
});

function mutate(doc: Doc, mutations: readonly Mutation[]): Doc {
  let root: unknown = structuredClone(doc);
  for (const m of mutations) {
    const paths = pathsOf(root).filter((p) => p.length > 0);
    if (paths.length === 0) break;
    const p = paths[m.at % paths.length]!;
    const parent = p.slice(0, -1).reduce<any>((o: any, k) => o[k], root); // eslint-disable-line @typescript-eslint/no-explicit-any
    const key = p[p.length - 1]!;
    switch (m.op) {
      case 'set': parent[key] = structuredClone(m.value); break;
      case 'delete': if (Array.isArray(parent)) parent.splice(Number(key), 1); else delete parent[key]; break;
      case 'duplicate': if (Array.isArray(parent)) parent.push(structuredClone(parent[key as number])); else parent[`${String(key)}x`] = structuredClone(parent[key as string]); break;
      case 'rename': if (!Array.isArray(parent)) { parent[String(m.value).slice(0, 20) || 'x'] = parent[key]; delete parent[key]; } break;
      case 'wrap': parent[key] = [parent[key]]; break;
    }
  }
  return root as Doc;
}

describe('fuzz (a): mutated Istio documents → validate → store → snapshot → every generator', () => {
  const corpus = loadCorpus();
  const base = world(corpus);
  const proxies = [sidecar('productpage-v1', '10.1.0.10', 'productpage'), sidecar('reviews-v1', '10.1.0.11', 'reviews')];

  it(`never throws, and every accepted document yields only Envoy-valid resources (seed ${FUZZ_SEED})`, (t) => {
    assert.ok(corpus.length > 500, `the corpus has ${corpus.length} documents`);
    let cases = 0;
    let accepted = 0;
    let refused = 0;
    fc.assert(
      fc.property(
        fc.array(fc.record({ seed: fc.nat({ max: corpus.length - 1 }), mutations: fc.array(mutation, { minLength: 0, maxLength: 4 }) }), { minLength: 1, maxLength: 3 }),
        (picks) => {
          cases++;
          const store = new ConfigStore();
          const docs = [...base, ...picks.map((p) => mutate(corpus[p.seed]!, p.mutations))];
          docs.forEach((doc, i) => {
            const origin = { source: 'memory', label: `fuzz#${i}` } as const;
            const a = admit(doc, origin);
            if (a.ok) {
              store.upsert(a.kind, a.object, origin, 'fuzz');
              if (i >= base.length) accepted++;
            } else {
              assert.ok(a.messages.length > 0 && a.messages.every((m) => m.startsWith('fuzz#')), `a refusal says why: ${JSON.stringify(a.messages)}`);
              refused++;
            }
          });
          const ctx = new PushContext(store, 'fuzz', DEFAULT_MESH_CONFIG, { onWarning: () => {} });
          for (const proxy of proxies) {
            const g = generateSidecarResources(ctx, proxy);
            const all: [TypeUrl, Iterable<Json>][] = [
              [TYPE.LDS, g.resources.listeners], [TYPE.RDS, g.resources.routes.values()], [TYPE.CDS, g.resources.clusters.values()], [TYPE.EDS, g.resources.endpoints.values()],
            ];
            for (const [type, items] of all) for (const body of items) assert.deepEqual(checkEnvoyResource(type, body), [], `${proxy.id} ${type} ${body.name ?? body.cluster_name}`);
          }
          for (const [type, body] of grpcResources(ctx, grpcClient)) assert.deepEqual(grpcViolations(type, body), [], `grpc ${type} ${body.name ?? body.cluster_name}`);
        },
      ),
      fuzzParameters(40),
    );
    t.diagnostic(`fuzz (a): ${cases} cases (seed ${FUZZ_SEED}), ${accepted} mutated documents accepted, ${refused} refused, corpus ${corpus.length} documents`);
  });
});
