import canonicalize from 'canonicalize';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { externalEvent } from '../support/audit-files.js';
import { cli } from '../support/cli.js';
import { request } from '../support/http.js';
import {
  createTestDatabase,
  describeWithPostgres,
  query,
  type TestDatabase,
} from '../support/postgres.js';
import { adminEnv, adminToken, startTestApp, type TestApp } from '../support/test-app.js';

const canonical = canonicalize as unknown as (v: unknown) => string;

/** SHA-256 of the RFC 8785 form of the record without `hash`, with an independent JCS. */
function independentHash(record: Record<string, unknown>): string {
  const { hash: _hash, ...rest } = record;
  return createHash('sha256').update(canonical(rest), 'utf8').digest('hex');
}

/** A fresh database and service holding a chain of ~20 submitted records. */
interface Chain {
  db: TestDatabase;
  svc: TestApp;
  token: string;
  /** The ids of the 20 submitted records, in submission (= chain) order. */
  ids: number[];
  /** Every record in the chain (the admin's registration and login come first). */
  total: number;
  logFile: string;
  close(): Promise<void>;
}

async function freshChain(): Promise<Chain> {
  const db = await createTestDatabase('tamper');
  const auditDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sg-tamper-'));
  let svc: TestApp;
  try {
    svc = await startTestApp(db.url, { ...adminEnv(), AUDIT_LOG_DIR: auditDir });
  } catch (error) {
    await db.drop();
    throw error;
  }
  const token = await adminToken(svc.base);
  const ids: number[] = [];
  // One at a time, so ids follow submission order; singles and small arrays mixed.
  for (let n = 0; ids.length < 20;) {
    const size = n % 3 === 2 ? 2 : 1;
    const events = Array.from({ length: size }, () =>
      externalEvent({ description: `event ${n}`, details: { n: n++, note: 'original' } }),
    );
    const res = await request(svc.base, 'POST', '/audit/events', {
      token,
      body: size === 1 ? events[0] : events,
    });
    if (res.status !== 201) throw new Error(`submit failed: ${res.status} ${res.text}`);
    ids.push(...res.body.ids);
  }
  const [head] = await query<{ last_id: number }>(
    db.url,
    'SELECT last_id::int AS last_id FROM audit_chain_head',
  );
  return {
    db,
    svc,
    token,
    ids,
    total: head.last_id,
    logFile: path.join(auditDir, 'audit.log'),
    async close() {
      await svc.close();
      await db.drop();
      fs.rmSync(auditDir, { recursive: true, force: true });
    },
  };
}

/** Runs statements as the superuser with the append-only triggers off, in one transaction. */
async function tamper(url: string, statements: [string, unknown[]?][]): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('BEGIN');
    await client.query('ALTER TABLE audit_events DISABLE TRIGGER USER');
    for (const [sql, params] of statements) await client.query(sql, params ?? []);
    await client.query('ALTER TABLE audit_events ENABLE TRIGGER USER');
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    await client.end();
  }
}

const fileLines = (file: string) => fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);
const writeFileLines = (file: string, lines: string[]) =>
  fs.writeFileSync(file, lines.map((l) => `${l}\n`).join('')); // same inode: the service keeps it

const verify = (chain: Chain, qs = '') =>
  request(chain.svc.base, 'GET', `/audit/verify${qs}`, { token: chain.token });

async function expectInvalid(chain: Chain, firstInvalidId: number, reason: RegExp, qs = '') {
  const res = await verify(chain, qs);
  expect(res.status).toBe(200);
  expect(res.body).toEqual({
    ok: false,
    checked: expect.any(Number),
    firstInvalidId,
    reason: expect.any(String),
  });
  expect(res.body.reason).toMatch(reason);
  if (!qs) {
    // The security team's CLI, straight on the database and this instance's log file, agrees.
    const run = await cli(['audit', 'verify', '--log-dir', path.dirname(chain.logFile)], {
      DATABASE_URL: chain.db.url,
    });
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stdout)).toMatchObject({ ok: false, firstInvalidId });
  }
  return res.body;
}

describeWithPostgres('audit verification detects tampering with the table or the log file', () => {
  let chain: Chain | null = null;
  const fresh = async () => (chain = await freshChain());
  afterEach(async () => {
    await chain?.close();
    chain = null;
  });

  it('verifies an untouched chain: ok, every record checked', async () => {
    const c = await fresh();
    expect(c.total).toBe(c.ids[c.ids.length - 1]);
    expect(c.total).toBeGreaterThanOrEqual(20);
    const res = await verify(c);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ ok: true, checked: c.total });
    expect(fileLines(c.logFile)).toHaveLength(c.total);
  });

  it("detects a row's description edited in the table, at that id", async () => {
    const c = await fresh();
    const target = c.ids[9];
    await tamper(c.db.url, [
      [`UPDATE audit_events SET description = 'nothing happened' WHERE id = $1`, [target]],
    ]);
    const body = await expectInvalid(c, target, /hash|altered/);
    expect(body.checked).toBe(target - 1);
  });

  it("detects a row's details edited in the table, at that id", async () => {
    const c = await fresh();
    const target = c.ids[4];
    await tamper(c.db.url, [
      [
        `UPDATE audit_events SET details = jsonb_set(details, '{note}', '"edited"') WHERE id = $1`,
        [target],
      ],
    ]);
    await expectInvalid(c, target, /hash|altered/);
  });

  it('detects a middle row deleted, at that id, as missing', async () => {
    const c = await fresh();
    const target = c.ids[10];
    await tamper(c.db.url, [['DELETE FROM audit_events WHERE id = $1', [target]]]);
    await expectInvalid(c, target, /missing/);
  });

  it('detects the newest rows deleted with the chain head rolled back to match (the log file still has them)', async () => {
    const c = await fresh();
    const firstDeleted = c.total - 2;
    await tamper(c.db.url, [
      ['DELETE FROM audit_events WHERE id >= $1', [firstDeleted]],
      [
        `UPDATE audit_chain_head SET last_id = $1,
           last_hash = (SELECT hash FROM audit_events WHERE id = $1)`,
        [firstDeleted - 1],
      ],
    ]);
    // The table alone is a consistent, shorter chain now; only the log file tells.
    await expectInvalid(c, firstDeleted, /log file|missing/);
  });

  it('detects the newest rows deleted without touching the chain head', async () => {
    const c = await fresh();
    const firstDeleted = c.total - 2;
    await tamper(c.db.url, [['DELETE FROM audit_events WHERE id >= $1', [firstDeleted]]]);
    await expectInvalid(c, firstDeleted, /missing/);
  });

  it('detects a row inserted beyond the chain head with a correct-looking hash', async () => {
    const c = await fresh();
    const last = (await request(c.svc.base, 'GET', `/audit/events/${c.total}`, { token: c.token }))
      .body;
    const [{ instance_id }] = await query<{ instance_id: string }>(
      c.db.url,
      'SELECT instance_id FROM audit_events WHERE id = $1',
      [c.total],
    );
    const forged: Record<string, unknown> = {
      ...last,
      id: c.total + 1,
      occurredAt: new Date().toISOString(),
      description: 'forged',
      prevHash: last.hash,
    };
    forged.hash = independentHash(forged);
    await query(
      c.db.url,
      `INSERT INTO audit_events (id, occurred_at, type, user_id, actor_id, outcome, threat, ip,
         method, path, entity_type, target_id, location, description, details, prev_hash, hash,
         instance_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`,
      [
        forged.id,
        forged.occurredAt,
        forged.type,
        forged.userId,
        forged.actorId,
        forged.outcome,
        forged.threat,
        forged.ip,
        forged.method,
        forged.path,
        forged.entityType,
        forged.targetId,
        forged.location,
        forged.description,
        JSON.stringify(forged.details),
        forged.prevHash,
        forged.hash,
        instance_id,
      ],
    );
    // It does look right: it reads back in the record's shape with a matching hash.
    const readBack = (
      await request(c.svc.base, 'GET', `/audit/events/${c.total + 1}`, { token: c.token })
    ).body;
    expect(independentHash(readBack)).toBe(readBack.hash);
    await expectInvalid(c, c.total + 1, /beyond the chain head/);
    const one = await verify(c, `/${c.total + 1}`);
    expect(one.body).toMatchObject({ ok: false, firstInvalidId: c.total + 1 });
  });

  it("detects two rows' places swapped (reordered records), at the lower id", async () => {
    const c = await fresh();
    const [a, b] = [c.ids[6], c.ids[7]];
    await tamper(c.db.url, [
      ['UPDATE audit_events SET id = -1 WHERE id = $1', [a]],
      ['UPDATE audit_events SET id = $1 WHERE id = $2', [a, b]],
      ['UPDATE audit_events SET id = $1 WHERE id = -1', [b]],
    ]);
    await expectInvalid(c, a, /prevHash|hash|reordered/);
  });

  it("detects two rows' contents swapped with id and chain fields kept in place", async () => {
    const c = await fresh();
    const [a, b] = [c.ids[12], c.ids[13]];
    const content = `occurred_at, description, details`;
    await tamper(c.db.url, [
      [
        `UPDATE audit_events t SET (${content}) = (SELECT ${content} FROM audit_events s
           WHERE s.id = CASE WHEN t.id = $1 THEN $2::bigint ELSE $1::bigint END)
         WHERE t.id IN ($1, $2)`,
        [a, b],
      ],
    ]);
    const rows = await query<{ description: string }>(
      c.db.url,
      'SELECT description FROM audit_events WHERE id IN ($1, $2) ORDER BY id',
      [a, b],
    );
    expect(rows.map((r) => r.description)).toEqual(['event 13', 'event 12']);
    await expectInvalid(c, a, /hash|altered/);
  });

  it('detects a log file line edited (description changed, hash recomputed, file only), at that id', async () => {
    const c = await fresh();
    const target = c.ids[11];
    const lines = fileLines(c.logFile);
    const i = lines.findIndex((l) => JSON.parse(l).id === target);
    const record = { ...JSON.parse(lines[i]), description: 'nothing to see' };
    record.hash = independentHash(record);
    lines[i] = canonical(record);
    writeFileLines(c.logFile, lines);
    await expectInvalid(c, target, /log file/);
  });

  it('detects a log file line deleted, at that id', async () => {
    const c = await fresh();
    const target = c.ids[5];
    writeFileLines(
      c.logFile,
      fileLines(c.logFile).filter((l) => JSON.parse(l).id !== target),
    );
    await expectInvalid(c, target, /log file/);
  });

  it('detects two log file lines swapped, at the lower id', async () => {
    const c = await fresh();
    const lines = fileLines(c.logFile);
    const i = lines.findIndex((l) => JSON.parse(l).id === c.ids[8]);
    [lines[i], lines[i + 1]] = [lines[i + 1], lines[i]];
    writeFileLines(c.logFile, lines);
    await expectInvalid(c, c.ids[8], /log file/);
  });

  describe('one record edited: /audit/verify/:id and id ranges', () => {
    let c: Chain;
    let target: number;
    beforeAll(async () => {
      c = await freshChain();
      target = c.ids[9];
      await tamper(c.db.url, [
        [`UPDATE audit_events SET description = 'nothing happened' WHERE id = $1`, [target]],
      ]);
    });
    afterAll(async () => {
      await c?.close();
    });

    it('GET /audit/verify/:id on the edited record: ok false at that id', async () => {
      const res = await verify(c, `/${target}`);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ ok: false, firstInvalidId: target });
      expect(res.body.reason).toMatch(/hash|altered/);
      // The failed verification is itself recorded, after the chain's records, by the auditor.
      const [failure] = await query<Record<string, any>>(
        c.db.url,
        `SELECT id::int, type, user_id, actor_id, outcome, threat, target_id, details
         FROM audit_events ORDER BY id DESC LIMIT 1`,
      );
      expect(failure).toEqual({
        id: c.total + 1,
        type: 'audit.verification_failed',
        user_id: 'system',
        actor_id: expect.any(String),
        outcome: 'failure',
        threat: 'high',
        target_id: String(target),
        details: {
          firstInvalidId: target,
          reason: res.body.reason,
          checked: 0,
          fromId: target,
          toId: target,
        },
      });
    });

    it('GET /audit/verify/:id on untouched records (before, right after, last): ok', async () => {
      for (const id of [c.ids[0], target - 1, target + 1, c.total]) {
        const res = await verify(c, `/${id}`);
        expect(res.status).toBe(200);
        expect([id, res.body]).toEqual([id, { ok: true, checked: 1 }]);
      }
    });

    it('a range that excludes the edited record is ok; one that includes it is not', async () => {
      expect((await verify(c, `?toId=${target - 1}`)).body).toEqual({
        ok: true,
        checked: target - 1,
      });
      // Each failed verification so far added its audit.verification_failed record.
      const [head] = await query<{ last: number }>(
        c.db.url,
        'SELECT last_id::int AS last FROM audit_chain_head',
      );
      expect(head.last).toBeGreaterThan(c.total);
      expect((await verify(c, `?fromId=${target + 1}`)).body).toEqual({
        ok: true,
        checked: head.last - target,
      });
      expect((await verify(c, `?fromId=${c.ids[2]}&toId=${target - 1}`)).body).toEqual({
        ok: true,
        checked: target - c.ids[2],
      });
      await expectInvalid(c, target, /hash|altered/, `?fromId=${target - 2}&toId=${target + 2}`);
      await expectInvalid(c, target, /hash|altered/);
    });
  });
});
