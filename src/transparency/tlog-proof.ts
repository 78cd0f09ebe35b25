import { parseCheckpoint, type Checkpoint } from './checkpoint.js';
import { verifyCosignature } from './cosignature.js';
import { leafHash, MerkleProofError, verifyInclusion } from './merkle.js';
import { decodeBase64, type NoteVerifier } from './note-keys.js';
import { openNote, parseNote } from './signed-note.js';

/**
 * C2SP tlog-proof v1: a self-contained, offline-verifiable proof that an entry is in the log:
 * `c2sp.org/tlog-proof@v1`, an optional `extra <base64>` line, `index <n>`, the inclusion proof
 * (one base64 hash per line), an empty line, and the checkpoint note with its cosignatures.
 */
export const TLOG_PROOF_HEADER = 'c2sp.org/tlog-proof@v1';

export interface TlogProof {
  index: number;
  proof: Buffer[];
  /** The signed checkpoint note, cosignatures included. */
  note: string;
  extra?: Buffer;
}

export class TlogProofError extends Error {
  constructor(message: string) {
    super(message);
    this.name = this.constructor.name;
  }
}

export function formatTlogProof(p: TlogProof): string {
  return [
    TLOG_PROOF_HEADER,
    ...(p.extra ? [`extra ${p.extra.toString('base64')}`] : []),
    `index ${p.index}`,
    ...p.proof.map((h) => h.toString('base64')),
    '',
    p.note,
  ].join('\n');
}

export function parseTlogProof(text: string): TlogProof {
  if (typeof text !== 'string' || text.length > 1_000_000)
    throw new TlogProofError('a proof is text of at most 1 MB');
  const blank = text.indexOf('\n\n');
  if (blank < 0) throw new TlogProofError('a proof needs an empty line before its checkpoint');
  const lines = text.slice(0, blank).split('\n');
  const note = text.slice(blank + 2);
  if (lines[0] !== TLOG_PROOF_HEADER)
    throw new TlogProofError(`the first line must be "${TLOG_PROOF_HEADER}"`);
  let at = 1;
  let extra: Buffer | undefined;
  if (lines[at]?.startsWith('extra ')) {
    try {
      extra = decodeBase64(lines[at].slice(6), 'the extra data');
    } catch {
      throw new TlogProofError('the extra line is not standard base64');
    }
    at++;
  }
  const m = /^index (0|[1-9][0-9]{0,15})$/.exec(lines[at] ?? '');
  if (!m || !Number.isSafeInteger(Number(m[1])))
    throw new TlogProofError('the index line must be "index <n>" (decimal, no leading zero)');
  const proof = lines.slice(at + 1).map((line, i) => {
    let h: Buffer;
    try {
      h = decodeBase64(line, 'a proof line');
    } catch {
      throw new TlogProofError(`proof line ${i + 1} is not standard base64`);
    }
    if (h.length !== 32) throw new TlogProofError(`proof line ${i + 1} is not a 32-byte hash`);
    return h;
  });
  if (proof.length > 63) throw new TlogProofError('an inclusion proof has at most 63 hashes');
  return { index: Number(m[1]), proof, note, extra };
}

export interface TlogProofVerdict {
  checkpoint: Checkpoint;
  cosignedBy: string[];
}

/**
 * Checks a proof offline: the checkpoint signed by one of `logKeys`, at least `quorum` of
 * `witnesses` cosigning it, and `leafInput` (the record's 32 hash bytes) at the proof's index
 * under its root. Throws TlogProofError saying which part failed.
 */
export function verifyTlogProof(
  p: TlogProof,
  leafInput: Uint8Array,
  logKeys: readonly NoteVerifier[],
  witnesses: readonly NoteVerifier[] = [],
  quorum = 0,
): TlogProofVerdict {
  let checkpoint: Checkpoint;
  try {
    checkpoint = parseCheckpoint(openNote(p.note, logKeys).text);
  } catch (error) {
    throw new TlogProofError(`the checkpoint does not verify: ${(error as Error).message}`);
  }
  const { text, signatures } = parseNote(p.note);
  const cosignedBy: string[] = [];
  for (const w of witnesses)
    for (const s of signatures) {
      try {
        if (verifyCosignature(w, text, s) !== undefined && !cosignedBy.includes(w.name))
          cosignedBy.push(w.name);
      } catch (error) {
        throw new TlogProofError(`a cosignature does not verify: ${(error as Error).message}`);
      }
    }
  if (cosignedBy.length < quorum)
    throw new TlogProofError(`${cosignedBy.length} of the ${quorum} witness cosignatures required`);
  try {
    verifyInclusion(p.index, checkpoint.size, leafHash(leafInput), p.proof, checkpoint.root);
  } catch (error) {
    if (error instanceof MerkleProofError)
      throw new TlogProofError(
        `the record is not at index ${p.index} of the checkpointed tree: ${error.message}`,
      );
    throw error;
  }
  return { checkpoint, cosignedBy };
}
