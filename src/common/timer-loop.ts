/**
 * A background pass run again and again off the request path: the first `start(delay)` after
 * it, each next one when the pass says (its answer, in ms). Never two passes at once; the timer
 * does not keep the process alive; `stop()` waits for a pass in flight, so a service stops it
 * before its database closes (`beforeApplicationShutdown`). The pass handles its own errors; one
 * it lets through is dropped and the pass runs again after the last wait (a second at least).
 */
export class TimerLoop {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = true;
  private lastDelayMs = 0;

  constructor(private readonly pass: () => Promise<number>) {}

  start(delayMs = 0): void {
    this.stopped = false;
    this.schedule(delayMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.lastDelayMs = ms;
    this.timer = setTimeout(() => {
      this.running = this.pass().then(
        (next) => this.schedule(next),
        () => this.schedule(Math.max(this.lastDelayMs, 1000)),
      );
    }, ms);
    this.timer.unref();
  }
}
