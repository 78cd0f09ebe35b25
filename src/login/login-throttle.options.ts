/** Options of `LoginThrottleModule.forRoot` / `forRootAsync`. Durations are in seconds. */
export interface LoginThrottleModuleOptions {
  /**
   * Keys the account HMACs and signs device tokens: at least 32 bytes, secret, the same on every
   * instance. Changing it forgets every count and makes every device token invalid.
   */
  secret: string | Buffer;
  /**
   * false switches the throttle off: every attempt is admitted, nothing is counted, no device
   * token is issued. Password guessing is then limited by nothing but the password hash.
   */
  enabled?: boolean;
  /** Consecutive failures of one account from one source (or one device) before a wait (5). */
  freeAttempts?: number;
  /** The first wait; it doubles with every further failure (30). */
  backoffBaseSeconds?: number;
  /** The longest wait of the backoff (3,600). */
  maxWaitSeconds?: number;
  /** Failures of one account from untrusted clients, all sources, per window (20). */
  accountLimit?: number;
  /** The window of `accountLimit` (3,600). */
  accountWindowSeconds?: number;
  /** Failures from one source, all accounts, per window (100). */
  sourceLimit?: number;
  /** The window of `sourceLimit` (86,400). */
  sourceWindowSeconds?: number;
  /**
   * Consecutive untrusted failures of an account before a hard stop (100, NIST SP 800-63B): only
   * an admin or a login from one of the owner's trusted devices lifts it.
   */
  hardLimit?: number;
  /** How long a quiet lane (no failure, no block) is kept before it is swept (86,400). */
  retentionSeconds?: number;
  /** How long an unused trusted device stays trusted (90 days). */
  deviceTtlSeconds?: number;
  /** Trusted devices kept per user; the least recently used beyond it are forgotten (20). */
  devicesPerUser?: number;
  /** The browser cookie that carries the device token. */
  deviceCookie?: {
    /** Default `sg_device`. */
    name?: string;
    /** `Secure` attribute (default true: browsers send it over HTTPS and to localhost only). */
    secure?: boolean;
    /** `Path` attribute; default: the path of the login request. */
    path?: string;
  };
  /** `auth.login_throttled` is recorded once per account per this window, with a count (60). */
  throttledEventWindowSeconds?: number;
  /** Accounts whose throttled attempts are being counted at once, per instance (10,000). */
  throttledEventKeys?: number;
  /** How often expired rows are swept (60; 0: never, call `sweep()` yourself). */
  sweepIntervalSeconds?: number;
  /** Rows one sweep statement deletes (1,000). */
  sweepBatch?: number;
  /**
   * Turns a login name into the account it names, before the HMAC (default: Unicode NFKC, then
   * lower case). Use the same rule as your user lookup, or coarser.
   */
  normalizeAccount?: (name: string) => string;
}

export type ResolvedLoginThrottleOptions = Required<
  Omit<LoginThrottleModuleOptions, 'deviceCookie' | 'secret'>
> & {
  secret: Buffer;
  deviceCookie: { name: string; secure: boolean; path: string | null };
};

/** Thrown at start for options the throttle cannot run with; lists every problem. */
export class LoginThrottleOptionsError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid LoginThrottleModule options:\n  - ${problems.join('\n  - ')}`);
    this.name = this.constructor.name;
  }
}

const MIN_SECRET_BYTES = 32;
const DAY = 86_400;

/** [default, min, max] of every numeric option. */
const RANGES = {
  freeAttempts: [5, 1, 1000],
  backoffBaseSeconds: [30, 1, DAY],
  maxWaitSeconds: [3600, 1, 30 * DAY],
  accountLimit: [20, 1, 1_000_000],
  accountWindowSeconds: [3600, 1, 30 * DAY],
  sourceLimit: [100, 1, 1_000_000],
  sourceWindowSeconds: [DAY, 1, 30 * DAY],
  hardLimit: [100, 1, 1_000_000],
  retentionSeconds: [DAY, 60, 365 * DAY],
  deviceTtlSeconds: [90 * DAY, 60, 3650 * DAY],
  devicesPerUser: [20, 1, 1000],
  throttledEventWindowSeconds: [60, 1, 3600],
  throttledEventKeys: [10_000, 1, 10_000_000],
  sweepIntervalSeconds: [60, 0, DAY],
  sweepBatch: [1000, 1, 100_000],
} as const satisfies Record<string, readonly [number, number, number]>;

const COOKIE_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$/;
const COOKIE_PATH = /^\/[\x21-\x3a\x3c-\x7e]{0,255}$/;

export function defaultNormalizeAccount(name: string): string {
  return name.normalize('NFKC').toLowerCase();
}

export function resolveLoginThrottleOptions(
  options: LoginThrottleModuleOptions,
): ResolvedLoginThrottleOptions {
  const problems: string[] = [];
  const secret =
    typeof options.secret === 'string'
      ? Buffer.from(options.secret, 'utf8')
      : Buffer.isBuffer(options.secret)
        ? options.secret
        : null;
  if (!secret) problems.push('secret is required: a string or Buffer of at least 32 bytes');
  else if (secret.length < MIN_SECRET_BYTES)
    problems.push(`secret is ${secret.length} bytes; it needs at least ${MIN_SECRET_BYTES}`);

  const numbers = {} as Record<keyof typeof RANGES, number>;
  for (const [name, [fallback, min, max]] of Object.entries(RANGES) as [
    keyof typeof RANGES,
    readonly [number, number, number],
  ][]) {
    const value = (options as unknown as Record<string, unknown>)[name] ?? fallback;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
      problems.push(`${name} must be an integer from ${min} to ${max} (got ${String(value)})`);
      numbers[name] = fallback;
    } else numbers[name] = value;
  }
  if (numbers.backoffBaseSeconds > numbers.maxWaitSeconds)
    problems.push('backoffBaseSeconds must not be longer than maxWaitSeconds');

  const cookie = options.deviceCookie ?? {};
  const name = cookie.name ?? 'sg_device';
  if (!COOKIE_NAME.test(name)) problems.push(`deviceCookie.name is not a cookie name: "${name}"`);
  if (cookie.path !== undefined && !COOKIE_PATH.test(cookie.path))
    problems.push(`deviceCookie.path must be a path starting with / (got "${cookie.path}")`);
  if (options.enabled !== undefined && typeof options.enabled !== 'boolean')
    problems.push('enabled must be true or false');
  if (options.normalizeAccount !== undefined && typeof options.normalizeAccount !== 'function')
    problems.push('normalizeAccount must be a function');
  if (problems.length) throw new LoginThrottleOptionsError(problems);

  return {
    ...numbers,
    secret: secret!,
    enabled: options.enabled ?? true,
    normalizeAccount: options.normalizeAccount ?? defaultNormalizeAccount,
    deviceCookie: { name, secure: cookie.secure ?? true, path: cookie.path ?? null },
  };
}
