import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { hangGuardMs } from '../../support/hang-guard.js';

// Small shared pieces of the end-to-end harness: paths, child-process bookkeeping, bounded waiting.

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const HARNESS_DIR = path.join(REPO_ROOT, 'test/e2e/harness');
export const EXAMPLE_DIR = path.join(REPO_ROOT, 'examples/helloworld');
export const GREETER_PROTO = path.join(EXAMPLE_DIR, 'greeter.proto');
export const PYTHON = '/usr/bin/python3';

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

// Every child a test starts is registered here, so a crashed or timed-out test never leaves processes
// behind: `process.on('exit')` kills what is still running (tests also stop their children in `after`).
const children = new Set<ChildProcess>();
let exitHookInstalled = false;

export function trackChild(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of children) {
        try {
          c.kill('SIGKILL');
        } catch {
          // already gone
        }
      }
    });
  }
  return child;
}

/** Waits for a child to exit; resolves with its code/signal or undefined after `timeoutMs`. */
export function waitExit(child: ChildProcess, timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null } | undefined> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    });
  });
}

/** Polls `probe` until it returns a value other than undefined, or throws after `timeoutMs`. */
export async function waitUntil<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  { timeoutMs = 10_000, intervalMs = 50, detail }: { timeoutMs?: number; intervalMs?: number; detail?: () => string | Promise<string> } = {},
): Promise<T> {
  timeoutMs = hangGuardMs(timeoutMs);
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const extra = detail ? `\n${await detail()}` : '';
      const why = lastError ? ` (last error: ${(lastError as Error).message})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}${extra}`);
    }
    await sleep(intervalMs);
  }
}

/** A fresh temp directory, removed by the returned function. */
export function tempDir(prefix: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), `meshd-e2e-${prefix}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A port the OS says is free on `host` right now (for peers that must know their port before binding). */
export function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

const PY_GRPC_HINT =
  'gRPC C-core for Python is not installed: `/usr/bin/python3 -c "import grpc"` fails. ' +
  'Install it with: apt-get install -y python3-grpcio python3-protobuf (npm test runs scripts/ci-deps.sh first, which does this when it may run apt-get).';

/** Throws (so the test FAILS, never skips) when Debian's python3-grpcio is missing. */
export function requirePythonGrpc(): void {
  const r = spawnSync(PYTHON, ['-c', 'import grpc, grpc.experimental'], { encoding: 'utf8', timeout: 20_000 });
  if (r.error || r.status !== 0) {
    throw new Error(`${PY_GRPC_HINT}\n${r.error?.message ?? r.stderr}`);
  }
}

/**
 * Call at the end of a test file's last `after` hook, once every process and channel it started is
 * closed. grpc-js-xds leaves referenced timers behind closed channels (the priority balancer's 10 s
 * failover timer, the xDS client's 15 s resource timers), which would keep the test process alive for
 * up to 15 s doing nothing. The timer below is unref'd: it only fires when something else still holds
 * the event loop open, and then exits with the exit code the test runner has set.
 */
export function exitWhenIdle(graceMs = 1000): void {
  setTimeout(() => process.exit(), graceMs).unref();
}
