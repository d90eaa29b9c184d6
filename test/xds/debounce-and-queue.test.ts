import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Debouncer } from '../../src/xds/debounce.js';
import { PushScheduler } from '../../src/xds/push-scheduler.js';

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

describe('PushScheduler', () => {
  const options = { concurrency: 100, maxBytesInFlight: 1 << 30, slowAfterMs: 60_000, sendTimeoutMs: 600_000, sliceMs: 20 };
  /** a target whose writes finish when the test says so */
  function target(wants: Map<string, number>) {
    const writes: { item: string; done: () => void }[] = [];
    const cut: string[] = [];
    return {
      writes,
      cut,
      sendNext(item: string, done: () => void) {
        const n = wants.get(item) ?? 0;
        if (n === 0) return undefined;
        wants.set(item, n - 1);
        writes.push({ item, done });
        return 100;
      },
      cutStream: (item: string) => cut.push(item),
    };
  }
  const until = async (cond: () => boolean) => {
    while (!cond()) await new Promise((r) => setImmediate(r));
  };

  it('gives a stream one write at a time however often it is woken, and its next turn after the others', async () => {
    const wants = new Map([['a', 2], ['b', 1]]);
    const t = target(wants);
    const s = new PushScheduler<string>({ sendNext: t.sendNext, cut: t.cutStream }, options);
    for (let i = 0; i < 100; i++) s.wake('a');
    s.wake('b');
    await until(() => t.writes.length === 2);
    assert.deepEqual(t.writes.map((w) => w.item), ['a', 'b']);
    t.writes[0]!.done();
    await until(() => t.writes.length === 3);
    assert.equal(t.writes[2]!.item, 'a');
    t.writes[1]!.done();
    t.writes[2]!.done();
    await s.idle();
    assert.equal(s.stats.writing, 0);
  });

  it('bounds writes in progress (the push throttle)', async () => {
    const items = Array.from({ length: 20 }, (_, i) => `p${i}`);
    const t = target(new Map(items.map((i) => [i, 1])));
    const s = new PushScheduler<string>({ sendNext: t.sendNext, cut: t.cutStream }, { ...options, concurrency: 3 });
    items.forEach((i) => s.wake(i));
    await until(() => t.writes.length === 3);
    await new Promise((r) => setImmediate(r));
    assert.equal(t.writes.length, 3);
    let finished = 0;
    while (finished < 20) {
      await until(() => t.writes.length > finished);
      t.writes[finished++]!.done();
    }
    await s.idle();
  });

  it('a stalled write holds only its own stream: the others get their turns, and it is cut after the send timeout', async () => {
    const t = target(new Map([['stuck', 1], ['healthy', 5]]));
    const s = new PushScheduler<string>({ sendNext: t.sendNext, cut: t.cutStream }, { ...options, concurrency: 1, slowAfterMs: 10, sendTimeoutMs: 200 });
    s.wake('stuck');
    await until(() => t.writes.length === 1);
    s.wake('healthy');
    // the healthy stream gets all five of its writes while the stuck one is still in progress
    for (let n = 0; n < 5; n++) {
      await until(() => t.writes.filter((w) => w.item === 'healthy').length === n + 1);
      t.writes.filter((w) => w.item === 'healthy')[n]!.done();
    }
    assert.deepEqual(t.cut, []);
    assert.equal(s.pendingWrite('stuck')?.slow, true);
    await until(() => t.cut.length === 1);
    assert.deepEqual(t.cut, ['stuck']);
    await s.idle();
    assert.equal(s.stats.cut, 1);
  });
});
