// The mesh view's server side: the graph built from a snapshot, the access and size rules of /ui, the
// SSE cap, the explain endpoint's input checks, and the bundled page matching its sources. The page in a
// real browser: test/e2e/mesh-ui.test.ts.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/telemetry/log.js';
import { UI_ASSETS } from '../../src/ui/assets.gen.js';
import { meshGraph } from '../../src/ui/mesh-model.js';
import { localHost } from '../../src/ui/mesh-ui.js';
import { MAX_TIMELINE_ENTRIES, Timeline } from '../../src/ui/timeline.js';
import { generatedAssets } from '../../scripts/gen-ui-assets.js';
import { snapshotOf, type Doc } from '../support/snapshot.js';

const svc = (name: string, port: number): Doc => ({
  apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'shop' },
  spec: { selector: { app: name }, ports: [{ name: 'http', port }, { name: 'http-admin', port: port + 1 }] },
});
const pod = (name: string, app: string, version: string, ip: string): Doc => ({
  apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'shop', labels: { app, version } },
  spec: { containers: [{ name: 'app' }] }, status: { podIP: ip, phase: 'Running' },
});
const DOCS: Doc[] = [
  { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } },
  svc('reviews', 9080), svc('ratings', 9090),
  pod('reviews-v1', 'reviews', 'v1', '10.0.0.1'), pod('reviews-v2', 'reviews', 'v2', '10.0.0.2'), pod('ratings-1', 'ratings', 'v1', '10.0.0.3'),
  { apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'reviews', namespace: 'shop' },
    spec: { host: 'reviews', subsets: [{ name: 'v1', labels: { version: 'v1' } }, { name: 'v2', labels: { version: 'v2' } }] } },
  { apiVersion: 'networking.istio.io/v1', kind: 'Gateway', metadata: { name: 'edge', namespace: 'shop' },
    spec: { selector: { istio: 'ingressgateway' }, servers: [{ port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: ['shop.example.com'] }] } },
  { apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'reviews', namespace: 'shop' },
    spec: { hosts: ['reviews'], gateways: ['mesh', 'edge'], http: [
      { name: 'canary', route: [{ destination: { host: 'reviews', subset: 'v1' }, weight: 75 }, { destination: { host: 'reviews', subset: 'v2' }, weight: 25 }] },
    ], tcp: [{ route: [{ destination: { host: 'ratings.shop.svc.cluster.local' } }] }] } },
  { apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'legacy', namespace: 'shop' },
    spec: { hosts: ['legacy.example.com'], http: [{ route: [{ destination: { host: 'legacy.example.com' } }] }] } },
];

describe('mesh view model', () => {
  it('draws gateways → VirtualServices → services with subsets, versions and weighted edges', () => {
    const ctx = snapshotOf(DOCS);
    const g = meshGraph(ctx);
    assert.equal(meshGraph(ctx), g, 'built once per snapshot');
    assert.deepEqual(g.gateways, [{ id: 'gateway:shop/edge', name: 'edge', namespace: 'shop', hosts: ['shop.example.com'], ports: [80] }]);
    assert.deepEqual(g.routes.map((r) => [r.id, r.mesh, r.gateways]).sort(), [['vs:shop/legacy', true, []], ['vs:shop/reviews', true, ['gateway:shop/edge']]]);
    const reviews = g.services.find((s) => s.name === 'reviews')!;
    assert.deepEqual(reviews, {
      id: 'reviews.shop.svc.cluster.local', name: 'reviews', namespace: 'shop', ports: [9080, 9081],
      subsets: [{ name: 'v1', labels: { version: 'v1' } }, { name: 'v2', labels: { version: 'v2' } }], versions: ['v1', 'v2'], endpoints: 2,
    });
    assert.deepEqual(g.services.find((s) => s.id === 'legacy.example.com'), { id: 'legacy.example.com', name: 'legacy.example.com', namespace: '', ports: [], subsets: [], versions: [], endpoints: 0, unknown: true });
    assert.deepEqual(g.edges.filter((e) => e.from === 'vs:shop/reviews' || e.from.startsWith('gateway:')), [
      { from: 'gateway:shop/edge', to: 'vs:shop/reviews' },
      { from: 'vs:shop/reviews', to: 'reviews.shop.svc.cluster.local', rule: 'http[0] "canary"', subset: 'v1', weight: 75 },
      { from: 'vs:shop/reviews', to: 'reviews.shop.svc.cluster.local', rule: 'http[0] "canary"', subset: 'v2', weight: 25 },
      { from: 'vs:shop/reviews', to: 'ratings.shop.svc.cluster.local', rule: 'tcp[0]', weight: 100 },
    ]);
  });

  it('keeps the timeline to its last entries', () => {
    const t = new Timeline();
    for (let i = 0; i < MAX_TIMELINE_ENTRIES + 50; i++) t.add({ kind: 'snapshot', version: String(i) });
    assert.equal(t.all.length, MAX_TIMELINE_ENTRIES);
    assert.equal(t.all[0]!.version, '50');
  });

  it('accepts Host headers that name localhost or an IP literal only', () => {
    for (const h of ['localhost', 'localhost:15014', '127.0.0.1:15014', '[::1]:15014', '10.1.2.3']) assert.equal(localHost(h), true, h);
    for (const h of ['evil.example.com', 'evil.example.com:15014', '127.0.0.1.nip.io', '', undefined]) assert.equal(localHost(h), false, String(h));
  });

  it('serves the page bundled from src/ui/web/ exactly (npx tsx scripts/gen-ui-assets.ts after editing it)', () => {
    assert.equal(fs.readFileSync(new URL('../../src/ui/assets.gen.ts', import.meta.url), 'utf8'), generatedAssets());
    // nothing loaded from elsewhere: no absolute URL in src/href/url()/fetch/EventSource
    for (const a of Object.values(UI_ASSETS)) assert.doesNotMatch(a.body, /(src|href)=["']?(https?:)?\/\/|url\(\s*["']?(https?:)?\/\/|(fetch|EventSource)\(\s*["'`](https?:)?\/\//);
  });
});

function request(port: string, p: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string; res: http.IncomingMessage }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: p, method: init.method ?? 'GET', headers: init.headers }, (res) => {
      if (String(res.headers['content-type']).startsWith('text/event-stream')) return resolve({ status: res.statusCode!, headers: res.headers, text: '', res });
      let text = '';
      res.on('data', (b: Buffer) => (text += b.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text, res }));
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

describe('/ui on a running daemon', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshd-ui-'));
  fs.writeFileSync(path.join(dir, 'mesh.yaml'), DOCS.map((d) => JSON.stringify(d)).join('\n---\n'));
  const daemon = new Daemon({
    configDir: dir, grpcAddr: '127.0.0.1:0', monitoringAddr: '127.0.0.1:0', httpAddr: '127.0.0.1:0',
    debounce: { quietMs: 20, maxMs: 1000 }, log: silentLogger, ui: { maxClients: 2 },
  });
  let port: string;
  const open: http.IncomingMessage[] = [];
  before(async () => {
    port = (await daemon.start()).monitoringAddr.split(':').pop()!;
  });
  after(async () => {
    for (const r of open) r.destroy();
    await daemon.stop(1000);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('serves the page with a strict content security policy and answers 403 to a Host that is not local', async () => {
    const page = await request(port, '/ui');
    assert.equal(page.status, 200);
    assert.match(page.text, /<script src="\/ui\/app\.js" defer>/);
    assert.match(String(page.headers['content-security-policy']), /default-src 'self'/);
    assert.equal((await request(port, '/ui/app.js', { headers: { 'if-none-match': String(page.headers.etag).replace(/.$/, 'x"') } })).status, 200);
    const js = await request(port, '/ui/app.js');
    assert.equal((await request(port, '/ui/app.js', { headers: { 'if-none-match': String(js.headers.etag) } })).status, 304);
    assert.equal((await request(port, '/ui/nothing')).status, 404);
    assert.equal((await request(port, '/ui', { headers: { host: 'rebound.example.com' } })).status, 403);
  });

  it('streams the state to at most maxClients pages; the next is told why', async () => {
    const first = await request(port, '/ui/events');
    open.push(first.res);
    assert.equal(first.status, 200);
    const events = await new Promise<string>((resolve) => {
      let text = '';
      first.res.on('data', (b: Buffer) => {
        text += b.toString();
        if (/event: timeline\n/.test(text)) resolve(text);
      });
    });
    assert.match(events, /event: graph\ndata: \{"version"/);
    assert.match(events, /event: proxies\ndata: \[\]/);
    assert.match(events, /event: config\ndata: \{"revision"/);
    const second = await request(port, '/ui/events');
    open.push(second.res);
    assert.equal(second.status, 200);
    const third = await request(port, '/ui/events');
    assert.equal(third.status, 503);
    assert.match(third.text, /open in 2 pages already/);
    assert.equal(daemon.ui!.clientCount, 2);
    second.res.destroy();
    await new Promise<void>((resolve) => {
      const check = () => (daemon.ui!.clientCount === 1 ? resolve() : setTimeout(check, 10));
      check();
    });
  });

  it('checks the explain form: JSON only, bounded, every field named in its refusal', async () => {
    assert.equal((await request(port, '/ui/explain', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{}' })).status, 415);
    const bad = await request(port, '/ui/explain', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ proxy: '', request: 'x', extra: 1 }) });
    assert.equal(bad.status, 400);
    assert.match(JSON.parse(bad.text).error, /proxy: .*/);
    const big = await request(port, '/ui/explain', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ proxy: 'x'.repeat(20_000), request: 'http://a/' }) });
    assert.equal(big.status, 413);
    const unknown = await request(port, '/ui/explain', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ proxy: 'nobody.shop', request: 'http://reviews.shop:9080/' }) });
    assert.equal(unknown.status, 400);
    assert.match(JSON.parse(unknown.text).error, /nobody\.shop/);
  });
});
