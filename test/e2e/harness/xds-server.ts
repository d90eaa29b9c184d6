import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { grpcBootstrap, type NodeIdentity } from './xds-client.js';
import { HARNESS_DIR, REPO_ROOT, trackChild, waitExit } from './util.js';
import { hangGuardMs } from '../../support/hang-guard.js';

// Starts xds-server-proc.ts as a child process: a real grpc-js-xds XdsServer whose inbound listener
// comes from meshd.

export const INBOUND_LISTENER_TEMPLATE = 'xds.istio.io/grpc/lds/inbound/%s';

export interface XdsServerProcess {
  readonly name: string;
  readonly addr: string;
  readonly nodeId: string;
  readonly events: Record<string, unknown>[];
  readonly stderr: string[];
  /** resolves when the server got its listener and accepts connections */
  waitServing(timeoutMs?: number): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
}

export function startXdsServer(name: string, ip: string, port: number, xdsAddr: string, node: NodeIdentity): XdsServerProcess {
  const bootstrap = grpcBootstrap(xdsAddr, { ...node, ip }, { server_listener_resource_name_template: INBOUND_LISTENER_TEMPLATE });
  const addr = `${ip}:${port}`;
  const child: ChildProcessWithoutNullStreams = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(HARNESS_DIR, 'xds-server-proc.ts'), name, addr],
    { cwd: REPO_ROOT, env: { ...process.env, XDS_SERVER_BOOTSTRAP: JSON.stringify(bootstrap) }, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  trackChild(child);
  const events: Record<string, unknown>[] = [];
  const stderr: string[] = [];
  const waiters: (() => void)[] = [];
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => stderr.push(d));
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    try {
      events.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      events.push({ event: 'stdout', line });
    }
    for (const w of waiters.splice(0)) w();
  });
  child.once('exit', () => {
    for (const w of waiters.splice(0)) w();
  });
  const serving = () => events.find((e) => e.event === 'serving');
  return {
    name,
    addr,
    nodeId: (bootstrap.node as { id: string }).id,
    events,
    stderr,
    async waitServing(timeoutMs = 30_000) {
      const deadline = Date.now() + hangGuardMs(timeoutMs);
      for (;;) {
        const s = serving();
        if (s) return s;
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new Error(`XdsServer ${name} exited (${child.exitCode ?? child.signalCode}) before serving: ${JSON.stringify(events)} ${stderr.join('')}`);
        }
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`XdsServer ${name} not serving after ${hangGuardMs(timeoutMs)} ms: ${JSON.stringify(events)} ${stderr.join('').slice(-2000)}`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, Math.min(left, 500));
          waiters.push(() => {
            clearTimeout(t);
            resolve();
          });
        });
      }
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      if (!(await waitExit(child, 5000))) child.kill('SIGKILL');
    },
  };
}
