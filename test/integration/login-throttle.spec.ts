import { request, type TestResponse } from '../support/http.js';
import {
  createTestDatabase,
  describeWithPostgres,
  query,
  type TestDatabase,
} from '../support/postgres.js';
import {
  PASSWORD,
  startService,
  uniqueUsername,
  type ServiceProcess,
} from '../support/service-process.js';

// Issue 10 through two service processes on one PostgreSQL: every attempt is admitted or refused
// by one statement on the shared database, so the limits hold exactly whichever process takes
// which attempt. Sources are X-Forwarded-For addresses (TRUST_PROXY=loopback: the test is the
// proxy).

const ADMIN = { username: 'throttle-admin', password: 'Thr0ttle-Adm1n-Passw0rd!' };
const WRONG = 'not-the-password-at-all';
const THROTTLED_BODY = {
  statusCode: 429,
  error: 'Too Many Requests',
  message: 'too many login attempts, try again later',
};
const BAD_CREDENTIALS = {
  statusCode: 401,
  error: 'Unauthorized',
  message: 'invalid username or password',
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function startPair(db: TestDatabase, env: Record<string, string> = {}) {
  const shared = {
    DATABASE_URL: db.url,
    DATABASE_POOL_SIZE: '8',
    TRUST_PROXY: 'loopback',
    ADMIN_USERNAME: ADMIN.username,
    ADMIN_PASSWORD: ADMIN.password,
    LOGIN_THROTTLED_EVENT_WINDOW: '1s',
    ...env,
  };
  return Promise.all([
    startService({ env: shared, lifetime: 'file' }),
    startService({ env: shared, lifetime: 'file' }),
  ]);
}

function login(
  service: ServiceProcess,
  username: string,
  password: string,
  options: { source?: string; deviceToken?: string; cookie?: string } = {},
): Promise<TestResponse> {
  const headers: Record<string, string> = {};
  if (options.source) headers['x-forwarded-for'] = options.source;
  if (options.deviceToken) headers['x-device-token'] = options.deviceToken;
  if (options.cookie) headers.cookie = options.cookie;
  return request(service.base, 'POST', '/auth/login', {
    body: { username, password },
    headers,
  });
}

async function register(service: ServiceProcess, prefix: string) {
  const username = uniqueUsername(prefix);
  const res = await request(service.base, 'POST', '/auth/register', {
    body: { username, password: PASSWORD },
  });
  if (res.status !== 201) throw new Error(`register failed: ${res.status} ${res.text}`);
  return { id: res.body.id as string, username };
}

/** `n` attempts in flight at once, alternating between the two processes. */
function parallel(
  services: ServiceProcess[],
  n: number,
  attempt: (service: ServiceProcess, i: number) => Promise<TestResponse>,
) {
  return Promise.all(
    Array.from({ length: n }, (_, i) => attempt(services[i % services.length], i)),
  );
}

const statuses = (responses: TestResponse[]) =>
  responses.reduce<Record<number, number>>((acc, r) => {
    acc[r.status] = (acc[r.status] ?? 0) + 1;
    return acc;
  }, {});

function expectThrottled(res: TestResponse) {
  expect(res.status).toBe(429);
  expect(res.body).toEqual(THROTTLED_BODY);
  expect(res.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
}

/** Sum of a counter over both processes' /metrics, for the series matching `labels`. */
async function metric(services: ServiceProcess[], name: string, labels = ''): Promise<number> {
  let total = 0;
  for (const service of services) {
    const text = (await request(service.base, 'GET', '/metrics')).text;
    for (const line of text.split('\n')) {
      if (!line.startsWith(name)) continue;
      const [series, value] = line.split(' ');
      if (series === name || (series.startsWith(`${name}{`) && series.includes(labels)))
        total += Number(value);
    }
  }
  return total;
}

async function adminToken(service: ServiceProcess): Promise<string> {
  const res = await login(service, ADMIN.username, ADMIN.password, { source: '192.0.2.250' });
  if (res.status !== 200) throw new Error(`admin login failed: ${res.status} ${res.text}`);
  return res.body.accessToken;
}

async function events(db: TestDatabase, type: string, userId?: string) {
  return query<{ user_id: string; details: Record<string, unknown>; actor_id: string | null }>(
    db.url,
    `SELECT user_id, details, actor_id FROM audit_events WHERE type = $1
       AND ($2::text IS NULL OR user_id = $2) ORDER BY id`,
    [type, userId ?? null],
  );
}

describeWithPostgres('login throttle across two processes (issue 10)', () => {
  describe('one account, one source', () => {
    let db: TestDatabase;
    let services: ServiceProcess[];

    beforeAll(async () => {
      db = await createTestDatabase('sg_login');
      services = await startPair(db, { LOGIN_BACKOFF_BASE: '2s' });
    }, 120_000);
    afterAll(async () => {
      await Promise.all(services?.map((s) => s.stop()) ?? []);
      await db?.drop();
    });

    it('admits exactly 5 of 40 parallel wrong passwords, for a real and an unknown account alike; the right password is then 429 and works after the wait', async () => {
      const alice = await register(services[0], 'alice');
      const ghost = uniqueUsername('ghost'); // never registered
      const throttledBefore = await metric(
        services,
        'strikeguard_login_attempts_total',
        'throttled',
      );

      const [real, unknown] = await Promise.all([
        parallel(services, 40, (s) => login(s, alice.username, WRONG, { source: '198.51.100.7' })),
        parallel(services, 40, (s) => login(s, ghost, WRONG, { source: '198.51.100.8' })),
      ]);
      for (const responses of [real, unknown]) {
        expect(statuses(responses)).toEqual({ 401: 5, 429: 35 });
        for (const res of responses) {
          if (res.status === 401) expect(res.body).toEqual(BAD_CREDENTIALS);
          else expectThrottled(res);
        }
      }

      // The right password during the wait is refused without being checked.
      const during = await login(services[1], alice.username, PASSWORD, { source: '198.51.100.7' });
      expectThrottled(during);
      const wait = Number(during.headers.get('retry-after'));
      expect(wait).toBeLessThanOrEqual(2);
      await sleep(wait * 1000 + 300);
      const after = await login(services[0], alice.username, PASSWORD, { source: '198.51.100.7' });
      expect(after.status).toBe(200);
      expect(after.body.deviceToken).toMatch(/^sgd1\./);
      expect(after.headers.get('set-cookie')).toMatch(
        /^sg_device=sgd1\.[^;]+; Path=\/auth\/login; Max-Age=\d+; HttpOnly; SameSite=Strict; Secure$/,
      );

      // One auth.login_failed per 401, keyed by user id (or "unknown"), never by the name.
      const failed = await events(db, 'auth.login_failed');
      expect(failed.filter((e) => e.user_id === alice.id)).toHaveLength(5);
      const unknownFailed = failed.filter((e) => e.user_id === 'unknown');
      expect(unknownFailed).toHaveLength(5);
      expect(new Set(unknownFailed.map((e) => e.details.account)).size).toBe(1);
      expect(unknownFailed[0].details.account).toMatch(/^[0-9a-f]{12}$/);
      const all = await query<{ row: string }>(
        db.url,
        `SELECT row_to_json(a)::text AS row FROM audit_events a`,
      );
      for (const { row } of all) {
        expect(row).not.toContain(ghost);
        if (!row.includes('"auth.register"') && !row.includes('"auth.login"'))
          expect(row).not.toContain(alice.username);
      }

      // The throttled attempts: counted in the metrics and in coalesced events, one to one.
      expect(
        (await metric(services, 'strikeguard_login_attempts_total', 'throttled')) - throttledBefore,
      ).toBe(71);
      await sleep(2500); // the event window (1 s) closes and is recorded
      // Keyed by the account's tag: attempts refused before any failure had named the user are
      // recorded under "unknown", those after under the user id.
      const throttled = await events(db, 'auth.login_throttled');
      const count = (account: unknown) =>
        throttled
          .filter((e) => e.details.account === account)
          .reduce((n, e) => n + (e.details.count as number), 0);
      const aliceTag = failed.find((e) => e.user_id === alice.id)!.details.account;
      expect(count(aliceTag)).toBe(36);
      expect(count(unknownFailed[0].details.account)).toBe(35);
      // Each process keeps its own windows; the one that refused after a failure had named the
      // user records it under the user id.
      expect(throttled.some((e) => e.details.account === aliceTag && e.user_id === alice.id)).toBe(
        true,
      );
      expect(
        throttled
          .filter((e) => e.details.account !== aliceTag)
          .every((e) => e.user_id === 'unknown'),
      ).toBe(true);
      // The pre-charged lockout that the 5th failure started is recorded once it failed.
      const started = await events(db, 'auth.lockout_started', alice.id);
      expect(started.map((e) => e.details.lane)).toEqual(['account_source']);
      // The successful login trusted the device.
      expect(await events(db, 'auth.device_trusted', alice.id)).toHaveLength(1);
    }, 60_000);

    it('answers 401 for a disabled or unknown account alike and never counts a failure as a strike', async () => {
      const bob = await register(services[1], 'bob');
      for (let i = 0; i < 3; i++) {
        const res = await login(services[i % 2], bob.username, WRONG, { source: '198.51.100.20' });
        expect(res.status).toBe(401);
      }
      const [counter] = await query<{ count: number; blocker: number; session_version: number }>(
        db.url,
        `SELECT count, blocker, session_version FROM strike_counters WHERE user_id = $1`,
        [bob.id],
      );
      expect(counter).toEqual({ count: 0, blocker: 0, session_version: 0 });
    });

    it('counts every spelling the lookup accepts in one lane, and no other spelling finds the user', async () => {
      const iris = await register(services[0], 'iris');
      for (let i = 0; i < 5; i++)
        expect(
          (await login(services[i % 2], iris.username, WRONG, { source: '198.51.100.40' })).status,
        ).toBe(401);
      // Upper case and fullwidth letters are the same account: throttled, password unchecked.
      const fullwidth = iris.username.replace(/[a-z]/g, (c) =>
        String.fromCharCode(c.charCodeAt(0) - 0x61 + 0xff41),
      );
      for (const spelling of [iris.username.toUpperCase(), fullwidth])
        expectThrottled(await login(services[1], spelling, PASSWORD, { source: '198.51.100.40' }));
      // PostgreSQL's lower() folds the dotted capital I to "i", JavaScript's does not: such a
      // spelling is another account for the throttle, so it must not find this user either.
      const dotted = iris.username.replace('i', '\u0130');
      expect((await login(services[0], dotted, PASSWORD, { source: '198.51.100.40' })).status).toBe(
        401,
      );
      // A NUL cannot be looked up at all: the same 401, never a 500.
      const nul = await login(services[0], 'nul\u0000user', WRONG, { source: '198.51.100.41' });
      expect({ status: nul.status, body: nul.body }).toEqual({
        status: 401,
        body: BAD_CREDENTIALS,
      });
    });

    it('racing successes and failures on one account never deadlock (no 500), across both processes', async () => {
      const eve = await register(services[0], 'eve');
      const responses = await parallel(services, 60, (s, i) =>
        login(s, eve.username, i % 3 ? PASSWORD : WRONG, {
          source: `198.51.100.${100 + (i % 30)}`,
        }),
      );
      const seen = statuses(responses);
      expect(Object.keys(seen).sort()).toEqual(expect.arrayContaining(['200']));
      for (const status of Object.keys(seen)) expect(['200', '401', '429']).toContain(status);
    }, 60_000);

    it('a success resets the account + source lane', async () => {
      const carol = await register(services[0], 'carol');
      for (let i = 0; i < 4; i++)
        expect(
          (await login(services[i % 2], carol.username, WRONG, { source: '198.51.100.30' })).status,
        ).toBe(401);
      expect(
        (await login(services[0], carol.username, PASSWORD, { source: '198.51.100.30' })).status,
      ).toBe(200);
      for (let i = 0; i < 5; i++)
        expect(
          (await login(services[i % 2], carol.username, WRONG, { source: '198.51.100.30' })).status,
        ).toBe(401);
      expectThrottled(await login(services[1], carol.username, WRONG, { source: '198.51.100.30' }));
    });
  });

  describe('an attacker on many sources', () => {
    let db: TestDatabase;
    let services: ServiceProcess[];

    beforeAll(async () => {
      db = await createTestDatabase('sg_login');
      services = await startPair(db, { LOGIN_HARD_LIMIT: '100', LOGIN_ACCOUNT_LIMIT: '20' });
    }, 120_000);
    afterAll(async () => {
      await Promise.all(services?.map((s) => s.stop()) ?? []);
      await db?.drop();
    });

    it('20 sources cannot stop the owner logging in with a device token obtained before', async () => {
      const owner = await register(services[0], 'owner');
      const first = await login(services[0], owner.username, PASSWORD, { source: '203.0.113.1' });
      expect(first.status).toBe(200);
      const deviceToken: string = first.body.deviceToken;
      const cookie = first.headers.get('set-cookie')!.split(';')[0];

      const attack = await parallel(services, 100, (s, i) =>
        login(s, owner.username, WRONG, { source: `198.18.0.${1 + (i % 20)}` }),
      );
      // The account lane allows 20 untrusted failures an hour, all sources together.
      expect(statuses(attack)).toEqual({ 401: 20, 429: 80 });

      // A stranger's client, even with the right password, is throttled now...
      expectThrottled(
        await login(services[1], owner.username, PASSWORD, { source: '203.0.113.99' }),
      );
      // ...the owner's known device is not: by header, and by cookie.
      const byHeader = await login(services[1], owner.username, PASSWORD, {
        source: '203.0.113.1',
        deviceToken,
      });
      expect(byHeader.status).toBe(200);
      expect(byHeader.body.deviceToken).toBe(deviceToken);
      const byCookie = await login(services[0], owner.username, PASSWORD, {
        source: '203.0.113.50',
        cookie,
      });
      expect(byCookie.status).toBe(200);
      // A junk header or an earlier junk cookie cannot hide the owner's valid one.
      for (const options of [
        { deviceToken: 'junk', cookie },
        { cookie: `sg_device=junk; ${cookie}` },
      ])
        expect(
          (
            await login(services[0], owner.username, PASSWORD, {
              source: '203.0.113.51',
              ...options,
            })
          ).status,
        ).toBe(200);
      // A forged or foreign token is just an untrusted client.
      const forged = deviceToken.slice(0, -2) + (deviceToken.endsWith('AA') ? 'BB' : 'AA');
      expectThrottled(
        await login(services[0], owner.username, PASSWORD, {
          source: '203.0.113.1',
          deviceToken: forged,
        }),
      );
    }, 60_000);

    it('150 sources × 1 attempt hit the hard stop at 100; the device still works and lifts it', async () => {
      const env = { LOGIN_ACCOUNT_LIMIT: '1000' };
      const hard = await startPair(db, env);
      try {
        const owner = await register(hard[0], 'hard');
        const device = (await login(hard[0], owner.username, PASSWORD, { source: '203.0.113.2' }))
          .body.deviceToken as string;
        const attack = await parallel(hard, 150, (s, i) =>
          login(s, owner.username, WRONG, { source: `198.19.${i >> 8}.${i & 255}` }),
        );
        expect(statuses(attack)).toEqual({ 401: 100, 429: 50 });
        expectThrottled(await login(hard[1], owner.username, PASSWORD, { source: '203.0.113.77' }));
        const status = await query<{ failures: number; blocked_until: string }>(
          db.url,
          `SELECT failures, blocked_until::text FROM login_throttle t JOIN login_accounts a
              ON a.account = t.account WHERE a.user_id = $1 AND t.lane = 'hard'`,
          [owner.id],
        );
        expect(status).toEqual([{ failures: 100, blocked_until: 'infinity' }]);
        expect(
          (await events(db, 'auth.lockout_started', owner.id)).map((e) => e.details.lane),
        ).toContain('hard');

        const trusted = await login(hard[1], owner.username, PASSWORD, {
          source: '203.0.113.2',
          deviceToken: device,
        });
        expect(trusted.status).toBe(200);
        const cleared = await events(db, 'auth.lockout_cleared', owner.id);
        expect(cleared.map((e) => e.details.by)).toEqual(['device_login']);
        // The hard stop is gone: an untrusted client may try again.
        expect(
          (await login(hard[0], owner.username, PASSWORD, { source: '203.0.113.78' })).status,
        ).toBe(200);
      } finally {
        await Promise.all(hard.map((s) => s.stop()));
      }
    }, 90_000);
  });

  describe('an admin clears a hard stop', () => {
    let db: TestDatabase;
    let services: ServiceProcess[];

    beforeAll(async () => {
      db = await createTestDatabase('sg_login');
      services = await startPair(db, { LOGIN_ACCOUNT_LIMIT: '1000' });
    }, 120_000);
    afterAll(async () => {
      await Promise.all(services?.map((s) => s.stop()) ?? []);
      await db?.drop();
    });

    it('150 sources × 1 attempt, no trusted device: the owner is 429 until an admin clears the account', async () => {
      const owner = await register(services[0], 'cleared');
      const attack = await parallel(services, 150, (s, i) =>
        login(s, owner.username, WRONG, { source: `198.19.${i >> 8}.${i & 255}` }),
      );
      expect(statuses(attack)).toEqual({ 401: 100, 429: 50 });
      expectThrottled(
        await login(services[0], owner.username, PASSWORD, { source: '203.0.113.5' }),
      );

      const token = await adminToken(services[1]);
      const state = await request(
        services[0].base,
        'GET',
        `/admin/login-throttle/users/${owner.id}`,
        {
          token,
        },
      );
      expect(state.status).toBe(200);
      expect(state.body).toMatchObject({
        userId: owner.id,
        failures: 100,
        blockedUntil: 'infinity',
      });
      const cleared = await request(
        services[1].base,
        'DELETE',
        `/admin/login-throttle/users/${owner.id}`,
        {
          token,
        },
      );
      expect(cleared.status).toBe(200);
      expect(cleared.body).toMatchObject({ userId: owner.id });
      expect(cleared.body.lifted).toContain('hard');

      // Cleared on the other instance too: there is no per-instance state to go stale.
      expect(
        (await login(services[0], owner.username, PASSWORD, { source: '203.0.113.5' })).status,
      ).toBe(200);
      const events_ = await events(db, 'auth.lockout_cleared', owner.id);
      expect(events_).toHaveLength(1);
      expect(events_[0].actor_id).toEqual(expect.any(String));
      expect(events_[0].details.by).toBe('admin');
    }, 90_000);
  });

  describe('a source over its daily limit, and the sweeper', () => {
    let db: TestDatabase;
    let services: ServiceProcess[];

    beforeAll(async () => {
      db = await createTestDatabase('sg_login');
      services = await startPair(db, { LOGIN_SOURCE_LIMIT: '10', LOGIN_SWEEP_INTERVAL: '1s' });
    }, 120_000);
    afterAll(async () => {
      await Promise.all(services?.map((s) => s.stop()) ?? []);
      await db?.drop();
    });

    it('is throttled on every account, the right password included; other sources are not', async () => {
      const dave = await register(services[0], 'dave');
      const spray = await parallel(services, 25, (s, i) =>
        login(s, uniqueUsername(`spray${i}`), WRONG, { source: '2001:db8:1:2::17' }),
      );
      expect(statuses(spray)).toEqual({ 401: 10, 429: 15 });
      // A refused attempt locks and writes nothing: a blocked source spraying new names adds no rows.
      const rows = async () =>
        (await query<{ n: number }>(db.url, `SELECT count(*)::int AS n FROM login_throttle`))[0].n;
      const before = await rows();
      for (let i = 0; i < 5; i++)
        expectThrottled(
          await login(services[i % 2], uniqueUsername(`more${i}`), WRONG, {
            source: '2001:db8:1:2::18',
          }),
        );
      expect(await rows()).toBe(before);
      // ...and one auth.login_throttled per source a window, not one per name.
      await sleep(2500);
      const bySource = (await events(db, 'auth.login_throttled')).filter((e) =>
        (e.details.sources as string[]).includes('2001:db8:1:2::/64'),
      );
      expect(bySource.reduce((n, e) => n + (e.details.count as number), 0)).toBe(20);
      expect(bySource.length).toBeLessThanOrEqual(4); // a window per process and second at most
      // The same /64 is the same source.
      expectThrottled(
        await login(services[1], dave.username, PASSWORD, { source: '2001:db8:1:2:ffff::1' }),
      );
      expect(
        (await login(services[0], dave.username, PASSWORD, { source: '2001:db8:1:3::17' })).status,
      ).toBe(200);
      expect(
        await metric(services, 'strikeguard_login_throttled_total', 'lane="source"'),
      ).toBeGreaterThanOrEqual(21);
    }, 60_000);

    it('sweeps expired rows in batches', async () => {
      await parallel(services, 6, (s, i) =>
        login(s, uniqueUsername(`sweep${i}`), WRONG, { source: '192.0.2.9' }),
      );
      const [{ n }] = await query<{ n: number }>(
        db.url,
        `SELECT count(*)::int AS n FROM login_throttle`,
      );
      expect(n).toBeGreaterThan(0);
      await query(
        db.url,
        `UPDATE login_throttle SET expires_at = now() - interval '1 second' WHERE blocked_until IS NULL OR blocked_until <> 'infinity'`,
      );
      await query(db.url, `UPDATE login_devices SET expires_at = now() - interval '1 second'`);
      // A sweep empties login_throttle, then login_devices: wait for both.
      const leftOf = () =>
        query<{ n: number; d: number }>(
          db.url,
          `SELECT (SELECT count(*)::int FROM login_throttle) AS n,
                  (SELECT count(*)::int FROM login_devices) AS d`,
        ).then((r) => r[0]);
      let left = await leftOf();
      for (let i = 0; i < 50 && (left.n > 0 || left.d > 0); i++) {
        await sleep(200);
        left = await leftOf();
      }
      expect(left).toEqual({ n: 0, d: 0 });
      expect(await metric(services, 'strikeguard_login_rows_swept_total')).toBeGreaterThanOrEqual(
        n,
      );
    }, 30_000);
  });
});
