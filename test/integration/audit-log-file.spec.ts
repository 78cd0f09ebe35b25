import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/app/config/app-config.js';
import { createApp } from '../../src/app/create-app.js';
import { externalEvent } from '../support/audit-files.js';
import { request } from '../support/http.js';
import {
  createTestDatabase,
  describeWithPostgres,
  query,
  type TestDatabase,
} from '../support/postgres.js';
import { spawnService } from '../support/service-process.js';
import {
  adminEnv,
  adminToken,
  startTestApp,
  TEST_JWT_SECRET,
  type TestApp,
} from '../support/test-app.js';

const modeOf = (p: string) => fs.statSync(p).mode & 0o777;
const octal = (mode: number) => mode.toString(8).padStart(4, '0');

/** Every log file of `fileName` in `dir`, oldest first: rotated files by last id, then the current. */
function logFiles(dir: string, fileName = 'audit.log'): string[] {
  const names = fs.readdirSync(dir);
  const rotated = names
    .map((n) => ({
      n,
      m: new RegExp(`^${fileName.replace(/\./g, '\\.')}\\..+\\.(\\d{12})$`).exec(n),
    }))
    .filter((x) => x.m)
    .sort((a, b) => Number(a.m![1]) - Number(b.m![1]))
    .map((x) => x.n);
  return [...rotated, ...(names.includes(fileName) ? [fileName] : [])].map((n) =>
    path.join(dir, n),
  );
}

/** The lines of a file; throws on a torn (unterminated) last line. */
function linesOf(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  if (text !== '' && !text.endsWith('\n')) throw new Error(`${file} ends with a torn line`);
  return text.split('\n').slice(0, -1);
}

const tableIds = async (url: string) =>
  (await query<{ id: number }>(url, 'SELECT id::int AS id FROM audit_events ORDER BY id')).map(
    (r) => r.id,
  );

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describeWithPostgres('the restricted audit log file', () => {
  /** Cleanup of the current test, run in reverse order after it (apps before databases). */
  let cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const step of cleanup.reverse()) await step();
    cleanup = [];
  });

  async function freshDatabase(): Promise<TestDatabase> {
    const db = await createTestDatabase('auditlog');
    cleanup.push(() => db.drop());
    return db;
  }

  /** A temp dir removed after the test; the audit dir inside it does not exist yet. */
  function tempRoot(): string {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'sg-auditlog-'));
    cleanup.push(() => fs.rmSync(root, { recursive: true, force: true }));
    return root;
  }

  async function start(
    url: string,
    auditDir: string,
    env: Record<string, string> = {},
  ): Promise<TestApp & { token: string }> {
    const svc = await startTestApp(url, { ...adminEnv(), AUDIT_LOG_DIR: auditDir, ...env });
    let closed = false;
    const close = async () => {
      if (closed) return;
      closed = true;
      await svc.close();
    };
    cleanup.push(close);
    return { ...svc, close, token: await adminToken(svc.base) };
  }

  const post = (svc: { base: string; token: string }, body: unknown) =>
    request(svc.base, 'POST', '/audit/events', { token: svc.token, body });
  const verify = (svc: { base: string; token: string }) =>
    request(svc.base, 'GET', '/audit/verify', { token: svc.token });

  describe('modes', () => {
    it('creates the directory 0700 and the file 0600', async () => {
      const db = await freshDatabase();
      const dir = path.join(tempRoot(), 'nested', 'audit');
      const svc = await start(db.url, dir);
      expect((await post(svc, externalEvent())).status).toBe(201);
      expect(octal(modeOf(dir))).toBe('0700');
      for (const name of fs.readdirSync(dir))
        expect([name, octal(modeOf(path.join(dir, name)))]).toEqual([name, '0600']);
      expect(octal(modeOf(path.join(dir, 'audit.log')))).toBe('0600');
    });

    it('creates them 0700 and 0600 even with a process umask of 0', async () => {
      const db = await freshDatabase();
      const dir = path.join(tempRoot(), 'audit');
      const previous = process.umask(0);
      let svc: TestApp & { token: string };
      try {
        svc = await start(db.url, dir);
        expect((await post(svc, externalEvent())).status).toBe(201);
      } finally {
        process.umask(previous);
      }
      expect(octal(modeOf(dir))).toBe('0700');
      for (const name of fs.readdirSync(dir))
        expect([name, octal(modeOf(path.join(dir, name)))]).toEqual([name, '0600']);
      expect(octal(modeOf(path.join(dir, 'audit.log')))).toBe('0600');
      // nothing was recorded as tightened: they were never wider
      const tightened = await request(
        svc.base,
        'GET',
        '/audit/events?type=audit.log_permissions_tightened',
        { token: svc.token },
      );
      expect(tightened.body.items).toEqual([]);
    });

    it('tightens a directory 0755 and a file 0644 made before start, and records it', async () => {
      const db = await freshDatabase();
      const dir = path.join(tempRoot(), 'audit');
      const file = path.join(dir, 'audit.log');
      fs.mkdirSync(dir);
      fs.chmodSync(dir, 0o755);
      fs.writeFileSync(file, '');
      fs.chmodSync(file, 0o644);

      const svc = await start(db.url, dir);
      expect(octal(modeOf(dir))).toBe('0700');
      expect(octal(modeOf(file))).toBe('0600');

      const res = await request(
        svc.base,
        'GET',
        '/audit/events?type=audit.log_permissions_tightened',
        { token: svc.token },
      );
      expect(res.status).toBe(200);
      const byTarget = Object.fromEntries(
        res.body.items.map((r: { targetId: string }) => [r.targetId, r]),
      );
      expect(Object.keys(byTarget).sort()).toEqual([dir, file].sort());
      expect(byTarget[dir]).toMatchObject({
        type: 'audit.log_permissions_tightened',
        details: { path: dir, from: '0755', to: '0700' },
      });
      expect(byTarget[file]).toMatchObject({
        type: 'audit.log_permissions_tightened',
        details: { path: file, from: '0644', to: '0600' },
      });
      // recorded like any event: in the file too, and the chain verifies
      const fileTypes = linesOf(file).map((l) => JSON.parse(l).type);
      expect(fileTypes.filter((t) => t === 'audit.log_permissions_tightened')).toHaveLength(2);
      expect((await verify(svc)).body).toEqual({
        ok: true,
        checked: (await tableIds(db.url)).length,
      });
    });
  });

  it('rotates at AUDIT_LOG_MAX_BYTES: every file 0600, lines in id order across files, verify ok', async () => {
    const db = await freshDatabase();
    const dir = path.join(tempRoot(), 'audit');
    const svc = await start(db.url, dir, { AUDIT_LOG_MAX_BYTES: '4096' });
    for (let i = 0; i < 40; i++) {
      const body =
        i % 4 === 3
          ? [
              externalEvent({ description: `batch ${i}a` }),
              externalEvent({ description: `batch ${i}b` }),
            ]
          : externalEvent({ description: `single ${i}` });
      expect((await post(svc, body)).status).toBe(201);
    }

    const files = logFiles(dir);
    expect(files.length).toBeGreaterThan(3);
    expect(files[files.length - 1]).toBe(path.join(dir, 'audit.log'));
    // only the log files are there, besides the instance's lock file
    const entries = fs.readdirSync(dir);
    const checkpoints = ['checkpoint', 'checkpoints.jsonl']; // the transparency log's, not log files
    expect(entries.filter((n) => !n.endsWith('.lock') && !checkpoints.includes(n)).sort()).toEqual(
      files.map((f) => path.basename(f)).sort(),
    );
    expect(entries.filter((n) => n.endsWith('.lock'))).toHaveLength(1);

    const ids: number[] = [];
    for (const file of files) {
      expect([file, octal(modeOf(file))]).toEqual([file, '0600']);
      const lines = linesOf(file);
      expect(lines.length).toBeGreaterThan(0);
      expect(fs.statSync(file).size).toBeLessThanOrEqual(4096);
      const fileIds = lines.map((l) => JSON.parse(l).id as number);
      const m = /\.(\d{12})$/.exec(file);
      if (m) expect(Number(m[1])).toBe(fileIds[fileIds.length - 1]); // named after its last id
      ids.push(...fileIds);
    }
    const all = await tableIds(db.url);
    expect(ids).toEqual(all); // every record once, in id order, oldest file first
    expect(all).toEqual(Array.from({ length: all.length }, (_, i) => i + 1));
    expect((await verify(svc)).body).toEqual({ ok: true, checked: all.length });
  });

  it('repairs at restart a torn last line and appends the record the file missed', async () => {
    const db = await freshDatabase();
    const dir = path.join(tempRoot(), 'audit');
    const file = path.join(dir, 'audit.log');
    const first = await start(db.url, dir);
    for (let i = 0; i < 5; i++) expect((await post(first, externalEvent())).status).toBe(201);
    await first.close();

    // A crash between commit and file write: the last record's line is half written.
    const lines = linesOf(file);
    const lost = lines.pop()!;
    fs.writeFileSync(file, lines.map((l) => `${l}\n`).join('') + lost.slice(0, lost.length >> 1));
    expect(fs.readFileSync(file, 'utf8').endsWith('\n')).toBe(false);

    const second = await start(db.url, dir);
    const after = linesOf(file); // throws if a torn line is left
    const records = after.map((l) => JSON.parse(l)); // every line parses
    expect(after.slice(0, lines.length + 1)).toEqual([...lines, lost]); // the lost line, byte for byte
    expect(records.map((r) => r.id)).toEqual(await tableIds(db.url)); // login after restart included
    expect(octal(modeOf(file))).toBe('0600');
    expect((await verify(second)).body).toEqual({ ok: true, checked: records.length });
    expect((await post(second, externalEvent())).status).toBe(201);
    expect((await verify(second)).body).toEqual({ ok: true, checked: records.length + 1 });
  });

  describe('a second instance on the same AUDIT_LOG_DIR and file name', () => {
    it('fails to start as a separate process, with a message naming AUDIT_LOG_FILE', async () => {
      const db = await freshDatabase();
      const root = tempRoot();
      const dir = path.join(root, 'audit');
      const svc = await start(db.url, dir);
      const before = linesOf(path.join(dir, 'audit.log'));

      const second = await spawnService({
        dir: root,
        env: { DATABASE_URL: db.url, AUDIT_LOG_DIR: dir },
      });
      const exit = await second.waitForExit(30_000);
      expect(exit.code).not.toBe(0);
      expect(second.output()).toMatch(/AUDIT_LOG_FILE/);
      expect(second.output()).toContain(path.join(dir, 'audit.log'));
      expect(second.output()).not.toContain('listening on');

      // the first goes on, its file untouched by the second
      expect(linesOf(path.join(dir, 'audit.log'))).toEqual(before);
      expect((await post(svc, externalEvent())).status).toBe(201);
      expect((await verify(svc)).body.ok).toBe(true);
    });

    it('fails to start in the same process too, with a message naming AUDIT_LOG_FILE', async () => {
      const db = await freshDatabase();
      const dir = path.join(tempRoot(), 'audit');
      const svc = await start(db.url, dir);
      const locks = fs.readdirSync(dir).filter((n) => n.endsWith('.lock'));
      expect(locks).toHaveLength(1);
      const lock = path.join(dir, locks[0]);
      expect(JSON.parse(fs.readFileSync(lock, 'utf8'))).toMatchObject({ pid: process.pid });
      // A second AuditModule in this process (built as startTestApp does, closed even when its
      // start fails): the lock holder is alive, it is this very process.
      const { config } = loadConfig({
        JWT_SECRET: TEST_JWT_SECRET,
        LOG_LEVEL: 'silent',
        DATABASE_URL: db.url,
        AUDIT_LOG_FSYNC: 'false',
        AUDIT_LOG_DIR: dir,
      });
      const second = await createApp(config, {
        url: db.url,
        poolSize: config.databasePoolSize,
        embedded: false,
      });
      let outcome: string;
      try {
        outcome = await second.init().then(
          () => 'the second instance started',
          (error: Error) => error.message,
        );
      } finally {
        await second.close().catch(() => undefined);
      }
      expect(outcome).toMatch(/AUDIT_LOG_FILE/);
      expect(fs.existsSync(lock)).toBe(true); // still the first one's
      expect((await post(svc, externalEvent())).status).toBe(201);
      expect((await verify(svc)).body.ok).toBe(true);
    });
  });

  it('fails closed when the log file is deleted under the running service: /health and POST 503', async () => {
    const db = await freshDatabase();
    const dir = path.join(tempRoot(), 'audit');
    const file = path.join(dir, 'audit.log');
    const svc = await start(db.url, dir);
    expect((await post(svc, externalEvent())).status).toBe(201);
    expect((await request(svc.base, 'GET', '/health')).status).toBe(200);

    fs.rmSync(file);

    const health = await request(svc.base, 'GET', '/health');
    expect(health.status).toBe(503);
    expect(health.body).toMatchObject({ statusCode: 503, reason: 'audit_log_unavailable' });

    const rowsBefore = (await tableIds(db.url)).length;
    const res = await post(svc, externalEvent({ description: 'after the file was deleted' }));
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({ statusCode: 503, reason: 'audit_log_unavailable' });
    const again = await post(svc, [externalEvent(), externalEvent()]);
    expect(again.status).toBe(503);
    expect(again.body).toMatchObject({ reason: 'audit_log_unavailable' });
    // nothing was acknowledged: whatever reached the table must reach the file once it is back
    const rowsAfter = (await tableIds(db.url)).length;
    expect(rowsAfter - rowsBefore).toBeLessThanOrEqual(1);

    // It repairs itself: a new file 0600 with every record, and the trail works again.
    const deadline = Date.now() + 10_000;
    while ((await request(svc.base, 'GET', '/health')).status !== 200) {
      if (Date.now() > deadline) throw new Error('the audit log file was never recreated');
      await sleep(200);
    }
    expect(octal(modeOf(file))).toBe('0600');
    expect((await post(svc, externalEvent())).status).toBe(201);
    const ids = await tableIds(db.url);
    expect(linesOf(file).map((l) => JSON.parse(l).id)).toEqual(ids);
    expect((await verify(svc)).body).toEqual({ ok: true, checked: ids.length });
  });
});
