import fs from 'node:fs';
import path from 'node:path';

/** Naming, listing and tail-reading of an instance's log files (a current one, rotated ones). */

/** The last line of an instance's log files: its record's id and hash (null: not a record). */
export interface LastLogRecord {
  file: string;
  id: number | null;
  hash: string | null;
}

/**
 * The last complete line of the newest of `files` (oldest first) that has one, as a record; null
 * when they hold no line. A torn tail (after the last newline) is not a line.
 */
export function lastLogRecord(files: string[]): LastLogRecord | null {
  for (const file of [...files].reverse()) {
    const line = lastLine(file);
    if (line !== null) return { file, ...recordKey(line) };
  }
  return null;
}

/**
 * Files the transparency log keeps in the log directory (its signed checkpoints): never log files,
 * and no instance's log file may take these names.
 */
export const CHECKPOINT_FILE_NAMES: readonly string[] = ['checkpoint', 'checkpoints.jsonl'];

/** The log files of `fileName` in `dir`, oldest first: rotated files, then the current file. */
export function listLogFiles(dir: string, fileName: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const rotated = names
    .filter((n) => n.startsWith(`${fileName}.`) && ROTATED.test(n.slice(fileName.length)))
    .sort((a, b) => rotatedOrder(a) - rotatedOrder(b) || a.localeCompare(b));
  const current = names.includes(fileName) ? [fileName] : [];
  return [...rotated, ...current].map((n) => path.join(dir, n));
}

/** Suffix of a rotated file: `.<timestamp>.<last id, 12+ digits>`. */
const ROTATED = /^\.[^.]+\.\d{12,}$/;

/** The name a rotated file came from, or null when `name` is not a rotated file. */
export function rotatedBase(name: string): string | null {
  const m = /^(.+)\.[^.]+\.\d{12,}$/.exec(name);
  return m ? m[1] : null;
}

function rotatedOrder(name: string): number {
  return rotatedLastId(name) ?? 0;
}

/** The last id a rotated file's name carries (`audit.log.<stamp>.000000000042`: 42); else null. */
export function rotatedLastId(name: string): number | null {
  const m = ROTATED_LAST_ID.exec(name);
  return m ? Number(m[1]) : null;
}

const ROTATED_LAST_ID = /^.+\.[^.]+\.(\d{12,})$/;

/** Id of the record on the last line of `file`; 0 when none (or unreadable). */
export function lastRecordId(file: string): number {
  try {
    const line = lastLine(file);
    return (line !== null && recordKey(line).id) || 0;
  } catch {
    return 0;
  }
}

/**
 * The last newline-terminated, non-blank line of `file` (within its last MiB); null when it has
 * none (or does not exist); '' when that line is longer than any record.
 */
function lastLine(file: string): string | null {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  try {
    const size = fs.fstatSync(fd).size;
    const len = Math.min(size, 1 << 20);
    const buf = Buffer.alloc(len);
    fs.readSync(fd, buf, 0, len, size - len);
    // What follows the last newline is a torn write, not a line.
    const text = buf
      .subarray(0, buf.lastIndexOf(0x0a) + 1)
      .toString('utf8')
      .trimEnd();
    const start = text.lastIndexOf('\n') + 1;
    if (start === 0 && len < size) return ''; // the tail holds no line start
    if (text === '') return null;
    return text.slice(start);
  } finally {
    fs.closeSync(fd);
  }
}

/** The id and hash a line's record claims; null for what is not there or not a record. */
function recordKey(line: string): { id: number | null; hash: string | null } {
  try {
    const record = JSON.parse(line) as { id?: unknown; hash?: unknown } | null;
    const id = record?.id;
    const hash = record?.hash;
    return {
      id: typeof id === 'number' && Number.isSafeInteger(id) && id > 0 ? id : null,
      hash: typeof hash === 'string' ? hash : null,
    };
  } catch {
    return { id: null, hash: null };
  }
}
