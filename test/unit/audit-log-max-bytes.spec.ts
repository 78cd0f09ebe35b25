import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { recordLine } from '../../src/audit/audit-hash.js';
import { AuditLogFile } from '../../src/audit/audit-log-file.js';
import { type AuditRecord } from '../../src/audit/audit-record.js';

// What the README's configuration table says of AUDIT_LOG_MAX_BYTES: the file rotates before a
// write that would pass the size, and a write (one batch) is never split, so a file can exceed
// the limit by up to one batch — never more.

const MAX = 4096;

const record = (id: number): AuditRecord => ({
  id,
  occurredAt: '2026-11-25T10:00:00.000Z',
  type: 'unit.test',
  userId: `u${id}`,
  actorId: null,
  outcome: 'success',
  threat: 'none',
  ip: null,
  method: null,
  path: null,
  entityType: null,
  targetId: null,
  location: null,
  description: 'x'.repeat(200),
  details: null,
  prevHash: String(id - 1).padStart(64, '0'),
  hash: String(id).padStart(64, 'a'),
});
const range = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => record(from + i));
const bytesOf = (records: AuditRecord[]) =>
  Buffer.byteLength(records.map((r) => `${recordLine(r)}\n`).join(''));

/** Every file of the log, oldest first, as [ids, size]. */
function files(dir: string): [number[], number][] {
  const names = fs.readdirSync(dir).filter((n) => n.startsWith('audit.log'));
  const ordered = [...names.filter((n) => n !== 'audit.log').sort(), 'audit.log'];
  return ordered.map((n) => {
    const text = fs.readFileSync(path.join(dir, n), 'utf8');
    const ids = text
      .split('\n')
      .filter(Boolean)
      .map((l) => (JSON.parse(l) as AuditRecord).id);
    return [ids, Buffer.byteLength(text)];
  });
}

describe('AUDIT_LOG_MAX_BYTES', () => {
  let root: string;
  let file: AuditLogFile;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'sg-max-bytes-'));
  });
  afterEach(async () => {
    await file?.close();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('rotates before a write would pass it, and writes a batch larger than it whole', async () => {
    const dir = path.join(root, 'audit');
    file = new AuditLogFile({ dir, fileName: 'audit.log', maxBytes: MAX, fsync: false });
    await file.open();
    const write = (records: AuditRecord[]) => file.write(file.reserve(), records);

    await write(range(1, 3));
    const batch = range(4, 25);
    expect(bytesOf(batch)).toBeGreaterThan(MAX); // one batch alone is over the limit
    await write(batch);
    await write(range(26, 26));

    expect(files(dir)).toEqual([
      [[1, 2, 3], bytesOf(range(1, 3))], // rotated before the big batch: under the limit
      [batch.map((r) => r.id), bytesOf(batch)], // the batch, not split: over by less than itself
      [[26], bytesOf(range(26, 26))], // rotated again before the next write
    ]);
    for (const [, size] of files(dir)) expect(size).toBeLessThan(MAX + bytesOf(batch));
  });
});
