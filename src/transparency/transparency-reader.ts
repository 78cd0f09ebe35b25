import { type DataSource } from 'typeorm';
import { ProofRangeError, storedConsistencyProof, storedInclusionProof } from './tree-proofs.js';
import { TreeStore } from './tree-store.js';

export interface InclusionProof {
  /** The leaf index: the record id − 1. */
  index: number;
  size: number;
  /** base64 of the leaf hash, SHA-256(0x00 ‖ record hash bytes). */
  leafHash: string;
  proof: string[];
}

export interface ConsistencyProof {
  from: number;
  to: number;
  proof: string[];
}

/**
 * Reads the transparency log out of the database: the latest checkpoint with its cosignatures,
 * and proofs. What the HTTP routes and the CLI (with DATABASE_URL) answer from; writes nothing.
 */
export class TransparencyReader {
  readonly store: TreeStore;

  constructor(private readonly dataSource: DataSource) {
    this.store = new TreeStore(dataSource);
  }

  /** The latest checkpoint with every stored cosignature on it, as a signed note; null if none. */
  async latestNote(): Promise<{ size: number; note: string } | null> {
    const [latest] = (await this.dataSource.query(
      `SELECT size::float8 AS size, note FROM audit_checkpoints ORDER BY size DESC LIMIT 1`,
    )) as { size: number; note: string }[];
    if (!latest) return null;
    const cosignatures = (await this.dataSource.query(
      `SELECT line FROM audit_cosignatures WHERE size = $1 ORDER BY witness`,
      [latest.size],
    )) as { line: string }[];
    return { size: latest.size, note: latest.note + cosignatures.map((c) => c.line).join('') };
  }

  async inclusionProof(id: number, size?: number): Promise<InclusionProof> {
    const treeSize = size ?? (await this.latestNote())?.size;
    if (treeSize === undefined) throw new ProofRangeError('no checkpoint has been signed yet');
    await this.withinTree(treeSize);
    if (!(id >= 1 && id <= treeSize))
      throw new ProofRangeError(`record ${id} is not in the tree of ${treeSize} records`);
    const p = await storedInclusionProof(this.store, id - 1, treeSize);
    return {
      index: id - 1,
      size: treeSize,
      leafHash: p.leafHash.toString('base64'),
      proof: p.proof.map((h) => h.toString('base64')),
    };
  }

  async consistencyProof(from: number, to: number): Promise<ConsistencyProof> {
    await this.withinTree(to);
    if (!(from >= 1 && from <= to))
      throw new ProofRangeError(`no consistency proof from ${from} to ${to}: need 1 ≤ from ≤ to`);
    const p = await storedConsistencyProof(this.store, from, to);
    return { from, to, proof: p.proof.map((h) => h.toString('base64')) };
  }

  private async withinTree(size: number): Promise<void> {
    const head = await this.store.head();
    if (size > head.size)
      throw new ProofRangeError(`the tree holds ${head.size} records, not ${size} (yet)`);
  }
}
