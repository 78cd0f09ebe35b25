import { AsyncResource } from 'node:async_hooks';
import {
  type BeforeApplicationShutdown,
  Injectable,
  Logger,
  type OnModuleInit,
} from '@nestjs/common';
import { type AuditEvent } from '../audit/audit-record.js';
import { AuditService } from '../audit/audit.service.js';
import { metrics } from '../common/metrics.js';
import { type LoginLane } from './login-throttle.store.js';

/** Windows per `recordMany` (one transaction, one fsync). */
const FLUSH_BATCH = 500;
const TICK_MS = 1000;
/** Appends tried for one batch before its counts are given up (logged and counted). */
const MAX_TRIES = 30;

interface Window {
  key: string;
  userId: string | null;
  /** null: a window of a source (its refusals on any account). */
  account: string | null;
  lanes: Set<LoginLane>;
  sources: Set<string>;
  count: number;
  from: number;
  to: number;
}

/** Sources one event lists at most (the count covers them all). */
const MAX_SOURCES = 16;

/**
 * `auth.login_throttled`, one per account per window (default a minute) with a count: a flood of
 * refused attempts costs memory for one window per account, never a record per attempt. Windows
 * are recorded in the background when they end, many per append; the oldest is closed early when
 * `maxKeys` are open, and every open one at shutdown.
 */
@Injectable()
export class ThrottledEventsCoalescer implements OnModuleInit, BeforeApplicationShutdown {
  private readonly logger = new Logger('LoginThrottle');
  private readonly open = new Map<string, Window>();
  private readonly due: Window[] = [];
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  /** Bound where the coalescer is made, outside any request: records never take a request's context. */
  private readonly drainOutside = AsyncResource.bind(() => this.drain());

  constructor(private readonly audit: AuditService) {}

  windowMs = 60_000;
  maxKeys = 10_000;

  add(entry: {
    key: string;
    account: string | null;
    userId: string | null;
    lanes: LoginLane[];
    source: string;
  }): void {
    const now = Date.now();
    let window = this.open.get(entry.key);
    if (window && now - window.from >= this.windowMs) {
      this.close(window);
      window = undefined;
    }
    if (!window) {
      if (this.open.size >= this.maxKeys) this.close(this.open.values().next().value!);
      window = {
        key: entry.key,
        userId: entry.userId,
        account: entry.account,
        lanes: new Set(),
        sources: new Set(),
        count: 0,
        from: now,
        to: now,
      };
      this.open.set(entry.key, window);
    }
    window.userId ??= entry.userId;
    window.count += 1;
    window.to = now;
    for (const lane of entry.lanes) window.lanes.add(lane);
    if (window.sources.size < MAX_SOURCES) window.sources.add(entry.source);
  }

  /** Closes the windows of one account now (its lanes were cleared), so counts do not straddle it. */
  closeAccount(key: string): void {
    const window = this.open.get(key);
    if (window) this.close(window);
  }

  /** Started here, outside any request: its ticks must not carry a request's audit context. */
  onModuleInit(): void {
    this.timer = setInterval(() => this.tick(), TICK_MS).unref();
  }

  async beforeApplicationShutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.flush();
  }

  /** Records every open window now: at shutdown, and for tests. */
  async flush(): Promise<void> {
    for (const window of [...this.open.values()]) this.close(window);
    await this.drainOutside();
  }

  private tick(): void {
    const now = Date.now();
    for (const window of this.open.values()) {
      if (now - window.from < this.windowMs) break; // oldest first
      this.close(window);
    }
    void this.drainOutside();
  }

  private close(window: Window): void {
    this.open.delete(window.key);
    this.due.push(window);
  }

  private drain(): Promise<void> {
    if (this.flushing) return this.flushing;
    if (!this.due.length) return Promise.resolve();
    this.flushing = (async () => {
      await Promise.resolve(); // so that the finally below runs after this assignment
      try {
        let failures = 0;
        while (this.due.length) {
          const batch = this.due.splice(0, FLUSH_BATCH);
          try {
            await this.audit.recordMany(batch.map(eventOf), { evenIfOverloaded: true });
            failures = 0;
          } catch (error) {
            failures += 1;
            const giveUp = failures >= MAX_TRIES;
            if (!giveUp) this.due.unshift(...batch);
            this.logger.error(
              `could not record ${batch.length} auth.login_throttled events ` +
                `(${giveUp ? 'dropped after ' + MAX_TRIES + ' tries' : 'retrying'}): ${(error as Error).message}`,
            );
            if (giveUp) {
              metrics.loginThrottledUnrecorded.inc(batch.reduce((n, w) => n + w.count, 0));
              failures = 0;
            } else await new Promise((resolve) => setTimeout(resolve, TICK_MS).unref());
          }
        }
      } finally {
        this.flushing = null;
      }
    })();
    return this.flushing;
  }
}

function eventOf(window: Window): AuditEvent {
  return {
    type: 'auth.login_throttled',
    occurredAt: new Date(window.from).toISOString(),
    userId: window.userId ?? 'unknown',
    outcome: 'denied',
    threat: 'medium',
    entityType: window.account === null ? 'source' : 'user',
    targetId: window.account === null ? [...window.sources][0] : window.userId,
    description: `${window.count} login attempt(s) refused without checking the password`,
    details: {
      ...(window.account !== null ? { account: window.account } : {}),
      count: window.count,
      lanes: [...window.lanes].sort(),
      sources: [...window.sources].sort(),
      from: new Date(window.from).toISOString(),
      to: new Date(window.to).toISOString(),
    },
  };
}
