import { type DataSource } from 'typeorm';
import { leafHash, nodeHash } from './merkle.js';
import {
  recordHash,
  type TreeHead,
  type TreeLeafInput,
  type TreeNode,
  type TreeNodeKey,
  type TreeStore,
} from './tree-store.js';

/** What one integration pass did. */
export interface IntegrationResult {
  /** Leaves added by this pass (0: nothing new, or another instance is integrating). */
  added: number;
  head: TreeHead;
  /** Records in the chain as this pass saw it (null: another instance held the tree). */
  chainSize: number | null;
}

/**
 * The complete subtrees on the right edge of a tree of `size` leaves, largest first: one per set
 * bit of `size` (leaves [0, 2^a), then the next 2^b, …). Their hashes are all an append needs.
 */
export function rightEdge(size: number): TreeNodeKey[] {
  const keys: TreeNodeKey[] = [];
  for (let level = 62; level >= 0; level--) {
    const width = 2 ** level;
    if (Math.floor(size / width) % 2 === 1)
      keys.push({ level, index: Math.floor(size / width) - 1 });
  }
  return keys;
}

/** The root of a tree whose right edge (largest subtree first) is `edge`. */
export function rootOfEdge(edge: readonly Buffer[]): Buffer | undefined {
  if (edge.length === 0) return undefined;
  let root = edge[edge.length - 1];
  for (let i = edge.length - 2; i >= 0; i--) root = nodeHash(edge[i], root);
  return root;
}

/**
 * Adds the chain's committed records to the Merkle tree, off the request path: a pass locks the
 * tree head (another instance's pass holding it: this one does nothing), reads the records after
 * it up to the chain head as committed now (so never a record that is not committed, and never
 * past a gap), and writes every subtree they complete with the new head, in one transaction.
 */
export class TreeIntegrator {
  /**
   * Leaf inputs of records this process committed (`remember`), by id, until integrated: a pass
   * whose whole range is here does not read the records back. Bounded (the oldest go first); a
   * range with any record missing (another instance's, or dropped) is read from the table.
   */
  private readonly known = new Map<number, Buffer>();
  private readonly maxKnown: number;

  constructor(
    private readonly dataSource: DataSource,
    private readonly store: TreeStore,
    private readonly batch = 10_000,
  ) {
    this.maxKnown = 4 * batch;
  }

  /** Records this process has just committed (AuditService.onCommitted). */
  remember(records: readonly { id: number; hash: string }[]): void {
    for (const r of records) {
      const hash = recordHash(r.hash);
      if (hash) this.known.set(r.id, hash);
    }
    let over = this.known.size - this.maxKnown;
    if (over <= 0) return;
    for (const id of this.known.keys()) {
      if (over-- <= 0) break;
      this.known.delete(id);
    }
  }

  /** Records (after, upTo] from memory, or undefined when one of them is not there. */
  private fromMemory(after: number, upTo: number): TreeLeafInput[] | undefined {
    const leaves: TreeLeafInput[] = [];
    for (let id = after + 1; id <= upTo; id++) {
      const hash = this.known.get(id);
      if (!hash) return undefined;
      leaves.push({ id, hash });
    }
    return leaves;
  }

  /** Forgets what the tree now holds (integrated here or by another instance). */
  private forget(upTo: number): void {
    for (const id of this.known.keys()) {
      if (id > upTo) break; // ids arrive in chain order: the rest are newer
      this.known.delete(id);
    }
  }

  /** One pass: at most `batch` records (`wait`: after another instance's pass, not instead). */
  async integrateOnce(wait = false): Promise<IntegrationResult> {
    return this.dataSource.transaction(async (manager) => {
      const head = await this.store.lockHead(manager, wait);
      if (!head) return { added: 0, head: await this.store.head(manager), chainSize: null };
      // The tree is derived from the records: a pass lost in a crash is integrated again, to the
      // same nodes. So its commit does not wait for a WAL flush of its own (the appenders' flushes,
      // and the signer's before any checkpoint is stored, carry it to disk).
      await manager.query(`SET LOCAL synchronous_commit = off`);
      const chainSize = await this.store.chainSize(manager);
      const upTo = Math.min(chainSize, head.size + this.batch);
      if (upTo <= head.size) return { added: 0, head, chainSize };
      this.forget(head.size);
      const leaves =
        this.fromMemory(head.size, upTo) ?? (await this.store.leafInputs(manager, head.size, upTo));
      const edgeKeys = rightEdge(head.size);
      const edgeHashes = await this.store.requireNodes(edgeKeys, manager);
      // The right edge as a stack of (level, index, hash), smallest subtree on top.
      const edge = edgeKeys.map((k, i) => ({ ...k, hash: edgeHashes[i] }));
      const added: TreeNode[] = [];
      let size = head.size;
      for (const leaf of leaves) {
        // A leaf itself is not stored (its record is): only the subtrees it completes (of those,
        // the store keeps the levels it stores and hashes lower ones from the records).
        let node: TreeNode = { level: 0, index: size, hash: leafHash(leaf.hash) };
        // Each completed pair merges into its parent, as far up as it completes.
        while (edge.length > 0 && edge[edge.length - 1].level === node.level) {
          const left = edge.pop()!;
          node = {
            level: node.level + 1,
            index: left.index / 2,
            hash: nodeHash(left.hash, node.hash),
          };
          added.push(node);
        }
        edge.push(node);
        size++;
      }
      const next = { size, root: rootOfEdge(edge.map((n) => n.hash))! };
      await this.store.integrate(manager, added, next);
      this.forget(size);
      return { added: leaves.length, head: next, chainSize };
    });
  }

  /**
   * Passes until the tree has caught up with the chain as it was when this started (`wait`:
   * even when another instance is integrating meanwhile).
   */
  async catchUp(wait = false): Promise<IntegrationResult> {
    let total = 0;
    for (;;) {
      const pass = await this.integrateOnce(wait);
      total += pass.added;
      if (pass.added < this.batch) return { ...pass, added: total };
    }
  }
}
