import { decodeBase64 } from './note-keys.js';

/**
 * C2SP tlog-checkpoint v1.0.0: the note text `<origin>\n<decimal size>\n<base64 root hash>\n`,
 * optionally followed by extension lines. Sizes are plain numbers (a log here grows by at most a
 * few billion records; a size past 2^53 − 1 is refused rather than rounded).
 */
export interface Checkpoint {
  origin: string;
  size: number;
  root: Buffer;
  /** Extension lines, each without its newline. */
  extensions: string[];
}

/** A checkpoint body that is not one, and why. */
export class CheckpointFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = this.constructor.name;
  }
}

/** An origin: one line of printable text with no control character (the key name is the same). */
export function isOrigin(origin: string): boolean {
  return (
    typeof origin === 'string' &&
    origin.length > 0 &&
    origin.length <= 256 &&
    !/[\s+\p{Cc}\p{Z}]/u.test(origin) &&
    origin.isWellFormed()
  );
}

export function formatCheckpoint(c: Checkpoint): string {
  if (!isOrigin(c.origin))
    throw new CheckpointFormatError(`origin ${JSON.stringify(c.origin)} is not a valid key name`);
  if (!Number.isSafeInteger(c.size) || c.size < 0)
    throw new CheckpointFormatError('the size must be a non-negative safe integer');
  if (c.root.length !== 32) throw new CheckpointFormatError('the root hash must be 32 bytes');
  for (const e of c.extensions)
    if (e.length === 0 || /[\n\p{Cc}]/u.test(e))
      throw new CheckpointFormatError('an extension line must be non-empty, one line');
  return [c.origin, String(c.size), c.root.toString('base64'), ...c.extensions].join('\n') + '\n';
}

export function parseCheckpoint(text: string): Checkpoint {
  if (typeof text !== 'string' || !text.endsWith('\n'))
    throw new CheckpointFormatError('a checkpoint ends with a newline');
  const lines = text.slice(0, -1).split('\n');
  if (lines.length < 3)
    throw new CheckpointFormatError('a checkpoint has an origin, a size and a root hash line');
  const [origin, size, root, ...extensions] = lines;
  if (!isOrigin(origin)) throw new CheckpointFormatError('the origin line is not a valid name');
  if (!/^(0|[1-9][0-9]{0,15})$/.test(size) || !Number.isSafeInteger(Number(size)))
    throw new CheckpointFormatError(
      `the size line must be a decimal with no leading zero, at most 2^53 − 1 (got ${JSON.stringify(size.slice(0, 30))})`,
    );
  let hash: Buffer;
  try {
    hash = decodeBase64(root, 'the root hash');
  } catch {
    throw new CheckpointFormatError('the root hash line is not standard base64');
  }
  if (hash.length !== 32) throw new CheckpointFormatError('the root hash must be 32 bytes');
  if (extensions.some((e) => e.length === 0))
    throw new CheckpointFormatError('a checkpoint has no empty line');
  return { origin, size: Number(size), root: hash, extensions };
}
