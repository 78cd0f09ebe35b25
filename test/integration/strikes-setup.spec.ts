import {
  type CanActivate,
  Controller,
  type ExecutionContext,
  Get,
  Injectable,
  Logger,
  Module,
  UseGuards,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import { jest } from '@jest/globals';
import { type Request } from 'express';
import fs from 'node:fs';
import { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { register } from 'prom-client';
import {
  AuditModule,
  StrikeGuard,
  StrikesModule,
  type StrikesModuleOptions,
  StrikesService,
  strikeguardMigrations,
} from '../../src/index.js';
import { request } from '../support/http.js';
import { strikeguardImports } from '../support/strikeguard-imports.js';
import {
  createTestDatabase,
  describeWithPostgres,
  query,
  type TestDatabase,
} from '../support/postgres.js';

/** Whatever the header says becomes `request.user`, as a careless auth layer might leave it. */
@Injectable()
class RawUserGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<Request & { user?: unknown }>();
    const raw = req.headers['x-user'];
    if (typeof raw === 'string') req.user = JSON.parse(raw);
    return true;
  }
}

let handled = 0;

@Controller('s')
@UseGuards(RawUserGuard, StrikeGuard)
class SetupController {
  @Get('me')
  me() {
    handled++;
    return { ok: true };
  }
}

async function start(db: TestDatabase, options: StrikesModuleOptions = {}) {
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sg-setup-'));
  @Module({
    imports: strikeguardImports(db.url, logDir, { sharedDatabase: false, ...options }),
    controllers: [SetupController],
  })
  class SetupAppModule {}
  const app = await NestFactory.create(SetupAppModule, { logger: ['error'] });
  await app.listen(0, '127.0.0.1');
  const base = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  return { app, base };
}

async function unmappableCount(policy: string): Promise<number> {
  const metric = await register.getSingleMetric('strikeguard_unmappable_principals_total')?.get();
  return metric?.values.find((v) => v.labels.policy === policy)?.value ?? 0;
}

describeWithPostgres('a request.user strikeguard cannot map', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase('strikes_setup');
  });

  afterAll(async () => {
    await db?.drop();
  });

  const hostile: [string, unknown][] = [
    ['no id at all', { name: 'mallory' }],
    ['an object id', { id: { $ne: null } }],
    ['an array id', { sub: ['1', '2'] }],
    ['a fractional id', { sub: 1.5 }],
    ['an empty id', { sub: '' }],
    ['an over-long id', { sub: 'x'.repeat(129) }],
    ['a boolean id', { id: true }],
    ['a non-integer session version', { sub: 'u1', sv: 'latest' }],
    ['a negative session version', { sub: 'u1', sv: -1 }],
    ['a user that is a string', 'admin'],
  ];

  it.each(hostile)('is refused with 503 naming the fix when it has %s', async (_name, user) => {
    const { app, base } = await start(db);
    const errors = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    try {
      const before = handled;
      const metricBefore = await unmappableCount('refuse');
      const res = await request(base, 'GET', '/s/me', {
        headers: { 'x-user': JSON.stringify(user) },
      });
      expect(res.status).toBe(503);
      expect(res.body.reason).toBe('principal_unmappable');
      expect(res.body.message).toMatch(/principalOf/);
      expect(handled).toBe(before);
      expect(await unmappableCount('refuse')).toBe(metricBefore + 1);
      expect(errors.mock.calls.some(([m]) => /cannot map/.test(String(m)))).toBe(true);
    } finally {
      errors.mockRestore();
      await app.close();
    }
  });

  it('logs each cause once, however many requests carry it', async () => {
    const { app, base } = await start(db);
    const errors = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    try {
      for (let i = 0; i < 5; i++)
        await request(base, 'GET', '/s/me', { headers: { 'x-user': '{"name":"x"}' } });
      expect(errors.mock.calls.filter(([m]) => /cannot map/.test(String(m)))).toHaveLength(1);
    } finally {
      errors.mockRestore();
      await app.close();
    }
  });

  it('passes as anonymous, counted, when the host chose unmappablePrincipal: "anonymous"', async () => {
    const { app, base } = await start(db, { unmappablePrincipal: 'anonymous' });
    try {
      const metricBefore = await unmappableCount('anonymous');
      const res = await request(base, 'GET', '/s/me', { headers: { 'x-user': '{"name":"x"}' } });
      expect(res.status).toBe(200);
      expect(await unmappableCount('anonymous')).toBe(metricBefore + 1);
    } finally {
      await app.close();
    }
  });

  it('accepts integer, bigint-like and text ids, and anonymous requests', async () => {
    const { app, base } = await start(db);
    try {
      for (const user of [{ sub: 7 }, { id: '8', sv: '0' }, { userId: 'abc', sessionVersion: 0 }]) {
        const res = await request(base, 'GET', '/s/me', {
          headers: { 'x-user': JSON.stringify(user) },
        });
        expect(res.status).toBe(200);
      }
      expect((await request(base, 'GET', '/s/me')).status).toBe(200);
      expect(
        (await request(base, 'GET', '/s/me', { headers: { 'x-user': '{"kind":"service"}' } }))
          .status,
      ).toBe(200);
    } finally {
      await app.close();
    }
  });

  it('a principalOf that throws is refused, not treated as anonymous', async () => {
    const { app, base } = await start(db, {
      principalOf: (req) => {
        if ((req as Request & { user?: unknown }).user) throw new Error('bad claims');
        return null;
      },
    });
    const errors = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    try {
      const res = await request(base, 'GET', '/s/me', { headers: { 'x-user': '{"sub":"1"}' } });
      expect(res.status).toBe(503);
      expect(res.body.message).toContain('bad claims');
    } finally {
      errors.mockRestore();
      await app.close();
    }
  });
});

describeWithPostgres('the login gate', () => {
  let db: TestDatabase;
  let app: Awaited<ReturnType<typeof start>>['app'];
  let strikes: StrikesService;

  beforeAll(async () => {
    db = await createTestDatabase('strikes_gate');
    ({ app } = await start(db, { terminateAt: 3, blockAt: 6 }));
    strikes = app.get(StrikesService);
  });

  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  it('answers the session version a new token must carry, for integer ids too', async () => {
    expect(await strikes.loginClaims(41)).toEqual({ sv: 0 });
    for (let i = 0; i < 3; i++) await strikes.recordViolation(41, 1, 'probe');
    expect(await strikes.loginClaims(41)).toEqual({ sv: 1 });
    expect(await strikes.loginClaims('41')).toEqual({ sv: 1 });
  });

  it('throws the account_blocked refusal (403) for a blocked account', async () => {
    await strikes.recordViolation(42, 6, 'abuse');
    await expect(strikes.loginClaims(42)).rejects.toMatchObject({
      reason: 'account_blocked',
      status: 403,
    });
  });

  it('rejects ids it cannot key on with a typed error', async () => {
    for (const bad of [1.5, '', {}, null, 'x'.repeat(200)]) {
      await expect(strikes.loginClaims(bad as never)).rejects.toThrow(/user id must be/);
      await expect(strikes.recordViolation(bad as never)).rejects.toThrow(/user id must be/);
    }
  });
});

describeWithPostgres('setup mistakes get errors that name the fix', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase('strikes_mistakes');
  });

  afterAll(async () => {
    await db?.drop();
  });

  it('StrikesModule without AuditModule', async () => {
    @Module({
      imports: [
        TypeOrmModule.forRoot({ type: 'postgres', url: db.url, retryAttempts: 0 }),
        StrikesModule.forRoot({ sharedDatabase: false }),
      ],
    })
    // A start that fails leaves no handle to close: no retries, so nothing outlives the test.
    class NoAuditModule {}
    await expect(
      NestFactory.create(NoAuditModule, { logger: false, abortOnError: false }),
    ).rejects.toThrow(/add AuditModule\.forRoot/);
  });

  it('strike_counters missing: the migrations were not added', async () => {
    const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sg-nomig-'));
    // The audit table exists (its migration ran), the strikes one does not.
    @Module({
      imports: [
        TypeOrmModule.forRoot({
          type: 'postgres',
          url: db.url,
          retryAttempts: 0,
          migrations: strikeguardMigrations.filter((m) => /Audit/.test(m.name)),
          migrationsRun: true,
        }),
        AuditModule.forRoot({ logDir, fsync: false }),
        StrikesModule.forRoot({ sharedDatabase: false }),
      ],
    })
    class NoMigrationsModule {}
    const app = await NestFactory.create(NoMigrationsModule, {
      logger: false,
      abortOnError: false,
    });
    await expect(app.init()).rejects.toThrow(/add strikeguardMigrations/);
    await app.close().catch(() => undefined);
  });

  it('several DataSources: strikes work on the one AuditModule names', async () => {
    const other = await createTestDatabase('strikes_other');
    const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sg-named-'));
    @Module({
      imports: [
        TypeOrmModule.forRoot({ type: 'postgres', url: other.url }), // the host's own, default
        TypeOrmModule.forRoot({
          name: 'security',
          type: 'postgres',
          url: db.url,
          migrations: strikeguardMigrations,
          migrationsRun: true,
        }),
        AuditModule.forRoot({ logDir, fsync: false, dataSource: 'security' }),
        StrikesModule.forRoot({ sharedDatabase: false }),
      ],
    })
    class TwoDataSourcesModule {}
    const app = await NestFactory.create(TwoDataSourcesModule, { logger: false });
    try {
      await app.init();
      const strikes = app.get(StrikesService);
      await strikes.recordViolation(9001, 2, 'probe');
      expect(await strikes.find(9001)).toMatchObject({ blocker: 2 });
      const [{ n }] = await query<{ n: number }>(
        db.url,
        `SELECT count(*)::int AS n FROM strike_counters WHERE user_id = '9001'`,
      );
      expect(n).toBe(1);
      const [{ oid }] = await query<{ oid: string | null }>(
        other.url,
        `SELECT to_regclass('strike_counters')::text AS oid`,
      );
      expect(oid).toBeNull();
    } finally {
      await app.close();
      await other.drop();
    }
  });

  it('out-of-range options', async () => {
    @Module({
      imports: [
        TypeOrmModule.forRoot({ type: 'postgres', url: db.url, retryAttempts: 0 }),
        AuditModule.forRoot({ logDir: fs.mkdtempSync(path.join(os.tmpdir(), 'sg-opt-')) }),
        StrikesModule.forRoot({ terminateAt: 0 }),
      ],
    })
    class BadOptionsModule {}
    await expect(
      NestFactory.create(BadOptionsModule, { logger: false, abortOnError: false }),
    ).rejects.toThrow(/terminateAt must be a positive integer/);
  });
});
