import { emptyRoot, leafHash, nodeHash } from './merkle.js';

/**
 * The RFC 9162 root of a stream of leaves in O(log n) memory: the right edge of the tree so
 * far (one complete subtree per set bit of its size), merged as leaves arrive.
 */
export class RootBuilder {
  private readonly edge: { level: number; hash: Buffer }[] = [];
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Adds a leaf by its input (a record's 32 hash bytes). */
  add(input: Uint8Array): void {
    let node = { level: 0, hash: leafHash(input) };
    while (this.edge.length > 0 && this.edge[this.edge.length - 1].level === node.level) {
      const left = this.edge.pop()!;
      node = { level: node.level + 1, hash: nodeHash(left.hash, node.hash) };
    }
    this.edge.push(node);
    this.count++;
  }

  root(): Buffer {
    if (this.edge.length === 0) return emptyRoot();
    let root = this.edge[this.edge.length - 1].hash;
    for (let i = this.edge.length - 2; i >= 0; i--) root = nodeHash(this.edge[i].hash, root);
    return root;
  }
}
