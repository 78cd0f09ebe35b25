import pg from 'pg';
import { resolveStrikesOptions } from '../../src/strikes/strikes.options.js';
import { type EntityManager } from 'typeorm';
import { type UnchainedRecord } from '../../src/audit/audit-record.js';
import { AuditStore } from '../../src/audit/audit-store.js';
import { StrikeCounterStore } from '../../src/strikes/strike-counter.store.js';
import { LatencySamples } from './stats.js';

/** What a timed run of concurrent workers did. */
export interface WorkResult {
  /** Units (strikes, events, calls) per second. */
  rate: number;
  count: number;
  seconds: number;
  p50: number;
  p99: number;
}

/**
 * Runs `concurrency` workers for `seconds`; each calls `op(worker)` in a loop, which answers how
 * many units it completed. Latency is per call.
 */
export async function timedWorkers(
  concurrency: number,
  seconds: number,
  op: (worker: number) => Promise<number>,
): Promise<WorkResult> {
  const latency = new LatencySamples();
  let count = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      while (performance.now() < deadline) {
        const t = performance.now();
        // Not `count += await op()`: that reads `count` before the await and loses updates.
        const done = await op(worker);
        count += done;
        latency.add(performance.now() - t);
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  return { rate: count / elapsed, count, seconds: elapsed, ...latency.summary() };
}

/**
 * A TypeORM-shaped manager over a plain pg client, so the raw loops run the library's own SQL
 * (StrikeCounterStore, AuditStore) without TypeORM, batching, the log file or HTTP. TypeORM
 * answers UPDATE/DELETE with [rows, affected] and everything else with rows.
 */
function rawManager(client: pg.ClientBase): EntityManager {
  return {
    query: async (sql: string, params?: unknown[]) => {
      const result = await client.query(sql, params);
      return result.command === 'UPDATE' || result.command === 'DELETE'
        ? [result.rows, result.rowCount]
        : result.rows;
    },
  } as unknown as EntityManager;
}

/** `count` dedicated connections (a loop holds its connection through its transaction). */
export async function connectClients(url: string, count: number): Promise<pg.Client[]> {
  return Promise.all(
    Array.from({ length: count }, async () => {
      const client = new pg.Client({
        connectionString: url,
        application_name: 'strikeguard-bench',
      });
      await client.connect();
      return client;
    }),
  );
}

export const RAW_INSTANCE = 'bench-raw';

/**
 * Baseline of strike_throughput: per strike, one transaction with the strike's UPDATE (the
 * store's statement) and the chained INSERT of its `strike.recorded` record (the audit store's
 * head lock, hash, INSERT, head update), as the service records it — but one strike per
 * transaction, straight on pg.
 */
export async function rawStrikes(
  clients: pg.Client[],
  userIds: string[],
  seconds: number,
  thresholds: { terminateAt: number; blockAt: number },
): Promise<WorkResult> {
  const strikes = new StrikeCounterStore(null as never, resolveStrikesOptions(thresholds));
  const audit = new AuditStore(null as never);
  const managers = clients.map(rawManager);
  let next = 0;
  return timedWorkers(clients.length, seconds, async (worker) => {
    const client = clients[worker];
    const manager = managers[worker];
    const userId = userIds[next++ % userIds.length];
    await client.query('BEGIN');
    try {
      const outcome = (
        await strikes.addViolations(manager, [{ userId, weight: 1, simulated: false }])
      ).get(userId);
      if (!outcome) throw new Error(`no strike counter for ${userId}`);
      const c = outcome.counter;
      const record = strikeRecord(userId, c.count, c.blocker);
      await audit.append(manager, [record], RAW_INSTANCE, () => undefined);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK');
      throw error;
    }
    return 1;
  });
}

/** The `strike.recorded` record the service writes for a 403 probe of GET /admin/strikes. */
function strikeRecord(userId: string, count: number, blocker: number): UnchainedRecord {
  return {
    occurredAt: new Date().toISOString(),
    type: 'strike.recorded',
    userId,
    actorId: userId,
    outcome: 'denied',
    threat: 'low',
    ip: '127.0.0.1',
    method: 'GET',
    path: '/admin/strikes',
    entityType: 'strike_counter',
    targetId: userId,
    location: null,
    description: 'forbidden',
    details: { weight: 1, reason: 'forbidden', count, blocker },
  };
}

/**
 * strike_throughput's baseline (issue 13: as strong as the product): `callers` concurrent callers
 * each submit a strike and wait for its commit; whatever is waiting goes into one transaction on
 * one of `concurrency` connections (as StrikesService batches: at most `maxBatch`, users in id
 * order, a user's second strike in a second round), each the same set-based UPDATE
 * (`StrikeCounterStore.addViolations`) and ONE chained INSERT of all its records
 * (`AuditStore.append`), straight on pg: no TypeORM, no Nest, no HTTP, no log file.
 */
export async function rawStrikesBatched(
  clients: pg.Client[],
  userIds: string[],
  seconds: number,
  thresholds: { terminateAt: number; blockAt: number },
  options: { callers: number; concurrency: number; maxBatch: number },
): Promise<WorkResult> {
  const strikes = new StrikeCounterStore(null as never, resolveStrikesOptions(thresholds));
  const audit = new AuditStore(null as never);
  const lanes = clients
    .slice(0, options.concurrency)
    .map((client) => ({ client, manager: rawManager(client), busy: false }));
  type Waiting = { userId: string; resolve: () => void; reject: (error: unknown) => void };
  const queue: Waiting[] = [];
  const commit = async (lane: (typeof lanes)[number], batch: Waiting[]) => {
    const rounds: Waiting[][] = [];
    const seen = new Map<string, number>();
    for (const w of [...batch].sort((a, b) => (a.userId < b.userId ? -1 : 1))) {
      const round = seen.get(w.userId) ?? 0;
      seen.set(w.userId, round + 1);
      (rounds[round] ??= []).push(w);
    }
    await lane.client.query('BEGIN');
    try {
      const records: UnchainedRecord[] = [];
      for (const round of rounds) {
        const outcomes = await strikes.addViolations(
          lane.manager,
          round.map((w) => ({ userId: w.userId, weight: 1, simulated: false })),
        );
        for (const w of round) {
          const c = outcomes.get(w.userId)?.counter;
          if (!c) throw new Error(`no strike counter for ${w.userId}`);
          records.push(strikeRecord(w.userId, c.count, c.blocker));
        }
      }
      await audit.append(lane.manager, records, RAW_INSTANCE, () => undefined);
      await lane.client.query('COMMIT');
    } catch (error) {
      await lane.client.query('ROLLBACK');
      throw error;
    }
  };
  const drain = () => {
    for (const lane of lanes) {
      if (lane.busy || queue.length === 0) continue;
      const batch = queue.splice(0, options.maxBatch);
      lane.busy = true;
      void commit(lane, batch)
        .then(
          () => batch.forEach((w) => w.resolve()),
          (error: unknown) => batch.forEach((w) => w.reject(error)),
        )
        .finally(() => {
          lane.busy = false;
          drain();
        });
    }
  };
  let next = 0;
  return timedWorkers(
    options.callers,
    seconds,
    () =>
      new Promise<number>((resolve, reject) => {
        queue.push({ userId: userIds[next++ % userIds.length], resolve: () => resolve(1), reject });
        drain();
      }),
  );
}

/**
 * Baseline of ingest_batched: per batch, one transaction appending the same rows through the
 * audit store (head lock, hashes, one INSERT of all rows, head update), straight on pg.
 */
export async function rawIngest(
  clients: pg.Client[],
  batch: () => UnchainedRecord[],
  seconds: number,
): Promise<WorkResult> {
  const audit = new AuditStore(null as never);
  const managers = clients.map(rawManager);
  return timedWorkers(clients.length, seconds, async (worker) => {
    const client = clients[worker];
    const records = batch();
    await client.query('BEGIN');
    try {
      await audit.append(managers[worker], records, RAW_INSTANCE, () => undefined);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK');
      throw error;
    }
    return records.length;
  });
}
