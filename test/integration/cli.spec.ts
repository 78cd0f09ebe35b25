import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { externalEvent } from '../support/audit-files.js';
import { cli, CLI } from '../support/cli.js';
import { request } from '../support/http.js';
import {
  createTestDatabase,
  describeWithPostgres,
  query,
  type TestDatabase,
} from '../support/postgres.js';
import { adminEnv, adminToken, startTestApp, type TestApp } from '../support/test-app.js';

const lines = (stdout: string) =>
  stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));

describeWithPostgres('strikeguard CLI: audit verify, search, tail, export', () => {
  let db: TestDatabase;
  let svc: TestApp;
  let admin: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    db = await createTestDatabase('cli');
    svc = await startTestApp(db.url, { ...adminEnv(), AUDIT_INSTANCE_ID: 'cli-test' });
    admin = await adminToken(svc.base);
    const events = Array.from({ length: 30 }, (_, i) =>
      externalEvent({
        type: i % 2 ? 'cli.odd' : 'cli.even',
        userId: `cli-user-${i % 3}`,
        details: { n: i },
      }),
    );
    expect(
      (await request(svc.base, 'POST', '/audit/events', { token: admin, body: events })).status,
    ).toBe(201);
    env = { DATABASE_URL: db.url };
  });
  afterAll(async () => {
    await svc?.close();
    await db?.drop();
  });

  it('verifies the chain from the database and exits 0', async () => {
    const total = (
      await query<{ n: number }>(db.url, 'SELECT count(*)::int AS n FROM audit_events')
    )[0].n;
    const res = await cli(['audit', 'verify'], env);
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toEqual({ ok: true, checked: total });
  });

  it('verifies the log directory alone, without a database', async () => {
    const res = await cli(['audit', 'verify', '--log-dir', svc.auditDir]);
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout).ok).toBe(true);
  });

  it('verifies the database against the log file of an instance', async () => {
    const res = await cli(
      ['audit', 'verify', '--log-dir', svc.auditDir, '--instance-id', 'cli-test'],
      env,
    );
    expect(res.code).toBe(0);
  });

  it('verifies through the HTTP API with a token (the embedded database case)', async () => {
    const res = await cli(['audit', 'verify', '--url', svc.base, '--token', admin]);
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout).ok).toBe(true);
  });

  it('searches with filters and prints JSON Lines, newest first', async () => {
    const res = await cli(
      ['audit', 'search', '--type', 'cli.odd', '--user-id', 'cli-user-1', '--details', 'n=1'],
      env,
    );
    expect(res.code).toBe(0);
    const records = lines(res.stdout);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ type: 'cli.odd', userId: 'cli-user-1', details: { n: 1 } });
    const viaHttp = await cli([
      'audit',
      'search',
      '--type',
      'cli.even',
      '--limit',
      '5',
      '--url',
      svc.base,
      '--token',
      admin,
    ]);
    const ids = lines(viaHttp.stdout).map((r) => r.id);
    expect(ids).toHaveLength(5);
    expect(ids).toEqual([...ids].sort((a, b) => b - a));
  });

  it('exports every matching record oldest first', async () => {
    const res = await cli(['audit', 'export', '--format', 'jsonl', '--type', 'cli.even'], env);
    expect(res.code).toBe(0);
    const records = lines(res.stdout);
    expect(records).toHaveLength(15);
    expect(records.map((r) => r.details.n)).toEqual(Array.from({ length: 15 }, (_, i) => i * 2));
  });

  it('tails the last N records, oldest first', async () => {
    const res = await cli(['audit', 'tail', '-n', '3'], env);
    const records = lines(res.stdout);
    expect(records).toHaveLength(3);
    expect(records[0].id).toBeLessThan(records[2].id);
  });

  it('follows new records with tail -f', async () => {
    const child = spawn(
      process.execPath,
      [CLI, 'audit', 'tail', '-n', '1', '-f', '--interval', '100'],
      { env: { PATH: process.env.PATH ?? '', ...env } },
    );
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    try {
      await new Promise((r) => setTimeout(r, 800));
      const { body } = await request(svc.base, 'POST', '/audit/events', {
        token: admin,
        body: externalEvent({ type: 'cli.followed' }),
      });
      const deadline = Date.now() + 5000;
      while (!out.includes('cli.followed') && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 100));
      expect(lines(out).some((r) => r.id === body.ids[0] && r.type === 'cli.followed')).toBe(true);
    } finally {
      child.kill();
    }
  });

  it('exits 2 with a clear message on bad usage', async () => {
    const none = await cli(['audit', 'search']);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/DATABASE_URL/);
    const bad = await cli(['audit', 'search', '--limit', '0'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/limit/);
    const unknown = await cli(['audit', 'frobnicate'], env);
    expect(unknown.code).toBe(2);
    const badFlag = await cli(['audit', 'verify', '--bogus'], env);
    expect(badFlag.code).toBe(2);
    const badToken = await cli(['audit', 'verify', '--url', svc.base, '--token', 'nope']);
    expect(badToken.code).toBe(2);
    expect(badToken.stderr).toMatch(/401/);
    // A database without strikeguard's tables: said so, with the fix, and no stack trace.
    const empty = await createTestDatabase('cli_empty');
    try {
      for (const args of [
        ['audit', 'tail', '-n', '1'],
        ['audit', 'verify'],
        ['audit', 'search', '--type', 'x'],
      ]) {
        const res = await cli(args, { DATABASE_URL: empty.url });
        expect([args.join(' '), res.code]).toEqual([args.join(' '), 2]);
        expect(res.stderr).toMatch(
          /the database has no strikeguard tables .*strikeguardMigrations/,
        );
        expect(res.stderr).not.toMatch(/\n\s+at /);
      }
    } finally {
      await empty.drop();
    }
  });

  it('exits 1 naming the record when a row was altered, and when a file line was altered', async () => {
    const lineFile = path.join(svc.auditDir, 'audit.log');
    const original = fs.readFileSync(lineFile, 'utf8');
    const fileLines = original.trimEnd().split('\n');
    const victim = JSON.parse(fileLines[5]);
    fileLines[5] = JSON.stringify({ ...victim, description: 'rewritten' });
    fs.writeFileSync(lineFile, fileLines.join('\n') + '\n');
    try {
      const files = await cli(['audit', 'verify', '--log-dir', svc.auditDir]);
      expect(files.code).toBe(1);
      expect(JSON.parse(files.stdout)).toMatchObject({ ok: false, firstInvalidId: victim.id });
      const cross = await cli(
        ['audit', 'verify', '--log-dir', svc.auditDir, '--instance-id', 'cli-test'],
        env,
      );
      expect(cross.code).toBe(1);
      expect(JSON.parse(cross.stdout)).toMatchObject({ ok: false, firstInvalidId: victim.id });
    } finally {
      fs.writeFileSync(lineFile, original);
    }

    await query(db.url, 'ALTER TABLE audit_events DISABLE TRIGGER USER');
    await query(db.url, `UPDATE audit_events SET description = 'edited' WHERE id = 7`);
    await query(db.url, 'ALTER TABLE audit_events ENABLE TRIGGER USER');
    const res = await cli(['audit', 'verify'], env);
    expect(res.code).toBe(1);
    expect(JSON.parse(res.stdout)).toMatchObject({ ok: false, firstInvalidId: 7 });
  });
});
