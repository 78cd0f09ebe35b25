import { type FileHandle, rm } from 'node:fs/promises';
import path from 'node:path';
import {
  type LockHolder,
  SELF,
  describeLockHolder,
  holderOf,
  inThisNamespace,
  isAlive,
  legacyPid,
  lockLine,
  newNonce,
  parseLock,
} from './instance-lock.holder.js';
import { create, readText, TakeoverMarker } from './instance-lock.files.js';

export { type LockHolder, describeLockHolder } from './instance-lock.holder.js';

/*
 * A single-writer lock that holds across PID namespaces and hosts sharing a filesystem.
 *
 * Why a lock file with a random nonce and a heartbeat, and not PostgreSQL holding the claim:
 * - What it protects is a directory (the audit log, the embedded database's DATA_DIR), so the claim
 *   lives beside it: instances that share the volume but not the database server (or run the
 *   embedded one, which serves exactly one client, so no spare connection could hold a session
 *   advisory lock) are still caught, and no PostgreSQL outage or pooler can drop the claim.
 * - A pid means nothing in another PID namespace (two containers are both pid 1) or on another
 *   host, so a holder is only ever judged by its heartbeat: the line in the file changes every
 *   `heartbeatMs`. A lock is stale once a challenger has watched it not change for `staleAfterMs`
 *   on its own monotonic clock: no clock of another host is trusted, and `mtime` (cached by NFS
 *   clients) is not used; contents are read through open(), which NFS revalidates.
 * - The one use of a pid: when the lock names this very boot and PID namespace (boot id and
 *   namespace inode, see inThisNamespace), a dead pid proves the holder gone, and a restart after a
 *   crash takes the lock over at once instead of after `staleAfterMs`.
 * - The lock is created complete and atomically (written to a temporary file, then link(): fails
 *   if the lock exists, and works on NFS), so nobody ever reads a half-written lock. Removing a
 *   stale lock goes through a marker file created with O_EXCL, so of several challengers only one
 *   removes it, and only the exact lock it judged stale.
 * - The holder checks on every heartbeat that the file still carries its nonce, and writers call
 *   `assertHeld()` before writing: a holder that was frozen past `staleAfterMs` (SIGSTOP, a paused
 *   VM) and lost the lock finds out before its next write and fails closed (`onLost`). A holder
 *   frozen between that check and its write cannot be told apart: keep `staleAfterMs` well above
 *   any pause you expect.
 */

export interface InstanceLockOptions {
  /** The refusal: who holds the lock, and what to do about it. */
  describeHolder(holder: LockHolder): string;
  /** How often the holder rewrites its line (default 2 s). */
  heartbeatMs?: number;
  /** How long a challenger watches an unchanging line before it takes the lock (default 5 beats). */
  staleAfterMs?: number;
  /** The lock was taken from under this process (it was frozen too long) or removed. */
  onLost?(error: Error): void;
}

/** How the lock was had: from a holder whose process had exited, or whose heartbeat stopped. */
export interface LockTakeover {
  holder: LockHolder;
  reason: 'holder-exited' | 'heartbeat-stopped';
}

/** This process does not hold the lock any more: whatever it guards must not be written. */
export class InstanceLockLostError extends Error {
  constructor(message: string) {
    super(message);
    this.name = this.constructor.name;
  }
}

/** Nonces of the locks this process holds, and their paths as given. */
const ownNonces = new Set<string>();
const ownPaths = new Set<string>();

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Takes the lock `file`, waiting for a stale one to prove stale (up to `staleAfterMs`); throws
 * `describeHolder(holder)` when it is held, by this process or a live one anywhere.
 */
export async function acquireInstanceLock(
  file: string,
  options: InstanceLockOptions,
): Promise<InstanceLock> {
  const heartbeatMs = options.heartbeatMs ?? 2000;
  const staleAfterMs = options.staleAfterMs ?? 5 * heartbeatMs;
  if (!(heartbeatMs > 0) || !(staleAfterMs >= 2 * heartbeatMs)) {
    throw new Error('an instance lock needs heartbeatMs > 0 and staleAfterMs >= 2 × heartbeatMs');
  }
  const key = path.resolve(file);
  const refuse = (holder: LockHolder) => new Error(options.describeHolder(holder));
  const self: LockHolder = { pid: process.pid, host: SELF.host, elsewhere: false };
  if (ownPaths.has(key)) throw refuse(self);

  const nonce = newNonce();
  const since = new Date().toISOString();
  const pollMs = Math.min(250, Math.max(10, heartbeatMs / 4));
  const deadline = performance.now() + 4 * staleAfterMs + 1000;
  const marker = new TakeoverMarker(`${file}.takeover`, nonce, staleAfterMs);
  // What the lock read when this process started watching it (a cast: TS narrows a `null` init).
  let watched = null as { text: string; since: number } | null;
  let takeover: LockTakeover | null = null;

  while (performance.now() < deadline) {
    const handle = await create(file, lockLine(nonce, since, 0));
    if (handle) {
      ownPaths.add(key);
      ownNonces.add(nonce);
      const lock = new InstanceLock(file, key, handle, nonce, since, takeover, options);
      lock.start(heartbeatMs, staleAfterMs);
      return lock;
    }
    const text = await readText(file);
    if (text === null) continue; // removed meanwhile: try again
    const lock = parseLock(text);
    const holder = holderOf(text);
    if (lock && ownNonces.has(lock.nonce)) throw refuse(self); // this process, by another path
    const legacy = legacyPid(text);
    if (legacy !== null && legacy !== process.pid && isAlive(legacy)) throw refuse(holder);

    let reason: LockTakeover['reason'] | null = null;
    if (lock && inThisNamespace(lock) && (lock.pid === process.pid || !isAlive(lock.pid))) {
      reason = 'holder-exited'; // our pid but not our nonce: a previous life of this namespace
    } else if (watched?.text !== text) {
      if (watched) throw refuse(holder); // its line changed: a live holder's heartbeat
      watched = { text, since: performance.now() };
      takeover = null;
    } else if (performance.now() - watched.since >= staleAfterMs) {
      reason = 'heartbeat-stopped';
    }
    if (reason && (await marker.removeIfStill(file, text))) {
      takeover = { holder, reason };
      watched = null;
      continue;
    }
    await sleep(pollMs);
  }
  throw new Error(`could not take the lock ${file}: other processes keep taking it`);
}

/** A lock this process holds: it beats until released, and knows when it has lost it. */
export class InstanceLock {
  private beat = 0;
  private confirmedAt = performance.now();
  private timer: NodeJS.Timeout | null = null;
  private beating: Promise<void> | null = null;
  private lost: InstanceLockLostError | null = null;
  private released = false;
  private heartbeatMs = 0;
  private staleAfterMs = 0;

  constructor(
    readonly path: string,
    private readonly key: string,
    private readonly handle: FileHandle,
    private readonly nonce: string,
    private readonly since: string,
    /** Set when the lock was taken over from a holder that had exited or stopped beating. */
    readonly takeover: LockTakeover | null,
    private readonly options: InstanceLockOptions,
  ) {}

  start(heartbeatMs: number, staleAfterMs: number): void {
    this.heartbeatMs = heartbeatMs;
    this.staleAfterMs = staleAfterMs;
    this.timer = setInterval(() => void this.heartbeat(), heartbeatMs);
    this.timer.unref();
  }

  /** Throws InstanceLockLostError unless the lock is still ours (checked again when beats are late). */
  async assertHeld(): Promise<void> {
    if (!this.lost && performance.now() - this.confirmedAt >= 1.5 * this.heartbeatMs) {
      await this.heartbeat();
    }
    if (this.lost) throw this.lost;
  }

  /** Removes the lock (only while it is still ours: never one that was taken over from us). */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    if (this.timer) clearInterval(this.timer);
    await this.beating;
    ownPaths.delete(this.key);
    ownNonces.delete(this.nonce);
    try {
      if (!this.lost && parseLock((await readText(this.path)) ?? '')?.nonce === this.nonce) {
        await rm(this.path, { force: true });
      }
    } finally {
      await this.handle.close().catch(() => undefined);
    }
  }

  private heartbeat(): Promise<void> {
    this.beating ??= this.refresh().finally(() => (this.beating = null));
    return this.beating;
  }

  /** Checks the file still carries our nonce, then rewrites our line in place (same length). */
  private async refresh(): Promise<void> {
    if (this.lost || this.released) return;
    try {
      const text = await readText(this.path);
      if (text === null) return this.lose('its lock file was removed');
      if (parseLock(text)?.nonce !== this.nonce) {
        return this.lose(`it was taken over by ${describeLockHolder(holderOf(text))}`);
      }
      const line = lockLine(this.nonce, this.since, ++this.beat);
      await this.handle.write(line, 0, 'utf8');
      await this.handle.datasync();
      this.confirmedAt = performance.now();
    } catch (error) {
      // Cannot beat (I/O error): others will soon see the lock as stale, so give it up first.
      if (performance.now() - this.confirmedAt >= this.staleAfterMs - this.heartbeatMs) {
        this.lose(`its heartbeat could not be written: ${(error as Error).message}`);
      }
    }
  }

  private lose(why: string): void {
    this.lost = new InstanceLockLostError(
      `lost the lock ${this.path} (${why}): this process must not write what it guards any more`,
    );
    if (this.timer) clearInterval(this.timer);
    this.options.onLost?.(this.lost);
  }
}
