import { type Type } from '@nestjs/common';
import { type Request } from 'express';
import { type StrikeCounter } from './strike-counter.store.js';
import { kindOf, type UserId } from './user-id.js';

/** The authenticated user of a request, as `principalOf` reports it. */
export interface StrikesPrincipal {
  /** A string, an integer or a bigint: counters key on its text form (`42` and `"42"` are one user). */
  userId: UserId;
  /** The session version the token carries (claim `sv`; see `StrikesService.loginClaims`). */
  sessionVersion: number;
  /** Token issue time, seconds since the epoch (claim `iat`), when known. */
  issuedAt?: number | null;
}

/** An exception type that counts as a violation, module-wide. */
export interface ViolationRule {
  exception: Type<unknown>;
  weight?: number;
  reason?: string;
  /**
   * Count it, refuse nothing for it: a termination or block its strike causes is recorded with
   * `details.simulated: true` and takes no effect (trying a new rule out in production).
   */
  monitor?: boolean;
}

/**
 * `enforce`: thresholds terminate sessions and block accounts. `monitor`: every strike is counted
 * and every crossing recorded (`details.simulated: true`), nothing is refused.
 */
export type StrikesMode = 'enforce' | 'monitor';

/** A duration: seconds, or a number with a unit s, m, h or d (`'90s'`, `'15m'`, `'30d'`). */
export type StrikesDuration = number | string;

/**
 * What to do with a request that has a `request.user` strikeguard cannot map to a user:
 * `refuse` answers 503 `principal_unmappable` (protection never switches off in silence);
 * `anonymous` lets it through uncounted and unchecked (logged and counted in a metric).
 */
export type UnmappablePrincipalPolicy = 'refuse' | 'anonymous';

/** Options of StrikesModule.forRoot / forRootAsync. */
export interface StrikesModuleOptions {
  /** `count` reaching this terminates the user's sessions and resets it (default 3). */
  terminateAt?: number;
  /** `blocker` reaching this blocks the account until an admin unblocks it (default 12). */
  blockAt?: number;
  /** `monitor`: count and record everything, refuse nothing (default `enforce`). */
  mode?: StrikesMode;
  /**
   * Strikes older than this stop counting toward the block (`blocker`); `total` keeps them all.
   * Default: never (cumulative for ever). Up to 3,650 days.
   */
  decayAfter?: StrikesDuration | null;
  /**
   * A block ends by itself after this (an `account.unblocked` event by the system). Default:
   * until an admin unblocks. Up to 3,650 days.
   */
  blockFor?: StrikesDuration | null;
  /** With `blockFor`: after this many timed blocks the next one waits for an admin (default 3). */
  permanentAfter?: number;
  /** How often each instance looks for timed blocks that have ended, in ms (default 1,000). */
  expirySweepMs?: number;
  /**
   * The time strikes, windows and blocks are reckoned in. Default: the database's clock (one
   * clock for every instance). For tests: a function answering the time to use.
   */
  clock?: (() => Date) | null;
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
  /**
   * Finds the user of a request. Answer null for anonymous requests and service tokens (never
   * charged, never checked); throw when `request.user` is there but cannot be understood.
   * Default: `defaultPrincipalOf`.
   */
  principalOf?: (request: Request) => StrikesPrincipal | null;
  /** A `request.user` that cannot be mapped to a user (default `refuse`: 503). */
  unmappablePrincipal?: UnmappablePrincipalPolicy;
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
  /**
   * Most violations accepted and not yet committed — queued or in a transaction (default 512).
   * Past it a violation is refused at once: its request gets 503 `reason: "overloaded"` with
   * `Retry-After` instead of its own answer (it is never let through uncounted; with
   * `failClosed: false` it keeps its own answer, uncounted, and a warning is logged). This bounds
   * the memory that requests waiting for their strike hold under a flood of violations.
   */
  maxPendingViolations?: number;
  /**
   * Most tokens whose `access.denied` refusals are being coalesced at once (default 10,000). Past
   * it the oldest window is closed early: its count is recorded in the background, batched with
   * others, never inside the request that opened a new one.
   */
  accessDeniedWindows?: number;
}

type Hooks = 'onSessionTerminated' | 'onBlocked' | 'onUnblocked';
type Durations = 'decayAfter' | 'blockFor';

/** The options with every default filled in: what the module's providers inject. */
export type ResolvedStrikesOptions = Required<Omit<StrikesModuleOptions, Hooks | Durations>> &
  Pick<StrikesModuleOptions, Hooks> & {
    /** In seconds; null: off. */
    decayAfter: number | null;
    /** In seconds; null: until an admin unblocks. */
    blockFor: number | null;
  };

/** The time the module reckons in, in ms: its `clock`'s, or this process's. */
export function clockMs(options: Pick<ResolvedStrikesOptions, 'clock'>): number {
  return options.clock ? options.clock().getTime() : Date.now();
}

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };
const MAX_DURATION_SECONDS = 3650 * 86_400;

/** A StrikesDuration in seconds; null stays null (off). */
export function durationSeconds(
  value: StrikesDuration | null | undefined,
  name: string,
): number | null {
  if (value === undefined || value === null) return null;
  let seconds = NaN;
  if (typeof value === 'number') seconds = value;
  else if (typeof value === 'string') {
    const m = /^(\d{1,10})([smhd]?)$/.exec(value.trim());
    if (m) seconds = Number(m[1]) * UNIT_SECONDS[m[2] || 's'];
  }
  if (!Number.isSafeInteger(seconds) || seconds < 1 || seconds > MAX_DURATION_SECONDS)
    throw new StrikesOptionsError(
      `${name} must be a duration from 1s to 3650d: seconds, or a number with a unit s, m, h or d (got ${JSON.stringify(value)})`,
    );
  return seconds;
}

/** Thrown at start for an option that is out of range; the message names it. */
export class StrikesOptionsError extends Error {
  constructor(message: string) {
    super(`StrikesModule: ${message}`);
    this.name = this.constructor.name;
  }
}

export function resolveStrikesOptions(options: StrikesModuleOptions): ResolvedStrikesOptions {
  const resolved: ResolvedStrikesOptions = {
    mode: options.mode ?? 'enforce',
    decayAfter: durationSeconds(options.decayAfter, 'decayAfter'),
    blockFor: durationSeconds(options.blockFor, 'blockFor'),
    permanentAfter: options.permanentAfter ?? 3,
    expirySweepMs: options.expirySweepMs ?? 1000,
    clock: options.clock ?? null,
    terminateAt: options.terminateAt ?? 3,
    blockAt: options.blockAt ?? 12,
    forbiddenWeight: options.forbiddenWeight ?? 1,
    violations: options.violations ?? [],
    failClosed: options.failClosed ?? true,
    sharedDatabase: options.sharedDatabase ?? true,
    principalOf: options.principalOf ?? defaultPrincipalOf,
    unmappablePrincipal: options.unmappablePrincipal ?? 'refuse',
    cacheSize: options.cacheSize ?? 100_000,
    maxBatch: options.maxBatch ?? 500,
    concurrency: options.concurrency ?? 4,
    maxPendingViolations: options.maxPendingViolations ?? 512,
    accessDeniedWindows: options.accessDeniedWindows ?? 10_000,
    onSessionTerminated: options.onSessionTerminated,
    onBlocked: options.onBlocked,
    onUnblocked: options.onUnblocked,
  };
  for (const key of [
    'terminateAt',
    'blockAt',
    'cacheSize',
    'maxBatch',
    'concurrency',
    'maxPendingViolations',
    'accessDeniedWindows',
    'permanentAfter',
    'expirySweepMs',
  ] as const) {
    if (!Number.isSafeInteger(resolved[key]) || resolved[key] < 1) {
      throw new StrikesOptionsError(
        `${key} must be a positive integer (got ${String(resolved[key])})`,
      );
    }
  }
  if (!Number.isSafeInteger(resolved.forbiddenWeight) || resolved.forbiddenWeight < 0) {
    throw new StrikesOptionsError('forbiddenWeight must be an integer >= 0');
  }
  if (resolved.mode !== 'enforce' && resolved.mode !== 'monitor') {
    throw new StrikesOptionsError(
      `mode must be "enforce" or "monitor" (got ${JSON.stringify(resolved.mode)})`,
    );
  }
  if (resolved.clock !== null && typeof resolved.clock !== 'function') {
    throw new StrikesOptionsError('clock must be a function () => Date, or null');
  }
  for (const [i, rule] of resolved.violations.entries()) {
    if (rule.monitor !== undefined && typeof rule.monitor !== 'boolean')
      throw new StrikesOptionsError(`violations[${i}].monitor must be a boolean`);
  }
  if (!['refuse', 'anonymous'].includes(resolved.unmappablePrincipal)) {
    throw new StrikesOptionsError('unmappablePrincipal must be "refuse" or "anonymous"');
  }
  if (typeof resolved.principalOf !== 'function') {
    throw new StrikesOptionsError('principalOf must be a function (request) => principal | null');
  }
  return resolved;
}

/** Thrown by a `principalOf` when `request.user` is there but names no usable user. */
export class PrincipalUnmappableError extends Error {
  constructor(override readonly cause: string) {
    super(cause);
    this.name = this.constructor.name;
  }
}

/**
 * Default: `request.user` with `id` (or `sub`, or `userId`) — a string or an integer — and
 * `sessionVersion` (or `sv`, default 0) and `iat`; a user whose `kind` is `service` is not a user.
 * A `request.user` without a usable id throws PrincipalUnmappableError: it is never anonymous.
 */
export function defaultPrincipalOf(request: Request): StrikesPrincipal | null {
  const user = (request as Request & { user?: unknown }).user;
  if (user === undefined || user === null || user === false) return null;
  if (typeof user !== 'object' || Array.isArray(user))
    throw new PrincipalUnmappableError(`request.user is ${kindOf(user)}, not an object`);
  const u = user as Record<string, unknown>;
  if (u.kind === 'service') return null;
  const userId = u.id ?? u.sub ?? u.userId;
  if (userId === undefined || userId === null)
    throw new PrincipalUnmappableError('request.user has no id, sub or userId');
  if (typeof userId !== 'string' && typeof userId !== 'number' && typeof userId !== 'bigint')
    throw new PrincipalUnmappableError(`request.user's id is ${kindOf(userId)}`);
  const issuedAt = u.iat ?? u.issuedAt;
  return {
    userId: userId as string | number | bigint,
    sessionVersion: (u.sessionVersion ?? u.sv ?? 0) as number,
    issuedAt: typeof issuedAt === 'number' ? issuedAt : null,
  };
}
