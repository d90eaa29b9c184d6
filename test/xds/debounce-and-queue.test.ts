import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Debouncer } from '../../src/xds/debounce.js';
import { PushQueue } from '../../src/xds/push-queue.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('Debouncer', () => {
  it('coalesces a burst into one push after the quiet period', async () => {
    const fired: number[][] = [];
    const d = new Debouncer<number>({ quietMs: 40, maxMs: 10_000 }, (e) => fired.push(e));
    for (let i = 0; i < 5; i++) {
      d.add(i);
      await sleep(5);
    }
    assert.equal(fired.length, 0);
    await sleep(80);
    assert.deepEqual(fired, [[0, 1, 2, 3, 4]]);
    d.stop();
  });

  it('fires by the max delay even while events keep coming', async () => {
    const fired: number[][] = [];
    const d = new Debouncer<number>({ quietMs: 50, maxMs: 120 }, (e) => fired.push(e));
    const start = Date.now();
    while (Date.now() - start < 300) {
      d.add(1);
      await sleep(10);
    }
    d.stop();
    assert.ok(fired.length >= 2, `expected pushes during a 300 ms storm with max 120 ms, got ${fired.length}`);
  });
});

describe('PushQueue', () => {
  it('keeps at most one pending push per item and re-runs once if asked while running', async () => {
    const runs: string[] = [];
    let release: () => void = () => {};
    const q = new PushQueue<string>(1, async (item) => {
      runs.push(item);
      if (item === 'a' && runs.length === 1) await new Promise<void>((r) => (release = r));
    }, () => {});
    q.enqueue('a'); // starts running, blocks
    for (let i = 0; i < 100; i++) q.enqueue('a'); // coalesce into one rerun
    for (let i = 0; i < 100; i++) q.enqueue('b'); // one queued entry
    assert.equal(q.pending, 2);
    release();
    await q.idle();
    assert.deepEqual(runs, ['a', 'b', 'a']);
  });

  it('bounds concurrency', async () => {
    let active = 0;
    let peak = 0;
    const q = new PushQueue<number>(3, async () => {
      active++;
      peak = Math.max(peak, active);
      await sleep(5);
      active--;
    }, () => {});
    for (let i = 0; i < 20; i++) q.enqueue(i);
    await q.idle();
    assert.equal(peak, 3);
  });

  it('reports a failing push and carries on', async () => {
    const errors: unknown[] = [];
    const done: number[] = [];
    const q = new PushQueue<number>(2, async (i) => {
      if (i === 1) throw new Error('boom');
      done.push(i);
    }, (_i, e) => errors.push(e));
    [0, 1, 2].forEach((i) => q.enqueue(i));
    await q.idle();
    assert.deepEqual(done.sort(), [0, 2]);
    assert.equal(errors.length, 1);
  });
});
