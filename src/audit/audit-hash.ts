import { createHash } from 'node:crypto';
import { type AuditRecord } from './audit-record.js';
import { canonicalJson } from './jcs.js';

/** Lowercase hex SHA-256 of the canonical JSON (RFC 8785) of the record without `hash`, UTF-8. */
export function hashRecord(record: Omit<AuditRecord, 'hash'>): string {
  const { hash: _ignored, ...rest } = record as AuditRecord;
  return sha256(canonicalJson(rest));
}

/** The record as one log-file line: its canonical JSON, `hash` included (no newline). */
export function recordLine(record: AuditRecord): string {
  return canonicalJson(record);
}

/**
 * The hash a record should have and its log-file line, from one canonicalisation: each field is
 * serialised once and the two forms only differ by the `"hash"` member (verification needs both).
 */
export function hashAndLine(record: AuditRecord): { hash: string; line: string } {
  const members: string[] = [];
  let hashAt = 0;
  // RFC 8785 orders members by UTF-16 code units; the record's keys are ASCII, so sort() is exact.
  for (const key of Object.keys(record).sort()) {
    if (key === 'hash') {
      hashAt = members.length;
      continue;
    }
    const value = (record as unknown as Record<string, unknown>)[key];
    if (value !== undefined) members.push(`${JSON.stringify(key)}:${canonicalJson(value)}`);
  }
  const hash = sha256(`{${members.join(',')}}`);
  members.splice(hashAt, 0, `"hash":${JSON.stringify(record.hash)}`);
  return { hash, line: `{${members.join(',')}}` };
}

function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}
