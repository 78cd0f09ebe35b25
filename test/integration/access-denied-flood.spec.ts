import { jest } from '@jest/globals';
import { JwtService } from '@nestjs/jwt';
import { AuditService, type AuditEvent } from '../../src/index.js';
import { AccessDeniedCoalescer } from '../../src/strikes/access-denied.coalescer.js';
import { readAuditLog } from '../support/audit-files.js';
import { request } from '../support/http.js';
import {
  createTestDatabase,
  describeWithPostgres,
  query,
  type TestDatabase,
} from '../support/postgres.js';
import { newUser, startTestApp, type TestApp } from '../support/test-app.js';

/** Spellings of one bearer token that passport-jwt accepts (checked below with a live token). */
const SPELLINGS: ((t: string) => string)[] = [
  (t) => `Bearer ${t}`,
  (t) => `bearer ${t}`,
  (t) => `BEARER ${t}`,
  (t) => `bEaReR ${t}`,
  (t) => `Bearer  ${t}`,
  (t) => `Bearer \t ${t}`,
  (t) => `Bearer ${t} trailing-junk`,
  (t) => `Bearer ${t}\tx y z`,
  (t) => `Bearer ${t} ${t}`,
];
const CAP = 4;

const isCoalesced = (e: AuditEvent) => (e.details as { coalesced?: boolean } | null)?.coalesced;

describeWithPostgres('access.denied flood: dead tokens, varied spellings, many tokens', () => {
  let db: TestDatabase;
  let svc: TestApp;
  let denials: AccessDeniedCoalescer;

  beforeAll(async () => {
    db = await createTestDatabase('denied_flood');
    svc = await startTestApp(db.url, { STRIKES_ACCESS_DENIED_WINDOWS: String(CAP) });
    denials = svc.app.get(AccessDeniedCoalescer);
  });
  afterAll(async () => {
    await svc?.close();
    await db?.drop();
  });

  const me = (authorization: string) =>
    request(svc.base, 'GET', '/me', { headers: { authorization } });
  const deniedRows = (userId: string) =>
    query<{ details: { count: number; coalesced?: boolean } }>(
      db.url,
      `SELECT details FROM audit_events WHERE type = 'access.denied' AND user_id = $1 ORDER BY id`,
      [userId],
    );
  const sum = (rows: { details: { count: number } }[]) =>
    rows.reduce((n, r) => n + r.details.count, 0);

  /** `count` requests, `concurrency` at a time; answers their statuses and reasons. */
  async function hammer(count: number, concurrency: number, header: (i: number) => string) {
    const seen = new Map<string, number>();
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < count) {
          const res = await me(header(next++));
          const key = `${res.status} ${res.body?.reason ?? ''}`;
          seen.set(key, (seen.get(key) ?? 0) + 1);
        }
      }),
    );
    return Object.fromEntries(seen);
  }

  it('passport-jwt takes every one of these spellings as the same token', async () => {
    const user = await newUser(svc.base);
    for (const spell of SPELLINGS) expect((await me(spell(user.token))).status).toBe(200);
    // Junk before the scheme is not a bearer token at all: 401 before the session is looked at.
    const junk = await me(`x Bearer ${user.token}`);
    expect(junk.status).toBe(401);
    expect(junk.body.reason).toBeUndefined();
  });

  it('one dead token sent 2,000 times in varied spellings: 1 record, then 1 coalesced, count kept', async () => {
    const user = await newUser(svc.base);
    expect((await request(svc.base, 'POST', '/auth/logout', { token: user.token })).status).toBe(
      204,
    );
    const answers = await hammer(2000, 32, (i) => SPELLINGS[i % SPELLINGS.length](user.token));
    expect(answers).toEqual({ '401 session_terminated': 2000 });

    const during = await deniedRows(user.id);
    expect(during).toEqual([{ details: expect.objectContaining({ count: 1 }) }]);
    await denials.flush(); // what the sweeper does when the minute is over
    const rows = await deniedRows(user.id);
    expect(rows).toHaveLength(2);
    expect(rows[1].details).toMatchObject({ coalesced: true, count: 1999 });
    expect(sum(rows)).toBe(2000);
    const lines = readAuditLog(svc.auditDir).filter(
      (r) => r.type === 'access.denied' && r.userId === user.id,
    );
    expect(lines.map((r) => r.details.count)).toEqual([1, 1999]);
  });

  it(`many dead tokens: at most ${CAP} windows open, and no refusal waits for their flush`, async () => {
    const user = await newUser(svc.base);
    const jwt = svc.app.get(JwtService);
    const now = Math.floor(Date.now() / 1000);
    // 40 tokens of one session, told apart by their issue time; logout kills them all.
    const tokens = Array.from({ length: 40 }, (_, i) =>
      jwt.sign({ sub: user.id, sv: 0, iat: now - 1 - i }),
    );
    expect((await me(`Bearer ${tokens[0]}`)).status).toBe(200);
    await request(svc.base, 'POST', '/auth/logout', { token: user.token });

    // The coalesced records cannot be written until released: a request that waited for them
    // would never be answered.
    const audit = svc.app.get(AuditService);
    const recordMany = audit.recordMany.bind(audit);
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let heldCalls = 0;
    const spy = jest.spyOn(audit, 'recordMany').mockImplementation(async (events, options) => {
      if (events.some(isCoalesced)) {
        heldCalls++;
        await held;
      }
      return recordMany(events, options);
    });
    try {
      let maxOpen = 0;
      for (const token of tokens) {
        for (let i = 0; i < 3; i++) {
          const res = await me(SPELLINGS[i](token));
          expect(res.status).toBe(401);
          expect(res.body.reason).toBe('session_terminated');
          maxOpen = Math.max(maxOpen, denials.openWindows);
        }
      }
      // Concurrently as well: 40 tokens at once, twice each.
      const answers = await hammer(80, 16, (i) => `Bearer ${tokens[i % tokens.length]}`);
      expect(answers).toEqual({ '401 session_terminated': 80 });
      maxOpen = Math.max(maxOpen, denials.openWindows);
      expect(maxOpen).toBe(CAP);
      expect(heldCalls).toBe(1); // one flush in flight, the other closed windows wait behind it
      expect(denials.pendingWindows).toBeGreaterThan(0);
    } finally {
      release();
    }
    await denials.flush();
    spy.mockRestore();

    const rows = await deniedRows(user.id);
    // Every request is accounted for: 40 × 3 sequential + 80 concurrent.
    expect(sum(rows)).toBe(200);
    expect(rows.filter((r) => !r.details.coalesced).length).toBeGreaterThanOrEqual(40);
    // Batched: the coalesced counts went out in a few appends, not one each.
    const batches = await query<{ n: number }>(
      db.url,
      `SELECT count(*)::int AS n FROM audit_events
        WHERE type = 'access.denied' AND user_id = $1 AND details ? 'coalesced'
        GROUP BY recorded_at ORDER BY n DESC`,
      [user.id],
    );
    expect(batches[0].n).toBeGreaterThan(1);
  });

  it('a count still open when the service stops is recorded before its database closes', async () => {
    const other = await startTestApp(db.url);
    let closed = false;
    try {
      const user = await newUser(other.base);
      await request(other.base, 'POST', '/auth/logout', { token: user.token });
      for (let i = 0; i < 25; i++) {
        const res = await request(other.base, 'GET', '/me', { token: user.token });
        expect(res.status).toBe(401);
      }
      await other.close();
      closed = true;
      const rows = await deniedRows(user.id);
      expect(rows.map((r) => r.details.count)).toEqual([1, 24]);
    } finally {
      if (!closed) await other.close();
    }
  });
});
