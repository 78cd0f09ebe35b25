import { hash } from 'node:crypto';

/**
 * The Merkle tree of RFC 9162 §2.1 (SHA-256): leaf hash `SHA-256(0x00 ‖ input)`, node hash
 * `SHA-256(0x01 ‖ left ‖ right)`, empty tree `SHA-256("")`, and the verification of inclusion
 * (§2.1.3.2) and consistency (§2.1.4.2) proofs exactly as specified. Sizes and indexes are taken as
 * numbers or bigints (a proof from outside may name any 64-bit size); arithmetic is on bigints.
 */

/** A proof or hash that does not verify, and why. */
export class MerkleProofError extends Error {
  constructor(message: string) {
    super(message);
    this.name = this.constructor.name;
  }
}

export const HASH_SIZE = 32;
const MAX_SIZE = 2n ** 64n - 1n;

/**
 * SHA-256 of one buffer. The one-shot `crypto.hash` costs about half of what a Hash object does
 * for 33 or 65 bytes, and the tree hashes two of those per record.
 */
const sha256 = (data: Buffer): Buffer => hash('sha256', data, 'buffer');

export function leafHash(input: Uint8Array): Buffer {
  const data = Buffer.allocUnsafe(1 + input.length);
  data[0] = 0;
  data.set(input, 1);
  return sha256(data);
}

export function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  const data = Buffer.allocUnsafe(1 + left.length + right.length);
  data[0] = 1;
  data.set(left, 1);
  data.set(right, 1 + left.length);
  return sha256(data);
}

export function emptyRoot(): Buffer {
  return sha256(Buffer.alloc(0));
}

/** The root (MTH) of a list of leaf hashes: for tests and offline verifiers, O(n). */
export function rootOf(leafHashes: readonly Uint8Array[]): Buffer {
  if (leafHashes.length === 0) return emptyRoot();
  let level: Buffer[] = leafHashes.map((h) => Buffer.from(h));
  while (level.length > 1) {
    const next: Buffer[] = [];
    for (let i = 0; i + 1 < level.length; i += 2) next.push(nodeHash(level[i], level[i + 1]));
    // An odd node out is carried up unchanged: the same tree as MTH's largest-power-of-two split.
    if (level.length % 2 === 1) next.push(level[level.length - 1]);
    level = next;
  }
  return level[0];
}

function big(value: number | bigint, what: string): bigint {
  if (typeof value === 'bigint') {
    if (value < 0n || value > MAX_SIZE) throw new MerkleProofError(`${what} is out of range`);
    return value;
  }
  if (!Number.isInteger(value) || value < 0)
    throw new MerkleProofError(`${what} must be a non-negative integer`);
  return BigInt(value);
}

function hash32(value: Uint8Array, what: string): Buffer {
  if (!(value instanceof Uint8Array) || value.length !== HASH_SIZE)
    throw new MerkleProofError(`${what} must be ${HASH_SIZE} bytes`);
  return Buffer.from(value);
}

function proofOf(proof: readonly Uint8Array[]): Buffer[] {
  if (!Array.isArray(proof)) throw new MerkleProofError('the proof must be a list of hashes');
  if (proof.length > 64) throw new MerkleProofError('a proof has at most 64 hashes');
  return proof.map((p, i) => hash32(p, `proof hash ${i}`));
}

const odd = (n: bigint) => (n & 1n) === 1n;

/**
 * Checks that `leaf` is leaf `index` of the tree of `size` leaves whose root is `root`
 * (RFC 9162 §2.1.3.2); throws MerkleProofError saying why not.
 */
export function verifyInclusion(
  index: number | bigint,
  size: number | bigint,
  leaf: Uint8Array,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): void {
  const idx = big(index, 'the leaf index');
  const n = big(size, 'the tree size');
  const r0 = hash32(root, 'the root');
  const path = proofOf(proof);
  let r = hash32(leaf, 'the leaf hash');
  if (idx >= n) throw new MerkleProofError(`leaf index ${idx} is not below the tree size ${n}`);
  let fn = idx;
  let sn = n - 1n;
  for (const p of path) {
    if (sn === 0n) throw new MerkleProofError('the inclusion proof is too long');
    if (odd(fn) || fn === sn) {
      r = nodeHash(p, r);
      if (!odd(fn)) {
        while (!odd(fn) && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw new MerkleProofError('the inclusion proof is too short');
  if (!r.equals(r0)) throw new MerkleProofError('the inclusion proof leads to a different root');
}

/**
 * Checks that the tree of `size1` leaves with root `root1` is a prefix of the tree of `size2`
 * leaves with root `root2` (RFC 9162 §2.1.4.2); throws MerkleProofError saying why not.
 */
export function verifyConsistency(
  size1: number | bigint,
  size2: number | bigint,
  proof: readonly Uint8Array[],
  root1: Uint8Array,
  root2: Uint8Array,
): void {
  const m = big(size1, 'the first tree size');
  const n = big(size2, 'the second tree size');
  const path = proofOf(proof);
  if (m > n) throw new MerkleProofError(`tree size ${m} is larger than ${n}: not an extension`);
  // Every tree extends the empty one: a proof from it proves nothing, so there is none to check
  // (transparency-dev refuses it too). A caller with no earlier tree has nothing to compare.
  if (m === 0n) throw new MerkleProofError('there is no consistency proof from the empty tree');
  if (m === n) {
    // As RFC 9162 and transparency-dev do: equal sizes compare the roots as given.
    if (path.length > 0)
      throw new MerkleProofError('a proof between two trees of one size must be empty');
    if (!(root1 instanceof Uint8Array && root2 instanceof Uint8Array))
      throw new MerkleProofError('the roots must be bytes');
    if (!Buffer.from(root1).equals(Buffer.from(root2)))
      throw new MerkleProofError(`two trees of size ${m} have different roots: a fork`);
    return;
  }
  const first = hash32(root1, 'the first root');
  const second = hash32(root2, 'the second root');
  if (path.length === 0) throw new MerkleProofError('the consistency proof is empty');
  // A first tree of a power of two leaves is a node of the second: its root starts the path.
  const steps = (m & (m - 1n)) === 0n ? [first, ...path] : path;
  let fn = m - 1n;
  let sn = n - 1n;
  while (odd(fn)) {
    fn >>= 1n;
    sn >>= 1n;
  }
  let fr = steps[0];
  let sr = steps[0];
  for (const c of steps.slice(1)) {
    if (sn === 0n) throw new MerkleProofError('the consistency proof is too long');
    if (odd(fn) || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if (!odd(fn)) {
        while (!odd(fn) && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw new MerkleProofError('the consistency proof is too short');
  if (!fr.equals(first))
    throw new MerkleProofError(`the consistency proof does not lead to the tree of ${m}'s root`);
  if (!sr.equals(second))
    throw new MerkleProofError(`the consistency proof does not lead to the tree of ${n}'s root`);
}
