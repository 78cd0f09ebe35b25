import { type DataSource, type EntityManager } from 'typeorm';
import { hashRecord } from './audit-hash.js';
import { type AuditQuery, auditQuerySql, encodeCursor } from './audit-query.js';
import { checkAuditQuery } from './audit-query.validator.js';
import { type Page, toPage } from '../common/page.js';
import { type AuditRecord, type UnchainedRecord } from './audit-record.js';

/** Columns of audit_events that hold the record, in insert order. */
const COLUMNS = `id, occurred_at, type, user_id, actor_id, outcome, threat, ip, method, path,
  entity_type, target_id, location, description, details, prev_hash, hash, instance_id`;

/**
 * SELECT list that returns a row in the record's shape. Its `id` alias (a float8, for a JSON
 * number) shadows the column: always ORDER BY audit_events.id, or PostgreSQL sorts by the alias
 * and cannot walk the primary key.
 */
export const RECORD_SELECT = `id::float8 AS "id",
  to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "occurredAt",
  type AS "type", user_id AS "userId", actor_id AS "actorId", outcome AS "outcome",
  threat AS "threat", ip AS "ip", method AS "method", path AS "path", entity_type AS "entityType",
  target_id AS "targetId", location AS "location", description AS "description",
  details AS "details", prev_hash AS "prevHash", hash AS "hash"`;

/** Every SQL statement of the audit trail. */
export class AuditStore {
  constructor(private readonly dataSource: DataSource) {}

  /**
   * Appends records to the chain inside the caller's transaction.
   *
   * Safe under concurrency because the chain head row is locked FOR UPDATE first: every writer,
   * on every instance, waits here for the one before it to commit, then links to the head it
   * left. One lock and one INSERT cover the whole batch. `onLocked` runs while the lock is held.
   */
  async append(
    manager: EntityManager,
    records: UnchainedRecord[],
    instanceId: string,
    onLocked: () => void,
  ): Promise<AuditRecord[]> {
    const [head] = await manager.query(
      'SELECT last_id::float8 AS "lastId", last_hash AS "lastHash" FROM audit_chain_head FOR UPDATE',
    );
    onLocked();
    let id: number = head.lastId;
    let prevHash: string = head.lastHash;
    const chained = records.map((r) => {
      const withLink = { id: ++id, ...r, prevHash };
      const record: AuditRecord = { ...withLink, hash: hashRecord(withLink) };
      prevHash = record.hash;
      return record;
    });
    // One statement for the batch: unnest() turns parallel arrays into rows.
    await manager.query(
      `INSERT INTO audit_events (${COLUMNS})
       SELECT * FROM unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::text[], $5::text[],
         $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[],
         $13::text[], $14::text[], $15::jsonb[], $16::text[], $17::text[], $18::text[])`,
      [
        chained.map((r) => r.id),
        chained.map((r) => r.occurredAt),
        chained.map((r) => r.type),
        chained.map((r) => r.userId),
        chained.map((r) => r.actorId),
        chained.map((r) => r.outcome),
        chained.map((r) => r.threat),
        chained.map((r) => r.ip),
        chained.map((r) => r.method),
        chained.map((r) => r.path),
        chained.map((r) => r.entityType),
        chained.map((r) => r.targetId),
        chained.map((r) => r.location),
        chained.map((r) => r.description),
        chained.map((r) => (r.details === null ? null : JSON.stringify(r.details))),
        chained.map((r) => r.prevHash),
        chained.map((r) => r.hash),
        chained.map(() => instanceId),
      ],
    );
    await manager.query('UPDATE audit_chain_head SET last_id = $1, last_hash = $2', [id, prevHash]);
    return chained;
  }

  /** The tables of the audit migration that the database lacks (none: `missing` is empty). */
  async missingTables(): Promise<{ missing: string[]; database: string }> {
    const [row] = await this.dataSource.query(
      `SELECT current_database() AS database,
         to_regclass('audit_events') IS NULL AS "noEvents",
         to_regclass('audit_chain_head') IS NULL AS "noHead"`,
    );
    const missing = [
      ...(row.noEvents ? ['audit_events'] : []),
      ...(row.noHead ? ['audit_chain_head'] : []),
    ];
    return { missing, database: row.database };
  }

  /** The table's last id (0 when empty) and the hash of record `id` (null when it has none). */
  async chainPosition(
    id: number,
  ): Promise<{ database: string; lastId: number; hashAtId: string | null }> {
    const [row] = await this.dataSource.query(
      `SELECT current_database() AS database,
         coalesce((SELECT max(id) FROM audit_events), 0)::float8 AS "lastId",
         (SELECT hash FROM audit_events WHERE id = $1) AS "hashAtId"`,
      [id],
    );
    return row;
  }

  /** Id of the chain head (0 when empty): sizes a verification; no lock taken. */
  async headId(): Promise<number> {
    const [row] = await this.dataSource.query(
      'SELECT last_id::float8 AS "lastId" FROM audit_chain_head',
    );
    return row?.lastId ?? 0;
  }

  /**
   * A search, newest first (keyset paging on id): the one query behind the API and the CLI. The
   * query is checked first (AuditQueryInvalidError; nothing is sent) and every value is bound.
   */
  async search(input: AuditQuery): Promise<Page<AuditRecord>> {
    const query = checkAuditQuery(input);
    const { where, params } = auditQuerySql(query);
    const rows: AuditRecord[] = await this.dataSource.query(
      `SELECT ${RECORD_SELECT} FROM audit_events ${where}
       ORDER BY audit_events.id DESC LIMIT $${params.length + 1}`,
      [...params, query.limit + 1],
    );
    return toPage(rows, query.limit, (last) => encodeCursor(last.id));
  }

  /** Records of one instance after `afterId`, in id order: what its log file may have missed. */
  async byInstanceAfter(
    instanceId: string,
    afterId: number,
    limit: number,
    manager: EntityManager = this.dataSource.manager,
  ): Promise<AuditRecord[]> {
    return manager.query(
      `SELECT ${RECORD_SELECT} FROM audit_events WHERE instance_id = $1 AND id > $2 ORDER BY audit_events.id LIMIT $3`,
      [instanceId, afterId, limit],
    );
  }

  /**
   * Runs `work` holding the chain-head lock, so no append is in flight (repairs). `work` gets the
   * locked transaction's manager and must query through it: the embedded pool has one connection.
   */
  async withHeadLocked<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    return this.dataSource.transaction(async (manager) => {
      await manager.query('SELECT 1 FROM audit_chain_head FOR UPDATE');
      return work(manager);
    });
  }
}
