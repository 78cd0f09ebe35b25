import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { register, type Counter } from 'prom-client';
import { generateHistory } from '../../bench/lib/records.js';
import { migrate } from '../../bench/lib/setup.js';
import { request } from '../support/http.js';
import {
  createTestDatabase,
  describeWithPostgres,
  type TestDatabase,
} from '../support/postgres.js';
import { adminEnv, adminToken, startTestApp, type TestApp } from '../support/test-app.js';

/**
 * Issue 9, item 7: verification as a denial of service. GET /audit/verify/:id read the log file
 * from its first line (1.36 s at 200k records), so 32 of them in parallel starved every other
 * route. One record is now checked from a few lines around its own (a binary search of the file),
 * and verifications of the whole chain run one at a time per instance (429 + Retry-After).
 */

const RECORDS = 20_000;
/** The first ROTATED records go to a rotated file, the rest stay in audit.log. */
const ROTATED = 8_000;
const INSTANCE = 'verify-load-test';

/** What GET /audit/verify/:id may read of ~8.6 MB of log (a few probes, then ≤ 16 KiB of lines). */
const MAX_LINES = 64;
const MAX_BYTES = 64 * 1024;

const counter = async (name: string) =>
  (await (register.getSingleMetric(name) as Counter).get()).values[0]?.value ?? 0;

/** Lines and bytes of log file the service reads while `work` runs. */
async function reads(work: () => Promise<unknown>): Promise<{ lines: number; bytes: number }> {
  const lines = await counter('strikeguard_audit_verify_log_lines_total');
  const bytes = await counter('strikeguard_audit_verify_log_bytes_total');
  await work();
  return {
    lines: (await counter('strikeguard_audit_verify_log_lines_total')) - lines,
    bytes: (await counter('strikeguard_audit_verify_log_bytes_total')) - bytes,
  };
}

describeWithPostgres('verification at 20,000 records', () => {
  let db: TestDatabase;
  let svc: TestApp;
  let token: string;
  let root: string;
  let current: string;
  let rotated: string;

  beforeAll(async () => {
    db = await createTestDatabase('verifyload');
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'sg-verify-load-'));
    const auditDir = path.join(root, 'audit');
    current = path.join(auditDir, 'audit.log');
    await migrate(db.url);
    const pool = new pg.Pool({ connectionString: db.url, max: 3 });
    try {
      await generateHistory(pool, RECORDS, INSTANCE, current);
    } finally {
      await pool.end();
    }
    // As if the file had been rotated after record ROTATED.
    const lines = fs.readFileSync(current, 'utf8').split('\n').filter(Boolean);
    rotated = `${current}.2026-01-01T00-00-00-000Z.${String(ROTATED).padStart(12, '0')}`;
    const text = (from: number, to: number) =>
      lines
        .slice(from, to)
        .map((l) => `${l}\n`)
        .join('');
    fs.writeFileSync(rotated, text(0, ROTATED), { mode: 0o600 });
    fs.writeFileSync(current, text(ROTATED, RECORDS));

    svc = await startTestApp(db.url, {
      ...adminEnv(),
      AUDIT_LOG_DIR: auditDir,
      AUDIT_INSTANCE_ID: INSTANCE,
    });
    token = await adminToken(svc.base);
  }, 120_000);

  afterAll(async () => {
    await svc?.close();
    await db?.drop();
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  const get = (url: string) => request(svc.base, 'GET', url, { token });

  /** Rewrites one line of a log file in place (same inode: the service keeps its handle). */
  function editLine(file: string, id: number, edit: (line: string) => string | null): () => void {
    const before = fs.readFileSync(file, 'utf8');
    const lines = before.split('\n');
    const i = lines.findIndex((l) => l.includes(`"id":${id},`));
    if (i < 0) throw new Error(`no line of record ${id} in ${file}`);
    const edited = edit(lines[i]);
    if (edited === null) lines.splice(i, 1);
    else lines[i] = edited;
    fs.writeFileSync(file, lines.join('\n'));
    // Undo only the edit: a failed verification appends its own record (audit.verification_failed)
    // to the file meanwhile, and that line must stay.
    return () => {
      const now = fs.readFileSync(file, 'utf8').split('\n');
      if (edited === null) now.splice(i, 0, before.split('\n')[i]);
      else now[i] = before.split('\n')[i];
      fs.writeFileSync(file, now.join('\n'));
    };
  }

  it('checks one record from a few lines around its own, in the current file and a rotated one', async () => {
    for (const id of [1, 2, 3_999, ROTATED, ROTATED + 1, 14_321, RECORDS]) {
      let body: unknown;
      const read = await reads(async () => {
        body = (await get(`/audit/verify/${id}`)).body;
      });
      expect([id, body]).toEqual([id, { ok: true, checked: 1 }]);
      const bounded = read.lines <= MAX_LINES && read.bytes <= MAX_BYTES;
      expect(bounded ? 'within bounds' : { id, ...read }).toBe('within bounds');
    }
    // A short range reads its own lines and a few more.
    const range = await reads(async () => {
      expect((await get('/audit/verify?fromId=12000&toId=12099')).body).toEqual({
        ok: true,
        checked: 100,
      });
    });
    expect(range.lines).toBeLessThanOrEqual(100 + MAX_LINES);

    // The counters do count every line read: the whole chain reads every line of both files.
    const whole = await reads(async () => expect((await get('/audit/verify')).body.ok).toBe(true));
    expect(whole.lines).toBeGreaterThanOrEqual(RECORDS);
    expect(whole.bytes).toBeGreaterThanOrEqual(fs.statSync(rotated).size);
  });

  it('still finds a line that was altered, removed or moved, by id and in the whole chain', async () => {
    const cases: { file: () => string; id: number; edit: (l: string) => string | null }[] = [
      // altered, in the current file and in the rotated one
      { file: () => current, id: 15_000, edit: (l) => l.replace('changed by', 'changed_by') },
      { file: () => rotated, id: 4_321, edit: (l) => l.replace('"EUR"', '"USD"') },
      // removed from the rotated file
      { file: () => rotated, id: 7_000, edit: () => null },
      // its id changed (the line now sorts far away from where it is)
      { file: () => current, id: 9_999, edit: (l) => l.replace('"id":9999,', '"id":19999,') },
    ];
    for (const { file, id, edit } of cases) {
      const restore = editLine(file(), id, edit);
      try {
        const one = await get(`/audit/verify/${id}`);
        expect([id, one.status, one.body.ok, one.body.firstInvalidId]).toEqual([
          id,
          200,
          false,
          id,
        ]);
        expect(one.body.reason).toMatch(/log file/);
        // its neighbours, read from the same place, still verify
        expect([id, (await get(`/audit/verify/${id - 1}`)).body.ok]).toEqual([id, true]);
        const whole = await get('/audit/verify');
        expect([id, whole.body.ok, whole.body.firstInvalidId]).toEqual([id, false, id]);
      } finally {
        restore();
      }
    }
    expect((await get('/audit/verify')).body.ok).toBe(true);
  });

  it('runs whole-chain verifications one at a time: a second one meanwhile gets 429 with Retry-After', async () => {
    // Hold the first one inside the verifier: its reads of audit_events wait for this lock.
    const blocker = new pg.Client({ connectionString: db.url });
    await blocker.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query('LOCK TABLE audit_events IN ACCESS EXCLUSIVE MODE');
      const first = get('/audit/verify');
      for (let waiting = 0; waiting === 0;) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        const { rows } = await blocker.query(
          `SELECT count(*)::int AS n FROM pg_locks
            WHERE relation = 'audit_events'::regclass AND NOT granted`,
        );
        waiting = rows[0].n;
      }

      for (const url of ['/audit/verify', '/audit/verify?fromId=1&toId=5000']) {
        const second = await get(url);
        expect([url, second.status]).toEqual([url, 429]);
        expect(second.body).toMatchObject({
          statusCode: 429,
          reason: 'verification_in_progress',
          message: expect.stringMatching(/another verification .* retry in \d+ s/),
        });
        expect(Number(second.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      }
      await blocker.query('COMMIT');
      const done = await first;
      expect([done.status, done.body.ok]).toEqual([200, true]);
    } finally {
      await blocker.end();
    }
    // The gate is free again; short ranges never needed it.
    expect((await get('/audit/verify')).status).toBe(200);
    const [a, b] = await Promise.all([get('/audit/verify/10'), get('/audit/verify/11')]);
    expect([a.status, b.status]).toEqual([200, 200]);
  });
});
