import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { Debouncer } from '../../src/xds/debounce.js';
import { PushScheduler } from '../../src/xds/push-scheduler.js';


// Debouncer timing on mocked clocks (setTimeout and Date): the assertions are about its arithmetic, which
// real timers on a busy machine would turn into a race.
describe('Debouncer', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 }));
  afterEach(() => mock.timers.reset());

  it('coalesces a burst into one push after the quiet period', () => {
    const fired: number[][] = [];
    const d = new Debouncer<number>({ quietMs: 40, maxMs: 10_000 }, (e) => fired.push(e));
    for (let i = 0; i < 5; i++) {
      d.add(i);
      mock.timers.tick(5);
    }
    mock.timers.tick(34); // 39 ms after the last event
    assert.equal(fired.length, 0);
    mock.timers.tick(1);
    assert.deepEqual(fired, [[0, 1, 2, 3, 4]]);
    d.stop();
  });

  it('fires by the max delay even while events keep coming', () => {
    const fired: { events: number; firstAt: number; at: number }[] = [];
    const d = new Debouncer<number>({ quietMs: 50, maxMs: 120 }, (e, firstAt) => fired.push({ events: e.length, firstAt, at: Date.now() }));
    for (let t = 0; t < 300; t += 10) {
      d.add(1);
      mock.timers.tick(10);
    }
    d.stop();
    // a storm of one event per 10 ms never goes quiet for 50 ms: each burst goes out 120 ms after its first event
    assert.deepEqual(fired, [
      { events: 12, firstAt: 0, at: 120 },
      { events: 12, firstAt: 120, at: 240 },
    ]);
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

  it('bounds the bytes of all writes in progress, slow ones included: memory stays bounded when clients stop reading', async () => {
    const items = Array.from({ length: 10 }, (_, i) => `p${i}`);
    const t = target(new Map(items.map((i) => [i, 1])));
    const s = new PushScheduler<string>({ sendNext: t.sendNext, cut: t.cutStream }, { ...options, maxBytesInFlight: 250, slowAfterMs: 5 });
    items.forEach((i) => s.wake(i));
    await until(() => t.writes.length === 3);
    await until(() => s.stats.slow === 3);
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    assert.equal(t.writes.length, 3, 'three 100-byte writes fill a 250-byte budget even once they are slow');
    assert.equal(s.stats.bytesInFlight, 300);
    t.writes[0]!.done();
    await until(() => t.writes.length === 4);
    for (const w of t.writes.slice(1)) w.done();
    let finished = 4;
    while (finished < 10) {
      await until(() => t.writes.length > finished);
      t.writes[finished++]!.done();
    }
    await s.idle();
  });

  it('a write whose connection keeps taking data is not cut, however long it takes; once it stops, it is', async () => {
    const t = target(new Map([['slow-reader', 1]]));
    let taken = 0;
    let reading = true;
    const s = new PushScheduler<string>(
      { sendNext: t.sendNext, cut: t.cutStream, progress: () => (reading ? (taken += 4096) : taken) },
      { ...options, slowAfterMs: 10, sendTimeoutMs: 100 },
    );
    s.wake('slow-reader');
    await until(() => t.writes.length === 1);
    await until(() => (s.pendingWrite('slow-reader')?.ms ?? 0) > 500);
    assert.deepEqual(t.cut, [], 'five send timeouts long, but reading');
    reading = false;
    await until(() => t.cut.length === 1);
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
