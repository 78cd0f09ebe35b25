import {
  Inject,
  Injectable,
  Logger,
  type OnModuleInit,
  Optional,
  ServiceUnavailableException,
} from '@nestjs/common';
import { type Request } from 'express';
import { type DataSource, type EntityManager } from 'typeorm';
import { currentRequestContext } from '../audit/audit-context.js';
import { type AuditEvent } from '../audit/audit-record.js';
import { AuditService } from '../audit/audit.service.js';
import { STRIKES_DATA_SOURCE } from './strikes-data-source.provider.js';
import { isDatabaseUnavailable } from '../common/database-errors.js';
import { metrics } from '../common/metrics.js';
import { OverloadedError } from '../common/overloaded.error.js';
import { OverloadedException, sendRetryAfter } from '../common/overloaded.exception.js';
import { storableText } from '../common/storable-text.js';
import { PrincipalResolver } from './principal.resolver.js';
import { isBlocked, SessionGate } from './session.gate.js';
import { SessionStateCache } from './session-state.cache.js';
import {
  type SessionState,
  type StrikeCounter,
  StrikeCounterStore,
  type ViolationOutcome,
} from './strike-counter.store.js';
import { StrikeRefusalException } from './strike-refusal.exception.js';
import { STRIKES_OPTIONS } from './strikes-options.provider.js';
import { requireAudit, StrikesSetupError } from './strikes-setup.error.js';
import { type ResolvedStrikesOptions } from './strikes.options.js';
import { UnmappablePrincipalException } from './unmappable-principal.exception.js';
import { type UserId, userKey } from './user-id.js';
import { type Violation, violationOf } from './violation-policy.js';

/** The claims a host puts in a session token it issues (see `StrikesService.loginClaims`). */
export interface StrikesTokenClaims {
  /** The user's session version: a token whose `sv` is older is refused (`session_terminated`). */
  sv: number;
}

/** What recording a violation did. */
export interface ViolationResult {
  counter: StrikeCounter;
  terminated: boolean;
  blocked: boolean;
  /** The termination or block was a monitor-mode one: recorded, nothing refused. */
  simulated: boolean;
}

/** The actor of what strikeguard does by itself (a timed block that ends). */
export const SYSTEM_ACTOR = 'system';

interface Pending {
  userId: string;
  weight: number;
  reason: string;
  /** Monitor mode, or a monitored rule: its crossings are simulated. */
  simulated: boolean;
  context: {
    actorId: string | null;
    ip: string | null;
    method: string | null;
    path: string | null;
  };
  resolve(result: ViolationResult): void;
  reject(error: unknown): void;
}

const DEADLOCK = '40P01';
/** Timed blocks one sweep transaction ends at most. */
const EXPIRY_BATCH = 100;
const MAX_RETRIES = 5;
/** Overload refusals are logged at most this often (with their count), not once each. */
const OVERLOAD_LOG_MS = 10_000;

/**
 * Strike counters: enrollment, violations, unblocking, session state. Violations from concurrent
 * requests are batched into one transaction (one commit, one audit append for all of them); each
 * caller's promise resolves once its strike and events are committed and in the log file. At most
 * `maxPendingViolations` are accepted and unsettled at once: past that a violation is refused at
 * once (OverloadedError; its request gets 503 `overloaded` with `Retry-After`), never dropped.
 */
@Injectable()
export class StrikesService implements OnModuleInit {
  private readonly logger = new Logger('Strikes');
  private readonly audit: AuditService;
  private queue: Pending[] = [];
  private inFlight = 0;
  /** Violations accepted and not settled yet: queued or in a transaction. */
  private pending = 0;
  private overloadsSinceLog = 0;
  private overloadLoggedAt = 0;

  constructor(
    @Inject(STRIKES_DATA_SOURCE) private readonly dataSource: DataSource,
    @Optional() @Inject(AuditService) audit: AuditService | undefined,
    @Inject(STRIKES_OPTIONS) private readonly options: ResolvedStrikesOptions,
    private readonly store: StrikeCounterStore,
    private readonly cache: SessionStateCache,
    private readonly principals: PrincipalResolver,
    private readonly gate: SessionGate,
  ) {
    this.audit = requireAudit(audit);
  }

  async onModuleInit(): Promise<void> {
    if (!(await this.store.tableExists())) {
      throw new StrikesSetupError(
        'the strike_counters table does not exist: add strikeguardMigrations to your TypeORM ' +
          'migrations (migrations: [...yours, ...strikeguardMigrations]) and run them ' +
          '(migrationsRun: true, or the TypeORM CLI)',
      );
    }
  }

  /**
   * The login gate: call it after the password (or other credential) checked out and before
   * issuing a token. Answers the claims the token must carry (`sv`); throws StrikeRefusalException
   * (`account_blocked`, 403) for a blocked account — only after a correct credential, so the
   * block reveals nothing to a guesser.
   */
  async loginClaims(userId: UserId): Promise<StrikesTokenClaims> {
    const state = await this.store.sessionState(userKey(userId));
    if (isBlocked(state, this.options)) throw new StrikeRefusalException('account_blocked');
    return { sv: state?.sessionVersion ?? 0 };
  }

  /**
   * Creates a user's counter inside the transaction that creates the user (pass its manager), with
   * a `strike_counter.created` event: no user exists without a counter.
   */
  async enroll(id: UserId, manager: EntityManager): Promise<void> {
    const userId = userKey(id);
    if (await this.store.enroll(manager, userId)) {
      await this.audit.record(
        { type: 'strike_counter.created', userId, entityType: 'strike_counter', targetId: userId },
        { manager },
      );
    }
  }

  /** Enrolls users that have no counter yet (backfill); answers how many were created. */
  async enrollMany(ids: UserId[]): Promise<number> {
    let created = 0;
    for (const userId of ids.map(userKey)) {
      await this.dataSource.transaction(async (manager) => {
        if (await this.store.enroll(manager, userId)) {
          created++;
          await this.audit.record(
            {
              type: 'strike_counter.created',
              userId,
              entityType: 'strike_counter',
              targetId: userId,
              details: { backfill: true },
            },
            { manager },
          );
        }
      });
    }
    return created;
  }

  /**
   * Charges a violation of `weight` to a user. Resolves once the counter change and its events
   * (`strike.recorded`, and `session.terminated` / `account.blocked` when a threshold is crossed)
   * are committed together and in the log file.
   */
  recordViolation(
    id: UserId,
    weight = 1,
    reason = 'violation',
    options: { monitor?: boolean } = {},
  ): Promise<ViolationResult> {
    let userId: string;
    try {
      userId = userKey(id);
    } catch (error) {
      return Promise.reject(error);
    }
    if (!Number.isSafeInteger(weight) || weight < 1)
      return Promise.reject(new TypeError('weight must be a positive integer'));
    if (typeof reason !== 'string') return Promise.reject(new TypeError('reason must be a string'));
    if (options.monitor !== undefined && typeof options.monitor !== 'boolean')
      return Promise.reject(new TypeError('monitor must be a boolean'));
    const simulated = this.options.mode === 'monitor' || options.monitor === true;
    // The batch runs in whichever request started it: take this request's context now.
    const request = currentRequestContext((r) => this.audit.actorOf(r));
    const context = {
      actorId: request?.actorId ?? null,
      ip: request?.ip ?? null,
      method: request?.method ?? null,
      path: request?.path ?? null,
    };
    if (this.pending >= this.options.maxPendingViolations) {
      metrics.overloaded.inc({ queue: 'violations' });
      return Promise.reject(new OverloadedError('violations', this.options.maxPendingViolations));
    }
    this.pending++;
    return new Promise<ViolationResult>((resolve, reject) => {
      this.queue.push({
        userId,
        weight,
        // A reason may quote client input: it must never make the strike unrecordable.
        reason: storableText(reason, 1024) || 'violation',
        simulated,
        context,
        resolve,
        reject,
      });
      this.drain();
    }).finally(() => this.pending--);
  }

  /**
   * Charges the request's user when `exception` is a violation, and answers what to respond with:
   * the exception itself (the violating request keeps its own response); the refusal when the
   * session is already dead (a dead session is refused, never charged); or a 503 when the strike
   * could not be recorded and the module fails closed — a violation is never silently dropped.
   * Synchronous when there is nothing to charge. Idempotent per request: the guard's filter, the
   * interceptor and a host's own filter may all call it.
   */
  chargeForException(exception: unknown, request: Request): unknown {
    if (
      exception instanceof StrikeRefusalException ||
      exception instanceof UnmappablePrincipalException
    )
      return exception;
    let principal;
    try {
      principal = this.principals.resolve(request);
    } catch (refusal) {
      return refusal;
    }
    if (!principal) return exception;
    const violation = violationOf(exception, request, principal, this.options);
    let live: true | Promise<true>;
    try {
      live = this.gate.check(request, principal);
    } catch (refusal) {
      return refusal;
    }
    if (live === true) return violation ? this.charge(violation, exception, request) : exception;
    return live.then(
      () => (violation ? this.charge(violation, exception, request) : exception),
      (refusal: unknown) => refusal,
    );
  }

  private async charge(
    violation: Violation,
    exception: unknown,
    request: Request,
  ): Promise<unknown> {
    try {
      await this.recordViolation(violation.userId, violation.weight, violation.reason, {
        monitor: violation.monitor,
      });
      return exception;
    } catch (error) {
      if (error instanceof OverloadedError) return this.overloaded(error, exception, request);
      this.logger.error(
        `violation by ${violation.userId} not recorded: ${(error as Error).message}`,
      );
      if (!this.options.failClosed) return exception;
      return new ServiceUnavailableException(
        {
          statusCode: 503,
          error: 'Service Unavailable',
          message:
            'the violation could not be recorded, so the request is refused; try again later',
          reason: 'database_unavailable',
        },
        { cause: error },
      );
    }
  }

  /**
   * A violation refused because `maxPendingViolations` are waiting: the request is refused with
   * 503 `overloaded` and `Retry-After` (fail closed: it never goes through uncounted). Logged once
   * per interval with the number refused, not once each.
   */
  private overloaded(error: OverloadedError, exception: unknown, request: Request): unknown {
    this.overloadsSinceLog++;
    const now = Date.now();
    if (now - this.overloadLoggedAt >= OVERLOAD_LOG_MS) {
      this.logger.warn(
        `${this.overloadsSinceLog} violation(s) refused with 503: ${error.message}` +
          (this.options.failClosed
            ? ''
            : ' (failClosed is off: their requests were answered as thrown, uncounted)'),
      );
      this.overloadLoggedAt = now;
      this.overloadsSinceLog = 0;
    }
    if (!this.options.failClosed) return exception;
    sendRetryAfter((request as Request & { res?: unknown }).res, error.retryAfterSeconds);
    return OverloadedException.from(
      error,
      'too many violations are waiting to be recorded, so this request is refused; try again later',
    );
  }

  /** Unblocks an account and resets its counters; `account.unblocked` names the actor and reason. */
  async unblock(id: UserId, actorId: string | null, reason: string): Promise<StrikeCounter | null> {
    const userId = userKey(id);
    const result = await this.dataSource.transaction(async (manager) => {
      const changed = await this.store.unblock(manager, userId);
      if (!changed) return null;
      await this.store.notify(manager, userId);
      await this.audit.record(
        {
          type: 'account.unblocked',
          userId,
          actorId,
          entityType: 'strike_counter',
          targetId: userId,
          description: reason,
          details: {
            reason,
            wasBlocked: changed.wasBlocked,
            ...(changed.wasSimulated && { simulated: true }),
          },
        },
        { manager },
      );
      return changed.counter;
    });
    if (result) {
      metrics.unblocks.inc();
      this.cache.invalidate(userId);
      await this.hook(this.options.onUnblocked, userId, result);
    }
    return result;
  }

  /**
   * Ends every timed block whose time has come, each with an `account.unblocked` event by the
   * system, and answers how many (BlockExpirySweeper calls it on every instance; a block is
   * ended once). The refusal itself ended at `blockedUntil` already: the gate compares times.
   */
  async endExpiredBlocks(): Promise<number> {
    let ended = 0;
    for (;;) {
      const expired = await this.dataSource.transaction(async (manager) => {
        const rows = await this.store.expireBlocks(manager, EXPIRY_BATCH);
        for (const r of rows) await this.store.notify(manager, r.counter.userId);
        if (rows.length > 0)
          await this.audit.recordMany(
            rows.map((r) => blockEndedEvent(r.counter.userId, r.simulated, 'expired', r)),
            { manager },
          );
        return rows;
      });
      for (const r of expired) {
        this.cache.invalidate(r.counter.userId);
        metrics.blockExpiries.inc();
        if (!r.simulated) await this.hook(this.options.onUnblocked, r.counter.userId, r.counter);
      }
      ended += expired.length;
      if (expired.length < EXPIRY_BATCH) return ended;
    }
  }

  /** When the next timed block ends (ms since the epoch), null when none is running. */
  nextBlockExpiry(): Promise<number | null> {
    return this.store.nextExpiry();
  }

  /** Ends every session of a user (logout): tokens issued before are refused from now on. */
  async endSessions(id: UserId, event: Omit<AuditEvent, 'userId'>): Promise<number | null> {
    const userId = userKey(id);
    const version = await this.dataSource.transaction(async (manager) => {
      const v = await this.store.bumpSession(manager, userId);
      if (v === null) return null;
      await this.store.notify(manager, userId);
      await this.audit.record({ ...event, userId }, { manager });
      return v;
    });
    this.cache.invalidate(userId);
    return version;
  }

  /** Violations accepted and not settled yet (queued or in a transaction); at most `maxPendingViolations`. */
  get pendingViolations(): number {
    return this.pending;
  }

  /** The session state the guard checks: from the cache, else from the database (then cached). */
  async sessionState(userId: UserId): Promise<SessionState | null> {
    return this.cache.read(userKey(userId));
  }

  find(userId: UserId): Promise<StrikeCounter | null> {
    return this.store.find(userKey(userId));
  }

  list(
    status: 'active' | 'blocked' | undefined,
    limit: number,
    afterUserId?: string,
  ): Promise<StrikeCounter[]> {
    return this.store.list(status, limit, afterUserId);
  }

  /**
   * Up to `concurrency` batches in flight, each in its own transaction: their UPDATEs overlap and
   * only the chain-head append at the end of each is serialised. Rows are locked in user-id order
   * and the head last, so concurrent batches cannot deadlock.
   */
  private drain(): void {
    while (this.queue.length > 0 && this.inFlight < this.options.concurrency) {
      const batch = this.queue.splice(0, this.options.maxBatch);
      this.inFlight++;
      void this.commitBatch(batch).finally(() => {
        this.inFlight--;
        this.drain();
      });
    }
  }

  /**
   * One transaction for a batch. Rows are locked in user-id order, and before the chain head,
   * so batches on several instances never deadlock each other (a deadlock is retried anyway).
   */
  private async commitBatch(batch: Pending[]): Promise<void> {
    const ordered = [...batch].sort((a, b) =>
      a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0,
    );
    let outcomes: Map<Pending, ViolationOutcome>;
    for (let attempt = 1; ; attempt++) {
      try {
        outcomes = await this.dataSource.transaction((manager) =>
          this.applyBatch(manager, ordered),
        );
        break;
      } catch (error) {
        const code = (error as { driverError?: { code?: string } }).driverError?.code;
        if (code === DEADLOCK && attempt < MAX_RETRIES) continue;
        // One bad violation must not sink the others batched with it: retry them one by one.
        if (batch.length > 1 && !isDatabaseUnavailable(error)) {
          for (const p of batch) await this.commitBatch([p]);
          return;
        }
        this.logger.error(
          `could not record ${batch.length} violation(s): ${(error as Error).message}`,
        );
        for (const p of batch) p.reject(error);
        return;
      }
    }
    for (const p of batch) {
      const o = outcomes.get(p)!;
      if (o.terminated || o.blocked || o.expired) this.cache.invalidate(p.userId);
      metrics.strikes.inc();
      metrics.strikeWeight.inc(p.weight);
      if (o.expired) metrics.blockExpiries.inc();
      if (o.simulated) {
        if (o.terminated) metrics.simulated.inc({ kind: 'termination' });
        if (o.blocked) metrics.simulated.inc({ kind: 'block' });
      } else {
        if (o.terminated) metrics.terminations.inc();
        if (o.blocked) metrics.blocks.inc();
      }
      p.resolve({
        counter: o.counter,
        terminated: o.terminated,
        blocked: o.blocked,
        simulated: o.simulated,
      });
    }
    // Hooks act on what happened: never on a simulated crossing.
    for (const p of batch) {
      const o = outcomes.get(p)!;
      if (o.expired && !o.expired.simulated)
        await this.hook(this.options.onUnblocked, p.userId, o.counter);
      if (o.simulated) continue;
      if (o.terminated) await this.hook(this.options.onSessionTerminated, p.userId, o.counter);
      if (o.blocked) await this.hook(this.options.onBlocked, p.userId, o.counter);
    }
  }

  private async applyBatch(
    manager: EntityManager,
    batch: Pending[],
  ): Promise<Map<Pending, ViolationOutcome>> {
    const { terminateAt, blockAt, blockFor, decayAfter } = this.options;
    const outcomes = new Map<Pending, ViolationOutcome>();
    const events: AuditEvent[] = [];
    // One statement per round; a round holds at most one violation per user (a user's second
    // violation in the batch goes in the next round, so it builds on the first).
    const rounds: Pending[][] = [];
    const seen = new Map<string, number>();
    for (const p of batch) {
      const round = seen.get(p.userId) ?? 0;
      seen.set(p.userId, round + 1);
      (rounds[round] ??= []).push(p);
    }
    const results = new Map<Pending, ViolationOutcome | undefined>();
    for (const round of rounds) {
      const applied = await this.store.addViolations(manager, round);
      for (const p of round) results.set(p, applied.get(p.userId));
    }
    for (const p of batch) {
      let outcome = results.get(p);
      if (!outcome) {
        // Safety net for a user created outside enroll(): enroll now, then charge.
        // Another instance may enroll the user at the same moment: one event, from whoever created it.
        if (await this.store.enroll(manager, p.userId))
          events.push({
            type: 'strike_counter.created',
            userId: p.userId,
            entityType: 'strike_counter',
            targetId: p.userId,
            details: { lazy: true },
          });
        const [applied] = (await this.store.addViolations(manager, [p])).values();
        outcome = applied;
      }
      outcomes.set(p, outcome);
      const c = outcome.counter;
      const base = {
        userId: p.userId,
        entityType: 'strike_counter',
        targetId: p.userId,
        ...p.context,
      };
      const simulated = outcome.simulated ? { simulated: true } : {};
      if (outcome.expired)
        events.push(blockEndedEvent(p.userId, outcome.expired.simulated, 'before a strike'));
      events.push({
        ...base,
        type: 'strike.recorded',
        outcome: 'denied',
        threat: 'low',
        description: p.reason,
        details: {
          weight: p.weight,
          reason: p.reason,
          count: c.count,
          blocker: c.blocker,
          ...(decayAfter !== null && { total: c.total }),
          ...(p.simulated && { monitor: true }),
        },
      });
      if (outcome.terminated) {
        events.push({
          ...base,
          type: 'session.terminated',
          outcome: 'success',
          threat: 'medium',
          details: {
            reason: 'strikes',
            sessionVersion: c.sessionVersion,
            terminateAt,
            ...simulated,
          },
        });
      }
      if (outcome.blocked) {
        events.push({
          ...base,
          type: 'account.blocked',
          outcome: 'success',
          threat: 'high',
          details: {
            blocker: c.blocker,
            blockAt,
            ...(blockFor !== null && {
              blockedUntil: c.blockedUntil, // null: this block waits for an admin
              timedBlocks: c.timedBlocks,
            }),
            ...simulated,
          },
        });
      }
      if (outcome.terminated || outcome.blocked || outcome.expired)
        await this.store.notify(manager, p.userId);
    }
    await this.audit.recordMany(events, { manager });
    return outcomes;
  }

  private async hook(
    fn: ((userId: string, counter: StrikeCounter) => void | Promise<void>) | undefined,
    userId: string,
    counter: StrikeCounter,
  ): Promise<void> {
    if (!fn) return;
    try {
      await fn(userId, counter);
    } catch (error) {
      this.logger.error(`strike hook failed for user ${userId}: ${(error as Error).message}`);
    }
  }
}

/**
 * `account.unblocked` for a timed block that ended: by the system, not by an admin (Keycloak
 * records nothing then). `when`: found by the sweeper, or ended before a strike was counted.
 */
function blockEndedEvent(
  userId: string,
  simulated: boolean,
  when: 'expired' | 'before a strike',
  block: { blockedAt?: string | null; blockedUntil?: string } = {},
): AuditEvent {
  return {
    type: 'account.unblocked',
    userId,
    actorId: SYSTEM_ACTOR,
    entityType: 'strike_counter',
    targetId: userId,
    outcome: 'success',
    description: 'the timed block ended',
    details: {
      reason: 'block_expired',
      by: SYSTEM_ACTOR,
      endedWhen: when,
      ...(block.blockedAt !== undefined && { blockedAt: block.blockedAt }),
      ...(block.blockedUntil !== undefined && { blockedUntil: block.blockedUntil }),
      ...(simulated && { simulated: true }),
    },
  };
}
