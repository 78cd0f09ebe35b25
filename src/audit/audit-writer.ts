import {
  type DataSource,
  type EntityManager,
  type EntitySubscriberInterface,
  type QueryRunner,
  type TransactionCommitEvent,
  type TransactionRollbackEvent,
} from 'typeorm';
import { AuditLogUnavailableError, type AuditLogFile } from './audit-log-file.js';
import { type AuditRecord, type UnchainedRecord } from './audit-record.js';
import { type AuditStore } from './audit-store.js';
import { metrics } from '../common/metrics.js';
import { OverloadedError } from '../common/overloaded.error.js';

interface Waiter {
  records: UnchainedRecord[];
  resolve(records: AuditRecord[]): void;
  reject(error: unknown): void;
}

interface InTransaction {
  ticket: number;
  depth: number;
  records: AuditRecord[];
  /** COMMIT was sent: if it fails now, the outcome is unknown. */
  committing: boolean;
}

/** How `append` treats a full queue. */
export interface AppendOptions {
  /**
   * The action these records describe has already happened: queue them even past the bound
   * (refusing now would leave the action without its record). Check `overloaded` before acting.
   */
  evenIfOverloaded?: boolean;
}

/**
 * Appends records to the chain and the log file. Two ways in:
 * - `append(records)`: queued; concurrent callers share one transaction, one chain-head lock and
 *   one fsync. Resolves when committed and in the file. No pooled connection is held while waiting.
 *   At most `maxPendingEvents` records wait for a transaction: past that `append` rejects at once
 *   with OverloadedError (nothing of it queued, nothing acknowledged).
 * - `appendInTransaction(manager, records)`: inside the caller's transaction, so the records commit
 *   with its work; their lines are written when it commits, before its commit returns.
 */
export class AuditWriter implements EntitySubscriberInterface {
  private queue: Waiter[] = [];
  /** Records accepted by `append` and not settled yet (queued, in a transaction, or being written). */
  private pendingEvents = 0;
  private draining = false;
  private readonly inTransaction = new Map<QueryRunner, InTransaction[]>();
  private readonly committedListeners: ((records: readonly AuditRecord[]) => void)[] = [];

  constructor(
    private readonly dataSource: DataSource,
    private readonly store: AuditStore,
    private readonly file: AuditLogFile,
    private readonly instanceId: string,
    private readonly maxBatchEvents: number,
    private readonly maxPendingEvents = Infinity,
  ) {
    // TypeORM tells subscribers about every commit and rollback: that is how a caller's
    // transaction gets its lines written (or its ticket released).
    dataSource.subscribers.push(this);
  }

  /** True while the queue is at its bound: a new `append` would be refused. */
  get overloaded(): boolean {
    return this.pendingEvents >= this.maxPendingEvents;
  }

  append(records: UnchainedRecord[], options: AppendOptions = {}): Promise<AuditRecord[]> {
    if (this.file.broken) return Promise.reject(this.unavailable());
    // An append larger than the bound is taken when the queue is empty: it could never fit.
    if (
      !options.evenIfOverloaded &&
      this.pendingEvents > 0 &&
      this.pendingEvents + records.length > this.maxPendingEvents
    ) {
      metrics.overloaded.inc({ queue: 'audit' });
      return Promise.reject(new OverloadedError('audit', this.maxPendingEvents));
    }
    const n = records.length;
    this.pendingEvents += n;
    return new Promise<AuditRecord[]>((resolve, reject) => {
      this.queue.push({ records, resolve, reject });
      void this.drain();
    }).finally(() => (this.pendingEvents -= n));
  }

  async appendInTransaction(
    manager: EntityManager,
    records: UnchainedRecord[],
  ): Promise<AuditRecord[]> {
    const runner = manager.queryRunner;
    if (!runner?.isTransactionActive) {
      throw new Error(
        'AuditService: a manager passed to record() must belong to an active transaction',
      );
    }
    if (this.file.broken) throw this.unavailable();
    let ticket = -1;
    try {
      const chained = await this.store.append(manager, records, this.instanceId, () => {
        ticket = this.file.reserve();
      });
      const list = this.inTransaction.get(runner) ?? [];
      list.push({ ticket, depth: depthOf(runner), records: chained, committing: false });
      this.inTransaction.set(runner, list);
      return chained;
    } catch (error) {
      if (ticket >= 0) this.file.abandon(ticket);
      throw error;
    }
  }

  /**
   * Tells `listener` of records this process committed, as each commit returns (in id order
   * within a commit; commits of one process in chain order). Synchronous and never allowed to
   * fail an append: a listener that throws is ignored.
   */
  onCommitted(listener: (records: readonly AuditRecord[]) => void): void {
    this.committedListeners.push(listener);
  }

  private committed(records: readonly AuditRecord[]): void {
    for (const listener of this.committedListeners) {
      try {
        listener(records);
      } catch {
        // A listener's problem (the transparency log reads the table instead).
      }
    }
  }

  /** TypeORM hook: the caller's transaction committed; write its lines before its commit returns. */
  afterTransactionCommit(event: TransactionCommitEvent): Promise<void> | void {
    const runner = event.queryRunner;
    if (runner.isTransactionActive) return; // a savepoint was released; the transaction goes on
    const list = this.inTransaction.get(runner);
    if (!list) return;
    this.inTransaction.delete(runner);
    for (const p of list) this.committed(p.records);
    return Promise.all(list.map((p) => this.file.write(p.ticket, p.records))).then(() => {
      metrics.auditAppends.inc(list.reduce((n, p) => n + p.records.length, 0));
    });
  }

  /** TypeORM hook: COMMIT (or RELEASE SAVEPOINT) is about to be sent. */
  beforeTransactionCommit(event: TransactionCommitEvent): void {
    if (depthOf(event.queryRunner) !== 1) return;
    for (const p of this.inTransaction.get(event.queryRunner) ?? []) p.committing = true;
  }

  /**
   * TypeORM hook: the caller's transaction (or a savepoint in it) is being rolled back. Handled
   * before the ROLLBACK is sent: on a dead connection that statement fails and no "after" event
   * ever comes, and a ticket left unsettled would stall every later line of the file.
   */
  beforeTransactionRollback(event: TransactionRollbackEvent): void {
    const runner = event.queryRunner;
    const list = this.inTransaction.get(runner);
    if (!list) return;
    const depth = depthOf(runner); // the level being rolled back
    for (const p of list) if (p.depth >= depth) this.file.abandon(p.ticket, p.committing);
    const kept = list.filter((p) => p.depth < depth);
    if (kept.length) this.inTransaction.set(runner, kept);
    else this.inTransaction.delete(runner);
  }

  private async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.queue.length > 0) {
        const batch: Waiter[] = [];
        let events = 0;
        while (
          this.queue.length > 0 &&
          (batch.length === 0 || events + this.queue[0].records.length <= this.maxBatchEvents)
        ) {
          const next = this.queue.shift()!;
          batch.push(next);
          events += next.records.length;
        }
        await this.commitBatch(batch);
      }
    } finally {
      this.draining = false;
    }
  }

  /**
   * One transaction for the batch. The file write of this batch is not awaited before the next
   * batch starts: lines still go out in id order (tickets), and the next commit overlaps this fsync.
   */
  private async commitBatch(batch: Waiter[]): Promise<void> {
    let ticket = -1;
    let appended = false;
    let chained: AuditRecord[];
    try {
      chained = await this.dataSource.transaction(async (manager) => {
        const records = await this.store.append(
          manager,
          batch.flatMap((w) => w.records),
          this.instanceId,
          () => {
            ticket = this.file.reserve();
          },
        );
        appended = true;
        return records;
      });
    } catch (error) {
      // Failed after the append: the COMMIT itself may have gone through.
      if (ticket >= 0) this.file.abandon(ticket, appended);
      for (const w of batch) w.reject(error);
      return;
    }
    this.committed(chained);
    this.file.write(ticket, chained).then(
      () => {
        let offset = 0;
        for (const w of batch) {
          w.resolve(chained.slice(offset, offset + w.records.length));
          offset += w.records.length;
        }
      },
      (error: unknown) => {
        for (const w of batch) w.reject(error);
      },
    );
  }

  private unavailable(): Error {
    return this.file.broken ?? new AuditLogUnavailableError('audit log file unavailable');
  }
}

/** Savepoint nesting of a TypeORM query runner (1 = top-level transaction). */
function depthOf(runner: QueryRunner): number {
  return (runner as QueryRunner & { transactionDepth?: number }).transactionDepth ?? 1;
}
