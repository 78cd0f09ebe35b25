import { readAuditLog } from '../support/audit-files.js';
import { request } from '../support/http.js';
import {
  createTestDatabase,
  describeWithPostgres,
  query,
  type TestDatabase,
} from '../support/postgres.js';
import {
  adminEnv,
  adminToken,
  newUser,
  PASSWORD,
  startTestApp,
  type TestApp,
} from '../support/test-app.js';

describeWithPostgres(
  'strikes in the reference service: 3 terminate, 12 block, admin unblocks',
  () => {
    let db: TestDatabase;
    let svc: TestApp;
    let admin: string;

    beforeAll(async () => {
      db = await createTestDatabase('strikes');
      svc = await startTestApp(db.url, adminEnv());
      admin = await adminToken(svc.base);
    });
    afterAll(async () => {
      await svc?.close();
      await db?.drop();
    });

    const probe = (token: string) => request(svc.base, 'GET', '/admin/strikes', { token });
    const me = (token: string) => request(svc.base, 'GET', '/me', { token });
    const login = (username: string, password = PASSWORD) =>
      request(svc.base, 'POST', '/auth/login', { body: { username, password } });
    const counter = async (userId: string) =>
      (await request(svc.base, 'GET', `/admin/strikes/${userId}`, { token: admin })).body;
    const eventTypes = async (userId: string) =>
      (
        await query<{ type: string }>(
          db.url,
          'SELECT type FROM audit_events WHERE user_id = $1 ORDER BY id',
          [userId],
        )
      ).map((r) => r.type);

    it('enrolls every new user with a counter in the registration transaction', async () => {
      const user = await newUser(svc.base);
      expect(await counter(user.id)).toEqual({
        userId: user.id,
        count: 0,
        blocker: 0,
        total: 0,
        status: 'active',
        simulatedBlock: false,
        blockedAt: null,
        blockedUntil: null,
        timedBlocks: 0,
        oldestCountedAt: null,
        lastViolationAt: null,
      });
      expect(await eventTypes(user.id)).toEqual(
        expect.arrayContaining(['user.registered', 'strike_counter.created']),
      );
    });

    it('keeps the 403 of a probe and charges one strike for it', async () => {
      const user = await newUser(svc.base);
      const res = await probe(user.token);
      expect(res.status).toBe(403);
      expect(res.body).toEqual({
        statusCode: 403,
        error: 'Forbidden',
        message: 'this route requires the role admin',
      });
      expect(await counter(user.id)).toMatchObject({
        count: 1,
        blocker: 1,
        status: 'active',
        lastViolationAt: expect.any(String),
      });
      expect((await me(user.token)).status).toBe(200);
    });

    it('terminates the session at the third strike: 401 session_terminated, a new login works', async () => {
      const user = await newUser(svc.base);
      for (let i = 0; i < 3; i++) expect((await probe(user.token)).status).toBe(403);
      const refused = await me(user.token);
      expect(refused.status).toBe(401);
      expect(refused.body).toEqual({
        statusCode: 401,
        error: 'Unauthorized',
        message: expect.any(String),
        reason: 'session_terminated',
      });
      expect(await counter(user.id)).toMatchObject({ count: 0, blocker: 3, status: 'active' });
      const again = await login(user.username);
      expect(again.status).toBe(200);
      expect((await me(again.body.accessToken)).status).toBe(200);
      const types = await eventTypes(user.id);
      expect(types.filter((t) => t === 'strike.recorded')).toHaveLength(3);
      expect(types.filter((t) => t === 'session.terminated')).toHaveLength(1);
    });

    it('blocks at the twelfth strike until an admin unblocks, then starts afresh', async () => {
      const user = await newUser(svc.base);
      let token = user.token;
      for (let strike = 1; strike <= 12; strike++) {
        expect((await probe(token)).status).toBe(403);
        if (strike % 3 === 0 && strike < 12) token = (await login(user.username)).body.accessToken;
      }
      const blocked = await me(token);
      expect(blocked.status).toBe(403);
      expect(blocked.body).toMatchObject({ statusCode: 403, reason: 'account_blocked' });
      // A blocked account is refused before its session version is looked at: a token from before
      // the block, on every route.
      expect((await request(svc.base, 'POST', '/auth/logout', { token })).body.reason).toBe(
        'account_blocked',
      );

      // At login the block shows only after a correct password: a guesser learns nothing.
      expect((await login(user.username, 'wrong-password-1')).status).toBe(401);
      const refused = await login(user.username);
      expect(refused.status).toBe(403);
      expect(refused.body.reason).toBe('account_blocked');

      expect(await counter(user.id)).toMatchObject({
        status: 'blocked',
        blocker: 12,
        count: 0,
        blockedAt: expect.any(String),
      });
      const list = await request(svc.base, 'GET', '/admin/strikes?status=blocked', {
        token: admin,
      });
      expect(list.body.items.map((c: { userId: string }) => c.userId)).toContain(user.id);

      const types = await eventTypes(user.id);
      expect(types.filter((t) => t === 'strike.recorded')).toHaveLength(12);
      expect(types.filter((t) => t === 'session.terminated')).toHaveLength(4);
      expect(types.filter((t) => t === 'account.blocked')).toHaveLength(1);

      const un = await request(svc.base, 'POST', `/admin/strikes/${user.id}/unblock`, {
        token: admin,
        body: { reason: 'reviewed' },
      });
      expect(un.status).toBe(200);
      expect(un.body).toMatchObject({
        userId: user.id,
        count: 0,
        blocker: 0,
        status: 'active',
        blockedAt: null,
      });
      // No token from before the block works after the unblock.
      expect((await me(token)).body.reason).toBe('session_terminated');
      const fresh = await login(user.username);
      expect(fresh.status).toBe(200);
      expect((await me(fresh.body.accessToken)).status).toBe(200);

      const adminId = (await me(admin)).body.id;
      const [unblocked] = await query<any>(
        db.url,
        `SELECT actor_id, details FROM audit_events WHERE type = 'account.unblocked' AND user_id = $1`,
        [user.id],
      );
      expect(unblocked).toEqual({
        actor_id: adminId,
        details: { reason: 'reviewed', wasBlocked: true },
      });
      // Keyed by id in the table and the file; the username appears nowhere.
      const lines = readAuditLog(svc.auditDir).filter((r) => r.userId === user.id);
      expect(lines.filter((r) => r.type === 'strike.recorded')).toHaveLength(12);
      expect(JSON.stringify(lines)).not.toContain(user.username);
    });

    it('ends every session at logout', async () => {
      const user = await newUser(svc.base);
      const second = (await login(user.username)).body.accessToken;
      const res = await request(svc.base, 'POST', '/auth/logout', { token: user.token });
      expect(res.status).toBe(204);
      for (const token of [user.token, second]) {
        const r = await me(token);
        expect(r.status).toBe(401);
        expect(r.body.reason).toBe('session_terminated');
      }
      expect((await counter(user.id)).blocker).toBe(0); // not a violation
    });

    it('coalesces refusals of one dead token into few access.denied events', async () => {
      const user = await newUser(svc.base);
      await request(svc.base, 'POST', '/auth/logout', { token: user.token });
      for (let i = 0; i < 20; i++) expect((await me(user.token)).status).toBe(401);
      const denied = await query<any>(
        db.url,
        `SELECT details FROM audit_events WHERE type = 'access.denied' AND user_id = $1`,
        [user.id],
      );
      expect(denied).toHaveLength(1);
      expect(denied[0].details).toMatchObject({ reason: 'session_terminated', count: 1 });
      expect((await counter(user.id)).blocker).toBe(0); // the module's own refusals are never violations
    });

    it('never charges anonymous requests or service tokens', async () => {
      expect((await request(svc.base, 'GET', '/admin/strikes')).status).toBe(401);
      const issued = await request(svc.base, 'POST', '/auth/service-tokens', {
        token: admin,
        body: { name: 'reader', scopes: ['audit:read'] },
      });
      const res = await request(svc.base, 'POST', '/audit/events', {
        token: issued.body.token,
        body: {},
      });
      expect(res.status).toBe(403);
      const rows = await query(db.url, `SELECT 1 FROM strike_counters WHERE user_id LIKE 'svc:%'`);
      expect(rows).toHaveLength(0);
      expect(
        await query(
          db.url,
          `SELECT 1 FROM audit_events WHERE type = 'strike.recorded' AND user_id LIKE 'svc:%'`,
        ),
      ).toHaveLength(0);
    });

    it('lets an admin grant roles, audited, and refuses plain users', async () => {
      const user = await newUser(svc.base);
      const res = await request(svc.base, 'PUT', `/admin/users/${user.id}/role`, {
        token: admin,
        body: { role: 'auditor' },
      });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ id: user.id, username: user.username, role: 'auditor' });
      expect(
        (await request(svc.base, 'GET', '/audit/events?limit=1', { token: user.token })).status,
      ).toBe(200);
      const [changed] = await query<any>(
        db.url,
        `SELECT details FROM audit_events WHERE type = 'user.role_changed' AND user_id = $1`,
        [user.id],
      );
      expect(changed.details).toEqual({ from: 'user', to: 'auditor' });
      const other = await newUser(svc.base);
      expect(
        (
          await request(svc.base, 'PUT', `/admin/users/${user.id}/role`, {
            token: other.token,
            body: { role: 'admin' },
          })
        ).status,
      ).toBe(403);
    });

    it.each([
      ['GET', '/admin/strikes/00000000-0000-4000-8000-000000000000', undefined, 404],
      ['GET', '/admin/strikes/nobody', undefined, 404],
      ['POST', '/admin/strikes/00000000-0000-4000-8000-000000000000/unblock', { reason: 'x' }, 404],
      ['POST', '/admin/strikes/someone/unblock', {}, 400],
      ['POST', '/admin/strikes/someone/unblock', { reason: '' }, 400],
      ['PUT', '/admin/users/00000000-0000-4000-8000-000000000000/role', { role: 'admin' }, 404],
      ['PUT', '/admin/users/x/role', { role: 'root' }, 400],
      // The same user-id check as the strike routes: a noncharacter can never name a user.
      ['PUT', '/admin/users/a%EF%BF%BEb/role', { role: 'admin' }, 400],
      ['GET', '/admin/strikes/a%EF%BF%BEb', undefined, 400],
      ['GET', '/admin/strikes?status=deleted', undefined, 400],
      ['GET', '/admin/strikes?limit=0', undefined, 400],
      ['GET', '/admin/strikes?cursor=%27%20OR%201=1', undefined, 400],
      ['GET', '/admin/strikes?sort=user_id', undefined, 400],
    ])('answers %s %s with %p', async (method, path, body, status) => {
      const res = await request(svc.base, method, path, { token: admin, body });
      expect(res.status).toBe(status);
    });

    it('pages the counters list with a cursor', async () => {
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const res: any = await request(
          svc.base,
          'GET',
          `/admin/strikes?limit=2${cursor ? `&cursor=${cursor}` : ''}`,
          { token: admin },
        );
        expect(res.status).toBe(200);
        seen.push(...res.body.items.map((c: { userId: string }) => c.userId));
        cursor = res.body.nextCursor;
      } while (cursor);
      const total = await query<{ n: number }>(
        db.url,
        'SELECT count(*)::int AS n FROM strike_counters',
      );
      expect(seen).toHaveLength(total[0].n);
      expect([...seen].sort()).toEqual(seen);
    });
  },
);

describeWithPostgres(
  'strikes with custom thresholds (STRIKES_TERMINATE_AT=2, STRIKES_BLOCK_AT=5)',
  () => {
    let db: TestDatabase;
    let svc: TestApp;

    beforeAll(async () => {
      db = await createTestDatabase('strikes_custom');
      svc = await startTestApp(db.url, {
        ...adminEnv(),
        STRIKES_TERMINATE_AT: '2',
        STRIKES_BLOCK_AT: '5',
      });
    });
    afterAll(async () => {
      await svc?.close();
      await db?.drop();
    });

    it('terminates at 2 and blocks at 5', async () => {
      const user = await newUser(svc.base);
      const admin = await adminToken(svc.base);
      await request(svc.base, 'GET', '/admin/strikes', { token: user.token });
      expect((await request(svc.base, 'GET', '/me', { token: user.token })).status).toBe(200);
      await request(svc.base, 'GET', '/admin/strikes', { token: user.token });
      expect((await request(svc.base, 'GET', '/me', { token: user.token })).body.reason).toBe(
        'session_terminated',
      );
      let token = '';
      for (let i = 0; i < 3; i++) {
        token = (
          await request(svc.base, 'POST', '/auth/login', {
            body: { username: user.username, password: PASSWORD },
          })
        ).body.accessToken;
        await request(svc.base, 'GET', '/admin/strikes', { token });
      }
      expect((await request(svc.base, 'GET', '/me', { token })).body.reason).toBe(
        'account_blocked',
      );
      const c = (await request(svc.base, 'GET', `/admin/strikes/${user.id}`, { token: admin }))
        .body;
      expect(c).toMatchObject({ blocker: 5, status: 'blocked' });
    });
  },
);
