import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { TypeOrmModule, getDataSourceToken } from '@nestjs/typeorm';
import os from 'node:os';
import path from 'node:path';
import { type DataSource } from 'typeorm';
import { AuditModule } from '../audit/audit.module.js';
import { StrikesModule } from '../strikes/strikes.module.js';
import { StrikesService } from '../strikes/strikes.service.js';
import { enrollMissing } from '../strikes/strikes-enrollment.js';
import { type Output } from './audit-commands.js';
import { CliError } from './cli-error.js';

/**
 * The strike engine outside the service, straight on the database: for when no admin can log in.
 * Its audit records go to a log file of its own (`audit-cli.log` in AUDIT_LOG_DIR) and its changes
 * reach running instances through NOTIFY, like any instance's.
 */
async function withStrikes<T>(
  databaseUrl: string,
  auditLogDir: string,
  work: (strikes: StrikesService, dataSource: DataSource) => Promise<T>,
): Promise<T> {
  @Module({
    imports: [
      TypeOrmModule.forRoot({
        type: 'postgres',
        url: databaseUrl,
        poolSize: 2,
        applicationName: 'strikeguard-cli',
      }),
      AuditModule.forRoot({ logDir: auditLogDir, logFile: 'audit-cli.log' }),
      StrikesModule.forRoot({ sharedDatabase: false }),
    ],
  })
  class CliModule {}
  let app;
  try {
    app = await NestFactory.createApplicationContext(CliModule, {
      logger: ['error'],
      abortOnError: false,
    });
  } catch (error) {
    throw new CliError(`cannot start against DATABASE_URL: ${(error as Error).message}`);
  }
  try {
    return await work(app.get(StrikesService), app.get<DataSource>(getDataSourceToken()));
  } finally {
    await app.close();
  }
}

/** `strikes unblock <userId> --reason …` */
export async function unblockCommand(
  databaseUrl: string,
  auditLogDir: string,
  userId: string | undefined,
  reason: string | undefined,
  io: Output,
): Promise<number> {
  if (!userId) throw new CliError('strikes unblock needs a user id');
  if (!reason?.trim())
    throw new CliError('strikes unblock needs --reason "…" (it is recorded in the audit trail)');
  const actor = `cli:${os.userInfo().username}@${os.hostname()}`;
  const counter = await withStrikes(databaseUrl, auditLogDir, (strikes) =>
    strikes.unblock(userId, actor, reason),
  );
  if (!counter) throw new CliError(`no strike counter for user ${userId}`);
  io.out(JSON.stringify(counter));
  return 0;
}

/** `strikes enroll-missing`: a counter for every user without one. */
export async function enrollMissingCommand(
  databaseUrl: string,
  auditLogDir: string,
  io: Output,
): Promise<number> {
  const created = await withStrikes(databaseUrl, auditLogDir, (strikes, dataSource) =>
    enrollMissing(dataSource, strikes),
  );
  io.out(JSON.stringify({ enrolled: created }));
  return 0;
}

export function defaultAuditLogDir(env: NodeJS.ProcessEnv): string {
  return path.resolve(env.AUDIT_LOG_DIR || './var/audit');
}
