// The mesh view (/ui on the monitoring port) in a real headless Chromium (Debian's package, driven by
// playwright-core): the example mesh's graph renders with its gateway, VirtualService and weighted subset
// edges; a weight edit in the config directory reaches the open page without a reload; a proxy that
// NACKs (a raw ADS client sending error_detail) is shown red with its error; a refused file and the
// explain form show up too. Screenshots go to .tmp/test-artifacts/mesh-ui/ (UPDATE_DOCS_SCREENSHOT=1
// also writes docs/mesh-ui.png, the one the README shows).
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { TYPE } from '../../src/xds/resource-types.js';
import { RawAdsClient } from '../support/ads-client.js';
import { SotwFollower } from '../support/xds-follow.js';
import { startMeshd, type Meshd } from './harness/meshd.js';
import { toYaml } from './harness/mesh.js';
import { EXAMPLE_DIR, exitWhenIdle, REPO_ROOT, tempDir } from './harness/util.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = path.join(REPO_ROOT, '.tmp/test-artifacts/mesh-ui');
/** hang-only: a busy machine is slow, never this slow */
const HANG_MS = 120_000;
const HOST = 'helloworld.default.svc.cluster.local';

const NACKER = {
  id: 'sidecar~10.9.0.7~broken-1.default~default.svc.cluster.local',
  metadata: { NAMESPACE: 'default', LABELS: { app: 'broken' }, ISTIO_VERSION: '1.26.0', CLUSTER_ID: 'Kubernetes', INSTANCE_IPS: '10.9.0.7' },
};
const NACK_TEXT = 'Proto constraint validation failed (ClusterValidationError.LbPolicy): value must be one of the defined enum values';
const CLIENT = {
  id: 'sidecar~127.0.0.11~helloworld-v1.default~default.svc.cluster.local',
  metadata: { NAMESPACE: 'default', LABELS: { app: 'helloworld', version: 'v1' }, ISTIO_VERSION: '1.26.0', CLUSTER_ID: 'Kubernetes', INSTANCE_IPS: '127.0.0.11' },
};

/** The example mesh plus an ingress gateway that routes to it, so the graph has an entry point. */
const GATEWAY_DOCS = [
  {
    apiVersion: 'networking.istio.io/v1', kind: 'Gateway', metadata: { name: 'public', namespace: 'default' },
    spec: { selector: { istio: 'ingressgateway' }, servers: [{ port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: ['hello.example.com'] }] },
  },
  {
    apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'hello-ingress', namespace: 'default' },
    spec: { hosts: ['hello.example.com'], gateways: ['public'], http: [{ route: [{ destination: { host: HOST, subset: 'v1' } }] }] },
  },
];

const chromiumMissing = existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (npm test's scripts/ci-deps.sh installs Debian's chromium where it may run apt-get)`;

describe('mesh view in a real browser', { timeout: 300_000, skip: chromiumMissing }, () => {
  const tmp = tempDir('mesh-ui');
  let meshd: Meshd;
  let browser: Browser;
  let page: Page;
  const closers: (() => void)[] = [];

  const shot = async (name: string) => {
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, name), fullPage: true });
  };

  before(async () => {
    for (const f of readdirSync(EXAMPLE_DIR).filter((f) => f.endsWith('.yaml'))) copyFileSync(path.join(EXAMPLE_DIR, f), path.join(tmp.dir, f));
    meshd = await startMeshd({ configDir: tmp.dir, startTimeoutMs: HANG_MS });
    meshd.editFile('gateway.yaml', toYaml(GATEWAY_DOCS));
    await meshd.waitForLog((l) => l.msg === 'push' && Number(l.virtualServices) === 2, 'the gateway VirtualService in a snapshot', HANG_MS);
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'], timeout: HANG_MS });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.setDefaultTimeout(HANG_MS);
  });

  after(async () => {
    for (const close of closers) close();
    await browser?.close();
    const code = await meshd?.stop();
    tmp.remove();
    exitWhenIdle();
    assert.equal(code, 0);
  });

  test('the graph renders the example mesh: gateway → VirtualServices → helloworld and its subsets, weighted', async () => {
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const response = await page.goto(`http://${meshd.monitoringAddr}/ui`);
    assert.equal(response?.status(), 200);
    await page.waitForSelector(`.edge[data-from="vs:default/helloworld"][data-subset="v1"][data-weight="90"]`);
    const edges = await page.$$eval('.edge', (els) => els.map((e) => [(e as SVGElement).dataset.from, (e as SVGElement).dataset.to, (e as SVGElement).dataset.subset, (e as SVGElement).dataset.weight, e.querySelector('text.weight')?.textContent ?? '']));
    assert.deepEqual(edges.sort(), [
      ['gateway:default/public', 'vs:default/hello-ingress', undefined, undefined, ''],
      ['vs:default/hello-ingress', HOST, 'v1', '100', '100%'],
      ['vs:default/helloworld', HOST, 'v1', '90', '90%'],
      ['vs:default/helloworld', HOST, 'v2', '10', '10%'],
    ].sort());
    const nodes = await page.$$eval('.node', (els) => els.map((e) => `${e.getAttribute('class')} ${(e as SVGElement).dataset.id}`));
    assert.deepEqual(nodes.sort(), [
      'node gateway gateway:default/public',
      `node service ${HOST}`,
      'node route vs:default/hello-ingress',
      'node route vs:default/helloworld',
    ].sort());
    const subsets = await page.$$eval(`.node.service .subset`, (els) => els.map((e) => e.textContent?.trim()));
    assert.deepEqual(subsets, ['v1  version=v1', 'v2  version=v2']);
    assert.match(await page.textContent(`.node.service`) ?? '', /2 endpoints · v1, v2/);
    assert.equal(await page.textContent('#live'), 'live');
    assert.deepEqual(errors, []);
    await shot('graph.png');
  });

  test('a weight edit in the config directory shows up in the open page without a reload', async () => {
    await page.evaluate(() => ((window as unknown as { stillThisPage: boolean }).stillThisPage = true));
    const vs = readFileSync(path.join(tmp.dir, 'virtual-service.yaml'), 'utf8');
    meshd.editFile('virtual-service.yaml', vs.replace('weight: 90', 'weight: 30').replace('weight: 10', 'weight: 70'));
    await page.waitForSelector(`.edge[data-from="vs:default/helloworld"][data-subset="v2"][data-weight="70"]`);
    assert.equal(await page.textContent(`.edge[data-from="vs:default/helloworld"][data-subset="v1"] text.weight`), '30%');
    assert.equal(await page.evaluate(() => (window as unknown as { stillThisPage?: boolean }).stillThisPage), true, 'the page was not reloaded');
    // the timeline recorded the snapshot the edit made
    await page.waitForSelector('#timeline li[data-kind="snapshot"]:nth-child(1)');
    await shot('weight-edit.png');
  });

  test('a proxy that NACKs is shown red with its error; a synced one is not', async () => {
    const synced = new SotwFollower(meshd.grpcAddr, { node: CLIENT, wildcard: [TYPE.CDS, TYPE.LDS] });
    closers.push(() => synced.close());
    const nacker = new RawAdsClient(meshd.grpcAddr);
    closers.push(() => nacker.close());
    nacker.send({ type_url: TYPE.CDS, node: NACKER });
    const cds = await nacker.next((r) => r.type_url === TYPE.CDS, HANG_MS);
    nacker.send({ type_url: TYPE.CDS, resource_names: [], response_nonce: cds.nonce, error_detail: { code: 3, message: NACK_TEXT } });

    const row = await page.waitForSelector(`tr[data-proxy="${NACKER.id}"][data-state="nack"]`);
    assert.match(await row.textContent() ?? '', /CDS NACK: Proto constraint validation failed \(ClusterValidationError\.LbPolicy\)/);
    const colors = await row.$eval('td.id', (td) => ({ text: getComputedStyle(td).color, background: getComputedStyle(td).backgroundColor }));
    assert.deepEqual(colors, { text: 'rgb(198, 40, 40)', background: 'rgb(255, 235, 238)' }, 'red text on a red tint');
    assert.equal(await row.$eval('.badge.nack', (b) => getComputedStyle(b).backgroundColor), 'rgb(198, 40, 40)');

    const ok = await page.waitForSelector(`tr[data-proxy="${CLIENT.id}"][data-state="synced"]`);
    assert.equal(await ok.$eval('td.id', (td) => getComputedStyle(td).backgroundColor), 'rgba(0, 0, 0, 0)', 'a synced proxy is not tinted');
    await page.waitForSelector('#timeline li[data-kind="nack"]');
    await shot('nack.png');
  });

  test('a refused file is listed with its reason; the explain form answers from the live config', async () => {
    meshd.editFile('bad.yaml', toYaml([{
      apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'broken', namespace: 'default' },
      spec: { host: HOST, trafficPolicy: { loadBalancer: { simple: 'FASTEST' } } },
    }]));
    const refused = await page.waitForSelector('#config tr[data-object="DestinationRule/default/broken"]');
    assert.match(await refused.textContent() ?? '', /bad\.yaml#0.*refused: .*loadBalancer/s);

    await page.fill('#explain input[name=proxy]', 'helloworld-v1.default');
    await page.fill('#explain input[name=request]', `grpc://${HOST}:5000/helloworld.Greeter/SayHello`);
    await page.click('#explain button[type=submit]');
    await page.waitForFunction(() => !/^explaining/.test(document.getElementById('explain-out')?.textContent ?? 'explaining'));
    const answer = await page.textContent('#explain-out') ?? '';
    assert.match(answer, /VirtualService default\/helloworld/, answer);
    assert.match(answer, /outbound\|5000\|v[12]\|helloworld\.default\.svc\.cluster\.local/, answer);

    await page.evaluate(() => window.scrollTo(0, 0));
    await shot('mesh-ui.png');
    if (process.env.UPDATE_DOCS_SCREENSHOT === '1') copyFileSync(path.join(ARTIFACTS, 'mesh-ui.png'), path.join(REPO_ROOT, 'docs/mesh-ui.png'));
  });
});
