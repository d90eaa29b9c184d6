// Decides when each stream gets its next response, so that pushing to thousands of proxies stays fair,
// bounded and never stalls the event loop:
//
// - Work is pulled, not pushed. A stream that wants something (a request to answer, a new snapshot) is
//   woken; what to send is decided only when its turn comes, from the newest state. So a stream has at
//   most one response being written and nothing else queued: requests and snapshots that arrive
//   meanwhile coalesce into "this type wants an answer" (at most one pending response per type).
// - Turns go round robin over the woken streams, in slices of bounded CPU time; between slices the
//   scheduler yields (setImmediate), so ACKs, new streams, /ready, /metrics and keepalives keep flowing.
//   A response that needs more CPU than a slice (the first resolution of an outbound view builds
//   thousands of resources) is produced over several turns: sendNext answers YIELD until it is ready.
// - At most `concurrency` writes in progress at once (istiod's PILOT_PUSH_THROTTLE) and at most
//   `maxBytesInFlight` bytes of them. A write is done when grpc-js has handed the message to HTTP/2
//   (its write callback): a client that does not read never completes it.
// - A write not done after `slowAfterMs` frees its concurrency slot: the stream is slow or stalled and
//   holds only its own (one) response, not a turn of the others. Its bytes still count: memory stays
//   bounded however many clients stop reading. A write that makes no progress for `sendTimeoutMs` (its
//   connection takes no data) cuts its stream (istiod's PILOT_XDS_SEND_TIMEOUT), returning its bytes; a
//   client that reads, however slowly, is not cut.
// Memory is O(streams) plus at most `maxBytesInFlight` of responses being written (one larger
// response goes out alone), whatever the rate of changes or requests or the clients' reading.

export interface PushSchedulerOptions {
  /** writes in progress at once, not counting slow ones (istiod's PILOT_PUSH_THROTTLE) */
  readonly concurrency: number;
  /** bytes of all writes in progress; one larger response still goes out alone */
  readonly maxBytesInFlight: number;
  /** a write still in progress after this long is slow: it no longer holds a concurrency slot */
  readonly slowAfterMs: number;
  /** a write in progress whose stream takes no data for this long cuts its stream */
  readonly sendTimeoutMs: number;
  /** CPU time spent producing responses before yielding to the event loop */
  readonly sliceMs: number;
}

/** data a connection must take between checks to count as progress (keepalive pings are 17 bytes) */
const MIN_PROGRESS_BYTES = 1024;

export const DEFAULT_PUSH_SCHEDULER_OPTIONS: PushSchedulerOptions = {
  concurrency: 100,
  maxBytesInFlight: 64 * 1024 * 1024,
  slowAfterMs: 1000,
  sendTimeoutMs: 30_000,
  sliceMs: 20,
};

/** sendNext's answer when its response is not ready within the slice: another turn, after a yield. */
export const YIELD = 'yield';

/** What the scheduler drives for each stream. */
export interface PushTarget<T> {
  /**
   * Produces and starts writing the stream's next response; `done` must be called once when the write
   * completes or fails. Returns the bytes written, or undefined when the stream needs nothing now, or
   * YIELD when producing the response needs more CPU than the slice has left (`deadline`, a
   * performance.now() time): it did part of the work and wants another turn after the event loop ran.
   */
  sendNext(item: T, done: (err?: Error | null) => void, deadline: number): number | undefined | typeof YIELD;
  /** The stream's write made no progress within the send timeout: cut it. */
  cut(item: T, pendingMs: number, bytes: number): void;
  /**
   * Bytes the stream's connection has taken so far, if known: a write whose connection keeps taking data
   * (at least 1 KiB between checks) is making progress, and is not cut.
   */
  progress?(item: T): number | undefined;
  /** a write completed (for metrics): its size and how long it took */
  onWriteDone?(item: T, bytes: number, ms: number): void;
}

interface Write {
  readonly bytes: number;
  readonly startedAt: number;
  /** when the connection last took data during this write, and how much it had taken then */
  progressAt: number;
  progressBytes: number | undefined;
  /** still holding a concurrency slot */
  counted: boolean;
}

export interface PushSchedulerStats {
  /** streams woken and waiting for their turn */
  readonly waiting: number;
  /** writes in progress (including slow ones) */
  readonly writing: number;
  readonly slow: number;
  /** bytes of all writes in progress */
  readonly bytesInFlight: number;
  readonly cut: number;
}

export class PushScheduler<T> {
  private readonly ready = new Set<T>();
  private readonly writes = new Map<T, Write>();
  private counted = 0;
  private allBytes = 0;
  private cutCount = 0;
  private scheduled = false;
  private watchdog: NodeJS.Timeout | undefined;
  private idleWaiters: (() => void)[] = [];
  private stopped = false;

  constructor(
    private readonly target: PushTarget<T>,
    private readonly options: PushSchedulerOptions = DEFAULT_PUSH_SCHEDULER_OPTIONS,
  ) {}

  /** The stream may have something to send: give it a turn (once, however often it is woken). */
  wake(item: T): void {
    if (this.stopped) return;
    this.ready.add(item);
    this.schedule();
  }

  /** A closed stream: forget it, and release what its write in progress held. */
  remove(item: T): void {
    this.ready.delete(item);
    this.release(item);
    this.checkIdle();
  }

  /** Whether the stream has a write in progress. */
  writing(item: T): boolean {
    return this.writes.has(item);
  }

  /** How long the stream's write in progress has been pending, and its size. */
  pendingWrite(item: T, now = performance.now()): { ms: number; bytes: number; slow: boolean } | undefined {
    const w = this.writes.get(item);
    return w && { ms: now - w.startedAt, bytes: w.bytes, slow: !w.counted };
  }

  get stats(): PushSchedulerStats {
    return {
      waiting: this.ready.size, writing: this.writes.size, slow: this.writes.size - this.counted,
      bytesInFlight: this.allBytes, cut: this.cutCount,
    };
  }

  /** Resolves when no stream is waiting for a turn and no write is in progress. */
  idle(): Promise<void> {
    if (this.isIdle) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  stop(): void {
    this.stopped = true;
    this.ready.clear();
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = undefined;
    for (const w of this.idleWaiters.splice(0)) w();
  }

  private get isIdle(): boolean {
    return this.ready.size === 0 && this.writes.size === 0;
  }

  private schedule(): void {
    if (this.scheduled || this.stopped || this.ready.size === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.runSlice();
    });
  }

  private get hasRoom(): boolean {
    return this.counted < this.options.concurrency && (this.writes.size === 0 || this.allBytes < this.options.maxBytesInFlight);
  }

  private runSlice(): void {
    const deadline = performance.now() + this.options.sliceMs;
    for (const item of this.ready) {
      if (!this.hasRoom) break;
      this.ready.delete(item);
      // a stream with a write in progress gets its next turn when that write is done
      if (this.writes.has(item)) continue;
      if (this.start(item, deadline) === YIELD) {
        // its response needs more work: the turn goes round, the event loop runs first
        this.ready.add(item);
        break;
      }
      if (performance.now() >= deadline) break;
    }
    if (this.hasRoom) this.schedule();
    this.checkIdle();
  }

  private start(item: T, deadline: number): typeof YIELD | undefined {
    let settled = false;
    let write: Write | undefined;
    const done = (): void => {
      if (settled) return;
      settled = true;
      // the write may have been released already (stream closed or cut)
      if (!write || this.writes.get(item) !== write) return;
      this.target.onWriteDone?.(item, write.bytes, performance.now() - write.startedAt);
      this.release(item);
      // its next response, if it wants one, after the others' turns
      this.ready.add(item);
      this.schedule();
      this.checkIdle();
    };
    const bytes = this.target.sendNext(item, done, deadline);
    if (bytes === undefined || bytes === YIELD) return bytes;
    const startedAt = performance.now();
    write = { bytes, startedAt, counted: true, progressAt: startedAt, progressBytes: this.target.progress?.(item) };
    this.writes.set(item, write);
    this.counted++;
    this.allBytes += bytes;
    this.armWatchdog();
    // grpc-js may complete a write synchronously when the message fits the flow-control window
    if (settled) {
      settled = false;
      done();
    }
    return undefined;
  }

  private release(item: T): void {
    const w = this.writes.get(item);
    if (!w) return;
    this.writes.delete(item);
    this.allBytes -= w.bytes;
    if (w.counted) this.counted--;
    if (this.writes.size === 0 && this.watchdog) {
      clearInterval(this.watchdog);
      this.watchdog = undefined;
    }
    this.schedule();
  }

  private armWatchdog(): void {
    if (this.watchdog) return;
    const every = Math.max(10, Math.min(this.options.slowAfterMs, this.options.sendTimeoutMs) / 4);
    this.watchdog = setInterval(() => this.checkWrites(), every);
    this.watchdog.unref();
  }

  private checkWrites(): void {
    const now = performance.now();
    for (const [item, w] of [...this.writes]) {
      const ms = now - w.startedAt;
      const taken = w.progressBytes === undefined ? undefined : this.target.progress?.(item);
      if (taken !== undefined && w.progressBytes !== undefined && taken - w.progressBytes >= MIN_PROGRESS_BYTES) {
        w.progressAt = now;
        w.progressBytes = taken;
      }
      if (now - w.progressAt >= this.options.sendTimeoutMs) {
        this.cutCount++;
        this.release(item);
        this.ready.delete(item);
        this.target.cut(item, ms, w.bytes);
      } else if (w.counted && ms >= this.options.slowAfterMs) {
        w.counted = false;
        this.counted--;
        this.schedule();
      }
    }
    this.checkIdle();
  }

  private checkIdle(): void {
    if (!this.isIdle) return;
    for (const w of this.idleWaiters.splice(0)) w();
  }
}
