// The meshd command line when the program reading its stdout stops early (`meshd manifest generate | head`):
// it must stop quietly with exit 0, not die with an EPIPE stack trace. Real processes over a real pipe:
// the reader closes its end after the first chunk (as head does) or before anything was written.
// (It lives with the install tests because `manifest generate` is the command that prints the most.)
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import path from 'node:path';
import { exitQuietlyWhenStdoutCloses } from '../../src/cli/output.js';
import { meshdCommand } from '../support/meshd-bin.js';

const ROOT = path.resolve(import.meta.dirname, '../..');

interface Ended { code: number | null; signal: NodeJS.Signals | null; stderr: string; bytesRead: number }

/** Runs `meshd ARGS` with stdout into a pipe whose reading end is closed after `closeAfterBytes` bytes (0: at once). */
function runWithReaderThatCloses(args: string[], closeAfterBytes: number): Promise<Ended> {
  return new Promise((resolve, reject) => {
    const child = spawn(...meshdCommand(args), { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let bytesRead = 0;
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const close = () => child.stdout.destroy();
    if (closeAfterBytes === 0) close();
    else {
      child.stdout.on('data', (c: Buffer) => {
        bytesRead += c.length;
        if (bytesRead >= closeAfterBytes) close();
      });
    }
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stderr, bytesRead }));
  });
}

describe('meshd stops quietly when its stdout reader closes', () => {
  it('manifest generate | head: the reader leaves after the first chunk of the ~300 kB plan', async () => {
    const r = await runWithReaderThatCloses(['manifest', 'generate'], 1);
    assert.equal(r.stderr, '');
    assert.equal(r.code, 0);
    assert.ok(r.bytesRead > 0 && r.bytesRead < 300_000, `read ${r.bytesRead} bytes before closing`);
  });

  it('bootstrap and validate: the reader is gone before the first write', async () => {
    for (const args of [
      ['bootstrap', '--pod-name', 'reviews-v2-abc', '--namespace', 'default', '--pod-ip', '10.1.0.9'],
      ['validate', '-f', path.join(ROOT, 'test', 'fixtures', 'validate', 'vs-valid.yaml')],
    ]) {
      const r = await runWithReaderThatCloses(args, 0);
      // validate's summary goes to stderr as always; no error, no stack trace
      assert.doesNotMatch(r.stderr, /EPIPE|Error|\n\s+at /, args[0]);
      assert.equal(r.code, 0, `${args[0]}: ${r.stderr}`);
    }
  });

  it('keeps an exit code the command already chose, and reports any other stdout failure', () => {
    const exits: (number | undefined)[] = [];
    let stderr = '';
    const stdout = new EventEmitter();
    exitQuietlyWhenStdoutCloses(stdout, { exit: (code) => exits.push(code), stderr: { write: (c: string) => (stderr += c) } });
    stdout.emit('error', Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
    assert.deepEqual(exits, [undefined], 'process.exit() without a code: validate\'s exit 1 for invalid files survives');
    assert.equal(stderr, '');
    stdout.emit('error', Object.assign(new Error('no space left on device'), { code: 'ENOSPC' }));
    assert.deepEqual(exits, [undefined, 2]);
    assert.equal(stderr, 'meshd: writing stdout: no space left on device\n');
  });
});
