import {
  type BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  type OnApplicationShutdown,
  Optional,
} from '@nestjs/common';
import { createHash } from 'node:crypto';
import { type AuditEvent } from '../audit/audit-record.js';
import { AuditService } from '../audit/audit.service.js';
import { metrics } from '../common/metrics.js';
import { type RefusalReason } from './strike-refusal.exception.js';
import { requireAudit } from './strikes-setup.error.js';
import { STRIKES_OPTIONS } from './strikes-options.provider.js';
import { type ResolvedStrikesOptions } from './strikes.options.js';

const WINDOW_MS = 60_000;
const SWEEP_MS = 10_000;
/** Closed windows per `recordMany` (one transaction, one fsync). */
const FLUSH_BATCH = 500;
/** Closed windows waiting for their record, at least (accessDeniedWindows if larger). */
const MIN_DUE = 10_000;

/** The verified token a refusal is about: never the spelling of a header. */
export interface DeniedToken {
  userId: string;
  sessionVersion: number;
  /** `iat` of the token; null when the host's principal has none (then per user and version). */
  issuedAt: number | null;
}

interface Window {
  key: string;
  userId: string;
  reason: RefusalReason;
  startedAt: number;
  /** Refusals not recorded yet: they go into the window's coalesced record. */
  repeats: number;
  /** Taken by the flusher: later counts need a window of their own. */
  taken: boolean;
}

/**
 * `access.denied` events, one per token per minute: the first refusal of a token is recorded at
 * once; further refusals of it within the minute are counted and recorded as one event carrying
 * the count when the minute is over — a client hammering with a dead token cannot flood the log.
 *
 * A token is what was verified (user, session version, issue time), so `bearer T`, `Bearer  T`
 * and `Bearer T junk` are one token. At most `accessDeniedWindows` windows are open: a new token
 * past that closes the oldest window early. Closed windows are recorded in the background, many
 * per append; a request only ever waits for its own first refusal to be recorded.
 */
@Injectable()
export class AccessDeniedCoalescer implements BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new Logger('Strikes');
  /** Open windows by key, oldest first (a window reopened after its minute goes to the end). */
  private readonly open = new Map<string, Window>();
  /** Closed windows whose counts are not recorded yet, oldest first. */
  private readonly due: Window[] = [];
  private flushing: Promise<void> | null = null;
  /** After a failed flush, the next attempt waits for the sweeper (no retry storm). */
  private retryAt = 0;
  private readonly sweeper: NodeJS.Timeout;
  private readonly audit: AuditService;
  private readonly maxWindows: number;
  private readonly maxDue: number;

  constructor(
    @Optional() @Inject(AuditService) audit: AuditService | undefined,
    @Inject(STRIKES_OPTIONS) options: ResolvedStrikesOptions,
  ) {
    this.audit = requireAudit(audit);
    this.maxWindows = options.accessDeniedWindows;
    this.maxDue = Math.max(MIN_DUE, this.maxWindows);
    this.sweeper = setInterval(() => this.tick(), SWEEP_MS);
    this.sweeper.unref();
  }

  /** Windows open now (at most `accessDeniedWindows`). */
  get openWindows(): number {
    return this.open.size;
  }

  /** Closed windows whose counts wait for the background flush. */
  get pendingWindows(): number {
    return this.due.length;
  }

  /** Before the database and the log file close (TypeORM and AuditService shut down later). */
  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.sweeper);
    await this.flush();
  }

  /** What was refused while the HTTP server drained: recorded if the audit trail still can. */
  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.sweeper);
    await this.flush();
    if (this.due.length)
      this.giveUp(this.due.splice(0), 'the audit trail refused them at shutdown');
  }

  /**
   * Closes every open window and records the counts of all closed ones; resolves when they are
   * recorded (or the attempt failed, which is logged: the counts stay queued for a retry).
   */
  async flush(): Promise<void> {
    this.retryAt = 0;
    this.sweep(Infinity);
    await this.flushing;
    if (this.due.length) await this.startFlush();
  }

  /**
   * Records (or counts) one refusal of `token`. Resolves once recorded when it opens a window,
   * at once when it is counted in an open one.
   */
  async denied(token: DeniedToken, reason: RefusalReason): Promise<void> {
    const key = keyOf(token, reason);
    const now = Date.now();
    const current = this.open.get(key);
    if (current && now - current.startedAt < WINDOW_MS) {
      current.repeats++;
      return;
    }
    if (current) this.close(current);
    // The oldest windows are closed early, never all of them, and never flushed in this request.
    for (const oldest of this.open.values()) {
      if (this.open.size < this.maxWindows) break;
      this.close(oldest);
    }
    const window: Window = {
      key,
      userId: token.userId,
      reason,
      startedAt: now,
      repeats: 0,
      taken: false,
    };
    this.open.set(key, window);
    try {
      await this.audit.record({
        type: 'access.denied',
        userId: token.userId,
        outcome: 'denied',
        threat: threatOf(reason),
        entityType: 'session',
        description: reason,
        details: { reason, token: key, count: 1 },
      });
    } catch (error) {
      // This request fails (the audit trail refused); its refusal is counted with the window's.
      this.countLater(window);
      throw error;
    }
  }

  /** One more unrecorded refusal for `window`, or for a fresh closed one if it is being flushed. */
  private countLater(window: Window): void {
    if (!window.taken) {
      window.repeats++;
      if (!this.open.has(window.key) && !this.due.includes(window)) this.enqueue(window);
      return;
    }
    this.enqueue({ ...window, repeats: 1, taken: false });
  }

  /** Closes the windows that started at or before `olderThan` and flushes them in the background. */
  private sweep(olderThan: number): void {
    for (const window of this.open.values()) {
      if (window.startedAt > olderThan) break; // oldest first: the rest are younger
      this.open.delete(window.key);
      if (window.repeats > 0) this.due.push(window);
    }
    this.trimDue();
    if (this.due.length && !this.flushing) void this.startFlush();
  }

  /** Called by the sweeper: a failed flush is retried here. */
  private tick(): void {
    this.retryAt = 0;
    this.sweep(Date.now() - WINDOW_MS);
  }

  private close(window: Window): void {
    this.open.delete(window.key);
    if (window.repeats > 0) this.enqueue(window);
  }

  private enqueue(window: Window): void {
    this.due.push(window);
    this.trimDue();
    if (!this.flushing && Date.now() >= this.retryAt) void this.startFlush();
  }

  /**
   * While the audit trail cannot take them (down, or slower than the refusals), closed windows
   * wait, at most `maxDue` of them (small records: 10,000, or as many as may be open): past that the oldest counts are given up — logged and
   * counted (`strikeguard_access_denied_unrecorded_total`), never silently.
   */
  private trimDue(): void {
    const excess = this.due.length - this.maxDue;
    if (excess > 0)
      this.giveUp(this.due.splice(0, excess), 'the audit trail has not taken their counts in time');
  }

  private giveUp(windows: Window[], why: string): void {
    const refusals = windows.reduce((n, w) => n + w.repeats, 0);
    metrics.accessDeniedUnrecorded.inc(refusals);
    this.logger.error(
      `${refusals} refusal(s) of ${windows.length} dead token(s) could not be recorded as ` +
        `access.denied: ${why}`,
    );
  }

  /** Records the closed windows, FLUSH_BATCH per append, one flush at a time. */
  private startFlush(): Promise<void> {
    this.flushing ??= (async () => {
      // A timer tick or a request started this; the records carry no request context.
      await new Promise<void>((resolve) => setImmediate(resolve));
      while (this.due.length) {
        const batch = this.due.splice(0, FLUSH_BATCH);
        for (const w of batch) w.taken = true;
        try {
          await this.audit.recordMany(batch.map(coalescedEvent));
        } catch (error) {
          for (const w of batch) w.taken = false;
          this.due.unshift(...batch);
          this.trimDue();
          this.retryAt = Date.now() + SWEEP_MS;
          this.logger.warn(
            `access.denied counts of ${batch.length} token(s) not recorded yet, retried in ` +
              `${SWEEP_MS / 1000} s: ${(error as Error).message}`,
          );
          return;
        }
      }
    })().finally(() => (this.flushing = null));
    return this.flushing;
  }
}

function keyOf(token: DeniedToken, reason: RefusalReason): string {
  // Per token and reason: after an unblock, a token's refusals are a different story.
  const issued = token.issuedAt === null ? '-' : String(token.issuedAt);
  return createHash('sha256')
    .update(`${reason}\u0000${token.userId}\u0000${token.sessionVersion}\u0000${issued}`)
    .digest('hex')
    .slice(0, 32);
}

function threatOf(reason: RefusalReason): 'low' | 'medium' {
  return reason === 'account_blocked' ? 'medium' : 'low';
}

function coalescedEvent(window: Window): AuditEvent {
  return {
    type: 'access.denied',
    userId: window.userId,
    outcome: 'denied',
    threat: threatOf(window.reason),
    entityType: 'session',
    description: `${window.reason} (repeated)`,
    details: {
      reason: window.reason,
      token: window.key,
      count: window.repeats,
      coalesced: true,
      since: new Date(window.startedAt).toISOString(),
    },
    actorId: null,
    ip: null,
    method: null,
    path: null,
  };
}
