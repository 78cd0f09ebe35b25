import { isOrigin } from './checkpoint.js';
import {
  NOTE_KEY_TYPE,
  type NoteSigner,
  type NoteVerifier,
  parseSignerKey,
  parseVerifierKey,
} from './note-keys.js';

/** A witness the log sends its checkpoints to (C2SP tlog-witness). */
export interface WitnessOptions {
  /** Its submission prefix: checkpoints go to `<url>/add-checkpoint`. */
  url: string;
  /** Its cosignature verifier key (`<name>+<hex id>+<base64(0x04 ‖ key)>`). */
  vkey: string;
}

export interface TransparencyLogModuleOptions {
  /** The log's origin line, and the signing key's name (e.g. `strikeguard.example/audit`). */
  origin: string;
  /** The signer key: `PRIVATE+KEY+<origin>+<hex id>+<base64>` (`strikeguard audit keygen`). */
  signingKey: string;
  /** Earlier verifier keys of this origin, still accepted on checkpoints (key rotation). */
  previousKeys?: string[];
  /** Where `checkpoint` and `checkpoints.jsonl` are written (AuditModule's logDir). */
  checkpointDir?: string;
  /** Least time between two checkpoints while the tree grows (10 s). */
  checkpointIntervalMs?: number;
  /** A checkpoint at least this often even when nothing was added (1 h). */
  maxCheckpointAgeMs?: number;
  /** How often new records are added to the tree (200 ms). */
  integrateIntervalMs?: number;
  /** Records one integration transaction adds at most (10,000). */
  integrateBatch?: number;
  witnesses?: WitnessOptions[];
  /** Time a witness has to answer (5 s). */
  witnessTimeoutMs?: number;
}

export interface ResolvedWitness {
  url: URL;
  verifier: NoteVerifier;
}

export interface ResolvedTransparencyOptions {
  origin: string;
  signer: NoteSigner;
  /** Every key a checkpoint of this log may carry: the signer's first. */
  verifiers: NoteVerifier[];
  checkpointDir: string;
  checkpointIntervalMs: number;
  maxCheckpointAgeMs: number;
  integrateIntervalMs: number;
  integrateBatch: number;
  witnesses: ResolvedWitness[];
  witnessTimeoutMs: number;
}

export const TRANSPARENCY_OPTIONS = Symbol.for('strikeguard:transparency-options');

/** Options that cannot work, and what to set instead. */
export class TransparencyOptionsError extends Error {
  constructor(message: string) {
    super(`TransparencyLogModule: ${message}`);
    this.name = this.constructor.name;
  }
}

function within(
  value: number | undefined,
  fallback: number,
  min: number,
  max: number,
  name: string,
) {
  const v = value ?? fallback;
  if (!Number.isSafeInteger(v) || v < min || v > max)
    throw new TransparencyOptionsError(
      `${name} must be an integer from ${min} to ${max} (got ${value})`,
    );
  return v;
}

export function resolveTransparencyOptions(
  options: TransparencyLogModuleOptions,
  auditLogDir: string,
): ResolvedTransparencyOptions {
  if (!isOrigin(options.origin))
    throw new TransparencyOptionsError(
      `origin ${JSON.stringify(options.origin)} must be a key name: no spaces or "+", e.g. "strikeguard.example/audit"`,
    );
  let signer: NoteSigner;
  try {
    signer = parseSignerKey(options.signingKey);
  } catch (error) {
    throw new TransparencyOptionsError(`signingKey: ${(error as Error).message}`);
  }
  if (signer.name !== options.origin)
    throw new TransparencyOptionsError(
      `the signing key is named "${signer.name}" but the origin is "${options.origin}": a checkpoint's key name is its origin; make a key with \`strikeguard audit keygen --origin ${options.origin}\``,
    );
  const previous = (options.previousKeys ?? []).map((k, i) => {
    try {
      const v = parseVerifierKey(k);
      if (v.name !== options.origin) throw new Error(`it is named "${v.name}", not the origin`);
      return v;
    } catch (error) {
      throw new TransparencyOptionsError(`previousKeys[${i}]: ${(error as Error).message}`);
    }
  });
  const witnesses = (options.witnesses ?? []).map((w, i) => {
    let url: URL;
    try {
      url = new URL(w.url);
    } catch {
      throw new TransparencyOptionsError(
        `witnesses[${i}].url ${JSON.stringify(w.url)} is not a URL`,
      );
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:')
      throw new TransparencyOptionsError(`witnesses[${i}].url must be http(s)`);
    try {
      return { url, verifier: parseVerifierKey(w.vkey, [NOTE_KEY_TYPE.cosignature]) };
    } catch (error) {
      throw new TransparencyOptionsError(
        `witnesses[${i}].vkey: ${(error as Error).message} (a witness key has type 0x04)`,
      );
    }
  });
  return {
    origin: options.origin,
    signer,
    verifiers: [signer, ...previous],
    checkpointDir: options.checkpointDir ?? auditLogDir,
    checkpointIntervalMs: within(
      options.checkpointIntervalMs,
      10_000,
      10,
      86_400_000,
      'checkpointIntervalMs',
    ),
    maxCheckpointAgeMs: within(
      options.maxCheckpointAgeMs,
      3_600_000,
      10,
      7 * 86_400_000,
      'maxCheckpointAgeMs',
    ),
    integrateIntervalMs: within(options.integrateIntervalMs, 200, 5, 60_000, 'integrateIntervalMs'),
    integrateBatch: within(options.integrateBatch, 10_000, 1, 100_000, 'integrateBatch'),
    witnesses,
    witnessTimeoutMs: within(options.witnessTimeoutMs, 5_000, 100, 120_000, 'witnessTimeoutMs'),
  };
}
