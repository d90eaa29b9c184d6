// Pushes to proxies with bounded concurrency and at most one pending push per proxy: a proxy already
// waiting in the queue is not queued again (its push will use the newest snapshot when it runs), and a
// proxy being pushed to is re-queued once if a newer snapshot arrives meanwhile. Memory is O(proxies),
// whatever the rate of config changes or the speed of a slow proxy.

export class PushQueue<T> {
  private readonly waiting: T[] = [];
  private readonly queued = new Set<T>();
  private readonly running = new Set<T>();
  private readonly rerun = new Set<T>();
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly concurrency: number,
    private readonly work: (item: T) => Promise<void>,
    private readonly onError: (item: T, err: unknown) => void,
  ) {}

  enqueue(item: T): void {
    if (this.running.has(item)) {
      this.rerun.add(item);
      return;
    }
    if (this.queued.has(item)) return;
    this.queued.add(item);
    this.waiting.push(item);
    this.pump();
  }

  /** Drops a closed connection from the queue. */
  remove(item: T): void {
    this.queued.delete(item);
    this.rerun.delete(item);
    const i = this.waiting.indexOf(item);
    if (i >= 0) this.waiting.splice(i, 1);
    this.checkIdle();
  }

  get pending(): number {
    return this.waiting.length + this.running.size;
  }

  /** Resolves when nothing is queued or running. */
  idle(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private pump(): void {
    while (this.running.size < this.concurrency && this.waiting.length > 0) {
      const item = this.waiting.shift()!;
      this.queued.delete(item);
      this.running.add(item);
      void this.run(item);
    }
  }

  private async run(item: T): Promise<void> {
    try {
      await this.work(item);
    } catch (err) {
      this.onError(item, err);
    } finally {
      this.running.delete(item);
      if (this.rerun.delete(item)) this.enqueue(item);
      this.pump();
      this.checkIdle();
    }
  }

  private checkIdle(): void {
    if (this.pending > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
