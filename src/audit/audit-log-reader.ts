import { open } from 'node:fs/promises';
import path from 'node:path';
import { rotatedLastId } from './audit-log.files.js';
import { idOf, LogFileBytes, type LogReadStats } from './audit-log.lines.js';
import { offsetBefore } from './audit-log-seek.js';

export { type LogReadStats } from './audit-log.lines.js';

/** One line of a log file, with the id its record claims (null when the line is not a record). */
export interface LogLine {
  id: number | null;
  text: string;
  file: string;
  /** 1-based; null when reading started past the file's start (see `fromId`). */
  lineNumber: number | null;
  /** Byte offset of the line in its file. */
  offset: number;
}

export interface ReadLogLinesOptions {
  /**
   * Only lines from this record on are wanted: files that end before it are skipped, and reading
   * starts shortly before its line (see offsetBefore). Lines before it may still come first.
   */
  fromId?: number;
  /** Adds up what was read. */
  stats?: LogReadStats;
}

/** Reads start small (a verification of one record reads a few lines) and grow for long reads. */
const FIRST_CHUNK = 16 * 1024;
const MAX_CHUNK = 256 * 1024;
/** Lines per batch: one await per this many lines, and no more parsed than a reader takes. */
const MAX_BATCH_LINES = 64;

/** Reads log files line by line, in order, without holding them in memory. */
export async function* readLogLines(
  files: string[],
  options: ReadLogLinesOptions = {},
): AsyncGenerator<LogLine> {
  for await (const batch of readLogLineBatches(files, options)) yield* batch;
}

/**
 * The same lines, as the batches each read of the file holds (one await per batch, not per line:
 * what a verification that checks every line reads them with).
 */
export async function* readLogLineBatches(
  files: string[],
  options: ReadLogLinesOptions = {},
): AsyncGenerator<LogLine[]> {
  const stats = options.stats ?? { bytes: 0, lines: 0 };
  const fromId = options.fromId ?? 1;
  // A rotated file is named after its last id: one that ends before fromId has nothing wanted.
  // (The last file is read whatever its name: it may be the current one.)
  const wanted = files.filter(
    (f, i) => i === files.length - 1 || (rotatedLastId(path.basename(f)) ?? Infinity) >= fromId,
  );
  for (const [i, file] of wanted.entries()) {
    const handle = await open(file, 'r');
    try {
      const bytes = new LogFileBytes(handle, stats);
      const start =
        i === 0 && fromId > 1 ? await offsetBefore(bytes, (await handle.stat()).size, fromId) : 0;
      yield* streamLineBatches(bytes, file, start, stats);
    } finally {
      await handle.close();
    }
  }
}

/** Every line from `start` to the end of the file (a last one without newline included). */
async function* streamLineBatches(
  bytes: LogFileBytes,
  file: string,
  start: number,
  stats: LogReadStats,
): AsyncGenerator<LogLine[]> {
  let lineNumber = start === 0 ? 0 : null;
  let pending: Buffer = Buffer.alloc(0);
  let pendingAt = start; // offset of pending[0]
  const line = (raw: Buffer, offset: number): LogLine | null => {
    if (lineNumber !== null) lineNumber++;
    stats.lines++;
    const text = raw.toString('utf8');
    return text === '' ? null : { id: idOf(text), text, file, lineNumber, offset };
  };
  for (let position = start, size = FIRST_CHUNK; ; size = Math.min(MAX_CHUNK, size * 2)) {
    const chunk = await bytes.read(position, size);
    if (chunk.length === 0) break;
    position += chunk.length;
    const buffer = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    let batch: LogLine[] = [];
    let from = 0;
    for (let nl = buffer.indexOf(0x0a); nl >= 0; nl = buffer.indexOf(0x0a, from)) {
      const next = line(buffer.subarray(from, nl), pendingAt + from);
      from = nl + 1;
      if (next) batch.push(next);
      // Bounded batches: a reader that stops early has not had the rest of the chunk parsed.
      if (batch.length === MAX_BATCH_LINES) {
        yield batch;
        batch = [];
      }
    }
    if (batch.length) yield batch;
    pending = buffer.subarray(from);
    pendingAt += from;
  }
  if (pending.length) {
    const last = line(pending, pendingAt);
    if (last) yield [last];
  }
}

/** "line 12", or "the line at byte 4096" when line numbers are not known. */
export function lineLabel(line: LogLine): string {
  return line.lineNumber !== null ? `line ${line.lineNumber}` : `the line at byte ${line.offset}`;
}

/** Lets a reader look at the next line before taking it (over readLogLineBatches). */
export class PeekableLines {
  private batch: LogLine[] = [];
  private at = 0;
  private ended = false;

  constructor(private readonly source: AsyncGenerator<LogLine[]>) {}

  /**
   * The next line if it is already read: the line, null at the end, undefined when the next batch
   * must be read first (`fill()`). What a caller checking every line uses to await once a batch.
   */
  peekNow(): LogLine | null | undefined {
    if (this.at < this.batch.length) return this.batch[this.at];
    return this.ended ? null : undefined;
  }

  /** Drops the line peekNow() answered. */
  skip(): void {
    this.at++;
  }

  /** Reads the next batch (when the buffered lines are used up). */
  async fill(): Promise<void> {
    while (this.at >= this.batch.length && !this.ended) {
      const next = await this.source.next();
      if (next.done) this.ended = true;
      else {
        this.batch = next.value;
        this.at = 0;
      }
    }
  }

  async peek(): Promise<LogLine | null> {
    const now = this.peekNow();
    if (now !== undefined) return now;
    await this.fill();
    return this.peekNow() ?? null;
  }

  async take(): Promise<LogLine | null> {
    const line = await this.peek();
    if (line) this.at++;
    return line;
  }

  async close(): Promise<void> {
    await this.source.return(undefined);
  }
}
