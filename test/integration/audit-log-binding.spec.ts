import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/app/config/app-config.js';
import { createApp } from '../../src/app/create-app.js';
import { AuditLogForeignError } from '../../src/index.js';
import { externalEvent } from '../support/audit-files.js';
import { request } from '../support/http.js';
import {
  createTestDatabase,
  describeWithPostgres,
  query,
  type TestDatabase,
} from '../support/postgres.js';
import {
  adminEnv,
  adminToken,
  startTestApp,
  TEST_JWT_SECRET,
  type TestApp,
} from '../support/test-app.js';

/**
 * A log directory is bound to the chain it was written for: started against another database
 * (the reference service switched from its embedded database to PostgreSQL with the same
 * AUDIT_LOG_DIR, say), the module refuses before writing anything, instead of appending a second
 * chain that every verifier then reports as tampering.
 */

const FIX =
  'This log directory belongs to another audit chain (another database?): point AUDIT_LOG_DIR / ' +
  'AuditModule logDir at a new directory, or move its files away';

/** Every entry of `dir` with its mode and bytes, to show that nothing changed. */
function snapshot(dir: string): Record<string, { mode: number; bytes: string }> {
  const out: Record<string, { mode: number; bytes: string }> = {};
  for (const name of fs.readdirSync(dir).sort()) {
    const stat = fs.statSync(path.join(dir, name));
    out[name] = {
      mode: stat.mode & 0o777,
      bytes: fs.readFileSync(path.join(dir, name)).toString('base64'),
    };
  }
  return out;
}

const linesOf = (file: string) => fs.readFileSync(file, 'utf8').split('\n').slice(0, -1);
const recordsOf = (file: string) => linesOf(file).map((l) => JSON.parse(l));
const countOf = async (url: string) =>
  (await query<{ n: number }>(url, 'SELECT count(*)::int AS n FROM audit_events'))[0].n;

describeWithPostgres('a log directory bound to its chain', () => {
  let cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const step of cleanup.reverse()) await step();
    cleanup = [];
  });

  async function freshDatabase(): Promise<TestDatabase> {
    const db = await createTestDatabase('logbind');
    cleanup.push(() => db.drop());
    return db;
  }

  function auditDir(): string {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'sg-logbind-'));
    cleanup.push(() => fs.rmSync(root, { recursive: true, force: true }));
    return path.join(root, 'audit');
  }

  type Svc = TestApp & { token: string };

  async function start(url: string, dir: string, env: Record<string, string> = {}): Promise<Svc> {
    const svc = await startTestApp(url, { ...adminEnv(), AUDIT_LOG_DIR: dir, ...env });
    let closed = false;
    const close = async () => {
      if (closed) return;
      closed = true;
      await svc.close();
    };
    cleanup.push(close);
    return { ...svc, close, token: await adminToken(svc.base) };
  }

  /** Starts the reference service as start() does; resolves to the error its start failed with. */
  async function startError(url: string, dir: string): Promise<Error> {
    const { config } = loadConfig({
      JWT_SECRET: TEST_JWT_SECRET,
      LOG_LEVEL: 'silent',
      DATABASE_URL: url,
      AUDIT_LOG_FSYNC: 'false',
      AUDIT_LOG_DIR: dir,
      ...adminEnv(),
    });
    const app = await createApp(config, {
      url,
      poolSize: config.databasePoolSize,
      embedded: false,
    });
    try {
      await app.init();
    } catch (error) {
      return error as Error;
    } finally {
      await app.close().catch(() => undefined);
    }
    throw new Error('the service started');
  }

  const post = (svc: Svc, body: unknown) =>
    request(svc.base, 'POST', '/audit/events', { token: svc.token, body });
  const verify = async (svc: Svc) =>
    (await request(svc.base, 'GET', '/audit/verify', { token: svc.token })).body;

  /** A directory written against a fresh database: `n` events after the admin's own records. */
  async function writtenAgainst(db: TestDatabase, n: number, dir = auditDir()) {
    const svc = await start(db.url, dir);
    for (let i = 0; i < n; i++) expect((await post(svc, externalEvent())).status).toBe(201);
    await svc.close();
    return { dir, file: path.join(dir, 'audit.log') };
  }

  it('refuses a directory written against database A when started on a fresh database B, writing nothing; A opens it again', async () => {
    const a = await freshDatabase();
    const b = await freshDatabase();
    const { dir, file } = await writtenAgainst(a, 3);
    const last = recordsOf(file).at(-1);
    const before = snapshot(dir);

    const error = await startError(b.url, dir);
    expect(error).toBeInstanceOf(AuditLogForeignError);
    expect(error.message).toContain(`refusing the audit log directory ${dir}`);
    expect(error.message).toContain(
      `its last record (in ${file}) is id ${last.id}, hash ${last.hash.slice(0, 12)}…`,
    );
    expect(error.message).toContain(`but the audit_events table of database "${b.name}" is empty`);
    expect(error.message).toContain(FIX);
    expect((error as AuditLogForeignError).mismatch).toEqual({
      found: { file, id: last.id, hash: last.hash },
      expected: { database: b.name, lastId: 0, hashAtId: null },
    });
    expect(snapshot(dir)).toEqual(before); // bytes, modes, no lock left behind
    expect(await countOf(b.url)).toBe(0); // nothing recorded in B either

    const again = await start(a.url, dir);
    expect((await post(again, externalEvent())).status).toBe(201);
    expect(recordsOf(file).map((r) => r.id)).toEqual(
      (
        await query<{ id: number }>(a.url, 'SELECT id::int AS id FROM audit_events ORDER BY id')
      ).map((r) => r.id),
    );
    expect(await verify(again)).toEqual({ ok: true, checked: await countOf(a.url) });
  });

  it('refuses it against a database B with a chain of its own: shorter (id beyond) and longer (hash differs)', async () => {
    const a = await freshDatabase();
    const b = await freshDatabase();
    const { dir, file } = await writtenAgainst(a, 6);
    const last = recordsOf(file).at(-1);
    const before = snapshot(dir);

    // B's own chain, shorter than A's
    const bDir = auditDir();
    const bSvc = await start(b.url, bDir);
    const bLastId = await countOf(b.url);
    expect(bLastId).toBeLessThan(last.id);
    await bSvc.close();
    const beyond = await startError(b.url, dir);
    expect(beyond).toBeInstanceOf(AuditLogForeignError);
    expect(beyond.message).toContain(
      `is id ${last.id}, hash ${last.hash.slice(0, 12)}…, beyond the last record of the audit_events table of database "${b.name}", id ${bLastId}`,
    );
    expect(beyond.message).toContain(FIX);
    expect(snapshot(dir)).toEqual(before);

    // B's chain grows past A's last id: the record of that id is another one
    const bAgain = await start(b.url, bDir);
    for (let i = 0; i < 8; i++) expect((await post(bAgain, externalEvent())).status).toBe(201);
    await bAgain.close();
    const [row] = await query<{ hash: string }>(
      b.url,
      'SELECT hash FROM audit_events WHERE id = $1',
      [last.id],
    );
    const differs = await startError(b.url, dir);
    expect(differs).toBeInstanceOf(AuditLogForeignError);
    expect(differs.message).toContain(
      `is id ${last.id}, hash ${last.hash.slice(0, 12)}…, but record ${last.id} of the audit_events table of database "${b.name}" has hash ${row.hash.slice(0, 12)}…`,
    );
    expect(snapshot(dir)).toEqual(before);
  });

  it("refuses a directory whose last line's hash was edited; the restored line opens again", async () => {
    const a = await freshDatabase();
    const { dir, file } = await writtenAgainst(a, 2);
    const original = fs.readFileSync(file, 'utf8');
    const lines = linesOf(file);
    const last = JSON.parse(lines.at(-1)!);
    const forged = last.hash.replace(/^./, (c: string) => (c === '0' ? '1' : '0'));
    lines[lines.length - 1] = lines.at(-1)!.replace(last.hash, forged);
    fs.writeFileSync(file, lines.map((l) => `${l}\n`).join(''));
    const before = snapshot(dir);

    const error = await startError(a.url, dir);
    expect(error).toBeInstanceOf(AuditLogForeignError);
    expect(error.message).toContain(`refusing the audit log directory ${dir}`);
    expect(error.message).toContain(`is id ${last.id}, hash ${forged.slice(0, 12)}…`);
    expect(error.message).toContain(
      `but record ${last.id} of the audit_events table of database "${a.name}" has hash ${last.hash.slice(0, 12)}…`,
    );
    expect(error.message).toContain(FIX);
    expect(snapshot(dir)).toEqual(before);

    fs.writeFileSync(file, original);
    const svc = await start(a.url, dir);
    expect((await verify(svc)).ok).toBe(true);
  });

  it('refuses a directory whose last line is not a record', async () => {
    const a = await freshDatabase();
    const { dir, file } = await writtenAgainst(a, 1);
    fs.appendFileSync(file, 'not a record\n');
    const before = snapshot(dir);
    const error = await startError(a.url, dir);
    expect(error).toBeInstanceOf(AuditLogForeignError);
    expect(error.message).toContain(`the last line of ${file} is not an audit record`);
    expect(error.message).toContain(FIX);
    expect(snapshot(dir)).toEqual(before);
  });

  it('refuses a foreign directory with a torn last line without repairing it', async () => {
    const a = await freshDatabase();
    const b = await freshDatabase();
    const { dir, file } = await writtenAgainst(a, 2);
    const complete = recordsOf(file);
    fs.appendFileSync(file, '{"actorId":null,"details":{"half');
    const before = snapshot(dir);
    const error = await startError(b.url, dir);
    expect(error).toBeInstanceOf(AuditLogForeignError);
    // the last complete line is the one compared
    expect(error.message).toContain(`is id ${complete.at(-1).id}`);
    expect(snapshot(dir)).toEqual(before); // the torn line is still there
  });

  it('compares the newest rotated file when the current one is empty', async () => {
    const a = await freshDatabase();
    const b = await freshDatabase();
    const { dir, file } = await writtenAgainst(a, 2);
    const records = recordsOf(file);
    const lastId = records.at(-1).id;
    // as if the service rotated and stopped before writing to the new file
    const rotated = `${file}.2026-01-01T00-00-00-000Z.${String(lastId).padStart(12, '0')}`;
    fs.renameSync(file, rotated);
    fs.writeFileSync(file, '', { mode: 0o600 });
    const before = snapshot(dir);

    const error = await startError(b.url, dir);
    expect(error).toBeInstanceOf(AuditLogForeignError);
    expect(error.message).toContain(`its last record (in ${rotated}) is id ${lastId}`);
    expect(snapshot(dir)).toEqual(before);

    const svc = await start(a.url, dir);
    expect((await post(svc, externalEvent())).status).toBe(201);
    expect(await verify(svc)).toEqual({ ok: true, checked: await countOf(a.url) });
  });

  it('a matching directory still gets the records it missed appended (catch-up)', async () => {
    const a = await freshDatabase();
    const { dir, file } = await writtenAgainst(a, 4);
    const lines = linesOf(file);
    // two committed records whose lines never reached the file (complete lines, no torn tail)
    fs.writeFileSync(
      file,
      lines
        .slice(0, -2)
        .map((l) => `${l}\n`)
        .join(''),
    );
    const svc = await start(a.url, dir);
    expect(linesOf(file).slice(0, lines.length)).toEqual(lines);
    expect(await verify(svc)).toEqual({ ok: true, checked: await countOf(a.url) });
  });

  it('two instances on one database: a file whose ids are not contiguous opens again', async () => {
    const a = await freshDatabase();
    const dir = auditDir();
    const one = await start(a.url, dir, { AUDIT_LOG_FILE: 'one.log' });
    const two = await start(a.url, dir, { AUDIT_LOG_FILE: 'two.log' });
    for (let i = 0; i < 3; i++) {
      expect((await post(one, externalEvent())).status).toBe(201);
      expect((await post(two, externalEvent())).status).toBe(201);
    }
    await one.close();
    for (let i = 0; i < 3; i++) expect((await post(two, externalEvent())).status).toBe(201);
    const ids = recordsOf(path.join(dir, 'one.log')).map((r) => r.id);
    expect(ids.some((id, i) => i > 0 && id !== ids[i - 1] + 1)).toBe(true); // not contiguous
    expect(ids.at(-1)).toBeLessThan(await countOf(a.url)); // nor the table's last

    const oneAgain = await start(a.url, dir, { AUDIT_LOG_FILE: 'one.log' });
    expect((await post(oneAgain, externalEvent())).status).toBe(201);
    expect((await verify(oneAgain)).ok).toBe(true);
    expect((await verify(two)).ok).toBe(true);
  });
});
