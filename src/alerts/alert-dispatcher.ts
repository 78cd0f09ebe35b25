import { randomUUID } from 'node:crypto';
import { type DataSource } from 'typeorm';
import { type AuditRecord } from '../audit/audit-record.js';
import { metrics } from '../common/metrics.js';
import { retryDelayMs } from './alert-backoff.js';
import { type AlertCursorRow, AlertCursorStore } from './alert-cursor.store.js';
import { type ResolvedAlertsOptions } from './alerts.options.js';
import { type WebhookDelivery, WebhookNotifier } from './webhook-notifier.js';

/** What a destination's delivery looks like from this instance: for /health and operators. */
export interface AlertsStatus {
  destination: string;
  /** `delivering` (this instance holds the lease), `standby` (another does), or not running. */
  role: 'starting' | 'delivering' | 'standby' | 'stopped';
  /** False while the receiver is failing or the oldest undelivered alert is older than maxLagMs. */
  healthy: boolean;
  /** Id of the last alert the receiver acknowledged. */
  cursor: number;
  /** Alerts after the cursor, not delivered yet (counted up to 10,000). */
  lag: number;
  /** When the oldest undelivered alert was recorded. */
  oldestPendingAt: string | null;
  lastSuccessAt: string | null;
  lastError: string | null;
  consecutiveFailures: number;
  nextAttemptAt: string | null;
}

/** Where the dispatcher reports what it does (Nest's Logger fits). */
export interface AlertsLogger {
  log(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/**
 * Delivers alerts from the audit table (the outbox) to one webhook destination, at least once
 * and in audit-id order, in the background: nothing runs on a request's path.
 *
 * Each round (every `pollIntervalMs`, at once while a backlog lasts) takes or renews the lease
 * on the destination's row; the holder reads the alerts after the cursor and sends them one at a
 * time, moving the cursor only after a 2xx. A failure stops the round: the same alert is retried
 * after an exponential, jittered backoff, never skipped. Instances without the lease stand by
 * and take over once it lapses (the holder died) or is released (it stopped cleanly). An alert
 * is sent twice only when its deliverer died (or lost the lease) between the receiver's 2xx and
 * the cursor's update; each copy carries the same webhook-id.
 */
export class AlertDispatcher {
  private readonly store: AlertCursorStore;
  private readonly notifier: WebhookNotifier;
  /** This process's name in the lease: the instance, and a nonce for this run. */
  readonly holder: string;
  private state: AlertsStatus;
  private nextAttempt = 0;
  private running: Promise<void> | null = null;
  private stopping = false;
  private wake: (() => void) | null = null;
  private ensured = false;
  private databaseError: string | null = null;

  constructor(
    dataSource: DataSource,
    private readonly options: ResolvedAlertsOptions,
    instanceId: string,
    private readonly logger: AlertsLogger,
    notifier?: WebhookNotifier,
  ) {
    this.store = new AlertCursorStore(dataSource);
    this.notifier =
      notifier ??
      new WebhookNotifier({
        url: options.url,
        secret: options.secrets,
        timeoutMs: options.timeoutMs,
      });
    this.holder = `${instanceId}#${randomUUID().slice(0, 8)}`;
    this.state = {
      destination: options.name,
      role: 'starting',
      healthy: true,
      cursor: 0,
      lag: 0,
      oldestPendingAt: null,
      lastSuccessAt: null,
      lastError: null,
      consecutiveFailures: 0,
      nextAttemptAt: null,
    };
  }

  /**
   * Creates the destination's cursor if it is new (so that with `startAt: 'now'` every alert
   * recorded after this resolves is delivered), then starts the background loop.
   */
  async start(): Promise<void> {
    if (this.running) return;
    await this.store.ensure(this.options.name, this.options.startAt);
    this.ensured = true;
    this.stopping = false;
    this.running = this.loop();
  }

  /**
   * Stops after the request in flight, if any, has been answered (or timed out) and its cursor
   * saved, then gives the lease up so a standby takes over without waiting for it to lapse.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    await this.running;
    this.running = null;
    this.state = { ...this.state, role: 'stopped' };
  }

  /** The latest state, from memory: reading it costs no query. */
  status(): AlertsStatus {
    return { ...this.state };
  }

  private async loop(): Promise<void> {
    while (!this.stopping) {
      let again = false;
      try {
        again = await this.round();
        if (this.databaseError) {
          this.logger.log(`alert delivery: database reachable again`);
          this.databaseError = null;
          this.update({});
        }
      } catch (error) {
        const message = `database: ${(error as Error).message}`;
        if (message !== this.databaseError)
          this.logger.warn(`alert delivery paused, will retry: ${message}`);
        this.databaseError = message;
        this.update({ lastError: message });
      }
      if (!again) await this.sleep(this.delay());
    }
    try {
      if (this.state.role === 'delivering')
        await this.store.release(this.options.name, this.holder);
    } catch (error) {
      this.logger.warn(`could not release the alert lease: ${(error as Error).message}`);
    }
  }

  /** One round; true when more alerts are waiting and the next round should start at once. */
  private async round(): Promise<boolean> {
    const { name, types, batchSize, leaseMs } = this.options;
    if (!this.ensured) {
      await this.store.ensure(name, this.options.startAt);
      this.ensured = true;
    }
    const claim = await this.store.claim(name, this.holder, leaseMs);
    if (!claim) {
      this.ensured = false; // the row was deleted: recreate it next round
      return false;
    }
    this.fromRow(claim.row);
    if (!claim.held) {
      if (this.state.role === 'delivering')
        this.logger.warn(`alert lease lost to ${claim.row.holder}`);
      this.update({ role: 'standby' });
      await this.measureLag(null);
      return false;
    }
    if (this.state.role !== 'delivering') {
      const started = `delivering alerts to "${name}" from audit id ${claim.row.lastId}`;
      // A lapsed lease means its holder died or hung: the alert it had in flight is resent.
      if (claim.tookFrom)
        this.logger.warn(`${started} (took over from ${claim.tookFrom}, whose lease lapsed)`);
      else this.logger.log(started);
      // Whoever delivered before kept the backoff in the row: go on with it.
      this.nextAttempt = claim.row.nextAttemptAt ? Date.parse(claim.row.nextAttemptAt) : 0;
      this.update({ role: 'delivering' });
    }

    const batch = await this.store.alertsAfter(types, claim.row.lastId, batchSize);
    await this.measureLag(batch);
    for (const record of batch) {
      if (this.stopping || Date.now() < this.nextAttempt) return false;
      const outcome = await this.notifier.send(record);
      if (!(await this.settle(record, outcome))) return false;
    }
    return batch.length === batchSize;
  }

  /** Records an attempt's outcome; true to go on with the next alert. */
  private async settle(record: AuditRecord, outcome: WebhookDelivery): Promise<boolean> {
    const { name, leaseMs } = this.options;
    if (outcome.ok) {
      metrics.alertsDelivered.inc({ destination: name });
      const kept = await this.store.delivered(name, this.holder, record.id, leaseMs);
      if (this.state.consecutiveFailures > 0)
        this.logger.log(
          `alert receiver "${name}" is answering again (after ${this.state.consecutiveFailures} failed attempt(s))`,
        );
      this.nextAttempt = 0;
      const lag = Math.max(0, this.state.lag - 1);
      this.update({
        cursor: record.id,
        lag,
        lastSuccessAt: new Date().toISOString(),
        lastError: null,
        consecutiveFailures: 0,
        nextAttemptAt: null,
      });
      metrics.alertsLag.set({ destination: name }, lag);
      if (!kept) {
        this.logger.warn(`alert lease of "${name}" lapsed while delivering; standing by`);
        this.update({ role: 'standby' });
      }
      return kept;
    }
    metrics.alertsFailures.inc({ destination: name, kind: outcome.kind });
    const failures = this.state.consecutiveFailures + 1;
    const delay = retryDelayMs(failures, this.options, outcome.retryAfterMs);
    this.nextAttempt = Date.now() + delay;
    const nextAttemptAt = new Date(this.nextAttempt);
    if (failures === 1 || outcome.error !== this.state.lastError)
      this.logger.warn(
        `alert ${record.id} (${record.type}) not delivered to "${name}": ${outcome.error}; retrying in ${delay} ms (it and every later alert wait)`,
      );
    this.update({
      lastError: outcome.error,
      consecutiveFailures: failures,
      nextAttemptAt: nextAttemptAt.toISOString(),
    });
    await this.store.failed(name, this.holder, failures, outcome.error, nextAttemptAt);
    return false;
  }

  /** The backlog's size and age (a full batch is counted; a short one is the whole backlog). */
  private async measureLag(batch: AuditRecord[] | null): Promise<void> {
    const { types, batchSize, name } = this.options;
    let lag: number;
    let oldest: string | null;
    if (batch && batch.length < batchSize) {
      lag = batch.length;
      oldest = batch[0]?.occurredAt ?? null;
    } else {
      lag = await this.store.countAfter(types, this.state.cursor);
      oldest = batch
        ? (batch[0]?.occurredAt ?? null)
        : lag > 0
          ? ((await this.store.alertsAfter(types, this.state.cursor, 1))[0]?.occurredAt ?? null)
          : null;
    }
    metrics.alertsLag.set({ destination: name }, lag);
    this.update({ lag, oldestPendingAt: oldest });
  }

  private fromRow(row: AlertCursorRow): void {
    this.update({
      cursor: row.lastId,
      lastSuccessAt: row.deliveredAt,
      lastError: row.lastError,
      consecutiveFailures: row.failures,
      nextAttemptAt: row.nextAttemptAt,
    });
  }

  private update(change: Partial<AlertsStatus>): void {
    const next = { ...this.state, ...change };
    const waited = next.oldestPendingAt ? Date.now() - Date.parse(next.oldestPendingAt) : 0;
    next.healthy =
      next.consecutiveFailures === 0 && waited <= this.options.maxLagMs && !this.databaseError;
    this.state = next;
  }

  /** Until the next poll, or the next attempt when that comes sooner; stop() cuts it short. */
  private delay(): number {
    const untilAttempt = this.nextAttempt - Date.now();
    return untilAttempt > 0
      ? Math.min(this.options.pollIntervalMs, untilAttempt)
      : this.options.pollIntervalMs;
  }

  private sleep(ms: number): Promise<void> {
    if (this.stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      timer.unref(); // the loop never keeps a process alive on its own
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = () => {
        this.wake = null;
        done();
      };
    });
  }
}
