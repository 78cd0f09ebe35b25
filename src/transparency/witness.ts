import fs from 'node:fs/promises';
import path from 'node:path';
import { type Checkpoint, parseCheckpoint } from './checkpoint.js';
import { cosign } from './cosignature.js';
import { decodeBase64, type NoteSigner, type NoteVerifier } from './note-keys.js';
import { MerkleProofError, verifyConsistency } from './merkle.js';
import { openNote, parseNote, SignedNoteError } from './signed-note.js';

/** A log the witness cosigns for: its origin and the keys its checkpoints may be signed with. */
export interface WitnessedLog {
  origin: string;
  verifiers: NoteVerifier[];
}

/** What the witness answers an add-checkpoint request (C2SP tlog-witness). */
export interface WitnessAnswer {
  status: 200 | 400 | 403 | 404 | 409 | 413 | 422;
  contentType: string;
  body: string;
}

interface LogState {
  size: number;
  root: string;
  note: string;
}

/** Largest request accepted: a note, 63 proof lines and a few signatures are a few kB. */
export const MAX_ADD_CHECKPOINT_BYTES = 64 * 1024;

/**
 * A C2SP tlog-witness: verifies each checkpoint submitted for a log it knows (signature,
 * consistency with the last one it cosigned), persists it before answering, and cosigns it
 * (tlog-cosignature, Ed25519). Its state, per origin the latest cosigned size, root and note,
 * is one JSON file written by atomic rename; requests are serialised, so a check and the
 * write that follows it can never interleave with another request's (no rollback race).
 */
export class Witness {
  private state: Record<string, LogState> = {};
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly signer: NoteSigner,
    private readonly logs: readonly WitnessedLog[],
    private readonly stateFile: string,
    private readonly now: () => number = () => Math.floor(Date.now() / 1000),
    private readonly onMisbehaviour: (message: string) => void = () => {},
  ) {}

  get name(): string {
    return this.signer.name;
  }

  /** Loads the state file (a missing one is an empty state). */
  async load(): Promise<void> {
    let text: string;
    try {
      text = await fs.readFile(this.stateFile, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    const parsed = JSON.parse(text) as Record<string, LogState>;
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new Error(`${this.stateFile} is not a witness state file`);
    this.state = parsed;
  }

  /** The latest cosigned size and root of a log, if any. */
  latest(origin: string): LogState | undefined {
    return this.state[origin];
  }

  /** Handles one `POST /add-checkpoint` body; requests are handled one at a time. */
  addCheckpoint(body: Buffer): Promise<WitnessAnswer> {
    const next = this.queue.then(() => this.handle(body));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async handle(body: Buffer): Promise<WitnessAnswer> {
    if (body.length > MAX_ADD_CHECKPOINT_BYTES)
      return text(413, `the request is larger than ${MAX_ADD_CHECKPOINT_BYTES} bytes`);
    const request = parseRequest(body);
    if (typeof request === 'string') return text(400, request);
    const { old, proof, note } = request;
    // Malformed first (400), then an origin it does not witness (404), then the signature (403).
    let checkpoint: Checkpoint;
    try {
      checkpoint = parseCheckpoint(parseNote(note).text);
    } catch (error) {
      return text(400, `not a signed checkpoint: ${(error as Error).message}`);
    }
    const origin = checkpoint.origin;
    const log = this.logs.find((l) => l.origin === origin);
    if (!log) return text(404, `unknown log origin ${JSON.stringify(origin)}`);
    try {
      openNote(note, log.verifiers);
    } catch (error) {
      if (error instanceof SignedNoteError) return text(403, error.message);
      throw error;
    }
    if (old > checkpoint.size)
      return text(400, `old size ${old} is larger than the checkpoint size ${checkpoint.size}`);
    const held = this.state[origin];
    const heldSize = held?.size ?? 0;
    const root = checkpoint.root.toString('base64');
    if (old !== heldSize)
      return { status: 409, contentType: 'text/x.tlog.size', body: `${heldSize}\n` };
    if (held && old === checkpoint.size && held.root !== root) {
      this.onMisbehaviour(
        `${origin}: a second checkpoint of size ${old} with another root (held ${held.root}, got ${root}): a fork`,
      );
      return { status: 409, contentType: 'text/x.tlog.size', body: `${heldSize}\n` };
    }
    if (old === 0 && proof.length > 0) return text(400, 'a proof from size 0 must be empty');
    if (held && old > 0 && old < checkpoint.size) {
      try {
        verifyConsistency(
          old,
          checkpoint.size,
          proof,
          Buffer.from(held.root, 'base64'),
          checkpoint.root,
        );
      } catch (error) {
        if (!(error instanceof MerkleProofError)) throw error;
        this.onMisbehaviour(
          `${origin}: checkpoint ${checkpoint.size} (${root}) is not consistent with ${held.size} (${held.root}): ${error.message}`,
        );
        return text(422, `the consistency proof from ${old} does not verify: ${error.message}`);
      }
    } else if (proof.length > 0 && old === checkpoint.size) {
      return text(400, 'a proof between two checkpoints of one size must be empty');
    }
    const body2 = `${[checkpoint.origin, checkpoint.size, root, ...checkpoint.extensions].join('\n')}\n`;
    if (!held || checkpoint.size > held.size) {
      this.state = { ...this.state, [origin]: { size: checkpoint.size, root, note } };
      await this.persist();
    }
    return {
      status: 200,
      contentType: 'text/plain; charset=utf-8',
      body: cosign(this.signer, body2, this.now()),
    };
  }

  private async persist(): Promise<void> {
    const dir = path.dirname(this.stateFile);
    const tmp = path.join(dir, `.${path.basename(this.stateFile)}.${process.pid}.tmp`);
    const file = await fs.open(tmp, 'w', 0o600);
    try {
      await file.writeFile(JSON.stringify(this.state, null, 1) + '\n', 'utf8');
      await file.sync();
    } finally {
      await file.close();
    }
    await fs.rename(tmp, this.stateFile);
    const d = await fs.open(dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  }
}

function text(status: WitnessAnswer['status'], message: string): WitnessAnswer {
  return { status, contentType: 'text/plain; charset=utf-8', body: `${message}\n` };
}

/** `old N`, up to 63 base64 hashes, a blank line, the note: or why not. */
function parseRequest(body: Buffer): { old: number; proof: Buffer[]; note: string } | string {
  const textBody = body.toString('utf8');
  if (!Buffer.from(textBody, 'utf8').equals(body)) return 'the request is not valid UTF-8';
  const blank = textBody.indexOf('\n\n');
  if (blank < 0)
    return 'the request needs an "old <size>" line, proof lines, a blank line and the checkpoint';
  const head = textBody.slice(0, blank).split('\n');
  const note = textBody.slice(blank + 2);
  const m = /^old (0|[1-9][0-9]{0,15})$/.exec(head[0]);
  if (!m || !Number.isSafeInteger(Number(m[1])))
    return 'the first line must be "old <size>" (decimal, no leading zero)';
  const lines = head.slice(1);
  if (lines.length > 63) return 'at most 63 consistency proof lines';
  const proof: Buffer[] = [];
  for (const [i, line] of lines.entries()) {
    let hash: Buffer;
    try {
      hash = decodeBase64(line, 'a proof line');
    } catch {
      return `proof line ${i + 1} is not standard base64`;
    }
    if (hash.length !== 32) return `proof line ${i + 1} is not a 32-byte hash`;
    proof.push(hash);
  }
  return { old: Number(m[1]), proof, note };
}
