import { type LoginThrottleModuleOptions } from '../../index.js';
import { parseBoolean, parseDuration, parseInteger } from './env-values.js';

/** The service's login throttle settings (LOGIN_*); the secret is resolved at start. */
export type LoginThrottleConfig = Omit<LoginThrottleModuleOptions, 'secret'> & {
  enabled: boolean;
  /** LOGIN_THROTTLE_SECRET; null: derived from JWT_SECRET, or kept in DATA_DIR outside production. */
  secret: string | null;
};

const MIN_SECRET_BYTES = 32;

export function parseLoginThrottle(
  env: NodeJS.ProcessEnv,
  problems: string[],
  warnings: string[],
): LoginThrottleConfig {
  const enabled = parseBoolean(env, 'LOGIN_THROTTLE', true, problems);
  if (!enabled)
    warnings.push(
      'LOGIN_THROTTLE=false: login attempts are not throttled; password guessing is limited by nothing but the password hash',
    );
  const secret = env.LOGIN_THROTTLE_SECRET || null;
  if (secret !== null && Buffer.byteLength(secret) < MIN_SECRET_BYTES)
    problems.push(
      `LOGIN_THROTTLE_SECRET is shorter than ${MIN_SECRET_BYTES} bytes: set it to at least ${MIN_SECRET_BYTES} random bytes (e.g. \`openssl rand -base64 48\`), or unset it to derive it from JWT_SECRET`,
    );
  const config: LoginThrottleConfig = {
    enabled,
    secret,
    freeAttempts: parseInteger(env, 'LOGIN_FREE_ATTEMPTS', 5, 1, 1000, problems),
    backoffBaseSeconds: parseDuration(env, 'LOGIN_BACKOFF_BASE', 30, problems, 1),
    maxWaitSeconds: parseDuration(env, 'LOGIN_MAX_WAIT', 3600, problems),
    accountLimit: parseInteger(env, 'LOGIN_ACCOUNT_LIMIT', 20, 1, 1_000_000, problems),
    accountWindowSeconds: parseDuration(env, 'LOGIN_ACCOUNT_WINDOW', 3600, problems),
    sourceLimit: parseInteger(env, 'LOGIN_SOURCE_LIMIT', 100, 1, 1_000_000, problems),
    sourceWindowSeconds: parseDuration(env, 'LOGIN_SOURCE_WINDOW', 86_400, problems),
    hardLimit: parseInteger(env, 'LOGIN_HARD_LIMIT', 100, 1, 1_000_000, problems),
    retentionSeconds: parseDuration(env, 'LOGIN_RETENTION', 86_400, problems, 365),
    deviceTtlSeconds: parseDuration(env, 'LOGIN_DEVICE_TTL', 90 * 86_400, problems, 3650),
    throttledEventWindowSeconds: parseDuration(
      env,
      'LOGIN_THROTTLED_EVENT_WINDOW',
      60,
      problems,
      1,
    ),
    sweepIntervalSeconds: parseDuration(env, 'LOGIN_SWEEP_INTERVAL', 60, problems, 1),
    deviceCookie: { secure: parseBoolean(env, 'LOGIN_DEVICE_COOKIE_SECURE', true, problems) },
  };
  if (config.backoffBaseSeconds! > config.maxWaitSeconds!)
    problems.push('LOGIN_BACKOFF_BASE must not be longer than LOGIN_MAX_WAIT');
  if (config.retentionSeconds! < 60) problems.push('LOGIN_RETENTION must be at least 60s');
  if (config.deviceTtlSeconds! < 60) problems.push('LOGIN_DEVICE_TTL must be at least 60s');
  return config;
}
