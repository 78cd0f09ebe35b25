import { type LastLogRecord } from './audit-log.files.js';
import { AuditLogForeignError } from './audit-startup.errors.js';
import { type AuditStore } from './audit-store.js';

/**
 * Checks, before anything is appended, that a log directory belongs to this database's chain: the
 * last record of this instance's files must be in audit_events with the same id and hash. Only
 * that record is compared: with several instances each file holds only its own instance's
 * records, so the ids in one file are not contiguous. No records at all: nothing to compare.
 */
export async function assertLogBelongsToChain(
  dir: string,
  last: LastLogRecord | null,
  store: AuditStore,
): Promise<void> {
  if (last === null) return;
  if (last.id !== null && last.hash !== null) {
    const expected = await store.chainPosition(last.id);
    if (expected.hashAtId === last.hash) return;
    throw new AuditLogForeignError(dir, { found: last, expected });
  }
  const expected = await store.chainPosition(0);
  throw new AuditLogForeignError(dir, { found: last, expected });
}
