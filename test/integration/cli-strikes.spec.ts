import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DataSource } from 'typeorm';
import { strikeguardMigrations } from '../../src/index.js';
import { cli } from '../support/cli.js';
import { request } from '../support/http.js';
import {
  createTestDatabase,
  describeWithPostgres,
  query,
  type TestDatabase,
} from '../support/postgres.js';
import { adminEnv, newUser, PASSWORD, startTestApp, type TestApp } from '../support/test-app.js';

describeWithPostgres('strikeguard CLI: strikes unblock and enroll-missing', () => {
  let db: TestDatabase;
  let svc: TestApp;
  let env: Record<string, string>;

  beforeAll(async () => {
    db = await createTestDatabase('cli_strikes');
    svc = await startTestApp(db.url, adminEnv());
    env = { DATABASE_URL: db.url, AUDIT_LOG_DIR: svc.auditDir };
  });
  afterAll(async () => {
    await svc?.close();
    await db?.drop();
  });

  it('unblocks a blocked account from the command line; the running service accepts it at once', async () => {
    const user = await newUser(svc.base);
    let token = user.token;
    for (let strike = 1; strike <= 12; strike++) {
      await request(svc.base, 'GET', '/admin/strikes', { token });
      if (strike % 3 === 0 && strike < 12) {
        token = (
          await request(svc.base, 'POST', '/auth/login', {
            body: { username: user.username, password: PASSWORD },
          })
        ).body.accessToken;
      }
    }
    const login = () =>
      request(svc.base, 'POST', '/auth/login', {
        body: { username: user.username, password: PASSWORD },
      });
    expect((await login()).body.reason).toBe('account_blocked');

    const res = await cli(['strikes', 'unblock', user.id, '--reason', 'verified by phone'], env);
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toMatchObject({
      userId: user.id,
      count: 0,
      blocker: 0,
      status: 'active',
    });
    expect((await login()).status).toBe(200);
    const [event] = await query<any>(
      db.url,
      `SELECT actor_id, details FROM audit_events WHERE type = 'account.unblocked' AND user_id = $1`,
      [user.id],
    );
    expect(event.actor_id).toMatch(/^cli:/);
    expect(event.details.reason).toBe('verified by phone');
    // The CLI's records are in its own log file and the chain still verifies, files included.
    expect((await cli(['audit', 'verify', '--log-dir', svc.auditDir], {})).code).toBe(0);
  });

  it('enrolls users that have no counter', async () => {
    const [row] = await query<{ id: string }>(
      db.url,
      `INSERT INTO users (username, password_hash) VALUES ('legacyuser', 'x') RETURNING id`,
    );
    const res = await cli(['strikes', 'enroll-missing'], env);
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toEqual({ enrolled: 1 });
    expect(
      await query(db.url, 'SELECT 1 FROM strike_counters WHERE user_id = $1', [row.id]),
    ).toHaveLength(1);
    expect(JSON.parse((await cli(['strikes', 'enroll-missing'], env)).stdout)).toEqual({
      enrolled: 0,
    });
  });

  it('exits 2 with a message on bad usage', async () => {
    const noReason = await cli(['strikes', 'unblock', 'someone'], env);
    expect(noReason.code).toBe(2);
    expect(noReason.stderr).toMatch(/--reason/);
    const unknown = await cli(['strikes', 'unblock', 'nobody-at-all', '--reason', 'x'], env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/no strike counter/);
    const noDb = await cli(['strikes', 'enroll-missing'], {});
    expect(noDb.code).toBe(2);
    expect(noDb.stderr).toMatch(/DATABASE_URL/);
  });
});

describeWithPostgres(
  'strikeguard CLI: enroll-missing on a host schema (its own users table)',
  () => {
    let db: TestDatabase;
    let auditDir: string;
    let env: Record<string, string>;

    beforeAll(async () => {
      db = await createTestDatabase('cli_host_schema');
      auditDir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sg-cli-host-')), 'audit');
      // A host's schema: the library's tables, and users in `accounts` with an integer key.
      const dataSource = await new DataSource({
        type: 'postgres',
        url: db.url,
        migrations: strikeguardMigrations,
      }).initialize();
      try {
        await dataSource.runMigrations();
      } finally {
        await dataSource.destroy();
      }
      await query(
        db.url,
        `CREATE TABLE accounts (account_id serial PRIMARY KEY, email text NOT NULL UNIQUE)`,
      );
      await query(
        db.url,
        `INSERT INTO accounts (email) VALUES ('a@example.com'), ('b@example.com'), ('c@example.com')`,
      );
      env = { DATABASE_URL: db.url, AUDIT_LOG_DIR: auditDir };
    });
    afterAll(async () => {
      await db?.drop();
      if (auditDir) fs.rmSync(path.dirname(auditDir), { recursive: true, force: true });
    });

    it('--help lists --users-table and --id-column', async () => {
      const res = await cli(['--help']);
      expect(res.code).toBe(0);
      expect(res.stdout).toMatch(/enroll-missing \[--users-table T\] \[--id-column C\]/);
      expect(res.stdout).toMatch(/--users-table T .*default users/);
      expect(res.stdout).toMatch(/--id-column C .*default id/);
    });

    it('without flags there is no users table: exit 2 with a message that names the flags', async () => {
      const res = await cli(['strikes', 'enroll-missing'], env);
      expect(res.code).toBe(2);
      expect(res.stderr).toMatch(/^strikeguard: there is no table users to enroll users from/);
      expect(res.stderr).toMatch(/--users-table T --id-column C/);
      expect(res.stderr).toMatch(/enrollMany/);
      expect(res.stderr).not.toMatch(/\n\s+at /); // no stack trace
      expect(await query(db.url, 'SELECT 1 FROM strike_counters')).toHaveLength(0);
    });

    it('a table or column named wrong: exit 2, a plain message, nothing enrolled', async () => {
      const noColumn = await cli(['strikes', 'enroll-missing', '--users-table', 'accounts'], env);
      expect(noColumn.code).toBe(2);
      expect(noColumn.stderr).toMatch(/table accounts has no column id: .*--id-column/);
      expect(noColumn.stderr).not.toMatch(/\n\s+at /);

      const injected = await cli(
        ['strikes', 'enroll-missing', '--users-table', 'accounts; DROP TABLE accounts'],
        env,
      );
      expect(injected.code).toBe(2);
      expect(injected.stderr).toMatch(/must be a plain SQL identifier/);
      expect(injected.stderr).not.toMatch(/\n\s+at /);
      expect(await query(db.url, 'SELECT 1 FROM accounts')).toHaveLength(3);
      expect(await query(db.url, 'SELECT 1 FROM strike_counters')).toHaveLength(0);
    });

    it('--users-table accounts --id-column account_id enrolls the integer ids (as text), once', async () => {
      const args = [
        'strikes',
        'enroll-missing',
        '--users-table',
        'accounts',
        '--id-column',
        'account_id',
      ];
      const res = await cli(args, env);
      expect({ code: res.code, stderr: res.stderr }).toEqual({ code: 0, stderr: '' });
      expect(JSON.parse(res.stdout)).toEqual({ enrolled: 3 });
      const counters = await query<{ user_id: string; status: string }>(
        db.url,
        'SELECT user_id, status FROM strike_counters ORDER BY user_id',
      );
      expect(counters).toEqual([
        { user_id: '1', status: 'active' },
        { user_id: '2', status: 'active' },
        { user_id: '3', status: 'active' },
      ]);
      const events = await query<{ user_id: string; details: any }>(
        db.url,
        `SELECT user_id, details FROM audit_events WHERE type = 'strike_counter.created' ORDER BY id`,
      );
      expect(events).toEqual(
        ['1', '2', '3'].map((id) => ({ user_id: id, details: { backfill: true } })),
      );

      // A new account later: only it is enrolled.
      await query(db.url, `INSERT INTO accounts (email) VALUES ('d@example.com')`);
      expect(JSON.parse((await cli(args, env)).stdout)).toEqual({ enrolled: 1 });
      expect(JSON.parse((await cli(args, env)).stdout)).toEqual({ enrolled: 0 });
      // The CLI's records are in its own log file, and the chain verifies with it.
      for (const args of [
        ['audit', 'verify', '--log-dir', auditDir],
        ['audit', 'verify', '--log-dir', auditDir, '--log-file', 'audit-cli.log'],
      ]) {
        const verify = await cli(args, args.length > 4 ? { DATABASE_URL: db.url } : {});
        expect({ args, code: verify.code, stderr: verify.stderr }).toEqual({
          args,
          code: 0,
          stderr: '',
        });
        expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true });
      }
    });
  },
);
