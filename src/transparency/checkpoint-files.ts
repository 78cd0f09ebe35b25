import fs from 'node:fs/promises';
import path from 'node:path';

import { CHECKPOINT_FILE_NAMES } from '../audit/audit-log.files.js';

/** The checkpoint outside the database: the file a signer checks its next checkpoint against. */
export const CHECKPOINT_FILE = CHECKPOINT_FILE_NAMES[0];
/** Every checkpoint signed, one JSON line each (`{"size", "signedAt", "note"}`). */
export const CHECKPOINTS_FILE = CHECKPOINT_FILE_NAMES[1];

/**
 * The checkpoint files in a private directory (0700, files 0600): `checkpoint` replaced by an
 * atomic rename (written, fsynced, renamed, the directory fsynced), `checkpoints.jsonl`
 * appended and fsynced. Written after the database row commits; read back by the fork guard.
 */
export class CheckpointFiles {
  constructor(readonly dir: string) {}

  get latestPath(): string {
    return path.join(this.dir, CHECKPOINT_FILE);
  }

  get historyPath(): string {
    return path.join(this.dir, CHECKPOINTS_FILE);
  }

  /** The last checkpoint note written here, or null when there is none yet. */
  async latest(): Promise<string | null> {
    try {
      return await fs.readFile(this.latestPath, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  }

  async write(note: string, size: number, signedAt: Date): Promise<void> {
    await fs.mkdir(this.dir, { recursive: true, mode: 0o700 });
    const tmp = path.join(this.dir, `.${CHECKPOINT_FILE}.${process.pid}.tmp`);
    const file = await fs.open(tmp, 'w', 0o600);
    try {
      await file.writeFile(note, 'utf8');
      await file.sync();
    } finally {
      await file.close();
    }
    await fs.rename(tmp, this.latestPath);
    const history = await fs.open(this.historyPath, 'a', 0o600);
    try {
      await history.appendFile(
        JSON.stringify({ size, signedAt: signedAt.toISOString(), note }) + '\n',
        'utf8',
      );
      await history.sync();
    } finally {
      await history.close();
    }
    const dir = await fs.open(this.dir, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }
}
