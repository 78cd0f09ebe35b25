import { sign, verify } from 'node:crypto';
import { NOTE_KEY_TYPE, type NoteSigner, type NoteVerifier } from './note-keys.js';
import { type NoteSignature } from './signed-note.js';

/**
 * C2SP tlog-cosignature v1.0.1, Ed25519: a witness's signature line on a checkpoint, whose bytes
 * are `key id ‖ u64 timestamp ‖ Ed25519 signature` over
 * `cosignature/v1\ntime <timestamp>\n<checkpoint body>`. Keys have type 0x04.
 */

export class CosignatureError extends Error {
  constructor(message: string) {
    super(message);
    this.name = this.constructor.name;
  }
}

export function cosignedMessage(checkpointBody: string, time: number): Buffer {
  return Buffer.from(`cosignature/v1\ntime ${time}\n${checkpointBody}`, 'utf8');
}

/** The cosignature line of `witness` on a checkpoint body, at `time` (POSIX seconds). */
export function cosign(witness: NoteSigner, checkpointBody: string, time: number): string {
  if (witness.type !== NOTE_KEY_TYPE.cosignature)
    throw new CosignatureError('a cosignature is made with a type 0x04 (cosignature) key');
  if (!Number.isSafeInteger(time) || time < 0)
    throw new CosignatureError('the cosignature time must be a non-negative integer of seconds');
  const head = Buffer.alloc(12);
  head.writeUInt32BE(witness.keyId, 0);
  head.writeBigUInt64BE(BigInt(time), 4);
  const sig = sign(null, cosignedMessage(checkpointBody, time), witness.privateKey);
  return `\u2014 ${witness.name} ${Buffer.concat([head, sig]).toString('base64')}\n`;
}

/**
 * The time a signature line from `witness` cosigned `checkpointBody` at; throws when the line is
 * the witness's and does not verify. Lines of other keys answer undefined.
 */
export function verifyCosignature(
  witness: NoteVerifier,
  checkpointBody: string,
  line: NoteSignature,
): number | undefined {
  if (witness.type !== NOTE_KEY_TYPE.cosignature) return undefined;
  if (line.name !== witness.name || line.keyId !== witness.keyId) return undefined;
  if (line.signature.length !== 8 + 64)
    throw new CosignatureError(`the cosignature of ${witness.name} has the wrong length`);
  const time = line.signature.readBigUInt64BE(0);
  if (time > BigInt(Number.MAX_SAFE_INTEGER))
    throw new CosignatureError(`the cosignature of ${witness.name} has an impossible time`);
  const ok = verify(
    null,
    cosignedMessage(checkpointBody, Number(time)),
    witness.publicKey,
    line.signature.subarray(8),
  );
  if (!ok) throw new CosignatureError(`the cosignature of ${witness.name} does not verify`);
  return Number(time);
}
