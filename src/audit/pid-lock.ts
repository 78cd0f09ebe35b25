import fs from 'node:fs';
import path from 'node:path';

const heldHere = new Set<string>();

/**
 * An exclusive lock held by this process: a file holding its pid, created with O_EXCL. A lock left
 * by a process that died is taken over; one held by a live process throws `describeHolder(pid)`.
 */
export function acquirePidLock(
  lockFile: string,
  describeHolder: (pid: number) => string,
): () => void {
  const key = path.resolve(lockFile);
  // Held by this very process (a second module instance): the pid in the file cannot tell.
  if (heldHere.has(key)) throw new Error(describeHolder(process.pid));
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(lockFile, String(process.pid), { flag: 'wx', mode: 0o600 });
      heldHere.add(key);
      return () => {
        heldHere.delete(key);
        fs.rmSync(lockFile, { force: true });
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = Number(fs.readFileSync(lockFile, 'utf8'));
      // A lock with our own pid that we do not hold is left from a previous life (a container
      // restarted with the same pid): take it over.
      if (holder && holder !== process.pid && isAlive(holder)) {
        throw new Error(describeHolder(holder), { cause: error });
      }
      fs.rmSync(lockFile, { force: true }); // left behind by a process that died
    }
  }
  throw new Error(`could not take the lock ${lockFile}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
