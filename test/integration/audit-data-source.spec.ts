import { type DynamicModule, type INestApplicationContext, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { getDataSourceToken, TypeOrmModule } from '@nestjs/typeorm';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DataSource } from 'typeorm';
import {
  AUDIT_OPTIONS,
  AuditModule,
  AuditService,
  DataSourceNotFoundError,
  type ResolvedAuditOptions,
  STRIKEGUARD_DATA_SOURCE,
  strikeguardMigrations,
} from '../../src/index.js';
import {
  createTestDatabase,
  describeWithPostgres,
  query,
  type TestDatabase,
} from '../support/postgres.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * AuditModule's `dataSource` option: with several TypeORM DataSources, the named one holds the
 * audit trail, whether the options come from forRoot or forRootAsync, and even when TypeORM takes
 * its time connecting it. The DataSource is provided (and exported) as STRIKEGUARD_DATA_SOURCE.
 */
describeWithPostgres('AuditModule on a named DataSource', () => {
  let other: TestDatabase; // the host's default DataSource: no strikeguard tables
  let audit: TestDatabase; // the named one, migrated
  let cleanup: (() => Promise<unknown> | void)[] = [];

  beforeAll(async () => {
    other = await createTestDatabase('ds_other');
    audit = await createTestDatabase('ds_audit');
  });
  afterAll(async () => {
    await other?.drop();
    await audit?.drop();
  });
  afterEach(async () => {
    for (const step of cleanup.reverse()) await step();
    cleanup = [];
  });

  function logDir(): string {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'sg-ds-'));
    cleanup.push(() => fs.rmSync(root, { recursive: true, force: true }));
    return path.join(root, 'audit');
  }

  /** The named DataSource, migrated; `delayMs` makes TypeORM slow to produce it. */
  function namedDataSource(delayMs: number): DynamicModule {
    return TypeOrmModule.forRootAsync({
      name: 'audit',
      useFactory: () => ({ type: 'postgres', url: audit.url, migrations: strikeguardMigrations }),
      dataSourceFactory: async (options) => {
        await sleep(delayMs);
        const ds = await new DataSource(options!).initialize();
        await ds.runMigrations();
        return ds;
      },
    });
  }

  async function start(imports: DynamicModule[]): Promise<INestApplicationContext> {
    @Module({ imports })
    class HostModule {}
    const app = await NestFactory.createApplicationContext(HostModule, {
      logger: false,
      abortOnError: false,
    });
    cleanup.push(() => app.close());
    await app.init();
    return app;
  }

  async function expectRecordsInAuditDatabase(app: INestApplicationContext) {
    const named = app.get<DataSource>(getDataSourceToken('audit'));
    expect(app.get(STRIKEGUARD_DATA_SOURCE)).toBe(named);
    const record = await app.get(AuditService).record({ type: 'ds.test', userId: 'u1' });
    const rows = await query(audit.url, 'SELECT id::int AS id FROM audit_events WHERE id = $1', [
      record.id,
    ]);
    expect(rows).toEqual([{ id: record.id }]);
    expect(await app.get(AuditService).verify()).toMatchObject({ ok: true });
  }

  const defaultDataSource = () =>
    TypeOrmModule.forRoot({ type: 'postgres', url: other.url, retryAttempts: 0 });

  it('forRoot({ dataSource }) writes to the named DataSource, not the default one', async () => {
    const app = await start([
      defaultDataSource(),
      namedDataSource(0),
      AuditModule.forRoot({ logDir: logDir(), fsync: false, dataSource: 'audit' }),
    ]);
    await expectRecordsInAuditDatabase(app);
    expect(app.get<ResolvedAuditOptions>(AUDIT_OPTIONS).dataSource).toBe('audit');
  });

  it('forRootAsync with the name in its options waits for a DataSource TypeORM is slow to connect', async () => {
    const dir = logDir();
    const app = await start([
      defaultDataSource(),
      namedDataSource(400),
      AuditModule.forRootAsync({
        useFactory: async () => ({ logDir: dir, fsync: false, dataSource: 'audit' }),
      }),
    ]);
    await expectRecordsInAuditDatabase(app);
  });

  it('the default DataSource when no name is given (forRootAsync)', async () => {
    const dir = logDir();
    const app = await start([
      TypeOrmModule.forRoot({
        type: 'postgres',
        url: audit.url,
        migrations: strikeguardMigrations,
        migrationsRun: true,
      }),
      AuditModule.forRootAsync({ useFactory: () => ({ logDir: dir, fsync: false }) }),
    ]);
    expect(app.get(STRIKEGUARD_DATA_SOURCE)).toBe(app.get(DataSource));
    const record = await app.get(AuditService).record({ type: 'ds.test', userId: 'u2' });
    expect(record.id).toBeGreaterThan(0);
  });

  it('a name no DataSource has: DataSourceNotFoundError naming it and the option', async () => {
    const dir = logDir();
    const error = await start([
      defaultDataSource(),
      AuditModule.forRootAsync({
        useFactory: () => ({ logDir: dir, fsync: false, dataSource: 'auditt' }),
      }),
    ]).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(DataSourceNotFoundError);
    expect((error as Error).message).toContain('no TypeORM DataSource named "auditt"');
    expect((error as Error).message).toContain('AuditModule option dataSource');
    expect(fs.existsSync(dir)).toBe(false); // nothing was opened
  });
});
