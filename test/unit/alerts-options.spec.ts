import { randomBytes } from 'node:crypto';
import { parseRetryAfter, retryDelayMs } from '../../src/alerts/alert-backoff.js';
import {
  AlertsOptionsError,
  DEFAULT_ALERT_TYPES,
  isLoopbackUrl,
  resolveAlertsOptions,
} from '../../src/alerts/alerts.options.js';
import { ConfigError, loadConfig } from '../../src/app/config/app-config.js';
import { generateNoteKey } from '../../src/index.js';

const SECRET = `whsec_${randomBytes(32).toString('base64')}`;
const URL_ = 'https://siem.example.com/hooks/strikeguard';

/** The problems resolveAlertsOptions reports, or fails the test if it accepts the options. */
function optionProblems(options: Record<string, unknown>): string[] {
  try {
    resolveAlertsOptions({ url: URL_, secret: SECRET, ...options } as never);
  } catch (error) {
    expect(error).toBeInstanceOf(AlertsOptionsError);
    return (error as AlertsOptionsError).problems;
  }
  throw new Error(`accepted ${JSON.stringify(options)}`);
}

function configProblems(env: NodeJS.ProcessEnv): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

describe('AlertsModule options', () => {
  it('fills in the documented defaults', () => {
    expect(resolveAlertsOptions({ url: URL_, secret: SECRET })).toEqual({
      url: new URL(URL_),
      secrets: [SECRET],
      name: 'default',
      types: [...DEFAULT_ALERT_TYPES],
      timeoutMs: 10_000,
      pollIntervalMs: 1000,
      retryBaseMs: 1000,
      retryMaxMs: 300_000,
      leaseMs: 30_000,
      batchSize: 100,
      startAt: 'now',
      maxLagMs: 60_000,
    });
    expect(DEFAULT_ALERT_TYPES).toEqual([
      'account.blocked',
      'session.terminated',
      'account.unblocked',
      'auth.lockout_started',
      'audit.verification_failed',
    ]);
  });

  it('lengthens the default lease to outlast a long timeout', () => {
    expect(resolveAlertsOptions({ url: URL_, secret: SECRET, timeoutMs: 60_000 }).leaseMs).toBe(
      62_000,
    );
  });

  it.each([
    [
      { url: 'ftp://siem.example.com/x' },
      /url must be an https:\/\/ or http:\/\/ URL \(got a ftp: URL\)/,
    ],
    [{ url: 'not a url' }, /url must be an https:\/\/ or http:\/\/ URL/],
    [{ url: 'https://user:pw@siem.example.com/' }, /must not hold a user name or password/],
    [{ secret: undefined }, /secret is required: "whsec_"/],
    [{ secret: 'hunter2' }, /secret: the secret does not start with "whsec_"/],
    [{ secret: [SECRET, 'whsec_AAAA'] }, /secret 2: the secret decodes to 3 bytes/],
    [{ name: 'Security Team' }, /name must be 1-64 of a-z/],
    [{ types: [] }, /types must list at least one/],
    [
      { types: ['account.blocked', 'Account Blocked'] },
      /"Account Blocked" is not an audit event type/,
    ],
    [{ timeoutMs: 50 }, /timeoutMs must be an integer from 100 to 120000/],
    [{ pollIntervalMs: 1.5 }, /pollIntervalMs must be an integer/],
    [{ retryBaseMs: 10_000, retryMaxMs: 1000 }, /retryBaseMs must not be longer than retryMaxMs/],
    [{ timeoutMs: 20_000, leaseMs: 20_000 }, /leaseMs \(20000\) must be at least .*22000/],
    [{ startAt: 'yesterday' }, /startAt must be "now" or "beginning"/],
    [{ batchSize: 0 }, /batchSize must be an integer from 1/],
  ])('refuses %j, saying what it expects', (options, message) => {
    const problems = optionProblems(options);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(message);
  });

  it('lists every problem at once', () => {
    expect(optionProblems({ url: 'x', secret: 'y', timeoutMs: -1 })).toHaveLength(3);
  });

  it('knows loopback receivers', () => {
    for (const url of [
      'http://127.0.0.1:9000/x',
      'http://[::1]/x',
      'http://localhost/x',
      'http://127.8.0.1/',
    ])
      expect([url, isLoopbackUrl(new URL(url))]).toEqual([url, true]);
    for (const url of [
      'http://10.0.0.1/',
      'http://siem.example.com/',
      'http://128.0.0.1/',
      'http://[::2]/',
    ])
      expect([url, isLoopbackUrl(new URL(url))]).toEqual([url, false]);
  });
});

describe('retry backoff', () => {
  const options = { retryBaseMs: 1000, retryMaxMs: 300_000 };

  it('doubles from the base with jitter in the upper half, capped', () => {
    const low = () => 0;
    const high = () => 1;
    expect([1, 2, 3, 4].map((n) => retryDelayMs(n, options, null, low))).toEqual([
      500, 1000, 2000, 4000,
    ]);
    expect([1, 2, 3, 4].map((n) => retryDelayMs(n, options, null, high))).toEqual([
      1000, 2000, 4000, 8000,
    ]);
    expect(retryDelayMs(30, options, null, high)).toBe(300_000);
    expect(retryDelayMs(10_000, options, null, low)).toBe(150_000);
  });

  it("waits at least the receiver's Retry-After, never past the cap", () => {
    expect(retryDelayMs(1, options, 20_000, () => 1)).toBe(20_000);
    expect(retryDelayMs(1, options, 86_400_000, () => 1)).toBe(300_000);
  });

  it('reads Retry-After as seconds or an HTTP date', () => {
    const now = Date.parse('2026-12-01T12:00:00Z');
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter('Tue, 01 Dec 2026 12:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Tue, 01 Dec 2026 11:00:00 GMT', now)).toBe(0);
    for (const bad of [null, '', '-5', '1.5', 'soon', '12345678901'])
      expect(parseRetryAfter(bad, now)).toBeNull();
  });
});

describe('ALERT_WEBHOOK_* of the reference service', () => {
  const base = { ALERT_WEBHOOK_URL: URL_, ALERT_WEBHOOK_SECRET: SECRET };

  it('is off without ALERT_WEBHOOK_URL', () => {
    expect(loadConfig({}).config.alerts).toBeNull();
  });

  it('reads every variable, with the documented defaults', () => {
    expect(loadConfig(base).config.alerts).toEqual({
      url: URL_,
      secret: [SECRET],
      types: [...DEFAULT_ALERT_TYPES],
      timeoutMs: 10_000,
      pollIntervalMs: 1000,
      retryBaseMs: 1000,
      retryMaxMs: 300_000,
      leaseMs: 30_000,
      startAt: 'now',
    });
    const other = `whsec_${randomBytes(24).toString('base64')}`;
    expect(
      loadConfig({
        ...base,
        ALERT_WEBHOOK_SECRET: `${SECRET} ${other}`,
        ALERT_WEBHOOK_TYPES: 'account.blocked, ext.payment',
        ALERT_WEBHOOK_TIMEOUT: '250ms',
        ALERT_WEBHOOK_POLL_INTERVAL: '2s',
        ALERT_WEBHOOK_RETRY_MAX: '1m',
        ALERT_WEBHOOK_LEASE: '45',
        ALERT_WEBHOOK_START: 'beginning',
      }).config.alerts,
    ).toEqual({
      url: URL_,
      secret: [SECRET, other],
      types: ['account.blocked', 'ext.payment'],
      timeoutMs: 250,
      pollIntervalMs: 2000,
      retryBaseMs: 1000,
      retryMaxMs: 60_000,
      leaseMs: 45_000,
      startAt: 'beginning',
    });
  });

  it('starts retries at the cap when the cap is under a second', () => {
    expect(loadConfig({ ...base, ALERT_WEBHOOK_RETRY_MAX: '200ms' }).config.alerts).toMatchObject({
      retryBaseMs: 200,
      retryMaxMs: 200,
    });
  });

  it.each([
    [{ ALERT_WEBHOOK_URL: URL_ }, /ALERT_WEBHOOK_SECRET is required with ALERT_WEBHOOK_URL/],
    [{ ALERT_WEBHOOK_SECRET: SECRET }, /ALERT_WEBHOOK_SECRET is set but ALERT_WEBHOOK_URL is not/],
    [
      { ...base, ALERT_WEBHOOK_SECRET: 'hunter2' },
      /ALERT_WEBHOOK_SECRET: the secret does not start with "whsec_"/,
    ],
    [
      { ...base, ALERT_WEBHOOK_URL: 'siem.example.com' },
      /ALERT_WEBHOOK_URL must be an https:\/\/ URL/,
    ],
    [
      { ...base, ALERT_WEBHOOK_URL: 'https://a:b@siem.example.com/' },
      /must not hold a user name or password/,
    ],
    [
      { ...base, ALERT_WEBHOOK_TYPES: 'account.blocked,,' },
      /ALERT_WEBHOOK_TYPES must be audit event types/,
    ],
    [
      { ...base, ALERT_WEBHOOK_TIMEOUT: '10 seconds' },
      /ALERT_WEBHOOK_TIMEOUT must be a duration from 100ms to 2m/,
    ],
    [{ ...base, ALERT_WEBHOOK_TIMEOUT: '50ms' }, /ALERT_WEBHOOK_TIMEOUT must be a duration/],
    [{ ...base, ALERT_WEBHOOK_LEASE: '5s' }, /ALERT_WEBHOOK_LEASE must be at least .*12000 ms/],
    [{ ...base, ALERT_WEBHOOK_START: 'later' }, /ALERT_WEBHOOK_START must be "now" or "beginning"/],
  ])('refuses %j', (env, message) => {
    const problems = configProblems(env);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(message);
  });

  it('with NODE_ENV=production takes http:// only to a receiver on this machine', () => {
    // Production also needs the checkpoint signing key (issue 11).
    const production = {
      NODE_ENV: 'production',
      JWT_SECRET: 'j'.repeat(48),
      AUDIT_LOG_ORIGIN: 'alerts.test/audit',
      AUDIT_SIGNING_KEY: generateNoteKey('alerts.test/audit').signerKey,
      ...base,
    };
    expect(
      configProblems({ ...production, ALERT_WEBHOOK_URL: 'http://siem.internal/hooks' }),
    ).toEqual([expect.stringMatching(/must be https:\/\/ with NODE_ENV=production/)]);
    expect(
      loadConfig({ ...production, ALERT_WEBHOOK_URL: 'http://127.0.0.1:9000/hooks' }).config.alerts
        ?.url,
    ).toBe('http://127.0.0.1:9000/hooks');
    expect(
      loadConfig({ ...base, ALERT_WEBHOOK_URL: 'http://siem.internal/' }).config.alerts?.url,
    ).toBe('http://siem.internal/');
  });

  it('gives the library options it accepts', () => {
    const { alerts } = loadConfig({ ...base, ALERT_WEBHOOK_RETRY_MAX: '200ms' }).config;
    expect(() => resolveAlertsOptions(alerts!)).not.toThrow();
  });
});
