import {
  type BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { STRIKES_OPTIONS } from './strikes-options.provider.js';
import { type ResolvedStrikesOptions } from './strikes.options.js';
import { StrikesService } from './strikes.service.js';

/**
 * Ends timed blocks on time, on every instance: every `expirySweepMs`, and at the moment the next
 * one ends when that comes sooner. Runs whatever `blockFor` says now: a block given a time under an
 * earlier setting still ends then. Failures (the database away) are logged and retried; the
 * refusal ends at `blockedUntil` meanwhile, since the gate compares times.
 */
@Injectable()
export class BlockExpirySweeper implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('Strikes');
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = true;
  private lastError: string | null = null;

  constructor(
    private readonly strikes: StrikesService,
    @Inject(STRIKES_OPTIONS) private readonly options: ResolvedStrikesOptions,
  ) {}

  onApplicationBootstrap(): void {
    this.stopped = false;
    this.schedule(0);
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private now(): number {
    return this.options.clock ? this.options.clock().getTime() : Date.now();
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.sweep().then((next) => this.schedule(next));
    }, ms);
    this.timer.unref();
  }

  /** One sweep; answers the wait until the next one. */
  private async sweep(): Promise<number> {
    const interval = this.options.expirySweepMs;
    try {
      let next = await this.strikes.nextBlockExpiry();
      if (next !== null && next <= this.now()) {
        await this.strikes.endExpiredBlocks();
        next = await this.strikes.nextBlockExpiry();
      }
      this.lastError = null;
      if (next === null) return interval;
      return Math.max(0, Math.min(interval, next - this.now() + 1));
    } catch (error) {
      const message = (error as Error).message;
      if (message !== this.lastError)
        this.logger.warn(`could not end timed blocks (retrying): ${message}`);
      this.lastError = message;
      return interval;
    }
  }
}
