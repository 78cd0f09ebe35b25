import { type INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import {
  AuditModule,
  type AuditModuleOptions,
  StrikesModule,
  type StrikesModuleOptions,
  strikeguardMigrations,
} from '../../src/index.js';

/**
 * What a host app imports for the audit trail on a test database: TypeORM with the library's
 * migrations and AuditModule (no fsync: tests do not need power-cut durability).
 */
export function auditImports(url: string, logDir: string, audit: Partial<AuditModuleOptions> = {}) {
  return [
    TypeOrmModule.forRoot({
      type: 'postgres',
      url,
      migrations: strikeguardMigrations,
      migrationsRun: true,
    }),
    AuditModule.forRoot({ logDir, fsync: false, ...audit }),
  ];
}

/** The audit trail and StrikesModule: all of strikeguard a host imports. */
export function strikeguardImports(
  url: string,
  logDir: string,
  strikes: StrikesModuleOptions = {},
  audit: Partial<AuditModuleOptions> = {},
) {
  return [...auditImports(url, logDir, audit), StrikesModule.forRoot(strikes)];
}

/** One host "instance" with the audit trail and StrikesModule, started: close it after. */
export async function startStrikeguard(
  url: string,
  logDir: string,
  strikes: StrikesModuleOptions = {},
): Promise<INestApplicationContext> {
  const moduleRef = await Test.createTestingModule({
    imports: strikeguardImports(url, logDir, strikes),
  }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.init();
  return app;
}
