// The API-server fixture itself, driven by real kubectl 1.32 (fresh --cache-dir per run) and raw HTTP:
// what kubectl needs (discovery, OpenAPI v3, apply/get/delete, server-side apply, patches), resourceVersion
// semantics (replay, 410), status subresource, TokenReview, bearer tokens and TLS.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { FakeApiServer } from './server.js';
import { kubectlFor, type Kubectl } from './kubectl.js';
import { mergePatch, strategicMergePatch, type Json } from './patch.js';

const VS = (subset: string) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  http: [{route: [{destination: {host: reviews, subset: ${subset}}}]}]
`;
const SVC = (ports: number[]) => `apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: default}
spec:
  selector: {app: reviews}
  ports: [${ports.map((p) => `{name: p${p}, port: ${p}}`).join(', ')}]
`;

async function watchLines(url: string, n: number, timeoutMs = 3000, headers: Record<string, string> = {}): Promise<{ type: string; object: { metadata: { name?: string; resourceVersion?: string }; code?: number } }[]> {
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), timeoutMs);
  const res = await fetch(url, { signal: ctrl.signal, headers });
  const out: { type: string; object: never }[] = [];
  let buf = '';
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buf += Buffer.from(chunk).toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        out.push(JSON.parse(buf.slice(0, i)));
        buf = buf.slice(i + 1);
      }
      if (out.length >= n) break;
    }
  } catch {
    // aborted
  } finally {
    clearTimeout(timer);
    ctrl.abort();
  }
  return out;
}

describe('API-server fixture with real kubectl', () => {
  const api = new FakeApiServer({ historySize: 50 });
  let k: Kubectl;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'meshd-fixture-'));
  const f = (name: string, text: string) => {
    writeFileSync(path.join(dir, name), text);
    return path.join(dir, name);
  };
  before(async () => {
    k = kubectlFor({ server: await api.start() });
  });
  after(async () => {
    await api.stop();
    k.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('kubectl apply creates, re-apply configures (merge patch for CRs, strategic merge for built-ins), get, delete', async () => {
    assert.match(await k.run(['apply', '-f', f('vs.yaml', VS('v1'))]), /virtualservice.networking.istio.io\/reviews created/);
    assert.match(await k.run(['apply', '-f', f('svc.yaml', SVC([9080, 5000]))]), /service\/reviews created/);
    assert.match(await k.run(['apply', '-f', f('vs.yaml', VS('v2'))]), /configured/);
    assert.match(await k.run(['apply', '-f', f('svc.yaml', SVC([9080, 5001]))]), /configured/);
    assert.ok(api.requests.some((r) => r.verb === 'patch' && r.resource === 'virtualservices' && r.contentType === 'application/merge-patch+json'));
    assert.ok(api.requests.some((r) => r.verb === 'patch' && r.resource === 'services' && r.contentType === 'application/strategic-merge-patch+json'));
    const vs = YAML.parse(await k.run(['get', 'vs', 'reviews', '-o', 'yaml']));
    assert.equal(vs.spec.http[0].route[0].destination.subset, 'v2');
    assert.equal(vs.metadata.generation, 2);
    const svc = JSON.parse(await k.run(['get', 'svc', 'reviews', '-o', 'json']));
    assert.deepEqual(svc.spec.ports.map((p: { port: number }) => p.port), [9080, 5001], 'merge by port key; 5000 removed');
    assert.match(await k.run(['get', 'virtualservices.v1beta1.networking.istio.io', 'reviews', '-o', 'jsonpath={.apiVersion}']), /networking.istio.io\/v1beta1/);
    assert.match(await k.run(['delete', '-f', path.join(dir, 'vs.yaml')]), /deleted/);
    assert.match((await k.try(['get', 'vs', 'reviews'])).stderr, /NotFound|not found/);
  });

  it('kubectl apply --server-side and --dry-run=server; kubectl patch --type=json|merge; status subresource', async () => {
    assert.match(await k.run(['apply', '--server-side', '-f', f('vs2.yaml', VS('v3'))]), /serverside-applied/);
    const before = api.resourceVersion;
    await k.run(['apply', '--dry-run=server', '-f', f('vs3.yaml', VS('v4'))]);
    assert.equal(api.resourceVersion, before, 'dry run persisted nothing');
    await k.run(['patch', 'vs', 'reviews', '--type=json', '-p', '[{"op":"replace","path":"/spec/hosts/0","value":"ratings"}]']);
    await k.run(['patch', 'vs', 'reviews', '--type=merge', '-p', '{"status":{"x":1}}']);
    let o = api.get('networking.istio.io/v1', 'VirtualService', 'default', 'reviews')!;
    assert.equal((o.spec as { hosts: string[] }).hosts[0], 'ratings');
    assert.equal(o.status, undefined, 'status is not written through the main resource');
    await k.run(['patch', 'vs', 'reviews', '--subresource=status', '--type=merge', '-p', '{"status":{"x":1}}']);
    o = api.get('networking.istio.io/v1', 'VirtualService', 'default', 'reviews')!;
    assert.deepEqual(o.status, { x: 1 });
  });

  it('namespaces must exist; deleting one deletes what is in it', async () => {
    assert.match((await k.try(['apply', '-f', f('x.yaml', VS('v1').replace('namespace: default', 'namespace: shop'))])).stderr, /namespaces "shop" not found/);
    await k.run(['apply', '-f', f('ns.yaml', 'apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n')]);
    await k.run(['apply', '-f', path.join(dir, 'x.yaml')]);
    await k.run(['delete', 'namespace', 'shop']);
    assert.equal(api.get('networking.istio.io/v1', 'VirtualService', 'shop', 'reviews'), undefined);
  });

  it('watch: replay after a resourceVersion, synthetic ADDED without one, 410 for compacted versions; LIST pages', async () => {
    const base = `${api.url}/apis/networking.istio.io/v1/namespaces/default/virtualservices`;
    const rv0 = String(api.resourceVersion);
    api.put(YAML.parse(VS('a').replace('name: reviews', 'name: w1')));
    api.put(YAML.parse(VS('a').replace('name: reviews', 'name: w2')));
    const replay = await watchLines(`${base}?watch=true&resourceVersion=${rv0}`, 2);
    assert.deepEqual(replay.map((e) => `${e.type}:${e.object.metadata.name}`), ['ADDED:w1', 'ADDED:w2']);
    const initial = await watchLines(`${base}?watch=true`, 3, 1000);
    assert.ok(initial.length >= 3 && initial.every((e) => e.type === 'ADDED'));
    for (let i = 0; i < 60; i++) api.put(YAML.parse(VS(`s${i}`).replace('name: reviews', 'name: w1'))); // history holds 50
    const gone = await watchLines(`${base}?watch=true&resourceVersion=${rv0}`, 1);
    assert.equal(gone[0]?.type, 'ERROR');
    assert.equal(gone[0]?.object.code, 410);
    const page1 = (await (await fetch(`${base}?limit=2`)).json()) as { items: unknown[]; metadata: { continue?: string } };
    assert.equal(page1.items.length, 2);
    const page2 = (await (await fetch(`${base}?limit=2&continue=${page1.metadata.continue}`)).json()) as { items: unknown[] };
    assert.ok(page2.items.length >= 1);
    const pods = (await (await fetch(`${api.url}/api/v1/namespaces?limit=1`)).json()) as { items: { kind?: string }[] };
    assert.equal(pods.items[0]?.kind, undefined, 'built-in list items carry no kind (clients must fill it in)');
  });
});

describe('API-server fixture: bearer tokens, TLS, TokenReview', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'meshd-fixture-tls-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'),
    '-days', '1', '-subj', '/CN=fixture', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  const cert = readFileSync(path.join(dir, 'cert.pem'), 'utf8');
  const api = new FakeApiServer({
    tls: { cert, key: readFileSync(path.join(dir, 'key.pem')) }, tokens: ['admin-token'],
    tokenReviews: {
      'admin-token': { username: 'admin' },
      'workload-token': { username: 'system:serviceaccount:default:sleep', groups: ['system:serviceaccounts'], audiences: ['istio-ca'] },
    },
  });
  let url: string;
  before(async () => {
    url = await api.start();
  });
  after(async () => {
    await api.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('kubectl over TLS with the CA and the right token works; a wrong token gets 401', async () => {
    const good = kubectlFor({ server: url, token: 'admin-token', caPem: cert });
    const bad = kubectlFor({ server: url, token: 'nope', caPem: cert });
    try {
      assert.match(await good.run(['get', 'ns']), /istio-system/);
      const r = await bad.try(['get', 'ns']);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /Unauthorized|must be logged in/);
    } finally {
      good.cleanup();
      bad.cleanup();
    }
  });

  it('TokenReview answers by token and audience', async () => {
    const review = async (token: string, audiences: string[]) => {
      const k = kubectlFor({ server: url, token: 'admin-token', caPem: cert });
      try {
        const body = JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences } });
        return JSON.parse(await k.run(['create', '-f', '-', '-o', 'json'], body)).status;
      } finally {
        k.cleanup();
      }
    };
    const ok = await review('workload-token', ['istio-ca']);
    assert.equal(ok.authenticated, true);
    assert.equal(ok.user.username, 'system:serviceaccount:default:sleep');
    assert.deepEqual(ok.audiences, ['istio-ca']);
    const wrongAud = await review('workload-token', ['other']);
    assert.equal(wrongAud.authenticated, false);
    assert.match(wrongAud.error, /audiences/);
    assert.equal((await review('forged', ['istio-ca'])).authenticated, false);
  });
});

describe('patch approximations', () => {
  it('merge patch deletes with null and replaces lists', () => {
    assert.deepEqual(mergePatch({ a: 1, b: { c: 2, d: 3 }, l: [1, 2] }, { b: { c: null }, l: [3] }), { a: 1, b: { d: 3 }, l: [3] });
  });
  it('strategic merge merges lists by the key $setElementOrder reveals, honours $patch: delete', () => {
    const cur = { ports: [{ port: 80, name: 'http' }, { port: 443, name: 'https' }] };
    const patch = { '$setElementOrder/ports': [{ port: 443 }, { port: 8080 }], ports: [{ port: 8080, name: 'alt' }, { port: 80, $patch: 'delete' }] } as unknown as Json;
    assert.deepEqual(strategicMergePatch(cur, patch), { ports: [{ port: 443, name: 'https' }, { port: 8080, name: 'alt' }] });
  });
});
