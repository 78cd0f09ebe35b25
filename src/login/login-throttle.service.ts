import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { AsyncResource } from 'node:async_hooks';
import { type Request } from 'express';
import { type DataSource } from 'typeorm';
import { AuditService } from '../audit/audit.service.js';
import { STRIKEGUARD_DATA_SOURCE } from '../common/data-source.provider.js';
import { metrics } from '../common/metrics.js';
import { sendRetryAfter } from '../common/overloaded.exception.js';
import { userKey, type UserId } from '../strikes/user-id.js';
import { deviceCookie, MAX_DEVICE_CANDIDATES, presentedDeviceTokens } from './device-cookie.js';
import { newDeviceId, signDeviceToken, verifyDeviceToken } from './device-token.js';
import { type LoginAdmission, type LoginSuccess } from './login-admission.js';
import { accountTag, LoginKeys } from './login-keys.js';
import { sourceOf, UNKNOWN_SOURCE } from './login-source.js';
import { LOGIN_THROTTLE_OPTIONS } from './login-throttle-options.provider.js';
import { type ResolvedLoginThrottleOptions } from './login-throttle.options.js';
import {
  type AdmitRow,
  type LoginLane,
  type LoginLaneState,
  LoginThrottleStore,
  type SourceState,
} from './login-throttle.store.js';
import { LoginAttemptInvalidError, LoginThrottledException } from './login-throttled.exception.js';
import { ThrottledEventsCoalescer } from './throttled-events.coalescer.js';

/** Longest login name counted; a longer one is refused before anything is computed. */
export const MAX_ACCOUNT_LENGTH = 1024;

/** An attempt without an HTTP request (a host's own transport). */
export interface LoginAttemptKeys {
  /** The login name as typed (it is normalised and HMACed, never stored). */
  account: string;
  /** The client's IP address; null or anything that is not an IP address counts as `unknown`. */
  source: string | null;
  /** The device token the client presented, if any (or every candidate: the first valid counts). */
  deviceToken?: string | null | string[];
}

/** A user's throttle state, as the admin API shows it. */
export interface LoginThrottleStatus {
  userId: string;
  /** Consecutive untrusted failures (the hard stop's count). */
  failures: number;
  /** When the last of the lanes blocking now ends; `"infinity"` for a hard stop; null: none. */
  blockedUntil: string | null;
  lanes: LoginLaneState[];
  trustedDevices: number;
}

/**
 * Login abuse protection for a host's own login handler:
 *
 * ```ts
 * const attempt = await throttle.admit(request, body.username); // 429 when throttled
 * const user = await users.findByName(body.username);
 * if (!user || !(await verify(user.hash, body.password))) {
 *   await attempt.failed(user?.id ?? null, user ? 'wrong_password' : 'unknown_user');
 *   throw new UnauthorizedException('invalid username or password');
 * }
 * const { deviceToken } = await attempt.succeeded(user.id);
 * ```
 *
 * Every attempt is admitted or refused by one statement before any password hash is computed;
 * see `strikeguard_login_admit` for the lanes and limits.
 */
@Injectable()
export class LoginThrottleService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('LoginThrottle');
  private readonly keys: LoginKeys;
  private sweepTimer: NodeJS.Timeout | null = null;
  private sweeping: Promise<number> | null = null;
  /** Sweeps run outside any request (bound where the service is made). */
  private readonly sweepOutside = AsyncResource.bind(() => this.sweep());

  constructor(
    @Inject(LOGIN_THROTTLE_OPTIONS) private readonly options: ResolvedLoginThrottleOptions,
    @Inject(STRIKEGUARD_DATA_SOURCE) private readonly dataSource: DataSource,
    private readonly store: LoginThrottleStore,
    private readonly audit: AuditService,
    private readonly throttledEvents: ThrottledEventsCoalescer,
  ) {
    this.keys = new LoginKeys(options.secret, options.normalizeAccount);
    throttledEvents.windowMs = options.throttledEventWindowSeconds * 1000;
    throttledEvents.maxKeys = options.throttledEventKeys;
  }

  get enabled(): boolean {
    return this.options.enabled;
  }

  async onModuleInit(): Promise<void> {
    if (!this.options.enabled) {
      this.logger.warn(
        'the login throttle is switched off: password guessing is limited by nothing but the password hash',
      );
      return;
    }
    const [found] = (await this.dataSource.query(
      `SELECT to_regproc('strikeguard_login_admit') IS NOT NULL AS present`,
    )) as { present: boolean }[];
    if (!found?.present)
      throw new Error(
        'strikeguard: the login_throttle tables do not exist: add strikeguardMigrations to your ' +
          'TypeORM migrations (migrations: [...yours, ...strikeguardMigrations]) and run them',
      );
    if (this.options.sweepIntervalSeconds > 0)
      this.sweepTimer = setInterval(() => {
        void this.sweepOutside().catch((error: Error) =>
          this.logger.warn(`sweeping expired login-throttle rows failed: ${error.message}`),
        );
      }, this.options.sweepIntervalSeconds * 1000).unref();
  }

  onApplicationShutdown(): void {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
  }

  /**
   * Admits a login attempt of an HTTP request: the source is `request.ip` (so it follows Express's
   * `trust proxy`), the device token the `X-Device-Token` header or the device cookie. Throws
   * `LoginThrottledException` (429, `Retry-After` already set on the response) when throttled.
   */
  admit(request: Request, account: string): Promise<LoginAdmission> {
    const source = request?.ip ?? request?.socket?.remoteAddress ?? null;
    return this.admitAttempt(
      {
        account,
        source,
        deviceToken: presentedDeviceTokens(request, this.options.deviceCookie.name),
      },
      request,
    );
  }

  /** Admits an attempt described by its keys; `request`, when given, gets the cookie and header. */
  async admitAttempt(attempt: LoginAttemptKeys, request?: Request): Promise<LoginAdmission> {
    if (typeof attempt?.account !== 'string' || attempt.account.length > MAX_ACCOUNT_LENGTH)
      throw new LoginAttemptInvalidError(
        `the login name must be a string of at most ${MAX_ACCOUNT_LENGTH} characters`,
      );
    const account = this.keys.account(attempt.account);
    if (!this.options.enabled) return this.uncounted(account);
    const source =
      (typeof attempt.source === 'string' ? sourceOf(attempt.source) : null) ?? UNKNOWN_SOURCE;
    // The first candidate that verifies: an injected or stale one cannot hide the owner's.
    const candidates = Array.isArray(attempt.deviceToken)
      ? attempt.deviceToken
      : [attempt.deviceToken];
    let deviceId: string | null = null;
    for (const candidate of candidates.slice(0, MAX_DEVICE_CANDIDATES))
      deviceId ??= verifyDeviceToken(this.keys.deviceKey, candidate, account);
    const row = await this.store.admit(account, source, deviceId);
    if (!row.admitted) {
      metrics.loginAttempts.inc({ result: 'throttled' });
      for (const lane of row.blocking) metrics.loginThrottled.inc({ lane });
      // A blocked source refuses every account: its refusals are counted per source, so a source
      // spraying a new name each time still makes one event a window, not one per name.
      const bySource = row.blocking.includes('source');
      this.throttledEvents.add({
        key: bySource ? `source:${source}` : account.toString('hex'),
        account: bySource ? null : accountTag(account),
        userId: bySource ? null : row.userId,
        lanes: row.blocking,
        source,
      });
      const refusal = new LoginThrottledException(row.waitMs / 1000);
      sendRetryAfter(
        (request as (Request & { res?: unknown }) | undefined)?.res,
        refusal.retryAfterSeconds,
      );
      throw refusal;
    }
    metrics.loginAttempts.inc({ result: 'admitted' });
    return this.admission(account, source, row.trusted ? deviceId : null, row, request);
  }

  private admission(
    account: Buffer,
    source: string,
    deviceId: string | null,
    row: AdmitRow,
    request: Request | undefined,
  ): LoginAdmission {
    let settled = false;
    const settle = () => {
      if (settled)
        throw new Error('strikeguard: a login attempt is settled once: failed() or succeeded()');
      settled = true;
    };
    return {
      trusted: row.trusted,
      failed: async (userId, reason) => {
        settle();
        const user = userId === null || userId === undefined ? null : userKey(userId);
        await this.store.failed(account, user);
        metrics.loginOutcomes.inc({ outcome: 'failure' });
        const tag = accountTag(account);
        const events = [
          this.failureEvent(account, source, user, row.trusted, reason),
          ...row.started.map(({ lane, until }) => {
            metrics.loginLockouts.inc({ lane });
            return {
              type: 'auth.lockout_started',
              userId: user ?? 'unknown',
              outcome: 'denied' as const,
              threat:
                lane === 'hard' || lane === 'source' ? ('high' as const) : ('medium' as const),
              entityType: lane === 'source' ? 'source' : 'user',
              targetId: lane === 'source' ? source : user,
              details: {
                account: tag,
                lane,
                source,
                until: until ? until.toISOString() : 'infinity',
              },
            };
          }),
        ];
        await this.audit.recordMany(events, { evenIfOverloaded: true });
      },
      succeeded: async (userId): Promise<LoginSuccess> => {
        settle();
        const user = userKey(userId);
        const result = await this.store.succeeded({
          account,
          source,
          userId: user,
          deviceId,
          newDeviceId: newDeviceId(),
          accountWindow: row.accountWindow,
          sourceWindow: row.sourceWindow,
        });
        metrics.loginOutcomes.inc({ outcome: 'success' });
        const token = signDeviceToken(this.keys.deviceKey, result.deviceId, account);
        const events = [];
        if (result.created) {
          metrics.loginDevicesTrusted.inc();
          events.push({
            type: 'auth.device_trusted',
            userId: user,
            actorId: user,
            entityType: 'device',
            targetId: result.deviceId,
            details: { account: accountTag(account), source },
          });
        }
        if (result.lifted.length) {
          metrics.loginLockoutsCleared.inc({ by: 'device_login' });
          this.throttledEvents.closeAccount(account.toString('hex'));
          events.push({
            type: 'auth.lockout_cleared',
            userId: user,
            actorId: user,
            entityType: 'user',
            targetId: user,
            description: 'lifted by a login from a trusted device',
            details: { by: 'device_login', lanes: result.lifted, deviceId: result.deviceId },
          });
        }
        if (events.length) await this.audit.recordMany(events, { evenIfOverloaded: true });
        const response = (request as (Request & { res?: SetHeader }) | undefined)?.res;
        if (response && !response.headersSent && typeof response.append === 'function')
          response.append(
            'Set-Cookie',
            deviceCookie(token, {
              ...this.options.deviceCookie,
              path: this.options.deviceCookie.path ?? cookiePathOf(request!),
              maxAgeSeconds: this.options.deviceTtlSeconds,
            }),
          );
        return { deviceToken: token };
      },
    };
  }

  /** Switched off: nothing is counted, failures are still recorded, no device token is issued. */
  private uncounted(account: Buffer): LoginAdmission {
    return {
      trusted: false,
      failed: async (userId, reason) => {
        const user = userId === null || userId === undefined ? null : userKey(userId);
        await this.audit.record(this.failureEvent(account, null, user, false, reason), {
          evenIfOverloaded: true,
        });
      },
      succeeded: async (userId) => {
        userKey(userId);
        return { deviceToken: null };
      },
    };
  }

  private failureEvent(
    account: Buffer,
    source: string | null,
    user: string | null,
    trusted: boolean,
    reason: string | undefined,
  ) {
    return {
      type: 'auth.login_failed',
      userId: user ?? 'unknown',
      outcome: 'failure' as const,
      threat: 'low' as const,
      entityType: 'user',
      targetId: user,
      details: {
        account: accountTag(account),
        ...(source ? { source } : {}),
        trustedDevice: trusted,
        ...(reason ? { reason: String(reason).slice(0, 64) } : {}),
      },
    };
  }

  /** The lanes of a user (every account key it was seen under) and its trusted devices. */
  async status(userId: UserId): Promise<LoginThrottleStatus> {
    const id = userKey(userId);
    const [lanes, trustedDevices] = await Promise.all([
      this.store.lanesOfUser(id),
      this.store.devicesOfUser(id),
    ]);
    const blocked = lanes.map((l) => l.blockedUntil).filter((b): b is string => b !== null);
    return {
      userId: id,
      // Several hard lanes when the user was tried under several names: the worst one counts.
      failures: Math.max(0, ...lanes.filter((l) => l.lane === 'hard').map((l) => l.failures)),
      blockedUntil: blocked.includes('infinity') ? 'infinity' : (blocked.sort().at(-1) ?? null),
      lanes,
      trustedDevices,
    };
  }

  /**
   * Clears every lane of a user (an admin's decision, or the CLI's when no admin can log in):
   * records `auth.lockout_cleared` with the actor, and answers how many lanes went.
   */
  async clearUser(
    userId: UserId,
    by: { actorId: string | null; via: 'admin' | 'cli' },
  ): Promise<{ userId: string; cleared: number; lifted: LoginLane[] }> {
    const id = userKey(userId);
    const { accounts, ...result } = await this.store.clearUser(id);
    // Throttled attempts after the clear are counted apart from those before it.
    for (const account of accounts) this.throttledEvents.closeAccount(account);
    metrics.loginLockoutsCleared.inc({ by: by.via });
    await this.audit.record({
      type: 'auth.lockout_cleared',
      userId: id,
      ...(by.actorId !== null ? { actorId: by.actorId } : {}),
      entityType: 'user',
      targetId: id,
      description: `login throttle cleared by ${by.via === 'cli' ? 'the CLI' : 'an admin'}`,
      details: { by: by.via, cleared: result.cleared, lanes: result.lifted },
    });
    return { userId: id, ...result };
  }

  /** Clears a source (an IP address; IPv6 by its /64) and its account + source lanes. */
  async clearSource(
    address: string,
    by: { actorId: string | null; via: 'admin' | 'cli' },
  ): Promise<{ source: string; cleared: number; lifted: LoginLane[] }> {
    // `unknown`: the attempts that came without an address (see admit).
    const source = address === UNKNOWN_SOURCE ? UNKNOWN_SOURCE : sourceOf(address);
    if (!source) throw new LoginAttemptInvalidError('not an IPv4 or IPv6 address');
    const result = await this.store.clearSource(source);
    metrics.loginLockoutsCleared.inc({ by: by.via });
    await this.audit.record({
      type: 'auth.lockout_cleared',
      userId: 'unknown',
      ...(by.actorId !== null ? { actorId: by.actorId } : {}),
      entityType: 'source',
      targetId: source,
      description: `source cleared by ${by.via === 'cli' ? 'the CLI' : 'an admin'}`,
      details: { by: by.via, source, cleared: result.cleared, lanes: result.lifted },
    });
    return { source, ...result };
  }

  /** Sources in key order (`throttled`: only those blocked now), a page after `after`. */
  sources(options: {
    throttled: boolean;
    limit: number;
    after: string | null;
  }): Promise<SourceState[]> {
    return this.store.sources(options.throttled, options.limit, options.after);
  }

  /** Forgets every trusted device of a user (after a password change, say). */
  forgetDevices(userId: UserId): Promise<number> {
    return this.store.forgetDevices(userKey(userId));
  }

  /** Deletes expired rows now (the sweeper does it every `sweepIntervalSeconds`). */
  sweep(): Promise<number> {
    this.sweeping ??= this.store
      .sweep()
      .then((count) => {
        if (count) metrics.loginRowsSwept.inc(count);
        return count;
      })
      .finally(() => (this.sweeping = null));
    return this.sweeping;
  }

  /** Records the open `auth.login_throttled` windows now (tests; shutdown does it itself). */
  flushEvents(): Promise<void> {
    return this.throttledEvents.flush();
  }
}

interface SetHeader {
  headersSent?: boolean;
  append?: (name: string, value: string) => void;
}

/**
 * The login route's own path, as the app declares it (not as the client spelt it: `/AUTH/LOGIN`
 * matches the route, but a cookie for that path would not be sent to `/auth/login`).
 */
function cookiePathOf(request: Request): string {
  const route = (request as Request & { route?: { path?: unknown } }).route?.path;
  const path = typeof route === 'string' ? `${request.baseUrl ?? ''}${route}` : '/';
  return /^\/[\x21-\x3a\x3c-\x7e]{0,255}$/.test(path) && !/[:*?()]/.test(path) ? path : '/';
}
