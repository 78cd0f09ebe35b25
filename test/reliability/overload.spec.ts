import pg from 'pg';
import { AuditService, StrikesService } from '../../src/index.js';
import { externalEvent, readAuditLog } from '../support/audit-files.js';
import { request, type TestResponse } from '../support/http.js';
import {
  createTestDatabase,
  describeWithPostgres,
  query,
  type TestDatabase,
} from '../support/postgres.js';
import { adminEnv, adminToken, newUser, startTestApp, type TestApp } from '../support/test-app.js';

const MAX_VIOLATIONS = 4;
const MAX_EVENTS = 10;

/** The body and header of a refusal for load: 503, `overloaded`, and when to come back. */
function expectOverloaded(res: TestResponse): void {
  expect(res.status).toBe(503);
  expect(res.body).toMatchObject({
    statusCode: 503,
    error: 'Service Unavailable',
    reason: 'overloaded',
    message: expect.stringMatching(/try again later/),
  });
  expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
}

describeWithPostgres(
  'bounded queues: past the bound 503 + Retry-After, nothing acknowledged lost',
  () => {
    let db: TestDatabase;
    let svc: TestApp;
    let admin: string;
    let users: { id: string; token: string }[];

    beforeAll(async () => {
      db = await createTestDatabase('overload');
      svc = await startTestApp(db.url, {
        ...adminEnv(),
        STRIKES_MAX_PENDING_VIOLATIONS: String(MAX_VIOLATIONS),
        AUDIT_MAX_PENDING_EVENTS: String(MAX_EVENTS),
        // No session dies mid-test: every accepted violation is one more on the same counters.
        STRIKES_TERMINATE_AT: '1000000',
        STRIKES_BLOCK_AT: '1000000',
        // The tests hold locks for a while: no query may time out meanwhile.
        DATABASE_QUERY_TIMEOUT_MS: '60000',
      });
      admin = await adminToken(svc.base);
      users = [];
      for (let i = 0; i < 6; i++) users.push(await newUser(svc.base));
      // Every session state cached: the guard needs no database read under the held locks.
      for (const u of users)
        expect((await request(svc.base, 'GET', '/me', { token: u.token })).status).toBe(200);
    });
    afterAll(async () => {
      await svc?.close();
      await db?.drop();
    });

    /** Resolves once `condition` holds (polled); throws after 10 s. */
    async function until(condition: () => boolean): Promise<void> {
      for (let i = 0; i < 400; i++) {
        if (condition()) return;
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error('condition not reached in 10 s');
    }

    /** Runs `work` while a transaction holds `lockSql`'s row locks; answers what `work` answered. */
    async function whileLocked<T>(lockSql: string, params: unknown[], work: () => Promise<T>) {
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      try {
        await client.query('BEGIN');
        await client.query(lockSql, params);
        return await work();
      } finally {
        await client.query('ROLLBACK').catch(() => undefined);
        await client.end();
      }
    }

    const probe = (token: string) => request(svc.base, 'GET', '/admin/strikes', { token });
    const counters = async () =>
      new Map(
        (
          await query<{ user_id: string; count: number; blocker: number }>(
            db.url,
            'SELECT user_id, count, blocker FROM strike_counters WHERE user_id = ANY($1)',
            [users.map((u) => u.id)],
          )
        ).map((r) => [r.user_id, r]),
      );
    const strikeRows = async () =>
      (
        await query<{ user_id: string }>(
          db.url,
          `SELECT user_id FROM audit_events WHERE type = 'strike.recorded' AND user_id = ANY($1)`,
          [users.map((u) => u.id)],
        )
      ).map((r) => r.user_id);
    const strikeLines = () =>
      readAuditLog(svc.auditDir)
        .filter((r) => r.type === 'strike.recorded' && users.some((u) => u.id === r.userId))
        .map((r) => r.userId as string);
    const tally = (ids: string[]) => {
      const m = new Map<string, number>();
      for (const id of ids) m.set(id, (m.get(id) ?? 0) + 1);
      return m;
    };

    it(`violations: while ${MAX_VIOLATIONS} wait for their commit, every further one is refused with 503`, async () => {
      const before = await counters();
      // The counters are locked: the first violations are accepted and wait; nothing settles.
      const { held, refused } = await whileLocked(
        'SELECT 1 FROM strike_counters WHERE user_id = ANY($1) FOR UPDATE',
        [users.map((u) => u.id)],
        async () => {
          const held = users.slice(0, MAX_VIOLATIONS).map((u) => probe(u.token));
          // Wait until the held ones are accepted (queued, or in a transaction waiting for the lock)...
          const strikes = svc.app.get(StrikesService);
          await until(() => strikes.pendingViolations === MAX_VIOLATIONS);
          // ...then 60 more at once, from every user: none can be accepted.
          const refused = await Promise.all(
            Array.from({ length: 60 }, (_, i) => probe(users[i % users.length].token)),
          );
          return { held, refused };
        },
      );
      for (const res of refused) expectOverloaded(res);
      for (const res of await Promise.all(held)) {
        expect(res.status).toBe(403); // the violation's own answer, once its strike is committed
        expect(res.headers.get('retry-after')).toBeNull();
      }
      const after = await counters();
      for (const [i, u] of users.entries()) {
        const added = i < MAX_VIOLATIONS ? 1 : 0;
        expect(after.get(u.id)!.blocker - before.get(u.id)!.blocker).toBe(added);
      }
    });

    it('violations under a real flood: counters, table and log file match the 403s exactly', async () => {
      const before = await counters();
      const rowsBefore = tally(await strikeRows());
      const linesBefore = tally(strikeLines());
      const sent: { user: string; res: TestResponse }[] = [];
      await Promise.all(
        Array.from({ length: 300 }, async (_, i) => {
          const user = users[i % users.length];
          sent.push({ user: user.id, res: await probe(user.token) });
        }),
      );
      const statuses = tally(sent.map((s) => String(s.res.status)));
      // 300 at once against a bound of 4: some accepted, the rest refused, nothing else.
      expect([...statuses.keys()].sort()).toEqual(['403', '503']);
      for (const s of sent) if (s.res.status === 503) expectOverloaded(s.res);
      const accepted = tally(sent.filter((s) => s.res.status === 403).map((s) => s.user));
      const after = await counters();
      const rows = tally(await strikeRows());
      const lines = tally(strikeLines());
      for (const u of users) {
        const n = accepted.get(u.id) ?? 0;
        expect(after.get(u.id)!.blocker - before.get(u.id)!.blocker).toBe(n);
        expect(after.get(u.id)!.count - before.get(u.id)!.count).toBe(n);
        expect((rows.get(u.id) ?? 0) - (rowsBefore.get(u.id) ?? 0)).toBe(n);
        expect((lines.get(u.id) ?? 0) - (linesBefore.get(u.id) ?? 0)).toBe(n);
      }
    });

    it(`audit events: past ${MAX_EVENTS} waiting, submissions get 503 and nothing of them is written`, async () => {
      const submit = (i: number) =>
        request(svc.base, 'POST', '/audit/events', {
          token: admin,
          body: externalEvent({ type: 'load.test', targetId: `submission-${i}` }),
        });
      const victim = users[5];
      const victimBefore = (await counters()).get(victim.id)!;
      const { held, refused, unblock } = await whileLocked(
        'SELECT 1 FROM audit_chain_head FOR UPDATE',
        [],
        async () => {
          const held = Array.from({ length: MAX_EVENTS }, (_, i) => submit(i));
          // The first one's transaction waits for the head; the others wait behind it.
          const audit = svc.app.get(AuditService);
          await until(() => audit.overloaded);
          const refused = await Promise.all(Array.from({ length: 30 }, (_, i) => submit(1000 + i)));
          // An @Audited action is refused before it runs: it would be done without its record.
          const unblock = await request(svc.base, 'POST', `/admin/strikes/${victim.id}/unblock`, {
            token: admin,
            body: { reason: 'under load' },
          });
          return { held, refused, unblock };
        },
      );
      for (const res of refused) expectOverloaded(res);
      expectOverloaded(unblock);
      expect((await counters()).get(victim.id)).toEqual(victimBefore); // not reset: never ran
      const acked = await Promise.all(held);
      for (const res of acked) expect(res.status).toBe(201);
      const ids = acked.map((r) => r.body.ids[0] as number);
      const rows = await query<{ id: number; target_id: string }>(
        db.url,
        `SELECT id::float8 AS id, target_id FROM audit_events WHERE type = 'load.test'`,
      );
      // Every acknowledged submission is in the table and the file; no refused one is anywhere.
      expect(rows.map((r) => r.id).sort((a, b) => a - b)).toEqual([...ids].sort((a, b) => a - b));
      const lines = readAuditLog(svc.auditDir).filter((r) => r.type === 'load.test');
      expect(lines.map((r) => r.id).sort((a: number, b: number) => a - b)).toEqual(
        [...ids].sort((a, b) => a - b),
      );
      expect(rows.every((r) => Number(r.target_id.split('-')[1]) < MAX_EVENTS)).toBe(true);
    });
  },
);
