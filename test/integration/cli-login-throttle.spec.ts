import { cli } from '../support/cli.js';
import { request } from '../support/http.js';
import {
  createTestDatabase,
  describeWithPostgres,
  query,
  type TestDatabase,
} from '../support/postgres.js';
import { adminEnv, newUser, PASSWORD, startTestApp, type TestApp } from '../support/test-app.js';

describeWithPostgres('strikeguard CLI: login-throttle status and clear', () => {
  let db: TestDatabase;
  let svc: TestApp;
  let env: Record<string, string>;

  beforeAll(async () => {
    db = await createTestDatabase('cli_login_throttle');
    // The second consecutive failure from one source blocks the account there for an hour.
    svc = await startTestApp(db.url, {
      ...adminEnv(),
      LOGIN_FREE_ATTEMPTS: '2',
      LOGIN_BACKOFF_BASE: '1h',
      LOGIN_MAX_WAIT: '2h',
    });
    env = { DATABASE_URL: db.url, AUDIT_LOG_DIR: svc.auditDir };
  });
  afterAll(async () => {
    await svc?.close();
    await db?.drop();
  });

  it('clears a throttled user from the command line; the running service admits the next attempt', async () => {
    const user = await newUser(svc.base);
    const login = (password: string) =>
      request(svc.base, 'POST', '/auth/login', {
        body: { username: user.username, password },
      });
    expect((await login('wrong-password-1')).status).toBe(401);
    expect((await login('wrong-password-2')).status).toBe(401);
    expect((await login(PASSWORD)).status).toBe(429);

    const status = await cli(['login-throttle', 'status', user.id], env);
    expect({ code: status.code, stderr: status.stderr }).toEqual({ code: 0, stderr: '' });
    const state = JSON.parse(status.stdout);
    expect(state).toMatchObject({ userId: user.id, failures: 2, trustedDevices: 1 });
    expect(Date.parse(state.blockedUntil)).toBeGreaterThan(Date.now() + 50 * 60_000);
    expect(state.lanes).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ lane: 'account_source', source: '127.0.0.1', failures: 2 }),
      ]),
    );

    const res = await cli(['login-throttle', 'clear', user.id], env);
    expect({ code: res.code, stderr: res.stderr }).toEqual({ code: 0, stderr: '' });
    const cleared = JSON.parse(res.stdout);
    expect(cleared).toEqual({
      userId: user.id,
      cleared: expect.any(Number),
      lifted: ['account_source'],
    });
    expect(cleared.cleared).toBeGreaterThanOrEqual(3);
    expect((await login(PASSWORD)).status).toBe(200);

    const events = await query<{ actor_id: string | null; entity_type: string; details: any }>(
      db.url,
      `SELECT actor_id, entity_type, details FROM audit_events
        WHERE type = 'auth.lockout_cleared' AND user_id = $1`,
      [user.id],
    );
    expect(events).toEqual([
      {
        actor_id: expect.stringMatching(/^cli:.+@.+/),
        entity_type: 'user',
        details: { by: 'cli', cleared: cleared.cleared, lanes: ['account_source'] },
      },
    ]);
    const after = JSON.parse((await cli(['login-throttle', 'status', user.id], env)).stdout);
    expect(after).toMatchObject({ userId: user.id, failures: 0, blockedUntil: null });
    // The CLI's records are in its own log file and the chain still verifies, files included.
    const verify = await cli(['audit', 'verify', '--log-dir', svc.auditDir], {});
    expect({ code: verify.code, stderr: verify.stderr }).toEqual({ code: 0, stderr: '' });
  });

  it('--help lists the login-throttle commands', async () => {
    const res = await cli(['--help']);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/strikeguard login-throttle status <userId> .*DATABASE_URL/);
    expect(res.stdout).toMatch(/strikeguard login-throttle clear <userId> .*DATABASE_URL/);
  });

  it('exits 2 with a plain message on bad usage, and clears nothing', async () => {
    const [{ head }] = await query<{ head: number }>(
      db.url,
      `SELECT coalesce(max(id), 0)::int AS head FROM audit_events`,
    );
    const cases: [string[], Record<string, string>, RegExp][] = [
      [['login-throttle', 'clear'], env, /^strikeguard: login-throttle clear needs a user id\n$/],
      [['login-throttle', 'status'], env, /^strikeguard: login-throttle status needs a user id\n$/],
      [['login-throttle', 'clear', 'a', 'b'], env, /takes one user id \(got 2 arguments\)/],
      [['login-throttle', 'clear', 'x'.repeat(129)], env, /at most 128 characters.*a long string/],
      [['login-throttle', 'clear', ''], env, /a user id must be a non-empty string/],
      [['login-throttle', 'clear', 'someone'], {}, /login-throttle commands need DATABASE_URL/],
      [['login-throttle', 'lift', 'someone'], env, /unknown command "login-throttle lift someone"/],
      [['login-throttle'], env, /unknown command "login-throttle"/],
    ];
    for (const [args, environment, message] of cases) {
      const res = await cli(args, environment);
      expect({ args, code: res.code, stdout: res.stdout }).toEqual({ args, code: 2, stdout: '' });
      expect([args, res.stderr]).toEqual([args, expect.stringMatching(message)]);
      expect([args, res.stderr]).not.toEqual([args, expect.stringMatching(/\n\s+at /)]);
    }
    expect(await query(db.url, 'SELECT type FROM audit_events WHERE id > $1', [head])).toEqual([]);
  });

  it('a database without the strikeguard tables: exit 2, says what is missing', async () => {
    const empty = await createTestDatabase('cli_login_throttle_empty');
    try {
      const res = await cli(['login-throttle', 'clear', 'someone'], {
        ...env,
        DATABASE_URL: empty.url,
      });
      expect(res.code).toBe(2);
      expect(res.stderr).toMatch(/^strikeguard: cannot start against DATABASE_URL: .*migrations/s);
      expect(res.stderr).not.toMatch(/\n\s+at /);
    } finally {
      await empty.drop();
    }
  });
});
