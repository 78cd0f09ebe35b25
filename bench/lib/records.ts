import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { hashRecord, recordLine } from '../../src/audit/audit-hash.js';
import {
  type AuditRecord,
  GENESIS_HASH,
  type UnchainedRecord,
} from '../../src/audit/audit-record.js';
import { RECORD_SELECT } from '../../src/audit/audit-store.js';

/** The INSERT AuditStore.append runs (one statement per batch, parallel arrays through unnest). */
const INSERT_RECORDS = `INSERT INTO audit_events (id, occurred_at, type, user_id, actor_id, outcome,
  threat, ip, method, path, entity_type, target_id, location, description, details, prev_hash, hash,
  instance_id)
  SELECT * FROM unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::text[], $5::text[],
    $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[],
    $13::text[], $14::text[], $15::jsonb[], $16::text[], $17::text[], $18::text[])`;

export function insertRecords(
  client: pg.ClientBase,
  records: AuditRecord[],
  instanceId: string,
): Promise<unknown> {
  return client.query(INSERT_RECORDS, [
    records.map((r) => r.id),
    records.map((r) => r.occurredAt),
    records.map((r) => r.type),
    records.map((r) => r.userId),
    records.map((r) => r.actorId),
    records.map((r) => r.outcome),
    records.map((r) => r.threat),
    records.map((r) => r.ip),
    records.map((r) => r.method),
    records.map((r) => r.path),
    records.map((r) => r.entityType),
    records.map((r) => r.targetId),
    records.map((r) => r.location),
    records.map((r) => r.description),
    records.map((r) => (r.details === null ? null : JSON.stringify(r.details))),
    records.map((r) => r.prevHash),
    records.map((r) => r.hash),
    records.map(() => instanceId),
  ]);
}

/** Links records after `prevHash`, ids from `lastId + 1`, as AuditStore.append does. */
export function chain(records: UnchainedRecord[], lastId: number, prevHash: string): AuditRecord[] {
  let id = lastId;
  let prev = prevHash;
  return records.map((r) => {
    const withLink = { id: ++id, ...r, prevHash: prev };
    const record: AuditRecord = { ...withLink, hash: hashRecord(withLink) };
    prev = record.hash;
    return record;
  });
}

/** Users the generated history is about (so a userId filter finds ~N/10,000 records). */
export const HISTORY_USERS = 10_000;
const TYPES = [
  'order.created',
  'order.paid',
  'order.shipped',
  'document.viewed',
  'settings.changed',
  'auth.login',
  'auth.logout',
  'invoice.sent',
];
export const HISTORY_KINDS = 50;
const BASE_TIME = Date.parse('2026-01-01T00:00:00.000Z');

/** The i-th record of the generated history (deterministic, ~430 bytes of canonical JSON). */
export function historyRecord(i: number): UnchainedRecord {
  const userId = `customer-${(i * 7919) % HISTORY_USERS}`;
  return {
    occurredAt: new Date(BASE_TIME + i * 10).toISOString(),
    type: TYPES[i % TYPES.length],
    userId,
    actorId: i % 3 === 0 ? null : userId,
    outcome: i % 17 === 0 ? 'failure' : 'success',
    threat: i % 17 === 0 ? 'low' : 'none',
    ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
    method: 'POST',
    path: '/orders',
    entityType: 'order',
    targetId: `order-${i}`,
    location: null,
    description: `order ${i} changed by its customer`,
    details: {
      orderId: i,
      kind: `kind-${i % HISTORY_KINDS}`,
      amount: (i * 37) % 10_000,
      currency: 'EUR',
      items: (i % 5) + 1,
    },
  };
}

const CHUNK = 5000;

/**
 * Writes `count` chained records (ids 1..count, from an empty table) to audit_events and their
 * lines to `logFile`, as if one service instance had recorded them: fast bulk load (secondary
 * indexes dropped during the load and recreated after, exactly as they were defined), chain head
 * set at the end.
 */
export async function generateHistory(
  pool: pg.Pool,
  count: number,
  instanceId: string,
  logFile: string,
  progress: (done: number) => void = () => undefined,
): Promise<void> {
  const client = await pool.connect();
  try {
    const { rows: head } = await client.query(
      'SELECT last_id::float8 AS "lastId" FROM audit_chain_head',
    );
    if (head[0].lastId !== 0) throw new Error('generateHistory needs an empty audit trail');
    const { rows: indexes } = await client.query<{ name: string; def: string }>(
      `SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS def
         FROM pg_index i
        WHERE i.indrelid = 'audit_events'::regclass
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)`,
    );
    for (const index of indexes) await client.query(`DROP INDEX ${index.name}`);

    fs.mkdirSync(path.dirname(logFile), { recursive: true, mode: 0o700 });
    const out = fs.createWriteStream(logFile, { flags: 'w', mode: 0o600 });
    let prevHash = GENESIS_HASH;
    let inFlight: Promise<unknown>[] = [];
    for (let from = 1; from <= count; from += CHUNK) {
      const n = Math.min(CHUNK, count - from + 1);
      const unchained: UnchainedRecord[] = [];
      for (let i = from; i < from + n; i++) unchained.push(historyRecord(i));
      const records = chain(unchained, from - 1, prevHash);
      prevHash = records[records.length - 1].hash;
      const text = records.map((r) => recordLine(r) + '\n').join('');
      if (!out.write(text))
        await new Promise<void>((resolve) => out.once('drain', () => resolve()));
      // Two inserts in flight (pool of 2+) while the next chunk is hashed.
      inFlight.push(
        pool.connect().then(async (c) => {
          try {
            await insertRecords(c, records, instanceId);
          } finally {
            c.release();
          }
        }),
      );
      if (inFlight.length >= 2) {
        await inFlight[0];
        inFlight = inFlight.slice(1);
      }
      progress(from + n - 1);
    }
    await Promise.all(inFlight);
    await new Promise<void>((resolve, reject) =>
      out.end((error?: Error | null) => (error ? reject(error) : resolve())),
    );

    await client.query(`SET maintenance_work_mem = '256MB'`);
    for (const index of indexes) await client.query(index.def);
    await client.query('UPDATE audit_chain_head SET last_id = $1, last_hash = $2', [
      count,
      prevHash,
    ]);
    await client.query('ANALYZE audit_events');
  } finally {
    client.release();
  }
}

/**
 * Baseline of `verify`: reads records fromId..toId in chunks of 5,000 (the verifier's default),
 * the same columns in the same shape, and hashes each one's canonical JSON. Throws on a mismatch.
 * Ordered by the table's `audit_events.id` (primary-key range scan): a bare `ORDER BY id` would
 * name RECORD_SELECT's output column `id::float8 AS "id"` and sort every remaining row instead.
 */
export async function bareVerifyLoop(
  client: pg.ClientBase,
  fromId: number,
  toId: number,
): Promise<{ records: number; seconds: number }> {
  const started = performance.now();
  let records = 0;
  for (let after = fromId - 1; after < toId;) {
    const { rows } = await client.query<AuditRecord>(
      `SELECT ${RECORD_SELECT} FROM audit_events WHERE id > $1 AND id <= $2
       ORDER BY audit_events.id LIMIT $3`,
      [after, toId, CHUNK],
    );
    if (rows.length === 0) break;
    for (const row of rows) {
      if (hashRecord(row) !== row.hash)
        throw new Error(`bare verify: record ${row.id} does not hash`);
      records++;
    }
    after = rows[rows.length - 1].id;
  }
  return { records, seconds: (performance.now() - started) / 1000 };
}
