// meshd as a user installs it: `npm pack` of this checkout, `npm install -g` of that tarball into an empty
// prefix, then the installed `meshd` on PATH: --version, validate on the example, and serve on the example
// until /ready answers 200. The installed package has no src/ and no TypeScript loader, so this is the
// compiled JavaScript running. Dependencies come from npm's cache when `npm ci` already put them there
// (--prefer-offline), else from the registry.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { assertBuilt, REPO_ROOT } from '../support/meshd-bin.js';
import { tempDir, trackChild, waitUntil } from './harness/util.js';

const VERSION = (JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const EXAMPLE = path.join(REPO_ROOT, 'examples', 'helloworld');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

describe('npm pack + npm install -g: the meshd command', () => {
  const work = tempDir('pack-install');
  const prefix = path.join(work.dir, 'prefix');
  let meshdPath = '';
  const env = () => ({ ...process.env, PATH: `${path.join(prefix, 'bin')}${path.delimiter}${process.env.PATH ?? ''}` });

  before(() => {
    assertBuilt();
    // prepare (the build) already ran: `npm test` builds dist/ first, and --ignore-scripts keeps pack from building again
    const pack = spawnSync(npm, ['pack', '--ignore-scripts', '--silent', '--pack-destination', work.dir], { cwd: REPO_ROOT, encoding: 'utf8' });
    assert.equal(pack.status, 0, pack.stderr);
    const tarball = path.join(work.dir, pack.stdout.trim().split('\n').pop()!);
    assert.ok(existsSync(tarball), `npm pack wrote ${tarball}`);
    const install = spawnSync(npm, ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', tarball], { encoding: 'utf8' });
    assert.equal(install.status, 0, `npm install -g ${tarball}:\n${install.stdout}\n${install.stderr}`);
    meshdPath = path.join(prefix, 'bin', 'meshd');
  });
  after(() => work.remove());

  it('puts meshd on PATH, with compiled JavaScript and no TypeScript', () => {
    const which = spawnSync('sh', ['-c', 'command -v meshd'], { env: env(), encoding: 'utf8' });
    assert.equal(which.stdout.trim(), meshdPath);
    const installed = path.join(prefix, 'lib', 'node_modules', 'meshd');
    assert.deepEqual(readdirSync(installed).filter((f) => !f.startsWith('.')).sort(), ['README.md', 'bin', 'dist', 'node_modules', 'package.json', 'protos']);
    assert.ok(existsSync(path.join(installed, 'dist', 'cli', 'main.js')));
  });

  it('meshd --version', () => {
    const r = spawnSync('meshd', ['--version'], { env: env(), encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), VERSION);
  });

  it('meshd validate -f examples/helloworld', () => {
    const r = spawnSync('meshd', ['validate', '-f', EXAMPLE], { env: env(), encoding: 'utf8' });
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  });

  it('meshd serve --config-dir examples/helloworld answers /ready', async () => {
    const ca = tempDir('pack-install-ca');
    const args = ['serve', '--config-dir', EXAMPLE, '--ca-dir', ca.dir];
    for (const flag of ['--grpc-addr', '--monitoring-addr', '--http-addr', '--secure-grpc-addr', '--webhook-addr', '--ca-admin-addr']) args.push(flag, '127.0.0.1:0');
    const child = spawn('meshd', args, { env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
    trackChild(child);
    const out: string[] = [];
    let err = '';
    readline.createInterface({ input: child.stdout }).on('line', (l) => out.push(l));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    try {
      const ready = await waitUntil('the serving banner with the readiness address', () => out.map((l) => /readiness\s+(http:\/\/\S+\/ready)/.exec(l)?.[1]).find(Boolean), {
        timeoutMs: 60_000,
        detail: () => `stdout:\n${out.join('\n')}\nstderr:\n${err.slice(-3000)}`,
      });
      await waitUntil('/ready to answer 200', async () => ((await fetch(ready)).status === 200 ? true : undefined), { timeoutMs: 10_000 });
      // stderr is a pipe here, so the logs are JSON lines
      assert.match(err.split('\n')[0] ?? '', /^\{"level":30,/);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r(undefined) : child.once('exit', r)));
      ca.remove();
    }
  });
});
