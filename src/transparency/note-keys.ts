import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';

/**
 * Ed25519 keys in the C2SP signed-note encodings (the Go `golang.org/x/mod/sumdb/note` strings):
 *
 * - signer (private) key: `PRIVATE+KEY+<name>+<hex key id>+<base64(type ‖ 32-byte seed)>`;
 * - verifier key (vkey): `<name>+<hex key id>+<base64(type ‖ 32-byte public key)>`;
 * - key id: `SHA-256(name ‖ 0x0A ‖ type ‖ public key)[:4]`, big-endian.
 *
 * Type 0x01 signs notes (a log's checkpoints); type 0x04 is a witness's timestamped cosignature
 * key (C2SP tlog-cosignature), the same string shape with its own type byte.
 */
export const NOTE_KEY_TYPE = { ed25519: 0x01, cosignature: 0x04 } as const;
export type NoteKeyType = (typeof NOTE_KEY_TYPE)[keyof typeof NOTE_KEY_TYPE];

/** A key string that is not what it claims to be, and how to make a good one. */
export class NoteKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = this.constructor.name;
  }
}

export interface NoteVerifier {
  name: string;
  keyId: number;
  type: NoteKeyType;
  publicKey: KeyObject;
  /** The 32 raw bytes of the public key. */
  raw: Buffer;
  /** The vkey string. */
  vkey: string;
}

export interface NoteSigner extends NoteVerifier {
  privateKey: KeyObject;
}

const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const HOW = 'make one with `strikeguard audit keygen --origin <name>` (or Go: note.GenerateKey)';

/** A key name: non-empty, no Unicode space, no "+", no control character (C2SP signed-note). */
export function isKeyName(name: string): boolean {
  return (
    typeof name === 'string' &&
    name.length > 0 &&
    name.length <= 256 &&
    !/[\s+\p{Cc}\p{Z}]/u.test(name) &&
    name.isWellFormed()
  );
}

export function keyIdOf(name: string, type: number, raw: Uint8Array): number {
  return createHash('sha256')
    .update(name, 'utf8')
    .update(Buffer.of(0x0a, type))
    .update(raw)
    .digest()
    .readUInt32BE(0);
}

const hex8 = (id: number) => id.toString(16).padStart(8, '0');

function checkName(name: string, what: string): void {
  if (!isKeyName(name))
    throw new NoteKeyError(
      `${what}: the key name must be 1–256 characters with no space, "+" or control character (got ${JSON.stringify(name)})`,
    );
}

/** Strict standard base64 (RFC 4648 §4, padded): Buffer.from would accept anything. */
export function decodeBase64(text: string, what: string): Buffer {
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(text))
    throw new NoteKeyError(`${what} is not standard base64`);
  return Buffer.from(text, 'base64');
}

function verifierOf(name: string, type: NoteKeyType, raw: Buffer): NoteVerifier {
  const keyId = keyIdOf(name, type, raw);
  return {
    name,
    keyId,
    type,
    raw,
    publicKey: createPublicKey({
      key: Buffer.concat([SPKI_PREFIX, raw]),
      format: 'der',
      type: 'spki',
    }),
    vkey: `${name}+${hex8(keyId)}+${Buffer.concat([Buffer.of(type), raw]).toString('base64')}`,
  };
}

function splitKey(text: string, parts: number, what: string): string[] {
  if (typeof text !== 'string' || text.length > 1000 || /\s/.test(text))
    throw new NoteKeyError(`${what} must be one line with no spaces; ${HOW}`);
  const fields = text.split('+');
  // The base64 part may itself hold "+": everything after the id is the key.
  if (fields.length < parts)
    throw new NoteKeyError(`${what} has too few "+"-separated fields; ${HOW}`);
  return [...fields.slice(0, parts - 1), fields.slice(parts - 1).join('+')];
}

function material(
  name: string,
  idHex: string,
  b64: string,
  types: readonly NoteKeyType[],
  what: string,
): { type: NoteKeyType; bytes: Buffer } {
  checkName(name, what);
  if (!/^[0-9a-f]{8}$/.test(idHex))
    throw new NoteKeyError(`${what}: the key id must be 8 lowercase hex digits (got "${idHex}")`);
  const decoded = decodeBase64(b64, `${what}'s key`);
  const type = decoded[0] as NoteKeyType;
  if (decoded.length !== 33 || !types.includes(type))
    throw new NoteKeyError(
      `${what} is not an Ed25519 key of type ${types.map((t) => `0x0${t}`).join(' or ')}; ${HOW}`,
    );
  return { type, bytes: decoded.subarray(1) };
}

/** Parses a vkey (`<name>+<hex id>+<base64>`), checking its id. */
export function parseVerifierKey(
  vkey: string,
  types: readonly NoteKeyType[] = [NOTE_KEY_TYPE.ed25519],
): NoteVerifier {
  const [name, idHex, b64] = splitKey(vkey, 3, 'the verifier key');
  const { type, bytes } = material(name, idHex, b64, types, 'the verifier key');
  const verifier = verifierOf(name, type, bytes);
  if (hex8(verifier.keyId) !== idHex)
    throw new NoteKeyError(
      `the verifier key's id ${idHex} does not match its name and key (${hex8(verifier.keyId)}): it was altered or mistyped`,
    );
  return verifier;
}

/** Parses a signer key (`PRIVATE+KEY+<name>+<hex id>+<base64>`), checking its id. */
export function parseSignerKey(
  text: string,
  types: readonly NoteKeyType[] = [NOTE_KEY_TYPE.ed25519],
): NoteSigner {
  const [p, k, name, idHex, b64] = splitKey(text, 5, 'the signing key');
  if (p !== 'PRIVATE' || k !== 'KEY')
    throw new NoteKeyError(`the signing key must start with "PRIVATE+KEY+"; ${HOW}`);
  const { type, bytes } = material(name, idHex, b64, types, 'the signing key');
  const privateKey = createPrivateKey({
    key: Buffer.concat([PKCS8_PREFIX, bytes]),
    format: 'der',
    type: 'pkcs8',
  });
  const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  const verifier = verifierOf(name, type, spki.subarray(SPKI_PREFIX.length));
  if (hex8(verifier.keyId) !== idHex)
    throw new NoteKeyError(
      `the signing key's id ${idHex} does not match its name and key (${hex8(verifier.keyId)}): it was altered or mistyped`,
    );
  return { ...verifier, privateKey };
}

/** A new key pair for `name`: the signer key string and its vkey. */
export function generateNoteKey(
  name: string,
  type: NoteKeyType = NOTE_KEY_TYPE.ed25519,
): { signerKey: string; verifierKey: string } {
  checkName(name, 'the new key');
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const seed = privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(PKCS8_PREFIX.length);
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(SPKI_PREFIX.length);
  const verifier = verifierOf(name, type, raw);
  const signerKey = `PRIVATE+KEY+${name}+${hex8(verifier.keyId)}+${Buffer.concat([Buffer.of(type), seed]).toString('base64')}`;
  return { signerKey, verifierKey: verifier.vkey };
}
