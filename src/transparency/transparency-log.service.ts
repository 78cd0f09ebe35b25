import {
  Inject,
  Injectable,
  Logger,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { type DataSource } from 'typeorm';
import { AuditService } from '../audit/audit.service.js';
import { metrics } from '../common/metrics.js';
import { TimerLoop } from '../common/timer-loop.js';
import { STRIKEGUARD_DATA_SOURCE } from '../common/data-source.provider.js';
import { CheckpointFiles } from './checkpoint-files.js';
import { CheckpointSigner, ForkGuardError, type SignedCheckpoint } from './checkpoint-signer.js';
import { TRANSPARENCY_OPTIONS, type ResolvedTransparencyOptions } from './transparency.options.js';
import { TreeIntegrator } from './tree-integrator.js';
import {
  type ConsistencyProof,
  type InclusionProof,
  TransparencyReader,
} from './transparency-reader.js';
import { type TreeHead, TreeStore } from './tree-store.js';
import { WitnessClient } from './witness-client.js';

export interface TransparencyStatus {
  treeSize: number;
  chainSize: number;
  checkpoint: { size: number; signedAt: string } | null;
  /** Why the last signing failed (a ForkGuardError's message), null when it did not. */
  signingError: string | null;
  /** Why the last integration or signing pass failed otherwise, null when it did not. */
  lastError: string | null;
  witnesses: { name: string; cosignedSize: number | null; lastError: string | null }[];
}

/**
 * What /health shows of the transparency log, from this instance's memory (its last pass):
 * never a query, so a slow database or witness does not slow the health check. No error text
 * (the health check is public): why is in the service log and in status().
 */
export interface TransparencyHealth {
  /** false while signing is refused, a pass failed, or a witness did not cosign the latest. */
  healthy: boolean;
  /** `refused`: the fork guard will not sign (the tree does not extend the published checkpoint). */
  signing: 'ok' | 'refused';
  /** `failing`: the last integration or signing pass failed for another reason. */
  passes: 'ok' | 'failing';
  /** null until this instance's first pass. */
  treeSize: number | null;
  chainSize: number | null;
  checkpoint: { size: number; signedAt: string } | null;
  witnesses: { name: string; cosignedSize: number | null; ok: boolean }[];
}

/**
 * The transparency log over the audit chain: integrates committed records into the Merkle tree
 * off the request path, signs checkpoints on schedule (never one inconsistent with the last it
 * wrote outside the database), sends them to the witnesses, and answers proofs.
 */
@Injectable()
export class TransparencyLogService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('TransparencyLog');
  readonly store: TreeStore;
  private readonly reader: TransparencyReader;
  private readonly integrator: TreeIntegrator;
  private readonly signer: CheckpointSigner;
  private readonly witnesses: WitnessClient[];
  private readonly witnessState = new Map<
    string,
    { cosignedSize: number | null; lastError: string | null }
  >();
  private readonly loop = new TimerLoop(async () => {
    await this.tick();
    return this.options.integrateIntervalMs;
  });
  private lastSignedAt = 0;
  private signingError: string | null = null;
  private lastError: string | null = null;
  private seen: {
    treeSize: number | null;
    chainSize: number | null;
    checkpoint: { size: number; signedAt: Date } | null;
  } = { treeSize: null, chainSize: null, checkpoint: null };
  private submitting: Promise<void> | undefined;

  constructor(
    @Inject(STRIKEGUARD_DATA_SOURCE) private readonly dataSource: DataSource,
    @Inject(TRANSPARENCY_OPTIONS) readonly options: ResolvedTransparencyOptions,
    audit: AuditService,
  ) {
    this.store = new TreeStore(dataSource);
    this.reader = new TransparencyReader(dataSource);
    this.integrator = new TreeIntegrator(dataSource, this.store, options.integrateBatch);
    // What this process commits is integrated without reading it back.
    audit.onCommitted((records) => this.integrator.remember(records));
    this.signer = new CheckpointSigner(
      dataSource,
      this.store,
      new CheckpointFiles(options.checkpointDir),
      options.signer,
      options.verifiers,
      options.origin,
    );
    this.witnesses = options.witnesses.map(
      (w) => new WitnessClient(dataSource, this.store, w, options.witnessTimeoutMs),
    );
    for (const w of this.witnesses)
      this.witnessState.set(w.name, { cosignedSize: null, lastError: null });
  }

  onApplicationBootstrap(): void {
    this.loop.start();
  }

  /** Before any module's shutdown hook: a pass in flight finishes while the database is open. */
  async beforeApplicationShutdown(): Promise<void> {
    await this.loop.stop();
    await this.submitting;
  }

  private async tick(): Promise<void> {
    let stage = 'integrate';
    try {
      await this.catchUp(false);
      stage = 'sign';
      await this.checkpoint();
      this.lastError = null;
    } catch (error) {
      // A refusal is signingError's, set by checkpoint().
      if (error instanceof ForkGuardError) {
        this.lastError = null;
        return;
      }
      metrics.transparencyErrors.inc({ stage });
      const message = `${stage === 'sign' ? 'signing' : 'integrating records'}: ${(error as Error).message}`;
      if (message !== this.lastError) this.logger.warn(`transparency log: ${message}`);
      this.lastError = message;
    }
  }

  private async catchUp(wait: boolean): Promise<TreeHead> {
    const { head, chainSize } = await this.integrator.catchUp(wait);
    this.seen.treeSize = head.size;
    metrics.transparencyTreeSize.set(head.size);
    if (chainSize !== null) {
      this.seen.chainSize = chainSize;
      metrics.transparencyChainSize.set(chainSize);
    }
    return head;
  }

  /** Adds every committed record to the tree now (the loop does this on its own). */
  integrate(): Promise<TreeHead> {
    return this.catchUp(true);
  }

  private sawCheckpoint(latest: { size: number; signedAt: Date | string } | null): void {
    if (!latest) return;
    const signedAt = new Date(latest.signedAt);
    const size = Number(latest.size);
    const known = this.seen.checkpoint;
    if (known && known.size >= size) return;
    this.seen.checkpoint = { size, signedAt };
    metrics.transparencyCheckpointSize.set(size);
    metrics.transparencyCheckpointTimestamp.set(signedAt.getTime() / 1000);
  }

  /**
   * Signs a checkpoint when one is due (`force`: now, whatever the schedule), then sends it to
   * the witnesses. Answers what was signed, or null. Throws ForkGuardError when refused.
   */
  async checkpoint(force = false): Promise<SignedCheckpoint | null> {
    const now = Date.now();
    let signed: SignedCheckpoint | null;
    try {
      signed = await this.signer.signIfDue((head, latest) => {
        this.sawCheckpoint(latest);
        if (force || !latest) return true;
        const since = now - Math.max(this.lastSignedAt, new Date(latest.signedAt).getTime());
        if (since >= this.options.maxCheckpointAgeMs) return true;
        return head.size > latest.size && since >= this.options.checkpointIntervalMs;
      }, force);
    } catch (error) {
      if (error instanceof ForkGuardError) {
        if (this.signingError !== error.message)
          this.logger.error(`refusing to sign a checkpoint: ${error.message}`);
        this.signingError = error.message;
        metrics.transparencySigningRefused.set(1);
      }
      throw error;
    }
    this.signingError = null;
    metrics.transparencySigningRefused.set(0);
    if (!signed) return null;
    this.sawCheckpoint(signed);
    this.lastSignedAt = now;
    const submission = this.submit(signed);
    this.submitting = submission;
    if (force) await submission;
    return signed;
  }

  private async submit(checkpoint: SignedCheckpoint): Promise<void> {
    await Promise.all(
      this.witnesses.map(async (w) => {
        const state = this.witnessState.get(w.name)!;
        try {
          await w.submit(checkpoint);
          state.cosignedSize = checkpoint.size;
          state.lastError = null;
          metrics.witnessCosignedSize.set({ witness: w.name }, checkpoint.size);
        } catch (error) {
          metrics.witnessFailures.inc({ witness: w.name });
          if (state.lastError !== (error as Error).message)
            this.logger.warn((error as Error).message);
          state.lastError = (error as Error).message;
        }
      }),
    );
  }

  /** The latest checkpoint with every stored cosignature on it, as a signed note; null if none. */
  latestNote(): Promise<{ size: number; note: string } | null> {
    return this.reader.latestNote();
  }

  inclusionProof(id: number, size?: number): Promise<InclusionProof> {
    return this.reader.inclusionProof(id, size);
  }

  consistencyProof(from: number, to: number): Promise<ConsistencyProof> {
    return this.reader.consistencyProof(from, to);
  }

  /** This instance's view of the log, from memory (what /health shows). */
  health(): TransparencyHealth {
    const witnesses = [...this.witnessState.entries()].map(([name, s]) => ({
      name,
      cosignedSize: s.cosignedSize,
      ok: s.lastError === null,
    }));
    const { checkpoint } = this.seen;
    return {
      healthy:
        this.signingError === null && this.lastError === null && witnesses.every((w) => w.ok),
      signing: this.signingError === null ? 'ok' : 'refused',
      passes: this.lastError === null ? 'ok' : 'failing',
      treeSize: this.seen.treeSize,
      chainSize: this.seen.chainSize,
      checkpoint: checkpoint && {
        size: checkpoint.size,
        signedAt: checkpoint.signedAt.toISOString(),
      },
      witnesses,
    };
  }

  async status(): Promise<TransparencyStatus> {
    const [head, chainSize, latest] = await Promise.all([
      this.store.head(),
      this.store.chainSize(),
      this.signer.latest(),
    ]);
    return {
      treeSize: head.size,
      chainSize,
      checkpoint: latest && {
        size: latest.size,
        signedAt: new Date(latest.signedAt).toISOString(),
      },
      signingError: this.signingError,
      lastError: this.lastError,
      witnesses: [...this.witnessState.entries()].map(([name, s]) => ({ name, ...s })),
    };
  }
}
