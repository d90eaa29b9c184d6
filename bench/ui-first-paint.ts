// The mesh view at scale: `meshd serve` (compiled) on the benchmarks' generated mesh (S services, default
// 1000: each a Service, two Pods, a DestinationRule with two subsets, a VirtualService), then a real headless
// Chromium (Debian's /usr/bin/chromium via playwright-core) opens /ui RUNS times in fresh pages and reports
// per load, from navigation start: first contentful paint (the page's own PerformancePaintTiming), when the
// graph's state arrived and how long the script took to parse and draw it, and the first frame with the
// graph on screen (it is drawn by window: what the scrolled view shows); then how long a scroll to the end
// takes to show the last service; plus the size of the state the page is sent. Prints min / median / max, the commit and the load average.
//   npx tsx bench/ui-first-paint.ts [--services 1000] [--runs 5]
import { spawn, execSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { Mesh } from './mesh.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { services: { type: 'string', default: '1000' }, runs: { type: 'string', default: '5' } } });
const services = Number(values.services);
const runs = Number(values.runs);

const dir = mkdtempSync(path.join(os.tmpdir(), `meshd-ui-paint-s${services}-`));
new Mesh(services).write(dir);
const child = spawn(process.execPath, [path.join(REPO, 'bin/meshd.js'), 'serve', '--config-dir', dir, '--grpc-addr', '127.0.0.1:0',
  '--monitoring-addr', '127.0.0.1:0', '--http-addr', '127.0.0.1:0', '--secure-grpc-addr', 'off', '--log-level', 'info'], { stdio: ['ignore', 'ignore', 'pipe'] });
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
try {
  const monitoring = await new Promise<string>((resolve, reject) => {
    child.on('exit', (code) => reject(new Error(`meshd exited with ${code}`)));
    setTimeout(() => reject(new Error('meshd did not log "meshd is serving" within 5 minutes')), 300_000).unref();
    readline.createInterface({ input: child.stderr! }).on('line', (line) => {
      try {
        const l = JSON.parse(line) as { msg?: string; monitoringAddr?: string };
        if (l.msg === 'meshd is serving' && l.monitoringAddr) resolve(l.monitoringAddr);
      } catch {
        // not JSON
      }
    });
  });
  for (;;) {
    const r = await fetch(`http://${monitoring}/ready`).catch(() => undefined);
    if (r?.ok) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  const state = await (await fetch(`http://${monitoring}/ui/state`)).text();
  const graphServices = (JSON.parse(state) as { graph: { services: unknown[] } }).graph.services.length;
  const fcp: number[] = [];
  const drawn: number[] = [];
  /** when the graph event arrived, and how long parsing + drawing it took (the page's own marks) */
  const received: number[] = [];
  const rendered: number[] = [];
  const inDom: number[] = [];
  const scrolled: number[] = [];
  for (let i = 0; i < runs; i++) {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`http://${monitoring}/ui`);
    // the graph is drawn by window (what the scrolled view shows): the first frame with service nodes in it
    const done = await page.waitForFunction(() => document.querySelector('.node.service') ? performance.now() : undefined, undefined, { timeout: 120_000, polling: 'raf' });
    drawn.push(Number(await done.jsonValue()));
    inDom.push(await page.$$eval('.node.service', (els) => els.length));
    // scrolled to the end: the frame that shows the last service
    const last = (JSON.parse(state) as { graph: { services: { id: string }[] } }).graph.services.at(-1)!.id;
    const t0 = await page.evaluate(() => { const box = document.getElementById('graph')!; box.scrollTop = box.scrollHeight; return performance.now(); });
    const t1 = await page.waitForFunction((id) => document.querySelector(`.node.service[data-id="${id}"]`) ? performance.now() : undefined, last, { timeout: 120_000, polling: 'raf' });
    scrolled.push(Number(await t1.jsonValue()) - t0);
    fcp.push(await page.evaluate(() => performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? NaN));
    received.push(await page.evaluate(() => performance.getEntriesByName('graph-received')[0]?.startTime ?? NaN));
    rendered.push(await page.evaluate(() => { const [a, b] = [performance.getEntriesByName('graph-received')[0], performance.getEntriesByName('graph-drawn')[0]]; return a && b ? b.startTime - a.startTime : NaN; }));
    await page.close();
  }
  const stats = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return `min ${s[0]!.toFixed(0)} / median ${s[Math.floor(s.length / 2)]!.toFixed(0)} / max ${s[s.length - 1]!.toFixed(0)} ms`;
  };
  const commit = execSync('git rev-parse --short HEAD', { cwd: REPO, encoding: 'utf8' }).trim();
  process.stdout.write(`${services} services (${graphServices} in the graph), /ui/state ${(state.length / 1024).toFixed(0)} KiB, ${runs} loads, commit ${commit}, load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}\n`);
  process.stdout.write(`  first contentful paint: ${stats(fcp)}\n  graph state received:   ${stats(received)}\n  parse + draw (script):  ${stats(rendered)}\n  graph on screen:        ${stats(drawn)} (${Math.max(...inDom)} of ${graphServices} service nodes in the DOM)\n  scroll to the end:      ${stats(scrolled)} until the last service is drawn\n`);
} finally {
  await browser.close();
  child.kill();
  rmSync(dir, { recursive: true, force: true });
}
