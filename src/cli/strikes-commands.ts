// Nest's decorators need the metadata API before the library's classes load.
import 'reflect-metadata';
import { getDataSourceToken } from '@nestjs/typeorm';
import os from 'node:os';
import { type DataSource } from 'typeorm';
import {
  enrollMissing,
  StrikesModule,
  StrikesService,
  type UsersTable,
  UsersTableError,
} from '../index.js';
import { type Output } from './audit-commands.js';
import { withCliContext } from './cli-context.js';
import { CliError } from './cli-error.js';

/**
 * The strike engine outside the service, straight on the database: for when no admin can log in.
 * Its audit records go to a log file of its own (`audit-cli.log` in AUDIT_LOG_DIR) and its changes
 * reach running instances through NOTIFY, like any instance's.
 */
function withStrikes<T>(
  databaseUrl: string,
  auditLogDir: string,
  work: (strikes: StrikesService, dataSource: DataSource) => Promise<T>,
): Promise<T> {
  return withCliContext(
    databaseUrl,
    auditLogDir,
    [StrikesModule.forRoot({ sharedDatabase: false })],
    (app) => work(app.get(StrikesService), app.get<DataSource>(getDataSourceToken())),
  );
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

/** PostgreSQL's SQLSTATE for a column that does not exist. */
const UNDEFINED_COLUMN = '42703';

/**
 * `strikes enroll-missing [--users-table T] [--id-column C]`: a counter for every user without
 * one, read from the host's users table (default `users`.`id`, any id type).
 */
export async function enrollMissingCommand(
  databaseUrl: string,
  auditLogDir: string,
  users: UsersTable,
  io: Output,
): Promise<number> {
  const created = await withStrikes(databaseUrl, auditLogDir, async (strikes, dataSource) => {
    try {
      return await enrollMissing(dataSource, strikes, users);
    } catch (error) {
      // A table or column the user named wrong: say so plainly (exit 2), no stack trace.
      if (error instanceof UsersTableError) throw new CliError(error.message);
      if ((error as { code?: string }).code === UNDEFINED_COLUMN) {
        throw new CliError(
          `table ${users.table ?? 'users'} has no column ${users.idColumn ?? 'id'}: name the users' id column with --id-column C`,
        );
      }
      throw error;
    }
  });
  io.out(JSON.stringify({ enrolled: created }));
  return 0;
}
