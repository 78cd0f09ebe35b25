import path from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { readAuditLog } from '../support/audit-files.js';
import { type TestResponse } from '../support/http.js';
import {
  createTestDatabase,
  describeWithPostgres,
  query,
  TEST_DATABASE_URL,
  type TestDatabase,
} from '../support/postgres.js';
import {
  PASSWORD,
  registerAndLogin,
  startService,
  type ServiceProcess,
  uniqueUsername,
} from '../support/service-process.js';
import { TcpProxy } from '../support/tcp-proxy.js';

// DESIGN §5, fail closed: with the database unreachable, protected routes answer 503 and never let
// a request through unchecked; a violation that cannot be recorded is never silently dropped.
//
// The service runs as a process that reaches PostgreSQL through a TCP proxy, which the tests cut
// (`refuse`: live connections closed, new ones reset) and restore. Tests that break a transaction
// half-way get a process and a proxy of their own, killed after the test. Every request has a
// deadline: a service that stops answering fails the test quickly instead of hanging the file.
//
// Thresholds are out of reach, so a user can be charged many times with one token; sessions are
// ended with POST /auth/logout where a test needs a dead token.

const ANSWER_WITHIN_MS = 5000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The response, or status 0 when none came within `ms` (the request is aborted). */
async function send(
  base: string,
  method: string,
  urlPath: string,
  options: { token?: string; body?: unknown } = {},
  ms = ANSWER_WITHIN_MS,
): Promise<TestResponse> {
  const headers: Record<string, string> = {};
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  try {
    const res = await fetch(base + urlPath, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: AbortSignal.timeout(ms),
    });
    const text = await res.text();
    let body: any;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = undefined;
    }
    return { status: res.status, body, text, headers: res.headers };
  } catch (error) {
    const why = `no answer within ${ms} ms (${(error as Error).name})`;
    return { status: 0, body: undefined, text: why, headers: new Headers() };
  }
}

/** The strike guard's own 503: it could not read the session state. */
const isGuard503 = (r: TestResponse) =>
  r.status === 503 &&
  r.body?.reason === 'database_unavailable' &&
  /cannot check the session/.test(r.body?.message);
/** The 503 of a violation whose strike could not be recorded. */
const isUnrecorded503 = (r: TestResponse) =>
  r.status === 503 &&
  r.body?.reason === 'database_unavailable' &&
  /violation could not be recorded/.test(r.body?.message);
/** The role check's 403, charged as a strike. */
const isCharged = (r: TestResponse) =>
  r.status === 403 &&
  r.body?.reason === undefined &&
  /requires the role admin/.test(r.body?.message);
const show = (r: TestResponse) => `${r.status} ${r.text}`;

/** Calls `fn` every `everyMs` until `accept` holds; returns the answers and the elapsed time. */
async function until<T>(
  fn: () => Promise<T>,
  accept: (answer: T) => boolean,
  withinMs: number,
  everyMs = 20,
): Promise<{ ms: number; answers: T[] }> {
  const start = performance.now();
  const answers: T[] = [];
  for (;;) {
    const answer = await fn();
    answers.push(answer);
    if (accept(answer)) return { ms: performance.now() - start, answers };
    if (performance.now() - start > withinMs) {
      const last = answer as Partial<TestResponse>;
      const text = last?.text !== undefined ? show(last as TestResponse) : JSON.stringify(answer);
      throw new Error(`no accepted answer within ${withinMs} ms; last: ${text}`);
    }
    await sleep(everyMs);
  }
}

/** Backends of `dbName` waiting for a lock while running a statement that matches `like`. */
const lockWaiters = (dbName: string, like: string) =>
  query<{ pid: number }>(
    TEST_DATABASE_URL,
    `SELECT pid FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'
       AND query LIKE $2`,
    [dbName, like],
  );

const backendGone = (pid: number) =>
  until(
    () => query(TEST_DATABASE_URL, 'SELECT 1 FROM pg_stat_activity WHERE pid = $1', [pid]),
    (rows) => rows.length === 0,
    5000,
  );

describeWithPostgres('strikes while the database is unreachable (fail closed)', () => {
  let db: TestDatabase;
  const observed: string[] = [];

  beforeAll(async () => {
    db = await createTestDatabase('strikeout');
  });
  afterAll(async () => {
    await db?.drop();
    if (observed.length) console.log(observed.join('\n'));
  });

  /** A service process of its own, reaching the suite's database through a proxy of its own. */
  async function serviceBehindProxy(): Promise<{ svc: ServiceProcess; proxy: TcpProxy }> {
    const proxy = new TcpProxy();
    const through = new URL(db.url);
    through.port = String(await proxy.start());
    const svc = await startService({
      env: {
        DATABASE_URL: through.toString(),
        STRIKES_TERMINATE_AT: '1000',
        STRIKES_BLOCK_AT: '1000',
      },
    });
    return { svc, proxy };
  }

  const me = (svc: ServiceProcess, token: string) => send(svc.base, 'GET', '/me', { token });
  const probe = (svc: ServiceProcess, token: string) =>
    send(svc.base, 'GET', '/admin/strikes', { token });
  const healthy = (svc: ServiceProcess) =>
    until(
      () => send(svc.base, 'GET', '/health'),
      (r) => r.status === 200,
      10_000,
      50,
    );
  const counter = async (userId: string) => {
    const [row] = await query<{ count: number; blocker: number }>(
      db.url,
      'SELECT count, blocker FROM strike_counters WHERE user_id = $1',
      [userId],
    );
    const [{ n }] = await query<{ n: number }>(
      db.url,
      `SELECT count(*)::int AS n FROM audit_events WHERE user_id = $1 AND type = 'strike.recorded'`,
      [userId],
    );
    return { ...row, events: n };
  };

  describe('one service process through several outages', () => {
    let svc: ServiceProcess;
    let proxy: TcpProxy;
    // TcpProxy.restore() pipes every live link again, also the links already forwarding (their
    // traffic is then sent twice): restore only a cut link.
    let isCut = false;
    const cut = () => {
      proxy.cut('refuse');
      isCut = true;
    };
    const restore = () => {
      if (isCut) proxy.restore();
      isCut = false;
    };

    beforeAll(async () => {
      ({ svc, proxy } = await serviceBehindProxy());
    });
    afterAll(async () => {
      await svc?.kill();
      await proxy?.close();
    });
    // Every test starts from a healthy service, whatever the one before it did to the link.
    afterEach(async () => {
      restore();
      await healthy(svc);
    });

    it('answers /me and /admin/strikes 503 from the strike guard once the link is cut (never 200, 403 or 500), and serves them again after restore without a restart', async () => {
      const user = await registerAndLogin(svc.base, 'cut');
      // The guard caches the session state, the LISTEN connection is up.
      expect((await me(svc, user.token)).status).toBe(200);
      expect((await me(svc, user.token)).status).toBe(200);
      expect(isCharged(await probe(svc, user.token))).toBe(true);

      cut();
      // Once the cache's invalidation channel is seen down, the guard reads the database: 503.
      const refused = await until(() => me(svc, user.token), isGuard503, 3000);
      observed.push(`cut: the guard answered 503 after ${refused.ms.toFixed(0)} ms`);
      expect(refused.answers.filter((r) => r.status !== 503).map(show)).toEqual([]);

      // For a second, every protected call is refused by the guard: nothing gets through, no
      // violation is answered 403 without being recorded, nothing is a 500.
      const during: TestResponse[] = [];
      const end = performance.now() + 1000;
      while (performance.now() < end) {
        during.push(...(await Promise.all([me(svc, user.token), probe(svc, user.token)])));
        await sleep(50);
      }
      expect(during.filter((r) => !isGuard503(r)).map(show)).toEqual([]);

      restore();
      const back = await until(
        () => me(svc, user.token),
        (r) => r.status === 200,
        5000,
        50,
      );
      observed.push(`restore: /me answered 200 again after ${back.ms.toFixed(0)} ms`);
      expect(back.answers.filter((r) => r.status !== 200 && r.status !== 503).map(show)).toEqual(
        [],
      );
      expect(isCharged(await probe(svc, user.token))).toBe(true);

      // The two probes answered 403 are counted, once each; none of those answered 503 is.
      expect(await counter(user.id)).toEqual({ count: 2, blocker: 2, events: 2 });
    });

    it('answers 503, not 403, to a violation whose strike cannot be recorded, and does not count it', async () => {
      const user = await registerAndLogin(svc.base, 'unrec');
      expect((await me(svc, user.token)).status).toBe(200);
      // Hold the counter row (outside the proxy), so the probe's strike waits inside its
      // transaction after the role check has already refused it; then cut the link under it.
      const locker = new pg.Client({ connectionString: db.url });
      await locker.connect();
      try {
        await locker.query('BEGIN');
        await locker.query('SELECT 1 FROM strike_counters WHERE user_id = $1 FOR UPDATE', [
          user.id,
        ]);
        const pending = probe(svc, user.token);
        const waiting = await until(
          () => lockWaiters(db.name, '%strike_counters%'),
          (rows) => rows.length === 1,
          5000,
        );
        const [{ pid }] = waiting.answers.at(-1)!;

        cut();
        const res = await pending;
        expect(res.body).toEqual({
          statusCode: 503,
          error: 'Service Unavailable',
          message: expect.stringContaining('violation could not be recorded'),
          reason: 'database_unavailable',
        });

        // Let the orphaned backend run on: it never got a COMMIT, so it must roll back.
        await locker.query('ROLLBACK');
        await backendGone(pid);
      } finally {
        await locker.end();
      }
      expect(await counter(user.id)).toEqual({ count: 0, blocker: 0, events: 0 });

      restore();
      await healthy(svc);
      await until(
        () => me(svc, user.token),
        (r) => r.status === 200,
        5000,
        50,
      );
      expect(isCharged(await probe(svc, user.token))).toBe(true);
      expect(await counter(user.id)).toEqual({ count: 1, blocker: 1, events: 1 });
    });

    it('never lets a terminated session through during the outage: 503 while cut, 401 session_terminated after', async () => {
      const user = await registerAndLogin(svc.base, 'dead');
      expect((await send(svc.base, 'POST', '/auth/logout', { token: user.token })).status).toBe(
        204,
      );
      expect((await me(svc, user.token)).body?.reason).toBe('session_terminated');

      cut();
      await until(() => me(svc, user.token), isGuard503, 3000);
      const during = await Promise.all([me(svc, user.token), probe(svc, user.token)]);
      expect(during.filter((r) => !isGuard503(r)).map(show)).toEqual([]);

      restore();
      const after = await until(
        () => me(svc, user.token),
        (r) => r.status !== 503,
        5000,
        50,
      );
      expect(after.answers.at(-1)!.body).toMatchObject({
        statusCode: 401,
        reason: 'session_terminated',
      });
      expect((await counter(user.id)).blocker).toBe(0);
    });

    it('does not trust its cache after the outage: a session ended elsewhere while the link was down is refused after it', async () => {
      const user = await registerAndLogin(svc.base, 'missed');
      expect((await me(svc, user.token)).status).toBe(200); // cached: active, this token's version

      cut();
      await until(() => me(svc, user.token), isGuard503, 3000);
      // Another instance ends the user's sessions meanwhile; its notification cannot reach us.
      await query(
        db.url,
        `UPDATE strike_counters SET session_version = session_version + 1 WHERE user_id = $1`,
        [user.id],
      );
      await query(db.url, `SELECT pg_notify('strikeguard_sessions', $1)`, [user.id]);

      restore();
      const after = await until(
        () => me(svc, user.token),
        (r) => r.status !== 503,
        5000,
        50,
      );
      expect(after.answers.at(-1)!.body).toMatchObject({
        statusCode: 401,
        reason: 'session_terminated',
      });
      // And it stays so once the invalidation channel is back and the cache is used again.
      await sleep(1500);
      expect((await me(svc, user.token)).body?.reason).toBe('session_terminated');
    });
  });

  describe('a transaction broken half-way (a process of its own per test)', () => {
    const links: TcpProxy[] = [];
    // The process is killed after the test by the helper; its proxy goes with it.
    afterEach(async () => {
      await Promise.all(links.splice(0).map((l) => l.close()));
    });

    it('keeps probes flowing across a cut and a restore: only 403 or 503, and every 403 counted exactly once', async () => {
      const { svc, proxy } = await serviceBehindProxy();
      links.push(proxy);
      const user = await registerAndLogin(svc.base, 'stream');
      expect((await me(svc, user.token)).status).toBe(200);
      const answers: TestResponse[] = [];
      let stop = false;
      const workers = Array.from({ length: 4 }, async () => {
        while (!stop) {
          answers.push(await probe(svc, user.token));
          await sleep(15);
        }
      });
      await sleep(300);
      proxy.cut('refuse');
      await sleep(1000);
      proxy.restore();
      const restoredAt = answers.length;
      // Run on until a few strikes have been charged after the restore.
      const deadline = performance.now() + 8000;
      while (
        answers.slice(restoredAt).filter(isCharged).length < 8 &&
        performance.now() < deadline
      ) {
        await sleep(50);
      }
      stop = true;
      await Promise.all(workers);

      const charged = answers.filter(isCharged).length;
      const inDoubt = answers.filter(isUnrecorded503).length;
      const c = await counter(user.id);
      observed.push(
        `stream: ${answers.length} probes, ${charged} answered 403, ${answers.length - charged} not (${inDoubt} of them "violation could not be recorded"); counter ${c.blocker}`,
      );
      expect(answers.filter((r) => !isCharged(r) && r.status !== 503).map(show)).toEqual([]);
      expect(answers.slice(restoredAt).filter(isCharged).length).toBeGreaterThanOrEqual(8);
      expect(answers.slice(0, restoredAt).some((r) => r.status === 503)).toBe(true);
      // A strike answered 403 is never lost nor doubled. Only a 503 whose commit was under way when
      // the link broke may have been committed after all (its client could not learn the outcome).
      expect(c.events).toBe(c.blocker);
      expect(c.count).toBe(c.blocker);
      expect(c.blocker).toBeGreaterThanOrEqual(charged);
      expect(c.blocker).toBeLessThanOrEqual(charged + inDoubt);
    });

    it('keeps answering after a registration died holding its place in the audit log (link cut between its audit append and its commit)', async () => {
      const { svc, proxy } = await serviceBehindProxy();
      links.push(proxy);
      const user = await registerAndLogin(svc.base, 'logslot');
      expect((await me(svc, user.token)).status).toBe(200);

      // A registration appends `user.registered` (locking the chain head and reserving its place
      // in the log file), then enrolls the counter: that insert waits on this lock while the link
      // breaks under it.
      const locker = new pg.Client({ connectionString: db.url });
      await locker.connect();
      try {
        await locker.query('BEGIN');
        await locker.query('LOCK TABLE strike_counters IN SHARE MODE');
        const pending = send(svc.base, 'POST', '/auth/register', {
          body: { username: uniqueUsername('cutreg'), password: PASSWORD },
        });
        const waiting = await until(
          () => lockWaiters(db.name, 'INSERT INTO strike_counters%'),
          (rows) => rows.length === 1,
          5000,
        );
        const [{ pid }] = waiting.answers.at(-1)!;
        proxy.cut('refuse');
        expect((await pending).status).toBe(503);
        await locker.query('ROLLBACK');
        await backendGone(pid);
      } finally {
        await locker.end();
      }
      proxy.restore();
      await healthy(svc);

      // The next strike and the next registration are committed, written to the log and answered.
      const after = await probe(svc, user.token);
      const registered = await send(svc.base, 'POST', '/auth/register', {
        body: { username: uniqueUsername('logslot'), password: PASSWORD },
      });
      const logged = readAuditLog(path.join(svc.dir, 'audit')).filter(
        (r) => r.userId === user.id && r.type === 'strike.recorded',
      );
      expect({
        strike: show(after),
        register: show(registered),
        counter: await counter(user.id),
        strikesInLogFile: logged.length,
      }).toEqual({
        strike: expect.stringMatching(/^403 /),
        register: expect.stringMatching(/^201 /),
        counter: { count: 1, blocker: 1, events: 1 },
        strikesInLogFile: 1,
      });
    });
  });
});
