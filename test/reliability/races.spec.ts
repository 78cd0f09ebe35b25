import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { readAuditLog } from '../support/audit-files.js';
import { request, type TestResponse } from '../support/http.js';
import {
  createTestDatabase,
  describeWithPostgres,
  query,
  type TestDatabase,
} from '../support/postgres.js';
import {
  PASSWORD,
  registerAndLogin,
  startService,
  type ServiceProcess,
} from '../support/service-process.js';

// Two service processes on one database, one JWT_SECRET (the helper's default), each with its own
// AUDIT_LOG_DIR (the helper's default: `<dir>/audit`). DESIGN §2: N weight-1 strikes racing for
// one user leave blocker = N and floor(N / 3) terminations, on one instance or several; §5: a
// terminated or blocked session is refused within 100 ms on every other instance.

const ADMIN = { username: 'race-admin', password: 'Race-Adm1n-Passw0rd!' };
const OUT_OF_REACH = '1000000';
/** Cross-instance refusal deadline (DESIGN §5). */
const WITHIN_MS = 100;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type User = { id: string; username: string; token: string };

/** Starts two processes on `db` with the given thresholds; they share the database only. */
async function startPair(
  db: TestDatabase,
  thresholds: Record<string, string>,
): Promise<[ServiceProcess, ServiceProcess]> {
  const env = {
    DATABASE_URL: db.url,
    // 2 × 2 processes stay far below max_connections while other suites run beside this one.
    DATABASE_POOL_SIZE: '6',
    ADMIN_USERNAME: ADMIN.username,
    ADMIN_PASSWORD: ADMIN.password,
    ...thresholds,
  };
  const [a, b] = await Promise.all([startService({ env }), startService({ env })]);
  return [a, b];
}

async function login(base: string, username: string, password = PASSWORD) {
  return request(base, 'POST', '/auth/login', { body: { username, password } });
}

async function tokenOf(base: string, username: string, password = PASSWORD): Promise<string> {
  const res = await login(base, username, password);
  if (res.status !== 200) throw new Error(`login of ${username} failed: ${res.status} ${res.text}`);
  return res.body.accessToken;
}

/** A plain user probing an admin route: 403, charged as one strike. */
const probe = (base: string, token: string) => request(base, 'GET', '/admin/strikes', { token });
const me = (base: string, token: string) => request(base, 'GET', '/me', { token });

/** The role check's 403, i.e. a charged violation (the module's own refusals carry a reason). */
const isCharged = (res: TestResponse) =>
  res.status === 403 &&
  res.body?.reason === undefined &&
  res.body?.message === 'this route requires the role admin';
const isRefused = (res: TestResponse, status: number, reason: string) =>
  res.status === status && res.body?.reason === reason;

/** Registers `n` users on the given services in turn, a few at a time (argon2 is costly). */
async function registerUsers(services: ServiceProcess[], n: number, prefix: string) {
  const users: User[] = [];
  for (let i = 0; i < n; i += 10) {
    const batch = Array.from({ length: Math.min(10, n - i) }, (_, j) =>
      registerAndLogin(services[(i + j) % services.length].base, prefix),
    );
    users.push(...(await Promise.all(batch)));
  }
  return users;
}

interface StrikeEvent {
  id: number;
  userId: string;
  type: string;
  details: Record<string, any>;
}

/** The strike engine's events of these users, in chain order. */
function strikeEvents(url: string, userIds: string[]): Promise<StrikeEvent[]> {
  return query<StrikeEvent>(
    url,
    `SELECT id::int AS id, user_id AS "userId", type, details FROM audit_events
     WHERE user_id = ANY($1::text[])
       AND type IN ('strike.recorded', 'session.terminated', 'account.blocked')
     ORDER BY id`,
    [userIds],
  );
}

/** The counters of these users, by user id. */
async function counters(url: string, userIds: string[]) {
  const rows = await query<{ userId: string; count: number; blocker: number; status: string }>(
    url,
    `SELECT user_id AS "userId", count, blocker, status FROM strike_counters
     WHERE user_id = ANY($1::text[])`,
    [userIds],
  );
  return new Map(rows.map((r) => [r.userId, r]));
}

const ms = (seen: { latencyMs: number; sentMs: number; before: unknown[] }) =>
  `request sent at +${seen.sentMs.toFixed(1)} ms, answered at +${seen.latencyMs.toFixed(1)} ms, after ${seen.before.length} earlier polls`;
const range = (from: number, to: number) =>
  Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
const ofType = (events: StrikeEvent[], type: string) => events.filter((e) => e.type === type);
/** The `blocker` value each strike.recorded event saw, sorted. */
const blockerValues = (events: StrikeEvent[]) =>
  ofType(events, 'strike.recorded')
    .map((e) => e.details.blocker as number)
    .sort((x, y) => x - y);

/** Ids of the records of these users in the log files of both processes (each file its own share). */
function loggedIds(services: ServiceProcess[], userIds: string[], types: string[]): number[] {
  const wanted = new Set(userIds);
  return services
    .flatMap((s) => readAuditLog(path.join(s.dir, 'audit')))
    .filter((r) => wanted.has(r.userId) && types.includes(r.type))
    .map((r) => r.id as number)
    .sort((x, y) => x - y);
}

/**
 * Polls `send` every ~10 ms until `accept` holds. `sentMs` runs from `since` to when the accepted
 * request was sent: every request sent before it was answered the old way, so the change had
 * reached the other instance by the time that request was served. `latencyMs` runs to its arrival
 * (an upper bound that includes the round trip, which alone exceeds 100 ms on a saturated 2-core
 * machine). The responses before it are returned so the test can check them.
 */
async function pollUntil(
  send: () => Promise<TestResponse>,
  accept: (res: TestResponse) => boolean,
  since: number,
  giveUpMs = 3000,
): Promise<{ latencyMs: number; sentMs: number; before: TestResponse[] }> {
  const before: TestResponse[] = [];
  for (;;) {
    const sentAt = performance.now();
    const res = await send();
    const now = performance.now();
    if (accept(res)) return { latencyMs: now - since, sentMs: sentAt - since, before };
    before.push(res);
    if (now - since > giveUpMs) {
      throw new Error(
        `still not changed ${Math.round(now - since)} ms later; last answer ${res.status} ${res.text}`,
      );
    }
    await sleep(10);
  }
}

describeWithPostgres('strike counters raced through two service processes on one database', () => {
  // Two pairs, each on a fresh database of its own, started together to save a start-up round.
  const databases: TestDatabase[] = [];
  let highPair: ServiceProcess[] = [];
  let defaultPair: ServiceProcess[] = [];

  beforeAll(async () => {
    const [high, dflt] = await Promise.all([
      createTestDatabase('strikerace'),
      createTestDatabase('strikexinst'),
    ]);
    databases.push(high, dflt);
    [highPair, defaultPair] = await Promise.all([
      startPair(high, { STRIKES_TERMINATE_AT: OUT_OF_REACH, STRIKES_BLOCK_AT: OUT_OF_REACH }),
      startPair(dflt, {}),
    ]);
  });
  afterAll(async () => {
    await Promise.all([...highPair, ...defaultPair].map((s) => s.kill()));
    for (const db of databases) await db.drop();
  });

  describe('with thresholds out of reach (STRIKES_TERMINATE_AT = STRIKES_BLOCK_AT = 1,000,000)', () => {
    let db: TestDatabase;
    let services: ServiceProcess[];

    beforeAll(() => {
      db = databases[0];
      services = highPair;
    });

    it('300 strikes racing for one user with one token over both processes: blocker = count = 300, one strike.recorded per increment', async () => {
      const N = 300;
      const user = await registerAndLogin(services[0].base, 'race');
      // Both guards hold the session state in their cache before the race.
      for (const s of services) expect((await me(s.base, user.token)).status).toBe(200);

      const responses = await Promise.all(
        range(1, N).map((i) => probe(services[i % 2].base, user.token)),
      );

      const odd = responses.filter((r) => !isCharged(r)).map((r) => `${r.status} ${r.text}`);
      expect(odd).toEqual([]);
      const admin = await tokenOf(services[1].base, ADMIN.username, ADMIN.password);
      const counter = await request(services[1].base, 'GET', `/admin/strikes/${user.id}`, {
        token: admin,
      });
      expect(counter.body).toMatchObject({
        userId: user.id,
        count: N,
        blocker: N,
        status: 'active',
      });

      // Each increment was seen by exactly one statement and recorded by exactly one event.
      const events = await strikeEvents(db.url, [user.id]);
      expect(events.map((e) => e.type)).toEqual(Array(N).fill('strike.recorded'));
      expect(blockerValues(events)).toEqual(range(1, N));
      expect(events.map((e) => e.details.count).sort((x, y) => x - y)).toEqual(range(1, N));
      // Both processes charged some, and each record is in exactly one process's log file.
      const [{ instances }] = await query<{ instances: number }>(
        db.url,
        `SELECT count(DISTINCT instance_id)::int AS instances FROM audit_events
         WHERE user_id = $1 AND type = 'strike.recorded'`,
        [user.id],
      );
      expect(instances).toBe(2);
      expect(loggedIds(services, [user.id], ['strike.recorded'])).toEqual(events.map((e) => e.id));
    });

    it('1,000 strikes racing over 25 users × 40 through both processes: no counter drifts, events match counters one to one', async () => {
      const USERS = 25;
      const PER_USER = 40;
      const users = await registerUsers(services, USERS, 'many');
      const ids = users.map((u) => u.id);

      // Interleaved: user k's j-th strike goes to process (k + j) % 2.
      const sends = range(0, PER_USER - 1).flatMap((j) =>
        users.map((u, k) => ({ user: u, base: services[(k + j) % 2].base })),
      );
      const responses = await Promise.all(sends.map((s) => probe(s.base, s.user.token)));

      const charged = new Map<string, number>(ids.map((id) => [id, 0]));
      const odd: string[] = [];
      responses.forEach((res, i) => {
        if (isCharged(res)) charged.set(sends[i].user.id, charged.get(sends[i].user.id)! + 1);
        else odd.push(`${res.status} ${res.text}`);
      });
      expect(odd).toEqual([]);

      const byUser = await counters(db.url, ids);
      const events = await strikeEvents(db.url, ids);
      const drift: string[] = [];
      for (const id of ids) {
        const c = byUser.get(id);
        const mine = events.filter((e) => e.userId === id);
        const expected = charged.get(id)!;
        const seen = blockerValues(mine);
        if (
          c?.blocker !== expected ||
          c.count !== expected ||
          mine.length !== expected ||
          seen.join() !== range(1, expected).join()
        ) {
          drift.push(
            `${id}: charged ${expected}, counter ${JSON.stringify(c)}, events ${mine.length} (blocker values ${seen.join(',')})`,
          );
        }
      }
      expect(drift).toEqual([]);
      expect(events).toHaveLength(USERS * PER_USER);
      expect(loggedIds(services, ids, ['strike.recorded'])).toEqual(events.map((e) => e.id));
    });

    it('leaves a chain that verifies on both processes after the races', async () => {
      const admin = await tokenOf(services[0].base, ADMIN.username, ADMIN.password);
      const [{ n }] = await query<{ n: number }>(
        db.url,
        'SELECT count(*)::int AS n FROM audit_events',
      );
      for (const s of services) {
        const res = await request(s.base, 'GET', '/audit/verify', { token: admin });
        expect([s.port, res.body]).toEqual([s.port, { ok: true, checked: n }]);
      }
    });
  });

  describe('with the default thresholds (3 terminate, 12 block)', () => {
    let db: TestDatabase;
    let a: ServiceProcess;
    let b: ServiceProcess;
    let admin: string;
    const observed: string[] = [];

    beforeAll(async () => {
      db = databases[1];
      [a, b] = defaultPair;
      admin = await tokenOf(a.base, ADMIN.username, ADMIN.password);
    });
    afterAll(() => {
      if (observed.length) console.log(observed.join('\n'));
    });

    /** Charges strikes through A one at a time, logging in again after each termination. */
    async function strikeThrough(user: User, strikes: number): Promise<string> {
      let token = user.token;
      for (let i = 1; i <= strikes; i++) {
        const res = await probe(a.base, token);
        if (!isCharged(res)) throw new Error(`strike ${i}: ${res.status} ${res.text}`);
        if (i % 3 === 0 && i < strikes) token = await tokenOf(a.base, user.username);
      }
      return token;
    }

    it('12 strikes racing with one token over both processes: terminations and the block follow exactly from the charged responses', async () => {
      const user = await registerAndLogin(a.base, 'race12');
      for (const s of [a, b]) expect((await me(s.base, user.token)).status).toBe(200);

      // All twelve are sent before any answer arrives; those that pass a guard before a
      // termination is visible are charged, the others are refused (401) and never charged.
      const responses = await Promise.all(
        range(1, 12).map((i) => probe((i % 2 ? a : b).base, user.token)),
      );

      const charged = responses.filter(isCharged).length;
      const refused = responses.filter((r) => isRefused(r, 401, 'session_terminated')).length;
      expect(
        responses.filter((r) => !isCharged(r) && !isRefused(r, 401, 'session_terminated')),
      ).toEqual([]);
      expect(charged + refused).toBe(12);
      expect(charged).toBeGreaterThanOrEqual(3); // the first termination needs three charges

      const c = (await counters(db.url, [user.id])).get(user.id);
      expect(c).toEqual({
        userId: user.id,
        blocker: charged,
        count: charged % 3,
        status: charged >= 12 ? 'blocked' : 'active',
      });
      const events = await strikeEvents(db.url, [user.id]);
      expect(ofType(events, 'strike.recorded')).toHaveLength(charged);
      expect(blockerValues(events)).toEqual(range(1, charged));
      const terminations = ofType(events, 'session.terminated');
      expect(terminations).toHaveLength(Math.floor(charged / 3));
      expect(ofType(events, 'account.blocked')).toHaveLength(charged >= 12 ? 1 : 0);
      // Each termination sits next to the strike that reset the count, with a session version of
      // its own.
      const resets = ofType(events, 'strike.recorded').filter((e) => e.details.count === 0);
      expect(resets.map((e) => e.details.blocker).sort((x, y) => x - y)).toEqual(
        range(1, Math.floor(charged / 3)).map((k) => 3 * k),
      );
      const versions = terminations.map((e) => e.details.sessionVersion);
      expect(new Set(versions).size).toBe(terminations.length);
      // The token is dead everywhere now (or the account blocked, which is refused first).
      for (const s of [a, b]) {
        const res = await me(s.base, user.token);
        if (charged >= 12) expect(isRefused(res, 403, 'account_blocked')).toBe(true);
        else expect(isRefused(res, 401, 'session_terminated')).toBe(true);
      }
      observed.push(`12 racing strikes: ${charged} charged, ${refused} refused with 401`);
    });

    it(`refuses on B, within ${WITHIN_MS} ms, a session terminated through A`, async () => {
      const user = await registerAndLogin(a.base, 'xterm');
      // B's guard holds the active session in its cache; two strikes do not change it.
      expect((await me(b.base, user.token)).status).toBe(200);
      await strikeThrough(user, 2);
      expect((await me(b.base, user.token)).status).toBe(200);

      const third = await probe(a.base, user.token);
      const answeredAt = performance.now();
      expect(isCharged(third)).toBe(true);
      const seen = await pollUntil(
        () => me(b.base, user.token),
        (r) => isRefused(r, 401, 'session_terminated'),
        answeredAt,
      );
      observed.push(`terminated: refused on B ${ms(seen)}`);
      expect(seen.before.map((r) => r.status).filter((s) => s !== 200)).toEqual([]);
      expect(seen.sentMs).toBeLessThan(WITHIN_MS);
      // …and at once on A, which terminated it.
      expect(isRefused(await me(a.base, user.token), 401, 'session_terminated')).toBe(true);
    });

    it(`refuses on B, within ${WITHIN_MS} ms, an account blocked through A`, async () => {
      const user = await registerAndLogin(a.base, 'xblock');
      const token = await strikeThrough(user, 11);
      expect((await me(b.base, token)).status).toBe(200);

      const twelfth = await probe(a.base, token);
      const answeredAt = performance.now();
      expect(isCharged(twelfth)).toBe(true);
      const seen = await pollUntil(
        () => me(b.base, token),
        (r) => isRefused(r, 403, 'account_blocked'),
        answeredAt,
      );
      observed.push(`blocked: refused on B ${ms(seen)}`);
      expect(seen.before.map((r) => r.status).filter((s) => s !== 200)).toEqual([]);
      expect(seen.sentMs).toBeLessThan(WITHIN_MS);
      expect(isRefused(await me(a.base, token), 403, 'account_blocked')).toBe(true);
      expect(isRefused(await login(b.base, user.username), 403, 'account_blocked')).toBe(true);
    });

    it(`lets the account in on B, within ${WITHIN_MS} ms, after an unblock through A`, async () => {
      const user = await registerAndLogin(a.base, 'xunblock');
      const old = await strikeThrough(user, 12);
      // B has seen the block: its guard and its login refuse the account.
      expect(isRefused(await me(b.base, old), 403, 'account_blocked')).toBe(true);
      expect(isRefused(await login(b.base, user.username), 403, 'account_blocked')).toBe(true);

      const un = await request(a.base, 'POST', `/admin/strikes/${user.id}/unblock`, {
        token: admin,
        body: { reason: 'reviewed in the concurrency suite' },
      });
      const answeredAt = performance.now();
      expect(un.status).toBe(200);
      expect(un.body).toMatchObject({ count: 0, blocker: 0, status: 'active', blockedAt: null });
      // B's guard: the token from before is no longer refused as blocked but as terminated (the
      // unblock bumped the session version); B's login: accepted at the first attempt.
      const [guard, fresh] = await Promise.all([
        pollUntil(
          () => me(b.base, old),
          (r) => isRefused(r, 401, 'session_terminated'),
          answeredAt,
        ),
        pollUntil(
          () => login(b.base, user.username),
          (r) => r.status === 200,
          answeredAt,
        ),
      ]);
      observed.push(
        `unblocked: B's guard ${ms(guard)}; B's login accepted, ${ms(fresh)} (argon2 included)`,
      );
      expect(guard.before.filter((r) => !isRefused(r, 403, 'account_blocked'))).toEqual([]);
      expect(guard.sentMs).toBeLessThan(WITHIN_MS);
      expect(fresh.before.map((r) => `${r.status} ${r.text}`)).toEqual([]);

      const token = (await login(b.base, user.username)).body.accessToken;
      expect((await me(b.base, token)).status).toBe(200);
      expect(isRefused(await me(a.base, old), 401, 'session_terminated')).toBe(true);
    });
  });
});
