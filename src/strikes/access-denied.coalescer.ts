import { Inject, Injectable, type OnApplicationShutdown, Optional } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { AuditService } from '../audit/audit.service.js';
import { type RefusalReason } from './strike-refusal.exception.js';
import { requireAudit } from './strikes-setup.error.js';

const WINDOW_MS = 60_000;
const SWEEP_MS = 10_000;
const MAX_TOKENS = 100_000;

interface Window {
  userId: string;
  reason: RefusalReason;
  startedAt: number;
  repeats: number;
}

/**
 * `access.denied` events, one per token per minute: the first refusal of a token is recorded at
 * once; further refusals of it within the minute are counted and recorded as one event carrying
 * the count when the minute is over — a client hammering with a dead token cannot flood the log.
 */
@Injectable()
export class AccessDeniedCoalescer implements OnApplicationShutdown {
  private readonly windows = new Map<string, Window>();
  private readonly sweeper: NodeJS.Timeout;

  private readonly audit: AuditService;

  constructor(@Optional() @Inject(AuditService) audit: AuditService | undefined) {
    this.audit = requireAudit(audit);
    this.sweeper = setInterval(() => void this.sweep(Date.now() - WINDOW_MS), SWEEP_MS);
    this.sweeper.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.sweeper);
    await this.sweep(Infinity);
  }

  /** Records (or counts) one refusal of `token` for `userId`. */
  async denied(token: string, userId: string, reason: RefusalReason): Promise<void> {
    // Per token and reason: after an unblock, a token's refusals are a different story.
    const key = createHash('sha256').update(`${reason}\u0000${token}`).digest('hex').slice(0, 32);
    const now = Date.now();
    const open = this.windows.get(key);
    if (open && now - open.startedAt < WINDOW_MS) {
      open.repeats++;
      return;
    }
    if (open) await this.flush(key, open);
    if (this.windows.size >= MAX_TOKENS) await this.sweep(Infinity);
    this.windows.set(key, { userId, reason, startedAt: now, repeats: 0 });
    await this.audit.record({
      type: 'access.denied',
      userId,
      outcome: 'denied',
      threat: reason === 'account_blocked' ? 'medium' : 'low',
      entityType: 'session',
      description: reason,
      details: { reason, token: key, count: 1 },
    });
  }

  private async sweep(olderThan: number): Promise<void> {
    for (const [key, window] of this.windows) {
      if (window.startedAt <= olderThan) await this.flush(key, window);
    }
  }

  private async flush(key: string, window: Window): Promise<void> {
    this.windows.delete(key);
    if (window.repeats === 0) return;
    await this.audit
      .record({
        type: 'access.denied',
        userId: window.userId,
        outcome: 'denied',
        threat: window.reason === 'account_blocked' ? 'medium' : 'low',
        entityType: 'session',
        description: `${window.reason} (repeated)`,
        details: {
          reason: window.reason,
          token: key,
          count: window.repeats,
          coalesced: true,
          since: new Date(window.startedAt).toISOString(),
        },
        actorId: null,
        ip: null,
        method: null,
        path: null,
      })
      .catch(() => {
        // Counted repeats are best effort; the first refusal of each token was recorded.
      });
  }
}
