import { type DataSource } from 'typeorm';
import { type SignedCheckpoint } from './checkpoint-signer.js';
import { verifyCosignature } from './cosignature.js';
import { parseNote } from './signed-note.js';
import { type ResolvedWitness } from './transparency.options.js';
import { storedConsistencyProof } from './tree-proofs.js';
import { type TreeStore } from './tree-store.js';

/** A witness that did not cosign, and what it said. */
export class WitnessError extends Error {
  constructor(
    readonly witness: string,
    message: string,
    readonly status?: number,
  ) {
    super(`witness ${witness}: ${message}`);
    this.name = this.constructor.name;
  }
}

export interface StoredCosignature {
  witness: string;
  line: string;
  cosignedAt: Date;
}

/**
 * Sends checkpoints to one witness as C2SP tlog-witness specifies (`POST <url>/add-checkpoint`:
 * `old <size>`, the consistency proof from it, a blank line, the note), follows a 409's size
 * once, checks the returned cosignature against the witness's key and stores it.
 */
export class WitnessClient {
  /** The size of the latest checkpoint the witness cosigned, as far as this client knows. */
  private witnessSize: number | undefined;

  constructor(
    private readonly dataSource: DataSource,
    private readonly store: TreeStore,
    private readonly witness: ResolvedWitness,
    private readonly timeoutMs: number,
  ) {}

  get name(): string {
    return this.witness.verifier.name;
  }

  async submit(checkpoint: SignedCheckpoint): Promise<StoredCosignature> {
    let old = this.witnessSize ?? (await this.lastCosignedSize());
    for (let attempt = 0; ; attempt++) {
      if (old > checkpoint.size)
        throw new WitnessError(
          this.name,
          `it holds a checkpoint of ${old} records, newer than ${checkpoint.size}: it saw another view of this log`,
        );
      const proof =
        old === 0 || old === checkpoint.size
          ? []
          : (await storedConsistencyProof(this.store, old, checkpoint.size)).proof;
      const body =
        `old ${old}\n` +
        proof.map((h) => h.toString('base64') + '\n').join('') +
        '\n' +
        checkpoint.note;
      const response = await this.post(body);
      const text = await response.text();
      if (response.status === 409 && attempt === 0) {
        const size = /^(0|[1-9][0-9]{0,15})\n$/.exec(text);
        if (!size)
          throw new WitnessError(
            this.name,
            `409 without its size: ${JSON.stringify(text.slice(0, 200))}`,
            409,
          );
        if (Number(size[1]) === old)
          throw new WitnessError(
            this.name,
            `409: it holds another checkpoint of ${old} records (a different root): a fork`,
            409,
          );
        old = Number(size[1]);
        continue;
      }
      if (response.status !== 200)
        throw new WitnessError(
          this.name,
          `answered ${response.status}: ${JSON.stringify(text.slice(0, 200))}`,
          response.status,
        );
      const stored = await this.accept(checkpoint, text);
      this.witnessSize = checkpoint.size;
      return stored;
    }
  }

  private async post(body: string): Promise<Response> {
    const url = new URL(
      'add-checkpoint',
      this.witness.url.href.endsWith('/') ? this.witness.url : `${this.witness.url.href}/`,
    );
    try {
      return await fetch(url, {
        method: 'POST',
        body,
        headers: { 'content-type': 'text/plain; charset=utf-8' },
        signal: AbortSignal.timeout(this.timeoutMs),
        redirect: 'error',
      });
    } catch (error) {
      this.witnessSize = undefined;
      throw new WitnessError(this.name, `unreachable at ${url.href}: ${(error as Error).message}`);
    }
  }

  /** Checks the witness's cosignature on the checkpoint and stores it. */
  private async accept(checkpoint: SignedCheckpoint, response: string): Promise<StoredCosignature> {
    let time: number | undefined;
    let line: string | undefined;
    try {
      const { text, signatures } = parseNote(checkpoint.note + response);
      for (const s of signatures) {
        const t = verifyCosignature(this.witness.verifier, text, s);
        if (t !== undefined) {
          time = t;
          line = s.line;
        }
      }
    } catch (error) {
      throw new WitnessError(this.name, `its answer does not verify: ${(error as Error).message}`);
    }
    if (time === undefined || line === undefined)
      throw new WitnessError(this.name, 'its answer holds no cosignature from its key');
    const cosignedAt = new Date(time * 1000);
    await this.dataSource.query(
      `INSERT INTO audit_cosignatures (size, witness, line, cosigned_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (size, witness) DO NOTHING`,
      [checkpoint.size, this.name, line, cosignedAt],
    );
    return { witness: this.name, line, cosignedAt };
  }

  private async lastCosignedSize(): Promise<number> {
    const [row] = (await this.dataSource.query(
      `SELECT max(size)::float8 AS size FROM audit_cosignatures WHERE witness = $1`,
      [this.name],
    )) as { size: number | null }[];
    return row?.size ?? 0;
  }
}
