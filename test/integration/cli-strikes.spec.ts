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
