import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { ConfigStore, objectKey } from '../../src/config/store.js';
import { parseDocuments, parseDocumentsYielding } from '../../src/config/documents.js';
import { DirectorySource, type DirectorySourceOptions } from '../../src/sources/dir/directory-source.js';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/telemetry/log.js';

// Issue 12, items 6–9 and 12: what a ConfigMap mount, a duplicate, a file turned directory, an oversized
// document and a slow start do to the config-dir source and to readiness.

const DR = (name: string, lb: string) => `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: ${name}, namespace: default }
spec:
  host: ${name}
  trafficPolicy: { loadBalancer: { simple: ${lb} } }
`;
const lbOf = (store: ConfigStore, name: string) =>
  store.get('DestinationRule', objectKey('DestinationRule', 'default', name))?.object.spec.trafficPolicy?.loadBalancer?.simple;

function capture() {
  const lines: { level: number; msg: string; [k: string]: unknown }[] = [];
  const stream = new Writable({
    write(chunk, _e, cb) {
      for (const l of String(chunk).trim().split('\n')) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { log: pino({ level: 'debug' }, stream), lines };
}

async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const started: DirectorySource[] = [];
after(async () => {
  await Promise.all(started.map((s) => s.stop()));
});

async function startSource(dir: string, extra: Partial<DirectorySourceOptions> = {}) {
  const store = new ConfigStore();
  const out = capture();
  const src = new DirectorySource({ dir, store, log: out.log, settleMs: 10, ...extra });
  started.push(src);
  await src.start();
  return { store, out, src };
}

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'meshd-dirh-'));

describe('config-dir: symlinks (item 6)', () => {
  it('reads a ConfigMap mount (x.yaml -> ..data/x.yaml) and sees the ..data swap as one change', async () => {
    const dir = tmp();
    // the layout kubelet writes: a timestamped directory, `..data` pointing at it, one symlink per key
    fs.mkdirSync(path.join(dir, '..2026_01_01_a'));
    fs.writeFileSync(path.join(dir, '..2026_01_01_a', 'x.yaml'), DR('x', 'ROUND_ROBIN'));
    fs.writeFileSync(path.join(dir, '..2026_01_01_a', 'y.yaml'), DR('y', 'ROUND_ROBIN'));
    fs.symlinkSync('..2026_01_01_a', path.join(dir, '..data'));
    fs.symlinkSync('..data/x.yaml', path.join(dir, 'x.yaml'));
    fs.symlinkSync('..data/y.yaml', path.join(dir, 'y.yaml'));
    const { store } = await startSource(dir);
    assert.equal(lbOf(store, 'x'), 'ROUND_ROBIN');
    assert.equal(lbOf(store, 'y'), 'ROUND_ROBIN');

    // both keys change in one update: kubelet writes the new directory, swaps ..data atomically, removes the old
    const bursts: number[] = [];
    let inBurst = false;
    store.on('change', () => {
      if (!inBurst) {
        inBurst = true;
        bursts.push(0);
        setImmediate(() => (inBurst = false));
      }
      bursts[bursts.length - 1]!++;
    });
    fs.mkdirSync(path.join(dir, '..2026_01_01_b'));
    fs.writeFileSync(path.join(dir, '..2026_01_01_b', 'x.yaml'), DR('x', 'LEAST_REQUEST'));
    fs.writeFileSync(path.join(dir, '..2026_01_01_b', 'y.yaml'), DR('y', 'RANDOM'));
    fs.symlinkSync('..2026_01_01_b', path.join(dir, '..data_tmp'));
    fs.renameSync(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
    fs.rmSync(path.join(dir, '..2026_01_01_a'), { recursive: true });
    await until(() => lbOf(store, 'x') === 'LEAST_REQUEST' && lbOf(store, 'y') === 'RANDOM', 'the swapped ConfigMap');
    assert.deepEqual(bursts, [2], 'both objects changed in one burst of store events');
  });

  it('follows symlinked directories, reading a directory reached twice (a loop) once', async () => {
    const dir = tmp();
    fs.mkdirSync(path.join(dir, 'real'));
    fs.writeFileSync(path.join(dir, 'real', 'a.yaml'), DR('a', 'RANDOM'));
    fs.symlinkSync('real', path.join(dir, 'linked')); // a second path to real/
    fs.symlinkSync('..', path.join(dir, 'real', 'up')); // a loop back to the root
    const { store, out } = await startSource(dir);
    assert.equal(lbOf(store, 'a'), 'RANDOM');
    assert.ok(!out.lines.some((l) => /two files|defined in/.test(l.msg)), 'the file is not read twice as a duplicate of itself');
    assert.ok(out.lines.some((l) => /symlink leads to a directory already read/.test(l.msg)), 'the loop is reported');
  });
});

describe('config-dir: duplicates (item 7)', () => {
  it('reports a duplicate when it appears, uses the first file in path order, and keeps the survivor', async () => {
    const dir = tmp();
    fs.writeFileSync(path.join(dir, 'a.yaml'), DR('dup', 'RANDOM'));
    const { store, out } = await startSource(dir);
    fs.writeFileSync(path.join(dir, 'b.yaml'), DR('dup', 'LEAST_REQUEST'));
    await until(() => out.lines.some((l) => /defined in 2 files/.test(l.msg)), 'the duplicate reported');
    const report = out.lines.find((l) => /defined in 2 files/.test(l.msg))!;
    assert.match(report.msg, /DestinationRule\/default\/dup is defined in 2 files; the first in path order is used: .*a\.yaml$/);
    assert.equal(lbOf(store, 'dup'), 'RANDOM', 'a.yaml wins though b.yaml was read last');

    fs.rmSync(path.join(dir, 'b.yaml'));
    await until(() => out.lines.some((l) => l.msg === 'config file gone; its objects withdrawn' && String(l.file).endsWith('b.yaml')), 'b.yaml removal read');
    assert.equal(lbOf(store, 'dup'), 'RANDOM', 'a.yaml still defines it: the object stays');

    // and the other way round: the winner goes, the survivor takes over
    fs.writeFileSync(path.join(dir, 'b.yaml'), DR('dup', 'LEAST_REQUEST'));
    await until(() => out.lines.filter((l) => /defined in 2 files/.test(l.msg)).length === 2, 'the duplicate reported again');
    fs.rmSync(path.join(dir, 'a.yaml'));
    await until(() => lbOf(store, 'dup') === 'LEAST_REQUEST', 'b.yaml in force once a.yaml is gone');
    assert.match(String(store.get('DestinationRule', objectKey('DestinationRule', 'default', 'dup'))?.origin && (store.get('DestinationRule', objectKey('DestinationRule', 'default', 'dup'))!.origin as { file: string }).file), /b\.yaml$/);
  });

  it('decides a duplicate present at start-up the same way whatever the read order', async () => {
    const dir = tmp();
    fs.writeFileSync(path.join(dir, 'z.yaml'), DR('dup', 'LEAST_REQUEST'));
    fs.writeFileSync(path.join(dir, 'm.yaml'), DR('dup', 'RANDOM'));
    const { store } = await startSource(dir);
    assert.equal(lbOf(store, 'dup'), 'RANDOM');
  });
});

describe('config-dir: a file replaced by a directory (item 8)', () => {
  it('removes the file\'s objects and reads the directory, without an EISDIR on every scan', async () => {
    const dir = tmp();
    fs.writeFileSync(path.join(dir, 'x.yaml'), DR('old', 'RANDOM'));
    const { store, out } = await startSource(dir);
    assert.equal(lbOf(store, 'old'), 'RANDOM');
    fs.rmSync(path.join(dir, 'x.yaml'));
    fs.mkdirSync(path.join(dir, 'x.yaml'));
    fs.writeFileSync(path.join(dir, 'x.yaml', 'inner.yaml'), DR('inner', 'LEAST_REQUEST'));
    await until(() => lbOf(store, 'inner') === 'LEAST_REQUEST' && lbOf(store, 'old') === undefined, 'the directory read, the file\'s object gone');
    // another change makes another scan: still no error
    fs.writeFileSync(path.join(dir, 'other.yaml'), DR('other', 'RANDOM'));
    await until(() => lbOf(store, 'other') === 'RANDOM', 'a later scan');
    assert.deepEqual(out.lines.filter((l) => l.level >= 50 || /EISDIR/.test(JSON.stringify(l))), []);
  });
});

describe('config-dir: size limits (item 9)', () => {
  it('refuses a document over the limit with a validate-style message and reads the others', async () => {
    const dir = tmp();
    const big = DR('big', 'RANDOM') + `  subsets: [${Array.from({ length: 60 }, (_, i) => `{name: s${i}, labels: {v: "${'x'.repeat(20)}"}}`).join(', ')}]\n`;
    fs.writeFileSync(path.join(dir, 'x.yaml'), `${DR('small', 'RANDOM')}---\n${big}`);
    const { store, out } = await startSource(dir, { limits: { maxFileBytes: 64 * 1024, maxDocumentBytes: 1024 } });
    assert.equal(lbOf(store, 'small'), 'RANDOM');
    assert.equal(lbOf(store, 'big'), undefined);
    const refusal = out.lines.find((l) => /over the limit/.test(l.msg));
    assert.ok(refusal);
    assert.match(refusal.msg, /x\.yaml#1 <unknown kind> <unnamed>: document is \d+ bytes, over the limit of 1024 bytes per document \(--max-document-size\); not read$/);
  });

  it('refuses a file over the limit unread, keeping what it held', async () => {
    const dir = tmp();
    fs.writeFileSync(path.join(dir, 'x.yaml'), DR('kept', 'RANDOM'));
    const { store, out } = await startSource(dir, { limits: { maxFileBytes: 4096, maxDocumentBytes: 4096 } });
    fs.writeFileSync(path.join(dir, 'x.yaml'), DR('kept', 'LEAST_REQUEST') + `# ${'x'.repeat(8000)}\n`);
    await until(() => out.lines.some((l) => /per file/.test(l.msg)), 'the refusal');
    assert.match(out.lines.find((l) => /per file/.test(l.msg))!.msg, /x\.yaml#0 <unknown kind> <unnamed>: file is \d+ bytes, over the limit of 4096 bytes per file \(--max-config-file-size\)/);
    assert.equal(lbOf(store, 'kept'), 'RANDOM', 'the last good version stays');
  });

  it('cuts documents in linear time, whatever precedes the first ---', () => {
    // found by the fuzz corpus walk: a backtracking "is this only comments?" test took minutes on this
    const text = `${' '.repeat(40)}x: 1 ${'# '.repeat(5000)}\n---\na: 2\n`;
    assert.deepEqual(parseDocuments(text).map((d) => d.index), [0, 1]);
  });

  it('hands the event loop back while parsing a file of many documents', async () => {
    const text = Array.from({ length: 200 }, (_, i) => DR(`d${i}`, 'RANDOM')).join('---\n');
    let turns = 0;
    let parsing = true;
    const tick = (): void => {
      if (!parsing) return;
      turns++;
      setImmediate(tick);
    };
    setImmediate(tick);
    let docs = 0;
    await parseDocumentsYielding(text, {}, () => docs++, 0);
    parsing = false;
    assert.equal(docs, 200);
    assert.ok(turns >= 100, `the event loop turned ${turns} times during the parse`);
  });
});

describe('readiness in config-dir mode (item 12)', () => {
  it('pushes its first snapshot, and is ready, only once every file present at start-up is read', async () => {
    const dir = tmp();
    const services = 150;
    for (let i = 0; i < services; i++) {
      fs.writeFileSync(path.join(dir, `svc-${i}.yaml`), `apiVersion: v1\nkind: Service\nmetadata: { name: svc-${i}, namespace: default }\nspec: { ports: [{ name: http, port: 80 }] }\n`);
    }
    // a debounce shorter than reading the directory: before the fix it pushed (and was ready) half-way
    const daemon = new Daemon({
      configDir: dir, grpcAddr: '127.0.0.1:0', monitoringAddr: '127.0.0.1:0', httpAddr: '127.0.0.1:0',
      debounce: { quietMs: 0, maxMs: 0 }, log: silentLogger,
    });
    const seen: { ready: boolean; services: number }[] = [];
    const push = daemon.discovery.push.bind(daemon.discovery);
    daemon.discovery.push = (ctx, at) => {
      seen.push({ ready: daemon.isReady, services: ctx.registry.services.length });
      return push(ctx, at);
    };
    try {
      await daemon.start();
      assert.ok(seen.length >= 1);
      assert.deepEqual(seen[0], { ready: false, services }, 'the first snapshot holds every service on disk');
    } finally {
      await daemon.stop(1000);
    }
  });
});
