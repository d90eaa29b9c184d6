// `npm run demo`: a canary rollout, live. Copies the example mesh (examples/helloworld) to a temp dir,
// starts meshd on it, two real gRPC backends on the example's pod IPs (helloworld-v1 on 127.0.0.11:5000,
// helloworld-v2 on 127.0.0.12:5000) and a real proxyless gRPC client (@grpc/grpc-js-xds) dialling
// xds:///helloworld.default.svc.cluster.local:5000. While the client keeps calling, the demo edits the
// VirtualService weights in the temp copy — 90/10 → 50/50 → 0/100 — and prints where calls went each
// second. Nothing restarts: meshd pushes each edit to the connected client.
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startBackend, type Backend } from '../test/e2e/harness/backend.js';
import { startMeshd, type Meshd } from '../test/e2e/harness/meshd.js';
import { EXAMPLE_DIR, sleep, tempDir } from '../test/e2e/harness/util.js';
import { XdsClient, type Counts } from '../test/e2e/harness/xds-client.js';

const TARGET = 'xds:///helloworld.default.svc.cluster.local:5000';
const PHASES: readonly [number, number][] = [[90, 10], [50, 50], [0, 100]];
const SECONDS_PER_PHASE = 4;
const tty = process.stdout.isTTY;
const c = (code: string, s: string) => (tty ? `\x1b[${code}m${s}\x1b[0m` : s);
const bold = (s: string) => c('1', s);
const dim = (s: string) => c('2', s);

const tmp = tempDir('demo');
const cleanups: (() => Promise<unknown> | unknown)[] = [];
let cleaning: Promise<void> | undefined;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const fn of cleanups.reverse()) {
      try {
        await fn();
      } catch {
        // best effort: keep cleaning up the rest
      }
    }
    tmp.remove();
  })();
  return cleaning;
}
process.once('SIGINT', () => {
  console.log('\ninterrupted; cleaning up');
  void cleanup().then(() => process.exit(130));
});
process.once('SIGTERM', () => void cleanup().then(() => process.exit(143)));

function bar(share: number, width = 40): string {
  const n = Math.round(share * width);
  return '█'.repeat(n) + dim('·'.repeat(width - n));
}

function show(second: number, counts: Counts, config: string): void {
  const n = Object.values(counts).reduce((a, b) => a + b, 0);
  const v1 = counts['helloworld-v1'] ?? 0;
  const v2 = counts['helloworld-v2'] ?? 0;
  const errors = n - v1 - v2;
  const pct = (x: number) => `${((100 * x) / Math.max(n, 1)).toFixed(0).padStart(3)}%`;
  console.log(
    `${dim(`t=${String(second).padStart(2)}s`)}  config ${config.padEnd(6)}  v1 ${c('32', bar(v1 / Math.max(n, 1), 20))} ${pct(v1)}   ` +
      `v2 ${c('36', bar(v2 / Math.max(n, 1), 20))} ${pct(v2)}   ${dim(`${n} calls`)}${errors ? c('31', `  ${errors} failed`) : ''}`,
  );
}

/** Calls for about `ms` milliseconds, a few at a time, and returns where they went. */
async function trafficFor(client: XdsClient, ms: number): Promise<Counts> {
  const total: Counts = {};
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const batch = await client.split(20, { concurrency: 5 });
    for (const [k, v] of Object.entries(batch)) total[k] = (total[k] ?? 0) + v;
  }
  return total;
}

async function main(): Promise<void> {
  const t0 = Date.now();
  cpSync(EXAMPLE_DIR, tmp.dir, { recursive: true });
  const vsFile = path.join(tmp.dir, 'virtual-service.yaml');
  const original = readFileSync(vsFile, 'utf8');
  const weights = /weight: 90([\s\S]*?)weight: 10/;
  if (!weights.test(original)) throw new Error(`${vsFile}: expected the example's 90/10 weights`);

  console.log(bold('meshd demo: a canary rollout of helloworld v2, live'));
  console.log(dim(`  config dir (a copy of examples/helloworld): ${tmp.dir}`));

  const backends: Backend[] = [];
  for (const [name, ip] of [['helloworld-v1', '127.0.0.11'], ['helloworld-v2', '127.0.0.12']] as const) {
    const b = await startBackend(name, ip, 5000).catch((err: Error) => {
      throw new Error(`${err.message}\n(is another demo or \`npm start\` backend using ${ip}:5000?)`);
    });
    backends.push(b);
    cleanups.push(() => b.stop());
    console.log(dim(`  backend ${name} serving on ${b.addr} (the Pod IP in workloads.yaml)`));
  }

  const meshd: Meshd = await startMeshd({ configDir: tmp.dir });
  cleanups.push(async () => {
    const code = await meshd.stop();
    if (code !== 0) console.log(`meshd exited with ${code}`);
  });
  console.log(dim(`  meshd serving xDS on ${meshd.grpcAddr}, metrics/debug on http://${meshd.monitoringAddr}`));

  const client = new XdsClient(meshd.grpcAddr, TARGET, { pod: 'demo-client', ip: '127.0.0.1' });
  cleanups.push(() => client.close());
  await client.waitReady();
  console.log(dim(`  grpc-js-xds client connected to ${TARGET} after ${((Date.now() - t0) / 1000).toFixed(1)} s`));
  console.log('');

  let second = 0;
  for (const [i, [w1, w2]] of PHASES.entries()) {
    const label = `${w1}/${w2}`;
    if (i > 0) {
      const since = Date.now();
      writeFileSync(vsFile, original.replace(weights, `weight: ${w1}$1weight: ${w2}`));
      console.log(bold(`» edited virtual-service.yaml: v1 weight ${w1}, v2 weight ${w2}`));
      await meshd.waitForProxyAck(client.nodeId, 'RDS', since);
      console.log(dim(`  meshd pushed the new route; the client ACKed it ${Date.now() - since} ms after the save`));
    } else {
      console.log(bold(`» virtual-service.yaml as shipped: v1 weight ${w1}, v2 weight ${w2}`));
    }
    for (let s = 0; s < SECONDS_PER_PHASE; s++) show(++second, await trafficFor(client, 1000), label);
  }

  const syncz = await meshd.syncz();
  const me = syncz.find((e) => e.nodeId === client.nodeId);
  console.log('');
  console.log(
    `done in ${((Date.now() - t0) / 1000).toFixed(1)} s: 3 routing configs, 1 meshd, 1 client connection (${me?.connection ?? '?'}), no restarts.`,
  );
  console.log(dim('Try it by hand: `npm start` in one terminal, edit examples/helloworld/virtual-service.yaml, watch /debug/syncz.'));
}

const watchdog = setTimeout(() => {
  console.error('demo: took longer than 60 s; giving up');
  void cleanup().then(() => process.exit(1));
}, 60_000);
watchdog.unref();

main().then(
  async () => {
    await cleanup();
    process.exit(0);
  },
  async (err: unknown) => {
    console.error(`demo failed: ${(err as Error).stack ?? String(err)}`);
    await cleanup();
    process.exit(1);
  },
);
