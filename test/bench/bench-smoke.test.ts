import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

// Smoke test of the xDS load benchmark at toy scale: it runs to completion and reports every figure.
// No timing is asserted (the benchmark is not part of correctness; see bench/README.md), and the time
// limits only catch a hang: on a machine shared with other test runs a toy run can take minutes. meshd runs from
// its sources here (--meshd-runtime tsx): the default, compiled, adds a full tsc build to each run.

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function runBench(args: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO, 'bench/xds-load.ts'), ...args], {
      cwd: REPO,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGINT'); // the bench kills meshd and its workers on SIGINT
      reject(new Error(`bench did not finish within ${timeoutMs} ms\n${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

test('bench/xds-load.ts at 5 services × 3 proxies completes and reports every figure', { timeout: 300_000 }, async () => {
  const { code, stdout, stderr } = await runBench(['--services', '5', '--proxies', '3', '--no-save', '--timeout-s', '120', '--meshd-runtime', 'tsx'], 280_000);
  assert.equal(code, 0, `bench exited ${code}\n${stderr}`);
  const lines = stdout.trim().split('\n');
  const r = JSON.parse(lines[lines.length - 1]!) as Record<string, any>;
  assert.match(stdout, /^command: npx tsx bench\/xds-load\.ts --services 5 --proxies 3/m);
  assert.match(stdout, /machine: nproc \d+/);

  assert.ok(isNumber(r.machine.nproc) && typeof r.machine.node === 'string');
  for (const k of ['readyMs', 'rssBytes', 'hwmBytes', 'cpuMs']) assert.ok(isNumber(r.coldStart[k]), `coldStart.${k}`);
  for (const k of ['ms', 'p50Ms', 'bytes', 'messages', 'meshdCpuMs']) assert.ok(isNumber(r.initialSync[k]), `initialSync.${k}`);
  assert.ok(r.initialSync.bytes > 0);
  assert.deepEqual(r.initialSync.syncz, { connections: 3, syncedAllTypes: 3, nacks: 0, nackSamples: [] });

  assert.deepEqual(r.changes.map((c: any) => c.xdsType), ['RDS', 'EDS', 'CDS']);
  for (const c of r.changes) {
    assert.ok(isNumber(c.ms) && c.ms > 0, `${c.name}.ms`);
    assert.equal(c.converged, c.watchers, `${c.name}: every watcher converged`);
    assert.ok(c.watchers > 0 && isNumber(c.meshdCpuMs) && isNumber(c.bytes));
  }
  assert.deepEqual(r.changes[0].after, { 'v1=50,v2=50': r.changes[0].watchers });
  assert.deepEqual(r.changes[1].before, { '1': 3 });
  assert.deepEqual(r.changes[1].after, { '2': 3 });

  for (const phase of ['afterSync', 'afterChanges']) {
    for (const k of ['rssBytes', 'hwmBytes', 'heapUsedBytes']) assert.ok(isNumber(r.memory[phase][k]), `memory.${phase}.${k}`);
  }
  assert.ok(isNumber(r.cpu.meshdTotalMs));
  for (const k of ['ms', 'bytes', 'messages', 'serverCpuMs']) assert.ok(isNumber(r.baseline[k]), `baseline.${k}`);
  assert.equal(r.baseline.bytes, r.initialSync.bytes, 'the baseline writes exactly the bytes of the initial sync');
  assert.ok(isNumber(r.ratio.syncOverBaselineWallClock));
  assert.equal(r.meshd.errorLogLines, 0, 'meshd logged no errors');
});

test('bench/xds-load.ts with Envoy sidecars over Delta at 5 services × 4 sidecars completes and reports every figure', { timeout: 300_000 }, async () => {
  const args = ['--services', '5', '--proxies', '4', '--proxy-kind', 'sidecar', '--xds', 'delta', '--replicas', '2', '--no-save', '--timeout-s', '120', '--meshd-runtime', 'tsx'];
  const { code, stdout, stderr } = await runBench(args, 280_000);
  assert.equal(code, 0, `bench exited ${code}\n${stderr}`);
  const lines = stdout.trim().split('\n');
  const r = JSON.parse(lines[lines.length - 1]!) as Record<string, any>;
  assert.match(stdout, /4 Envoy sidecars \(delta\) = 2 client Deployments × 2 replicas/);
  assert.equal(r.params.proxyKind, 'sidecar');
  assert.equal(r.params.xds, 'delta');

  for (const k of ['ms', 'p50Ms', 'bytes', 'messages', 'meshdCpuMs']) assert.ok(isNumber(r.initialSync[k]), `initialSync.${k}`);
  assert.deepEqual(r.initialSync.syncz, { connections: 4, syncedAllTypes: 4, nacks: 0, nackSamples: [] });
  assert.equal(r.initialSync.proxiesWithFirstResponseOnEveryType, 4);
  assert.equal(r.initialSync.streamsDroppedByMeshd, 0);
  assert.ok(isNumber(r.initialSync.eventLoopLagMaxMs) && isNumber(r.initialSync.workersCpuMs));
  for (const c of r.changes) assert.ok(isNumber(c.eventLoopLagMaxMs) && isNumber(c.workersCpuMs) && isNumber(c.p99Ms), `${c.name}: lag, workers' CPU, p99`);
  // The cache holds nothing it did not build. Not asserted: cache hits — replicas of a class that resolve
  // against the same snapshot share the class's resolved set without a cache lookup (0 hits on an idle
  // machine), while on a busy one they connect across snapshots and hit what the first built; nor
  // built === entries, which holds only when the whole sync is served from one snapshot.
  const cache = r.initialSync.cache;
  assert.ok(cache.built > 0 && cache.entries <= cache.built, `initial sync cache ${JSON.stringify(cache)}`);

  assert.deepEqual(r.changes.map((c: any) => c.xdsType), ['RDS', 'EDS', 'CDS']);
  for (const c of r.changes) {
    assert.equal(c.converged, c.watchers, `${c.name}: every watcher converged`);
    assert.equal(c.watchers, 4, `${c.name}: every sidecar sees every service`);
    assert.ok(isNumber(c.meshdCpuMs) && c.bytes > 0);
    // a change rebuilds only what read the changed object; the rest of each class's set is reused
    assert.ok(c.cache.built > 0 && c.cache.built < c.cache.reused, `${c.name}: cache ${JSON.stringify(c.cache)}`);
  }
  assert.deepEqual(r.changes[0].after, { 'v1=50,v2=50': 4 });
  assert.deepEqual(r.changes[1].before, { '1': 4 });
  assert.deepEqual(r.changes[1].after, { '2': 4 });
  assert.deepEqual(r.changes[2].after, { 'lb=LEAST_REQUEST,max_requests=1000': 4 });
  assert.equal(r.baseline.bytes, r.initialSync.bytes, 'the baseline writes exactly the bytes of the initial sync');
  assert.equal(r.meshd.errorLogLines, 0, 'meshd logged no errors');
});
