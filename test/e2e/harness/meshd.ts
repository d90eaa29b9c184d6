import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { REPO_ROOT, trackChild, waitExit, waitUntil } from './util.js';
import { meshdCommand } from '../../support/meshd-bin.js';
import type { SyncStatus, SynczTypeDetail } from '../../../src/xds/debug.js';

// Runs the real, compiled meshd CLI (`meshd serve …`, bin/meshd.js) as a child process, exactly as
// a user would, and talks to it only through its ports, its config directory and its logs.

export interface LogLine {
  readonly level?: number;
  readonly msg?: string;
  readonly [field: string]: unknown;
}

/** One proxy in /debug/syncz: istiod's SyncStatus (`proxy` is POD.NS) with meshd's detail (`nodeId`, `types`). */
export type SynczEntry = SyncStatus;
export type SynczType = SynczTypeDetail;

export interface StartMeshdOptions {
  readonly configDir: string;
  readonly extraArgs?: readonly string[];
  readonly logLevel?: string;
  readonly startTimeoutMs?: number;
  /** the CA directory (--ca-dir); default a fresh temp dir removed on stop */
  readonly caDir?: string;
}

export interface Meshd {
  readonly configDir: string;
  readonly grpcAddr: string;
  readonly monitoringAddr: string;
  readonly httpAddr: string;
  /** the TLS port: CA + xDS over TLS */
  readonly secureGrpcAddr: string;
  readonly caDir: string;
  /** every stderr line, parsed when it is JSON */
  readonly logs: LogLine[];
  readonly stderrText: () => string;
  readonly stdout: string[];
  readonly pid: number;
  /** GET on the monitoring port; JSON-decoded */
  getJson<T = unknown>(urlPath: string): Promise<T>;
  getText(urlPath: string, which?: 'monitoring' | 'http'): Promise<{ status: number; body: string }>;
  syncz(): Promise<SynczEntry[]>;
  metrics(): Promise<string>;
  /**
   * Writes FILE (relative to the config dir). Default `atomic`: the way most editors and tools save
   * (write a temp file, rename it over the old one); `in-place`: truncate and write the same inode.
   */
  editFile(rel: string, content: string, mode?: 'atomic' | 'in-place'): void;
  removeFile(rel: string): void;
  /** Polls /debug/syncz until `predicate` holds. */
  waitForAck(predicate: (s: SynczEntry[]) => boolean, what?: string, timeoutMs?: number): Promise<SynczEntry[]>;
  /** Waits until the given proxy has ACKed a response of `type` sent after `since` (ms epoch). */
  waitForProxyAck(proxy: string, type: string, since: number, timeoutMs?: number): Promise<SynczEntry[]>;
  waitForLog(predicate: (l: LogLine) => boolean, what?: string, timeoutMs?: number): Promise<LogLine>;
  /** SIGTERM; resolves with the exit code (SIGKILL and an error after `timeoutMs`). */
  stop(timeoutMs?: number): Promise<number | null>;
}

export async function startMeshd({ configDir, extraArgs = [], logLevel = 'info', startTimeoutMs = 30_000, caDir: givenCaDir }: StartMeshdOptions): Promise<Meshd> {
  const caDir = givenCaDir ?? mkdtempSync(path.join(os.tmpdir(), 'meshd-e2e-ca-'));
  const args = [
    'serve',
    '--config-dir', configDir,
    '--grpc-addr', '127.0.0.1:0',
    '--monitoring-addr', '127.0.0.1:0',
    '--http-addr', '127.0.0.1:0',
    '--secure-grpc-addr', '127.0.0.1:0',
    '--webhook-addr', '127.0.0.1:0',
    // no fixed ports: the CA admin endpoint's default 127.0.0.1:15013 may be taken by any other meshd
    '--ca-admin-addr', '127.0.0.1:0',
    '--ca-dir', caDir,
    '--log-level', logLevel,
    '--debounce-after', '100ms',
    '--debounce-max', '10s',
    ...extraArgs,
  ];
  const child: ChildProcessWithoutNullStreams = spawn(...meshdCommand(args), { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  trackChild(child);
  const logs: LogLine[] = [];
  const rawStderr: string[] = [];
  const stdout: string[] = [];
  readline.createInterface({ input: child.stderr }).on('line', (line) => {
    rawStderr.push(line);
    try {
      const parsed = JSON.parse(line) as unknown;
      logs.push(parsed && typeof parsed === 'object' ? (parsed as LogLine) : { msg: line });
    } catch {
      logs.push({ msg: line });
    }
  });
  readline.createInterface({ input: child.stdout }).on('line', (line) => stdout.push(line));
  const stderrText = () => rawStderr.join('\n');
  const exited = () => child.exitCode !== null || child.signalCode !== null;

  const serving = await waitUntil(
    'meshd to log "meshd is serving"',
    () => {
      const l = logs.find((x) => x.msg === 'meshd is serving');
      if (l) return l;
      if (exited()) throw new Error(`meshd exited with ${child.exitCode ?? child.signalCode} before serving:\n${stderrText().slice(-4000)}`);
      return undefined;
    },
    { timeoutMs: startTimeoutMs, detail: () => stderrText().slice(-4000) },
  ).catch((err: Error) => {
    child.kill('SIGKILL');
    throw err;
  });
  const grpcAddr = String(serving.grpcAddr);
  const monitoringAddr = String(serving.monitoringAddr);
  const httpAddr = String(serving.httpAddr);
  const secureGrpcAddr = String(serving.secureGrpcAddr ?? '');

  const getText = async (urlPath: string, which: 'monitoring' | 'http' = 'monitoring') => {
    const res = await fetch(`http://${which === 'http' ? httpAddr : monitoringAddr}${urlPath}`, { signal: AbortSignal.timeout(5000) });
    return { status: res.status, body: await res.text() };
  };
  const getJson = async <T>(urlPath: string): Promise<T> => {
    const r = await getText(urlPath);
    if (r.status !== 200) throw new Error(`GET ${urlPath}: HTTP ${r.status}: ${r.body}`);
    return JSON.parse(r.body) as T;
  };
  const syncz = () => getJson<SynczEntry[]>('/debug/syncz');

  await waitUntil('meshd /ready to answer 200', async () => ((await getText('/ready', 'http')).status === 200 ? true : undefined), {
    timeoutMs: 10_000,
    intervalMs: 100,
  }).catch((err: Error) => {
    child.kill('SIGKILL');
    throw err;
  });

  const waitForAck = (predicate: (s: SynczEntry[]) => boolean, what = 'a /debug/syncz condition', timeoutMs = 10_000) => {
    let last: SynczEntry[] = [];
    return waitUntil(
      what,
      async () => {
        last = await syncz();
        return predicate(last) ? last : undefined;
      },
      { timeoutMs, detail: () => `last /debug/syncz: ${JSON.stringify(last, null, 1).slice(0, 6000)}` },
    );
  };

  return {
    configDir,
    grpcAddr,
    monitoringAddr,
    httpAddr,
    secureGrpcAddr,
    caDir,
    logs,
    stderrText,
    stdout,
    pid: child.pid ?? -1,
    getJson,
    getText,
    syncz,
    metrics: async () => (await getText('/metrics')).body,
    editFile(rel, content, mode = 'atomic') {
      const file = path.join(configDir, rel);
      if (mode === 'in-place') {
        writeFileSync(file, content);
        return;
      }
      const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}`);
      writeFileSync(tmp, content);
      renameSync(tmp, file);
    },
    removeFile(rel) {
      rmSync(path.join(configDir, rel));
    },
    waitForAck,
    waitForProxyAck(proxy, type, since, timeoutMs = 10_000) {
      return waitForAck(
        (s) =>
          s.some((e) => {
            if (e.nodeId !== proxy) return false;
            const t = e.types[type];
            return !!t && !!t.sent.at && Date.parse(t.sent.at) >= since && t.acked.nonce === t.sent.nonce;
          }),
        `${proxy} to ACK a ${type} response sent after ${new Date(since).toISOString()}`,
        timeoutMs,
      );
    },
    waitForLog(predicate, what = 'a log line', timeoutMs = 10_000) {
      return waitUntil(what, () => logs.find(predicate), { timeoutMs, detail: () => stderrText().slice(-4000) });
    },
    async stop(timeoutMs = 10_000) {
      const removeCa = () => {
        if (!givenCaDir) rmSync(caDir, { recursive: true, force: true });
      };
      if (exited()) {
        removeCa();
        return child.exitCode;
      }
      child.kill('SIGTERM');
      const r = await waitExit(child, timeoutMs);
      if (!r) {
        child.kill('SIGKILL');
        throw new Error(`meshd did not exit within ${timeoutMs} ms of SIGTERM:\n${stderrText().slice(-3000)}`);
      }
      removeCa();
      return r.code;
    },
  };
}
