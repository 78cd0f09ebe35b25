import { type DataSource, type EntityManager } from 'typeorm';
import { leafHash, rootOf } from './merkle.js';

/** A complete subtree: leaves [index·2^level, (index+1)·2^level). */
export interface TreeNodeKey {
  level: number;
  index: number;
}

export interface TreeNode extends TreeNodeKey {
  hash: Buffer;
}

export interface TreeHead {
  size: number;
  root: Buffer;
}

/** A record's leaf input: its id and the 32 bytes of its hash. */
export interface TreeLeafInput {
  id: number;
  hash: Buffer;
}

/** Raised when what the database holds contradicts the tree (a node missing, a bad hash). */
export class TreeStateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = this.constructor.name;
  }
}

const keyOf = (level: number, index: number) => `${level}/${index}`;

/** A record's `hash` column as the 32 bytes of its leaf input; undefined if it is not one. */
/** A record's `hash` as leaf input (its 32 bytes), or undefined when it is not 64 lowercase hex. */
export const recordHash = (hex: string): Buffer | undefined =>
  /^[0-9a-f]{64}$/.test(hex) ? Buffer.from(hex, 'hex') : undefined;

/**
 * The lowest level stored in audit_tree_nodes. Below it a node covers at most 2^(level) ≤ 8
 * leaves and is hashed from its records when asked for: the table holds one row per 16 records
 * instead of one per record (integration then costs a fraction of an append), and a proof reads
 * at most 16 more record hashes.
 */
export const STORED_TREE_LEVEL = 4;

/**
 * Every SQL statement of the Merkle tree: its head, its complete-subtree nodes, and the chain
 * records it is built from. Plain class: the service, the CLI and the tests construct it.
 */
export class TreeStore {
  constructor(private readonly dataSource: DataSource) {}

  /** The tree's size and root, as the last integration committed them. */
  async head(manager: EntityManager = this.dataSource.manager): Promise<TreeHead> {
    const [row] = (await manager.query(
      `SELECT size::float8 AS size, root FROM audit_tree_head`,
    )) as { size: number; root: Buffer }[];
    if (!row)
      throw new TreeStateError('audit_tree_head has no row: run the strikeguard migrations');
    return { size: row.size, root: row.root };
  }

  /**
   * Locks the head for an integration; undefined when another transaction (an integrator on
   * another instance) holds it, unless `wait`: then it waits for it.
   */
  async lockHead(manager: EntityManager, wait = false): Promise<TreeHead | undefined> {
    const rows = (await manager.query(
      `SELECT size::float8 AS size, root FROM audit_tree_head FOR UPDATE${wait ? '' : ' SKIP LOCKED'}`,
    )) as { size: number; root: Buffer }[];
    return rows[0] && { size: rows[0].size, root: rows[0].root };
  }

  /** The newest committed record id of the chain (records 1..it exist, gap-free). */
  async chainSize(manager: EntityManager = this.dataSource.manager): Promise<number> {
    const [row] = (await manager.query(`SELECT last_id::float8 AS n FROM audit_chain_head`)) as {
      n: number;
    }[];
    return row?.n ?? 0;
  }

  /** The hashes of records (after, upTo], in id order. */
  async leafInputs(manager: EntityManager, after: number, upTo: number): Promise<TreeLeafInput[]> {
    const rows = (await manager.query(
      `SELECT id::float8 AS id, hash FROM audit_events
        WHERE id > $1 AND id <= $2 ORDER BY audit_events.id`,
      [after, upTo],
    )) as { id: number; hash: string }[];
    return rows.map((r, i) => {
      if (r.id !== after + i + 1)
        throw new TreeStateError(
          `audit_events has no record ${after + i + 1} below the chain head ${upTo}: the chain has a gap`,
        );
      const hash = recordHash(r.hash);
      if (!hash) throw new TreeStateError(`record ${r.id}'s hash is not 64 lowercase hex digits`);
      return { id: r.id, hash };
    });
  }

  /**
   * The nodes asked for, by key; missing ones are absent from the map. Nodes below
   * STORED_TREE_LEVEL are not stored: a leaf's hash is SHA-256(0x00 ‖ its record's hash), read
   * from audit_events, and a node above it is hashed from those.
   */
  async nodes(
    keys: readonly TreeNodeKey[],
    manager: EntityManager = this.dataSource.manager,
  ): Promise<Map<string, Buffer>> {
    const found = new Map<string, Buffer>();
    const computed = keys.filter((k) => k.level < STORED_TREE_LEVEL);
    const stored = keys.filter((k) => k.level >= STORED_TREE_LEVEL);
    if (computed.length > 0) {
      // Each one from the hashes of the records it covers (at most 8 each), read in one
      // statement. The ids listed, not ranges joined: `id = ANY` is a primary-key lookup whatever
      // the planner's statistics say (a range join planned on a young table's statistics is a
      // sequential scan of audit_events, on every integration pass).
      const ranges = computed.map((k) => [k.index * 2 ** k.level, (k.index + 1) * 2 ** k.level]);
      const ids = new Set<number>();
      for (const [lo, hi] of ranges) for (let at = lo; at < hi; at++) ids.add(at + 1);
      const rows = (await manager.query(
        `SELECT id::float8 AS id, hash FROM audit_events WHERE id = ANY($1::bigint[])`,
        [[...ids]],
      )) as { id: number; hash: string }[];
      const leaves = new Map<number, Buffer>();
      for (const r of rows) {
        const hash = recordHash(r.hash);
        if (hash) leaves.set(r.id - 1, leafHash(hash));
      }
      computed.forEach((k, i) => {
        const [lo, hi] = ranges[i];
        const hashes: Buffer[] = [];
        for (let at = lo; at < hi; at++) {
          const leaf = leaves.get(at);
          if (!leaf) return; // a record missing (or not a hash): the node is absent
          hashes.push(leaf);
        }
        found.set(keyOf(k.level, k.index), rootOf(hashes));
      });
    }
    if (stored.length > 0) {
      const rows = (await manager.query(
        `SELECT n.level, n.index::float8 AS index, n.hash
           FROM unnest($1::smallint[], $2::bigint[]) AS k(level, index)
           JOIN audit_tree_nodes n ON n.level = k.level AND n.index = k.index`,
        [stored.map((k) => k.level), stored.map((k) => k.index)],
      )) as { level: number; index: number; hash: Buffer }[];
      for (const r of rows) found.set(keyOf(r.level, r.index), r.hash);
    }
    return found;
  }

  /** The nodes asked for, in order; a missing one is a TreeStateError. */
  async requireNodes(
    keys: readonly TreeNodeKey[],
    manager: EntityManager = this.dataSource.manager,
  ): Promise<Buffer[]> {
    const found = await this.nodes(keys, manager);
    return keys.map((k) => {
      const hash = found.get(keyOf(k.level, k.index));
      if (hash) return hash;
      if (k.level < STORED_TREE_LEVEL)
        throw new TreeStateError(
          `audit_events lacks a record (or a record's hash) among ids ${k.index * 2 ** k.level + 1}..${(k.index + 1) * 2 ** k.level}: the tree needs them`,
        );
      throw new TreeStateError(
        `audit_tree_nodes has no node at level ${k.level}, index ${k.index}: the tree tables are incomplete`,
      );
    });
  }

  /**
   * Adds integrated nodes and moves the head, in the caller's (locked) transaction. Only those at
   * STORED_TREE_LEVEL or above are kept: the store decides what it stores.
   */
  async integrate(
    manager: EntityManager,
    nodes: readonly TreeNode[],
    head: TreeHead,
  ): Promise<void> {
    const kept = nodes.filter((n) => n.level >= STORED_TREE_LEVEL);
    // In slices: one statement's parameters stay well inside what the protocol allows.
    for (let from = 0; from < kept.length; from += 20_000) {
      const slice = kept.slice(from, from + 20_000);
      await manager.query(
        `INSERT INTO audit_tree_nodes (level, index, hash)
         SELECT * FROM unnest($1::smallint[], $2::bigint[], $3::bytea[])`,
        [slice.map((n) => n.level), slice.map((n) => n.index), slice.map((n) => n.hash)],
      );
    }
    await manager.query(`UPDATE audit_tree_head SET size = $1, root = $2, updated_at = now()`, [
      head.size,
      head.root,
    ]);
  }
}

export { keyOf as treeNodeKey };
