// Cold start at scale: `meshd serve` (compiled) from spawn to /ready on the benchmarks' generated mesh —
// S services (default 1000: 2,001 files, each service a Service, two Pods and a DestinationRule, plus a
// VirtualService file) — timed by scripts/time-startup.mjs, which prints min / median / max, the commit and
// the load average.
//   npx tsx bench/cold-start.ts [--services 1000] [--runs 5] [--node-arg=--cpu-prof …]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Mesh } from './mesh.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const { values } = parseArgs({
  options: {
    services: { type: 'string', default: '1000' },
    runs: { type: 'string', default: '5' },
    'node-arg': { type: 'string', multiple: true, default: [] },
  },
});
const services = Number(values.services);
if (!Number.isInteger(services) || services < 1) throw new Error(`--services ${values.services}: a positive integer please`);

const dir = mkdtempSync(path.join(os.tmpdir(), `meshd-cold-start-s${services}-`));
try {
  new Mesh(services).write(dir);
  const args = [path.join(REPO, 'scripts/time-startup.mjs'), values.runs, '--config-dir', dir, ...values['node-arg'].map((a) => `--node-arg=${a}`)];
  process.stdout.write(`${services} services:\n`);
  const run = spawnSync(process.execPath, args, { stdio: 'inherit' });
  process.exitCode = run.status ?? 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
