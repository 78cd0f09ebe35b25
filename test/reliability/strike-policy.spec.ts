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

// Issue 12 on two service processes sharing one PostgreSQL: monitor mode (everything counted
// and recorded as simulated, nothing refused) and timed blocks (ending on every instance within
// 100 ms of their end, by the system, escalating to a permanent block).

const ADMIN = { username: 'policy-admin', password: 'Pol1cy-Adm1n-Passw0rd!' };
const WITHIN_MS = 100;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function startPair(db: TestDatabase, env: Record<string, string>) {
  const full = {
    DATABASE_URL: db.url,
    DATABASE_POOL_SIZE: '6',
    ADMIN_USERNAME: ADMIN.username,
    ADMIN_PASSWORD: ADMIN.password,
    ...env,
  };
  return Promise.all([startService({ env: full }), startService({ env: full })]);
}

const login = (base: string, username: string, password = PASSWORD) =>
  request(base, 'POST', '/auth/login', { body: { username, password } });
async function tokenOf(base: string, username: string, password = PASSWORD) {
  const res = await login(base, username, password);
  if (res.status !== 200) throw new Error(`login of ${username}: ${res.status} ${res.text}`);
  return res.body.accessToken as string;
}
/** A plain user probing an admin route: 403, one strike. */
const probe = (base: string, token: string) => request(base, 'GET', '/admin/strikes', { token });
const me = (base: string, token: string) => request(base, 'GET', '/me', { token });
const isCharged = (res: TestResponse) =>
  res.status === 403 && res.body?.message === 'this route requires the role admin';

interface Event {
  id: number;
  type: string;
  actorId: string | null;
  details: Record<string, any>;
}
const events = (url: string, userId: string, types: string[]) =>
  query<Event>(
    url,
    `SELECT id::int AS id, type, actor_id AS "actorId", details FROM audit_events
      WHERE user_id = $1 AND type = ANY($2::text[]) ORDER BY id`,
    [userId, types],
  );

describeWithPostgres('strike policy on two service processes (issue 12)', () => {
  const databases: TestDatabase[] = [];
  let monitor: ServiceProcess[] = [];
  let timed: ServiceProcess[] = [];

  beforeAll(async () => {
    databases.push(
      ...(await Promise.all([createTestDatabase('sgmonitor'), createTestDatabase('sgtimed')])),
    );
    [monitor, timed] = await Promise.all([
      startPair(databases[0], { STRIKES_MODE: 'monitor' }),
      startPair(databases[1], {
        STRIKES_TERMINATE_AT: '1000',
        STRIKES_BLOCK_AT: '2',
        STRIKES_BLOCK_FOR: '2s',
        STRIKES_PERMANENT_AFTER: '2',
        // The test polls the login of a blocked account: not a guesser to slow down.
        LOGIN_THROTTLE: 'false',
      }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([...monitor, ...timed].map((s) => s.kill()));
    for (const db of databases) await db.drop();
  });

  describe('STRIKES_MODE=monitor', () => {
    let admin: string;
    beforeAll(async () => {
      admin = await tokenOf(monitor[0].base, ADMIN.username, ADMIN.password);
    });
    const counter = async (userId: string) =>
      (await request(monitor[0].base, 'GET', `/admin/strikes/${userId}`, { token: admin })).body;

    it('records the 3 and 12 crossings as simulated, and the token, the login and the account keep working', async () => {
      const [a, b] = monitor;
      const user = await registerAndLogin(a.base, 'monitored');
      for (let i = 1; i <= 13; i++) {
        const res = await probe((i % 2 ? a : b).base, user.token);
        expect([i, isCharged(res)]).toEqual([i, true]); // never 401 or 403 account_blocked
      }
      for (const s of monitor) expect((await me(s.base, user.token)).status).toBe(200);
      expect((await login(b.base, user.username)).status).toBe(200);
      const recorded = await events(databases[0].url, user.id, [
        'session.terminated',
        'account.blocked',
      ]);
      expect(recorded.map((e) => [e.type, e.details.simulated])).toEqual([
        ['session.terminated', true],
        ['session.terminated', true],
        ['session.terminated', true],
        ['session.terminated', true],
        ['account.blocked', true],
      ]);
      // The admin view says what would have happened; nothing is refused.
      expect(await counter(user.id)).toMatchObject({
        status: 'active',
        simulatedBlock: true,
        blockedAt: expect.any(String),
        blocker: 13,
        total: 13,
        count: 1,
      });
      const blocked = await request(a.base, 'GET', '/admin/strikes?status=blocked', {
        token: admin,
      });
      expect(blocked.body.items.map((c: { userId: string }) => c.userId)).not.toContain(user.id);
      // An admin "unblock" clears the simulated block, recorded as such.
      const unblock = await request(a.base, 'POST', `/admin/strikes/${user.id}/unblock`, {
        token: admin,
        body: { reason: 'monitor review' },
      });
      expect(unblock.status).toBe(200);
      expect(unblock.body).toMatchObject({ simulatedBlock: false, blocker: 0, total: 13 });
      const [unblocked] = await events(databases[0].url, user.id, ['account.unblocked']);
      expect(unblocked.details).toMatchObject({ simulated: true, wasBlocked: false });
    });

    it('60 strikes racing with one token over both processes: every one charged, counters exact, 20 simulated terminations, one simulated block', async () => {
      const [a, b] = monitor;
      const user = await registerAndLogin(a.base, 'monrace');
      const responses = await Promise.all(
        Array.from({ length: 60 }, (_, i) => probe((i % 2 ? a : b).base, user.token)),
      );
      expect(responses.filter((r) => !isCharged(r))).toEqual([]);
      expect(await counter(user.id)).toMatchObject({
        blocker: 60,
        total: 60,
        count: 0,
        simulatedBlock: true,
        status: 'active',
      });
      const recorded = await events(databases[0].url, user.id, [
        'strike.recorded',
        'session.terminated',
        'account.blocked',
      ]);
      const strikes = recorded.filter((e) => e.type === 'strike.recorded');
      expect(strikes.map((e) => e.details.blocker as number).sort((x, y) => x - y)).toEqual(
        Array.from({ length: 60 }, (_, i) => i + 1),
      );
      const terminations = recorded.filter((e) => e.type === 'session.terminated');
      expect(terminations).toHaveLength(20);
      expect(terminations.every((e) => e.details.simulated === true)).toBe(true);
      const blocks = recorded.filter((e) => e.type === 'account.blocked');
      expect(blocks).toHaveLength(1);
      expect(blocks[0].details).toMatchObject({ simulated: true, blocker: 12 });
      for (const s of monitor) expect((await me(s.base, user.token)).status).toBe(200);
    });
  });

  describe('STRIKES_BLOCK_FOR=2s, STRIKES_PERMANENT_AFTER=2 (block at 2 strikes)', () => {
    let admin: string;
    beforeAll(async () => {
      admin = await tokenOf(timed[0].base, ADMIN.username, ADMIN.password);
    });

    /**
     * Polls the login on `base` every ~10 ms until it is 200; answers when the accepted attempt was
     * sent, and checks every earlier answer was 403 account_blocked.
     */
    async function firstLogin(base: string, username: string, giveUpAt: number) {
      for (;;) {
        const sentAt = Date.now();
        const res = await login(base, username);
        if (res.status === 200) return { sentAt, answeredAt: Date.now() };
        expect([res.status, res.body?.reason]).toEqual([403, 'account_blocked']);
        if (Date.now() > giveUpAt) throw new Error(`still blocked at ${new Date().toISOString()}`);
        await sleep(10);
      }
    }

    it(`a timed block ends by itself on every instance within ${WITHIN_MS} ms of its end, recorded once by the system; the third is permanent`, async () => {
      const [a, b] = timed;
      const user = await registerAndLogin(a.base, 'timed');
      const counter = async () =>
        (await request(b.base, 'GET', `/admin/strikes/${user.id}`, { token: admin })).body;
      const observed: string[] = [];
      for (let round = 1; round <= 2; round++) {
        const token = await tokenOf(a.base, user.username);
        for (let i = 0; i < 2; i++) expect(isCharged(await probe(a.base, token))).toBe(true);
        const c = await counter();
        expect(c).toMatchObject({ status: 'blocked', timedBlocks: round, simulatedBlock: false });
        const until = Date.parse(c.blockedUntil);
        expect(until - Date.parse(c.blockedAt)).toBe(2000);
        for (const s of timed) {
          const res = await me(s.base, token);
          expect([res.status, res.body.reason]).toEqual([403, 'account_blocked']);
        }
        // Both instances, polled side by side: refused until the end, let in within 100 ms.
        const [onA, onB] = await Promise.all(
          [a, b].map((s) => firstLogin(s.base, user.username, until + 3000)),
        );
        for (const seen of [onA, onB]) {
          // Let in no earlier than the end (the answer came after it: both clocks are this
          // machine's), and by an attempt sent at most 100 ms after it.
          expect(seen.answeredAt).toBeGreaterThanOrEqual(until);
          expect(seen.sentAt - until).toBeLessThanOrEqual(WITHIN_MS);
        }
        observed.push(
          `block ${round}: let in by attempts sent ${onA.sentAt - until} ms (A), ${onB.sentAt - until} ms (B) after its end`,
        );
        // The sweeper records the end once, whichever instance got there, with the system as actor.
        let ended: Event[] = [];
        for (let i = 0; i < 100 && ended.length < round; i++) {
          ended = await events(databases[1].url, user.id, ['account.unblocked']);
          if (ended.length < round) await sleep(50);
        }
        expect(ended).toHaveLength(round);
        expect(ended[round - 1]).toMatchObject({
          actorId: 'system',
          details: { reason: 'block_expired', by: 'system' },
        });
        expect(await counter()).toMatchObject({
          status: 'active',
          blocker: 0,
          timedBlocks: round,
          blockedUntil: null,
        });
      }
      // After 2 timed blocks the next waits for an admin.
      const token = await tokenOf(a.base, user.username);
      for (let i = 0; i < 2; i++) expect(isCharged(await probe(a.base, token))).toBe(true);
      expect(await counter()).toMatchObject({ status: 'blocked', blockedUntil: null });
      const [permanent] = (await events(databases[1].url, user.id, ['account.blocked'])).slice(-1);
      expect(permanent.details).toMatchObject({ blockedUntil: null, timedBlocks: 2 });
      await sleep(2500);
      for (const s of timed) {
        const res = await login(s.base, user.username);
        expect([res.status, res.body.reason]).toEqual([403, 'account_blocked']);
      }
      expect(await events(databases[1].url, user.id, ['account.unblocked'])).toHaveLength(2);
      const unblock = await request(b.base, 'POST', `/admin/strikes/${user.id}/unblock`, {
        token: admin,
        body: { reason: 'reviewed' },
      });
      expect(unblock.body).toMatchObject({ status: 'active', timedBlocks: 0 });
      expect((await login(a.base, user.username)).status).toBe(200);
      console.log(observed.join('\n'));
    });
  });
});
