#!/usr/bin/env node
// Runs the test suites with Node's built-in runner: unit tests in parallel, then end-to-end tests
// (each starts real meshd processes and real gRPC peers) one file at a time so timings stay honest on
// small machines. Usage: node scripts/run-tests.mjs [unit|e2e] [extra node --test args]
// Tests run meshd compiled (bin/meshd.js → dist/), as users do: dist/ is rebuilt first when any file
// under src/ is newer than it (`npm ci` already built it through `prepare`).
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';

function find(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) out.push(...find(full));
    else if (name.endsWith('.test.ts')) out.push(full);
  }
  return out;
}

function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(full) : statSync(full).mtimeMs);
  }
  return newest;
}

function buildIfStale() {
  let builtAt = 0;
  try {
    builtAt = statSync(path.join('dist', 'cli', 'main.js')).mtimeMs;
  } catch {
    // not built yet
  }
  if (builtAt > newestMtime('src')) return 0;
  process.stdout.write('run-tests: building meshd (dist/ is missing or older than src/)\n');
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  return spawnSync(npm, ['run', '--silent', 'build'], { stdio: 'inherit' }).status ?? 1;
}

const only = process.argv[2] === 'unit' || process.argv[2] === 'e2e' ? process.argv[2] : undefined;
const extra = process.argv.slice(only ? 3 : 2);
const all = find('test');
const e2e = all.filter((f) => f.startsWith(path.join('test', 'e2e') + path.sep));
const unit = all.filter((f) => !e2e.includes(f));

function run(files, concurrency) {
  if (files.length === 0) return 0;
  // A file ends when its tests and hooks have run, whatever handles are left open: e2e peers (grpc-js-xds
  // keeps resource timers alive for ~15 s after close), and a failed or timed-out unit test whose cleanup
  // never ran would otherwise keep its process — and the whole run — alive until CI's limit.
  const exit = ['--test-force-exit'];
  const args = ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, ...exit, ...extra, ...files];
  const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
  return r.status ?? 1;
}

const built = buildIfStale();
if (built !== 0) process.exit(built);
let status = 0;
if (only !== 'e2e') status ||= run(unit, 2);
if (only !== 'unit') status = run(e2e, 1) || status;
process.exit(status);
