import {
  type AlertsModuleOptions,
  DEFAULT_ALERT_TYPES,
  isLoopbackUrl,
  parseWebhookSecret,
  WebhookSecretError,
} from '../../index.js';
import { parseMillis } from './env-values.js';

/** The service's alert webhook (ALERT_WEBHOOK_*), or null when ALERT_WEBHOOK_URL is unset. */
export type AlertsConfig = Required<
  Pick<
    AlertsModuleOptions,
    | 'url'
    | 'types'
    | 'timeoutMs'
    | 'pollIntervalMs'
    | 'retryBaseMs'
    | 'retryMaxMs'
    | 'leaseMs'
    | 'startAt'
  >
> & { secret: string[] };

const TYPE = /^[a-z0-9_.-]{1,128}$/;
const SECRET_EXAMPLE = '`echo whsec_$(openssl rand -base64 32)`';

export function parseAlerts(
  env: NodeJS.ProcessEnv,
  production: boolean,
  problems: string[],
): AlertsConfig | null {
  const raw = env.ALERT_WEBHOOK_URL ?? '';
  if (raw === '') {
    const stray = Object.keys(env).filter((k) => k.startsWith('ALERT_WEBHOOK_') && env[k]);
    if (stray.length)
      problems.push(
        `${stray.sort().join(', ')} ${stray.length > 1 ? 'are' : 'is'} set but ALERT_WEBHOOK_URL is not: set it to the receiver's https:// URL, or unset the others`,
      );
    return null;
  }
  const url = parseUrl(raw, production, problems);

  const secret = (env.ALERT_WEBHOOK_SECRET ?? '').split(/\s+/).filter(Boolean);
  if (secret.length === 0)
    problems.push(
      `ALERT_WEBHOOK_SECRET is required with ALERT_WEBHOOK_URL: "whsec_" and the base64 of 24 to 64 random bytes (${SECRET_EXAMPLE}); give the receiver the same value`,
    );
  for (const [i, s] of secret.entries()) {
    try {
      parseWebhookSecret(s);
    } catch (error) {
      if (!(error instanceof WebhookSecretError)) throw error;
      problems.push(
        `ALERT_WEBHOOK_SECRET${secret.length > 1 ? ` (secret ${i + 1})` : ''}: ${error.message}`,
      );
    }
  }

  const types = env.ALERT_WEBHOOK_TYPES
    ? env.ALERT_WEBHOOK_TYPES.split(',').map((t) => t.trim())
    : [...DEFAULT_ALERT_TYPES];
  const badTypes = types.filter((t) => !TYPE.test(t));
  if (badTypes.length || types.length === 0)
    problems.push(
      `ALERT_WEBHOOK_TYPES must be audit event types ([a-z0-9_.-]{1,128}), comma-separated (got ${JSON.stringify(env.ALERT_WEBHOOK_TYPES)})`,
    );

  const timeoutMs = parseMillis(env, 'ALERT_WEBHOOK_TIMEOUT', 10_000, 100, 120_000, problems);
  const pollIntervalMs = parseMillis(
    env,
    'ALERT_WEBHOOK_POLL_INTERVAL',
    1000,
    10,
    60_000,
    problems,
  );
  const retryMaxMs = parseMillis(env, 'ALERT_WEBHOOK_RETRY_MAX', 300_000, 10, 86_400_000, problems);
  const minLease = timeoutMs + pollIntervalMs + 1000;
  const leaseMs = parseMillis(
    env,
    'ALERT_WEBHOOK_LEASE',
    Math.max(30_000, minLease),
    1000,
    3_600_000,
    problems,
  );
  if (leaseMs < minLease)
    problems.push(
      `ALERT_WEBHOOK_LEASE must be at least ALERT_WEBHOOK_TIMEOUT + ALERT_WEBHOOK_POLL_INTERVAL + 1s (${minLease} ms): a request in flight must never outlive the lease`,
    );

  const startAt = env.ALERT_WEBHOOK_START || 'now';
  if (startAt !== 'now' && startAt !== 'beginning')
    problems.push(`ALERT_WEBHOOK_START must be "now" or "beginning" (got "${startAt}")`);

  return {
    url: url ?? raw,
    secret,
    types,
    timeoutMs,
    pollIntervalMs,
    // Retries start after 1 s (or the cap, when that is shorter), doubling up to the cap.
    retryBaseMs: Math.min(1000, retryMaxMs),
    retryMaxMs,
    leaseMs,
    startAt: startAt as 'now' | 'beginning',
  };
}

/**
 * https://, or http:// outside production; with NODE_ENV=production http:// only to this
 * machine (a local relay or agent): alerts carry user ids and addresses, which a signature
 * authenticates but does not hide.
 */
function parseUrl(raw: string, production: boolean, problems: string[]): string | null {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    problems.push(`ALERT_WEBHOOK_URL must be an https:// URL (got "${raw}")`);
    return null;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    problems.push(`ALERT_WEBHOOK_URL must be an https:// URL (got a ${url.protocol} URL)`);
    return null;
  }
  if (url.username || url.password) {
    problems.push(
      'ALERT_WEBHOOK_URL must not hold a user name or password: the receiver authenticates each request by its signature (ALERT_WEBHOOK_SECRET)',
    );
    return null;
  }
  if (production && url.protocol === 'http:' && !isLoopbackUrl(url)) {
    problems.push(
      'ALERT_WEBHOOK_URL must be https:// with NODE_ENV=production (alerts carry user ids and IP addresses; the signature does not hide them); http:// is accepted only to a receiver on this machine (127.0.0.1, ::1, localhost)',
    );
    return null;
  }
  return raw;
}
