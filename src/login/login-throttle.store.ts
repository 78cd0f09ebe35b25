import { Inject, Injectable } from '@nestjs/common';
import { type DataSource } from 'typeorm';
import { STRIKEGUARD_DATA_SOURCE } from '../common/data-source.provider.js';
import { LOGIN_THROTTLE_OPTIONS } from './login-throttle-options.provider.js';
import { type ResolvedLoginThrottleOptions } from './login-throttle.options.js';

/** A lane of the throttle: what one row counts. */
export type LoginLane = 'account' | 'account_device' | 'account_source' | 'hard' | 'source';

/** What the admission statement decided. */
export interface AdmitRow {
  admitted: boolean;
  trusted: boolean;
  /** Milliseconds until every blocking lane is clear (0 when admitted). */
  waitMs: number;
  blocking: LoginLane[];
  /** The host's user id of the account, when an earlier attempt told it (refusals only). */
  userId: string | null;
  /** Lanes this attempt's pre-charge blocks, if it fails, and until when (null: indefinitely). */
  started: { lane: LoginLane; until: Date | null }[];
  /** The windows the attempt was charged in (exact text form, for the refund of a success). */
  accountWindow: string | null;
  sourceWindow: string | null;
}

/** A lane of an account as the admin API shows it. */
export interface LoginLaneState {
  lane: LoginLane;
  source: string | null;
  deviceId: string | null;
  failures: number;
  windowStart: string;
  lastFailureAt: string | null;
  /** null: not blocked; `"infinity"`: until cleared. */
  blockedUntil: string | null;
}

export interface SourceState {
  source: string;
  failures: number;
  windowStart: string;
  blockedUntil: string | null;
}

/** The SQL of the throttle. Every attempt costs one statement to admit and one to settle. */
@Injectable()
export class LoginThrottleStore {
  private readonly limits: unknown[];

  constructor(
    @Inject(STRIKEGUARD_DATA_SOURCE) private readonly dataSource: DataSource,
    @Inject(LOGIN_THROTTLE_OPTIONS) private readonly options: ResolvedLoginThrottleOptions,
  ) {
    const o = options;
    this.limits = [
      o.freeAttempts,
      `${o.backoffBaseSeconds} seconds`,
      `${o.maxWaitSeconds} seconds`,
      o.accountLimit,
      `${o.accountWindowSeconds} seconds`,
      o.sourceLimit,
      `${o.sourceWindowSeconds} seconds`,
      o.hardLimit,
      `${o.retentionSeconds} seconds`,
    ];
  }

  async admit(account: Buffer, source: string, deviceId: string | null): Promise<AdmitRow> {
    const [row] = (await retryOnDeadlock(() =>
      this.dataSource.query(
        // The windows come back as text: a JS Date would drop the microseconds the refund matches on.
        `SELECT admitted, trusted, wait_ms, blocking, user_id, started, started_until,
              account_window::text AS account_window, source_window::text AS source_window
         FROM strikeguard_login_admit($1, $2, $3, $4, $5::interval, $6::interval, $7,
         $8::interval, $9, $10::interval, $11, $12::interval)`,
        [account, source, deviceId, ...this.limits],
      ),
    )) as RawAdmit[];
    const started = (row.started ?? []).map((lane, i) => {
      const until = row.started_until![i];
      return { lane, until: isInfinite(until) ? null : new Date(until as Date) };
    });
    return {
      admitted: row.admitted,
      trusted: row.trusted,
      waitMs: Number(row.wait_ms),
      blocking: row.blocking ?? [],
      userId: row.user_id,
      started,
      accountWindow: row.account_window,
      sourceWindow: row.source_window,
    };
  }

  /**
   * Settles a failed attempt: its charge stands. Tells the table which user the account is, in
   * the same statement whether there is one or not (nothing branches on existence).
   */
  async failed(account: Buffer, userId: string | null): Promise<void> {
    await this.dataSource.query(
      `INSERT INTO login_accounts (account, user_id)
       SELECT $1, $2::text WHERE $2::text IS NOT NULL
       ON CONFLICT (account) DO UPDATE SET user_id = EXCLUDED.user_id, updated_at = now()
        WHERE login_accounts.user_id <> EXCLUDED.user_id`,
      [account, userId],
    );
  }

  /**
   * Settles a successful attempt, in one transaction: deletes its consecutive lane and the hard
   * stop's count, refunds its charge to the windowed lanes, records which user the account is,
   * and trusts the device — the one presented when it belongs to this user, else `newDeviceId`.
   * Answers the device id now trusted, whether it is new, and the blocks the success lifted.
   */
  async succeeded(input: {
    account: Buffer;
    source: string;
    userId: string;
    deviceId: string | null;
    newDeviceId: string;
    accountWindow: string | null;
    sourceWindow: string | null;
  }): Promise<{ deviceId: string; created: boolean; lifted: LoginLane[] }> {
    const o = this.options;
    const acct = input.account.toString('hex');
    return retryOnDeadlock(() =>
      this.dataSource.transaction(async (manager) => {
        const laneKey = input.deviceId
          ? ['account_device', `${acct}/${input.deviceId}`]
          : ['account_source', `${acct}/${input.source}`];
        // Every row this settles, locked first and in the admission's order (lane, then key), so a
        // success and a racing admission never wait on each other crosswise.
        await manager.query(
          `SELECT 1 FROM login_throttle
          WHERE (lane, key) IN (('account', $3), ($1, $2), ('hard', $3), ('source', $4))
          ORDER BY lane, key FOR UPDATE`,
          [...laneKey, acct, input.source],
        );
        const cleared = (await manager.query(
          `DELETE FROM login_throttle
          WHERE (lane = $1 AND key = $2) OR (lane = 'hard' AND key = $3)
         RETURNING lane, blocked_until > now() AS blocked`,
          [...laneKey, acct],
        )) as [{ lane: LoginLane; blocked: boolean | null }[], number];
        await manager.query(
          `UPDATE login_throttle
            SET failures = greatest(failures - 1, 0),
                blocked_until = CASE WHEN failures - 1 < $3 THEN NULL ELSE blocked_until END,
                trips = CASE WHEN failures - 1 < $3 AND blocked_until IS NOT NULL
                             THEN greatest(trips - 1, 0) ELSE trips END
          WHERE lane = 'account' AND key = $1 AND window_start = $2::timestamptz`,
          [acct, input.accountWindow, o.accountLimit],
        );
        await manager.query(
          `UPDATE login_throttle
            SET failures = greatest(failures - 1, 0),
                blocked_until = CASE WHEN failures - 1 < $3 THEN NULL ELSE blocked_until END
          WHERE lane = 'source' AND key = $1 AND window_start = $2::timestamptz`,
          [input.source, input.sourceWindow, o.sourceLimit],
        );
        await manager.query(
          `INSERT INTO login_accounts (account, user_id) VALUES ($1, $2)
         ON CONFLICT (account) DO UPDATE SET user_id = EXCLUDED.user_id, updated_at = now()
          WHERE login_accounts.user_id <> EXCLUDED.user_id`,
          [input.account, input.userId],
        );
        const ttl = `${o.deviceTtlSeconds} seconds`;
        let deviceId = input.deviceId;
        if (deviceId) {
          const [, touched] = (await manager.query(
            `UPDATE login_devices SET last_used_at = now(), expires_at = now() + $3::interval
            WHERE id = $1 AND user_id = $2 AND account = $4`,
            [deviceId, input.userId, ttl, input.account],
          )) as [unknown, number];
          // A device of an earlier account of the same name (deleted, re-registered) is not this
          // user's: forget it and trust the device afresh.
          if (touched === 0) {
            await manager.query(`DELETE FROM login_devices WHERE id = $1`, [deviceId]);
            deviceId = null;
          }
        }
        const created = deviceId === null;
        if (created) {
          deviceId = input.newDeviceId;
          await manager.query(
            `INSERT INTO login_devices (id, account, user_id, expires_at)
           VALUES ($1, $2, $3, now() + $4::interval)`,
            [deviceId, input.account, input.userId, ttl],
          );
          await manager.query(
            `DELETE FROM login_devices WHERE id IN (
             SELECT id FROM login_devices WHERE user_id = $1
              ORDER BY last_used_at DESC, created_at DESC OFFSET $2)`,
            [input.userId, o.devicesPerUser],
          );
        }
        const lifted = cleared[0].filter((r) => r.blocked).map((r) => r.lane);
        return { deviceId: deviceId!, created, lifted };
      }),
    );
  }

  /** The lanes of every account key the user has logged in (or failed to) under. */
  async lanesOfUser(userId: string): Promise<LoginLaneState[]> {
    const rows = (await this.dataSource.query(
      `SELECT t.lane, t.source, t.key, t.failures, t.window_start, t.last_failure_at,
              CASE WHEN t.blocked_until > now() THEN t.blocked_until END AS blocked_until
         FROM login_throttle t JOIN login_accounts a ON a.account = t.account
        WHERE a.user_id = $1 AND t.expires_at > now()
        ORDER BY t.lane, t.key`,
      [userId],
    )) as RawLane[];
    return rows.map((r) => ({
      lane: r.lane,
      source: r.source,
      deviceId: r.lane === 'account_device' ? r.key.slice(r.key.indexOf('/') + 1) : null,
      failures: r.failures,
      windowStart: iso(r.window_start)!,
      lastFailureAt: iso(r.last_failure_at),
      blockedUntil: iso(r.blocked_until),
    }));
  }

  async devicesOfUser(userId: string): Promise<number> {
    const [row] = (await this.dataSource.query(
      `SELECT count(*)::int AS n FROM login_devices WHERE user_id = $1 AND expires_at > now()`,
      [userId],
    )) as { n: number }[];
    return row.n;
  }

  /** Deletes every lane of the user's account keys; answers the lanes that were blocked. */
  async clearUser(
    userId: string,
  ): Promise<{ cleared: number; lifted: LoginLane[]; accounts: string[] }> {
    const rows = (await retryOnDeadlock(() =>
      this.dataSource.query(
        `DELETE FROM login_throttle t USING login_accounts a
        WHERE a.account = t.account AND a.user_id = $1
       RETURNING t.lane, t.blocked_until > now() AS blocked, encode(t.account, 'hex') AS account`,
        [userId],
      ),
    )) as [{ lane: LoginLane; blocked: boolean | null; account: string }[], number];
    return { ...liftedOf(rows[0]), accounts: [...new Set(rows[0].map((r) => r.account))] };
  }

  /** Deletes the source's lane and its account + source lanes. */
  async clearSource(source: string): Promise<{ cleared: number; lifted: LoginLane[] }> {
    const rows = (await retryOnDeadlock(() =>
      this.dataSource.query(
        `DELETE FROM login_throttle WHERE source = $1 AND lane IN ('source', 'account_source')
       RETURNING lane, blocked_until > now() AS blocked`,
        [source],
      ),
    )) as [{ lane: LoginLane; blocked: boolean | null }[], number];
    return liftedOf(rows[0]);
  }

  /** Sources in key order after `after`; only the blocked ones when `throttled`. */
  async sources(throttled: boolean, limit: number, after: string | null): Promise<SourceState[]> {
    const rows = (await this.dataSource.query(
      `SELECT key, failures, window_start,
              CASE WHEN blocked_until > now() THEN blocked_until END AS blocked_until
         FROM login_throttle
        WHERE lane = 'source' AND expires_at > now()
          AND ($1::boolean IS NOT TRUE OR blocked_until > now())
          AND ($2::text IS NULL OR key > $2)
        ORDER BY key LIMIT $3`,
      [throttled, after, limit],
    )) as { key: string; failures: number; window_start: Date; blocked_until: Date | null }[];
    return rows.map((r) => ({
      source: r.key,
      failures: r.failures,
      windowStart: iso(r.window_start)!,
      blockedUntil: iso(r.blocked_until),
    }));
  }

  /** Forgets the user's trusted devices; answers how many. */
  async forgetDevices(userId: string): Promise<number> {
    const [, count] = (await this.dataSource.query(`DELETE FROM login_devices WHERE user_id = $1`, [
      userId,
    ])) as [unknown, number];
    return count;
  }

  /**
   * Deletes expired rows, a batch per statement, rows another transaction holds skipped: answers
   * how many went. Blocked hard stops never expire; quiet lanes go `retentionSeconds` after their
   * last failure or block.
   */
  async sweep(): Promise<number> {
    let total = 0;
    for (const table of ['login_throttle', 'login_devices']) {
      for (;;) {
        const [, count] = (await this.dataSource.query(
          `DELETE FROM ${table} WHERE ctid = ANY (ARRAY (
             SELECT ctid FROM ${table} WHERE expires_at <= now()
              LIMIT $1 FOR UPDATE SKIP LOCKED))`,
          [this.options.sweepBatch],
        )) as [unknown, number];
        total += count;
        if (count < this.options.sweepBatch) break;
      }
    }
    return total;
  }
}

interface RawAdmit {
  admitted: boolean;
  trusted: boolean;
  wait_ms: string;
  blocking: LoginLane[] | null;
  user_id: string | null;
  started: LoginLane[] | null;
  started_until: (Date | number | string)[] | null;
  account_window: string | null;
  source_window: string | null;
}

interface RawLane {
  lane: LoginLane;
  source: string | null;
  key: string;
  failures: number;
  window_start: Date;
  last_failure_at: Date | null;
  blocked_until: Date | number | string | null;
}

function isInfinite(value: unknown): boolean {
  return (
    value === Infinity ||
    value === 'infinity' ||
    (value instanceof Date && Number.isNaN(value.getTime()))
  );
}

function iso(value: Date | number | string | null): string | null {
  if (value === null) return null;
  if (isInfinite(value)) return 'infinity';
  return new Date(value as Date).toISOString();
}

function liftedOf(rows: { lane: LoginLane; blocked: boolean | null }[]): {
  cleared: number;
  lifted: LoginLane[];
} {
  return { cleared: rows.length, lifted: rows.filter((r) => r.blocked).map((r) => r.lane) };
}

/** PostgreSQL's deadlock_detected: the statement was rolled back whole and may run again. */
const DEADLOCK = '40P01';

/**
 * Runs a statement (or transaction) again when PostgreSQL broke a deadlock by aborting it. Lock
 * orders are kept consistent, so this is a safety net (admin clears delete in table order), never
 * the normal path; each try is atomic, so a retry never charges twice.
 */
async function retryOnDeadlock<T>(run: () => Promise<T>, tries = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (error) {
      const code =
        (error as { code?: string; driverError?: { code?: string } }).code ??
        (error as { driverError?: { code?: string } }).driverError?.code;
      if (code !== DEADLOCK || attempt >= tries) throw error;
    }
  }
}
