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
import { StrikeGuard, StrikesService } from '../../src/index.js';
import {
  AuditApiModule,
  RestAccessOptionsError,
  type StrikeguardPermission,
  StrikesAdminModule,
  toOpenApi30,
} from '../../src/rest/index.js';
import { request } from '../support/http.js';
import { strikeguardImports } from '../support/strikeguard-imports.js';
import { documentedStatuses, openApiErrors, responseChecker } from '../support/openapi.js';
import {
  createTestDatabase,
  describeWithPostgres,
  query,
  type TestDatabase,
} from '../support/postgres.js';

interface HostUser {
  sub: number;
  sv: number;
  role: 'admin' | 'auditor' | 'user';
}

/** The host's authentication: integer ids, a role claim. */
@Injectable()
class HostAuth implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<Request & { user?: HostUser }>();
    const raw = req.headers['x-user'];
    if (typeof raw !== 'string') throw new HttpException('log in first', 401);
    req.user = JSON.parse(raw);
    return true;
  }
}

/** The host's authorisation, as a predicate over the library's permissions. */
function authorize(req: Request, permission: StrikeguardPermission): boolean {
  const role = (req as Request & { user?: HostUser }).user?.role;
  if (role === 'admin') return true;
  return role === 'auditor' && permission === 'audit:read';
}

describeWithPostgres('the REST modules mounted by a host app', () => {
  let db: TestDatabase;
  let app: Awaited<ReturnType<typeof NestFactory.create>>;
  let base: string;
  let strikes: StrikesService;
  const as = (user: HostUser) => ({ headers: { 'x-user': JSON.stringify(user) } });
  const admin: HostUser = { sub: 1, sv: 0, role: 'admin' };
  const auditor: HostUser = { sub: 2, sv: 0, role: 'auditor' };

  beforeAll(async () => {
    db = await createTestDatabase('rest_modules');
    const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sg-rest-'));
    @Module({
      imports: [
        ...strikeguardImports(db.url, logDir, { sharedDatabase: false }),
        StrikesAdminModule.register({ authorize }),
        AuditApiModule.register({ authorize }),
      ],
      providers: [
        { provide: APP_GUARD, useClass: HostAuth },
        { provide: APP_GUARD, useClass: StrikeGuard },
      ],
    })
    class HostModule {}
    // rawBody: POST /audit/events checks the JSON text itself (repeated member names)
    app = await NestFactory.create(HostModule, { logger: false, rawBody: true });
    await app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
    strikes = app.get(StrikesService);
  });

  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  it('refuses to mount without authorisation', () => {
    expect(() => StrikesAdminModule.register({})).not.toThrow(); // options are checked at start
    @Module({ imports: [AuditApiModule.register({})] })
    class OpenModule {}
    return expect(
      NestFactory.create(OpenModule, { logger: false, abortOnError: false }),
    ).rejects.toThrow(RestAccessOptionsError);
  });

  it('lets the host admin read a counter and unblock with a reason, recorded with the admin as actor', async () => {
    await strikes.recordViolation(77, 12, 'abuse');
    const state = await request(base, 'GET', '/admin/strikes/77', as(admin));
    expect(state).toMatchObject({ status: 200, body: { userId: '77', status: 'blocked' } });
    const blocked = await request(base, 'GET', '/admin/strikes?status=blocked', as(admin));
    expect(blocked.body.items.map((c: { userId: string }) => c.userId)).toContain('77');
    const unblocked = await request(base, 'POST', '/admin/strikes/77/unblock', {
      ...as(admin),
      body: { reason: 'reviewed' },
    });
    expect(unblocked).toMatchObject({ status: 200, body: { status: 'active', blocker: 0 } });
    const [event] = await query(
      db.url,
      `SELECT actor_id AS "actorId", details FROM audit_events WHERE type = 'account.unblocked' AND user_id = '77'`,
    );
    expect(event).toMatchObject({ actorId: '1', details: { reason: 'reviewed' } });
  });

  it('answers bad input 400 with every field, and writes nothing', async () => {
    const [{ head }] = await query<{ head: number }>(
      db.url,
      `SELECT coalesce(max(id), 0)::int AS head FROM audit_events`,
    );
    const counterBefore = await strikes.find(77);
    const cases: [string, string, unknown][] = [
      ['POST', '/admin/strikes/77/unblock', {}],
      ['POST', '/admin/strikes/77/unblock', { reason: 'x', extra: 1 }],
      ['GET', '/admin/strikes?status=gone', undefined],
      ['GET', '/admin/strikes?limit=1%3B%20DROP%20TABLE%20x', undefined],
      ['GET', '/audit/events?limit=0', undefined],
      ['GET', "/audit/events?userId=1'%20OR%201%3D1", undefined],
      ['GET', '/audit/verify?fromId=abc', undefined],
      ['POST', '/audit/events', { type: 'BAD TYPE', userId: 'u' }],
    ];
    for (const [method, p, body] of cases) {
      const res = await request(base, method, p, { ...as(admin), body });
      if (p.includes('userId=1')) {
        expect(res.status).toBe(200); // a strange user id is a value, not SQL
        expect(res.body.items).toEqual([]);
        continue;
      }
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ statusCode: 400, error: 'Bad Request' });
      expect(res.body.errors.length).toBeGreaterThan(0);
    }
    // The only records added are @Audited's accounts of the admin calls themselves (each a
    // failure with its 400): no submitted event, no unblock, no strike.
    const added = await query<{ type: string; outcome: string }>(
      db.url,
      `SELECT type, outcome FROM audit_events WHERE id > $1 ORDER BY id`,
      [head],
    );
    expect(added.map((r) => r.type)).toEqual([
      'admin.create',
      'admin.create',
      'admin.read',
      'admin.read',
    ]);
    expect(added.every((r) => r.outcome === 'failure')).toBe(true);
    expect(await strikes.find(77)).toEqual(counterBefore);
  });

  it('serves the audit API to the roles the predicate allows, and charges the refused', async () => {
    const submitted = await request(base, 'POST', '/audit/events', {
      ...as(admin),
      body: [
        {
          type: 'billing.refund',
          userId: '5',
          entityType: 'invoice',
          ip: null,
          location: null,
          description: 'refund',
          details: { amount: 3 },
        },
      ],
    });
    expect(submitted).toMatchObject({ status: 201, body: { ids: [expect.any(Number)] } });
    const [id] = submitted.body.ids;
    expect((await request(base, 'GET', `/audit/events/${id}`, as(auditor))).body).toMatchObject({
      type: 'billing.refund',
      actorId: '1',
    });
    expect((await request(base, 'GET', '/audit/verify', as(auditor))).body).toMatchObject({
      ok: true,
    });
    // The auditor may not write, nor unblock: each refusal is a violation; the third ends the session.
    for (const attempt of [
      () =>
        request(base, 'POST', '/audit/events', {
          ...as(auditor),
          body: { type: 'x', userId: 'y' },
        }),
      () =>
        request(base, 'POST', '/admin/strikes/77/unblock', {
          ...as(auditor),
          body: { reason: 'r' },
        }),
      () => request(base, 'GET', '/admin/strikes', as(auditor)),
    ]) {
      const res = await attempt();
      expect(res.status).toBe(403);
      expect(res.body.message).toMatch(/requires the permission/);
    }
    const dead = await request(base, 'GET', '/audit/verify', as(auditor));
    expect(dead).toMatchObject({ status: 401, body: { reason: 'session_terminated' } });
    expect(await strikes.find(2)).toMatchObject({ blocker: 3 });
  });

  /** The library's routes with the statuses they answer, in any host. */
  const LIBRARY_ROUTES: Record<string, string[]> = {
    'GET /admin/strikes': ['200', '400', '401', '403', '503'],
    'GET /admin/strikes/{userId}': ['200', '400', '401', '403', '404', '503'],
    'POST /admin/strikes/{userId}/unblock': [
      '200',
      '400',
      '401',
      '403',
      '404',
      '413',
      '415',
      '503',
    ],
    'POST /audit/events': ['201', '400', '401', '403', '413', '415', '503'],
    'GET /audit/events': ['200', '400', '401', '403', '503'],
    'GET /audit/events/recent': ['200', '400', '401', '403', '503'],
    'GET /audit/events/{id}': ['200', '400', '401', '403', '404', '503'],
    'GET /audit/schema': ['200', '401', '403', '503'],
    'GET /audit/verify': ['200', '400', '401', '403', '429', '503'],
    'GET /audit/verify/{id}': ['200', '400', '401', '403', '404', '503'],
  };

  it("is described in the host's OpenAPI 3.1 document, which validates", async () => {
    const document = SwaggerModule.createDocument(
      app,
      new DocumentBuilder().setOpenAPIVersion('3.1.0').build(),
    ) as Record<string, any>;
    expect(await openApiErrors(document)).toEqual([]);
    expect(documentedStatuses(document)).toEqual(LIBRARY_ROUTES);
    expect(document.paths['/admin/strikes/{userId}/unblock'].post?.requestBody).toBeDefined();
    expect(Object.keys(document.components.schemas)).toEqual(
      expect.arrayContaining(['StrikeguardError', 'StrikeguardFieldError']),
    );
    // What the host answers fits what its document says.
    const fits = await responseChecker(document);
    await strikes.recordViolation(78, 1, 'documented');
    for (const [method, route, documented, status, body] of [
      ['GET', '/admin/strikes/78', '/admin/strikes/{userId}', 200],
      ['GET', '/admin/strikes/nobody', '/admin/strikes/{userId}', 404],
      ['GET', '/admin/strikes?limit=2', '/admin/strikes', 200],
      ['GET', '/admin/strikes?limit=0', '/admin/strikes', 400],
      [
        'POST',
        '/admin/strikes/78/unblock',
        '/admin/strikes/{userId}/unblock',
        200,
        { reason: 'r' },
      ],
      ['GET', '/audit/events/recent?count=2', '/audit/events/recent', 200],
      ['GET', '/audit/events/1', '/audit/events/{id}', 200],
      ['GET', '/audit/verify', '/audit/verify', 200],
      ['GET', '/audit/verify/1', '/audit/verify/{id}', 200],
      ['GET', '/audit/schema', '/audit/schema', 200],
    ] as [string, string, string, number, unknown?][]) {
      const res = await request(base, method, route, { ...as(admin), body });
      expect([route, res.status]).toEqual([route, status]);
      expect([route, fits(method, documented, res.status, res.body)]).toEqual([route, []]);
    }
  });

  it('is valid for a host that stays on OpenAPI 3.0, through toOpenApi30', async () => {
    const document = toOpenApi30(
      SwaggerModule.createDocument(app, new DocumentBuilder().build()),
    ) as Record<string, any>;
    expect(document.openapi).toBe('3.0.3');
    expect(await openApiErrors(document)).toEqual([]);
    expect(documentedStatuses(document)).toEqual(LIBRARY_ROUTES);
    const record =
      document.paths['/audit/events/{id}'].get.responses['200'].content['application/json'].schema;
    expect(record.properties.actorId).toMatchObject({
      type: 'string',
      nullable: true,
      maxLength: 128,
    });
  });
});
