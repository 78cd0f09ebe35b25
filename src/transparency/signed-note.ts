import { sign, verify } from 'node:crypto';
import {
  decodeBase64,
  isKeyName,
  NOTE_KEY_TYPE,
  type NoteSigner,
  type NoteVerifier,
} from './note-keys.js';

/**
 * C2SP signed notes (signed-note v1.0.0): a text ending in a newline, a blank line, and one or
 * more signature lines `— <key name> <base64(4-byte key id ‖ signature)>`. Ed25519 signatures
 * sign the text; cosignatures (tlog-cosignature) are left to their own module, which reads the
 * lines this one parses.
 */

/** A note that is malformed, unsigned by any known key, or signed wrongly. */
export class SignedNoteError extends Error {
  constructor(message: string) {
    super(message);
    this.name = this.constructor.name;
  }
}

export interface NoteSignature {
  name: string;
  keyId: number;
  /** The bytes after the key id. */
  signature: Buffer;
  /** The line as it was, newline included. */
  line: string;
}

export interface ParsedNote {
  /** The signed text, final newline included. */
  text: string;
  signatures: NoteSignature[];
}

/** Largest note accepted (a checkpoint with many cosignatures is a few kB). */
export const MAX_NOTE_BYTES = 1_000_000;
/** Most signature lines accepted (the spec asks for at least 16). */
export const MAX_NOTE_SIGNATURES = 100;
const DASH = '\u2014 ';

/** The signature line of `signer` over `text` (Ed25519, type 0x01). */
export function signatureLine(signer: NoteSigner, text: string): string {
  checkText(text);
  if (signer.type !== NOTE_KEY_TYPE.ed25519)
    throw new SignedNoteError('a note is signed with an Ed25519 (type 0x01) key');
  const sig = sign(null, Buffer.from(text, 'utf8'), signer.privateKey);
  const id = Buffer.alloc(4);
  id.writeUInt32BE(signer.keyId);
  return `${DASH}${signer.name} ${Buffer.concat([id, sig]).toString('base64')}\n`;
}

/** `text` signed by `signer`, as a note. */
export function signNote(signer: NoteSigner, text: string): string {
  return `${text}\n${signatureLine(signer, text)}`;
}

function checkText(text: string): void {
  if (typeof text !== 'string' || !text.endsWith('\n'))
    throw new SignedNoteError('a note text must end with a newline');
  if (!text.isWellFormed() || /[^\P{Cc}\n\u007f-\u009f]/u.test(text))
    throw new SignedNoteError('a note must be valid UTF-8 with no control character but newline');
}

/** Splits a note into its text and signature lines (nothing verified). */
export function parseNote(note: string | Buffer): ParsedNote {
  let text: string;
  if (Buffer.isBuffer(note)) {
    if (note.length > MAX_NOTE_BYTES)
      throw new SignedNoteError(`a note is at most ${MAX_NOTE_BYTES} bytes`);
    text = new TextDecoder('utf-8', { fatal: false }).decode(note);
    if (!Buffer.from(text, 'utf8').equals(note))
      throw new SignedNoteError('a note must be valid UTF-8');
  } else {
    if (typeof note !== 'string') throw new SignedNoteError('a note must be text');
    text = note;
    if (Buffer.byteLength(text, 'utf8') > MAX_NOTE_BYTES)
      throw new SignedNoteError(`a note is at most ${MAX_NOTE_BYTES} bytes`);
  }
  checkText(text);
  // The text ends at the last blank line; every line after it is a signature.
  const split = text.lastIndexOf('\n\n');
  if (split < 0) throw new SignedNoteError('a note needs a blank line before its signatures');
  const body = text.slice(0, split + 1);
  const lines = text.slice(split + 2).split('\n');
  lines.pop(); // after the final newline
  if (lines.length === 0) throw new SignedNoteError('a note needs at least one signature line');
  if (lines.length > MAX_NOTE_SIGNATURES)
    throw new SignedNoteError(`a note has at most ${MAX_NOTE_SIGNATURES} signatures`);
  const signatures = lines.map((line, i) => {
    const what = `signature line ${i + 1}`;
    if (!line.startsWith(DASH)) throw new SignedNoteError(`${what} must start with "— "`);
    const rest = line.slice(DASH.length);
    const space = rest.indexOf(' ');
    if (space < 0 || rest.indexOf(' ', space + 1) >= 0)
      throw new SignedNoteError(`${what} must be "— <key name> <base64 signature>"`);
    const name = rest.slice(0, space);
    if (!isKeyName(name)) throw new SignedNoteError(`${what}'s key name is not valid`);
    let bytes: Buffer;
    try {
      bytes = decodeBase64(rest.slice(space + 1), what);
    } catch {
      throw new SignedNoteError(`${what}'s signature is not standard base64`);
    }
    if (bytes.length < 5) throw new SignedNoteError(`${what}'s signature is too short`);
    return { name, keyId: bytes.readUInt32BE(0), signature: bytes.subarray(4), line: `${line}\n` };
  });
  return { text: body, signatures };
}

/**
 * Verifies a note against the verifier keys trusted for it (several: key rotation). Signatures
 * from unknown keys are ignored; one from a known key that fails rejects the note; at least one
 * must verify. Answers the parsed note and which keys signed it.
 */
export function openNote(
  note: string | Buffer,
  verifiers: readonly NoteVerifier[],
): ParsedNote & { verifiedBy: NoteVerifier[] } {
  const parsed = parseNote(note);
  const verifiedBy: NoteVerifier[] = [];
  const message = Buffer.from(parsed.text, 'utf8');
  for (const s of parsed.signatures) {
    const key = verifiers.find(
      (v) => v.type === NOTE_KEY_TYPE.ed25519 && v.name === s.name && v.keyId === s.keyId,
    );
    if (!key) continue;
    if (s.signature.length !== 64 || !verify(null, message, key.publicKey, s.signature))
      throw new SignedNoteError(`the signature of ${s.name} does not verify: the note was altered`);
    if (!verifiedBy.includes(key)) verifiedBy.push(key);
  }
  if (verifiedBy.length === 0)
    throw new SignedNoteError(
      `no signature on the note is from a trusted key (${verifiers.map((v) => v.vkey).join(', ') || 'none given'})`,
    );
  return { ...parsed, verifiedBy };
}
