// xDS load benchmark: meshd serving S services to P simulated proxyless-gRPC proxies (SotW ADS), or to
// P simulated Envoy sidecars (--proxy-kind sidecar, SotW or --xds delta).
//
//   npx tsx bench/xds-load.ts --services 1000 --proxies 500 [--watch all|N] [--workers 2]
//                             [--proxy-kind grpc|sidecar] [--xds sotw|delta] [--replicas 5]   (sidecars)
//                             [--out FILE | --no-save] [--timeout-s 600] [--cpu-prof] [--profile-workers] [--meshd-node-args STR]
//                             [--meshd-ref GIT_REF]   (run meshd from that commit, not the working tree)
//                             [--meshd-runtime compiled|tsx]   (default compiled: tsc → dist/, as production)
//
// What it measures (bench/README.md explains each figure):
//   1. cold start: spawn `meshd serve` on a generated config dir → /ready = 200; RSS then
//   2. initial sync: P proxies (in worker processes, never in meshd's) connect → every proxy ACKed LDS,
//      RDS, CDS and EDS for everything it watches; bytes received
//   3. changes, each timed from the file write until every proxy that watches the affected resource
//      has ACKed the new content: a VirtualService weight edit (RDS), a new endpoint Pod for the host
//      every proxy watches (EDS), a DestinationRule edit for that host (CDS)
//   4. meshd RSS (VmRSS, VmHWM) and CPU time (utime+stime) per phase
//   5. write-time baseline: a bare grpc-js server writing the same message sizes to P streams
// Prints the command line, machine facts, a table, and one JSON line (last line of stdout); saves the
// JSON under bench/results/ unless --no-save.

import { fork, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { ProxySpec, ProxyStats, TrackSpec, WorkerCommand, WorkerEvent } from './sim-proxies.js';
import type { BaselineCommand, BaselineEvent } from './write-baseline.js';
import { Mesh, PORT, namespaceCount } from './mesh.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const now = (): number => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ------------------------------------------------------------------------------------------ options

interface Options {
  services: number;
  proxies: number;
  workers: number;
  watch: 'all' | number;
  out: string | undefined;
  save: boolean;
  timeoutMs: number;
  cpuProf: boolean;
  profileWorkers: boolean;
  meshdNodeOptions: string;
  connectSpreadMs: number;
  keep: boolean;
  meshdRef: string | undefined;
  proxyKind: 'grpc' | 'sidecar';
  xds: 'sotw' | 'delta';
  /** sidecars: pods per client Deployment (replicas of one Deployment share a proxy class) */
  replicas: number;
  meshdRuntime: 'compiled' | 'tsx';
}

function runtimeOf(v: string): 'compiled' | 'tsx' {
  if (v !== 'compiled' && v !== 'tsx') throw new Error(`--meshd-runtime ${v}: want compiled or tsx`);
  return v;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      services: { type: 'string', default: '1000' },
      proxies: { type: 'string', default: '500' },
      workers: { type: 'string', default: '2' },
      watch: { type: 'string', default: 'all' },
      out: { type: 'string' },
      'no-save': { type: 'boolean', default: false },
      'timeout-s': { type: 'string', default: '600' },
      'cpu-prof': { type: 'boolean', default: false },
      'profile-workers': { type: 'boolean', default: false },
      'meshd-node-args': { type: 'string', default: '' },
      'connect-spread-ms': { type: 'string', default: '0' },
      keep: { type: 'boolean', default: false },
      'meshd-ref': { type: 'string' },
      'proxy-kind': { type: 'string', default: 'grpc' },
      xds: { type: 'string', default: 'sotw' },
      replicas: { type: 'string', default: '5' },
      'meshd-runtime': { type: 'string', default: 'compiled' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').filter((l) => l.startsWith('//')).slice(0, 4).join('\n') + '\n');
    process.exit(0);
  }
  const int = (name: string, v: string, min: number): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} ${v}: want an integer ≥ ${min}`);
    return n;
  };
  const services = int('services', values.services, 1);
  const proxyKind = values['proxy-kind'];
  if (proxyKind !== 'grpc' && proxyKind !== 'sidecar') throw new Error(`--proxy-kind ${proxyKind}: want grpc or sidecar`);
  const xds = values.xds;
  if (xds !== 'sotw' && xds !== 'delta') throw new Error(`--xds ${xds}: want sotw or delta`);
  if (proxyKind === 'grpc' && xds === 'delta') throw new Error('--xds delta: only with --proxy-kind sidecar (the simulated gRPC clients speak SotW)');
  if (proxyKind === 'sidecar' && values.watch !== 'all') throw new Error('--watch: sidecars subscribe to CDS and LDS by wildcard (they see every service)');
  const watch = values.watch === 'all' ? 'all' : int('watch', values.watch, 1);
  return {
    services,
    proxies: int('proxies', values.proxies, 1),
    workers: int('workers', values.workers, 1),
    watch: watch !== 'all' && watch >= services ? 'all' : watch,
    out: values.out,
    save: !values['no-save'],
    timeoutMs: int('timeout-s', values['timeout-s'], 1) * 1000,
    cpuProf: values['cpu-prof'],
    profileWorkers: values['profile-workers'],
    meshdNodeOptions: values['meshd-node-args'],
    connectSpreadMs: int('connect-spread-ms', values['connect-spread-ms'], 0),
    keep: values.keep,
    meshdRef: values['meshd-ref'],
    proxyKind,
    xds,
    replicas: int('replicas', values.replicas, 1),
    meshdRuntime: runtimeOf(values['meshd-runtime']),
  };
}

/**
 * Which services proxy p watches: all, or N of them — always service 0 (a host every proxy calls, like a
 * shared auth or config service) plus N-1 others, spread evenly over the rest.
 */
function watchSet(p: number, services: number, watch: 'all' | number): number[] {
  if (watch === 'all') return Array.from({ length: services }, (_, i) => i);
  const out = [0];
  for (let k = 0; k < watch - 1; k++) out.push(1 + ((p * (watch - 1) + k) % (services - 1)));
  return [...new Set(out)];
}

// ------------------------------------------------------------------------------ processes & probes

const children = new Set<ChildProcess>();
const tempDirsToRemove: string[] = [];

function trackChild<T extends ChildProcess>(c: T): T {
  children.add(c);
  c.once('exit', () => children.delete(c));
  return c;
}

function killChildren(): void {
  for (const c of children) {
    try {
      c.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}

function cleanupAndExit(code: number): never {
  killChildren();
  for (const d of tempDirsToRemove) rmSync(d, { recursive: true, force: true });
  process.exit(code);
}

process.once('exit', () => killChildren());
process.once('SIGINT', () => {
  process.stderr.write('\ninterrupted: stopping meshd and the simulated proxies\n');
  cleanupAndExit(130);
});
process.once('SIGTERM', () => cleanupAndExit(143));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

function httpGet(url: string, timeoutMs = 5000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => T | undefined | Promise<T | undefined>, intervalMs = 10): Promise<T> {
  const deadline = now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (now() > deadline) throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}`);
    await sleep(intervalMs);
  }
}

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

interface ProcSample {
  rssBytes: number;
  hwmBytes: number;
  cpuMs: number;
}

function sampleProc(pid: number): ProcSample {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(rest[11]) + Number(rest[12]); // utime (field 14) + stime (field 15)
  return { rssBytes: kb('VmRSS'), hwmBytes: kb('VmHWM'), cpuMs: (ticks * 1000) / CLK_TCK };
}

function machineBusyMs(): number {
  // /proc/stat "cpu" line: user nice system idle iowait irq softirq steal …
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const busy = f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + f[7]!;
  return (busy * 1000) / CLK_TCK;
}

function ownCpuMs(pids: readonly number[]): number {
  let ms = 0;
  for (const pid of pids) {
    try {
      ms += sampleProc(pid).cpuMs;
    } catch {
      // exited
    }
  }
  const u = process.cpuUsage();
  return ms + (u.user + u.system) / 1000;
}

/**
 * CPU time the machine spent on anything but this benchmark (meshd, the workers, this process) during a
 * phase. The machine may be shared (other test runs): a large figure means the phase's timings are
 * inflated by contention for the cores.
 */
class ForeignLoad {
  private readonly busy0 = machineBusyMs();
  private readonly own0: number;

  constructor(private readonly pids: readonly number[]) {
    this.own0 = ownCpuMs(pids);
  }

  delta(): number {
    return Math.max(0, Math.round(machineBusyMs() - this.busy0 - (ownCpuMs(this.pids) - this.own0)));
  }
}

/** Selected prom-client/istiod metrics from meshd's /metrics. */
function parseMetrics(text: string): Record<string, number> {
  const want = [
    'nodejs_heap_size_used_bytes',
    'nodejs_heap_size_total_bytes',
    'nodejs_external_memory_bytes',
    'pilot_xds',
    'pilot_proxy_convergence_time_sum',
    'pilot_proxy_convergence_time_count',
    'pilot_total_xds_rejects',
    'nodejs_eventloop_lag_max_seconds',
    'pilot_pushcontext_init_seconds_sum',
    'pilot_pushcontext_init_seconds_count',
    'pilot_xds_send_time_sum',
    'pilot_xds_send_time_count',
    'pilot_xds_write_timeout',
  ];
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line === '') continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const [, name, labels, value] = m as unknown as [string, string, string | undefined, string];
    if (name === 'pilot_xds_pushes') {
      const type = /type="(\w+)"/.exec(labels ?? '')?.[1] ?? '';
      out[`pilot_xds_pushes_${type}`] = Number(value);
    } else if (name === 'pilot_xds_cache_reads') {
      // hit = served from the snapshot's entries or reused from the previous one; miss = generated and encoded
      const type = /type="(\w+)"/.exec(labels ?? '')?.[1] ?? '';
      out[`pilot_xds_cache_reads_${type}`] = Number(value);
    } else if (want.includes(name)) out[name] = (out[name] ?? 0) + Number(value);
  }
  return out;
}

interface MeshdSource {
  /** a directory holding meshd's src/ (the working tree, or an export of --meshd-ref) */
  readonly dir: string;
  readonly description: string;
  readonly commit: string;
  readonly dirty: boolean;
  /** serve flags this meshd version has that the benchmark sets (ports off the defaults) */
  readonly extraServeFlags: string[];
  /** node arguments that run meshd's CLI: the compiled dist/cli/main.js (production), or the sources under tsx */
  readonly entry: readonly string[];
}

function git(args: string[]): string {
  const r = spawnSync('git', args, { cwd: REPO, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr.trim()}`);
  return r.stdout.trim();
}

/** The working tree, or `git archive REF` unpacked in a temp dir (node_modules linked from the repo). */
function prepareMeshdSource(ref: string | undefined, runtime: 'compiled' | 'tsx'): MeshdSource {
  let dir = REPO;
  let commit: string;
  let dirty = false;
  if (ref) {
    commit = git(['rev-parse', '--short', `${ref}^{commit}`]);
    dir = mkdtempSync(path.join(os.tmpdir(), 'meshd-bench-src-'));
    tempDirsToRemove.push(dir);
    const r = spawnSync('sh', ['-c', `git archive ${commit} | tar -x -C "${dir}"`], { cwd: REPO, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`exporting meshd ${ref}: ${r.stderr}`);
    symlinkSync(path.join(REPO, 'node_modules'), path.join(dir, 'node_modules'));
  } else {
    commit = git(['rev-parse', '--short', 'HEAD']);
    dirty = git(['status', '--porcelain', '--untracked-files=no', 'src']) !== '';
  }
  // Production runs compiled JS (`npm run build` → dist/), and so does the benchmark unless --meshd-runtime tsx.
  let entry = ['--import', 'tsx', path.join(dir, 'src/cli/main.ts')];
  if (runtime === 'compiled') {
    process.stderr.write(`building meshd (${ref ?? 'working tree'}) with tsc -p tsconfig.build.json …\n`);
    const tsc = spawnSync(process.execPath, [path.join(REPO, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: dir, encoding: 'utf8', timeout: 900_000 });
    if (tsc.status !== 0) throw new Error(`building meshd in ${dir} failed (${tsc.status}):\n${tsc.stdout}${tsc.stderr}`);
    entry = [path.join(dir, 'dist/cli/main.js')];
  }
  // Ask this meshd which flags it has: newer versions also open a TLS/CA port (default :15012), which
  // the benchmark turns off so runs never collide and no CA key is generated during the cold start.
  const help = spawnSync(process.execPath, [...entry, 'serve', '--help'], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
  if (help.status !== 0) throw new Error(`meshd serve --help failed (${help.status}):\n${help.stderr}`);
  const extraServeFlags = help.stdout.includes('--secure-grpc-addr') ? ['--secure-grpc-addr', 'off'] : [];
  return { dir, description: ref ? `git archive of ${ref} (${commit})` : `working tree at ${commit}${dirty ? ' with uncommitted src/ changes' : ''}`, commit, dirty, extraServeFlags, entry };
}

class Meshd {
  readonly child: ChildProcess;
  readonly stderrTail: string[] = [];
  errorLines = 0;
  warnLines = 0;
  exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;

  constructor(
    readonly source: MeshdSource,
    readonly configDir: string,
    readonly ports: { grpc: number; monitoring: number; http: number },
    nodeArgs: readonly string[],
  ) {
    const args = [
      ...nodeArgs,
      ...source.entry, 'serve',
      '--config-dir', configDir,
      '--grpc-addr', `127.0.0.1:${ports.grpc}`,
      '--monitoring-addr', `127.0.0.1:${ports.monitoring}`,
      '--http-addr', `127.0.0.1:${ports.http}`,
      '--log-level', 'warn',
      ...source.extraServeFlags,
    ];
    this.child = trackChild(spawn(process.execPath, args, { cwd: source.dir, stdio: ['ignore', 'ignore', 'pipe'] }));
    let partial = '';
    this.child.stderr!.on('data', (b: Buffer) => {
      const lines = (partial + b.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        const level = /"level":(\d+)/.exec(line)?.[1];
        if (level && Number(level) >= 50) this.errorLines++;
        else if (level && Number(level) >= 40) this.warnLines++;
        this.stderrTail.push(line.length > 600 ? `${line.slice(0, 600)}…` : line);
        if (this.stderrTail.length > 40) this.stderrTail.shift();
      }
    });
    this.child.once('exit', (code, signal) => (this.exited = { code, signal }));
  }

  get pid(): number {
    return this.child.pid!;
  }

  url(p: string, port = this.ports.monitoring): string {
    return `http://127.0.0.1:${port}${p}`;
  }

  sample(): ProcSample {
    if (this.exited) throw new Error(`meshd exited (${JSON.stringify(this.exited)}):\n${this.stderrTail.join('\n')}`);
    return sampleProc(this.pid);
  }

  async metrics(): Promise<Record<string, number>> {
    return parseMetrics((await httpGet(this.url('/metrics'), 30_000)).body);
  }

  async stop(timeoutMs = 15_000): Promise<void> {
    if (this.exited) return;
    const exited = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    await exited;
    clearTimeout(timer);
  }
}

class Worker {
  readonly child: ChildProcess;
  private readonly listeners = new Set<(e: WorkerEvent) => void>();

  constructor(readonly n: number, profileDir?: string) {
    const execArgv = ['--import', 'tsx', ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [])];
    this.child = trackChild(fork(path.join(REPO, 'bench/sim-proxies.ts'), [], { cwd: REPO, execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
    this.child.on('message', (m: WorkerEvent) => {
      for (const l of [...this.listeners]) l(m);
    });
  }

  on(l: (e: WorkerEvent) => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  send(c: WorkerCommand): void {
    this.child.send(c);
  }

  next<K extends WorkerEvent['ev']>(ev: K, timeoutMs = 30_000): Promise<Extract<WorkerEvent, { ev: K }>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error(`simulated-proxy worker ${this.n}: no '${ev}' within ${timeoutMs} ms`));
      }, timeoutMs);
      const off = this.on((e) => {
        if (e.ev === ev) {
          clearTimeout(timer);
          off();
          resolve(e as Extract<WorkerEvent, { ev: K }>);
        }
      });
    });
  }

  async request<K extends WorkerEvent['ev']>(c: WorkerCommand, ev: K, timeoutMs = 30_000): Promise<Extract<WorkerEvent, { ev: K }>> {
    const p = this.next(ev, timeoutMs);
    this.send(c);
    return p;
  }
}

// ---------------------------------------------------------------------------------------- figures

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

const round = (n: number, d = 1) => Math.round(n * 10 ** d) / 10 ** d;
const MiB = (b: number) => round(b / 1048576, 1);

function machineFacts(): Record<string, unknown> {
  return {
    nproc: Number(spawnSync('nproc', { encoding: 'utf8' }).stdout.trim()) || os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memTotalMiB: Math.round(os.totalmem() / 1048576),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    grpcJs: JSON.parse(readFileSync(path.join(REPO, 'node_modules/@grpc/grpc-js/package.json'), 'utf8')).version as string,
    loadAvgAtStart: os.loadavg().map((l) => round(l, 2)),
  };
}

interface ChangeResult {
  name: string;
  what: string;
  xdsType: string;
  watchers: number;
  converged: number;
  ms: number;
  p50Ms: number;
  p99Ms: number;
  before: Record<string, number>;
  after: Record<string, number>;
  bytes: number;
  messages: number;
  meshdCpuMs: number;
  workersCpuMs: number;
  eventLoopLagMaxMs: number;
  foreignCpuMs: number;
  cache: ReturnType<typeof cacheDelta>;
}

// -------------------------------------------------------------------------------------------- run

async function run(opts: Options, result: Record<string, unknown>): Promise<Record<string, unknown>> {
  const mesh = new Mesh(opts.services);
  const P = opts.proxies;
  const watchOf = Array.from({ length: P }, (_, p) => watchSet(p, opts.services, opts.watch));
  const configDir = mkdtempSync(path.join(os.tmpdir(), 'meshd-bench-'));
  if (!opts.keep) tempDirsToRemove.push(configDir);
  mesh.write(configDir);
  const sidecars = opts.proxyKind === 'sidecar';
  const clientDeployments = sidecars ? mesh.writeClients(configDir, P, opts.replicas) : 0;
  result.params = {
    services: opts.services,
    namespaces: namespaceCount(opts.services),
    pods: opts.services * 2 + (sidecars ? P : 0),
    proxyKind: opts.proxyKind,
    xds: opts.xds,
    ...(sidecars ? { replicasPerClientDeployment: opts.replicas, clientDeployments, clientServices: clientDeployments } : {}),
    destinationRules: opts.services,
    virtualServices: opts.services,
    proxies: P,
    workers: opts.workers,
    watch: opts.watch,
    listenersPerProxy: sidecars ? 'wildcard (CDS, LDS)' : watchOf[0]!.length,
    connectSpreadMs: opts.connectSpreadMs,
    meshdDebounce: '100ms quiet / 10s max (defaults)',
    meshdRunsFrom: opts.meshdRuntime === 'compiled' ? 'compiled JS (tsc -p tsconfig.build.json → dist/cli/main.js, as production)' : 'TypeScript sources via `node --import tsx`',
  };

  const source = prepareMeshdSource(opts.meshdRef, opts.meshdRuntime);
  const machine = result.machine as Record<string, unknown>;
  machine.commit = source.commit;
  machine.worktreeDirty = source.dirty;
  (result.params as Record<string, unknown>).meshdSource = source.description;
  (result.params as Record<string, unknown>).meshdExtraFlags = source.extraServeFlags.join(' ');

  // Workers first (protobuf roots loaded), so their start-up is not in any timing.
  const workerProfDir = opts.profileWorkers ? path.join(REPO, 'bench/results/prof/workers') : undefined;
  if (workerProfDir) mkdirSync(workerProfDir, { recursive: true });
  const workers = Array.from({ length: opts.workers }, (_, n) => new Worker(n, workerProfDir));
  await Promise.all(workers.map((w) => w.next('ready', 60_000)));

  // ---------------------------------------------------------------- 1. cold start
  // node flags go on meshd's command line (Node 20 refuses --cpu-prof in NODE_OPTIONS)
  const nodeArgs = opts.meshdNodeOptions.split(/\s+/).filter(Boolean);
  let profDir: string | undefined;
  if (opts.cpuProf) {
    profDir = path.join(REPO, 'bench/results/prof');
    mkdirSync(profDir, { recursive: true });
    nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${profDir}`);
  }
  // The fixed cost first: the same meshd on an empty config dir (Node + tsx + imports + listeners).
  const emptyDir = mkdtempSync(path.join(os.tmpdir(), 'meshd-bench-empty-'));
  tempDirsToRemove.push(emptyDir);
  const empty = await startMeshd(source, emptyDir, [], opts.timeoutMs);
  await empty.meshd.stop();
  const { meshd, readyMs, ports } = await startMeshd(source, configDir, nodeArgs, opts.timeoutMs);
  const atReady = meshd.sample();
  result.coldStart = {
    readyMs: round(readyMs),
    rssBytes: atReady.rssBytes,
    hwmBytes: atReady.hwmBytes,
    cpuMs: atReady.cpuMs,
    emptyConfigReadyMs: round(empty.readyMs),
    emptyConfigRssBytes: empty.rssBytes,
  };
  process.stderr.write(`cold start: ready after ${round(readyMs)} ms (empty config: ${round(empty.readyMs)} ms), RSS ${MiB(atReady.rssBytes)} MiB\n`);

  // ---------------------------------------------------------------- 2. initial sync
  const tracks: TrackSpec[] = [];
  // the VirtualService change targets the most-watched service after service 0 (all of them with --watch all)
  const watchCount = new Map<number, number>();
  for (const w of watchOf) for (const i of w) watchCount.set(i, (watchCount.get(i) ?? 0) + 1);
  let vsTarget = opts.services > 1 ? 1 : 0;
  for (const [i, c] of watchCount) if (i !== 0 && c > (watchCount.get(vsTarget) ?? 0)) vsTarget = i;
  tracks.push(
    sidecars
      ? { id: 'vs', kind: 'vhost-weights', route: String(PORT), host: mesh.fqdn(vsTarget) }
      : { id: 'vs', kind: 'route-weights', listener: mesh.listener(vsTarget) },
  );
  tracks.push({ id: 'ep', kind: 'eds-endpoints', cluster: mesh.cluster(0, 'v2') });
  tracks.push({ id: 'dr', kind: 'cluster-digest', cluster: mesh.cluster(0, 'v1') });

  const syncedAt = new Map<number, number>();
  const firstResponseAt = new Map<number, Record<string, number>>();
  const streamErrors = new Map<number, string>();
  const tracked = new Map<string, Map<number, { summary: string; t: number }>>(tracks.map((t) => [t.id, new Map()]));
  for (const w of workers) {
    w.on((e) => {
      if (e.ev === 'synced') {
        syncedAt.set(e.index, e.t);
        firstResponseAt.set(e.index, e.firstResponseAt);
      }
      else if (e.ev === 'tracked') tracked.get(e.track)?.set(e.index, { summary: e.summary, t: e.t });
      else if (e.ev === 'stream-error') streamErrors.set(e.index, e.message);
    });
  }
  const listeners = Array.from({ length: opts.services }, (_, i) => mesh.listener(i));
  const specs: ProxySpec[] = Array.from({ length: P }, (_, p) => {
    if (sidecars) {
      const c = mesh.client(p, opts.replicas);
      const id = `sidecar~${c.ip}~${c.pod}.${c.ns}~${c.ns}.svc.cluster.local`;
      return { index: p, id, namespace: c.ns, watch: watchOf[p]!, kind: 'sidecar', protocol: opts.xds, metadata: mesh.sidecarMetadata(p, opts.replicas) };
    }
    const ns = `bench-${p % namespaceCount(opts.services)}`;
    return { index: p, id: `sidecar~172.16.${(p >> 8) & 255}.${p & 255}~client-${p}.${ns}~${ns}.svc.cluster.local`, namespace: ns, watch: watchOf[p]! };
  });
  const workersCpuBefore = (await collectStats(workers)).cpuMs;
  const cacheBeforeSync = await encodeCacheStats(meshd);
  const cpuBeforeSync = meshd.sample().cpuMs;
  // reading /metrics resets prom-client's event-loop lag maximum: this read starts the sync's window
  await meshd.metrics();
  const foreign = new ForeignLoad([meshd.pid, ...workers.map((w) => w.child.pid!)]);
  const tSync = now();
  workers.forEach((w, n) =>
    w.send({ cmd: 'start', addr: `127.0.0.1:${ports.grpc}`, listeners, proxies: specs.filter((s) => s.index % opts.workers === n), tracks, connectSpreadMs: opts.connectSpreadMs }),
  );
  let lastLog = now();
  try {
    await waitFor('every simulated proxy to sync', opts.timeoutMs, () => {
      if (meshd.exited) throw new Error(`meshd exited during the initial sync (${JSON.stringify(meshd.exited)}):\n${meshd.stderrTail.join('\n')}`);
      if (now() - lastLog > 5000) {
        lastLog = now();
        const s = meshd.sample();
        process.stderr.write(`  … ${syncedAt.size}/${P} synced after ${Math.round((now() - tSync) / 1000)} s; meshd RSS ${MiB(s.rssBytes)} MiB, CPU ${Math.round(s.cpuMs)} ms\n`);
      }
      return syncedAt.size + streamErrors.size >= P ? true : undefined;
    }, 20);
  } catch (err) {
    result.stuck = await diagnose(workers, meshd);
    throw err;
  }
  // …and this one, right after the last proxy synced, ends it
  const syncLag = await meshd.metrics().catch(() => undefined);
  if (streamErrors.size > 0) {
    result.droppedStreams = { count: streamErrors.size, examples: [...streamErrors.values()].slice(0, 5) };
    result.stuck = await diagnose(workers, meshd);
    throw new Error(`${streamErrors.size} proxy stream(s) failed, e.g. ${[...streamErrors.values()].slice(0, 3).join('; ')}`);
  }
  const syncTimes = [...syncedAt.values()].map((t) => t - tSync).sort((a, b) => a - b);
  const foreignSync = foreign.delta();
  // how far into the sync each stage of the chain got its first response (p50 / slowest proxy)
  const stages: Record<string, { p50Ms: number; maxMs: number }> = {};
  for (const type of ['LDS', 'RDS', 'CDS', 'EDS']) {
    const ts = [...firstResponseAt.values()].map((f) => (f[type] ?? NaN) - tSync).sort((a, b) => a - b);
    stages[type] = { p50Ms: round(percentile(ts, 50)), maxMs: round(ts[ts.length - 1]!) };
  }
  const afterSyncSample = meshd.sample();
  await sleep(500); // let stray responses land before counting bytes
  const syncStats = await collectStats(workers);
  const syncz = await syncSummary(meshd);
  const metricsAfterSync = await meshd.metrics();
  const sizesByProxy: number[][] = Array.from({ length: P }, () => []);
  for (const s of syncStats.proxies) sizesByProxy[s.index] = s.sizes;
  const syncBytes = syncStats.proxies.reduce((a, s) => a + s.bytes, 0);
  const syncMsgs = syncStats.proxies.reduce((a, s) => a + s.msgs, 0);
  let adsz: unknown;
  const cacheAfterSync = await encodeCacheStats(meshd);
  if (!sidecars && P * watchOf[0]!.length <= 50_000) {
    adsz = (JSON.parse((await httpGet(meshd.url('/debug/adsz'), 30_000)).body) as { cache?: unknown }).cache;
  }
  result.initialSync = {
    ms: round(syncTimes[syncTimes.length - 1]!),
    p50Ms: round(percentile(syncTimes, 50)),
    p90Ms: round(percentile(syncTimes, 90)),
    firstMs: round(syncTimes[0]!),
    bytes: syncBytes,
    messages: syncMsgs,
    bytesPerProxy: Math.round(syncBytes / P),
    largestMessage: Math.max(...syncStats.proxies.flatMap((s) => s.sizes)),
    requests: syncStats.proxies.reduce((a, s) => a + s.requests, 0),
    requestBytes: syncStats.proxies.reduce((a, s) => a + s.requestBytes, 0),
    meshdCpuMs: afterSyncSample.cpuMs - cpuBeforeSync,
    workersCpuMs: round(syncStats.cpuMs - workersCpuBefore),
    workerDecodes: syncStats.decodes,
    workerDecodeMemoHits: syncStats.memoHits,
    firstResponseOfType: stages,
    proxiesWithFirstResponseOnEveryType: [...firstResponseAt.values()].filter((f) => ['LDS', 'RDS', 'CDS', 'EDS'].every((t) => f[t] !== undefined)).length,
    streamsDroppedByMeshd: streamErrors.size,
    meshdWriteTimeouts: syncLag?.pilot_xds_write_timeout ?? 0,
    eventLoopLagMaxMs: syncLag ? round((syncLag.nodejs_eventloop_lag_max_seconds ?? NaN) * 1000, 1) : null,
    foreignCpuMs: foreignSync,
    syncz,
    encodeCache: adsz ?? 'not fetched (adsz too large at this scale; see cacheReads)',
    cache: cacheDelta(cacheBeforeSync, cacheAfterSync),
  };
  process.stderr.write(`initial sync: ${P} proxies in ${round(syncTimes[syncTimes.length - 1]!)} ms, ${MiB(syncBytes)} MiB\n`);
  const memory: Record<string, unknown> = {
    atReady: { rssBytes: atReady.rssBytes, hwmBytes: atReady.hwmBytes },
    afterSync: { rssBytes: afterSyncSample.rssBytes, hwmBytes: afterSyncSample.hwmBytes, heapUsedBytes: metricsAfterSync.nodejs_heap_size_used_bytes, heapTotalBytes: metricsAfterSync.nodejs_heap_size_total_bytes, externalBytes: metricsAfterSync.nodejs_external_memory_bytes },
  };
  result.memory = memory;

  // ---------------------------------------------------------------- 3. changes
  const changes: ChangeResult[] = [];
  result.changes = changes;
  const everyone = specs.map((s) => s.index);
  const vsWatchers = specs.filter((s) => s.watch.includes(vsTarget)).map((s) => s.index);
  changes.push(
    await timeChange(meshd, workers, tracked, {
      name: 'virtualservice-weights',
      what: `VirtualService ${mesh.name(vsTarget)}: weights v1/v2 90/10 → 50/50 (one file rewritten)`,
      xdsType: 'RDS',
      track: 'vs',
      watchers: vsWatchers,
      timeoutMs: opts.timeoutMs,
      apply: () => writeFileSync(path.join(configDir, `vs-${mesh.name(vsTarget)}.yaml`), mesh.virtualService(vsTarget, 50, 50)),
    }),
  );
  changes.push(
    await timeChange(meshd, workers, tracked, {
      name: 'new-endpoint',
      what: `new Pod ${mesh.name(0)}-v2b (version v2) for ${mesh.name(0)}, the host every proxy watches (new file)`,
      xdsType: 'EDS',
      track: 'ep',
      watchers: everyone,
      timeoutMs: opts.timeoutMs,
      apply: () => writeFileSync(path.join(configDir, `${mesh.name(0)}-v2b.yaml`), mesh.pod(0, 'v2', 3, 'b') + '\n'),
    }),
  );
  changes.push(
    await timeChange(meshd, workers, tracked, {
      name: 'destinationrule-policy',
      what: `DestinationRule ${mesh.name(0)}: add trafficPolicy.connectionPool.http.http2MaxRequests 1000 (CDS for every proxy)`,
      xdsType: 'CDS',
      track: 'dr',
      watchers: everyone,
      timeoutMs: opts.timeoutMs,
      apply: () =>
        writeFileSync(
          path.join(configDir, `${mesh.name(0)}.yaml`),
          mesh.serviceFile(0, '  trafficPolicy: {connectionPool: {http: {http2MaxRequests: 1000}}}'),
        ),
    }),
  );
  const afterChanges = meshd.sample();
  const metricsEnd = await meshd.metrics();
  memory.afterChanges = { rssBytes: afterChanges.rssBytes, hwmBytes: afterChanges.hwmBytes, heapUsedBytes: metricsEnd.nodejs_heap_size_used_bytes, heapTotalBytes: metricsEnd.nodejs_heap_size_total_bytes, externalBytes: metricsEnd.nodejs_external_memory_bytes };
  result.meshdMetrics = metricsEnd;

  // ---------------------------------------------------------------- stop proxies and meshd
  await Promise.all(workers.map((w) => w.request({ cmd: 'close' }, 'closed')));
  await sleep(200);
  const final = meshd.sample();
  result.cpu = { meshdTotalMs: final.cpuMs, clkTck: CLK_TCK };
  result.meshd = { errorLogLines: meshd.errorLines, warnLogLines: meshd.warnLines, cpuProfileDir: profDir ? path.relative(REPO, profDir) : undefined };
  await meshd.stop();

  // ---------------------------------------------------------------- 5. write-time baseline
  result.baseline = await writeBaseline(workers, sizesByProxy, opts.timeoutMs);
  const b = result.baseline as { ms: number; serverCpuMs: number };
  const s = result.initialSync as { ms: number; meshdCpuMs: number };
  result.ratio = { syncOverBaselineWallClock: round(s.ms / b.ms, 2), meshdCpuOverBaselineServerCpu: round(s.meshdCpuMs / b.serverCpuMs, 2) };

  // let the workers exit on their own (a --profile-workers profile is written at exit)
  await Promise.all(
    workers.map((w) => {
      const gone = new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 10_000);
        w.child.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
      });
      w.send({ cmd: 'exit' });
      return gone;
    }),
  );
  return result;
}

/** Spawns meshd on `configDir` and waits for /ready = 200. */
async function startMeshd(
  source: MeshdSource,
  configDir: string,
  nodeArgs: readonly string[],
  timeoutMs: number,
): Promise<{ meshd: Meshd; readyMs: number; rssBytes: number; ports: { grpc: number; monitoring: number; http: number } }> {
  const ports = { grpc: await freePort(), monitoring: await freePort(), http: await freePort() };
  const tSpawn = now();
  const meshd = new Meshd(source, configDir, ports, nodeArgs);
  const readyMs = await waitFor('meshd /ready = 200', timeoutMs, async () => {
    if (meshd.exited) throw new Error(`meshd exited before ready (${JSON.stringify(meshd.exited)}):\n${meshd.stderrTail.join('\n')}`);
    const r = await httpGet(meshd.url('/ready', ports.http), 2000).catch(() => undefined);
    return r?.status === 200 ? now() - tSpawn : undefined;
  });
  return { meshd, readyMs, rssBytes: meshd.sample().rssBytes, ports };
}

async function collectStats(workers: Worker[]): Promise<{ proxies: ProxyStats[]; cpuMs: number; decodes: number; memoHits: number }> {
  const all = await Promise.all(workers.map((w) => w.request({ cmd: 'stats' }, 'stats', 60_000)));
  return {
    proxies: all.flatMap((s) => s.proxies),
    cpuMs: all.reduce((a, s) => a + s.cpuMs, 0),
    decodes: all.reduce((a, s) => a + s.decodes, 0),
    memoHits: all.reduce((a, s) => a + s.memoHits, 0),
  };
}

async function diagnose(workers: Worker[], meshd: Meshd): Promise<unknown> {
  const status = await Promise.all(workers.map((w) => w.request({ cmd: 'status' }, 'status', 10_000).catch((e: Error) => e.message)));
  const syncz = await syncSummary(meshd).catch((e: Error) => e.message);
  const sample = (() => {
    try {
      return meshd.sample();
    } catch (e) {
      return (e as Error).message;
    }
  })();
  return { workers: status, syncz, meshd: sample, meshdStderrTail: meshd.stderrTail.slice(-10) };
}

/** What the summary reads of a /debug/syncz entry: meshd's per-type detail beside istiod's fields. */
interface SyncEntry {
  types: Record<string, { synced: boolean; lastNack?: { message: string } }>;
}

/** /debug/syncz condensed: connections, how many are synced on every type, NACKs. */
async function syncSummary(meshd: Meshd): Promise<Record<string, unknown>> {
  const entries = JSON.parse((await httpGet(meshd.url('/debug/syncz'), 60_000)).body) as SyncEntry[];
  // streams meshd cut (send timeout) are listed in /debug/adsz
  const cut = (JSON.parse((await httpGet(meshd.url('/debug/adsz'), 60_000)).body) as { cut?: { reason: string }[] }).cut ?? [];
  let allSynced = 0;
  let nacks = 0;
  const nackSamples = new Set<string>();
  for (const e of entries) {
    const types = Object.values(e.types);
    if (types.length === 4 && types.every((t) => t.synced)) allSynced++;
    for (const t of types) {
      if (t.lastNack) {
        nacks++;
        nackSamples.add(t.lastNack.message.slice(0, 200));
      }
    }
  }
  return {
    connections: entries.length, syncedAllTypes: allSynced, nacks, nackSamples: [...nackSamples].slice(0, 3),
    ...(cut.length > 0 ? { cutByMeshd: cut.length, cutSamples: cut.slice(0, 3).map((e) => e.reason) } : {}),
  };
}

interface ChangeSpec {
  name: string;
  what: string;
  xdsType: string;
  track: string;
  watchers: number[];
  timeoutMs: number;
  apply: () => void;
}

function tally(values: Iterable<string>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return out;
}

interface CacheStats {
  hits: number;
  reused: number;
  built: number;
  /** of the built, bodies identical to one already encoded (meshd versions that count it) */
  sameBody?: number;
  size: number;
}

/**
 * meshd's encode-cache counters from /debug/adsz (live; pilot_xds_cache_reads is only brought up to date
 * at the next push). Fetched outside timed regions: adsz also lists every connection's subscriptions.
 */
async function encodeCacheStats(meshd: Meshd): Promise<CacheStats | undefined> {
  const r = await httpGet(meshd.url('/debug/adsz'), 60_000);
  return (JSON.parse(r.body) as { cache?: CacheStats }).cache;
}

/** What a phase did with the encode cache: served within the snapshot, reused from the previous one, generated and encoded. */
function cacheDelta(
  a: CacheStats | undefined,
  b: CacheStats | undefined,
): { hits: number; reused: number; built: number; encoded: number | undefined; entries: number } | undefined {
  if (!a || !b) return undefined;
  const built = b.built - a.built;
  const sameBody = b.sameBody === undefined ? undefined : b.sameBody - (a.sameBody ?? 0);
  return { hits: b.hits - a.hits, reused: b.reused - a.reused, built, encoded: sameBody === undefined ? undefined : built - sameBody, entries: b.size };
}

/** Applies a change and waits until every watcher has ACKed different content for the tracked resource. */
async function timeChange(
  meshd: Meshd,
  workers: Worker[],
  tracked: Map<string, Map<number, { summary: string; t: number }>>,
  c: ChangeSpec,
): Promise<ChangeResult> {
  const latest = tracked.get(c.track)!;
  const missing = c.watchers.filter((p) => !latest.has(p));
  if (missing.length > 0) throw new Error(`${c.name}: ${missing.length} watcher(s) never received the tracked resource (e.g. proxy ${missing[0]})`);
  const before = new Map(c.watchers.map((p) => [p, latest.get(p)!.summary]));
  const workersCpu0 = (await collectStats(workers)).cpuMs; // also resets byte counters
  const cache0 = await encodeCacheStats(meshd);
  await meshd.metrics(); // resets the event-loop lag maximum
  const cpu0 = meshd.sample().cpuMs;
  const foreign = new ForeignLoad([meshd.pid, ...workers.map((w) => w.child.pid!)]);
  const tWrite = now();
  c.apply();
  const done = () => c.watchers.filter((p) => latest.get(p)!.summary !== before.get(p));
  try {
    await waitFor(`${c.name} to reach every watcher`, c.timeoutMs, () => {
      if (meshd.exited) throw new Error(`meshd exited (${JSON.stringify(meshd.exited)})`);
      return done().length === c.watchers.length ? true : undefined;
    }, 5);
  } catch (err) {
    throw new Error(`${(err as Error).message}: ${done().length}/${c.watchers.length} converged; meshd stderr:\n${meshd.stderrTail.slice(-10).join('\n')}`);
  }
  const times = c.watchers.map((p) => latest.get(p)!.t - tWrite).sort((a, b) => a - b);
  const cpu1 = meshd.sample().cpuMs;
  const lag = (await meshd.metrics()).nodejs_eventloop_lag_max_seconds;
  const foreignCpuMs = foreign.delta();
  await sleep(300);
  const stats = await collectStats(workers);
  const cache1 = await encodeCacheStats(meshd);
  const r: ChangeResult = {
    name: c.name,
    what: c.what,
    xdsType: c.xdsType,
    watchers: c.watchers.length,
    converged: done().length,
    ms: round(times[times.length - 1]!),
    p50Ms: round(percentile(times, 50)),
    p99Ms: round(percentile(times, 99)),
    before: tally(before.values()),
    after: tally(c.watchers.map((p) => latest.get(p)!.summary)),
    bytes: stats.proxies.reduce((a, s) => a + s.bytes, 0),
    messages: stats.proxies.reduce((a, s) => a + s.msgs, 0),
    meshdCpuMs: cpu1 - cpu0,
    workersCpuMs: round(stats.cpuMs - workersCpu0),
    eventLoopLagMaxMs: round((lag ?? NaN) * 1000, 1),
    foreignCpuMs,
    cache: cacheDelta(cache0, cache1),
  };
  process.stderr.write(`change ${c.name}: ${c.watchers.length} watchers ACKed within ${r.ms} ms\n`);
  return r;
}

async function writeBaseline(workers: Worker[], sizesByProxy: number[][], timeoutMs: number): Promise<Record<string, unknown>> {
  const server = trackChild(fork(path.join(REPO, 'bench/write-baseline.ts'), [], { cwd: REPO, execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  const next = <K extends BaselineEvent['ev']>(ev: K) =>
    new Promise<Extract<BaselineEvent, { ev: K }>>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`baseline server: no '${ev}' within 60 s`)), 60_000);
      const on = (m: BaselineEvent) => {
        if (m.ev !== ev) return;
        clearTimeout(timer);
        server.off('message', on);
        resolve(m as Extract<BaselineEvent, { ev: K }>);
      };
      server.on('message', on);
    });
  const cmd = (c: BaselineCommand) => server.send(c);
  const listening = next('listening');
  cmd({ cmd: 'plan', sizes: sizesByProxy });
  const { port } = await listening;
  await sleep(200);
  const doneAt = new Map<number, number>();
  const errors: string[] = [];
  const offs = workers.map((w) =>
    w.on((e) => {
      if (e.ev === 'baseline-done') doneAt.set(e.index, e.t);
      else if (e.ev === 'baseline-error') errors.push(e.message);
    }),
  );
  const cpu0 = sampleProc(server.pid!).cpuMs;
  const foreign = new ForeignLoad([server.pid!, ...workers.map((w) => w.child.pid!)]);
  const t0 = now();
  workers.forEach((w, n) =>
    w.send({
      cmd: 'baseline',
      addr: `127.0.0.1:${port}`,
      proxies: sizesByProxy
        .map((sizes, index) => ({ index, expectBytes: sizes.reduce((a, b) => a + b, 0), expectMsgs: sizes.length }))
        .filter((p) => p.index % workers.length === n),
    }),
  );
  await waitFor('the write-time baseline to complete', timeoutMs, () => {
    if (errors.length > 0) throw new Error(`baseline stream failed: ${errors[0]}`);
    return doneAt.size === sizesByProxy.length ? true : undefined;
  }, 5);
  const ms = Math.max(...doneAt.values()) - t0;
  const foreignCpuMs = foreign.delta();
  const proc = sampleProc(server.pid!);
  const report = next('report');
  cmd({ cmd: 'report' });
  const rep = await report;
  for (const off of offs) off();
  await Promise.all(workers.map((w) => w.request({ cmd: 'close' }, 'closed')));
  cmd({ cmd: 'exit' });
  const times = [...doneAt.values()].map((t) => t - t0).sort((a, b) => a - b);
  return {
    ms: round(ms),
    p50Ms: round(percentile(times, 50)),
    bytes: rep.bytes,
    messages: sizesByProxy.reduce((a, s) => a + s.length, 0),
    streams: rep.streams,
    serverWriteSpanMs: round(rep.lastWriteAt - rep.firstWriteAt),
    serverCpuMs: proc.cpuMs - cpu0,
    serverRssBytes: proc.rssBytes,
    foreignCpuMs,
  };
}

// ------------------------------------------------------------------------------------------ output

function cacheText(c: ReturnType<typeof cacheDelta>): string {
  return c ? `${c.hits} / ${c.reused} / ${c.built}${c.encoded === undefined ? '' : `, encoded ${c.encoded}`} (${c.entries})` : 'n/a';
}

function table(r: Record<string, any>): string {
  const m = r.machine;
  const p = r.params;
  const cs = r.coldStart;
  const is = r.initialSync;
  const mem = r.memory;
  const b = r.baseline;
  const rows: [string, string][] = [
    ['cold start → /ready = 200', `${cs.readyMs} ms; RSS ${MiB(cs.rssBytes)} MiB, CPU ${Math.round(cs.cpuMs)} ms`],
    ['  same meshd, empty config dir', `${cs.emptyConfigReadyMs} ms; RSS ${MiB(cs.emptyConfigRssBytes)} MiB`],
    ['initial sync, slowest proxy (all 4 types ACKed)', `${is.ms} ms (p50 ${is.p50Ms}, p90 ${is.p90Ms}, first ${is.firstMs})`],
    ['  bytes received (gRPC payload)', `${MiB(is.bytes)} MiB in ${is.messages} responses (${round(is.bytesPerProxy / 1024, 1)} KiB/proxy, largest ${round(is.largestMessage / 1024, 1)} KiB)`],
    ['  requests sent by the proxies', `${is.requests} (${MiB(is.requestBytes)} MiB incl. ACKs)`],
    ['  meshd CPU during sync', `${Math.round(is.meshdCpuMs)} ms (workers ${Math.round(is.workersCpuMs)} ms)`],
    ['  meshd event-loop lag, max during the sync', `${is.eventLoopLagMaxMs} ms`],
    ['  proxies with a first response on every type', `${is.proxiesWithFirstResponseOnEveryType}/${p.proxies}; streams dropped by meshd ${is.streamsDroppedByMeshd} (send timeouts ${is.meshdWriteTimeouts})`],
    ['  first response per type (p50 / slowest)', ['LDS', 'RDS', 'CDS', 'EDS'].map((t) => `${t} ${Math.round(is.firstResponseOfType[t].p50Ms)}/${Math.round(is.firstResponseOfType[t].maxMs)}`).join(', ') + ' ms'],
    ['  other processes on the machine (CPU)', `${Math.round(is.foreignCpuMs)} ms during the sync`],
    ['  /debug/syncz', `${is.syncz.syncedAllTypes}/${is.syncz.connections} synced on all types, ${is.syncz.nacks} NACKs`],
    ['  encode cache: hits / reused / built (entries)', cacheText(is.cache)],
  ];
  for (const c of r.changes as ChangeResult[]) {
    rows.push([`change ${c.name} (${c.xdsType}) → ${c.watchers} watchers ACKed`, `${c.ms} ms (p50 ${c.p50Ms}, p99 ${c.p99Ms}); ${MiB(c.bytes)} MiB in ${c.messages} responses; meshd CPU ${Math.round(c.meshdCpuMs)} ms (workers ${Math.round(c.workersCpuMs)} ms); lag max ${c.eventLoopLagMaxMs} ms; others ${Math.round(c.foreignCpuMs)} ms; cache ${cacheText(c.cache)}`]);
  }
  rows.push(
    ['meshd RSS / HWM after sync', `${MiB(mem.afterSync.rssBytes)} / ${MiB(mem.afterSync.hwmBytes)} MiB (heap used ${MiB(mem.afterSync.heapUsedBytes)} MiB)`],
    ['meshd RSS / HWM after changes', `${MiB(mem.afterChanges.rssBytes)} / ${MiB(mem.afterChanges.hwmBytes)} MiB (heap used ${MiB(mem.afterChanges.heapUsedBytes)} MiB)`],
    ['meshd CPU total (utime+stime)', `${Math.round(r.cpu.meshdTotalMs)} ms`],
    ['meshd event-loop lag, max since the last change', `${round(r.meshdMetrics.nodejs_eventloop_lag_max_seconds * 1000, 0)} ms`],
    ['meshd PushContext builds', `${r.meshdMetrics.pilot_pushcontext_init_seconds_count}, mean ${round((1000 * r.meshdMetrics.pilot_pushcontext_init_seconds_sum) / r.meshdMetrics.pilot_pushcontext_init_seconds_count, 0)} ms`],
    ['write-time baseline (bare grpc-js, same sizes)', `${b.ms} ms for ${MiB(b.bytes)} MiB in ${b.messages} msgs to ${b.streams} streams; server CPU ${Math.round(b.serverCpuMs)} ms; others ${Math.round(b.foreignCpuMs)} ms`],
    ['ratio initial sync / baseline', `${r.ratio.syncOverBaselineWallClock}× wall clock, ${r.ratio.meshdCpuOverBaselineServerCpu}× server CPU`],
  );
  const w = Math.max(...rows.map(([k]) => k.length));
  return [
    `command: ${r.command}`,
    `machine: nproc ${m.nproc} (${m.cpuModel}), ${m.memTotalMiB} MiB RAM, ${m.kernel}, node ${m.node}, grpc-js ${m.grpcJs}, meshd ${m.commit}${m.worktreeDirty ? '+dirty' : ''}, load average at start ${m.loadAvgAtStart.join(' ')}`,
    `meshd: ${p.meshdSource}${p.meshdExtraFlags ? `, serve ${p.meshdExtraFlags}` : ''}`,
    `mesh: ${p.services} services in ${p.namespaces} namespaces, ${p.pods} pods, ${p.destinationRules} DestinationRules (v1/v2), ${p.virtualServices} VirtualServices (90/10); ` +
      (p.proxyKind === 'sidecar'
        ? `${p.proxies} Envoy sidecars (${p.xds}) = ${p.clientDeployments} client Deployments × ${p.replicasPerClientDeployment} replicas (each with a Service), in ${p.workers} worker processes`
        : `${p.proxies} proxies in ${p.workers} worker processes, each watching ${p.listenersPerProxy} listener(s)`),
    '',
    ...rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`),
  ].join('\n');
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const opts = parseOptions(argv);
  const command = `npx tsx bench/xds-load.ts ${argv.join(' ')}`.trim();
  process.stderr.write(`${command}\n`);
  const result: Record<string, unknown> = { bench: 'xds-load', schema: 1, at: new Date().toISOString(), command, machine: machineFacts() };
  try {
    await run(opts, result);
  } catch (err) {
    // Whatever was measured before the failure is evidence too: print it.
    result.error = (err as Error).message;
    process.stderr.write(`\nbenchmark failed: ${(err as Error).stack ?? err}\n`);
    process.stdout.write(`${JSON.stringify(result)}\n`);
    if (opts.out) writeFileSync(opts.out, JSON.stringify(result, null, 2) + '\n');
    cleanupAndExit(1);
  }
  process.stdout.write(`${table(result)}\n`);
  if (opts.save || opts.out) {
    const name = opts.proxyKind === 'sidecar' ? `xds-load-sidecar-${opts.xds}-s${opts.services}-p${opts.proxies}` : `xds-load-s${opts.services}-p${opts.proxies}-watch-${opts.watch}`;
    const out = opts.out ?? path.join(REPO, 'bench/results', `${name}.json`);
    mkdirSync(path.dirname(out), { recursive: true });
    writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
    process.stderr.write(`saved ${path.relative(process.cwd(), out)}\n`);
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
  cleanupAndExit(0);
}

await main();
