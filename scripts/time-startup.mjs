#!/usr/bin/env node
// How long a user waits: `meshd --help`, and `meshd serve --config-dir examples/helloworld` from spawn to
// the first 200 on /ready. Runs the compiled CLI (bin/meshd.js → dist/), as an installed meshd does.
//   node scripts/time-startup.mjs [RUNS]        (default 5; prints min / median / max in seconds)
// serve listens on ephemeral 127.0.0.1 ports (no clash with anything else on the machine) and keeps its CA
// in one temporary --ca-dir, created by an untimed first start, as a user's second start finds it.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(root, 'bin', 'meshd.js');
const runs = Number(process.argv[2] ?? 5);
if (!Number.isInteger(runs) || runs < 1) {
  process.stderr.write('usage: node scripts/time-startup.mjs [RUNS]\n');
  process.exit(2);
}

function timeHelp() {
  const start = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [bin, '--help'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`meshd --help exited ${r.status}: ${r.stderr}`);
  return Number(process.hrtime.bigint() - start) / 1e9;
}

function timeReady(caDir) {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const args = [bin, 'serve', '--config-dir', path.join(root, 'examples', 'helloworld'), '--ca-dir', caDir];
    for (const flag of ['--grpc-addr', '--monitoring-addr', '--http-addr', '--secure-grpc-addr', '--webhook-addr']) args.push(flag, '127.0.0.1:0');
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
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      child.removeAllListeners('exit');
      child.once('exit', () => resolve(seconds));
      child.kill('SIGTERM');
    });
  });
}

const summary = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const f = (x) => x.toFixed(3);
  return `min ${f(s[0])}  median ${f(s[Math.floor(s.length / 2)])}  max ${f(s[s.length - 1])}  (${s.length} runs)`;
};

const caDir = mkdtempSync(path.join(os.tmpdir(), 'meshd-time-ca-'));
try {
  const help = [];
  for (let i = 0; i < runs; i++) help.push(timeHelp());
  await timeReady(caDir); // creates the CA; not counted
  const ready = [];
  for (let i = 0; i < runs; i++) ready.push(await timeReady(caDir));
  process.stdout.write(`meshd --help                                  ${summary(help)}\n`);
  process.stdout.write(`meshd serve --config-dir examples/helloworld → /ready  ${summary(ready)}\n`);
  process.stdout.write(`load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}, ${os.cpus().length} CPUs, node ${process.version}\n`);
} finally {
  rmSync(caDir, { recursive: true, force: true });
}
