import { type FileHandle, link, open, readFile, rm, unlink } from 'node:fs/promises';
import { newNonce } from './instance-lock.holder.js';

/** The file operations of the instance lock (see instance-lock.ts): creating, reading, removing. */

/**
 * Creates the lock with its content in one step: a temporary file, then link() to the lock's
 * name, which fails when the lock exists. Null when it does.
 */
export async function create(file: string, content: string): Promise<FileHandle | null> {
  const tmp = `${file}.${newNonce()}.tmp`;
  const handle = await open(tmp, 'wx', 0o600);
  let linked = false;
  try {
    await handle.writeFile(content, 'utf8');
    await handle.datasync();
    try {
      await link(tmp, file);
      linked = true;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      // NFS may answer EEXIST to a retried link() that did succeed: then the inode has two names.
      if (code === 'EEXIST') linked = (await handle.stat()).nlink === 2;
      else if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP') {
        return await createWithoutLink(handle, file, content);
      } else throw error;
    }
    return linked ? handle : null;
  } finally {
    await unlink(tmp).catch(() => undefined);
    if (!linked) await handle.close().catch(() => undefined);
  }
}

/** Filesystems without hard links: O_EXCL, then the content (a reader may see it empty briefly). */
async function createWithoutLink(
  tmp: FileHandle,
  file: string,
  content: string,
): Promise<FileHandle | null> {
  await tmp.close();
  let handle: FileHandle;
  try {
    handle = await open(file, 'wx', 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return null;
    throw error;
  }
  await handle.writeFile(content, 'utf8');
  await handle.datasync();
  return handle;
}

/**
 * Only one challenger removes a stale lock: the one that creates the marker (O_EXCL). A marker
 * lives for a few system calls; one seen unchanged for `staleAfterMs` was left by a challenger
 * that died holding it, and is removed.
 */
export class TakeoverMarker {
  private watched: { text: string; since: number } | null = null;

  constructor(
    private readonly file: string,
    private readonly nonce: string,
    private readonly staleAfterMs: number,
  ) {}

  /** Removes `lockFile` if it still reads `staleText`; false when another challenger is at it. */
  async removeIfStill(lockFile: string, staleText: string): Promise<boolean> {
    let handle: FileHandle;
    try {
      handle = await open(this.file, 'wx', 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      await this.expireOther();
      return false;
    }
    try {
      await handle.writeFile(this.nonce, 'utf8');
      await handle.close();
      if ((await readText(lockFile)) === staleText) await rm(lockFile, { force: true });
      return true;
    } finally {
      if ((await readText(this.file)) === this.nonce) await rm(this.file, { force: true });
    }
  }

  private async expireOther(): Promise<void> {
    const text = await readText(this.file);
    if (text === null) return;
    if (this.watched?.text !== text) this.watched = { text, since: performance.now() };
    else if (performance.now() - this.watched.since >= this.staleAfterMs) {
      if ((await readText(this.file)) === text) await rm(this.file, { force: true });
      this.watched = null;
    }
  }
}

export async function readText(file: string): Promise<string | null> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}
