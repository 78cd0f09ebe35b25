import { Inject, Injectable } from '@nestjs/common';
import { type DataSource, type EntityManager } from 'typeorm';
import { STRIKES_DATA_SOURCE } from './strikes-data-source.provider.js';
import { STRIKES_OPTIONS } from './strikes-options.provider.js';
import { type ResolvedStrikesOptions } from './strikes.options.js';

/** A user's counter as the admin API shows it. */
export interface StrikeCounter {
  userId: string;
  /** Strikes since the last termination. */
  count: number;
  /** Strikes that count toward the block: since the last unblock, and within the decay window. */
  blocker: number;
  /** Every strike's weight, for ever. */
  total: number;
  /** `blocked` only while a real block holds (a timed one that has ended reads `active`). */
  status: 'active' | 'blocked';
  /** Monitor mode would have blocked the account (blockedAt, blockedUntil say when). */
  simulatedBlock: boolean;
  sessionVersion: number;
  blockedAt: string | null;
  /** A timed block's end; null: until an admin unblocks (or not blocked). */
  blockedUntil: string | null;
  /** Timed blocks so far: after `permanentAfter` of them the next block is permanent. */
  timedBlocks: number;
  /** With decay: the oldest strike still counted in `blocker`; null without decay or strikes. */
  oldestCountedAt: string | null;
  lastViolationAt: string | null;
}

/** What one violation did to a counter. */
export interface ViolationOutcome {
  counter: StrikeCounter;
  terminated: boolean;
  blocked: boolean;
  /** The termination or block is a monitor-mode one: recorded, refusing nothing. */
  simulated: boolean;
  /**
   * A timed block had ended and was not swept yet: this statement ended it first (reset its
   * counters), so the caller records its `account.unblocked` before the strike.
   */
  expired: { simulated: boolean } | null;
}

/** The session state the guard needs. */
export interface SessionState {
  /** `blocked`: a real block (never a simulated one). */
  status: 'active' | 'blocked';
  sessionVersion: number;
  /** A timed block's end (ms since the epoch): refused until then; null: until an admin. */
  blockedUntil: number | null;
}

/** A timed block the sweeper ended. */
export interface ExpiredBlock {
  counter: StrikeCounter;
  simulated: boolean;
  blockedAt: string | null;
  blockedUntil: string;
}

/** The policy the statements apply: the module's options they read. */
type CounterPolicy = Pick<
  ResolvedStrikesOptions,
  'terminateAt' | 'blockAt' | 'decayAfter' | 'blockFor' | 'permanentAfter' | 'clock'
>;

/** The statements' time: the clock's (parameter $2, or $1 in some) or the database's. */
const NOW = `coalesce($2::timestamptz, now())`;

/** Strikes remembered per counter within the decay window (beyond it the oldest are dropped). */
const MAX_STRIKES_IN_WINDOW = 1000;

/**
 * The strikes of row `s` within the window ($7 seconds before `k.now`), newest
 * MAX_STRIKES_IN_WINDOW − 1 at most, with their order `i`. Used as scalar subqueries of the
 * locking SELECT, not as a joined relation: when the row was updated concurrently, PostgreSQL
 * re-evaluates expressions on its newest version, but would reuse a joined relation's old output.
 */
const windowed = (s: string) => `(SELECT u.at, u.w, u.i
    FROM unnest(${s}.strike_times, ${s}.strike_weights) WITH ORDINALITY AS u(at, w, i)
   WHERE u.at > ${WINDOW('k.now', '$7::float8')}
   ORDER BY u.i DESC LIMIT ${MAX_STRIKES_IN_WINDOW - 1})`;

/** Row `t` is under a real block at `now` (not a simulated one, not a timed one that ended). */
const REALLY_BLOCKED = (t: string, now: string) =>
  `(${t}.status = 'blocked' AND NOT ${t}.block_simulated AND (${t}.blocked_until IS NULL OR ${t}.blocked_until > ${now}))`;

const ISO = (col: string) => `to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
const WINDOW = (now: string, decay: string) => `(${now} - ${decay} * interval '1 second')`;
/**
 * The counter's columns in the API's shape, from table alias `t`, with `now` and `decay`
 * (seconds or NULL) as SQL expressions: the window is reckoned when read, not when last written.
 */
const counterColumns = (t: string, now: string, decay: string) => `${t}.user_id AS "userId",
  ${t}.count,
  CASE WHEN ${decay} IS NULL THEN ${t}.blocker
       ELSE (SELECT coalesce(sum(u.w), 0)::int FROM unnest(${t}.strike_times, ${t}.strike_weights) AS u(at, w)
              WHERE u.at > ${WINDOW(now, decay)}) END AS blocker,
  ${t}.total,
  CASE WHEN ${REALLY_BLOCKED(t, now)} THEN 'blocked' ELSE 'active' END AS status,
  (${t}.status = 'blocked' AND ${t}.block_simulated) AS "simulatedBlock",
  ${t}.session_version AS "sessionVersion", ${ISO(`${t}.blocked_at`)} AS "blockedAt",
  ${ISO(`${t}.blocked_until`)} AS "blockedUntil", ${t}.timed_blocks AS "timedBlocks",
  CASE WHEN ${decay} IS NULL THEN NULL
       ELSE ${ISO(`(SELECT min(u.at) FROM unnest(${t}.strike_times) AS u(at) WHERE u.at > ${WINDOW(now, decay)})`)} END
    AS "oldestCountedAt",
  ${ISO(`${t}.last_violation_at`)} AS "lastViolationAt"`;

/** Channel of the cross-instance cache invalidation: the payload is the user id. */
export const SESSION_CHANNEL = 'strikeguard_sessions';

/** Every SQL statement on strike_counters. */
@Injectable()
export class StrikeCounterStore {
  private readonly policy: CounterPolicy;

  constructor(
    @Inject(STRIKES_DATA_SOURCE) private readonly dataSource: DataSource,
    @Inject(STRIKES_OPTIONS) options: ResolvedStrikesOptions,
  ) {
    this.policy = options;
  }

  /** The clock's time, or null for the database's now(). */
  private now(): Date | null {
    return this.policy.clock ? this.policy.clock() : null;
  }

  /** False when the host has not run strikeguard's migrations (no strike_counters table). */
  async tableExists(): Promise<boolean> {
    const [row] = await this.dataSource.query(`SELECT to_regclass('strike_counters') AS oid`);
    return !!row?.oid;
  }

  /** Creates the counter of a new user (no-op if it exists); true when it was created. */
  async enroll(manager: EntityManager, userId: string): Promise<boolean> {
    const rows = await manager.query(
      `INSERT INTO strike_counters (user_id) VALUES ($1) ON CONFLICT (user_id) DO NOTHING RETURNING user_id`,
      [userId],
    );
    return rows.length > 0;
  }

  /**
   * Adds weighted violations to several users in ONE statement, exact under any concurrency: the
   * sub-select locks the rows (FOR UPDATE, in user-id order so that concurrent batches never
   * deadlock) and, once a concurrent writer commits, re-reads the latest version, so every
   * increment builds on the previous one; the old values it returns tell which thresholds this
   * very statement crossed — each crossing is seen by exactly one statement.
   *
   * - `count` reaching terminateAt goes back to 0 (not to the remainder) and bumps the session
   *   version; the strikes that count toward the block (`blocker`: with decay, those within the
   *   window, recomputed from the row's strikes at this statement's time) reaching blockAt block
   *   the account and bump it too.
   * - A `simulated` violation (monitor mode, or a monitored rule) moves every counter the same
   *   way, but its termination bumps nothing and its block is recorded as simulated: refusing
   *   nothing. A simulated block is made real by the next enforced violation at the threshold.
   * - With blockFor, a block ends at `blocked_until`, unless the account has had permanentAfter
   *   timed blocks already. A timed block that has ended and was not swept is ended here first.
   *
   * The user ids must be distinct; users without a counter are absent from the result.
   */
  async addViolations(
    manager: EntityManager,
    violations: { userId: string; weight: number; simulated: boolean }[],
  ): Promise<Map<string, ViolationOutcome>> {
    const { terminateAt, blockAt, decayAfter, blockFor, permanentAfter } = this.policy;
    const now = 'o.now';
    const rows = await manager.query(
      `UPDATE strike_counters c SET
         count = CASE WHEN o.terminates THEN 0 ELSE o.base_count + o.w END,
         blocker = o.live + o.w,
         total = o.total + o.w,
         strike_times = CASE WHEN $7::float8 IS NULL THEN '{}' ELSE o.kept_times || o.now END,
         strike_weights = CASE WHEN $7::float8 IS NULL THEN '{}' ELSE o.kept_weights || o.w END,
         status = CASE WHEN o.blocks THEN 'blocked' WHEN o.expired THEN 'active' ELSE o.status END,
         block_simulated = CASE WHEN o.blocks THEN o.sim WHEN o.expired THEN false ELSE o.block_simulated END,
         blocked_at = CASE WHEN o.blocks THEN o.now WHEN o.expired THEN NULL ELSE o.blocked_at END,
         blocked_until = CASE WHEN o.blocks AND NOT o.permanent THEN o.now + $8::float8 * interval '1 second'
                              WHEN o.blocks OR o.expired THEN NULL ELSE o.blocked_until END,
         timed_blocks = o.timed_blocks + CASE WHEN o.blocks AND NOT o.permanent THEN 1 ELSE 0 END,
         session_version = o.session_version
           + CASE WHEN NOT o.sim AND (o.terminates OR o.blocks) THEN 1 ELSE 0 END,
         last_violation_at = o.now,
         updated_at = now()
       FROM (
         SELECT b.*,
                (b.base_count + b.w >= $4) AS terminates,
                (NOT b.really_blocked AND b.live + b.w >= $5
                  AND (b.base_status = 'active' OR (b.block_simulated AND NOT b.expired AND NOT b.sim))) AS blocks,
                ($8::float8 IS NULL OR b.timed_blocks >= $9) AS permanent
           FROM (
             -- The row as this strike finds it: a timed block that has ended is ended first.
             SELECT l.*,
                    (l.status = 'blocked' AND l.block_simulated) AS was_simulated,
                    (l.status = 'blocked' AND NOT l.block_simulated AND NOT l.expired) AS really_blocked,
                    CASE WHEN l.expired THEN 'active' ELSE l.status END AS base_status,
                    CASE WHEN l.expired THEN 0 ELSE l.count END AS base_count,
                    CASE WHEN l.expired THEN 0 WHEN $7::float8 IS NULL THEN l.blocker ELSE l.window_weight END AS live,
                    CASE WHEN l.expired OR $7::float8 IS NULL THEN '{}' ELSE l.window_times END AS kept_times,
                    CASE WHEN l.expired OR $7::float8 IS NULL THEN '{}' ELSE l.window_weights END AS kept_weights
               FROM (
                 SELECT s.user_id, s.count, s.blocker, s.session_version, s.timed_blocks,
                        s.block_simulated, s.total, s.status, s.blocked_at, s.blocked_until,
                        v.w, v.sim, k.now,
                        coalesce(s.status = 'blocked' AND s.blocked_until <= k.now, false) AS expired,
                        CASE WHEN $7::float8 IS NOT NULL
                             THEN (SELECT coalesce(sum(z.w), 0)::int FROM ${windowed('s')} z) END AS window_weight,
                        CASE WHEN $7::float8 IS NOT NULL
                             THEN ARRAY(SELECT z.at FROM ${windowed('s')} z ORDER BY z.i) END AS window_times,
                        CASE WHEN $7::float8 IS NOT NULL
                             THEN ARRAY(SELECT z.w FROM ${windowed('s')} z ORDER BY z.i) END AS window_weights
                   FROM strike_counters s
                   JOIN unnest($1::text[], $2::int[], $3::bool[]) AS v(user_id, w, sim) ON v.user_id = s.user_id
                   CROSS JOIN (SELECT coalesce($6::timestamptz, now()) AS now) k
                  ORDER BY s.user_id
                    FOR UPDATE OF s
               ) l
           ) b
       ) o
       WHERE c.user_id = o.user_id
       RETURNING ${counterColumns('c', now, '$7::float8')},
         o.terminates AS terminated, o.blocks AS blocked, o.sim AS simulated,
         o.expired, o.was_simulated AS "expiredSimulated"`,
      [
        violations.map((v) => v.userId),
        violations.map((v) => v.weight),
        violations.map((v) => v.simulated),
        terminateAt,
        blockAt,
        this.now(),
        decayAfter,
        blockFor,
        permanentAfter,
      ],
    );
    // TypeORM answers UPDATE … RETURNING with [rows, affected].
    const outcomes = new Map<string, ViolationOutcome>();
    type Row = StrikeCounter & {
      terminated: boolean;
      blocked: boolean;
      simulated: boolean;
      expired: boolean;
      expiredSimulated: boolean;
    };
    for (const row of rows[0] as Row[]) {
      const { terminated, blocked, simulated, expired, expiredSimulated, ...counter } = row;
      outcomes.set(counter.userId, {
        counter,
        terminated,
        blocked,
        simulated,
        expired: expired ? { simulated: expiredSimulated } : null,
      });
    }
    return outcomes;
  }

  /**
   * Unblocks (a real or a simulated block) and resets the counters, the escalation of timed
   * blocks included; bumps the session version (tokens from before stay dead). `total` stays.
   */
  async unblock(
    manager: EntityManager,
    userId: string,
  ): Promise<{ counter: StrikeCounter; wasBlocked: boolean; wasSimulated: boolean } | null> {
    const rows = await manager.query(
      `UPDATE strike_counters c SET count = 0, blocker = 0, strike_times = '{}', strike_weights = '{}',
         status = 'active', block_simulated = false, blocked_at = NULL, blocked_until = NULL,
         timed_blocks = 0, session_version = o.session_version + 1, updated_at = now()
       FROM (SELECT user_id, status, block_simulated, session_version, blocked_until
               FROM strike_counters WHERE user_id = $1 FOR UPDATE) o
       WHERE c.user_id = o.user_id
       RETURNING ${counterColumns('c', NOW, '$3::float8')},
         ${REALLY_BLOCKED('o', NOW)} AS "wasBlocked",
         (o.status = 'blocked' AND o.block_simulated) AS "wasSimulated"`,
      [userId, this.now(), this.policy.decayAfter],
    );
    const [row] = rows[0] as (StrikeCounter & { wasBlocked: boolean; wasSimulated: boolean })[];
    if (!row) return null;
    const { wasBlocked, wasSimulated, ...counter } = row;
    return { counter, wasBlocked, wasSimulated };
  }

  /**
   * Ends up to `limit` timed blocks whose time has come (real or simulated), resetting their
   * counters as an unblock does (the escalation count stays). Rows another instance is ending
   * are skipped, so each block is ended, and reported, once.
   */
  async expireBlocks(manager: EntityManager, limit: number): Promise<ExpiredBlock[]> {
    const rows = await manager.query(
      `UPDATE strike_counters c SET count = 0, blocker = 0, strike_times = '{}', strike_weights = '{}',
         status = 'active', block_simulated = false, blocked_at = NULL, blocked_until = NULL,
         updated_at = now()
       FROM (SELECT user_id, block_simulated, blocked_at, blocked_until FROM strike_counters
              WHERE status = 'blocked' AND blocked_until <= ${NOW}
              ORDER BY user_id LIMIT $1 FOR UPDATE SKIP LOCKED) o
       WHERE c.user_id = o.user_id
       RETURNING ${counterColumns('c', NOW, '$3::float8')}, o.block_simulated AS simulated,
         ${ISO('o.blocked_at')} AS "expiredBlockedAt", ${ISO('o.blocked_until')} AS "expiredUntil"`,
      [limit, this.now(), this.policy.decayAfter],
    );
    type Row = StrikeCounter & {
      simulated: boolean;
      expiredBlockedAt: string | null;
      expiredUntil: string;
    };
    return (rows[0] as Row[]).map(({ simulated, expiredBlockedAt, expiredUntil, ...counter }) => ({
      counter,
      simulated,
      blockedAt: expiredBlockedAt,
      blockedUntil: expiredUntil,
    }));
  }

  /** When the next timed block ends (ms since the epoch), if one is running. */
  async nextExpiry(): Promise<number | null> {
    const [row] = (await this.dataSource.query(
      `SELECT (extract(epoch FROM min(blocked_until)) * 1000)::float8 AS at FROM strike_counters
        WHERE status = 'blocked' AND blocked_until IS NOT NULL`,
    )) as { at: number | null }[];
    return row?.at ?? null;
  }

  /** Ends every session of a user (logout): bumps the session version. */
  async bumpSession(manager: EntityManager, userId: string): Promise<number | null> {
    const rows = await manager.query(
      `UPDATE strike_counters SET session_version = session_version + 1, updated_at = now()
       WHERE user_id = $1 RETURNING session_version AS "sessionVersion"`,
      [userId],
    );
    return (rows[0] as { sessionVersion: number }[])[0]?.sessionVersion ?? null;
  }

  /** Tells every instance (at commit) to forget its cached session state of this user. */
  async notify(manager: EntityManager, userId: string): Promise<void> {
    await manager.query(`SELECT pg_notify($1, $2)`, [SESSION_CHANNEL, userId]);
  }

  async sessionState(userId: string): Promise<SessionState | null> {
    const [row] = (await this.dataSource.query(
      `SELECT CASE WHEN status = 'blocked' AND NOT block_simulated THEN 'blocked' ELSE 'active' END AS status,
              session_version AS "sessionVersion",
              CASE WHEN NOT block_simulated THEN (extract(epoch FROM blocked_until) * 1000)::float8 END AS "blockedUntil"
         FROM strike_counters WHERE user_id = $1`,
      [userId],
    )) as SessionState[];
    return row ?? null;
  }

  async find(userId: string): Promise<StrikeCounter | null> {
    const [row] = await this.dataSource.query(
      `SELECT ${counterColumns('t', NOW, '$3::float8')} FROM strike_counters t WHERE t.user_id = $1`,
      [userId, this.now(), this.policy.decayAfter],
    );
    return row ?? null;
  }

  /** Counters by status, ordered by user id, after `afterUserId` (keyset paging). */
  list(
    status: 'active' | 'blocked' | undefined,
    limit: number,
    afterUserId?: string,
  ): Promise<StrikeCounter[]> {
    const params: unknown[] = [limit, this.now(), this.policy.decayAfter];
    const where: string[] = [];
    if (status === 'blocked') where.push(REALLY_BLOCKED('t', NOW));
    if (status === 'active') where.push(`NOT ${REALLY_BLOCKED('t', NOW)}`);
    if (afterUserId !== undefined) where.push(`t.user_id > $${params.push(afterUserId)}`);
    return this.dataSource.query(
      `SELECT ${counterColumns('t', NOW, '$3::float8')} FROM strike_counters t
        ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY t.user_id LIMIT $1`,
      params,
    );
  }
}
