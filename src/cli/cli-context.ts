import { type DynamicModule, type INestApplicationContext, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuditModule } from '../index.js';
import { CliError } from './cli-error.js';

/**
 * A Nest context straight on the database, with AuditModule and the given library modules: for
 * when no admin can log in. Its audit records go to a log file of its own (`audit-cli.log` in
 * AUDIT_LOG_DIR). A context that cannot start (no database, no migrations) is a CliError.
 */
export async function withCliContext<T>(
  databaseUrl: string,
  auditLogDir: string,
  modules: DynamicModule[],
  work: (app: INestApplicationContext) => Promise<T>,
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
      ...modules,
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
    return await work(app);
  } finally {
    await app.close();
  }
}
