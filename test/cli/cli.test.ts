import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { meshdCommand, REPO_ROOT } from '../support/meshd-bin.js';

// The command line a new user meets: help, version, mistakes answered in one line, shell completion, and
// a checkout that was never built. Runs the compiled `meshd` (bin/meshd.js).

function meshd(...args: string[]) {
  const [cmd, argv] = meshdCommand(args);
  return spawnSync(cmd, argv, { encoding: 'utf8', cwd: REPO_ROOT });
}

const VERSION = (JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

describe('meshd command line', () => {
  it('--help lists every command; --version prints the package version', () => {
    const help = meshd('--help');
    assert.equal(help.status, 0, help.stderr);
    for (const cmd of ['serve', 'validate', 'agent', 'bootstrap', 'install', 'uninstall', 'manifest', 'tag', 'simulate', 'completion']) {
      assert.match(help.stdout, new RegExp(`^  ${cmd}\\b`, 'm'), `${cmd} in meshd --help`);
    }
    for (const flag of ['--version', '-v']) {
      const v = meshd(flag);
      assert.equal(v.status, 0);
      assert.equal(v.stdout.trim(), VERSION);
    }
  });

  it('a misspelled flag or command is one line naming the closest one and where help is', () => {
    const flag = meshd('serve', '--confg-dir', 'examples/helloworld');
    assert.notEqual(flag.status, 0);
    assert.equal(flag.stdout, '');
    assert.equal(flag.stderr, "meshd serve: unknown option '--confg-dir' (did you mean --config-dir?); see 'meshd serve --help'\n");
    const command = meshd('serv');
    assert.equal(command.stderr, "meshd: unknown command 'serv' (did you mean serve?); see 'meshd --help'\n");
    const nothingClose = meshd('validate', '-f', 'examples', '--frobnicate');
    assert.equal(nothingClose.stderr, "meshd validate: unknown option '--frobnicate'; see 'meshd validate --help'\n");
    const badChoice = meshd('serve', '--log-format', 'yaml');
    assert.equal(badChoice.stderr.split('\n').filter(Boolean).length, 1, badChoice.stderr);
    assert.match(badChoice.stderr, /^meshd serve: option '--log-format <format>' argument 'yaml' is invalid\. Allowed choices are text, json; see 'meshd serve --help'$/m);
  });

  it('serve --help groups its flags by purpose', () => {
    const help = meshd('serve', '--help').stdout;
    const headings = [...help.matchAll(/^(\S[^:\n]*):$/gm)].map((m) => m[1]);
    assert.deepEqual(headings, ['Sources', 'xDS', 'Certificate authority and xDS over TLS', 'Webhooks (sidecar injection, validation)', 'Operations', 'Options']);
    const section = (name: string) => help.slice(help.indexOf(`${name}:\n`)).split('\n\n')[0]!;
    assert.match(section('Sources'), /--config-dir[\s\S]*--kubeconfig[\s\S]*--context/);
    assert.match(section('xDS'), /--grpc-addr/);
    assert.match(section('Certificate authority and xDS over TLS'), /--secure-grpc-addr[\s\S]*--ca-dir/);
    assert.match(section('Webhooks (sidecar injection, validation)'), /--webhook-addr[\s\S]*--revision/);
    assert.match(section('Operations'), /--monitoring-addr[\s\S]*--log-level[\s\S]*--log-format[\s\S]*--log-output-level/);
  });

  it('one spelling per concept: --label (repeatable), -n/--namespace, --kubeconfig with --context', () => {
    for (const cmd of ['agent', 'bootstrap', 'simulate']) assert.match(meshd(cmd, '--help').stdout, /--label <key=value>[^-]*repeatable/, `${cmd} --label`);
    for (const cmd of ['agent', 'bootstrap']) assert.match(meshd(cmd, '--help').stdout, /-n, --namespace <namespace>/, `${cmd} -n`);
    for (const cmd of ['serve', 'install', 'uninstall']) assert.match(meshd(cmd, '--help').stdout, /--kubeconfig <file>[\s\S]*--context <name>/, `${cmd} --kubeconfig/--context`);
  });

  it('completion bash|zsh prints a script the shell accepts, completing commands, flags and choices', () => {
    const bash = meshd('completion', 'bash');
    assert.equal(bash.status, 0, bash.stderr);
    const check = spawnSync('bash', ['-n'], { input: bash.stdout, encoding: 'utf8' });
    assert.equal(check.status, 0, check.stderr);
    // ask the completion function what bash would offer
    const complete = (line: string) => {
      const words = line.split(' ');
      const script = `${bash.stdout}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _meshd_completion; printf '%s\\n' "\${COMPREPLY[@]}"`;
      return spawnSync('bash', ['-c', script], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
    };
    assert.deepEqual(complete('meshd se'), ['serve']);
    assert.ok(complete('meshd serve --conf').includes('--config-dir'));
    assert.deepEqual(complete('meshd serve --log-format '), ['text', 'json']);
    assert.deepEqual(complete('meshd manifest '), ['generate', '--help']);
    const zsh = meshd('completion', 'zsh');
    assert.equal(zsh.status, 0);
    assert.match(zsh.stdout, /^#compdef meshd\n/);
    assert.match(zsh.stdout, /bashcompinit/);
    const fish = meshd('completion', 'fish');
    assert.equal(fish.status, 2);
    assert.equal(fish.stderr, 'meshd: completion: "fish" is not a supported shell (bash, zsh)\n');
  });

  it('a checkout that was never built says so in one line, not a stack trace', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'meshd-unbuilt-'));
    try {
      mkdirSync(path.join(dir, 'bin'));
      copyFileSync(path.join(REPO_ROOT, 'bin', 'meshd.js'), path.join(dir, 'bin', 'meshd.js'));
      writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'meshd', type: 'module' }));
      const r = spawnSync(process.execPath, [path.join(dir, 'bin', 'meshd.js'), '--help'], { encoding: 'utf8' });
      assert.equal(r.status, 1);
      assert.equal(r.stdout, '');
      assert.equal(r.stderr, `meshd: not built (${path.join(dir, 'dist', 'cli', 'main.js')} is missing): run \`npm run build\` in ${dir}${path.sep}\n`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
