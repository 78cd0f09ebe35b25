import { externalEvent } from '../support/audit-files.js';
import { request } from '../support/http.js';
import {
  createTestDatabase,
  describeWithPostgres,
  query,
  type TestDatabase,
} from '../support/postgres.js';
import { adminEnv, adminToken, newUser, startTestApp, type TestApp } from '../support/test-app.js';

describeWithPostgres('service tokens for other systems', () => {
  let db: TestDatabase;
  let svc: TestApp;
  let admin: string;

  beforeAll(async () => {
    db = await createTestDatabase('svctok');
    svc = await startTestApp(db.url, adminEnv());
    admin = await adminToken(svc.base);
  });
  afterAll(async () => {
    await svc?.close();
    await db?.drop();
  });

  const issue = (body: unknown, token = admin) =>
    request(svc.base, 'POST', '/auth/service-tokens', { token, body });

  it('issues a token with audit:write that submits events as its own actor', async () => {
    const res = await issue({ name: 'billing', scopes: ['audit:write'], ttl: '1d' });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      id: expect.any(String),
      name: 'billing',
      scopes: ['audit:write'],
      token: expect.any(String),
      revokedAt: null,
    });
    const sub = await request(svc.base, 'POST', '/audit/events', {
      token: res.body.token,
      body: externalEvent(),
    });
    expect(sub.status).toBe(201);
    const record = await request(svc.base, 'GET', `/audit/events/${sub.body.ids[0]}`, {
      token: admin,
    });
    expect(record.body.actorId).toBe(`svc:${res.body.id}`);
  });

  it('keeps each scope to its routes', async () => {
    const writer = (await issue({ name: 'writer', scopes: ['audit:write'] })).body.token;
    const reader = (await issue({ name: 'reader', scopes: ['audit:read'] })).body.token;
    expect((await request(svc.base, 'GET', '/audit/events', { token: writer })).status).toBe(403);
    expect((await request(svc.base, 'GET', '/audit/events', { token: reader })).status).toBe(200);
    expect((await request(svc.base, 'GET', '/audit/verify', { token: reader })).status).toBe(200);
    expect(
      (await request(svc.base, 'POST', '/audit/events', { token: reader, body: externalEvent() }))
        .status,
    ).toBe(403);
    // A service token is not a user: no /me, no admin routes, no issuing tokens.
    expect((await request(svc.base, 'GET', '/me', { token: reader })).status).toBe(403);
    expect((await issue({ name: 'escalate', scopes: ['audit:write'] }, writer)).status).toBe(403);
  });

  it('refuses a revoked token at once, and audits issuing and revoking', async () => {
    const issued = (await issue({ name: 'short-lived', scopes: ['audit:write'] })).body;
    const revoked = await request(svc.base, 'DELETE', `/auth/service-tokens/${issued.id}`, {
      token: admin,
    });
    expect(revoked.status).toBe(200);
    expect(revoked.body.revokedAt).toEqual(expect.any(String));
    const res = await request(svc.base, 'POST', '/audit/events', {
      token: issued.token,
      body: externalEvent(),
    });
    expect(res.status).toBe(401);
    expect(res.body.message).toMatch(/revoked/);
    const events = await query<any>(
      db.url,
      `SELECT type FROM audit_events WHERE target_id = $1 ORDER BY id`,
      [issued.id],
    );
    expect(events.map((e) => e.type)).toEqual(['service_token.issued', 'service_token.revoked']);
  });

  it('lists tokens newest first with a cursor, without the secret', async () => {
    for (const n of ['l1', 'l2', 'l3']) await issue({ name: n, scopes: ['audit:read'] });
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res: any = await request(
        svc.base,
        'GET',
        `/auth/service-tokens?limit=2${cursor ? `&cursor=${cursor}` : ''}`,
        { token: admin },
      );
      expect(res.status).toBe(200);
      for (const item of res.body.items) expect(item.token).toBeUndefined();
      seen.push(...res.body.items.map((i: { name: string }) => i.name));
      cursor = res.body.nextCursor;
    } while (cursor);
    expect(seen.slice(0, 3)).toEqual(['l3', 'l2', 'l1']);
    expect(new Set(seen).size).toBe(seen.length);
  });

  it.each([
    [{ name: 'x', scopes: [] }, 'scopes'],
    [{ name: 'x', scopes: ['admin'] }, 'scopes[0]'],
    [{ name: '', scopes: ['audit:read'] }, 'name'],
    [{ name: 'x', scopes: ['audit:read'], ttl: '400d' }, 'ttl'],
    [{ name: 'x', scopes: ['audit:read'], ttl: 0 }, 'ttl'],
    [{ name: 'x', scopes: ['audit:read'], role: 'admin' }, 'role'],
  ])('rejects %j with 400 naming %s', async (body, path) => {
    const res = await issue(body);
    expect(res.status).toBe(400);
    expect(res.body.errors.map((e: { path: string }) => e.path)).toContain(path);
  });

  it('refuses a plain user with 403 and bad ids with 400 or 404', async () => {
    const user = await newUser(svc.base);
    expect((await issue({ name: 'mine', scopes: ['audit:write'] }, user.token)).status).toBe(403);
    expect(
      (await request(svc.base, 'DELETE', '/auth/service-tokens/not-a-uuid', { token: admin }))
        .status,
    ).toBe(400);
    expect(
      (
        await request(
          svc.base,
          'DELETE',
          '/auth/service-tokens/00000000-0000-4000-8000-000000000000',
          { token: admin },
        )
      ).status,
    ).toBe(404);
    expect(
      (await request(svc.base, 'GET', '/auth/service-tokens?cursor=%27--', { token: admin }))
        .status,
    ).toBe(400);
  });
});
