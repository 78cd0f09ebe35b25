import {
  type CanActivate,
  type ExecutionContext,
  HttpException,
  Injectable,
  Module,
} from '@nestjs/common';
import { APP_GUARD, NestFactory } from '@nestjs/core';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { type Request } from 'express';
import fs from 'node:fs';
import { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {
  LoginThrottleModule,
  LoginThrottleService,
  StrikeGuard,
  THROTTLED_MESSAGE,
} from '../../src/index.js';
import {
  LoginThrottleAdminModule,
  RestAccessOptionsError,
  type StrikeguardPermission,
  toOpenApi30,
} from '../../src/rest/index.js';
import { request } from '../support/http.js';
import { documentedStatuses, openApiErrors, responseChecker } from '../support/openapi.js';
import { strikeguardImports } from '../support/strikeguard-imports.js';
import {
  createTestDatabase,
  describeWithPostgres,
  query,
  type TestDatabase,
} from '../support/postgres.js';
import {
  ADMIN,
  adminEnv,
  PASSWORD,
  startTestApp,
  type TestApp,
  uniqueName,
} from '../support/test-app.js';

/**
 * The login throttle's admin routes (LoginThrottleAdminModule) in the reference service: real
 * PostgreSQL, real HTTP stack, lanes made by real failed logins. TRUST_PROXY=loopback lets each
 * test log in from sources of its own (X-Forwarded-For), so no test's failures block another's.
 */
describeWithPostgres('login throttle admin routes (/admin/login-throttle)', () => {
  let db: TestDatabase;
  let svc: TestApp;
  let admin: { id: string; token: string };
  let nextIp = 1;
  /** A source no other attempt of the suite comes from. */
  const freshIp = () => `10.77.${nextIp >> 8}.${nextIp++ & 255}`;

  const login = (username: string, password: string, ip: string) =>
    request(svc.base, 'POST', '/auth/login', {
      body: { username, password },
      headers: { 'x-forwarded-for': ip },
    });
  const as = (token: string) => ({ token });

  /** A registered user, logged in once (from a source of its own). */
  async function newUser(): Promise<{ id: string; username: string; token: string }> {
    const username = uniqueName('lt');
    const reg = await request(svc.base, 'POST', '/auth/register', {
      body: { username, password: PASSWORD },
    });
    expect(reg.status).toBe(201);
    const res = await login(username, PASSWORD, freshIp());
    expect(res.status).toBe(200);
    return { id: reg.body.id, username, token: res.body.accessToken };
  }

  const clearedEvents = (targetId: string) =>
    query<{ actor_id: string | null; user_id: string; entity_type: string; details: any }>(
      db.url,
      `SELECT actor_id, user_id, entity_type, details FROM audit_events
        WHERE type = 'auth.lockout_cleared' AND target_id = $1 ORDER BY id`,
      [targetId],
    );

  beforeAll(async () => {
    db = await createTestDatabase('login_throttle_admin');
    svc = await startTestApp(db.url, {
      ...adminEnv(),
      TRUST_PROXY: 'loopback',
      // The second consecutive failure of an account from one source blocks it for an hour;
      // four failures from one source, any accounts, block the source for the day.
      LOGIN_FREE_ATTEMPTS: '2',
      LOGIN_BACKOFF_BASE: '1h',
      LOGIN_MAX_WAIT: '2h',
      LOGIN_SOURCE_LIMIT: '4',
    });
    const res = await login(ADMIN.username, ADMIN.password, freshIp());
    expect(res.status).toBe(200);
    const me = await request(svc.base, 'GET', '/me', as(res.body.accessToken));
    admin = { id: me.body.id, token: res.body.accessToken };
  });
  afterAll(async () => {
    await svc?.close();
    await db?.drop();
  });

  it("shows a user's lanes after failed logins; clearing them lifts the 429, recorded with the admin as actor", async () => {
    const user = await newUser();
    const ip = '198.51.100.7';
    expect((await login(user.username, 'wrong-password-1', ip)).status).toBe(401);
    expect((await login(user.username, 'wrong-password-2', ip)).status).toBe(401);
    // Throttled before the password is looked at: the right one is refused too.
    const refused = await login(user.username, PASSWORD, ip);
    expect(refused.status).toBe(429);
    expect(refused.body.message).toBe(THROTTLED_MESSAGE);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(3000);

    const status = await request(
      svc.base,
      'GET',
      `/admin/login-throttle/users/${user.id}`,
      as(admin.token),
    );
    expect(status.status).toBe(200);
    expect(Object.keys(status.body).sort()).toEqual(
      ['blockedUntil', 'failures', 'lanes', 'trustedDevices', 'userId'].sort(),
    );
    expect(status.body).toMatchObject({ userId: user.id, failures: 2, trustedDevices: 1 });
    expect(Date.parse(status.body.blockedUntil)).toBeGreaterThan(Date.now() + 50 * 60_000);
    const bySource = status.body.lanes.find(
      (l: { lane: string; source: string | null }) =>
        l.lane === 'account_source' && l.source === ip,
    );
    expect(bySource).toEqual({
      lane: 'account_source',
      source: ip,
      deviceId: null,
      failures: 2,
      windowStart: expect.any(String),
      lastFailureAt: expect.any(String),
      blockedUntil: status.body.blockedUntil,
    });
    expect(status.body.lanes.map((l: { lane: string }) => l.lane)).toEqual(
      expect.arrayContaining(['account', 'account_source', 'hard']),
    );
    expect(status.body.lanes.find((l: { lane: string }) => l.lane === 'hard')).toMatchObject({
      failures: 2,
      blockedUntil: null,
    });

    const cleared = await request(
      svc.base,
      'DELETE',
      `/admin/login-throttle/users/${user.id}`,
      as(admin.token),
    );
    expect(cleared.status).toBe(200);
    expect(Object.keys(cleared.body).sort()).toEqual(['cleared', 'lifted', 'userId']);
    expect(cleared.body.userId).toBe(user.id);
    expect(cleared.body.cleared).toBeGreaterThanOrEqual(3);
    expect(cleared.body.lifted).toEqual(['account_source']);

    // The next attempt is admitted and its password checked.
    const admitted = await login(user.username, PASSWORD, ip);
    expect(admitted.status).toBe(200);

    const [event] = await clearedEvents(user.id);
    expect(event).toEqual({
      actor_id: admin.id,
      user_id: user.id,
      entity_type: 'user',
      details: { by: 'admin', cleared: cleared.body.cleared, lanes: ['account_source'] },
    });
    // @Audited records the call as well.
    const [call] = await query<{ user_id: string; outcome: string; details: any }>(
      db.url,
      `SELECT user_id, outcome, details FROM audit_events
        WHERE type = 'admin.delete' AND target_id = $1`,
      [user.id],
    );
    expect(call).toMatchObject({ user_id: admin.id, outcome: 'success' });
    expect(call.details.route).toBe('DELETE /admin/login-throttle/users/:userId');

    // A user the throttle has never seen: no lanes (whether the user exists is not told).
    const unseen = await request(
      svc.base,
      'GET',
      '/admin/login-throttle/users/nobody-at-all',
      as(admin.token),
    );
    expect(unseen).toMatchObject({
      status: 200,
      body: {
        userId: 'nobody-at-all',
        failures: 0,
        blockedUntil: null,
        lanes: [],
        trustedDevices: 0,
      },
    });
  });

  it('lists the sources (throttled only, paged) and clears an IPv6 /64 by any of its addresses', async () => {
    const v4 = '203.0.113.9';
    const v6 = '2001:db8:abcd:12::5';
    const v6Source = '2001:db8:abcd:12::/64';
    // Four failures from each source, each on another (unknown) account: the source lane blocks.
    for (const ip of [v4, v6]) {
      for (let i = 0; i < 4; i++)
        expect((await login(uniqueName('ghost'), 'wrong-password', ip)).status).toBe(401);
      expect((await login(uniqueName('ghost'), 'wrong-password', ip)).status).toBe(429);
    }
    const quiet = freshIp();
    expect((await login(uniqueName('ghost'), 'wrong-password', quiet)).status).toBe(401);

    const all = await request(svc.base, 'GET', '/admin/login-throttle/sources', as(admin.token));
    expect(all.status).toBe(200);
    expect(all.body.nextCursor).toBeNull();
    const sources = all.body.items.map((s: { source: string }) => s.source);
    expect(sources).toEqual(expect.arrayContaining([v4, v6Source, quiet]));
    expect(all.body.items.find((s: { source: string }) => s.source === v6Source)).toEqual({
      source: v6Source,
      failures: 4,
      windowStart: expect.any(String),
      blockedUntil: expect.any(String),
    });
    expect(all.body.items.find((s: { source: string }) => s.source === quiet)).toMatchObject({
      failures: 1,
      blockedUntil: null,
    });

    const throttled = await request(
      svc.base,
      'GET',
      '/admin/login-throttle/sources?throttled=true',
      as(admin.token),
    );
    expect(throttled.body.items.map((s: { source: string }) => s.source).sort()).toEqual(
      [v4, v6Source].sort(),
    );
    const unfiltered = await request(
      svc.base,
      'GET',
      '/admin/login-throttle/sources?throttled=false',
      as(admin.token),
    );
    expect(unfiltered.body).toEqual(all.body);

    // Paged one by one, following nextCursor: the same sources, in the same order.
    const paged: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { status: number; body: any } = await request(
        svc.base,
        'GET',
        `/admin/login-throttle/sources?limit=1${cursor ? `&cursor=${cursor}` : ''}`,
        as(admin.token),
      );
      expect(page.status).toBe(200);
      expect(page.body.items.length).toBeLessThanOrEqual(1);
      paged.push(...page.body.items.map((s: { source: string }) => s.source));
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(paged).toEqual(sources);

    // Another address of the same /64, URL-encoded: the source is cleared and admitted again.
    const [{ lanes }] = await query<{ lanes: number }>(
      db.url,
      `SELECT count(*)::int AS lanes FROM login_throttle
        WHERE source = $1 AND lane IN ('source', 'account_source')`,
      [v6Source],
    );
    expect(lanes).toBeGreaterThanOrEqual(5); // its source lane and the four account lanes from it
    const cleared = await request(
      svc.base,
      'DELETE',
      `/admin/login-throttle/sources/${encodeURIComponent('2001:db8:abcd:12:ffff::1')}`,
      as(admin.token),
    );
    expect(cleared.status).toBe(200);
    expect(cleared.body).toEqual({ source: v6Source, cleared: lanes, lifted: ['source'] });
    expect((await login(uniqueName('ghost'), 'wrong-password', v6)).status).toBe(401);
    const [event] = await clearedEvents(v6Source);
    expect(event).toEqual({
      actor_id: admin.id,
      user_id: 'unknown',
      entity_type: 'source',
      details: { by: 'admin', source: v6Source, cleared: lanes, lanes: ['source'] },
    });

    // The source as the list names it (`…::/64`, its slash encoded) is taken as well.
    const byKey = await request(
      svc.base,
      'DELETE',
      `/admin/login-throttle/sources/${encodeURIComponent(v6Source)}`,
      as(admin.token),
    );
    expect(byKey).toMatchObject({ status: 200, body: { source: v6Source, lifted: [] } });

    // IPv4, as listed.
    expect((await login(uniqueName('ghost'), 'wrong-password', v4)).status).toBe(429);
    const v4Cleared = await request(
      svc.base,
      'DELETE',
      `/admin/login-throttle/sources/${v4}`,
      as(admin.token),
    );
    expect(v4Cleared).toMatchObject({ status: 200, body: { source: v4, lifted: ['source'] } });
    expect((await login(uniqueName('ghost'), 'wrong-password', v4)).status).toBe(401);
    const after = await request(
      svc.base,
      'GET',
      '/admin/login-throttle/sources?throttled=true',
      as(admin.token),
    );
    expect(after.body).toEqual({ items: [], nextCursor: null });
  });

  it('answers bad ids, addresses and parameters 400 with every problem, and clears nothing', async () => {
    const [{ head }] = await query<{ head: number }>(
      db.url,
      `SELECT coalesce(max(id), 0)::int AS head FROM audit_events`,
    );
    const rowsBefore = await query(
      db.url,
      `SELECT lane, key, failures FROM login_throttle ORDER BY lane, key`,
    );
    const cases: [string, string, { path: string; message: RegExp }[]][] = [
      [
        'GET',
        `/admin/login-throttle/users/${'x'.repeat(129)}`,
        [{ path: 'userId', message: /at most 128 characters/ }],
      ],
      [
        'DELETE',
        `/admin/login-throttle/users/${'x'.repeat(129)}`,
        [{ path: 'userId', message: /at most 128 characters/ }],
      ],
      [
        'DELETE',
        '/admin/login-throttle/users/a%EF%BF%BFb', // a noncharacter
        [{ path: 'userId', message: /user id/ }],
      ],
      ...['not-an-ip', '999.1.1.1', '1.2.3.4%2F64', '2001%3Adb8%3A%3A%2F48'].map(
        (ip): [string, string, { path: string; message: RegExp }[]] => [
          'DELETE',
          `/admin/login-throttle/sources/${ip}`,
          [{ path: 'ip', message: /^must be an IPv4 or IPv6 address/ }],
        ],
      ),
      [
        'DELETE',
        `/admin/login-throttle/sources/${'1'.repeat(300)}`,
        [{ path: 'ip', message: /IPv4 or IPv6/ }],
      ],
      [
        'GET',
        '/admin/login-throttle/sources?throttled=yes',
        [{ path: 'throttled', message: /^must be true or false$/ }],
      ],
      [
        'GET',
        '/admin/login-throttle/sources?throttled=true&throttled=false',
        [{ path: 'throttled', message: /^must be true or false$/ }],
      ],
      [
        'GET',
        '/admin/login-throttle/sources?limit=0&cursor=%21%21&status=blocked',
        [
          { path: 'status', message: /^is not a known query parameter$/ },
          { path: 'limit', message: /^must be an integer from 1 to 1000$/ },
          { path: 'cursor', message: /^is not a cursor this API returned$/ },
        ],
      ],
      [
        'GET',
        `/admin/login-throttle/sources?cursor=${Buffer.from("1' OR 1=1").toString('base64url')}`,
        [{ path: 'cursor', message: /^is not a cursor this API returned$/ }],
      ],
    ];
    for (const [method, path, errors] of cases) {
      const res = await request(svc.base, method, path, as(admin.token));
      expect([method, path, res.status]).toEqual([method, path, 400]);
      expect(res.body).toMatchObject({ statusCode: 400, error: 'Bad Request' });
      expect([path, res.body.errors]).toEqual([
        path,
        errors.map((e) => ({ path: e.path, message: expect.stringMatching(e.message) })),
      ]);
    }
    // Nothing cleared: the only records added are @Audited's accounts of the refused calls (an
    // earlier test's coalesced auth.login_throttled may be flushed meanwhile: not these calls').
    const added = await query<{ type: string; outcome: string }>(
      db.url,
      `SELECT type, outcome FROM audit_events
        WHERE id > $1 AND type <> 'auth.login_throttled' ORDER BY id`,
      [head],
    );
    expect(added.map((r) => r.type).sort()).toEqual(
      cases.map(([method]) => (method === 'GET' ? 'admin.read' : 'admin.delete')).sort(),
    );
    expect(added.every((r) => r.outcome === 'failure')).toBe(true);
    expect(
      await query(db.url, `SELECT lane, key, failures FROM login_throttle ORDER BY lane, key`),
    ).toEqual(rowsBefore);
  });

  it('refuses a non-admin with 403 and charges a strike for each attempt; nothing is cleared', async () => {
    const victim = await newUser();
    const ip = freshIp();
    await login(victim.username, 'wrong-password-1', ip);
    await login(victim.username, 'wrong-password-2', ip);
    expect((await login(victim.username, PASSWORD, ip)).status).toBe(429);

    const user = await newUser();
    const probes: [string, string][] = [
      ['GET', `/admin/login-throttle/users/${victim.id}`],
      ['DELETE', `/admin/login-throttle/users/${victim.id}`],
    ];
    for (const [method, path] of probes) {
      const res = await request(svc.base, method, path, as(user.token));
      expect([method, path, res.status]).toEqual([method, path, 403]);
      expect(res.body.message).toBe('this route requires the role admin');
    }
    const counter = await request(svc.base, 'GET', `/admin/strikes/${user.id}`, as(admin.token));
    expect(counter.body).toMatchObject({ userId: user.id, count: 2 });
    // The third probe is the third strike: the session ends (401 from then on).
    expect(
      (await request(svc.base, 'GET', '/admin/login-throttle/sources', as(user.token))).status,
    ).toBe(403);
    expect(
      (await request(svc.base, 'DELETE', `/admin/login-throttle/sources/${ip}`, as(user.token)))
        .status,
    ).toBe(401);
    expect(await clearedEvents(victim.id)).toEqual([]);
    expect(await clearedEvents(ip)).toEqual([]);
    expect((await login(victim.username, PASSWORD, ip)).status).toBe(429);
    // Without a token: 401, and no lane is touched either.
    expect(
      (await request(svc.base, 'DELETE', `/admin/login-throttle/users/${victim.id}`)).status,
    ).toBe(401);
    expect((await login(victim.username, PASSWORD, ip)).status).toBe(429);
  });
});

/** The host's authentication: integer ids, a role claim (as in rest-modules.spec.ts). */
@Injectable()
class HostAuth implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<Request & { user?: unknown }>();
    const raw = req.headers['x-user'];
    if (typeof raw !== 'string') throw new HttpException('log in first', 401);
    req.user = JSON.parse(raw);
    return true;
  }
}

describeWithPostgres('LoginThrottleAdminModule mounted by a host app', () => {
  let db: TestDatabase;
  let app: Awaited<ReturnType<typeof NestFactory.create>>;
  let base: string;
  let throttle: LoginThrottleService;
  const asked: StrikeguardPermission[] = [];
  const as = (user: { sub: number; sv: number; role: string }) => ({
    headers: { 'x-user': JSON.stringify(user) },
  });
  const admin = { sub: 1, sv: 0, role: 'admin' };
  const reader = { sub: 2, sv: 0, role: 'reader' };

  beforeAll(async () => {
    db = await createTestDatabase('login_throttle_host');
    const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sg-lt-host-'));
    @Module({
      imports: [
        ...strikeguardImports(db.url, logDir, { sharedDatabase: false }),
        LoginThrottleModule.forRoot({ secret: 'h'.repeat(32), freeAttempts: 1 }),
        LoginThrottleAdminModule.register({
          authorize: (req, permission) => {
            asked.push(permission);
            const role = (req as Request & { user?: { role?: string } }).user?.role;
            return role === 'admin' || (role === 'reader' && permission === 'login-throttle:read');
          },
        }),
      ],
      providers: [
        { provide: APP_GUARD, useClass: HostAuth },
        { provide: APP_GUARD, useClass: StrikeGuard },
      ],
    })
    class HostModule {}
    app = await NestFactory.create(HostModule, { logger: false });
    await app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
    throttle = app.get(LoginThrottleService);
  });
  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  it('refuses to mount without authorisation', () => {
    @Module({ imports: [LoginThrottleAdminModule.register({})] })
    class OpenModule {}
    return expect(
      NestFactory.create(OpenModule, { logger: false, abortOnError: false }),
    ).rejects.toThrow(RestAccessOptionsError);
  });

  it("asks the host's predicate for login-throttle:read and login-throttle:clear", async () => {
    const attempt = await throttle.admitAttempt({ account: 'carol', source: '192.0.2.1' });
    await attempt.failed(42, 'wrong_password');
    await expect(
      throttle.admitAttempt({ account: 'carol', source: '192.0.2.1' }),
    ).rejects.toMatchObject({ status: 429 });

    asked.length = 0;
    const read = await request(base, 'GET', '/admin/login-throttle/users/42', as(reader));
    expect(read).toMatchObject({ status: 200, body: { userId: '42', failures: 1 } });
    const refused = await request(base, 'DELETE', '/admin/login-throttle/users/42', as(reader));
    expect(refused.status).toBe(403);
    expect(refused.body.message).toBe('this route requires the permission login-throttle:clear');
    const cleared = await request(base, 'DELETE', '/admin/login-throttle/users/42', as(admin));
    expect(cleared).toMatchObject({
      status: 200,
      body: { userId: '42', lifted: ['account_source'] },
    });
    expect(asked).toEqual(['login-throttle:read', 'login-throttle:clear', 'login-throttle:clear']);
    const [event] = await query<{ actor_id: string }>(
      db.url,
      `SELECT actor_id FROM audit_events WHERE type = 'auth.lockout_cleared' AND user_id = '42'`,
    );
    expect(event.actor_id).toBe('1');
    await expect(
      throttle.admitAttempt({ account: 'carol', source: '192.0.2.1' }),
    ).resolves.toBeDefined();
  });

  /** The module's routes with the statuses they answer, in any host. */
  const ROUTES: Record<string, string[]> = {
    'GET /admin/login-throttle/users/{userId}': ['200', '400', '401', '403', '503'],
    'DELETE /admin/login-throttle/users/{userId}': ['200', '400', '401', '403', '503'],
    'GET /admin/login-throttle/sources': ['200', '400', '401', '403', '503'],
    'DELETE /admin/login-throttle/sources/{ip}': ['200', '400', '401', '403', '503'],
  };

  it("is described in the host's OpenAPI 3.1 document, and in 3.0 through toOpenApi30", async () => {
    const document = SwaggerModule.createDocument(
      app,
      new DocumentBuilder().setOpenAPIVersion('3.1.0').build(),
    ) as Record<string, any>;
    expect(await openApiErrors(document)).toEqual([]);
    expect(documentedStatuses(document)).toEqual(ROUTES);
    const fits = await responseChecker(document);
    const attempt = await throttle.admitAttempt({ account: 'dave', source: '2001:db8::7' });
    await attempt.failed(43);
    for (const [method, route, documented, status] of [
      ['GET', '/admin/login-throttle/users/43', '/admin/login-throttle/users/{userId}', 200],
      ['GET', '/admin/login-throttle/sources?limit=1', '/admin/login-throttle/sources', 200],
      ['GET', '/admin/login-throttle/sources?limit=x', '/admin/login-throttle/sources', 400],
      [
        'DELETE',
        '/admin/login-throttle/sources/2001:db8::1',
        '/admin/login-throttle/sources/{ip}',
        200,
      ],
      ['DELETE', '/admin/login-throttle/sources/x', '/admin/login-throttle/sources/{ip}', 400],
      ['DELETE', '/admin/login-throttle/users/43', '/admin/login-throttle/users/{userId}', 200],
    ] as [string, string, string, number][]) {
      const res = await request(base, method, route, as(admin));
      expect([route, res.status]).toEqual([route, status]);
      expect([route, fits(method, documented, res.status, res.body)]).toEqual([route, []]);
    }

    const v30 = toOpenApi30(
      SwaggerModule.createDocument(app, new DocumentBuilder().build()),
    ) as Record<string, any>;
    expect(await openApiErrors(v30)).toEqual([]);
    expect(documentedStatuses(v30)).toEqual(ROUTES);
  });
});
