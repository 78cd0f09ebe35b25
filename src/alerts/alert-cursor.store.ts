import { type DataSource } from 'typeorm';
import { type AuditRecord } from '../audit/audit-record.js';
import { RECORD_SELECT } from '../audit/audit-store.js';

/** A destination's row of `alert_cursors`, as every instance sees it. */
export interface AlertCursorRow {
  /** Id of the last alert the receiver acknowledged. */
  lastId: number;
  holder: string | null;
  leaseUntil: string | null;
  deliveredAt: string | null;
  failures: number;
  lastError: string | null;
  lastAttemptAt: string | null;
  nextAttemptAt: string | null;
}

/** A timestamp as the audit records show them (UTC, milliseconds), or null. */
const iso = (column: string) =>
  `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

const ROW = `last_id::float8 AS "lastId", holder, ${iso('lease_until')} AS "leaseUntil",
  ${iso('delivered_at')} AS "deliveredAt", failures, last_error AS "lastError",
  ${iso('last_attempt_at')} AS "lastAttemptAt", ${iso('next_attempt_at')} AS "nextAttemptAt"`;

/** Counting the backlog stops here: a status needs its size, not an exact huge number. */
export const PENDING_COUNT_CAP = 10_000;

/**
 * Every SQL statement of the alert outbox. The lease is decided on the database's clock, so
 * instances with skewed clocks still agree on who delivers; every write of the deliverer names
 * itself as holder, so one that lost its lease (paused past it) changes nothing.
 */
export class AlertCursorStore {
  constructor(private readonly dataSource: DataSource) {}

  async tableExists(): Promise<{ exists: boolean; database: string }> {
    const [row] = await this.dataSource.query(
      `SELECT current_database() AS database, to_regclass('alert_cursors') IS NOT NULL AS exists`,
    );
    return row;
  }

  /**
   * Creates the destination's row if it has none: its cursor at the chain head (`now`: alerts
   * from here on) or at 0 (`beginning`). A row that exists is left as it is.
   */
  async ensure(destination: string, startAt: 'now' | 'beginning'): Promise<void> {
    await this.dataSource.query(
      `INSERT INTO alert_cursors (destination, last_id)
       SELECT $1, CASE WHEN $2 THEN 0 ELSE coalesce((SELECT last_id FROM audit_chain_head), 0) END
       ON CONFLICT (destination) DO NOTHING`,
      [destination, startAt === 'beginning'],
    );
  }

  /**
   * Takes or renews the lease: granted when nobody holds it, `holder` already does, or the
   * holder's lease has lapsed. One statement, the row locked: of racing instances one wins.
   * Answers the row and whether `holder` now holds it (and from whom it took it over).
   */
  async claim(
    destination: string,
    holder: string,
    leaseMs: number,
  ): Promise<{ row: AlertCursorRow; held: boolean; tookFrom: string | null } | null> {
    const [claimed] = returned<AlertCursorRow & { tookFrom: string | null }>(
      await this.dataSource.query(
        `WITH current AS (
         -- Named apart from the table's columns: RETURNING reads the updated row's.
         SELECT destination, holder AS previous, lease_until < now() AS lapsed
         FROM alert_cursors WHERE destination = $1 FOR UPDATE
       )
       UPDATE alert_cursors c
       SET holder = $2, lease_until = now() + $3 * interval '1 millisecond', updated_at = now()
       FROM current
       WHERE c.destination = current.destination
         AND (current.previous IS NULL OR current.previous = $2 OR current.lapsed)
       RETURNING ${ROW},
         CASE WHEN current.previous IS DISTINCT FROM $2 THEN current.previous END AS "tookFrom"`,
        [destination, holder, leaseMs],
      ),
    );
    if (claimed) {
      const { tookFrom, ...row } = claimed;
      return { row, held: true, tookFrom };
    }
    const row = await this.read(destination);
    return row ? { row, held: false, tookFrom: null } : null;
  }

  async read(destination: string): Promise<AlertCursorRow | null> {
    const [row] = await this.dataSource.query(
      `SELECT ${ROW} FROM alert_cursors WHERE destination = $1`,
      [destination],
    );
    return row ?? null;
  }

  /**
   * The alerts after `afterId`, oldest first. One index scan of (type, id) per type, each
   * stopping at `limit`: the cost follows the alerts read, never the records between them. The
   * types are separate statements of a UNION, each planned with its own value: a LATERAL join
   * over the list hid the value from the planner, which then walked the primary key from the
   * cursor and filtered (every record since the last alert, at every poll).
   */
  alertsAfter(types: string[], afterId: number, limit: number): Promise<AuditRecord[]> {
    const perType = types.map(
      (_, i) =>
        `(SELECT ${RECORD_SELECT} FROM audit_events
          WHERE audit_events.type = $${i + 3} AND audit_events.id > $1
          ORDER BY audit_events.id LIMIT $2)`,
    );
    return this.dataSource.query(
      `SELECT * FROM (${perType.join(' UNION ALL ')}) a ORDER BY a."id" LIMIT $2`,
      [afterId, limit, ...types],
    );
  }

  /** Alerts after `afterId`, counted up to PENDING_COUNT_CAP (per type, as alertsAfter reads). */
  async countAfter(types: string[], afterId: number): Promise<number> {
    const perType = types.map(
      (_, i) =>
        `(SELECT count(*) FROM (SELECT 1 FROM audit_events
          WHERE audit_events.type = $${i + 3} AND audit_events.id > $1 LIMIT $2) s)`,
    );
    const [row] = await this.dataSource.query(`SELECT (${perType.join(' + ')})::int AS n`, [
      afterId,
      PENDING_COUNT_CAP,
      ...types,
    ]);
    return Math.min(row.n, PENDING_COUNT_CAP);
  }

  /**
   * The receiver acknowledged alert `id`: the cursor moves to it and the lease is renewed. False
   * when `holder` no longer holds the lease (another instance took over: it goes on from the
   * cursor, so at most this alert is delivered twice).
   */
  async delivered(destination: string, holder: string, id: number, leaseMs: number) {
    const rows = await this.dataSource.query(
      `UPDATE alert_cursors
       SET last_id = greatest(last_id, $3), delivered_at = now(), last_attempt_at = now(),
           failures = 0, last_error = NULL, next_attempt_at = NULL,
           lease_until = now() + $4 * interval '1 millisecond', updated_at = now()
       WHERE destination = $1 AND holder = $2
       RETURNING 1`,
      [destination, holder, id, leaseMs],
    );
    return returned(rows).length === 1;
  }

  /** An attempt failed: its error and when the next one is due, for every instance to report. */
  async failed(
    destination: string,
    holder: string,
    failures: number,
    error: string,
    nextAttemptAt: Date,
  ): Promise<boolean> {
    const rows = await this.dataSource.query(
      `UPDATE alert_cursors
       SET failures = $3, last_error = left($4, 1024), last_attempt_at = now(),
           next_attempt_at = $5, updated_at = now()
       WHERE destination = $1 AND holder = $2
       RETURNING 1`,
      [destination, holder, failures, error, nextAttemptAt.toISOString()],
    );
    return returned(rows).length === 1;
  }

  /** Gives the lease up (a clean stop): a standby takes over at its next poll. */
  async release(destination: string, holder: string): Promise<void> {
    await this.dataSource.query(
      `UPDATE alert_cursors SET holder = NULL, lease_until = NULL, updated_at = now()
       WHERE destination = $1 AND holder = $2`,
      [destination, holder],
    );
  }
}

/** TypeORM answers UPDATE … RETURNING with [rows, affected]. */
function returned<T = Record<string, unknown>>(result: unknown): T[] {
  return (result as [T[], number])[0];
}
