import { type DynamicModule, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DataSource } from 'typeorm';
import {
  AuditMigrationsMissingError,
  AuditModule,
  DataSourceNotFoundError,
  strikeguardMigrations,
} from '../../src/index.js';
import {
  createTestDatabase,
  describeWithPostgres,
  query,
  type TestDatabase,
} from '../support/postgres.js';

/**
 * A host that forgot a step gets an error saying which step, not a raw "relation does not exist"
 * on its first audit record or Nest's generic "can't resolve dependencies".
 */

let cleanup: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const step of cleanup.reverse()) await step();
  cleanup = [];
});

function logDir(): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'sg-start-'));
  cleanup.push(() => fs.rmSync(root, { recursive: true, force: true }));
  return path.join(root, 'audit');
}

/** Starts a host app with `imports` (init included); resolves to the error it failed with. */
async function startError(imports: DynamicModule[]): Promise<Error> {
  @Module({ imports })
  class HostModule {}
  let app: Awaited<ReturnType<typeof NestFactory.createApplicationContext>> | undefined;
  try {
    app = await NestFactory.createApplicationContext(HostModule, {
      logger: false,
      abortOnError: false,
    });
    await app.init();
  } catch (error) {
    return error as Error;
  } finally {
    await app?.close().catch(() => undefined);
  }
  throw new Error('the app started');
}

describe('AuditModule in an app without TypeORM', () => {
  it('fails with DataSourceNotFoundError saying to import TypeOrmModule.forRoot', async () => {
    const dir = logDir();
    const error = await startError([AuditModule.forRoot({ logDir: dir, fsync: false })]);
    expect(error).toBeInstanceOf(DataSourceNotFoundError);
    expect(error.message).toContain('strikeguard needs a TypeORM DataSource');
    expect(error.message).toContain('TypeOrmModule.forRoot({ type: "postgres"');
    expect(error.message).toContain('AuditModule.forRoot({ dataSource: "<name>"');
    expect(fs.existsSync(dir)).toBe(false);
  });
});

describeWithPostgres('AuditModule on a database without the strikeguard migrations', () => {
  let db: TestDatabase;
  beforeEach(async () => {
    db = await createTestDatabase('nomigr');
    cleanup.push(() => db.drop());
  });

  it('a fresh empty database: says to add strikeguardMigrations, names both tables', async () => {
    const dir = logDir();
    const error = await startError([
      TypeOrmModule.forRoot({ type: 'postgres', url: db.url, retryAttempts: 0 }),
      AuditModule.forRoot({ logDir: dir, fsync: false }),
    ]);
    expect(error).toBeInstanceOf(AuditMigrationsMissingError);
    expect(error.message).not.toMatch(/relation .* does not exist/);
    expect(error.message).toContain(
      `the audit table(s) audit_events, audit_chain_head do not exist in database "${db.name}"`,
    );
    expect(error.message).toContain('Add strikeguardMigrations to your TypeORM migrations');
    expect(error.message).toContain('migrations: [...yours, ...strikeguardMigrations]');
    expect(error.message).toContain('migrationsRun: true');
    expect(error.message).toContain('run them');
    expect((error as AuditMigrationsMissingError).missing).toEqual([
      'audit_events',
      'audit_chain_head',
    ]);
    // refused before the log directory was touched
    expect(fs.existsSync(dir)).toBe(false);
  });

  it('only the chain-head table missing: names it', async () => {
    const migrator = await new DataSource({
      type: 'postgres',
      url: db.url,
      migrations: strikeguardMigrations,
    }).initialize();
    await migrator.runMigrations();
    await migrator.destroy();
    await query(db.url, 'DROP TABLE audit_chain_head');

    const error = await startError([
      TypeOrmModule.forRoot({ type: 'postgres', url: db.url, retryAttempts: 0 }),
      AuditModule.forRoot({ logDir: logDir(), fsync: false }),
    ]);
    expect(error).toBeInstanceOf(AuditMigrationsMissingError);
    expect(error.message).toContain('the audit table(s) audit_chain_head do not exist');
    expect(error.message).toContain('strikeguardMigrations');
  });

  it('with the migrations run it starts', async () => {
    @Module({
      imports: [
        TypeOrmModule.forRoot({
          type: 'postgres',
          url: db.url,
          retryAttempts: 0,
          migrations: strikeguardMigrations,
          migrationsRun: true,
        }),
        AuditModule.forRoot({ logDir: logDir(), fsync: false }),
      ],
    })
    class HostModule {}
    const app = await NestFactory.createApplicationContext(HostModule, {
      logger: false,
      abortOnError: false,
    });
    cleanup.push(() => app.close());
    await expect(app.init()).resolves.toBe(app);
  });
});
