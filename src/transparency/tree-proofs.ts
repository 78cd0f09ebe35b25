import { nodeHash } from './merkle.js';
import { type EntityManager } from 'typeorm';
import { type TreeNodeKey, type TreeStore, treeNodeKey } from './tree-store.js';

/** A proof out of the stored tree, and what was read to make it. */
export interface StoredProof {
  proof: Buffer[];
  /** Node rows read (a proof of a tree of n leaves reads O(log n)). */
  nodesRead: number;
}

/** Raised for a proof that cannot exist: an index or size outside the tree. */
export class ProofRangeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = this.constructor.name;
  }
}

/** The largest power of two smaller than n (n > 1). */
function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/**
 * The subtree ranges [start, end) whose hashes make the inclusion proof of leaf `index` in a
 * tree of `size` leaves, in proof order (RFC 9162 §2.1.3.1, PATH).
 */
export function inclusionRanges(index: number, size: number): [number, number][] {
  const out: [number, number][] = [];
  const path = (m: number, start: number, end: number) => {
    if (end - start <= 1) return;
    const k = split(end - start);
    if (m < k) {
      path(m, start, start + k);
      out.push([start + k, end]);
    } else {
      path(m - k, start + k, end);
      out.push([start, start + k]);
    }
  };
  path(index, 0, size);
  return out;
}

/**
 * The subtree ranges whose hashes make the consistency proof from a tree of `from` leaves to one
 * of `to` (RFC 9162 §2.1.4.1, PROOF and SUBPROOF), in proof order.
 */
export function consistencyRanges(from: number, to: number): [number, number][] {
  const out: [number, number][] = [];
  const subproof = (m: number, start: number, end: number, whole: boolean) => {
    const n = end - start;
    if (m === n) {
      if (!whole) out.push([start, end]);
      return;
    }
    const k = split(n);
    if (m <= k) {
      subproof(m, start, start + k, whole);
      out.push([start + k, end]);
    } else {
      subproof(m - k, start + k, end, false);
      out.push([start, start + k]);
    }
  };
  if (from > 0 && from < to) subproof(from, 0, to, true);
  return out;
}

/**
 * The complete subtrees that make up the range [start, end) of a tree (largest first): each
 * range a proof names starts at a multiple of its largest part, so the greedy split is exact.
 */
export function rangeNodes(start: number, end: number): TreeNodeKey[] {
  const keys: TreeNodeKey[] = [];
  let at = start;
  while (at < end) {
    let level = 0;
    while (at % 2 ** (level + 1) === 0 && at + 2 ** (level + 1) <= end) level++;
    keys.push({ level, index: at / 2 ** level });
    at += 2 ** level;
  }
  return keys;
}

/** Reads the nodes of `ranges` in one query and hashes each range from them. */
async function rangesHashes(
  store: TreeStore,
  ranges: [number, number][],
  manager?: EntityManager,
): Promise<StoredProof> {
  const parts = ranges.map(([s, e]) => rangeNodes(s, e));
  const unique = new Map<string, TreeNodeKey>();
  for (const keys of parts) for (const k of keys) unique.set(treeNodeKey(k.level, k.index), k);
  const all = [...unique.values()];
  const hashes = await store.requireNodes(all, manager);
  const byKey = new Map(all.map((k, i) => [treeNodeKey(k.level, k.index), hashes[i]]));
  const proof = parts.map((keys) => {
    const row = keys.map((k) => byKey.get(treeNodeKey(k.level, k.index))!);
    let hash = row[row.length - 1];
    for (let i = row.length - 2; i >= 0; i--) hash = nodeHash(row[i], hash);
    return hash;
  });
  return { proof, nodesRead: all.length };
}

/** The inclusion proof of leaf `index` in the tree of `size` leaves, out of the stored nodes. */
export async function storedInclusionProof(
  store: TreeStore,
  index: number,
  size: number,
): Promise<StoredProof & { leafHash: Buffer }> {
  if (!(index >= 0 && index < size))
    throw new ProofRangeError(`leaf ${index} is not in a tree of ${size}`);
  const [leaf] = await store.requireNodes([{ level: 0, index }]);
  return { ...(await rangesHashes(store, inclusionRanges(index, size))), leafHash: leaf };
}

/** The consistency proof from a tree of `from` leaves to one of `to`, out of the stored nodes. */
export async function storedConsistencyProof(
  store: TreeStore,
  from: number,
  to: number,
  manager?: EntityManager,
): Promise<StoredProof> {
  if (!(from >= 0 && from <= to))
    throw new ProofRangeError(`no consistency proof from a tree of ${from} to one of ${to}`);
  return rangesHashes(store, consistencyRanges(from, to), manager);
}

/** The root of the first `size` leaves, out of the stored nodes (the whole tree: one range). */
export async function storedRoot(
  store: TreeStore,
  size: number,
  manager?: EntityManager,
): Promise<Buffer> {
  if (size === 0) throw new ProofRangeError('the empty tree has no stored root; it is SHA-256("")');
  return (await rangesHashes(store, [[0, size]], manager)).proof[0];
}
