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
      const record: UnchainedRecord = {
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
        details: { weight: 1, reason: 'forbidden', count: c.count, blocker: c.blocker },
      };
      await audit.append(manager, [record], RAW_INSTANCE, () => undefined);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK');
      throw error;
    }
    return 1;
  });
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
