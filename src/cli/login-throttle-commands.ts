// Nest's decorators need the metadata API before the library's classes load.
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import {
  InvalidUserIdError,
  LoginThrottleModule,
  LoginThrottleService,
  userKey,
} from '../index.js';
import { type Output } from './audit-commands.js';
import { withCliContext } from './cli-context.js';
import { CliError } from './cli-error.js';

/**
 * The login throttle outside the service, straight on the database: for when no admin can log in
 * (the admin accounts themselves locked out, say). Status and clear work on user ids, never on
 * the HMACs of login names, so they need no LOGIN_THROTTLE_SECRET: the module gets a throwaway one.
 */
function withThrottle<T>(
  databaseUrl: string,
  auditLogDir: string,
  work: (throttle: LoginThrottleService) => Promise<T>,
): Promise<T> {
  return withCliContext(
    databaseUrl,
    auditLogDir,
    [LoginThrottleModule.forRoot({ secret: randomBytes(32), sweepIntervalSeconds: 0 })],
    (app) => work(app.get(LoginThrottleService)),
  );
}

/** The user id argument of a login-throttle command, checked before anything starts. */
function userIdArgument(command: string, args: string[]): string {
  if (args.length === 0) throw new CliError(`login-throttle ${command} needs a user id`);
  if (args.length > 1)
    throw new CliError(
      `login-throttle ${command} takes one user id (got ${args.length} arguments)`,
    );
  try {
    return userKey(args[0]);
  } catch (error) {
    if (error instanceof InvalidUserIdError)
      throw new CliError(error.message.replace(/^strikeguard: /, ''));
    throw error;
  }
}

/** `login-throttle status <userId>`: the user's lanes and trusted devices, one JSON object. */
export async function loginThrottleStatusCommand(
  databaseUrl: string,
  auditLogDir: string,
  args: string[],
  io: Output,
): Promise<number> {
  const userId = userIdArgument('status', args);
  const status = await withThrottle(databaseUrl, auditLogDir, (throttle) =>
    throttle.status(userId),
  );
  io.out(JSON.stringify(status));
  return 0;
}

/**
 * `login-throttle clear <userId>`: deletes every lane of the user (hard stop included) and records
 * `auth.lockout_cleared` with `details.by: "cli"`; prints `{userId, cleared, lifted}`.
 */
export async function loginThrottleClearCommand(
  databaseUrl: string,
  auditLogDir: string,
  args: string[],
  io: Output,
): Promise<number> {
  const userId = userIdArgument('clear', args);
  // The operator as the actor, as `strikes unblock` records it.
  const actorId = `cli:${os.userInfo().username}@${os.hostname()}`;
  const result = await withThrottle(databaseUrl, auditLogDir, (throttle) =>
    throttle.clearUser(userId, { actorId, via: 'cli' }),
  );
  io.out(JSON.stringify(result));
  return 0;
}
