// The Dockerfile, checked without a Docker engine (none runs here). What is checked: its instructions
// (multi-stage, Node LTS slim base, npm ci then build, production-only dependencies, non-root numeric
// user, ENTRYPOINT ["meshd"] / CMD ["serve"]), that .dockerignore keeps every file it copies, and — the
// part that catches real mistakes — a replay of its steps in temp directories: the build stage's COPYs
// and `npm run build` on exactly those files, then the runtime stage's COPYs with production dependencies
// only (the packages `npm ls --omit=dev` names, copied out of this checkout's node_modules as a stand-in
// for `npm ci --omit=dev`, which needs the registry). The built meshd then runs from that directory: help,
// validate, the Deployment's serve flags, and a serving meshd answering /ready.
// What is NOT run: `docker build` itself, the base image, and the image in a cluster.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { installObjects } from '../../src/install/objects.js';
import { embeddedYaml } from '../../src/install/render.js';
import { defaultValues } from '../../src/install/values.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

interface Instruction {
  readonly op: string;
  readonly args: string;
}
interface Stage {
  readonly from: string;
  readonly name?: string;
  readonly steps: Instruction[];
}

/** Dockerfile instructions by stage (continuation lines joined, comments and the parser directive dropped). */
function parseDockerfile(text: string): { args: Map<string, string>; stages: Stage[] } {
  const lines = text.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const args = new Map<string, string>();
  const stages: Stage[] = [];
  for (const line of lines) {
    const [, op, rest] = /^(\w+)\s+(.*)$/.exec(line) ?? [];
    assert.ok(op && rest !== undefined, `unparsable Dockerfile line: ${line}`);
    const upper = op.toUpperCase();
    if (upper === 'ARG' && stages.length === 0) {
      const [k, v] = rest.split('=');
      args.set(k!, v ?? '');
    } else if (upper === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest)!;
      const from = m[1]!.replace(/\$\{(\w+)\}/g, (_, k: string) => args.get(k) ?? '');
      stages.push({ from, ...(m[2] ? { name: m[2] } : {}), steps: [] });
    } else {
      stages[stages.length - 1]!.steps.push({ op: upper, args: rest });
    }
  }
  return { args, stages };
}

/** COPY [--from=stage] src... dest */
function copies(stage: Stage): { from?: string; sources: string[]; dest: string }[] {
  return stage.steps.filter((s) => s.op === 'COPY').map((s) => {
    const parts = s.args.split(/\s+/);
    const from = parts[0]!.startsWith('--from=') ? parts.shift()!.slice('--from='.length) : undefined;
    const dest = parts.pop()!;
    return { ...(from ? { from } : {}), sources: parts, dest };
  });
}

const run = (cmd: string, args: string[], cwd: string, timeout = 300_000) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(cmd, args, { cwd, encoding: 'utf8', timeout, maxBuffer: 64 << 20, env: { ...process.env, NODE_ENV: 'production' } }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }));
  });

describe('Dockerfile (replayed without a Docker engine)', () => {
  const dockerfile = parseDockerfile(readFileSync(path.join(root, 'Dockerfile'), 'utf8'));
  const ignore = readFileSync(path.join(root, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const [build, deps, final] = [dockerfile.stages.find((s) => s.name === 'build')!, dockerfile.stages.find((s) => s.name === 'deps')!, dockerfile.stages.at(-1)!];
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'meshd-docker-'));
  const buildDir = path.join(tmp, 'src');
  const appDir = path.join(tmp, 'app');
  const meshd = (args: string[], timeout?: number) => run(process.execPath, [path.join(appDir, 'bin/meshd.js'), ...args], appDir, timeout);

  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('is multi-stage on a Node LTS slim image, builds with npm ci + npm run build, ships production dependencies only, runs as non-root meshd serve', () => {
    assert.ok(build && deps, 'stages "build" and "deps"');
    assert.equal(dockerfile.stages.length, 3);
    for (const s of dockerfile.stages) {
      const m = /^node:(\d+)-(bookworm|trixie)-slim$/.exec(s.from);
      assert.ok(m, `base image ${s.from} is a Debian slim Node image`);
      assert.equal(Number(m[1]) % 2, 0, `${s.from}: Node LTS lines are the even majors`);
      assert.ok(Number(m[1]) >= 22, `${s.from}: a maintained LTS line`);
    }
    const runs = (s: Stage) => s.steps.filter((x) => x.op === 'RUN').map((x) => x.args);
    assert.match(runs(build)[0]!, /^npm ci\b/);
    assert.ok(runs(build).includes('npm run build'));
    assert.match(runs(deps).join(' '), /npm ci --omit=dev/);
    assert.deepEqual(copies(final).find((c) => c.dest === './node_modules'), { from: 'deps', sources: ['/app/node_modules'], dest: './node_modules' });
    assert.ok(!copies(final).some((c) => !c.from && c.sources.some((p) => ['src', 'node_modules', 'test'].includes(p))), 'the runtime stage copies no sources or dev files from the context');
    const user = final.steps.filter((s) => s.op === 'USER').at(-1)?.args ?? '';
    assert.match(user, /^[1-9]\d*(:[1-9]\d*)?$/, 'numeric non-root USER (Kubernetes runAsNonRoot checks the number)');
    assert.equal(final.steps.find((s) => s.op === 'ENTRYPOINT')?.args, '["meshd"]');
    assert.equal(final.steps.find((s) => s.op === 'CMD')?.args, '["serve"]');
    // the Deployment runs the image as the same non-root user
    const deployment = installObjects(defaultValues(), embeddedYaml).find((o) => o.kind === 'Deployment') as unknown as { spec: { template: { spec: { securityContext: { runAsUser: number } } } } };
    assert.equal(`${deployment.spec.template.spec.securityContext.runAsUser}`, user.split(':')[0]);
  });

  it('.dockerignore keeps every file the Dockerfile copies from the context', () => {
    const contextSources = dockerfile.stages.flatMap((s) => copies(s).filter((c) => !c.from).flatMap((c) => c.sources));
    for (const src of contextSources) {
      assert.ok(existsSync(path.join(root, src)), `${src} exists`);
      assert.ok(!ignore.some((pattern) => pattern === src || src.startsWith(`${pattern}/`)), `${src} is excluded by .dockerignore`);
    }
    for (const heavy of ['node_modules', 'dist', '.git', 'test']) assert.ok(ignore.includes(heavy), `.dockerignore excludes ${heavy}`);
  });

  describe('replay', () => {
    let prodPackages: string[] = [];
    before(async () => {
      // build stage: its context COPYs, dependencies (this checkout's, same lockfile as `npm ci`), its RUN build
      mkdirSync(buildDir, { recursive: true });
      for (const c of copies(build)) for (const s of c.sources) cpSync(path.join(root, s), path.join(buildDir, c.dest.endsWith('/') ? s : c.dest === './src' ? 'src' : s), { recursive: true });
      symlinkSync(path.join(root, 'node_modules'), path.join(buildDir, 'node_modules'), 'dir');
      const built = await run('sh', ['-c', build.steps.filter((s) => s.op === 'RUN').map((s) => s.args).filter((cmd) => !cmd.startsWith('npm ci')).join(' && ')], buildDir, 600_000);
      assert.equal(built.code, 0, `npm run build in a copy of the build stage's files failed:\n${built.stdout}\n${built.stderr}`);
      // runtime stage: production dependencies only, the build output, the context files it copies
      mkdirSync(appDir, { recursive: true });
      prodPackages = spawnSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], { cwd: root, encoding: 'utf8' }).stdout.split('\n').filter((p) => p.startsWith(path.join(root, 'node_modules') + path.sep));
      for (const dir of prodPackages) cpSync(dir, path.join(appDir, path.relative(root, dir)), { recursive: true, dereference: false });
      for (const c of copies(final)) {
        if (c.from === 'deps') continue;
        for (const s of c.sources) {
          const from = c.from === 'build' ? path.join(buildDir, path.relative('/src', s)) : path.join(root, s);
          cpSync(from, path.join(appDir, c.dest === './' ? path.basename(s) : c.dest), { recursive: true });
        }
      }
    });

    it('holds no development-only dependency', () => {
      const devDeps = Object.keys((JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> }).devDependencies);
      // a devDependency may also be a production dependency's dependency (@types/node via protobufjs): only dev-only ones must be gone
      const prodNames = new Set(prodPackages.map((dir) => path.relative(path.join(root, 'node_modules'), dir)));
      const devOnly = devDeps.filter((d) => !prodNames.has(d));
      assert.ok(devOnly.includes('typescript') && devOnly.includes('tsx'));
      for (const dev of devOnly) assert.ok(!existsSync(path.join(appDir, 'node_modules', dev)), `${dev} is a development-only dependency`);
      assert.ok(existsSync(path.join(appDir, 'dist/cli/main.js')));
    });

    it('the built meshd runs: help lists the commands, validate checks the examples', async () => {
      const help = await meshd(['--help']);
      assert.equal(help.code, 0, help.stderr);
      for (const cmd of ['serve', 'validate', 'agent', 'install', 'uninstall', 'manifest']) assert.match(help.stdout, new RegExp(`^\\s+${cmd}\\b`, 'm'));
      const valid = await meshd(['validate', '-f', path.join(root, 'examples/helloworld')]);
      assert.equal(valid.code, 0, valid.stdout + valid.stderr);
    });

    it('accepts every flag the Deployment passes to serve, and the mesh config install renders', async () => {
      const objects = installObjects(defaultValues(), embeddedYaml);
      const deployment = objects.find((o) => o.kind === 'Deployment') as unknown as { spec: { template: { spec: { containers: { args: string[] }[] } } } };
      const meshConfigMap = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'istio') as unknown as { data: { mesh: string } };
      // the pod reads the mesh config from ConfigMap istio mounted at /etc/istio/config: the same text here
      const meshFile = path.join(tmp, 'mesh');
      writeFileSync(meshFile, meshConfigMap.data.mesh);
      const args = deployment.spec.template.spec.containers[0]!.args.map((a) => a.replace(/^--mesh-config=.*$/, `--mesh-config=${meshFile}`));
      assert.ok(args.includes(`--mesh-config=${meshFile}`), 'the Deployment passes --mesh-config');
      // commander rejects unknown options before the action runs; with the mesh config read, a missing
      // kubeconfig is the action's first error
      const r = await meshd([...args, '--kubeconfig', path.join(tmp, 'no-such-kubeconfig')]);
      assert.doesNotMatch(r.stderr, /unknown option|error: option/i);
      assert.match(r.stderr, /no-such-kubeconfig: no such file/);
    });

    it('serves: a meshd started from the built output reports /ready', async () => {
      const caDir = path.join(tmp, 'ca');
      const child: ChildProcess = spawn(process.execPath, [path.join(appDir, 'bin/meshd.js'), 'serve', '--config-dir', path.join(root, 'examples/helloworld'), '--grpc-addr', '127.0.0.1:0', '--secure-grpc-addr', '127.0.0.1:0', '--ca-dir', caDir, '--monitoring-addr', '127.0.0.1:0', '--http-addr', '127.0.0.1:0', '--webhook-addr', 'off', '--ca-admin-addr', '127.0.0.1:0', '--log-level', 'warn'], { cwd: appDir, stdio: ['ignore', 'pipe', 'pipe'] });
      try {
        const ready = await new Promise<string>((resolve, reject) => {
          let out = '';
          let err = '';
          child.stdout!.on('data', (d: Buffer) => {
            out += d.toString();
            const m = /readiness\s+(http:\/\/\S+\/ready)/.exec(out);
            if (m) resolve(m[1]!);
          });
          child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
          child.on('exit', (code) => reject(new Error(`meshd exited ${code}: ${out}${err}`)));
        });
        const res = await fetch(ready);
        assert.equal(res.status, 200);
      } finally {
        child.kill('SIGTERM');
      }
    });
  });
});
