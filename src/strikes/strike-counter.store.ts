import { Inject, Injectable } from '@nestjs/common';
import { type DataSource, type EntityManager } from 'typeorm';
import { STRIKES_DATA_SOURCE } from './strikes-data-source.provider.js';

/** A user's counter as the admin API shows it. */
export interface StrikeCounter {
  userId: string;
  count: number;
  blocker: number;
  status: 'active' | 'blocked';
  sessionVersion: number;
  blockedAt: string | null;
  lastViolationAt: string | null;
}

/** What one violation did to a counter. */
export interface ViolationOutcome {
  counter: StrikeCounter;
  terminated: boolean;
  blocked: boolean;
}

/** The session state the guard needs. */
export interface SessionState {
  status: 'active' | 'blocked';
  sessionVersion: number;
}

const ISO = (col: string) => `to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
/** The counter's columns in the API's shape, from table alias `t`. */
const counterColumns = (
  t: string,
) => `${t}.user_id AS "userId", ${t}.count, ${t}.blocker, ${t}.status,
  ${t}.session_version AS "sessionVersion", ${ISO(`${t}.blocked_at`)} AS "blockedAt",
  ${ISO(`${t}.last_violation_at`)} AS "lastViolationAt"`;
const COUNTER = counterColumns('strike_counters');

/** Channel of the cross-instance cache invalidation: the payload is the user id. */
export const SESSION_CHANNEL = 'strikeguard_sessions';

/** Every SQL statement on strike_counters. */
@Injectable()
export class StrikeCounterStore {
  constructor(@Inject(STRIKES_DATA_SOURCE) private readonly dataSource: DataSource) {}

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
   * `count` reaching terminateAt goes back to 0 (not to the remainder) and bumps the session
   * version; `blocker` reaching blockAt while active blocks the account and bumps it too.
   * The user ids must be distinct; users without a counter are absent from the result.
   */
  async addViolations(
    manager: EntityManager,
    violations: { userId: string; weight: number }[],
    terminateAt: number,
    blockAt: number,
  ): Promise<Map<string, ViolationOutcome>> {
    const rows = await manager.query(
      `UPDATE strike_counters c SET
         count = CASE WHEN o.count + o.w >= $3 THEN 0 ELSE o.count + o.w END,
         blocker = o.blocker + o.w,
         status = CASE WHEN o.status = 'active' AND o.blocker + o.w >= $4 THEN 'blocked' ELSE o.status END,
         blocked_at = CASE WHEN o.status = 'active' AND o.blocker + o.w >= $4 THEN now() ELSE c.blocked_at END,
         session_version = o.session_version
           + CASE WHEN o.count + o.w >= $3 OR (o.status = 'active' AND o.blocker + o.w >= $4) THEN 1 ELSE 0 END,
         last_violation_at = now(),
         updated_at = now()
       FROM (SELECT s.user_id, s.count, s.blocker, s.status, s.session_version, v.w
               FROM strike_counters s
               JOIN unnest($1::text[], $2::int[]) AS v(user_id, w) ON v.user_id = s.user_id
              ORDER BY s.user_id
                FOR UPDATE OF s) o
       WHERE c.user_id = o.user_id
       RETURNING ${counterColumns('c')},
         (o.count + o.w >= $3) AS terminated,
         (o.status = 'active' AND o.blocker + o.w >= $4) AS blocked`,
      [violations.map((v) => v.userId), violations.map((v) => v.weight), terminateAt, blockAt],
    );
    // TypeORM answers UPDATE … RETURNING with [rows, affected].
    const outcomes = new Map<string, ViolationOutcome>();
    for (const row of rows[0] as (StrikeCounter & { terminated: boolean; blocked: boolean })[]) {
      const { terminated, blocked, ...counter } = row;
      outcomes.set(counter.userId, { counter, terminated, blocked });
    }
    return outcomes;
  }

  /** One violation (see addViolations); null when the user has no counter. */
  async addViolation(
    manager: EntityManager,
    userId: string,
    weight: number,
    terminateAt: number,
    blockAt: number,
  ): Promise<ViolationOutcome | null> {
    const outcomes = await this.addViolations(manager, [{ userId, weight }], terminateAt, blockAt);
    return outcomes.get(userId) ?? null;
  }

  /** Unblocks and resets both counters; bumps the session version (tokens from before stay dead). */
  async unblock(
    manager: EntityManager,
    userId: string,
  ): Promise<{ counter: StrikeCounter; wasBlocked: boolean } | null> {
    const rows = await manager.query(
      `UPDATE strike_counters c SET count = 0, blocker = 0, status = 'active', blocked_at = NULL,
         session_version = o.session_version + 1, updated_at = now()
       FROM (SELECT user_id, status, session_version FROM strike_counters WHERE user_id = $1 FOR UPDATE) o
       WHERE c.user_id = o.user_id
       RETURNING ${counterColumns('c')}, (o.status = 'blocked') AS "wasBlocked"`,
      [userId],
    );
    const [row] = rows[0] as (StrikeCounter & { wasBlocked: boolean })[];
    if (!row) return null;
    const { wasBlocked, ...counter } = row;
    return { counter, wasBlocked };
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
    const [row] = await this.dataSource.query(
      `SELECT status, session_version AS "sessionVersion" FROM strike_counters WHERE user_id = $1`,
      [userId],
    );
    return row ?? null;
  }

  async find(userId: string): Promise<StrikeCounter | null> {
    const [row] = await this.dataSource.query(
      `SELECT ${COUNTER} FROM strike_counters WHERE user_id = $1`,
      [userId],
    );
    return row ?? null;
  }

  /** Counters by status, ordered by user id, after `afterUserId` (keyset paging). */
  list(
    status: 'active' | 'blocked' | undefined,
    limit: number,
    afterUserId?: string,
  ): Promise<StrikeCounter[]> {
    const params: unknown[] = [limit];
    const where: string[] = [];
    if (status) where.push(`status = $${params.push(status)}`);
    if (afterUserId !== undefined) where.push(`user_id > $${params.push(afterUserId)}`);
    return this.dataSource.query(
      `SELECT ${COUNTER} FROM strike_counters ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY user_id LIMIT $1`,
      params,
    );
  }
}
