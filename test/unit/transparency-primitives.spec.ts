import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CheckpointFormatError,
  cosign,
  CosignatureError,
  formatCheckpoint,
  generateNoteKey,
  keyIdOf,
  leafHash,
  MerkleProofError,
  NoteKeyError,
  NOTE_KEY_TYPE,
  openNote,
  parseCheckpoint,
  parseNote,
  parseSignerKey,
  parseVerifierKey,
  rootOf,
  signatureLine,
  signNote,
  SignedNoteError,
  verifyConsistency,
  verifyCosignature,
  verifyInclusion,
} from '../../src/index.js';
import {
  consistencyRanges,
  inclusionRanges,
  rangeNodes,
} from '../../src/transparency/tree-proofs.js';

// RFC 9162 and C2SP vectors from outside the project, copied into test/vectors (see its README).
const VECTORS = fileURLToPath(new URL('../vectors', import.meta.url));
const b64 = (s: string) => Buffer.from(s, 'base64');

/** Every JSON file under a vector directory; big integers kept exact (as strings → bigint). */
function vectorFiles(dir: string): { file: string; v: Record<string, unknown> }[] {
  const root = path.join(VECTORS, dir);
  if (!fs.existsSync(root))
    throw new Error(`test vectors missing: ${root} (see ../shared/vectors)`);
  const out: { file: string; v: Record<string, unknown> }[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.json')) {
        const text = fs.readFileSync(p, 'utf8').replace(/: (\d{16,})/g, ': "$1"');
        out.push({ file: path.relative(root, p), v: JSON.parse(text) });
      }
    }
  };
  walk(root);
  return out;
}
const int = (x: unknown) => (typeof x === 'string' ? BigInt(x) : (x as number));
const hashes = (x: unknown) => ((x as string[] | null) ?? []).map(b64);

/** The leaves of a test tree, and a reference proof out of its range decomposition. */
function tree(n: number) {
  const leaves = Array.from({ length: n }, (_, i) => leafHash(Buffer.from(`leaf ${i}`)));
  const mth = (s: number, e: number) => rootOf(leaves.slice(s, e));
  return { leaves, mth, root: mth(0, n) };
}

describe('RFC 9162 proofs against the transparency-dev vectors', () => {
  const inclusion = vectorFiles('merkle/inclusion');
  const consistency = vectorFiles('merkle/consistency');

  it('has the vectors', () => {
    expect(inclusion.length).toBeGreaterThan(50);
    expect(consistency.length).toBeGreaterThan(50);
  });

  it.each(inclusion.map((x) => [x.file, x.v] as const))('inclusion %s', (_file, v) => {
    const run = () =>
      verifyInclusion(
        int(v.leafIdx),
        int(v.treeSize),
        b64(v.leafHash as string),
        hashes(v.proof),
        b64(v.root as string),
      );
    if (v.wantErr) expect(run).toThrow(MerkleProofError);
    else expect(run).not.toThrow();
  });

  it.each(consistency.map((x) => [x.file, x.v] as const))('consistency %s', (_file, v) => {
    const run = () =>
      verifyConsistency(
        int(v.size1),
        int(v.size2),
        hashes(v.proof),
        b64(v.root1 as string),
        b64(v.root2 as string),
      );
    if (v.wantErr) expect(run).toThrow(MerkleProofError);
    else expect(run).not.toThrow();
  });
});

describe('proofs out of complete subtrees', () => {
  it('every range a proof names is a whole number of aligned subtrees, largest first', () => {
    for (let n = 1; n <= 70; n++)
      for (const [s, e] of [...Array(n).keys()].flatMap((i) => inclusionRanges(i, n))) {
        const keys = rangeNodes(s, e);
        let at = s;
        for (let i = 0; i < keys.length; i++) {
          expect(keys[i].index * 2 ** keys[i].level).toBe(at);
          if (i > 0) expect(keys[i].level).toBeLessThan(keys[i - 1].level);
          at += 2 ** keys[i].level;
        }
        expect(at).toBe(e);
      }
  });

  it('inclusion proofs of every leaf of trees 1..130 verify, and fail when tampered', () => {
    for (let n = 1; n <= 130; n++) {
      const t = tree(n);
      for (let i = 0; i < n; i++) {
        const proof = inclusionRanges(i, n).map(([s, e]) => t.mth(s, e));
        expect(() => verifyInclusion(i, n, t.leaves[i], proof, t.root)).not.toThrow();
        if (proof.length > 0) {
          const bad = proof.map((p) => Buffer.from(p));
          bad[i % bad.length][i % 32] ^= 1;
          expect(() => verifyInclusion(i, n, t.leaves[i], bad, t.root)).toThrow(MerkleProofError);
        }
        if (n > 1)
          expect(() => verifyInclusion(i, n, t.leaves[(i + 1) % n], proof, t.root)).toThrow(
            MerkleProofError,
          );
      }
    }
  });

  it('consistency proofs between every pair of sizes up to 70 verify, and fail when tampered', () => {
    const t = tree(70);
    for (let n = 1; n <= 70; n++)
      for (let m = 0; m <= n; m++) {
        const proof = consistencyRanges(m, n).map(([s, e]) => t.mth(s, e));
        const r1 = m === 0 ? rootOf([]) : t.mth(0, m);
        if (m === 0) {
          expect(() => verifyConsistency(m, n, proof, r1, t.mth(0, n))).toThrow(/empty tree/);
          continue;
        }
        expect(() => verifyConsistency(m, n, proof, r1, t.mth(0, n))).not.toThrow();
        if (m > 0 && m < n) {
          const wrong = Buffer.from(r1);
          wrong[0] ^= 0x80;
          expect(() => verifyConsistency(m, n, proof, wrong, t.mth(0, n))).toThrow(
            MerkleProofError,
          );
          expect(() => verifyConsistency(m, n, proof.slice(1), r1, t.mth(0, n))).toThrow(
            MerkleProofError,
          );
        }
      }
  });

  it('hostile inputs are MerkleProofErrors, never TypeErrors', () => {
    const h = Buffer.alloc(32);
    for (const run of [
      () => verifyInclusion(-1, 2, h, [h], h),
      () => verifyInclusion(0.5, 2, h, [h], h),
      () => verifyInclusion(0, 2, Buffer.alloc(31), [h], h),
      () => verifyInclusion(0, 2, h, 'x' as never, h),
      () => verifyInclusion(0, 2, h, [null as never], h),
      () => verifyInclusion(0, 2, h, Array(65).fill(h), h),
      () => verifyConsistency(3, 2, [], h, h),
      () => verifyConsistency(2n ** 64n, 2, [], h, h),
    ])
      expect(run).toThrow(MerkleProofError);
  });
});

describe('C2SP signed notes against the golang.org/x/mod vector', () => {
  const vector = JSON.parse(fs.readFileSync(path.join(VECTORS, 'signed-note.json'), 'utf8'));

  it('signs the text byte for byte like Go', () => {
    const signer = parseSignerKey(vector.sign.skey);
    expect(signatureLine(signer, vector.sign.text)).toBe(vector.sign.signatureLine);
  });

  it('verifies the example note, and rejects it altered or under another key', () => {
    const key = parseVerifierKey(vector.verify.vkey);
    expect(openNote(vector.verify.note, [key]).text).toBe('This is an example message.\n');
    expect(() => openNote(vector.verify.note.replace('example', 'exemple'), [key])).toThrow(
      SignedNoteError,
    );
    const other = parseVerifierKey(generateNoteKey('example.com/foo').verifierKey);
    expect(() => openNote(vector.verify.note, [other])).toThrow(/no signature .* trusted key/);
    // Rotation: any one of several trusted keys will do.
    expect(openNote(vector.verify.note, [other, key]).verifiedBy).toEqual([key]);
  });

  it('round-trips generated keys; a key whose id or bytes were altered is refused', () => {
    const { signerKey, verifierKey } = generateNoteKey('strikeguard.example/audit');
    const signer = parseSignerKey(signerKey);
    expect(signer.vkey).toBe(verifierKey);
    const note = signNote(signer, 'hello\n');
    expect(openNote(note, [parseVerifierKey(verifierKey)]).text).toBe('hello\n');
    const [name, id, ...rest] = verifierKey.split('+');
    const key = rest.join('+'); // the base64 may hold "+" itself
    const otherId = ((parseInt(id, 16) ^ 1) >>> 0).toString(16).padStart(8, '0');
    expect(() => parseVerifierKey(`${name}+${otherId}+${key}`)).toThrow(/does not match/);
    for (const bad of [
      '',
      'a+b',
      `${name}+${id}+AAAA`,
      `na me+${id}+${key}`,
      `${verifierKey} `,
      `${name}+ABCDEF12+${key}`,
    ])
      expect(() => parseVerifierKey(bad)).toThrow(NoteKeyError);
    expect(() => parseSignerKey(verifierKey)).toThrow(NoteKeyError);
    expect(() => parseSignerKey(signerKey.replace('PRIVATE', 'PUBLIC'))).toThrow(/PRIVATE\+KEY/);
  });

  it('refuses malformed notes with a SignedNoteError', () => {
    const signer = parseSignerKey(generateNoteKey('k').signerKey);
    const good = signNote(signer, 'text\n');
    for (const bad of [
      'no newline',
      'text\n',
      'text\n\n',
      'text\n\nnot a signature\n',
      'text\n\n— k !!!!\n',
      'text\n\n— k  AAAAAAA=\n',
      good.replace('\n', '\r\n'),
      good.replace('text', 'te\u0001xt'),
      good.trimEnd(),
      Buffer.concat([Buffer.from('te'), Buffer.of(0xff), Buffer.from(good.slice(2))]),
      'x\n\n' + '— k AAAAAAA=\n'.repeat(101),
      'x'.repeat(1_000_001) + '\n\n— k AAAAAAA=\n',
    ])
      expect(() => parseNote(bad)).toThrow(SignedNoteError);
    expect(parseNote(good).signatures).toHaveLength(1);
  });
});

describe('checkpoints and cosignatures', () => {
  const root = leafHash(Buffer.from('x'));

  it('formats and parses C2SP checkpoints strictly', () => {
    const text = formatCheckpoint({ origin: 'example.com/log', size: 42, root, extensions: [] });
    expect(text).toBe(`example.com/log\n42\n${root.toString('base64')}\n`);
    expect(parseCheckpoint(text)).toEqual({
      origin: 'example.com/log',
      size: 42,
      root,
      extensions: [],
    });
    for (const bad of [
      text.slice(0, -1),
      text.replace('42', '042'),
      text.replace('42', '-1'),
      text.replace('42', '9007199254740992'),
      text.replace('42', ' 42'),
      'example.com/log\n42\n',
      text.replace(root.toString('base64'), 'AAAA'),
      text + '\n',
      text.replace('example.com/log', 'exa mple'),
    ])
      expect(() => parseCheckpoint(bad)).toThrow(CheckpointFormatError);
  });

  it('cosigns and verifies per tlog-cosignature; wrong key, time or body fail', () => {
    const witness = parseSignerKey(
      generateNoteKey('witness.example/w1', NOTE_KEY_TYPE.cosignature).signerKey,
      [NOTE_KEY_TYPE.cosignature],
    );
    const body = formatCheckpoint({ origin: 'example.com/log', size: 7, root, extensions: [] });
    const line = cosign(witness, body, 1_700_000_000);
    const [sig] = parseNote(`${body}\n${line}`).signatures;
    expect(sig.signature.length).toBe(72);
    expect(verifyCosignature(witness, body, sig)).toBe(1_700_000_000);
    expect(() => verifyCosignature(witness, body.replace('7', '8'), sig)).toThrow(CosignatureError);
    const retimed = { ...sig, signature: Buffer.from(sig.signature) };
    retimed.signature.writeBigUInt64BE(1_700_000_001n, 0);
    expect(() => verifyCosignature(witness, body, retimed)).toThrow(CosignatureError);
    const stranger = parseSignerKey(
      generateNoteKey('witness.example/w2', NOTE_KEY_TYPE.cosignature).signerKey,
      [NOTE_KEY_TYPE.cosignature],
    );
    expect(verifyCosignature(stranger, body, sig)).toBeUndefined();
    // A witness key's id commits to type 0x04: the same bytes as a note key have another id.
    expect(witness.keyId).toBe(keyIdOf(witness.name, 0x04, witness.raw));
    expect(witness.keyId).not.toBe(keyIdOf(witness.name, 0x01, witness.raw));
    expect(() => cosign(parseSignerKey(generateNoteKey('n').signerKey), body, 1)).toThrow(
      CosignatureError,
    );
  });
});
