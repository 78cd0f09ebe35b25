import { type DataSource, type EntityManager } from 'typeorm';
import { formatCheckpoint, parseCheckpoint } from './checkpoint.js';
import { type CheckpointFiles } from './checkpoint-files.js';
import { MerkleProofError, verifyConsistency } from './merkle.js';
import { type NoteSigner, type NoteVerifier } from './note-keys.js';
import { openNote, signNote } from './signed-note.js';
import { storedConsistencyProof, storedRoot } from './tree-proofs.js';
import { type TreeHead, type TreeStore } from './tree-store.js';

export interface SignedCheckpoint {
  size: number;
  root: Buffer;
  note: string;
  signedAt: Date;
}

/**
 * The signer refused: the tree in the database is not an extension of the checkpoint it wrote
 * outside it last (someone rewrote history, or the files are another log's). Says what differs.
 */
export class ForkGuardError extends Error {
  constructor(
    message: string,
    readonly published: { size: number; root: string },
    readonly tree: { size: number; root: string },
  ) {
    super(message);
    this.name = this.constructor.name;
  }
}

const LOCK = `hashtext('strikeguard:audit-checkpoint')`;

/**
 * Signs checkpoints of the tree: one instance at a time (an advisory lock), never a tree that is
 * not consistent with the last checkpoint in its own files, each stored in the database and then
 * written to the files.
 */
export class CheckpointSigner {
  constructor(
    private readonly dataSource: DataSource,
    private readonly store: TreeStore,
    private readonly files: CheckpointFiles,
    private readonly signer: NoteSigner,
    private readonly verifiers: readonly NoteVerifier[],
    private readonly origin: string,
  ) {}

  /** The newest checkpoint in the database, if any. */
  async latest(manager: EntityManager = this.dataSource.manager): Promise<SignedCheckpoint | null> {
    const [row] = (await manager.query(
      `SELECT size::float8 AS size, root, note, signed_at AS "signedAt"
         FROM audit_checkpoints ORDER BY size DESC LIMIT 1`,
    )) as SignedCheckpoint[];
    return row ?? null;
  }

  /** The checkpoint of exactly `size` leaves, if one was signed. */
  async bySize(size: number): Promise<SignedCheckpoint | null> {
    const [row] = (await this.dataSource.query(
      `SELECT size::float8 AS size, root, note, signed_at AS "signedAt"
         FROM audit_checkpoints WHERE size = $1`,
      [size],
    )) as SignedCheckpoint[];
    return row ?? null;
  }

  /**
   * Signs the tree as it is now, when `due(latest)` says so. Answers the checkpoint written (a
   * tree of the size of the latest one is written to the files again, not stored twice), or null
   * when it was not due or another instance is signing (`wait`: waits for it instead). Throws ForkGuardError when the tree does
   * not extend the checkpoint in the files.
   */
  async signIfDue(
    due: (head: TreeHead, latest: SignedCheckpoint | null) => boolean,
    wait = false,
  ): Promise<SignedCheckpoint | null> {
    return this.dataSource.transaction(async (manager) => {
      if (wait) await manager.query(`SELECT pg_advisory_xact_lock(${LOCK})`);
      else {
        const [{ locked }] = (await manager.query(
          `SELECT pg_try_advisory_xact_lock(${LOCK}) AS locked`,
        )) as { locked: boolean }[];
        if (!locked) return null;
      }
      const head = await this.store.head(manager);
      const latest = await this.latest(manager);
      if (!due(head, latest)) return null;
      await this.guard(head, manager);
      const body = formatCheckpoint({
        origin: this.origin,
        size: head.size,
        root: head.root,
        extensions: [],
      });
      const note = signNote(this.signer, body);
      const [row] = (await manager.query(
        `INSERT INTO audit_checkpoints (size, root, note) VALUES ($1, $2, $3)
         ON CONFLICT (size) DO NOTHING RETURNING signed_at AS "signedAt"`,
        [head.size, head.root, note],
      )) as { signedAt: Date }[];
      const signedAt = row?.signedAt ?? new Date();
      // Written while the lock is held: two signers never interleave their files.
      await this.files.write(note, head.size, signedAt);
      return { size: head.size, root: head.root, note, signedAt };
    });
  }

  /** The fork guard: the tree must extend the checkpoint in the files, and match its nodes. */
  private async guard(head: TreeHead, manager: EntityManager): Promise<void> {
    const tree = { size: head.size, root: head.root.toString('base64') };
    const actual = head.size === 0 ? head.root : await storedRoot(this.store, head.size, manager);
    if (!actual.equals(head.root))
      throw new ForkGuardError(
        `audit_tree_head's root for ${head.size} records is not the root of the records' hashes and audit_tree_nodes: records or the tree tables were altered after they were integrated`,
        tree,
        tree,
      );
    const text = await this.files.latest();
    if (text === null) return;
    let published;
    try {
      published = parseCheckpoint(openNote(text, this.verifiers).text);
    } catch (error) {
      throw new ForkGuardError(
        `${this.files.latestPath} is not a checkpoint signed by this log's key (${(error as Error).message}): restore it, or move it away if this is a new log`,
        { size: -1, root: '' },
        tree,
      );
    }
    const mine = { size: published.size, root: published.root.toString('base64') };
    if (published.origin !== this.origin)
      throw new ForkGuardError(
        `${this.files.latestPath} is a checkpoint of "${published.origin}", not of "${this.origin}"`,
        mine,
        tree,
      );
    if (published.size > head.size)
      throw new ForkGuardError(
        `the tree has ${head.size} records but checkpoint ${published.size} was published: records were deleted`,
        mine,
        tree,
      );
    if (published.size === 0) return;
    try {
      const { proof } = await storedConsistencyProof(
        this.store,
        published.size,
        head.size,
        manager,
      );
      verifyConsistency(published.size, head.size, proof, published.root, head.root);
    } catch (error) {
      if (!(error instanceof MerkleProofError)) throw error;
      throw new ForkGuardError(
        `the tree of ${head.size} records is not an extension of the published checkpoint of ${published.size} (${error.message}): history before it was rewritten`,
        mine,
        tree,
      );
    }
  }
}
