import { idOf, type LogFileBytes } from './audit-log.lines.js';

/** Seeking stops this close to the target; the reader then streams the rest. */
const WINDOW = 16 * 1024;
/** Lines that are not records skipped at one probe before it gives up on them. */
const SKIP = 8;

/**
 * Where to start reading a log file to meet record `target`: a line whose record comes before
 * `target` (or 0), at most WINDOW bytes before the first line of `target` or later. An instance's
 * file is append-only and in id order, so this is a binary search over byte offsets: about
 * log2(size / WINDOW) probes of a line each, however long the file (no index to build or keep).
 *
 * It can only err towards the start: a probe that finds no record (a garbled or over-long line)
 * moves the upper bound down. So the reader meets every line from `target` on, and a line that was
 * tampered with is still compared with the table (a line moved out of order may read as missing).
 */
export async function offsetBefore(
  bytes: LogFileBytes,
  size: number,
  target: number,
): Promise<number> {
  let lo = 0; // 0, or the start of a line whose record is before target
  let hi = size; // no line starting at or after hi is before target
  while (hi - lo > WINDOW) {
    const mid = lo + Math.floor((hi - lo) / 2);
    const start = await bytes.lineStartFrom(mid, hi);
    if (start === null) {
      hi = mid; // no line starts in [mid, hi)
      continue;
    }
    const probe = await firstRecord(bytes, start, hi);
    if (probe && probe.id < target) lo = probe.start;
    else hi = start;
  }
  return lo;
}

/** The first line from `start` (before `limit`) that is a record, among the next SKIP lines. */
async function firstRecord(
  bytes: LogFileBytes,
  start: number,
  limit: number,
): Promise<{ id: number; start: number } | null> {
  let at = start;
  for (let i = 0; i < SKIP && at < limit; i++) {
    const line = await bytes.lineAt(at, limit);
    if (!line) return null;
    const id = idOf(line.text);
    if (id !== null) return { id, start: at };
    at = line.next;
  }
  return null;
}
