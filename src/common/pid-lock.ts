import fs from 'node:fs';
import path from 'node:path';

const heldHere = new Set<string>();

/**
 * An exclusive lock held by this process: a file holding its pid, created with O_EXCL. A lock left
 * by a process that died is taken over (by one process only); one held by a live process throws
 * `describeHolder(pid)`.
 */
export function acquirePidLock(
  lockFile: string,
  describeHolder: (pid: number) => string,
): () => void {
  const key = path.resolve(lockFile);
  // Held by this very process (a second module instance): the pid in the file cannot tell.
  if (heldHere.has(key)) throw new Error(describeHolder(process.pid));
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      fs.writeFileSync(lockFile, String(process.pid), { flag: 'wx', mode: 0o600 });
      heldHere.add(key);
      return () => {
        heldHere.delete(key);
        // Only our own lock: never a lock someone took over after us.
        if (readPid(lockFile) === process.pid) fs.rmSync(lockFile, { force: true });
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = readPid(lockFile);
      // A lock with our own pid that we do not hold is left from a previous life (a container
      // restarted with the same pid): take it over.
      if (holder && holder !== process.pid && isAlive(holder)) {
        throw new Error(describeHolder(holder), { cause: error });
      }
      takeOver(lockFile, holder);
    }
  }
  throw new Error(`could not take the lock ${lockFile}: other processes keep taking it`);
}

/**
 * Removes a dead holder's lock. Two processes starting together after a crash both see it dead:
 * a marker file created with O_EXCL lets only one remove it, so only one can then create it anew.
 */
function takeOver(lockFile: string, deadHolder: number): void {
  const marker = `${lockFile}.takeover-${deadHolder}`;
  try {
    fs.writeFileSync(marker, String(process.pid), { flag: 'wx', mode: 0o600 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    const taker = readPid(marker);
    if (!taker || !isAlive(taker)) fs.rmSync(marker, { force: true }); // a taker that died
    return; // someone else is taking over: try again
  }
  try {
    if (readPid(lockFile) === deadHolder) fs.rmSync(lockFile, { force: true });
  } finally {
    fs.rmSync(marker, { force: true });
  }
}

function readPid(file: string): number {
  try {
    return Number(fs.readFileSync(file, 'utf8')) || 0;
  } catch {
    return 0;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
