import {
  type ArgumentsHost,
  type CanActivate,
  Catch,
  Controller,
  type DynamicModule,
  type ExceptionFilter,
  type ExecutionContext,
  ForbiddenException,
  Get,
  HttpException,
  Injectable,
  Module,
  NotFoundException,
  Param,
  type Provider,
  UseFilters,
  UseGuards,
} from '@nestjs/common';
import { APP_FILTER, APP_GUARD, NestFactory } from '@nestjs/core';
import { type Request, type Response } from 'express';
import fs from 'node:fs';
import { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { StrikeGuard, StrikesService } from '../../src/index.js';
import { request } from '../support/http.js';
import { strikeguardImports } from '../support/strikeguard-imports.js';
import {
  createTestDatabase,
  describeWithPostgres,
  type TestDatabase,
} from '../support/postgres.js';

/**
 * Every common way a host wires strikeguard, attacked with a dead token: whatever the order of
 * guards and filters and whatever the type of the user id, a terminated or blocked session never
 * reaches a handler, every host 403 is charged exactly once, and the host's error bodies survive.
 */

type IdKind = 'number' | 'string' | 'bigint';
type GuardPlacement = 'global-before-auth' | 'global-after-auth' | 'controller' | 'none';
type FilterPlacement = 'none' | 'app-filter' | 'use-global-filters' | 'controller';

/** Handler calls, by user: a dead session must never add one. */
const reached = new Map<string, number>();

/** The host's authentication (as passport-jwt would leave it): `request.user` from headers. */
@Injectable()
class HostAuthGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<Request & { user?: unknown }>();
    const sub = req.headers['x-sub'];
    const kind = req.headers['x-id-kind'];
    if (typeof sub !== 'string') throw new HttpException({ host: true, message: 'who?' }, 401);
    const id = kind === 'number' ? Number(sub) : kind === 'bigint' ? BigInt(sub) : sub;
    req.user = { sub: id, sv: Number(req.headers['x-sv'] ?? 0), iat: 1 };
    return true;
  }
}

/** The host's role check: a 403 thrown by a guard, which no interceptor ever sees. */
@Injectable()
class HostRolesGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<Request>();
    if (req.path.endsWith('/admin')) throw new ForbiddenException('admins only');
    return true;
  }
}

/** The host's own catch-all error renderer. */
@Catch()
class HostFilter implements ExceptionFilter {
  catch(exception: unknown, host: ArgumentsHost): void {
    const status = exception instanceof HttpException ? exception.getStatus() : 500;
    const raw = exception instanceof HttpException ? exception.getResponse() : null;
    const reason = typeof raw === 'object' && raw ? (raw as { reason?: string }).reason : undefined;
    host
      .switchToHttp()
      .getResponse<Response>()
      .status(status)
      .json({ host: true, status, reason, message: (exception as Error).message });
  }
}

function controllerFor(guard: GuardPlacement, filter: FilterPlacement) {
  const guards: (new (...args: never[]) => CanActivate)[] = [];
  if (guard === 'controller') guards.push(HostAuthGuard, StrikeGuard, HostRolesGuard);
  else guards.push(HostRolesGuard);
  @Controller('w')
  @UseGuards(...guards)
  @UseFilters(...(filter === 'controller' ? [HostFilter] : []))
  class WiringController {
    @Get('profile')
    profile() {
      return { ok: true };
    }

    @Get('admin')
    admin() {
      return { secret: 1 };
    }

    @Get('missing')
    missing() {
      throw new NotFoundException('no such thing');
    }

    @Get('hit/:user')
    hit(@Param('user') user: string) {
      reached.set(user, (reached.get(user) ?? 0) + 1);
      return { ok: true };
    }
  }
  return WiringController;
}

async function startHost(
  db: TestDatabase,
  logDir: string,
  guard: GuardPlacement,
  filter: FilterPlacement,
) {
  // 'global-before-auth' is the wiring that failed open: the auth guard global in its own
  // module, StrikeGuard global in the root module (Nest scans the root first, so StrikeGuard runs
  // before authentication). 'global-after-auth' registers both in the root, auth first.
  const authGuard: Provider = { provide: APP_GUARD, useClass: HostAuthGuard };
  @Module({ providers: guard === 'global-before-auth' || guard === 'none' ? [authGuard] : [] })
  class HostAuthModule {}
  const rootProviders: Provider[] = [];
  if (guard === 'global-after-auth') rootProviders.push(authGuard);
  if (guard === 'global-before-auth' || guard === 'global-after-auth')
    rootProviders.push({ provide: APP_GUARD, useClass: StrikeGuard });
  if (filter === 'app-filter') rootProviders.push({ provide: APP_FILTER, useClass: HostFilter });
  const imports: DynamicModule['imports'] = [
    ...strikeguardImports(db.url, logDir, { terminateAt: 3, blockAt: 6, sharedDatabase: false }),
    HostAuthModule,
  ];
  @Module({ imports, controllers: [controllerFor(guard, filter)], providers: rootProviders })
  class HostAppModule {}
  const app = await NestFactory.create(HostAppModule, { logger: false });
  if (filter === 'use-global-filters') app.useGlobalFilters(new HostFilter());
  await app.listen(0, '127.0.0.1');
  const base = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  return { app, base, strikes: app.get(StrikesService) };
}

const GUARDS: GuardPlacement[] = ['global-before-auth', 'global-after-auth', 'controller', 'none'];
const FILTERS: FilterPlacement[] = ['none', 'app-filter', 'use-global-filters', 'controller'];
const KINDS: IdKind[] = ['number', 'string', 'bigint'];

describeWithPostgres('strikeguard wired in every common way', () => {
  let db: TestDatabase;
  let logRoot: string;
  let nextUser = 1000;

  beforeAll(async () => {
    db = await createTestDatabase('strikes_wiring');
    logRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'sg-wiring-'));
  });

  afterAll(async () => {
    await db?.drop();
    fs.rmSync(logRoot, { recursive: true, force: true });
  });

  const cases = GUARDS.flatMap((guard, g) =>
    FILTERS.map((filter, f) => ({ guard, filter, kind: KINDS[(g + f) % KINDS.length] })),
  );

  it.each(cases)(
    'guard $guard, host filter $filter, $kind ids: dead sessions refused, 403s charged once, host bodies kept',
    async ({ guard, filter, kind }) => {
      const { app, base, strikes } = await startHost(
        db,
        path.join(logRoot, `${guard}-${filter}`),
        guard,
        filter,
      );
      try {
        const user = String(nextUser++);
        const hostShaped = filter !== 'none';
        const as = (sv: number) => ({ 'x-sub': user, 'x-id-kind': kind, 'x-sv': String(sv) });
        const get = (p: string, sv: number) => request(base, 'GET', p, { headers: as(sv) });

        const ok = await get(`/w/hit/${user}`, 0);
        expect(ok.status).toBe(200);
        // Unenrolled user: the first violation enrolls it (numeric ids become their text form).
        for (let i = 1; i <= 3; i++) {
          const denied = await get('/w/admin', 0);
          expect(denied.status).toBe(403);
          if (hostShaped) expect(denied.body).toMatchObject({ host: true, status: 403 });
          else expect(denied.body).toMatchObject({ statusCode: 403, message: 'admins only' });
        }
        expect(await strikes.find(user)).toMatchObject({ count: 0, blocker: 3, sessionVersion: 1 });

        // The terminated token: refused on every route, the handler is never reached, no charge.
        const before = reached.get(user);
        for (const p of [`/w/hit/${user}`, '/w/admin', '/w/profile', '/w/missing']) {
          const dead = await get(p, 0);
          expect(dead.status).toBe(401);
          expect(JSON.stringify(dead.body)).toContain('session_terminated');
          if (hostShaped) expect(dead.body).toMatchObject({ host: true });
        }
        expect(reached.get(user)).toBe(before);
        expect(await strikes.find(user)).toMatchObject({ blocker: 3 });

        // The host's own errors keep the host's body; a fresh session works.
        const missing = await get('/w/missing', 1);
        expect(missing.status).toBe(404);
        if (hostShaped)
          expect(missing.body).toEqual({ host: true, status: 404, message: 'no such thing' });
        expect((await get('/w/profile', 1)).status).toBe(200);

        for (let i = 1; i <= 3; i++) expect((await get('/w/admin', 1)).status).toBe(403);
        // 6 cumulative: blocked. Every token, old or new, is refused with account_blocked.
        expect(await strikes.find(user)).toMatchObject({ status: 'blocked', blocker: 6 });
        for (const sv of [0, 1, 2, 99]) {
          const blocked = await get(`/w/hit/${user}`, sv);
          expect(blocked.status).toBe(403);
          expect(JSON.stringify(blocked.body)).toContain('account_blocked');
        }
        expect(reached.get(user)).toBe(before);
        // Refusals are never violations: still 6.
        expect(await strikes.find(user)).toMatchObject({ blocker: 6 });
        await expect(
          strikes.loginClaims(kind === 'string' ? user : Number(user)),
        ).rejects.toMatchObject({
          reason: 'account_blocked',
        });
      } finally {
        await app.close();
      }
    },
  );
});
