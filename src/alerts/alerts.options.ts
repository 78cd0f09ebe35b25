import { isIP } from 'node:net';
import { parseWebhookSecret, WebhookSecretError } from './standard-webhooks.js';

/** The audit event types a security team is alerted of by default. */
export const DEFAULT_ALERT_TYPES: readonly string[] = [
  'account.blocked',
  'session.terminated',
  'account.unblocked',
  'auth.lockout_started',
  'audit.verification_failed',
];

/** Options of `AlertsModule.forRoot` / `forRootAsync`. Durations are in milliseconds. */
export interface AlertsModuleOptions {
  /** Where alerts are POSTed: an `https://` (or `http://`) URL, without a `user:password@` part. */
  url: string;
  /**
   * Signs every request (Standard Webhooks): `whsec_` and the base64 of 24–64 random bytes. Give
   * several while rotating (the new one and the one being retired): each request then carries a
   * signature for each, and the receiver may hold either.
   */
  secret: string | readonly string[];
  /**
   * Names this destination's cursor (default `default`): keep it when the URL changes and
   * delivery goes on where it stopped; give a second receiver another name (`[a-z0-9_.-]`).
   */
  name?: string;
  /** Audit event types sent (default DEFAULT_ALERT_TYPES); any `[a-z0-9_.-]{1,128}` type. */
  types?: readonly string[];
  /** A request unanswered this long is a failure and retried (10,000; 100 to 120,000). */
  timeoutMs?: number;
  /** How often the table is read for new alerts, and standbys check the lease (1,000). */
  pollIntervalMs?: number;
  /** The first retry's delay; each further failure doubles it, with jitter (1,000). */
  retryBaseMs?: number;
  /** The longest delay between two attempts (300,000). */
  retryMaxMs?: number;
  /**
   * How long the delivering instance's lease lasts without renewal: another instance takes over
   * this long after it died (default: 30,000, or more if timeout and poll interval need it). At
   * least `timeoutMs + pollIntervalMs + 1,000`, so a request in flight never outlives it.
   */
  leaseMs?: number;
  /** Alerts read per query (100). */
  batchSize?: number;
  /**
   * Where a destination seen for the first time starts: `now` (default: alerts recorded from
   * then on) or `beginning` (every alert already in the table, oldest first).
   */
  startAt?: 'now' | 'beginning';
  /** Status is unhealthy while the oldest undelivered alert has waited longer than this (60,000). */
  maxLagMs?: number;
}

/** The options with every default filled in and checked: what the alert providers inject. */
export interface ResolvedAlertsOptions {
  url: URL;
  secrets: string[];
  name: string;
  types: string[];
  timeoutMs: number;
  pollIntervalMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
  leaseMs: number;
  batchSize: number;
  startAt: 'now' | 'beginning';
  maxLagMs: number;
}

/** Thrown at start for options the alerts cannot run with; lists every problem and its fix. */
export class AlertsOptionsError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid AlertsModule options:\n  - ${problems.join('\n  - ')}`);
    this.name = this.constructor.name;
  }
}

const TYPE = /^[a-z0-9_.-]{1,128}$/;
const NAME = /^[a-z0-9_.-]{1,64}$/;
const DEFAULT_LEASE_MS = 30_000;

/** [default, min, max] of every numeric option but the lease. */
const RANGES = {
  timeoutMs: [10_000, 100, 120_000],
  pollIntervalMs: [1000, 10, 60_000],
  retryBaseMs: [1000, 10, 3_600_000],
  retryMaxMs: [300_000, 10, 86_400_000],
  batchSize: [100, 1, 10_000],
  maxLagMs: [60_000, 1000, 86_400_000],
} as const satisfies Record<string, readonly [number, number, number]>;

export function resolveAlertsOptions(options: AlertsModuleOptions): ResolvedAlertsOptions {
  const problems: string[] = [];
  const url = checkUrl(options.url, problems);

  const secrets = typeof options.secret === 'string' ? [options.secret] : (options.secret ?? []);
  if (!Array.isArray(secrets) || secrets.length === 0)
    problems.push(
      'secret is required: "whsec_" and the base64 of 24 to 64 random bytes (e.g. `echo whsec_$(openssl rand -base64 32)`)',
    );
  else
    secrets.forEach((s, i) => {
      try {
        parseWebhookSecret(s);
      } catch (error) {
        if (!(error instanceof WebhookSecretError)) throw error;
        problems.push(`secret${secrets.length > 1 ? ` ${i + 1}` : ''}: ${error.message}`);
      }
    });

  const name = options.name ?? 'default';
  if (typeof name !== 'string' || !NAME.test(name))
    problems.push(`name must be 1-64 of a-z, 0-9, ".", "_" or "-" (got ${JSON.stringify(name)})`);

  const types = [...(options.types ?? DEFAULT_ALERT_TYPES)];
  if (types.length === 0) problems.push('types must list at least one audit event type');
  for (const type of types)
    if (typeof type !== 'string' || !TYPE.test(type))
      problems.push(
        `types: ${JSON.stringify(type)} is not an audit event type ([a-z0-9_.-]{1,128})`,
      );

  const numbers = {} as Record<keyof typeof RANGES, number>;
  for (const [key, [fallback, min, max]] of Object.entries(RANGES) as [
    keyof typeof RANGES,
    readonly [number, number, number],
  ][]) {
    numbers[key] = integer(options[key], key, fallback, min, max, problems);
  }
  if (numbers.retryBaseMs > numbers.retryMaxMs)
    problems.push('retryBaseMs must not be longer than retryMaxMs');
  const minLease = numbers.timeoutMs + numbers.pollIntervalMs + 1000;
  const leaseMs = integer(
    options.leaseMs,
    'leaseMs',
    Math.max(DEFAULT_LEASE_MS, minLease),
    1000,
    3_600_000,
    problems,
  );
  if (leaseMs < minLease)
    problems.push(
      `leaseMs (${leaseMs}) must be at least timeoutMs + pollIntervalMs + 1000 (${minLease}): a request in flight must never outlive the lease`,
    );

  const startAt = options.startAt ?? 'now';
  if (startAt !== 'now' && startAt !== 'beginning')
    problems.push(`startAt must be "now" or "beginning" (got ${JSON.stringify(startAt)})`);

  if (problems.length) throw new AlertsOptionsError(problems);
  return {
    url: url!,
    secrets: [...secrets],
    name,
    types: [...new Set(types)],
    ...numbers,
    leaseMs,
    startAt,
  };
}

/** True for a URL whose host is this machine (127.0.0.0/8, ::1, localhost). */
export function isLoopbackUrl(url: URL): boolean {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

function checkUrl(raw: unknown, problems: string[]): URL | null {
  let url: URL;
  try {
    url = new URL(String(raw));
  } catch {
    problems.push(`url must be an https:// or http:// URL (got ${JSON.stringify(raw)})`);
    return null;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    problems.push(`url must be an https:// or http:// URL (got a ${url.protocol} URL)`);
    return null;
  }
  if (url.username || url.password) {
    problems.push(
      'url must not hold a user name or password (such URLs cannot be requested): the receiver authenticates each request by its signature',
    );
    return null;
  }
  return url;
}

function integer(
  value: unknown,
  name: string,
  fallback: number,
  min: number,
  max: number,
  problems: string[],
): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    problems.push(`${name} must be an integer from ${min} to ${max} (got ${String(value)})`);
    return fallback;
  }
  return value;
}
