import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';

/**
 * What a lock file says about its holder: one JSON line, rewritten in place by every heartbeat
 * (same length each time: only `beat` changes, zero-padded). A reader tells a live holder by that
 * line changing; it never needs the holder's clock, nor its pid to mean anything.
 */
export interface LockContent {
  strikeguardLock: 1;
  /** Random, per acquisition: whose lock it is, whatever the pid. */
  nonce: string;
  pid: number;
  host: string;
  /** Boot id and PID namespace of the holder (null where they cannot be read). */
  namespace: string | null;
  since: string;
  beat: string;
}

/** Who holds a lock, as a refusal names them. */
export interface LockHolder {
  /** Null when the lock file cannot be read as a lock. */
  pid: number | null;
  host: string | null;
  /**
   * True when the holder is in another PID namespace or on another host: its pid means nothing
   * here (a container sharing the volume may well be pid 1 too).
   */
  elsewhere: boolean;
}

const BEAT_DIGITS = 12;

/** This process's identity in lock files. */
export const SELF = {
  host: os.hostname(),
  namespace: namespaceId(),
};

export function newNonce(): string {
  return randomBytes(16).toString('hex');
}

export function lockLine(nonce: string, since: string, beat: number): string {
  const content: LockContent = {
    strikeguardLock: 1,
    nonce,
    pid: process.pid,
    host: SELF.host,
    namespace: SELF.namespace,
    since,
    beat: String(beat % 10 ** BEAT_DIGITS).padStart(BEAT_DIGITS, '0'),
  };
  return `${JSON.stringify(content)}\n`;
}

/** The lock a file's text describes; null for anything else (torn, foreign, an older format). */
export function parseLock(text: string): LockContent | null {
  try {
    const c = JSON.parse(text) as Partial<LockContent> | null;
    if (c?.strikeguardLock !== 1 || typeof c.nonce !== 'string' || !Number.isSafeInteger(c.pid))
      return null;
    return c as LockContent;
  } catch {
    return null;
  }
}

/** The pid of a lock written by strikeguard ≤ 0.1 (the pid alone); null for anything else. */
export function legacyPid(text: string): number | null {
  return /^\d{1,10}$/.test(text.trim()) ? Number(text.trim()) : null;
}

export function holderOf(text: string): LockHolder {
  const lock = parseLock(text);
  if (lock) return { pid: lock.pid, host: lock.host, elsewhere: !inThisNamespace(lock) };
  const pid = legacyPid(text);
  return { pid, host: null, elsewhere: pid === null };
}

/**
 * True when the holder runs in this PID namespace on this boot of this host, so that its pid can
 * be checked here. Boot ids are random per boot and per host; namespace inode numbers are only
 * reused once a namespace is gone, with every process in it. So a dead pid under our own identity
 * proves the holder gone, while any other identity proves nothing about the pid.
 */
export function inThisNamespace(lock: LockContent): boolean {
  return SELF.namespace !== null && lock.namespace === SELF.namespace;
}

/** "process 42", or "process 1 on web-2 (another PID namespace or host)". */
export function describeLockHolder(holder: LockHolder): string {
  if (holder.pid === null) return 'another process (its lock file is not readable as a lock)';
  if (!holder.elsewhere) return `process ${holder.pid}`;
  return `process ${holder.pid} on ${holder.host ?? 'an unknown host'} (another PID namespace or host)`;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Boot id and PID namespace, e.g. `33b7…/pid:[4026531836]`; null off Linux or without /proc. */
function namespaceId(): string | null {
  try {
    const boot = fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const ns = fs.readlinkSync('/proc/self/ns/pid');
    return boot && ns ? `${boot}/${ns}` : null;
  } catch {
    return null;
  }
}
