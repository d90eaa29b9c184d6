// The loop behind every object meshd keeps current in the cluster (root-cert ConfigMaps, webhook caBundles):
// a pass runs at start, whenever something it depends on changes, and periodically to repair what others
// edited. Triggers during a pass coalesce into exactly one more pass, so a burst of namespace events costs
// two passes, not one per event.

export class PeriodicSync {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private halted = false;

  /**
   * @param pass one reconcile pass; it should check `stopped` between writes
   * @param periodMs time between the end of a pass and the next periodic one
   * @param beforePeriodic runs before each periodic pass (e.g. to forget what was confirmed, so the pass re-checks everything)
   */
  constructor(
    private readonly pass: () => Promise<void>,
    private readonly periodMs: number,
    private readonly beforePeriodic: () => void = () => {},
  ) {}

  get stopped(): boolean {
    return this.halted;
  }

  start(): void {
    this.schedule(0);
  }

  stop(): void {
    this.halted = true;
    if (this.timer) clearTimeout(this.timer);
  }

  /** Something changed: run a pass now. */
  trigger(): void {
    this.schedule(0);
  }

  /** One pass; a call while one runs makes one more pass after it and resolves with the running one. */
  sync(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.pass().finally(() => {
      this.running = undefined;
      if (this.again && !this.halted) {
        this.again = false;
        void this.sync();
      }
    });
    return this.running;
  }

  private schedule(ms: number): void {
    if (this.halted) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      void this.sync().finally(() => {
        if (this.halted) return;
        this.timer = setTimeout(() => {
          this.beforePeriodic();
          this.schedule(0);
        }, this.periodMs);
        this.timer.unref();
      });
    }, ms);
    this.timer.unref();
  }
}
