import { createHash } from 'node:crypto';
import { type AuditRecord } from './audit-record.js';
import { canonicalJson } from './jcs.js';

/** Lowercase hex SHA-256 of the canonical JSON (RFC 8785) of the record without `hash`, UTF-8. */
export function hashRecord(record: Omit<AuditRecord, 'hash'>): string {
  const { hash: _ignored, ...rest } = record as AuditRecord;
  return createHash('sha256').update(canonicalJson(rest), 'utf8').digest('hex');
}

/** The record as one log-file line: its canonical JSON, `hash` included (no newline). */
export function recordLine(record: AuditRecord): string {
  return canonicalJson(record);
}
