import { type DataSource } from 'typeorm';
import { hashAndLine } from './audit-hash.js';
import {
  lineLabel,
  type LogReadStats,
  PeekableLines,
  readLogLineBatches,
} from './audit-log-reader.js';
import { type AuditRecord, GENESIS_HASH } from './audit-record.js';
import { RECORD_SELECT } from './audit-store.js';

/** Outcome of a verification: the first record that does not hold, and why. */
export interface VerifyResult {
  ok: boolean;
  checked: number;
  firstInvalidId?: number;
  reason?: string;
}

/** The log files to cross-check, and the last id they are known to hold. */
export interface LogFileShare {
  instanceId: string;
  files: string[];
  lastId: number;
}

class Invalid {
  constructor(
    readonly id: number,
    readonly reason: string,
  ) {}
}

type Row = AuditRecord & { instanceId: string };

/**
 * Recomputes every hash and link from the table, in chunks (flat memory; other queries run between
 * chunks), checks the chain head, and cross-checks the table against an instance's log file.
 */
export class AuditVerifier {
  constructor(
    private readonly dataSource: DataSource,
    private readonly chunkSize: number,
  ) {}

  /**
   * `stats` adds up what was read of the log files: a range is checked from shortly before its
   * first line (a binary search of the file), never from the file's start.
   */
  async verify(
    range: { fromId?: number; toId?: number },
    share: LogFileShare | null,
    onProgress?: (checked: number) => void,
    stats?: LogReadStats,
  ): Promise<VerifyResult> {
    let checked = 0;
    const start = Math.max(1, range.fromId ?? 1);
    const lines = share
      ? new PeekableLines(readLogLineBatches(share.files, { fromId: start, stats }))
      : null;
    try {
      const [head] = await this.dataSource.query(
        'SELECT last_id::float8 AS "lastId", last_hash AS "lastHash" FROM audit_chain_head',
      );
      const end = Math.min(range.toId ?? head.lastId, head.lastId);
      let prevHash = GENESIS_HASH;
      if (start > 1) {
        const [prev] = await this.rows(start - 2, start - 1, 1);
        if (!prev || prev.id !== start - 1)
          throw new Invalid(start - 1, `record ${start - 1} is missing from the table`);
        prevHash = prev.hash;
      }
      let expectedId = start;
      // The next chunk is read while this one is hashed (the database works while we do).
      const chunkAfter = (afterId: number): Promise<Row[]> => {
        if (afterId >= end) return Promise.resolve([]);
        const read = this.rows(afterId, end, this.chunkSize);
        read.catch(() => {}); // a failure surfaces where it is awaited, or not at all
        return read;
      };
      let next = chunkAfter(start - 1);
      for (;;) {
        const rows = await next;
        if (rows.length === 0) break;
        next = chunkAfter(rows[rows.length - 1].id);
        for (const row of rows) {
          if (row.id !== expectedId)
            throw new Invalid(expectedId, `record ${expectedId} is missing from the table`);
          if (row.prevHash !== prevHash) {
            throw new Invalid(
              row.id,
              'prevHash does not match the hash of the previous record (deleted, inserted or reordered records)',
            );
          }
          const { instanceId, ...record } = row;
          const expected = hashAndLine(record);
          if (expected.hash !== row.hash)
            throw new Invalid(row.id, 'hash does not match the record content (record altered)');
          if (lines && share && instanceId === share.instanceId && row.id <= share.lastId) {
            // Synchronous while the file's lines are buffered: one await per batch read.
            while (!crossCheckNow(lines, record.id, expected.line, start)) await lines.fill();
          }
          prevHash = row.hash;
          expectedId++;
          checked++;
        }
        onProgress?.(checked);
      }
      if (expectedId <= end)
        throw new Invalid(expectedId, `record ${expectedId} is missing from the table`);
      const openEnded = range.toId === undefined || range.toId >= head.lastId;
      if (openEnded) {
        if (head.lastId > 0 && prevHash !== head.lastHash) {
          throw new Invalid(head.lastId, 'the chain head does not match the last record');
        }
        const [beyond] = await this.dataSource.query(
          'SELECT min(id)::float8 AS id FROM audit_events WHERE id > $1',
          [head.lastId],
        );
        if (beyond?.id)
          throw new Invalid(
            beyond.id,
            'record lies beyond the chain head (inserted outside the chain)',
          );
      }
      if (lines && share) {
        // Lines left in the file within the range: records the table does not have.
        for (let line = await lines.take(); line; line = await lines.take()) {
          if (line.id === null)
            throw new Invalid(
              expectedId,
              `log file ${line.file} ${lineLabel(line)} is not a record`,
            );
          // Open-ended: a file line past the chain head means the table lost its newest records
          // (even if the head row was rolled back to match).
          if (line.id > (openEnded ? share.lastId : Math.min(end, share.lastId))) break;
          if (line.id >= start)
            throw new Invalid(line.id, 'record is in the log file but not in the table');
        }
      }
      return { ok: true, checked };
    } catch (error) {
      if (error instanceof Invalid)
        return { ok: false, checked, firstInvalidId: error.id, reason: error.reason };
      throw error;
    } finally {
      await lines?.close();
    }
  }

  private rows(afterId: number, toId: number, limit: number): Promise<Row[]> {
    return this.dataSource.query(
      `SELECT ${RECORD_SELECT}, instance_id AS "instanceId" FROM audit_events
       WHERE id > $1 AND id <= $2 ORDER BY audit_events.id LIMIT $3`,
      [afterId, toId, limit],
    );
  }
}

/**
 * The next line of this instance's file must be this record, byte for byte. Answers false when
 * the buffered lines ran out before it could tell (fill and call again: the lines it skipped,
 * before the verified range, stay skipped); throws Invalid when the line is not the record.
 */
function crossCheckNow(
  lines: PeekableLines,
  id: number,
  expectedLine: string,
  start: number,
): boolean {
  for (;;) {
    const line = lines.peekNow();
    if (line === undefined) return false;
    if (!line || (line.id !== null && line.id > id)) {
      throw new Invalid(id, 'record is in the table but missing from the log file');
    }
    if (line.id === null)
      throw new Invalid(id, `log file ${line.file} ${lineLabel(line)} is not a record`);
    lines.skip();
    if (line.id < start) continue; // before the verified range
    if (line.id < id) throw new Invalid(line.id, 'record is in the log file but not in the table');
    if (line.text !== expectedLine)
      throw new Invalid(id, 'log file line differs from the table record');
    return true;
  }
}
