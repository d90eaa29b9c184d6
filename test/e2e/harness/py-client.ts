import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { grpcBootstrap, type CallOptions, type Counts, type NodeIdentity, type SplitOptions } from './xds-client.js';
import { HARNESS_DIR, PYTHON, requirePythonGrpc, trackChild, waitExit } from './util.js';

// gRPC C-core (Debian python3-grpcio 1.51) as a second, independent xDS client implementation. The
// Python script (py_client.py) holds one channel to the target and runs calls on command, answering
// in JSON lines; this class is its typed remote control.

export interface PyCallResult {
  readonly status: string;
  readonly details?: string;
  readonly backend?: string;
  readonly ms: number;
}

export class PyXdsClient {
  private seq = 0;
  private readonly pending = new Map<number, { resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void }>();
  readonly stderr: string[] = [];
  grpcVersion = '';

  private constructor(
    private readonly child: ChildProcessWithoutNullStreams,
    readonly nodeId: string,
  ) {}

  /**
   * Spawns the C-core client. `dir` receives its bootstrap file. Throws if python3-grpcio is missing.
   * With `opts.bootstrapFile` (e.g. one `meshd agent` wrote) that bootstrap is used as is; `opts.xdsCreds`
   * makes the channel take its security (mTLS) from xDS.
   */
  static async start(xdsAddr: string, target: string, node: NodeIdentity, dir: string, opts: { bootstrapFile?: string; xdsCreds?: boolean } = {}): Promise<PyXdsClient> {
    requirePythonGrpc();
    const bootstrap = opts.bootstrapFile ? (JSON.parse(readFileSync(opts.bootstrapFile, 'utf8')) as Record<string, unknown>) : grpcBootstrap(xdsAddr, node);
    const file = opts.bootstrapFile ?? path.join(dir, `bootstrap-${node.pod}.json`);
    if (!opts.bootstrapFile) writeFileSync(file, JSON.stringify(bootstrap, null, 2));
    const child = spawn(PYTHON, [path.join(HARNESS_DIR, 'py_client.py')], {
      env: {
        ...process.env,
        ...(opts.xdsCreds ? { XDS_CREDS: '1' } : {}),
        GRPC_XDS_BOOTSTRAP: file,
        TARGET: target,
        // Without this an idle C-core channel sees xDS pushes 5–10 s late (testing notes).
        GRPC_CLIENT_CHANNEL_BACKUP_POLL_INTERVAL_MS: '100',
        PYTHONUNBUFFERED: '1',
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    trackChild(child);
    const c = new PyXdsClient(child, (bootstrap.node as { id: string }).id);
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => c.stderr.push(d));
    const ready = new Promise<void>((resolve, reject) => {
      c.pending.set(0, {
        resolve: (m) => {
          c.grpcVersion = String(m.grpc_version);
          resolve();
        },
        reject,
      });
    });
    readline.createInterface({ input: child.stdout }).on('line', (line) => c.onLine(line));
    child.once('exit', (code, signal) => {
      const err = new Error(`C-core client exited (code ${code}, signal ${signal}): ${c.stderr.join('').slice(-2000)}`);
      for (const p of c.pending.values()) p.reject(err);
      c.pending.clear();
    });
    await ready;
    return c;
  }

  private onLine(line: string): void {
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(line) as Record<string, unknown>;
    } catch {
      this.stderr.push(`stdout: ${line}\n`);
      return;
    }
    const id = Number(msg.id);
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    if (typeof msg.error === 'string') p.reject(new Error(`C-core client: ${msg.error}`));
    else p.resolve(msg);
  }

  private ask(cmd: Record<string, unknown>, timeoutMs: number): Promise<Record<string, unknown>> {
    const id = ++this.seq;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`C-core client: no answer to ${JSON.stringify(cmd)} within ${timeoutMs} ms; stderr: ${this.stderr.join('').slice(-2000)}`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.child.stdin.write(`${JSON.stringify({ ...cmd, id })}\n`);
    });
  }

  async call({ md = {}, name = 'x', deadlineMs = 5000, method = 'SayHello', waitForReady = false }: CallOptions = {}): Promise<PyCallResult> {
    const r = await this.ask({ cmd: 'call', md, name, method, timeout_ms: deadlineMs, wait: waitForReady }, deadlineMs + 10_000);
    return r as unknown as PyCallResult;
  }

  async waitReady(timeoutMs = 30_000): Promise<PyCallResult> {
    const r = await this.call({ waitForReady: true, deadlineMs: timeoutMs, name: 'ready' });
    if (r.status !== 'OK') throw new Error(`C-core client ${this.nodeId}: first call failed: ${r.status}: ${r.details}`);
    return r;
  }

  async split(n: number, { md = {}, name = 'x', method = 'SayHello', deadlineMs = 5000, concurrency = 10 }: SplitOptions = {}): Promise<Counts> {
    const r = await this.ask({ cmd: 'split', n, md, name, method, timeout_ms: deadlineMs, concurrency }, 60_000);
    return r.counts as Counts;
  }

  async close(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      await this.ask({ cmd: 'exit' }, 5000).catch(() => undefined);
      if (!(await waitExit(this.child, 5000))) this.child.kill('SIGKILL');
    }
  }
}
