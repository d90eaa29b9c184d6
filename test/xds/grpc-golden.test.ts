import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { parseDocuments } from '../../src/config/documents.js';
import { isIgnorableKind } from '../../src/config/kinds.js';
import { ConfigStore } from '../../src/config/store.js';
import { validateDocument } from '../../src/config/validate.js';
import { PushContext } from '../../src/model/push-context.js';
import { parseProxy, type Proxy } from '../../src/model/proxy.js';
import { outboundClusterName } from '../../src/envoy/cluster-name.js';
import { checkEnvoyResource } from '../support/envoy-check/pgv-check.js';
import { grpcGenerator } from '../../src/xds/generators/grpc/index.js';
import { SHORT_TYPE, TYPE, type TypeUrl } from '../../src/xds/resource-types.js';

// Golden files of what the proxyless gRPC generator emits for the helloworld example mesh
// (examples/helloworld/ when it holds config, else the same mesh built here): test/golden/grpc/<type>.json.
// `UPDATE_GOLDEN=1 node --import tsx --test test/xds/grpc-golden.test.ts` rewrites them; otherwise any
// difference fails with a line diff. Every golden resource must survive encode → decode with Envoy's protos.

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const EXAMPLE_DIR = process.env.GRPC_GOLDEN_BUILT_IN === '1' ? path.join(ROOT, 'no-such-dir') : path.join(ROOT, 'examples', 'helloworld');
const GOLDEN_DIR = path.join(ROOT, 'test', 'golden', 'grpc');
const UPDATE = process.env.UPDATE_GOLDEN === '1';

/**
 * The example mesh when examples/helloworld/ holds no config (same objects, so the goldens do not depend
 * on which one is used): Service helloworld:5000 (grpc), pods v1/v2, DR subsets v1/v2, VS 90/10.
 */
const BUILT_IN_MESH: Record<string, unknown>[] = [
  { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' } },
  {
    apiVersion: 'v1', kind: 'Service', metadata: { name: 'helloworld', namespace: 'default', labels: { app: 'helloworld', service: 'helloworld' } },
    spec: { selector: { app: 'helloworld' }, ports: [{ name: 'grpc', port: 5000, targetPort: 5000 }] },
  },
  ...['v1', 'v2'].map((v, i) => ({
    apiVersion: 'v1', kind: 'Pod', metadata: { name: `helloworld-${v}`, namespace: 'default', labels: { app: 'helloworld', version: v } },
    spec: { serviceAccountName: 'helloworld', containers: [{ name: 'helloworld', ports: [{ containerPort: 5000 }] }] },
    status: { phase: 'Running', podIP: `127.0.0.${11 + i}` },
  })),
  {
    apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'helloworld', namespace: 'default' },
    spec: { host: 'helloworld.default.svc.cluster.local', subsets: [{ name: 'v1', labels: { version: 'v1' } }, { name: 'v2', labels: { version: 'v2' } }] },
  },
  {
    apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'helloworld', namespace: 'default' },
    spec: {
      hosts: ['helloworld.default.svc.cluster.local'],
      http: [{ route: [
        { destination: { host: 'helloworld.default.svc.cluster.local', subset: 'v1' }, weight: 90 },
        { destination: { host: 'helloworld.default.svc.cluster.local', subset: 'v2' }, weight: 10 },
      ] }],
    },
  },
];

function configFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  const out: string[] = [];
  for (const name of fs.readdirSync(dir).sort()) {
    const full = path.join(dir, name);
    if (fs.statSync(full).isDirectory()) out.push(...configFiles(full));
    else if (/\.(ya?ml|json)$/.test(name)) out.push(full);
  }
  return out;
}

function loadMesh(): { ctx: PushContext; source: string } {
  const store = new ConfigStore();
  const files = configFiles(EXAMPLE_DIR);
  const docs: { doc: unknown; where: string }[] = [];
  for (const file of files) {
    for (const d of parseDocuments(fs.readFileSync(file, 'utf8'))) {
      if (d.error) throw new Error(`${file}#${d.index}: ${d.error}`);
      docs.push({ doc: d.value, where: `${path.relative(ROOT, file)}#${d.index}` });
    }
  }
  const useExample = docs.length > 0;
  const input = useExample ? docs : BUILT_IN_MESH.map((doc, i) => ({ doc, where: `built-in#${i}` }));
  for (const { doc, where } of input) {
    const d = doc as { apiVersion?: unknown; kind?: unknown };
    if (isIgnorableKind(d.apiVersion, d.kind)) continue;
    const r = validateDocument(doc);
    if (!r.ok) throw new Error(`${where}: ${JSON.stringify(r.problems)}`);
    store.upsert(r.value.kind, r.value.object, { source: 'memory', label: where }, 'golden');
  }
  return { ctx: new PushContext(store, 'golden'), source: useExample ? 'examples/helloworld' : 'built-in mesh' };
}

function goldenProxies(ctx: PushContext): { client: Proxy; server: Proxy; serverIp: string } {
  const client = parseProxy({
    id: 'sidecar~10.1.0.20~client-1.default~default.svc.cluster.local',
    metadata: { GENERATOR: 'grpc', NAMESPACE: 'default', LABELS: { app: 'client' } },
  });
  const backend = [...ctx.registry.workloadsByName.values()].find((w) => w.labels.app === 'helloworld' && w.ips.length > 0);
  const serverIp = backend?.ips[0] ?? '10.1.0.11';
  const server = parseProxy({
    id: `sidecar~${serverIp}~${backend?.name ?? 'helloworld-v1'}.default~default.svc.cluster.local`,
    metadata: { GENERATOR: 'grpc', NAMESPACE: 'default', LABELS: backend?.labels ?? { app: 'helloworld', version: 'v1' } },
  });
  return { client, server, serverIp };
}

/** The names a client and a server of the mesh ask for, per type. */
function requests(ctx: PushContext): Map<TypeUrl, { proxy: 'client' | 'server'; name: string }[]> {
  const out = new Map<TypeUrl, { proxy: 'client' | 'server'; name: string }[]>([[TYPE.LDS, []], [TYPE.RDS, []], [TYPE.CDS, []], [TYPE.EDS, []]]);
  const add = (t: TypeUrl, p: 'client' | 'server', name: string) => out.get(t)!.push({ proxy: p, name });
  for (const svc of ctx.registry.services) {
    const dr = ctx.destinationRuleFor('default', svc.hostname)?.config;
    for (const port of svc.ports) {
      add(TYPE.LDS, 'client', `${svc.hostname}:${port.port}`);
      if (svc.namespace === 'default') add(TYPE.LDS, 'client', `${svc.name}:${port.port}`);
      add(TYPE.LDS, 'server', `xds.istio.io/grpc/lds/inbound/0.0.0.0:${port.targetPort ?? port.port}`);
      add(TYPE.RDS, 'client', outboundClusterName(svc.hostname, port.port));
      for (const subset of ['', ...(dr?.spec.subsets ?? []).map((s) => s.name)]) {
        add(TYPE.CDS, 'client', outboundClusterName(svc.hostname, port.port, subset));
        add(TYPE.EDS, 'client', outboundClusterName(svc.hostname, port.port, subset));
      }
    }
  }
  return out;
}

/** A readable line diff (LCS), with a few lines of context around each change. */
function lineDiff(expected: string, actual: string, context = 3): string {
  const a = expected.split('\n');
  const b = actual.split('\n');
  const n = a.length;
  const m = b.length;
  const lcs: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) {
    lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
  }
  const ops: { op: ' ' | '-' | '+'; line: string }[] = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (a[i] === b[j]) { ops.push({ op: ' ', line: a[i]! }); i++; j++; }
    else if (lcs[i + 1]![j]! >= lcs[i]![j + 1]!) ops.push({ op: '-', line: a[i++]! });
    else ops.push({ op: '+', line: b[j++]! });
  }
  while (i < n) ops.push({ op: '-', line: a[i++]! });
  while (j < m) ops.push({ op: '+', line: b[j++]! });
  const keep = new Set<number>();
  ops.forEach((o, k) => { if (o.op !== ' ') for (let c = k - context; c <= k + context; c++) keep.add(c); });
  const out: string[] = [];
  let last = -2;
  ops.forEach((o, k) => {
    if (!keep.has(k)) return;
    if (k !== last + 1) out.push('@@');
    out.push(`${o.op} ${o.line}`);
    last = k;
  });
  return out.join('\n');
}

describe('grpc generator golden files (helloworld mesh)', () => {
  const { ctx, source } = loadMesh();
  const { client, server } = goldenProxies(ctx);
  const proxies = { client, server };

  for (const [type, names] of requests(ctx)) {
    const short = SHORT_TYPE[type]!.toLowerCase();
    it(`${short}.json matches what the generator emits (${source})`, () => {
      assert.ok(names.length > 0, `the mesh must produce ${short} requests`);
      const resources: Record<string, unknown> = {};
      for (const { proxy, name } of [...names].sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0))) {
        const body = grpcGenerator.generate(type, ctx, proxies[proxy], name);
        assert.ok(body, `${short} ${name} must exist for the ${proxy}`);
        assert.deepEqual(checkEnvoyResource(type, body), [], `${short} ${name} must round-trip through Envoy's protos and pass their PGV rules`);
        resources[name] = body;
      }
      const actual = `${JSON.stringify({ type, resources }, null, 2)}\n`;
      const file = path.join(GOLDEN_DIR, `${short}.json`);
      if (UPDATE) {
        fs.mkdirSync(GOLDEN_DIR, { recursive: true });
        fs.writeFileSync(file, actual);
        return;
      }
      assert.ok(fs.existsSync(file), `${path.relative(ROOT, file)} is missing: run with UPDATE_GOLDEN=1`);
      const expected = fs.readFileSync(file, 'utf8');
      if (expected !== actual) {
        assert.fail(`${path.relative(ROOT, file)} differs from the generator (- golden, + generated); ` +
          `if the change is intended, rerun with UPDATE_GOLDEN=1 and review the diff:\n${lineDiff(expected, actual)}`);
      }
      // the committed golden itself must be valid Envoy config
      const golden = JSON.parse(expected) as { resources: Record<string, object> };
      for (const [name, body] of Object.entries(golden.resources)) {
        assert.deepEqual(checkEnvoyResource(type, body), [], `golden ${short} ${name} must round-trip and pass PGV`);
      }
    });
  }
});
