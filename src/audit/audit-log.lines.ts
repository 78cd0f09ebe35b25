import { type FileHandle } from 'node:fs/promises';

/** What a reader of the log files read: for metrics, and for tests that bound a verification. */
export interface LogReadStats {
  bytes: number;
  /** Lines decoded (streamed, or looked at while seeking). */
  lines: number;
}

/** A canonical line names its id right after its hash: read it without parsing the line. */
const CANONICAL_ID = /"hash":"[0-9a-f]{64}","id":(\d{1,15}),"ip":/;

/** The id a line's record claims; null when the line is not a record. */
export function idOf(text: string): number | null {
  const fast = CANONICAL_ID.exec(text);
  if (fast) return Number(fast[1]);
  try {
    const id = (JSON.parse(text) as { id?: unknown }).id;
    return typeof id === 'number' && Number.isSafeInteger(id) ? id : null;
  } catch {
    return null;
  }
}

/** Longest line looked for while seeking; a longer one is no record (details are ≤ 64 kB). */
const MAX_LINE = 1 << 20;
const PROBE = 1024;

/** Reads of one open log file at byte offsets, counted. */
export class LogFileBytes {
  constructor(
    readonly handle: FileHandle,
    private readonly stats: LogReadStats,
  ) {}

  async read(position: number, length: number): Promise<Buffer> {
    const buffer = Buffer.allocUnsafe(length);
    const { bytesRead } = await this.handle.read(buffer, 0, length, position);
    this.stats.bytes += bytesRead;
    return buffer.subarray(0, bytesRead);
  }

  /** Offset of the first newline at or after `from`, before `limit`; null when none. */
  async newlineFrom(from: number, limit: number): Promise<number | null> {
    const end = Math.min(limit, from + MAX_LINE);
    for (let at = from; at < end;) {
      const chunk = await this.read(at, Math.min(PROBE, end - at));
      if (chunk.length === 0) return null;
      const nl = chunk.indexOf(0x0a);
      if (nl >= 0) return at + nl;
      at += chunk.length;
    }
    return null;
  }

  /** The first line that starts at or after `position` (0, or just after a newline), before `limit`. */
  async lineStartFrom(position: number, limit: number): Promise<number | null> {
    if (position === 0) return limit > 0 ? 0 : null;
    const nl = await this.newlineFrom(position - 1, limit);
    return nl === null || nl + 1 >= limit ? null : nl + 1;
  }

  /** The complete line starting at `start` and where the next begins; null when it ends past `limit`. */
  async lineAt(start: number, limit: number): Promise<{ text: string; next: number } | null> {
    const end = Math.min(limit, start + MAX_LINE);
    const parts: Buffer[] = [];
    for (let at = start; at < end;) {
      const chunk = await this.read(at, Math.min(PROBE, end - at));
      if (chunk.length === 0) return null;
      const nl = chunk.indexOf(0x0a);
      if (nl >= 0) {
        parts.push(chunk.subarray(0, nl));
        this.stats.lines++;
        return { text: Buffer.concat(parts).toString('utf8'), next: at + nl + 1 };
      }
      parts.push(chunk);
      at += chunk.length;
    }
    return null;
  }
}
