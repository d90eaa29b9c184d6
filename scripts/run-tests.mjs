#!/usr/bin/env node
// Runs the test suites with Node's built-in runner: unit tests in parallel, then end-to-end tests
// (each starts real meshd processes and real gRPC peers) one file at a time so timings stay honest on
// small machines. Usage: node scripts/run-tests.mjs [unit|e2e] [extra node --test args]
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

const only = process.argv[2] === 'unit' || process.argv[2] === 'e2e' ? process.argv[2] : undefined;
const extra = process.argv.slice(only ? 3 : 2);
const all = find('test');
const e2e = all.filter((f) => f.startsWith(path.join('test', 'e2e') + path.sep));
const unit = all.filter((f) => !e2e.includes(f));

function run(files, concurrency) {
  if (files.length === 0) return 0;
  // e2e files end once their peers are closed; grpc-js-xds keeps resource timers alive for ~15 s after.
  const exit = files === e2e ? ['--test-force-exit'] : [];
  const args = ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, ...exit, ...extra, ...files];
  const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
  return r.status ?? 1;
}

let status = 0;
if (only !== 'e2e') status ||= run(unit, 2);
if (only !== 'unit') status = run(e2e, 1) || status;
process.exit(status);
