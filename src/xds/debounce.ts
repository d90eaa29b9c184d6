// Coalesces bursts of config events into one push: fire after `quietMs` without events, but never later
// than `maxMs` after the first event of the burst (istiod's PILOT_DEBOUNCE_AFTER / PILOT_DEBOUNCE_MAX).

export interface DebounceOptions {
  readonly quietMs: number;
  readonly maxMs: number;
}

export class Debouncer<E> {
  private pending: E[] = [];
  private firstAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly options: DebounceOptions,
    private readonly fire: (events: E[], firstEventAt: number) => void,
  ) {}

  add(event: E): void {
    if (this.stopped) return;
    const now = Date.now();
    if (this.pending.length === 0) this.firstAt = now;
    this.pending.push(event);
    if (this.timer) clearTimeout(this.timer);
    const untilMax = this.firstAt + this.options.maxMs - now;
    this.timer = setTimeout(() => this.flush(), Math.max(0, Math.min(this.options.quietMs, untilMax)));
  }

  /** Fires now if anything is pending (used at start-up and shutdown). */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length === 0) return;
    const events = this.pending;
    this.pending = [];
    this.fire(events, this.firstAt);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = [];
  }
}
