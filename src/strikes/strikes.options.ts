import { type Type } from '@nestjs/common';
import { type Request } from 'express';
import { type StrikeCounter } from './strike-counter.store.js';

/** The authenticated user of a request, as the strike engine needs it. */
export interface StrikesPrincipal {
  userId: string;
  /** The session version the token carries (claim `sv`). */
  sessionVersion: number;
}

/** An exception type that counts as a violation, module-wide. */
export interface ViolationRule {
  exception: Type<unknown>;
  weight?: number;
  reason?: string;
}

/** Options of StrikesModule.forRoot / forRootAsync. */
export interface StrikesModuleOptions {
  /** `count` reaching this terminates the user's sessions and resets it (default 3). */
  terminateAt?: number;
  /** `blocker` reaching this blocks the account until an admin unblocks it (default 12). */
  blockAt?: number;
  /** Weight of a 403 on an authenticated request; 0 stops counting them (default 1). */
  forbiddenWeight?: number;
  /** Exception types that count as violations everywhere (`@StrikeOn` does it per route). */
  violations?: ViolationRule[];
  /** Refuse with 503 when the database cannot be read or written (default true). */
  failClosed?: boolean;
  /**
   * Several instances share the database (default true): the guard's cache is invalidated
   * through PostgreSQL LISTEN/NOTIFY. false for a single process (embedded database).
   */
  sharedDatabase?: boolean;
  /** Finds the user on a request; null for anonymous requests and service tokens (never charged). */
  principalOf?: (request: Request) => StrikesPrincipal | null;
  /** Called after the sessions of a user were terminated (and committed). */
  onSessionTerminated?: (userId: string, counter: StrikeCounter) => void | Promise<void>;
  /** Called after an account was blocked. */
  onBlocked?: (userId: string, counter: StrikeCounter) => void | Promise<void>;
  /** Called after an account was unblocked. */
  onUnblocked?: (userId: string, counter: StrikeCounter) => void | Promise<void>;
  /** Most entries in the guard's session cache (default 100,000). */
  cacheSize?: number;
  /** Most violations one transaction takes (default 500). */
  maxBatch?: number;
  /** Violation transactions in flight at once (default 4; 1 for a single-connection pool). */
  concurrency?: number;
}

export type ResolvedStrikesOptions = Required<
  Omit<StrikesModuleOptions, 'onSessionTerminated' | 'onBlocked' | 'onUnblocked'>
> &
  Pick<StrikesModuleOptions, 'onSessionTerminated' | 'onBlocked' | 'onUnblocked'>;

/**
 * Default: `request.user` with `id` (or `sub`) and `sessionVersion` (or `sv`); a user whose
 * `kind` is `service` is not a user.
 */
export function defaultPrincipalOf(request: Request): StrikesPrincipal | null {
  const user = (request as Request & { user?: Record<string, unknown> }).user;
  if (!user || user.kind === 'service') return null;
  const userId = user.id ?? user.sub;
  if (typeof userId !== 'string') return null;
  const sv = user.sessionVersion ?? user.sv;
  return { userId, sessionVersion: typeof sv === 'number' ? sv : 0 };
}

export function resolveStrikesOptions(options: StrikesModuleOptions): ResolvedStrikesOptions {
  const resolved: ResolvedStrikesOptions = {
    terminateAt: options.terminateAt ?? 3,
    blockAt: options.blockAt ?? 12,
    forbiddenWeight: options.forbiddenWeight ?? 1,
    violations: options.violations ?? [],
    failClosed: options.failClosed ?? true,
    sharedDatabase: options.sharedDatabase ?? true,
    principalOf: options.principalOf ?? defaultPrincipalOf,
    cacheSize: options.cacheSize ?? 100_000,
    maxBatch: options.maxBatch ?? 500,
    concurrency: options.concurrency ?? 4,
    onSessionTerminated: options.onSessionTerminated,
    onBlocked: options.onBlocked,
    onUnblocked: options.onUnblocked,
  };
  for (const key of ['terminateAt', 'blockAt', 'cacheSize', 'maxBatch', 'concurrency'] as const) {
    if (!Number.isSafeInteger(resolved[key]) || resolved[key] < 1) {
      throw new Error(
        `StrikesModule: ${key} must be a positive integer (got ${String(resolved[key])})`,
      );
    }
  }
  if (!Number.isSafeInteger(resolved.forbiddenWeight) || resolved.forbiddenWeight < 0) {
    throw new Error('StrikesModule: forbiddenWeight must be an integer >= 0');
  }
  return resolved;
}
