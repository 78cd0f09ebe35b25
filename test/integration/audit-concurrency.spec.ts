import canonicalize from 'canonicalize';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { externalEvent } from '../support/audit-files.js';
import { request } from '../support/http.js';
import {
  createTestDatabase,
  describeWithPostgres,
  query,
  type TestDatabase,
} from '../support/postgres.js';
import {
  spawnService,
  startService,
  tempDir,
  type ServiceProcess,
  waitUntilHealthy,
} from '../support/service-process.js';
import { adminEnv, adminToken } from '../support/test-app.js';

const canonical = canonicalize as unknown as (v: unknown) => string;
const GENESIS = '0'.repeat(64);

/** SHA-256 of the RFC 8785 form of the record without `hash`, with an independent JCS. */
function independentHash(record: Record<string, unknown>): string {
  const { hash: _hash, ...rest } = record;
  return createHash('sha256').update(canonical(rest), 'utf8').digest('hex');
}

/** Every row of the table in the record's shape (DESIGN §4), plus the instance that wrote it. */
async function tableRecords(url: string) {
  return query<Record<string, any>>(
    url,
    `SELECT id::int AS "id",
       to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "occurredAt",
       type AS "type", user_id AS "userId", actor_id AS "actorId", outcome AS "outcome",
       threat AS "threat", ip AS "ip", method AS "method", path AS "path",
       entity_type AS "entityType", target_id AS "targetId", location AS "location",
       description AS "description", details AS "details", prev_hash AS "prevHash",
       hash AS "hash", instance_id AS "instanceId"
     FROM audit_events ORDER BY id`,
  );
}

/** The lines of one instance's log files in `dir` (rotated first, then the current file). */
function logLines(dir: string, fileName: string): string[] {
  const rotated = fs
    .readdirSync(dir)
    .map((n) => ({ n, m: /\.(\d{12})$/.exec(n) }))
    .filter(({ n, m }) => m && n.startsWith(`${fileName}.`))
    .sort((a, b) => Number(a.m![1]) - Number(b.m![1]))
    .map(({ n }) => n);
  return [...rotated, fileName].flatMap((n) => {
    const text = fs.readFileSync(path.join(dir, n), 'utf8');
    expect(text === '' || text.endsWith('\n')).toBe(true);
    return text.split('\n').slice(0, -1);
  });
}

const WRITERS = 50;
const EVENTS = 10_000;
/** Submission sizes a writer cycles through: mostly single events, some arrays. */
const SIZES = [1, 1, 1, 2, 1, 1, 5, 1, 1, 10, 1, 1, 25, 1, 50];

describeWithPostgres('two service processes appending to one chain', () => {
  const databases: TestDatabase[] = [];
  afterAll(async () => {
    for (const db of databases) await db.drop();
  });
  const freshDatabase = async () => {
    const db = await createTestDatabase('auditconc');
    databases.push(db);
    return db;
  };

  it(`${WRITERS} concurrent writers, ${EVENTS} events over both: no fork, every ack in its process's file, both verify`, async () => {
    const db = await freshDatabase();
    const auditDir = path.join(tempDir('sg-auditconc-'), 'audit');
    const common = { DATABASE_URL: db.url, AUDIT_LOG_DIR: auditDir, ...adminEnv() };
    const procs = [
      { name: 'a', file: 'audit-a.log' },
      { name: 'b', file: 'audit-b.log' },
    ];
    const services: ServiceProcess[] = await Promise.all(
      procs.map((p) =>
        startService({
          env: { ...common, AUDIT_LOG_FILE: p.file },
        }),
      ),
    );
    // One JWT_SECRET for both: a token from one works on the other.
    const token = await adminToken(services[0].base);

    const acked: number[][] = [[], []];
    const failures: string[] = [];
    const perWriter = EVENTS / WRITERS;
    await Promise.all(
      Array.from({ length: WRITERS }, async (_, w) => {
        const p = w % 2;
        let sent = 0;
        for (let k = 0; sent < perWriter; k++) {
          const size = Math.min(SIZES[(k + w) % SIZES.length], perWriter - sent);
          const events = Array.from({ length: size }, (_, i) =>
            externalEvent({
              description: `writer ${w} event ${sent + i}`,
              details: { writer: w, seq: sent + i },
            }),
          );
          sent += size;
          const res = await request(services[p].base, 'POST', '/audit/events', {
            token,
            body: size === 1 && k % 2 === 0 ? events[0] : events,
          });
          if (res.status !== 201 || res.body?.ids?.length !== size) {
            failures.push(`writer ${w}: ${res.status} ${res.text.slice(0, 200)}`);
            continue;
          }
          acked[p].push(...res.body.ids);
        }
      }),
    );
    expect(failures).toEqual([]);
    const allAcked = [...acked[0], ...acked[1]];
    expect(allAcked).toHaveLength(EVENTS);
    expect(new Set(allAcked).size).toBe(EVENTS);
    expect(acked[0].length).toBeGreaterThan(0);
    expect(acked[1].length).toBeGreaterThan(0);

    // The chain: ids 1..N contiguous, each prevHash the previous hash, each hash recomputed.
    const rows = await tableRecords(db.url);
    const [head] = await query<{ lastId: number; lastHash: string }>(
      db.url,
      'SELECT last_id::int AS "lastId", last_hash AS "lastHash" FROM audit_chain_head',
    );
    expect(rows.length).toBe(head.lastId);
    expect(rows.length).toBeGreaterThanOrEqual(EVENTS);
    let prevHash = GENESIS;
    let bad: string | null = null;
    const byId = new Map<number, Record<string, any>>();
    rows.forEach((row, i) => {
      const { instanceId: _instance, ...record } = row;
      if (bad) return;
      if (row.id !== i + 1) bad = `row ${i} has id ${row.id}, expected ${i + 1}`;
      else if (row.prevHash !== prevHash) bad = `record ${row.id}: prevHash does not link`;
      else if (independentHash(record) !== row.hash) bad = `record ${row.id}: hash mismatch`;
      prevHash = row.hash;
      byId.set(row.id, row);
    });
    expect(bad).toBeNull();
    expect(head.lastHash).toBe(prevHash);

    // Every acknowledged id is in the table, written by the process that acknowledged it (one
    // instance_id per process, not the other's), and in that process's log file; the files hold
    // each record once, in id order, byte for byte.
    const instanceOf = acked.map((ids) => byId.get(ids[0])?.instanceId as string);
    expect(instanceOf[0]).toEqual(expect.any(String));
    expect(instanceOf[1]).not.toBe(instanceOf[0]);
    const fileIds: Set<number>[] = [];
    procs.forEach((p, i) => {
      const lines = logLines(auditDir, p.file);
      const ids = lines.map((l) => JSON.parse(l).id as number);
      for (let j = 1; j < ids.length; j++) {
        if (!(ids[j] > ids[j - 1])) throw new Error(`${p.file}: ${ids[j]} after ${ids[j - 1]}`);
      }
      lines.forEach((line, j) => {
        const { instanceId, ...record } = byId.get(ids[j]) ?? {};
        if (instanceId !== instanceOf[i] || line !== canonical(record)) {
          throw new Error(`${p.file} line ${j + 1} (id ${ids[j]}) does not match the table`);
        }
      });
      fileIds[i] = new Set(ids);
      const missing = acked[i].filter((id) => !fileIds[i].has(id));
      expect([p.name, missing]).toEqual([p.name, []]);
      const wrongInstance = acked[i].filter((id) => byId.get(id)?.instanceId !== instanceOf[i]);
      expect([p.name, wrongInstance]).toEqual([p.name, []]);
    });
    // Together the two files hold the whole table, each record in exactly one of them.
    expect(fileIds[0].size + fileIds[1].size).toBe(rows.length);
    expect(new Set([...fileIds[0], ...fileIds[1]]).size).toBe(rows.length);

    for (const svc of services) {
      const res = await request(svc.base, 'GET', '/audit/verify', { token });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ ok: true, checked: rows.length });
    }
    await Promise.all(services.map((s) => s.stop()));
  }, 90_000);

  it('two processes with the same AUDIT_LOG_FILE in their own AUDIT_LOG_DIR (defaults otherwise): both verify ok, or the second refuses to start', async () => {
    const db = await freshDatabase();
    // startService gives each process its own dir, hence its own AUDIT_LOG_DIR; same file name.
    const first = await startService({ env: { DATABASE_URL: db.url, ...adminEnv() } });
    const second = await spawnService({ env: { DATABASE_URL: db.url, ...adminEnv() } });
    try {
      await waitUntilHealthy(second);
    } catch (error) {
      // Refusing to share an instance id is a correct answer too, if it says what to change.
      expect(second.exit()).not.toBeNull();
      expect(second.output()).toMatch(/AUDIT_INSTANCE_ID|AUDIT_LOG_FILE/);
      expect((error as Error).message).toMatch(/before \/health answered/);
      return;
    }
    const services = [first, second];
    const token = await adminToken(first.base);
    const acked: number[][] = [[], []];
    for (let i = 0; i < 10; i++) {
      const res = await request(services[i % 2].base, 'POST', '/audit/events', {
        token,
        body: externalEvent({ description: `event ${i}` }),
      });
      expect(res.status).toBe(201);
      acked[i % 2].push(...res.body.ids);
    }
    // each file holds what its own process acknowledged, nothing the other one did
    services.forEach((svc, i) => {
      const ids = new Set(
        logLines(path.join(svc.dir, 'audit'), 'audit.log').map((l) => JSON.parse(l).id),
      );
      expect(acked[i].filter((id) => !ids.has(id))).toEqual([]);
      expect(acked[1 - i].filter((id) => ids.has(id))).toEqual([]);
    });
    const [{ n }] = await query<{ n: number }>(
      db.url,
      'SELECT count(*)::int AS n FROM audit_events',
    );
    for (const svc of services) {
      const res = await request(svc.base, 'GET', '/audit/verify', { token });
      expect([svc.port, res.body]).toEqual([svc.port, { ok: true, checked: n }]);
    }
    await Promise.all(services.map((s) => s.stop()));
  });

  it('two processes in one AUDIT_LOG_DIR with file names audit.log and audit.log.node2: each verifies ok', async () => {
    const db = await freshDatabase();
    const shared = path.join(tempDir('sg-auditconc-'), 'audit');
    const services: ServiceProcess[] = [];
    for (const file of ['audit.log', 'audit.log.node2']) {
      const env = { DATABASE_URL: db.url, AUDIT_LOG_DIR: shared, AUDIT_LOG_FILE: file };
      services.push(await startService({ env: { ...env, ...adminEnv() } }));
    }
    const token = await adminToken(services[0].base);
    for (let i = 0; i < 10; i++) {
      const res = await request(services[i % 2].base, 'POST', '/audit/events', {
        token,
        body: externalEvent({ description: `event ${i}` }),
      });
      expect(res.status).toBe(201);
    }
    const [{ n }] = await query<{ n: number }>(
      db.url,
      'SELECT count(*)::int AS n FROM audit_events',
    );
    for (const svc of services) {
      const res = await request(svc.base, 'GET', '/audit/verify', { token });
      expect([svc.port, res.body]).toEqual([svc.port, { ok: true, checked: n }]);
    }
    await Promise.all(services.map((s) => s.stop()));
  });
});
