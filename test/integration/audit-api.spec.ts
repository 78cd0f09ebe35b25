import canonicalize from 'canonicalize';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { externalEvent, readAuditLog } from '../support/audit-files.js';
import { request } from '../support/http.js';
import {
  createTestDatabase,
  describeWithPostgres,
  query,
  type TestDatabase,
} from '../support/postgres.js';
import { adminEnv, adminToken, newUser, startTestApp, type TestApp } from '../support/test-app.js';

const canonical = canonicalize as unknown as (v: unknown) => string;

/** The hash as an auditor would compute it, with a JCS implementation strikeguard does not use. */
function independentHash(record: Record<string, unknown>): string {
  const { hash: _hash, ...rest } = record;
  return createHash('sha256').update(canonical(rest), 'utf8').digest('hex');
}

describeWithPostgres('audit API: submit, search, read back', () => {
  let db: TestDatabase;
  let svc: TestApp;
  let admin: string;

  beforeAll(async () => {
    db = await createTestDatabase('audit');
    svc = await startTestApp(db.url, adminEnv());
    admin = await adminToken(svc.base);
  });
  afterAll(async () => {
    await svc?.close();
    await db?.drop();
  });

  const post = (body: unknown, token = admin) =>
    request(svc.base, 'POST', '/audit/events', { token, body });
  const get = (path: string, token = admin) => request(svc.base, 'GET', path, { token });
  const rowCount = async () =>
    (await query<{ n: number }>(db.url, 'SELECT count(*)::int AS n FROM audit_events'))[0].n;

  it('accepts one event and answers its id once it is in the table and the file', async () => {
    const res = await post(externalEvent());
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ ids: [expect.any(Number)] });
    const [id] = res.body.ids;
    const line = readAuditLog(svc.auditDir).find((r) => r.id === id);
    expect(line).toMatchObject({
      type: 'ext.payment',
      userId: 'customer-42',
      details: { amount: 12.5, currency: 'EUR' },
    });
    const rows = await query(db.url, 'SELECT id FROM audit_events WHERE id = $1', [id]);
    expect(rows).toHaveLength(1);
  });

  it('records the submitting admin as actor and the request as ip, method and path', async () => {
    const me = await request(svc.base, 'GET', '/me', { token: admin });
    const { body } = await post(externalEvent());
    const record = (await get(`/audit/events/${body.ids[0]}`)).body;
    expect(record).toMatchObject({
      actorId: me.body.id,
      method: 'POST',
      path: '/audit/events',
      ip: '203.0.113.7', // the submitter's own field wins over the request's address
      outcome: 'success',
      threat: 'none',
    });
    expect(record.occurredAt).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  });

  it('accepts a batch all at once and answers ids in submission order', async () => {
    const events = Array.from({ length: 50 }, (_, i) =>
      externalEvent({ description: `event ${i}` }),
    );
    const res = await post(events);
    expect(res.status).toBe(201);
    expect(res.body.ids).toHaveLength(50);
    const ids: number[] = res.body.ids;
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    const rows = await query<{ description: string }>(
      db.url,
      'SELECT description FROM audit_events WHERE id = ANY($1::bigint[]) ORDER BY id',
      [ids],
    );
    expect(rows.map((r) => r.description)).toEqual(events.map((e) => e.description));
  });

  it('normalises occurredAt with any offset to UTC milliseconds', async () => {
    const { body } = await post(externalEvent({ occurredAt: '2026-03-01T10:15:30.5+02:00' }));
    const record = (await get(`/audit/events/${body.ids[0]}`)).body;
    expect(record.occurredAt).toBe('2026-03-01T08:15:30.500Z');
  });

  it('hashes each record as SHA-256 of its RFC 8785 form, which an independent JCS reproduces', async () => {
    await post([
      externalEvent({
        details: { é: 'ü', b: [1, 2.5, -0, 1e21, { z: null, a: true }], '\u2028': 'line sep' },
      }),
      externalEvent(),
    ]);
    const lines = readAuditLog(svc.auditDir);
    expect(lines.length).toBeGreaterThan(2);
    let prev = '0'.repeat(64);
    for (const line of lines) {
      expect(line.prevHash).toBe(prev);
      expect(independentHash(line)).toBe(line.hash);
      prev = line.hash;
    }
  });

  it('writes the file as one canonical JSON object per line, in id order', async () => {
    const text = fs.readFileSync(`${svc.auditDir}/audit.log`, 'utf8');
    const lines = text.split('\n');
    expect(lines.pop()).toBe('');
    const ids = lines.map((l) => JSON.parse(l).id);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    for (const l of lines) expect(l).toBe(canonical(JSON.parse(l)));
  });

  it('keeps user input from breaking or forging a line', async () => {
    const forged = '"}\n{"id":999999,"type":"forged"}\r\n';
    const { body } = await post(externalEvent({ description: forged, details: { note: forged } }));
    const lines = fs.readFileSync(`${svc.auditDir}/audit.log`, 'utf8').trimEnd().split('\n');
    const last = JSON.parse(lines[lines.length - 1]);
    expect(last.id).toBe(body.ids[0]);
    expect(last.description).toBe(forged);
    expect(lines.some((l) => JSON.parse(l).type === 'forged')).toBe(false);
  });

  describe('rejects bad submissions with 400, every problem listed, nothing written', () => {
    const cases: [string, unknown, string[]][] = [
      ['a missing required field', externalEvent({ type: undefined }), ['type']],
      [
        'every required field missing',
        {},
        ['type', 'userId', 'entityType', 'ip', 'location', 'description'],
      ],
      ['a reserved field id', externalEvent({ id: 1 }), ['id']],
      ['a reserved field hash', externalEvent({ hash: 'a'.repeat(64) }), ['hash']],
      ['a reserved field prevHash', externalEvent({ prevHash: '0'.repeat(64) }), ['prevHash']],
      ['a reserved field actorId', externalEvent({ actorId: 'me' }), ['actorId']],
      ['an unknown field', externalEvent({ color: 'red' }), ['color']],
      ['an upper-case type', externalEvent({ type: 'Ext.Login' }), ['type']],
      ['a type of 129 characters', externalEvent({ type: 'a'.repeat(129) }), ['type']],
      ['a userId of 129 characters', externalEvent({ userId: 'u'.repeat(129) }), ['userId']],
      ['an empty userId', externalEvent({ userId: '' }), ['userId']],
      ['a numeric userId', externalEvent({ userId: 42 }), ['userId']],
      ['an unknown outcome', externalEvent({ outcome: 'maybe' }), ['outcome']],
      ['an unknown threat', externalEvent({ threat: 'extreme' }), ['threat']],
      ['an ip over 256 characters', externalEvent({ ip: 'x'.repeat(257) }), ['ip']],
      [
        'a description over 4096 characters',
        externalEvent({ description: 'd'.repeat(4097) }),
        ['description'],
      ],
      ['details that are an array', externalEvent({ details: [1, 2] }), ['details']],
      ['details over 64 kB', externalEvent({ details: { blob: 'x'.repeat(66_000) } }), ['details']],
      ['a NUL in a field', externalEvent({ location: 'a\u0000b' }), ['location']],
      [
        'a NUL deep in details',
        externalEvent({ details: { a: { b: ['ok', 'x\u0000'] } } }),
        ['details.a.b[1]'],
      ],
      ['a lone surrogate', externalEvent({ description: 'bad \ud800 text' }), ['description']],
      [
        'an occurredAt without offset',
        externalEvent({ occurredAt: '2026-01-01T10:00:00' }),
        ['occurredAt'],
      ],
      ['an occurredAt that is no date', externalEvent({ occurredAt: 'yesterday' }), ['occurredAt']],
      ['an impossible date', externalEvent({ occurredAt: '2026-02-30T10:00:00Z' }), ['occurredAt']],
      ['a bare number as body (not a JSON object or array)', 42, []],
      ['an empty array', [], ['']],
      [
        'a batch with one bad event',
        [externalEvent(), externalEvent({ type: 'BAD' })],
        ['[1].type'],
      ],
      ['1,001 events', Array.from({ length: 1001 }, () => externalEvent()), ['']],
    ];
    it.each(cases)('%s', async (_, body, paths) => {
      const before = await rowCount();
      const fileBefore = fs.statSync(`${svc.auditDir}/audit.log`).size;
      const res = await post(body);
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ statusCode: 400, error: 'Bad Request' });
      const reported = (res.body.errors ?? []).map((e: { path: string }) => e.path);
      for (const p of paths) expect(reported).toContain(p);
      expect(await rowCount()).toBe(before);
      expect(fs.statSync(`${svc.auditDir}/audit.log`).size).toBe(fileBefore);
    });
  });

  it('refuses a body over 2 MiB with 413 and accepts one just under', async () => {
    const big = Array.from({ length: 40 }, () =>
      externalEvent({ details: { blob: 'x'.repeat(60_000) } }),
    );
    const res = await post(big);
    expect(res.status).toBe(413);
    const fits = Array.from({ length: 30 }, () =>
      externalEvent({ details: { blob: 'x'.repeat(60_000) } }),
    );
    expect((await post(fits)).status).toBe(201);
  });

  it('refuses submissions from a plain user with 403 and without a token with 401', async () => {
    const user = await newUser(svc.base);
    const before = await rowCount();
    // The probes are violations: strike events are written, nothing else.
    const others = async () =>
      (
        await query<{ n: number }>(
          db.url,
          `SELECT count(*)::int AS n FROM audit_events WHERE type NOT IN ('strike.recorded', 'session.terminated')`,
        )
      )[0].n;
    const othersBefore = await others();
    expect((await post(externalEvent(), user.token)).status).toBe(403);
    expect(
      (await request(svc.base, 'POST', '/audit/events', { body: externalEvent() })).status,
    ).toBe(401);
    expect((await get('/audit/events', user.token)).status).toBe(403);
    expect((await get('/audit/verify', user.token)).status).toBe(403);
    expect(await others()).toBe(othersBefore);
    expect(await rowCount()).toBeGreaterThan(before);
  });

  it('lets an auditor search and verify but not submit', async () => {
    const auditor = await newUser(svc.base, 'auditor');
    await query(db.url, `UPDATE users SET role = 'auditor' WHERE id = $1`, [auditor.id]);
    expect((await get('/audit/events?limit=1', auditor.token)).status).toBe(200);
    expect((await get('/audit/verify', auditor.token)).body.ok).toBe(true);
    expect((await post(externalEvent(), auditor.token)).status).toBe(403);
  });

  describe('search', () => {
    let ids: number[];
    beforeAll(async () => {
      const res = await post([
        externalEvent({
          type: 'search.a',
          userId: 'searcher-1',
          occurredAt: '2025-05-01T23:59:59.999Z',
          details: { code: 7, tag: 'x', ok: true },
        }),
        externalEvent({
          type: 'search.a',
          userId: 'searcher-2',
          occurredAt: '2025-05-02T00:00:00.000Z',
          details: { code: '7', tag: 'y', nested: { k: 1 } },
        }),
        externalEvent({
          type: 'search.b',
          userId: 'searcher-1',
          occurredAt: '2025-05-03T12:00:00Z',
          outcome: 'denied',
          threat: 'high',
          details: null,
        }),
      ]);
      ids = res.body.ids;
    });

    const itemsOf = async (qs: string) => {
      const res = await get(`/audit/events?${qs}`);
      expect(res.status).toBe(200);
      return res.body.items.map((r: { id: number }) => r.id);
    };

    it('filters by type and user, newest first', async () => {
      expect(await itemsOf('type=search.a')).toEqual([ids[1], ids[0]]);
      expect(await itemsOf('userId=searcher-1')).toEqual([ids[2], ids[0]]);
      expect(await itemsOf('userId=searcher-1&type=search.b&outcome=denied&threat=high')).toEqual([
        ids[2],
      ]);
    });

    it('includes the whole day of a date-only to, and from is inclusive', async () => {
      expect(await itemsOf('type=search.a&to=2025-05-01')).toEqual([ids[0]]);
      expect(await itemsOf('type=search.a&from=2025-05-02')).toEqual([ids[1]]);
      expect(
        await itemsOf('from=2025-05-01T23:59:59.999Z&to=2025-05-02T00:00:00Z&type=search.a'),
      ).toEqual([ids[1], ids[0]]);
    });

    it('matches details values as JSON when they parse, else as strings', async () => {
      expect(await itemsOf('details.code=7')).toEqual([ids[0]]);
      expect(await itemsOf('details.code=%227%22')).toEqual([]);
      expect(await itemsOf('details.tag=y')).toEqual([ids[1]]);
      expect(await itemsOf('details.ok=true')).toEqual([ids[0]]);
      expect(await itemsOf('details.nested.k=1')).toEqual([ids[1]]);
    });

    it('pages with an opaque cursor until nextCursor is null', async () => {
      const seen: number[] = [];
      let cursor: string | null = null;
      do {
        const res: any = await get(
          `/audit/events?type=search.a&limit=1${cursor ? `&cursor=${cursor}` : ''}`,
        );
        seen.push(...res.body.items.map((r: { id: number }) => r.id));
        cursor = res.body.nextCursor;
      } while (cursor);
      expect(seen).toEqual([ids[1], ids[0]]);
    });

    it('answers recent and one record, 404 for an unknown id', async () => {
      const recent = await get('/audit/events/recent?count=2');
      expect(recent.body.items).toHaveLength(2);
      expect(recent.body.nextCursor).toBeNull();
      expect((await get(`/audit/events/${ids[0]}`)).body.id).toBe(ids[0]);
      expect((await get('/audit/events/99999999')).status).toBe(404);
    });

    it.each([
      ['limit=0', 'limit'],
      ['limit=1001', 'limit'],
      ['limit=abc', 'limit'],
      ['from=yesterday', 'from'],
      ['to=2025-13-01', 'to'],
      ['from=2025-05-03&to=2025-05-01', 'from'],
      ['outcome=maybe', 'outcome'],
      ['cursor=not-a-cursor!', 'cursor'],
      ['cursor=%27%20OR%201%3D1--', 'cursor'],
      ['type=a&type=b', 'type'],
      ['nope=1', 'nope'],
      ["details.a'b=1", "details.a'b"],
      ['userId=%00', 'userId'],
      ['order=id;DROP TABLE audit_events', 'order'],
    ])('rejects %s with 400 naming %s', async (qs, name) => {
      const res = await get(`/audit/events?${qs}`);
      expect(res.status).toBe(400);
      expect(res.body.errors.map((e: { path: string }) => e.path)).toContain(name);
    });

    it('treats injection attempts in values as plain values', async () => {
      for (const value of ["' OR '1'='1", '1; DELETE FROM audit_events', '%', '\\', '{"a":1}']) {
        const res = await get(
          `/audit/events?userId=${encodeURIComponent(value)}&details.tag=${encodeURIComponent(value)}`,
        );
        expect(res.status).toBe(200);
        expect(res.body.items).toEqual([]);
      }
    });

    it.each([
      '/audit/events/abc',
      '/audit/events/0',
      '/audit/events/-1',
      '/audit/events/1e3',
      '/audit/events/99999999999999999999',
      '/audit/events/recent?count=0',
      '/audit/events/recent?count=5000',
      '/audit/verify?fromId=x',
      '/audit/verify?fromId=5&toId=2',
      '/audit/verify/abc',
    ])('rejects %s with 400', async (path) => {
      expect((await get(path)).status).toBe(400);
    });
  });

  it('publishes the submission JSON Schema', async () => {
    const res = await get('/audit/schema');
    expect(res.status).toBe(200);
    expect(res.body.required).toEqual(
      expect.arrayContaining(['type', 'userId', 'entityType', 'ip', 'location', 'description']),
    );
    expect(res.body.additionalProperties).toBe(false);
  });

  it('records registration in the same transaction, keyed by user id, never by name', async () => {
    const user = await newUser(svc.base, 'keyed');
    const rows = await query<any>(
      db.url,
      `SELECT user_id, details FROM audit_events WHERE type = 'user.registered' AND user_id = $1`,
      [user.id],
    );
    expect(rows).toHaveLength(1);
    const all = await query<any>(
      db.url,
      `SELECT count(*)::int AS n FROM audit_events WHERE user_id = $1 OR description LIKE $2 OR details::text LIKE $2`,
      [user.username, `%${user.username}%`],
    );
    expect(all[0].n).toBe(0);
  });

  it('writes no record for a registration that fails', async () => {
    const user = await newUser(svc.base, 'dup');
    const before = await rowCount();
    const lines = readAuditLog(svc.auditDir).length;
    const res = await request(svc.base, 'POST', '/auth/register', {
      body: { username: user.username, password: 'another-password-1' },
    });
    expect(res.status).toBe(409);
    // A failed attempt must leave neither a row nor a line; a later append must still work.
    expect(await rowCount()).toBe(before);
    expect((await post(externalEvent())).status).toBe(201);
    expect(readAuditLog(svc.auditDir)).toHaveLength(lines + 1);
  });

  it('audits failed logins by user id without the attempted name', async () => {
    const user = await newUser(svc.base, 'fail');
    await request(svc.base, 'POST', '/auth/login', {
      body: { username: user.username, password: 'wrong-password-1' },
    });
    const rows = await get(`/audit/events?type=auth.login_failed&userId=${user.id}`);
    expect(rows.body.items).toHaveLength(1);
    expect(rows.body.items[0]).toMatchObject({
      outcome: 'failure',
      details: { reason: 'wrong_password' },
    });
  });

  it('keeps the chain valid under 50 concurrent writers', async () => {
    const before = await rowCount();
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        post(i % 5 === 0 ? [externalEvent(), externalEvent()] : externalEvent()),
      ),
    );
    expect(results.every((r) => r.status === 201)).toBe(true);
    const ids = results.flatMap((r) => r.body.ids);
    expect(new Set(ids).size).toBe(60);
    expect(await rowCount()).toBe(before + 60);
    const verify = await get('/audit/verify');
    expect(verify.body).toEqual({ ok: true, checked: before + 60 });
    const fileIds = new Set(readAuditLog(svc.auditDir).map((r) => r.id));
    for (const id of ids) expect(fileIds.has(id)).toBe(true);
  });

  it('rejects UPDATE, DELETE and TRUNCATE on the table', async () => {
    await expect(query(db.url, `UPDATE audit_events SET type = 'x' WHERE id = 1`)).rejects.toThrow(
      /append-only/,
    );
    await expect(query(db.url, `DELETE FROM audit_events WHERE id = 1`)).rejects.toThrow(
      /append-only/,
    );
    await expect(query(db.url, `TRUNCATE audit_events`)).rejects.toThrow(/append-only/);
  });

  it('creates the directory 0700 and the file 0600', () => {
    expect(fs.statSync(svc.auditDir).mode & 0o777).toBe(0o700);
    expect(fs.statSync(`${svc.auditDir}/audit.log`).mode & 0o777).toBe(0o600);
  });

  it('answers /health 200 with every check', async () => {
    const res = await request(svc.base, 'GET', '/health');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      status: 'ok',
      checks: { database: 'ok', auditLog: 'ok', transparencyLog: 'ok' },
      transparencyLog: { healthy: true, signing: 'ok', passes: 'ok' },
    });
    expect(Object.keys(res.body.checks).sort()).toEqual([
      'auditLog',
      'database',
      'transparencyLog',
    ]);
  });
});
