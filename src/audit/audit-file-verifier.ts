import fs from 'node:fs';
import { hashRecord } from './audit-hash.js';
import { lineLabel, PeekableLines, readLogLineBatches, type LogLine } from './audit-log-reader.js';
import { listLogFiles, rotatedBase } from './audit-log-file.js';
import { CHECKPOINT_FILE_NAMES } from './audit-log.files.js';
import { type AuditRecord, GENESIS_HASH } from './audit-record.js';
import { type VerifyResult } from './audit-verifier.js';

/**
 * Verifies the log files in a directory without the database: the files of every instance found
 * there are merged by id, and the chain is recomputed from record 1 (ids must be contiguous, each
 * prevHash the previous hash, each hash the record's). No database needed: an auditor's check.
 * `onRecord` sees each verified record in id order (the transparency check builds its root).
 */
export async function verifyLogDirectory(
  dir: string,
  onProgress?: (checked: number) => void,
  onRecord?: (record: AuditRecord) => void,
): Promise<VerifyResult> {
  const groups = logFileGroups(dir).map((files) => new PeekableLines(readLogLineBatches(files)));
  let checked = 0;
  let expectedId = 1;
  let prevHash = GENESIS_HASH;
  try {
    for (;;) {
      let best: { group: PeekableLines; line: LogLine } | null = null;
      for (const group of groups) {
        const line = await group.peek();
        if (!line) continue;
        if (line.id === null) {
          return fail(checked, expectedId, `${line.file} ${lineLabel(line)} is not a record`);
        }
        if (!best || line.id < best.line.id!) best = { group, line };
      }
      if (!best) break;
      await best.group.take();
      const record = JSON.parse(best.line.text) as AuditRecord;
      if (record.id < expectedId)
        return fail(checked, record.id, 'record appears twice or out of order in the log files');
      if (record.id > expectedId)
        return fail(checked, expectedId, `record ${expectedId} is missing from the log files`);
      if (record.prevHash !== prevHash) {
        return fail(
          checked,
          record.id,
          'prevHash does not match the hash of the previous record (deleted, inserted or reordered records)',
        );
      }
      if (hashRecord(record) !== record.hash)
        return fail(checked, record.id, 'hash does not match the record content (record altered)');
      prevHash = record.hash;
      onRecord?.(record);
      expectedId++;
      checked++;
      if (onProgress && checked % 10_000 === 0) onProgress(checked);
    }
    if (checked === 0) return fail(0, 1, `no audit log records found in ${dir}`);
    return { ok: true, checked };
  } finally {
    await Promise.all(groups.map((g) => g.close()));
  }
}

function fail(checked: number, firstInvalidId: number, reason: string): VerifyResult {
  return { ok: false, checked, firstInvalidId, reason };
}

/** The files of each instance in `dir` (a current file and its rotated siblings), oldest first. */
function logFileGroups(dir: string): string[][] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const bases = new Set<string>();
  for (const name of names) {
    if (name.endsWith('.lock') || name.startsWith('.') || CHECKPOINT_FILE_NAMES.includes(name))
      continue;
    bases.add(rotatedBase(name) ?? name);
  }
  return [...bases].map((base) => listLogFiles(dir, base)).filter((files) => files.length > 0);
}
