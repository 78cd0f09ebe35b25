import fs from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import path from 'node:path';
import { recordLine } from './audit-hash.js';
import { type AuditRecord } from './audit-record.js';
import { LogTickets } from './audit-log.tickets.js';
import {
  type LastLogRecord,
  lastRecordId,
  lastLogRecord,
  listLogFiles,
} from './audit-log.files.js';
import { type InstanceLock, InstanceLockLostError } from '../common/instance-lock.js';
import { AuditLogUnavailableError } from './audit-log.errors.js';
import { type LogLockTiming, lockLogFile } from './audit-log.lock.js';
import { DIR_MODE, FILE_MODE, type TightenedMode, tighten } from './audit-log.permissions.js';

// Where they were first defined (the CLI imports listLogFiles from here).
export { type LastLogRecord, listLogFiles, rotatedBase } from './audit-log.files.js';
export { AuditLogUnavailableError } from './audit-log.errors.js';
export { type TightenedMode } from './audit-log.permissions.js';

export interface AuditLogFileOptions {
  dir: string;
  fileName: string;
  /** Rotate before a write would take the file past this size. */
  maxBytes: number;
  /** fdatasync after each batch: acknowledged lines survive a power cut, not only a crash. */
  fsync: boolean;
  /** Heartbeat of the single-writer lock (defaults: 2 s, stale after 10 s). */
  lock?: LogLockTiming;
}

/**
 * The restricted log file: JSON Lines, one canonical record per line, in id order, directory 0700
 * and files 0600 from creation on, one writing process (its lock). Lines are written in the order
 * of tickets writers reserve under the chain-head lock (see LogTickets).
 */
export class AuditLogFile {
  readonly path: string;
  private handle: FileHandle | null = null;
  private inode = 0;
  private size = 0;
  private lock: InstanceLock | null = null;
  private readonly tickets = new LogTickets({
    broken: () => this.broken,
    writeLines: (lines, lastId) => this.writeLines(lines, lastId),
    failed: (error) => {
      this.markBroken(
        new AuditLogUnavailableError(`cannot write ${this.path}: ${(error as Error).message}`),
      );
      return this.broken!;
    },
  });
  /** Why the file cannot be written; appends are refused (fail closed) until repaired. */
  broken: Error | null = null;
  /** Called when the file becomes broken, so its owner can start repairing it. */
  onBroken: (() => void) | null = null;
  /** Id of the last record in this instance's file (0 when none). */
  lastId = 0;

  constructor(private readonly options: AuditLogFileOptions) {
    this.path = path.join(options.dir, options.fileName);
  }

  /**
   * Opens the file for append: creates the directory and file with their modes, tightens wider
   * ones (returned, so they can be recorded), and cuts a torn last line left by a crash.
   * `checkLast` sees the last complete record of this instance's files first, while nothing has
   * been changed yet: if it throws, the files are left exactly as they were (and the lock freed).
   */
  async open(checkLast?: (last: LastLogRecord | null) => Promise<void>): Promise<TightenedMode[]> {
    const tightened: TightenedMode[] = [];
    fs.mkdirSync(this.options.dir, { recursive: true, mode: DIR_MODE });
    this.lock ??= await lockLogFile(
      this.options.dir,
      this.options.fileName,
      this.options.lock ?? {},
      (error) => this.markBroken(new AuditLogUnavailableError(error.message)),
    );
    try {
      await checkLast?.(this.lastRecord());
    } catch (error) {
      await this.lock.release();
      this.lock = null;
      throw error;
    }
    tighten(this.options.dir, DIR_MODE, tightened);
    for (const file of this.files()) tighten(file, FILE_MODE, tightened);
    await this.reopen();
    return tightened;
  }

  /** How this process got the lock, when it took it over from a writer that had gone. */
  get lockTakeover() {
    return this.lock?.takeover ?? null;
  }

  /**
   * The last complete line of this instance's files (the current one, or the newest rotated one
   * when it has none), as a record; null when the files hold no line. A torn tail is not a line.
   */
  lastRecord(): LastLogRecord | null {
    return lastLogRecord(this.files());
  }

  /** Reserve a place in the file; call while holding the chain-head lock. */
  reserve(): number {
    return this.tickets.reserve();
  }

  /** The ticket's records committed: resolves once their lines are written (in id order). */
  write(ticket: number, records: AuditRecord[]): Promise<void> {
    return this.tickets.write(ticket, records);
  }

  /**
   * The ticket's transaction rolled back: nothing to write. `uncertain`: it failed while
   * committing (connection lost), so it may have committed after all; the file then refuses
   * appends until the owner has caught it up from the table (which holds the truth).
   */
  abandon(ticket: number, uncertain = false): void {
    if (!this.tickets.pending(ticket)) return;
    if (uncertain) {
      this.markBroken(
        new AuditLogUnavailableError(
          'a commit was interrupted; catching the log file up from the table',
        ),
      );
    }
    this.tickets.abandon(ticket);
  }

  private markBroken(error: Error): void {
    if (this.broken) return;
    this.broken = error;
    this.onBroken?.();
  }

  /** Appends records directly (start-up and repair, when no ticket is in flight). */
  async appendRecovered(records: AuditRecord[]): Promise<void> {
    if (records.length === 0) return;
    await this.writeLines(
      records.map((r) => recordLine(r) + '\n').join(''),
      records[records.length - 1].id,
    );
  }

  /** True when the file is open, still the file at its path, and no write has failed. */
  writable(): boolean {
    return !this.broken && this.intact();
  }

  /** The open file is still the one at its path (not removed or replaced under us). */
  private intact(): boolean {
    if (!this.handle) return false;
    try {
      return fs.statSync(this.path).ino === this.inode;
    } catch {
      return false;
    }
  }

  /** Every file of this instance: rotated ones, then the current one. */
  files(): string[] {
    return listLogFiles(this.options.dir, this.options.fileName);
  }

  async close(): Promise<void> {
    await this.handle?.close().catch(() => undefined);
    this.handle = null;
    await this.lock?.release();
    this.lock = null;
  }

  private async writeLines(lines: string, lastId: number): Promise<void> {
    if (!this.intact()) {
      throw new AuditLogUnavailableError(`${this.path} was removed or replaced, or is not open`);
    }
    // Never a line after another process took the file over (this one was frozen too long).
    await this.lock!.assertHeld().catch((error: unknown) => {
      throw error instanceof InstanceLockLostError
        ? new AuditLogUnavailableError(error.message)
        : error;
    });
    const bytes = Buffer.byteLength(lines);
    if (this.size > 0 && this.size + bytes > this.options.maxBytes) await this.rotate();
    await this.handle!.write(lines);
    if (this.options.fsync) await this.handle!.datasync();
    this.size += bytes;
    if (lastId) this.lastId = lastId;
  }

  /** Renames the full file beside it (mode kept: 0600) and starts a new one. */
  private async rotate(): Promise<void> {
    await this.handle!.close();
    this.handle = null;
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    fs.renameSync(this.path, `${this.path}.${stamp}.${String(this.lastId).padStart(12, '0')}`);
    await this.reopen();
  }

  /** (Re)opens the file at its path; a broken file's owner then appends what it missed. */
  async reopen(): Promise<void> {
    await this.handle?.close().catch(() => undefined);
    // 'a' creates the file with FILE_MODE (never wider: the umask can only narrow it).
    this.handle = await open(this.path, 'a+', FILE_MODE);
    const stat = await this.handle.stat();
    this.inode = stat.ino;
    this.size = stat.size;
    if ((stat.mode & 0o777) !== FILE_MODE) await this.handle.chmod(FILE_MODE);
    await this.repairTornTail();
    this.lastId = this.findLastId();
  }

  /** A crash mid-write can leave a last line without its newline: cut it (its record is in the table). */
  private async repairTornTail(): Promise<void> {
    if (this.size === 0) return;
    const tailSize = Math.min(this.size, 1 << 20);
    const tail = Buffer.alloc(tailSize);
    await this.handle!.read(tail, 0, tailSize, this.size - tailSize);
    if (tail[tailSize - 1] === 0x0a) return;
    const lastNewline = tail.lastIndexOf(0x0a);
    const keep = lastNewline < 0 ? this.size - tailSize : this.size - tailSize + lastNewline + 1;
    await this.handle!.truncate(keep);
    this.size = keep;
  }

  private findLastId(): number {
    for (const file of this.files().reverse()) {
      const id = lastRecordId(file);
      if (id) return id;
    }
    return 0;
  }
}
