import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { type Request } from 'express';
import { type DataSource, type EntityManager } from 'typeorm';
import { type RequestContext, currentRequestContext } from './audit-context.js';
import { assertValidEvent, occurredAtMillis } from './audit-event-validator.js';
import { assertLogBelongsToChain } from './audit-log.binding.js';
import { AuditLogFile } from './audit-log-file.js';
import { AuditMigrationsMissingError } from './audit-startup.errors.js';
import { type AuditQuery, AuditQueryInvalidError } from './audit-query.js';
import { checkAuditQuery } from './audit-query.validator.js';
import { type Page } from '../common/page.js';
import { type AuditEvent, type AuditRecord, type UnchainedRecord } from './audit-record.js';
import { AuditStore, RECORD_SELECT } from './audit-store.js';
import { AuditVerifier, type VerifyResult } from './audit-verifier.js';
import { VerificationGate } from './audit-verify.gate.js';
import { AuditWriter } from './audit-writer.js';
import { describeLockHolder } from '../common/instance-lock.js';
import { metrics } from '../common/metrics.js';
import { redact } from './redact.js';
import { STRIKEGUARD_DATA_SOURCE } from '../common/data-source.provider.js';
import { AUDIT_OPTIONS, type ResolvedAuditOptions } from './audit.options.js';

const REPAIR_INTERVAL_MS = 1000;

/** Options of `record` and `recordMany`. */
export interface RecordOptions {
  /** Append inside this transaction: the records commit (and reach the file) with it. */
  manager?: EntityManager;
  /**
   * The action these records describe has already happened: never refuse them for load (they are
   * queued past `maxPendingEvents`). Check `overloaded` before acting instead.
   */
  evenIfOverloaded?: boolean;
}
const CATCH_UP_CHUNK = 5000;

/** Records, searches and verifies the audit trail (table and restricted log file). */
@Injectable()
export class AuditService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('Audit');
  private repairTimer: NodeJS.Timeout | null = null;
  private readonly gate = new VerificationGate();

  constructor(
    @Inject(STRIKEGUARD_DATA_SOURCE) private readonly dataSource: DataSource,
    @Inject(AUDIT_OPTIONS) private readonly options: ResolvedAuditOptions,
    private readonly store: AuditStore,
    private readonly file: AuditLogFile,
    private readonly writer: AuditWriter,
    private readonly verifier: AuditVerifier,
  ) {
    this.file.onBroken = () => this.scheduleRepair();
  }

  /**
   * Checks the migrations ran, opens the log file, brings it in line with the table, and records
   * permissions it tightened.
   */
  async onModuleInit(): Promise<void> {
    const { missing, database } = await this.store.missingTables();
    if (missing.length) throw new AuditMigrationsMissingError(missing, database);
    // Refused (nothing written) when the directory holds another chain's records.
    const tightened = await this.file.open((last) =>
      assertLogBelongsToChain(this.options.logDir, last, this.store),
    );
    const takeover = this.file.lockTakeover;
    if (takeover) {
      this.logger.warn(
        `took over the lock of ${this.file.path} from ${describeLockHolder(takeover.holder)}: ` +
          (takeover.reason === 'holder-exited'
            ? 'that process had exited'
            : 'its heartbeat had stopped'),
      );
    }
    await this.catchUp(this.dataSource.manager);
    for (const t of tightened) {
      this.logger.warn(`tightened ${t.path} from ${t.from} to ${t.to}`);
      await this.record({
        type: 'audit.log_permissions_tightened',
        userId: 'system',
        outcome: 'success',
        threat: 'medium',
        entityType: 'audit_log',
        targetId: t.path,
        description: `permissions of ${t.path} were ${t.from}, wider than allowed; set to ${t.to}`,
        details: { path: t.path, from: t.from, to: t.to },
      });
    }
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.repairTimer) clearInterval(this.repairTimer);
    await this.file.close();
  }

  /**
   * Records one event. Resolves once it is committed and in the log file. Pass `manager` to
   * record inside your own transaction: the record then commits (and reaches the file) with it.
   * Outside a transaction, past `maxPendingEvents` waiting it rejects at once with
   * OverloadedError — unless `evenIfOverloaded` (the action it records already happened).
   */
  async record(event: AuditEvent, options: RecordOptions = {}): Promise<AuditRecord> {
    const [record] = await this.recordMany([event], options);
    return record;
  }

  /** Records several events, all or none, in order. */
  async recordMany(events: AuditEvent[], options: RecordOptions = {}): Promise<AuditRecord[]> {
    const started = process.hrtime.bigint();
    const context = currentRequestContext(this.options.actorOf);
    const records = events.map((e) => {
      assertValidEvent(e);
      return toRecord(e, context);
    });
    try {
      const appended = options.manager
        ? await this.writer.appendInTransaction(options.manager, records)
        : await this.writer.append(records, { evenIfOverloaded: options.evenIfOverloaded });
      if (!options.manager) {
        // In a caller's transaction the records count once it commits (see AuditWriter).
        metrics.auditAppends.inc(appended.length);
        metrics.auditAppendSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
      }
      return appended;
    } catch (error) {
      metrics.auditAppendFailures.inc();
      throw error;
    } finally {
      if (this.file.broken) this.scheduleRepair();
    }
  }

  /**
   * Newest first; `nextCursor` is null on the last page. A query that is not a valid AuditQuery
   * (wrong types, limit out of range…) throws AuditQueryInvalidError, before any SQL is sent.
   */
  find(query: AuditQuery): Promise<Page<AuditRecord>> {
    return this.store.search(checkAuditQuery(query));
  }

  async findById(id: number): Promise<AuditRecord | null> {
    if (!Number.isSafeInteger(id) || id < 1)
      throw new AuditQueryInvalidError([{ path: 'id', message: 'must be a positive integer id' }]);
    const [record] = await this.dataSource.query(
      `SELECT ${RECORD_SELECT} FROM audit_events WHERE id = $1`,
      [id],
    );
    return record ?? null;
  }

  /**
   * Recomputes hashes and links (all, or an id range) and cross-checks this instance's log file.
   * A range reads its rows and, of the file, only around its lines. The whole chain, or a range of
   * more than HEAVY_VERIFY_RECORDS, runs one at a time: another throws AuditVerificationBusyError.
   */
  async verify(range: { fromId?: number; toId?: number } = {}): Promise<VerifyResult> {
    const result = await this.gate.verify(
      range,
      () => this.store.headId(),
      (onProgress, stats) =>
        this.verifier.verify(
          range,
          {
            instanceId: this.options.instanceId,
            files: this.file.files(),
            lastId: this.file.lastId,
          },
          onProgress,
          stats,
        ),
    );
    if (!result.ok) await this.recordVerificationFailure(range, result);
    return result;
  }

  /**
   * True while `maxPendingEvents` are waiting: a `record()` now would be refused. Check it before
   * an action whose record must follow it, then record with `evenIfOverloaded`.
   */
  get overloaded(): boolean {
    return this.writer.overloaded;
  }

  /**
   * Tells `listener` of the records this process commits, as each commit returns (synchronously,
   * in chain order; a listener that throws is ignored). What the transparency log integrates
   * without reading the records back; other instances' records are not seen here.
   */
  onCommitted(listener: (records: readonly AuditRecord[]) => void): void {
    this.writer.onCommitted(listener);
  }

  /** False when the log file cannot be written (the audit trail then refuses appends). */
  logWritable(): boolean {
    return this.file.writable();
  }

  get instanceId(): string {
    return this.options.instanceId;
  }

  /** Who is acting in this request, as the configured `actorOf` sees it. */
  actorOf(request: Request): string | null {
    return this.options.actorOf(request);
  }

  /** A copy of `value` with the configured secret keys redacted. */
  redact(value: unknown): unknown {
    return redact(value, this.options.redactKeys);
  }

  /**
   * A verification that failed is itself an event (`audit.verification_failed`, threat high), so
   * the security team hears of it wherever it runs (alert webhooks read it from the table). The
   * verdict is returned even if that record cannot be written: the caller must still see it.
   */
  private async recordVerificationFailure(
    range: { fromId?: number; toId?: number },
    result: VerifyResult,
  ): Promise<void> {
    try {
      await this.record(
        {
          type: 'audit.verification_failed',
          userId: 'system',
          outcome: 'failure',
          threat: 'high',
          entityType: 'audit_record',
          targetId: result.firstInvalidId === undefined ? null : String(result.firstInvalidId),
          description: result.reason ?? 'verification failed',
          details: {
            firstInvalidId: result.firstInvalidId ?? null,
            reason: result.reason ?? null,
            checked: result.checked,
            fromId: range.fromId ?? null,
            toId: range.toId ?? null,
          },
        },
        { evenIfOverloaded: true },
      );
    } catch (error) {
      this.logger.error(
        `could not record audit.verification_failed (first invalid id ${result.firstInvalidId}): ${(error as Error).message}`,
      );
    }
  }

  /** Appends to the file the records of this instance that the table has and the file lacks. */
  private async catchUp(manager: EntityManager): Promise<void> {
    for (;;) {
      const missed = await this.store.byInstanceAfter(
        this.options.instanceId,
        this.file.lastId,
        CATCH_UP_CHUNK,
        manager,
      );
      if (missed.length === 0) return;
      this.logger.warn(
        `appending ${missed.length} committed record(s) the log file missed (after id ${this.file.lastId})`,
      );
      await this.file.appendRecovered(missed);
    }
  }

  /** While the file is broken, retry every second: reopen, catch up under the head lock. */
  private scheduleRepair(): void {
    if (this.repairTimer) return;
    let running = false;
    this.repairTimer = setInterval(() => {
      if (running) return;
      running = true;
      // Under the chain-head lock no append is in flight anywhere: what the table holds for this
      // instance beyond the file's last line is exactly what the file missed.
      void this.store
        .withHeadLocked(async (manager) => {
          await this.file.reopen();
          await this.catchUp(manager);
          this.file.broken = null;
        })
        .then(
          () => {
            this.logger.log('audit log file writable again');
            clearInterval(this.repairTimer!);
            this.repairTimer = null;
          },
          (error: unknown) =>
            this.logger.warn(`audit log file still unavailable: ${(error as Error).message}`),
        )
        .finally(() => (running = false));
    }, REPAIR_INTERVAL_MS);
    this.repairTimer.unref();
  }
}

function toRecord(e: AuditEvent, context: RequestContext | undefined): UnchainedRecord {
  // A string was checked by assertValidEvent: read it as the validator did, not as Date.parse would.
  const occurredAt =
    e.occurredAt === undefined
      ? new Date()
      : new Date(typeof e.occurredAt === 'string' ? occurredAtMillis(e.occurredAt)! : e.occurredAt);
  return {
    occurredAt: occurredAt.toISOString(),
    type: e.type,
    userId: e.userId,
    actorId: e.actorId !== undefined ? e.actorId : (context?.actorId ?? null),
    outcome: e.outcome ?? 'success',
    threat: e.threat ?? 'none',
    ip: e.ip !== undefined ? e.ip : (context?.ip ?? null),
    method: e.method !== undefined ? e.method : (context?.method ?? null),
    path: e.path !== undefined ? e.path : (context?.path ?? null),
    entityType: e.entityType ?? null,
    targetId: e.targetId ?? null,
    location: e.location ?? null,
    description: e.description ?? null,
    details: e.details ?? null,
  };
}
