import {
  type BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { TimerLoop } from '../common/timer-loop.js';
import { STRIKES_OPTIONS } from './strikes-options.provider.js';
import { clockMs, type ResolvedStrikesOptions } from './strikes.options.js';
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
  private readonly loop = new TimerLoop(() => this.sweep());
  private lastError: string | null = null;

  constructor(
    private readonly strikes: StrikesService,
    @Inject(STRIKES_OPTIONS) private readonly options: ResolvedStrikesOptions,
  ) {}

  onApplicationBootstrap(): void {
    this.loop.start();
  }

  beforeApplicationShutdown(): Promise<void> {
    return this.loop.stop();
  }

  /** One sweep; answers the wait until the next one. */
  private async sweep(): Promise<number> {
    const interval = this.options.expirySweepMs;
    try {
      let next = await this.strikes.nextBlockExpiry();
      if (next !== null && next <= clockMs(this.options)) {
        await this.strikes.endExpiredBlocks();
        next = await this.strikes.nextBlockExpiry();
      }
      this.lastError = null;
      if (next === null) return interval;
      return Math.max(0, Math.min(interval, next - clockMs(this.options) + 1));
    } catch (error) {
      const message = (error as Error).message;
      if (message !== this.lastError)
        this.logger.warn(`could not end timed blocks (retrying): ${message}`);
      this.lastError = message;
      return interval;
    }
  }
}
