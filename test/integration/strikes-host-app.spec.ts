import {
  Body,
  type CanActivate,
  ConflictException,
  Controller,
  type ExecutionContext,
  ForbiddenException,
  Get,
  HttpException,
  HttpStatus,
  Injectable,
  Module,
  Post,
  Put,
  UseGuards,
} from '@nestjs/common';
import { APP_FILTER, APP_INTERCEPTOR, NestFactory } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import { jest } from '@jest/globals';
import { type Request } from 'express';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { DataSource } from 'typeorm';
import {
  AuditModule,
  AuditService,
  NoStrikes,
  type StrikeCounter,
  StrikeGuard,
  StrikeOn,
  StrikesExceptionFilter,
  StrikesInterceptor,
  StrikesModule,
  StrikesService,
  strikeguardMigrations,
  ViolationException,
} from '../../src/index.js';
import { readAuditLog } from '../support/audit-files.js';
import { request } from '../support/http.js';
import {
  createTestDatabase,
  describeWithPostgres,
  query,
  type TestDatabase,
} from '../support/postgres.js';

/** A host's own 4xx error that one route maps to 3 strikes with @StrikeOn. */
class EditConflictError extends ConflictException {
  constructor() {
    super('the document was edited by someone else');
  }
}

/** A host's own error that the module-level `violations` option counts everywhere. */
class ScrapingError extends HttpException {
  constructor() {
    super('slow down', HttpStatus.TOO_MANY_REQUESTS);
  }
}

/** Not an HttpException: Nest's BaseExceptionFilter answers it 500. */
class TamperedPayloadError extends Error {}

/** The host's authentication (passport in a real app): the user and session version from headers. */
@Injectable()
class FakeAuthGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<Request & { user?: unknown }>();
    const id = req.headers['x-user'];
    if (typeof id === 'string' && id !== '') {
      req.user = { id, sessionVersion: Number(req.headers['x-sv'] ?? 0) };
    }
    return true;
  }
}

/** The host's authorization, placed after StrikeGuard: its 403 never reaches an interceptor. */
@Injectable()
class AdminOnlyGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<Request>();
    if (req.headers['x-role'] !== 'admin') throw new ForbiddenException('admins only');
    return true;
  }
}

@Controller('docs')
@UseGuards(FakeAuthGuard, StrikeGuard)
class DocsController {
  @Get('ping')
  ping() {
    return { ok: true };
  }

  @Post('tamper')
  tamper() {
    throw new ViolationException('tampering', 2);
  }

  @Put('edit')
  @StrikeOn(EditConflictError, { weight: 3, reason: 'edit_conflict' })
  edit() {
    throw new EditConflictError();
  }

  @Put('edit-unmarked')
  editUnmarked() {
    throw new EditConflictError();
  }

  @Get('scrape')
  scrape() {
    throw new ScrapingError();
  }

  @Get('scrape-lenient')
  @StrikeOn(ScrapingError, { weight: 1, reason: 'lenient_scrape' })
  scrapeLenient() {
    throw new ScrapingError();
  }

  @Post('payload')
  @StrikeOn(TamperedPayloadError)
  payload() {
    throw new TamperedPayloadError('signature mismatch');
  }

  @Get('forbidden')
  forbidden() {
    throw new ForbiddenException('not yours');
  }

  @Get('exempt')
  @NoStrikes()
  exempt() {
    throw new ForbiddenException('not yours either');
  }

  @Get('admin')
  @UseGuards(AdminOnlyGuard)
  admin() {
    return { secret: 42 };
  }

  @Get('admin-exempt')
  @NoStrikes()
  @UseGuards(AdminOnlyGuard)
  adminExempt() {
    return { secret: 43 };
  }

  /** A violation whose reason quotes client input, as hosts naturally write them. */
  @Post('rename')
  rename(@Body() body: { name: string }) {
    throw new ViolationException(`reserved name: ${body.name}`);
  }

  /** A login-like route: anonymous, refuses with 403 naming the account it was asked for. */
  @Post('unlock')
  unlock(@Body() body: { userId: string }) {
    throw new ForbiddenException(`wrong PIN for ${body.userId}`);
  }
}

describeWithPostgres('StrikesModule in a host app that imports only the library', () => {
  let db: TestDatabase;
  let logDir: string;
  let app: Awaited<ReturnType<typeof NestFactory.create>>;
  let base: string;
  let strikes: StrikesService;
  let dataSource: DataSource;
  const onSessionTerminated = jest.fn<(userId: string, counter: StrikeCounter) => void>();
  const onBlocked = jest.fn<(userId: string, counter: StrikeCounter) => void>();
  const onUnblocked = jest.fn<(userId: string, counter: StrikeCounter) => void>();

  beforeAll(async () => {
    db = await createTestDatabase('strikes_host');
    logDir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sg-strikes-host-')), 'audit');
    @Module({
      imports: [
        TypeOrmModule.forRoot({
          type: 'postgres',
          url: db.url,
          migrations: strikeguardMigrations,
          migrationsRun: true,
        }),
        AuditModule.forRoot({ logDir, fsync: false }),
        StrikesModule.forRoot({
          terminateAt: 3,
          blockAt: 12,
          violations: [{ exception: ScrapingError, weight: 2, reason: 'scraping' }],
          onSessionTerminated,
          onBlocked,
          onUnblocked,
        }),
      ],
      controllers: [DocsController],
      providers: [
        FakeAuthGuard,
        AdminOnlyGuard,
        { provide: APP_FILTER, useClass: StrikesExceptionFilter },
        { provide: APP_INTERCEPTOR, useClass: StrikesInterceptor },
      ],
    })
    class HostModule {}
    app = await NestFactory.create(HostModule, { logger: false });
    await app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
    strikes = app.get(StrikesService);
    dataSource = app.get(DataSource);
  });
  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  /** Registers a user as the host's registration would: counter in the user's transaction. */
  const newUser = async () => {
    const id = `user-${randomBytes(6).toString('hex')}`;
    await dataSource.transaction(async (manager) => {
      // (the host inserts its user row here)
      await strikes.enroll(id, manager);
    });
    return id;
  };
  const call = (
    method: string,
    route: string,
    as?: { user: string; sv?: number; role?: string },
    body?: unknown,
  ) => {
    const headers: Record<string, string> = {};
    if (as) {
      headers['x-user'] = as.user;
      headers['x-sv'] = String(as.sv ?? 0);
      if (as.role) headers['x-role'] = as.role;
    }
    return request(base, method, `/docs/${route}`, { headers, body });
  };
  const counter = async (userId: string) =>
    (
      await query<{ count: number; blocker: number; status: string; session_version: number }>(
        db.url,
        'SELECT count, blocker, status, session_version FROM strike_counters WHERE user_id = $1',
        [userId],
      )
    )[0];
  const events = (userId: string) =>
    query<{
      type: string;
      actor_id: string | null;
      method: string | null;
      path: string | null;
      details: any;
    }>(
      db.url,
      'SELECT type, actor_id, method, path, details FROM audit_events WHERE user_id = $1 ORDER BY id',
      [userId],
    );
  const types = async (userId: string) => (await events(userId)).map((e) => e.type);
  const callsFor = (
    hook: jest.Mock<(userId: string, counter: StrikeCounter) => void>,
    id: string,
  ) => hook.mock.calls.filter(([userId]) => userId === id);

  it('enrolls a user in the registration transaction with one strike_counter.created', async () => {
    const id = await newUser();
    expect(await counter(id)).toEqual({
      count: 0,
      blocker: 0,
      status: 'active',
      session_version: 0,
    });
    expect(await types(id)).toEqual(['strike_counter.created']);
    // Enrolling again is a no-op, not a second event.
    await dataSource.transaction((manager) => strikes.enroll(id, manager));
    expect(await types(id)).toEqual(['strike_counter.created']);
  });

  it('enrollment rolls back with the registration transaction that failed', async () => {
    const id = `user-${randomBytes(6).toString('hex')}`;
    await expect(
      dataSource.transaction(async (manager) => {
        await strikes.enroll(id, manager);
        throw new Error('the user row could not be inserted');
      }),
    ).rejects.toThrow('could not be inserted');
    expect(await counter(id)).toBeUndefined();
    expect(await types(id)).toEqual([]);
  });

  it('ViolationException(reason, 2): 403 reason violation, weight 2 charged with its reason', async () => {
    const id = await newUser();
    const res = await call('POST', 'tamper', { user: id });
    expect(res.status).toBe(403);
    expect(res.body).toMatchObject({ message: 'tampering', reason: 'violation' });
    expect(await counter(id)).toMatchObject({ count: 2, blocker: 2, status: 'active' });
    const evs = await events(id);
    expect(evs.map((e) => e.type)).toEqual(['strike_counter.created', 'strike.recorded']);
    expect(evs[1]).toEqual({
      type: 'strike.recorded',
      actor_id: id,
      method: 'POST',
      path: '/docs/tamper',
      details: { weight: 2, reason: 'tampering', count: 2, blocker: 2 },
    });
  });

  it('@StrikeOn(EditConflictError, {weight: 3}): the 409 stays, 3 strikes charged (a termination)', async () => {
    const id = await newUser();
    const res = await call('PUT', 'edit', { user: id });
    expect(res.status).toBe(409);
    expect(res.body).toEqual({
      statusCode: 409,
      error: 'Conflict',
      message: 'the document was edited by someone else',
    });
    expect(await counter(id)).toEqual({
      count: 0,
      blocker: 3,
      status: 'active',
      session_version: 1,
    });
    const evs = await events(id);
    expect(evs.map((e) => e.type)).toEqual([
      'strike_counter.created',
      'strike.recorded',
      'session.terminated',
    ]);
    expect(evs[1].details).toEqual({ weight: 3, reason: 'edit_conflict', count: 0, blocker: 3 });
    expect(callsFor(onSessionTerminated, id)).toHaveLength(1);
  });

  it('the same 409 on a route without @StrikeOn is not charged', async () => {
    const id = await newUser();
    const res = await call('PUT', 'edit-unmarked', { user: id });
    expect(res.status).toBe(409);
    expect(await counter(id)).toMatchObject({ count: 0, blocker: 0 });
    expect(await types(id)).toEqual(['strike_counter.created']);
  });

  it('@StrikeOn on a non-HttpException: charged, and Nest answers 500', async () => {
    const id = await newUser();
    const res = await call('POST', 'payload', { user: id });
    expect(res.status).toBe(500);
    expect(res.body).toEqual({ statusCode: 500, message: 'Internal server error' });
    expect(await counter(id)).toMatchObject({ count: 1, blocker: 1 });
    const evs = await events(id);
    expect(evs[1].details).toEqual({
      weight: 1,
      reason: 'TamperedPayloadError',
      count: 1,
      blocker: 1,
    });
  });

  it('a module-level `violations` rule charges its weight on any route; @StrikeOn overrides it', async () => {
    const id = await newUser();
    const res = await call('GET', 'scrape', { user: id });
    expect(res.status).toBe(429);
    expect(await counter(id)).toMatchObject({ count: 2, blocker: 2 });
    expect((await events(id))[1].details).toMatchObject({ weight: 2, reason: 'scraping' });

    const other = await newUser();
    expect((await call('GET', 'scrape-lenient', { user: other })).status).toBe(429);
    expect(await counter(other)).toMatchObject({ count: 1, blocker: 1 });
    expect((await events(other))[1].details).toMatchObject({
      weight: 1,
      reason: 'lenient_scrape',
    });
  });

  it('a 403 thrown by a handler is charged 1 by default', async () => {
    const id = await newUser();
    const res = await call('GET', 'forbidden', { user: id });
    expect(res.status).toBe(403);
    expect(res.body).toEqual({ statusCode: 403, error: 'Forbidden', message: 'not yours' });
    expect(await counter(id)).toMatchObject({ count: 1, blocker: 1 });
    expect((await events(id))[1].details).toEqual({
      weight: 1,
      reason: 'forbidden',
      count: 1,
      blocker: 1,
    });
  });

  it('@NoStrikes: a 403 from the handler is not charged', async () => {
    const id = await newUser();
    const res = await call('GET', 'exempt', { user: id });
    expect(res.status).toBe(403);
    expect(await counter(id)).toMatchObject({ count: 0, blocker: 0 });
    expect(await types(id)).toEqual(['strike_counter.created']);
  });

  it('a 403 from a roles guard after StrikeGuard is charged (by the filter) exactly once', async () => {
    const id = await newUser();
    const res = await call('GET', 'admin', { user: id });
    expect(res.status).toBe(403);
    expect(res.body).toEqual({ statusCode: 403, error: 'Forbidden', message: 'admins only' });
    expect(await counter(id)).toMatchObject({ count: 1, blocker: 1 });
    const evs = await events(id);
    expect(evs.map((e) => e.type)).toEqual(['strike_counter.created', 'strike.recorded']);
    expect(evs[1]).toMatchObject({
      actor_id: id,
      method: 'GET',
      path: '/docs/admin',
      details: { weight: 1, reason: 'forbidden' },
    });
    // The same user with the role passes and is not charged.
    const ok = await call('GET', 'admin', { user: id, role: 'admin' });
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({ secret: 42 });
    expect(await counter(id)).toMatchObject({ count: 1, blocker: 1 });
  });

  it('@NoStrikes also covers a guard 403 on that route', async () => {
    const id = await newUser();
    expect((await call('GET', 'admin-exempt', { user: id })).status).toBe(403);
    expect(await counter(id)).toMatchObject({ count: 0, blocker: 0 });
    expect(await types(id)).toEqual(['strike_counter.created']);
  });

  it('an anonymous 403 is never charged, not even to the user it names', async () => {
    const victim = await newUser();
    const before = await query<{ n: number }>(
      db.url,
      `SELECT count(*)::int AS n FROM audit_events WHERE type = 'strike.recorded'`,
    );
    for (let i = 0; i < 5; i++) {
      const res = await call('POST', 'unlock', undefined, { userId: victim });
      expect(res.status).toBe(403);
    }
    expect((await call('GET', 'forbidden')).status).toBe(403);
    expect(await counter(victim)).toEqual({
      count: 0,
      blocker: 0,
      status: 'active',
      session_version: 0,
    });
    expect(await types(victim)).toEqual(['strike_counter.created']);
    const after = await query<{ n: number }>(
      db.url,
      `SELECT count(*)::int AS n FROM audit_events WHERE type = 'strike.recorded'`,
    );
    expect(after[0].n).toBe(before[0].n);
    // The victim still gets in.
    expect((await call('GET', 'ping', { user: victim })).status).toBe(200);
  });

  it('a weight-2 strike on count 2 terminates and leaves 0; the old session gets 401 session_terminated', async () => {
    const id = await newUser();
    expect((await call('POST', 'tamper', { user: id })).status).toBe(403);
    expect(await counter(id)).toMatchObject({ count: 2, blocker: 2, session_version: 0 });
    expect(callsFor(onSessionTerminated, id)).toHaveLength(0);

    expect((await call('POST', 'tamper', { user: id })).status).toBe(403);
    expect(await counter(id)).toEqual({
      count: 0,
      blocker: 4,
      status: 'active',
      session_version: 1,
    });
    const terminated = callsFor(onSessionTerminated, id);
    expect(terminated).toHaveLength(1);
    expect(terminated[0][1]).toMatchObject({ userId: id, count: 0, blocker: 4, sessionVersion: 1 });

    const refused = await call('GET', 'ping', { user: id, sv: 0 });
    expect(refused.status).toBe(401);
    expect(refused.body).toMatchObject({ reason: 'session_terminated' });
    // The refusal is the module's own: not a violation, even on a route that would charge.
    expect((await call('POST', 'tamper', { user: id, sv: 0 })).status).toBe(401);
    expect(await counter(id)).toMatchObject({ count: 0, blocker: 4 });
    // A session at the new version is let through.
    expect((await call('GET', 'ping', { user: id, sv: 1 })).status).toBe(200);

    const evs = await events(id);
    expect(evs.map((e) => e.type)).toEqual([
      'strike_counter.created',
      'strike.recorded',
      'strike.recorded',
      'session.terminated',
      'access.denied',
    ]);
    expect(evs[2].details).toEqual({ weight: 2, reason: 'tampering', count: 0, blocker: 4 });
    expect(evs[3].details).toEqual({ reason: 'strikes', sessionVersion: 1, terminateAt: 3 });
    expect(evs[4].details).toMatchObject({ reason: 'session_terminated', count: 1 });
  });

  it('blocks at blocker 12 (403 account_blocked whatever the sv); unblock resets and names the actor', async () => {
    const id = await newUser();
    // Six weight-2 strikes, each on the current session: 2, 4 (T), 6, 8 (T), 10, 12 (T + block).
    for (let i = 1; i <= 6; i++) {
      const sv = (await counter(id)).session_version;
      const res = await call('POST', 'tamper', { user: id, sv });
      expect(res.status).toBe(403);
      expect(res.body.reason).toBe('violation'); // the violating request keeps its own answer
    }
    expect(await counter(id)).toEqual({
      count: 0,
      blocker: 12,
      status: 'blocked',
      session_version: 3,
    });
    expect(callsFor(onSessionTerminated, id)).toHaveLength(3);
    const blocked = callsFor(onBlocked, id);
    expect(blocked).toHaveLength(1);
    expect(blocked[0][1]).toMatchObject({ userId: id, status: 'blocked', blocker: 12 });

    for (const sv of [0, 3, 99]) {
      const res = await call('GET', 'ping', { user: id, sv });
      expect(res.status).toBe(403);
      expect(res.body).toMatchObject({ reason: 'account_blocked' });
    }
    // Refusals are never violations, even on a @NoStrikes or a charging route.
    expect((await call('GET', 'exempt', { user: id, sv: 3 })).body.reason).toBe('account_blocked');
    expect((await call('POST', 'tamper', { user: id, sv: 3 })).body.reason).toBe('account_blocked');
    expect(await counter(id)).toMatchObject({ blocker: 12, status: 'blocked' });

    const typesBefore = await types(id);
    expect(typesBefore.filter((t) => t === 'strike.recorded')).toHaveLength(6);
    expect(typesBefore.filter((t) => t === 'session.terminated')).toHaveLength(3);
    expect(typesBefore.filter((t) => t === 'account.blocked')).toHaveLength(1);
    // The last strike's three events commit together, in order.
    const at = typesBefore.indexOf('account.blocked');
    expect(typesBefore.slice(at - 2, at + 1)).toEqual([
      'strike.recorded',
      'session.terminated',
      'account.blocked',
    ]);
    // Five refusals of three sessions (sv 0, 3, 99; this host's tokens have no iat, so a session
    // is the user and its version) within a minute: one access.denied each so far, the rest coalesced.
    expect(typesBefore.filter((t) => t === 'access.denied')).toHaveLength(3);

    const reset = await strikes.unblock(id, 'admin-7', 'appeal accepted');
    expect(reset).toMatchObject({
      userId: id,
      count: 0,
      blocker: 0,
      status: 'active',
      blockedAt: null,
      sessionVersion: 4,
    });
    expect(await counter(id)).toEqual({
      count: 0,
      blocker: 0,
      status: 'active',
      session_version: 4,
    });
    const unblocked = callsFor(onUnblocked, id);
    expect(unblocked).toHaveLength(1);
    expect(unblocked[0][1]).toMatchObject({ userId: id, status: 'active' });
    const [event] = (await events(id)).filter((e) => e.type === 'account.unblocked');
    expect(event).toMatchObject({
      actor_id: 'admin-7',
      details: { reason: 'appeal accepted', wasBlocked: true },
    });

    // Sessions from before the unblock stay dead; a new one works.
    expect((await call('GET', 'ping', { user: id, sv: 3 })).body.reason).toBe('session_terminated');
    expect((await call('GET', 'ping', { user: id, sv: 4 })).status).toBe(200);
  });

  it('a violation whose reason quotes client input is charged, whatever the input', async () => {
    const id = await newUser();
    expect((await call('POST', 'rename', { user: id }, { name: 'root' })).status).toBe(403);
    expect(await counter(id)).toMatchObject({ count: 1, blocker: 1 });
    // A NUL byte, or a long string, in the quoted input makes the audit event invalid. The
    // violation must still be charged (reason sanitised or truncated), not turned into a 503 that
    // lets the violator probe on uncharged.
    const inputs = { 'a NUL byte': 'ro\u0000ot', '5,000 characters': 'r'.repeat(5000) };
    for (const [input, name] of Object.entries(inputs)) {
      const res = await call('POST', 'rename', { user: id }, { name });
      expect({ input, status: res.status, reason: res.body.reason }).toEqual({
        input,
        status: 403,
        reason: 'violation',
      });
    }
    expect(await counter(id)).toMatchObject({ count: 0, blocker: 3, session_version: 1 });
  });

  it('unblocking an unknown user answers null and records nothing', async () => {
    const ghost = `ghost-${randomBytes(4).toString('hex')}`;
    expect(await strikes.unblock(ghost, 'admin-7', 'typo')).toBeNull();
    expect(await types(ghost)).toEqual([]);
    expect(callsFor(onUnblocked, ghost)).toHaveLength(0);
  });

  it('the log file holds the same chain as the table, and it verifies', async () => {
    const rows = await query<{ id: string; type: string }>(
      db.url,
      'SELECT id, type FROM audit_events ORDER BY id',
    );
    const lines = readAuditLog(logDir);
    expect(lines.map((l) => [String(l.id), l.type])).toEqual(rows.map((r) => [r.id, r.type]));
    expect(await app.get(AuditService).verify()).toMatchObject({ ok: true });
  });
});
