#!/usr/bin/env node
// How long a user waits: `meshd --help`, and `meshd serve --config-dir DIR` from spawn to the first 200 on
// /ready, for an empty directory and examples/helloworld (or only the directory given). Runs the compiled
// CLI (bin/meshd.js → dist/), as an installed meshd does.
//   node scripts/time-startup.mjs [RUNS]                   (default 5; prints min / median / max in seconds)
//   node scripts/time-startup.mjs [RUNS] --config-dir DIR  (serve on DIR only; bench/cold-start.ts uses it
//                                                           for a generated 1000-service directory)
//   --node-arg ARG (repeatable) passes ARG to meshd's node, e.g. --node-arg=--cpu-prof
// Each figure is wall-clock seconds, then (cpu …) the CPU seconds meshd used until /ready (user + system,
// from /proc): on a busy machine wall time mostly measures the queue for a core, CPU time what meshd did.
// serve listens on ephemeral 127.0.0.1 ports (no clash with anything else on the machine) and keeps its CA
// in one temporary --ca-dir, created by an untimed first start, as a user's second start finds it.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(root, 'bin', 'meshd.js');
const usage = 'usage: node scripts/time-startup.mjs [RUNS] [--config-dir DIR] [--node-arg ARG]…\n';
let args;
try {
  args = parseArgs({ allowPositionals: true, options: { 'config-dir': { type: 'string' }, 'node-arg': { type: 'string', multiple: true, default: [] } } });
} catch (err) {
  process.stderr.write(`${err.message}\n${usage}`);
  process.exit(2);
}
const runs = Number(args.positionals[0] ?? 5);
if (!Number.isInteger(runs) || runs < 1 || args.positionals.length > 1) {
  process.stderr.write(usage);
  process.exit(2);
}
const nodeArgs = args.values['node-arg'];

function timeHelp() {
  const start = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [bin, '--help'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`meshd --help exited ${r.status}: ${r.stderr}`);
  return Number(process.hrtime.bigint() - start) / 1e9;
}

const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** CPU seconds (user + system) a process has used so far, or NaN where /proc is not there. */
function cpuSecondsOf(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND; // utime, stime
  } catch {
    return NaN;
  }
}

/** Resolves to { wall, cpu } seconds from spawn to the first 200 on /ready. */
function timeReady(caDir, configDir) {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const args = [...nodeArgs, bin, 'serve', '--config-dir', configDir, '--ca-dir', caDir];
    for (const flag of ['--grpc-addr', '--monitoring-addr', '--http-addr', '--secure-grpc-addr', '--webhook-addr', '--ca-admin-addr']) args.push(flag, '127.0.0.1:0');
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => reject(new Error(`meshd serve exited ${code} before /ready:\n${stderr.slice(-2000)}`)));
    readline.createInterface({ input: child.stdout }).on('line', async (line) => {
      const m = /readiness\s+(http:\/\/\S+\/ready)/.exec(line);
      if (!m) return;
      for (;;) {
        const ok = await fetch(m[1]).then((r) => r.status === 200, () => false);
        if (ok) break;
        await new Promise((r) => setTimeout(r, 5));
      }
      const wall = Number(process.hrtime.bigint() - start) / 1e9;
      const cpu = cpuSecondsOf(child.pid);
      child.removeAllListeners('exit');
      child.once('exit', () => resolve({ wall, cpu }));
      child.kill('SIGTERM');
    });
  });
}

const summary = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const f = (x) => x.toFixed(3);
  return `min ${f(s[0])}  median ${f(s[Math.floor(s.length / 2)])}  max ${f(s[s.length - 1])}`;
};
const readySummary = (runs) => `${summary(runs.map((r) => r.wall))}  (cpu ${summary(runs.map((r) => r.cpu))}; ${runs.length} runs)`;

/** The commit measured, as figures are quoted with it (`abc1234`, `+` when the work tree differs). */
function commitOf() {
  const git = (...a) => spawnSync('git', ['-C', root, ...a], { encoding: 'utf8' });
  const head = git('rev-parse', '--short', 'HEAD').stdout.trim() || 'unknown';
  return git('status', '--porcelain', '--untracked-files=no').stdout.trim() ? `${head}+` : head;
}

/** A label a reader recognises: the path relative to the repository when inside it, and the file count. */
function describeDir(dir) {
  const rel = path.relative(root, dir);
  const files = readdirSync(dir, { recursive: true }).filter((f) => /\.(ya?ml|json)$/i.test(String(f))).length;
  return `${rel && !rel.startsWith('..') ? rel : dir} (${files} files)`;
}

const loads = [];
const caDir = mkdtempSync(path.join(os.tmpdir(), 'meshd-time-ca-'));
const emptyDir = mkdtempSync(path.join(os.tmpdir(), 'meshd-time-empty-'));
try {
  const dirs = args.values['config-dir'] ? [path.resolve(args.values['config-dir'])] : [emptyDir, path.join(root, 'examples', 'helloworld')];
  const help = [];
  if (!args.values['config-dir']) for (let i = 0; i < runs; i++) help.push(timeHelp());
  await timeReady(caDir, emptyDir); // creates the CA; not counted
  const lines = [];
  if (help.length) lines.push(`meshd --help  ${summary(help)}  (${help.length} runs)`);
  for (const dir of dirs) {
    const ready = [];
    for (let i = 0; i < runs; i++) {
      loads.push(os.loadavg()[0]);
      ready.push(await timeReady(caDir, dir));
    }
    lines.push(`meshd serve --config-dir ${dir === emptyDir ? '<empty dir>' : describeDir(dir)} → /ready  ${readySummary(ready)}`);
  }
  for (const line of lines) process.stdout.write(`${line}\n`);
  const f = (l) => l.toFixed(2);
  process.stdout.write(`commit ${commitOf()}, load average (1 min) during the runs ${f(Math.min(...loads))}–${f(Math.max(...loads))}, now ${os.loadavg().map(f).join(' ')}; ${os.cpus().length} CPUs, node ${process.version}\n`);
} finally {
  rmSync(caDir, { recursive: true, force: true });
  rmSync(emptyDir, { recursive: true, force: true });
}
