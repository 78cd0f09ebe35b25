import path from 'node:path';
import { ConfigError, loadConfig } from '../../src/app/config/app-config.js';
import { generateNoteKey } from '../../src/index.js';

/** A secret of exactly `bytes` bytes. */
const secretOf = (bytes: number) => 'k'.repeat(bytes);
const GOOD_SECRET = secretOf(32);
/** Production also needs a checkpoint signing key (issue 11): one for these tests' origin. */
const SIGNING = {
  AUDIT_LOG_ORIGIN: 'config.test/audit',
  AUDIT_SIGNING_KEY: generateNoteKey('config.test/audit').signerKey,
};

/** The problems loadConfig reports for `env`, or fails the test if it accepts it. */
function problemsOf(env: NodeJS.ProcessEnv): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

describe('loadConfig', () => {
  describe('with an empty environment', () => {
    it('uses the documented defaults', () => {
      const { config } = loadConfig({});
      expect(config).toMatchObject({
        port: 3000,
        host: null,
        docsEnabled: true,
        metricsEnabled: true,
        metricsToken: null,
        databaseUrl: null,
        databasePoolSize: 10,
        dataDir: path.resolve('./data'),
        jwtSecret: expect.any(String),
        jwtTtl: 900,
        auditLogDir: path.resolve('./var/audit'),
        admin: null,
        logLevel: 'info',
        production: false,
        trustProxy: false,
      });
    });

    it('generates a random secret of at least 32 bytes, a new one on each run, with a warning', () => {
      const first = loadConfig({});
      const second = loadConfig({});
      expect(Buffer.byteLength(first.config.jwtSecret)).toBeGreaterThanOrEqual(32);
      expect(second.config.jwtSecret).not.toBe(first.config.jwtSecret);
      expect(first.warnings).toEqual([
        expect.stringMatching(/^JWT_SECRET is not set: using a random secret for this run only/),
      ]);
    });
  });

  it('reads every variable it is given', () => {
    const { config, warnings } = loadConfig({
      PORT: '8080',
      HOST: '10.0.0.5',
      DOCS_ENABLED: 'true',
      METRICS_TOKEN: 'scrape-token-0123456789',
      DATABASE_URL: 'postgresql://app@db.internal:5432/strikeguard',
      DATABASE_POOL_SIZE: '25',
      DATA_DIR: '/srv/sg/data',
      JWT_SECRET: GOOD_SECRET,
      JWT_TTL: '1h',
      AUDIT_LOG_DIR: '/srv/sg/audit',
      ADMIN_USERNAME: 'root.admin',
      ADMIN_PASSWORD: 'a-long-admin-password',
      LOG_LEVEL: 'debug',
      TRUST_PROXY: 'loopback, 10.0.0.0/8',
      NODE_ENV: 'production',
      ...SIGNING,
    });
    expect(config).toMatchObject({
      port: 8080,
      host: '10.0.0.5',
      docsEnabled: true,
      metricsEnabled: true,
      metricsToken: 'scrape-token-0123456789',
      databaseUrl: 'postgresql://app@db.internal:5432/strikeguard',
      databasePoolSize: 25,
      dataDir: '/srv/sg/data',
      jwtSecret: GOOD_SECRET,
      jwtTtl: 3600,
      auditLogDir: '/srv/sg/audit',
      admin: { username: 'root.admin', password: 'a-long-admin-password' },
      logLevel: 'debug',
      production: true,
      trustProxy: ['loopback', '10.0.0.0/8'],
    });
    expect(warnings).toEqual([]);
  });

  it('reports every bad value at once, one problem each, in a ConfigError', () => {
    const env = {
      PORT: '70000',
      DATABASE_URL: 'mysql://db/app',
      DATABASE_POOL_SIZE: '1',
      JWT_TTL: 'abc',
      ADMIN_USERNAME: 'root',
      LOG_LEVEL: 'loud',
      TRUST_PROXY: 'maybe',
      NODE_ENV: 'production',
      ...SIGNING,
    };
    const problems = problemsOf(env);
    expect(problems).toHaveLength(8);
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^PORT must be an integer from 0 to 65535 \(got "70000"\)/),
        expect.stringMatching(/^DATABASE_URL must be a postgres:\/\/ or postgresql:\/\/ URL/),
        expect.stringMatching(/^DATABASE_POOL_SIZE must be an integer from 2 to 200 \(got "1"\)/),
        expect.stringMatching(/^JWT_TTL must be a duration from 1s to 30d.*\(got "abc"\)/),
        expect.stringMatching(/^JWT_SECRET is not set: with NODE_ENV=production/),
        expect.stringMatching(/^ADMIN_USERNAME and ADMIN_PASSWORD must be set together/),
        expect.stringMatching(/^LOG_LEVEL must be one of fatal, error, warn, info.*\(got "loud"\)/),
        expect.stringMatching(/^TRUST_PROXY must be a hop count .*not understood: "maybe"/),
      ]),
    );
  });

  it('reads the strike policy: mode, decay, timed blocks, with their defaults and names in errors', () => {
    expect(loadConfig({}).config.strikes).toMatchObject({
      mode: 'enforce',
      decayAfter: null,
      blockFor: null,
      permanentAfter: 3,
    });
    expect(
      loadConfig({
        STRIKES_MODE: 'monitor',
        STRIKES_DECAY: '30d',
        STRIKES_BLOCK_FOR: '15m',
        STRIKES_PERMANENT_AFTER: '5',
      }).config.strikes,
    ).toMatchObject({ mode: 'monitor', decayAfter: 30 * 86_400, blockFor: 900, permanentAfter: 5 });
    expect(
      loadConfig({ STRIKES_DECAY: 'off', STRIKES_BLOCK_FOR: 'admin' }).config.strikes,
    ).toMatchObject({ decayAfter: null, blockFor: null });
    expect(
      problemsOf({
        STRIKES_MODE: 'audit',
        STRIKES_DECAY: '30 days',
        STRIKES_BLOCK_FOR: '-1',
        STRIKES_PERMANENT_AFTER: '0',
      }),
    ).toEqual([
      expect.stringMatching(/^STRIKES_MODE must be "enforce" .* or "monitor" .*\(got "audit"\)/),
      expect.stringMatching(/^STRIKES_DECAY must be a duration from 1s to 3650d/),
      expect.stringMatching(/^STRIKES_BLOCK_FOR must be a duration from 1s to 3650d/),
      expect.stringMatching(/^STRIKES_PERMANENT_AFTER must be an integer from 1 to 1000/),
    ]);
  });

  it('puts every problem in the error message, one per line', () => {
    expect(() => loadConfig({ PORT: 'x', LOG_LEVEL: 'loud' })).toThrow(
      /^invalid configuration:\n {2}- PORT .*\n {2}- LOG_LEVEL /,
    );
  });

  describe('JWT_SECRET', () => {
    it('is required with NODE_ENV=production', () => {
      expect(problemsOf({ NODE_ENV: 'production', ...SIGNING })).toEqual([
        expect.stringMatching(
          /^JWT_SECRET is not set: with NODE_ENV=production set it to at least 32/,
        ),
      ]);
    });

    it('is accepted with NODE_ENV=production at exactly 32 bytes', () => {
      const { config, warnings } = loadConfig({
        NODE_ENV: 'production',
        ...SIGNING,
        JWT_SECRET: GOOD_SECRET,
      });
      expect(config.jwtSecret).toBe(GOOD_SECRET);
      expect(warnings).toEqual([]);
    });

    it('counts bytes, not characters: 16 two-byte characters are 32 bytes', () => {
      const secret = 'é'.repeat(16);
      const { config } = loadConfig({ NODE_ENV: 'production', ...SIGNING, JWT_SECRET: secret });
      expect(config.jwtSecret).toBe(secret);
    });

    it.each([
      ['outside production', {}],
      ['with NODE_ENV=production', { NODE_ENV: 'production', ...SIGNING }],
    ])('refuses a secret that is set but shorter than 32 bytes %s', (_, env) => {
      expect(problemsOf({ ...env, JWT_SECRET: secretOf(31) })).toEqual([
        'JWT_SECRET is shorter than 32 bytes (31): set it to at least 32 random bytes (e.g. `openssl rand -base64 48`), or unset it outside production for a random secret per run',
      ]);
    });

    it('counts bytes for a short secret too: 15 two-byte characters are 30 bytes', () => {
      expect(problemsOf({ JWT_SECRET: 'é'.repeat(15) })).toEqual([
        expect.stringMatching(/^JWT_SECRET is shorter than 32 bytes \(30\)/),
      ]);
    });

    it('outside production, uses a secret of exactly 32 bytes as given, without a warning', () => {
      const { config, warnings } = loadConfig({ JWT_SECRET: GOOD_SECRET });
      expect(config.jwtSecret).toBe(GOOD_SECRET);
      expect(warnings).toEqual([]);
    });

    it('is not production unless NODE_ENV is exactly "production"', () => {
      const { config, warnings } = loadConfig({ NODE_ENV: 'staging' });
      expect(config.production).toBe(false);
      expect(warnings).toHaveLength(1);
    });
  });

  describe('JWT_TTL', () => {
    it.each([
      ['900', 900],
      ['90s', 90],
      ['15m', 900],
      ['2h', 7200],
      ['1d', 86_400],
      ['1', 1],
      ['30d', 30 * 86_400],
    ])('reads "%s" as %i seconds', (raw, seconds) => {
      expect(loadConfig({ JWT_TTL: raw }).config.jwtTtl).toBe(seconds);
    });

    it.each(['0', '0m', '-5', 'abc', '31d', '2592001', '1.5h', '15 minutes', '1w'])(
      'rejects "%s"',
      (raw) => {
        expect(problemsOf({ JWT_TTL: raw })).toEqual([
          `JWT_TTL must be a duration from 1s to 30d, as seconds or with a unit s, m, h or d (got "${raw}")`,
        ]);
      },
    );
  });

  describe('ADMIN_USERNAME and ADMIN_PASSWORD', () => {
    it.each([
      ['ADMIN_USERNAME without ADMIN_PASSWORD', { ADMIN_USERNAME: 'root' }],
      ['ADMIN_PASSWORD without ADMIN_USERNAME', { ADMIN_PASSWORD: 'a-long-admin-password' }],
    ])('refuses %s', (_, env) => {
      expect(problemsOf(env)).toEqual([
        'ADMIN_USERNAME and ADMIN_PASSWORD must be set together (or both left unset)',
      ]);
    });

    it('refuses an admin name and password the registration rules would refuse', () => {
      expect(problemsOf({ ADMIN_USERNAME: 'r!', ADMIN_PASSWORD: 'short' })).toEqual([
        expect.stringMatching(/^ADMIN_USERNAME must be 3-64 characters/),
        'ADMIN_PASSWORD must be 12-256 characters long',
      ]);
    });
  });

  describe('DATABASE_URL', () => {
    it.each(['mysql://db/app', 'not a url', 'localhost:5432/app', 'http://db:5432/app'])(
      'refuses "%s"',
      (raw) => {
        expect(problemsOf({ DATABASE_URL: raw })).toEqual([
          expect.stringMatching(/^DATABASE_URL must be a postgres:\/\/ or postgresql:\/\/ URL/),
        ]);
      },
    );

    it.each(['postgres://u:p@db:5432/app', 'postgresql://db/app'])('accepts "%s"', (raw) => {
      expect(loadConfig({ DATABASE_URL: raw }).config.databaseUrl).toBe(raw);
    });
  });

  describe('PORT', () => {
    it.each(['65536', '-1', '80.5', 'http', '1e3'])('refuses "%s"', (raw) => {
      expect(problemsOf({ PORT: raw })).toEqual([
        `PORT must be an integer from 0 to 65535 (got "${raw}")`,
      ]);
    });

    it.each([
      ['0', 0],
      ['65535', 65535],
    ])('accepts the bound "%s"', (raw, port) => {
      expect(loadConfig({ PORT: raw }).config.port).toBe(port);
    });
  });

  describe('HOST', () => {
    it.each(['127.0.0.1', '::1', '0.0.0.0', '::', 'localhost', 'api.internal', 'fe80::1'])(
      'accepts "%s"',
      (raw) => {
        expect(loadConfig({ HOST: raw }).config.host).toBe(raw);
      },
    );

    it('accepts an IPv6 address in brackets, as in a URL', () => {
      expect(loadConfig({ HOST: '[::1]' }).config.host).toBe('::1');
    });

    it.each([
      'http://localhost',
      '127.0.0.1:3000',
      'bad host',
      '-leading.dash',
      'a..b',
      'host_name',
    ])('refuses "%s", saying how to listen everywhere', (raw) => {
      expect(problemsOf({ HOST: raw })).toEqual([
        `HOST must be an IP address (127.0.0.1, ::1, 0.0.0.0, ::) or a host name (got "${raw}"); unset it to listen on every interface`,
      ]);
    });
  });

  describe('/docs and /metrics', () => {
    it('are on outside production, metrics open', () => {
      const { config, warnings } = loadConfig({});
      expect(config).toMatchObject({ docsEnabled: true, metricsEnabled: true, metricsToken: null });
      expect(warnings).toHaveLength(1); // only the random JWT_SECRET
    });

    it('are off by default with NODE_ENV=production', () => {
      const { config, warnings } = loadConfig({
        NODE_ENV: 'production',
        ...SIGNING,
        JWT_SECRET: GOOD_SECRET,
      });
      expect(config).toMatchObject({
        docsEnabled: false,
        metricsEnabled: false,
        metricsToken: null,
      });
      expect(warnings).toEqual([]);
    });

    it('in production, METRICS_TOKEN turns metrics on behind the token, DOCS_ENABLED the docs', () => {
      const { config, warnings } = loadConfig({
        NODE_ENV: 'production',
        ...SIGNING,
        JWT_SECRET: GOOD_SECRET,
        METRICS_TOKEN: 'scrape-token',
        DOCS_ENABLED: 'yes',
      });
      expect(config).toMatchObject({
        docsEnabled: true,
        metricsEnabled: true,
        metricsToken: 'scrape-token',
      });
      expect(warnings).toEqual([]);
    });

    it('in production, METRICS_ENABLED=true without a token serves them open, with a warning', () => {
      const { config, warnings } = loadConfig({
        NODE_ENV: 'production',
        ...SIGNING,
        JWT_SECRET: GOOD_SECRET,
        METRICS_ENABLED: 'true',
      });
      expect(config).toMatchObject({ metricsEnabled: true, metricsToken: null });
      expect(warnings).toEqual([
        expect.stringMatching(/^METRICS_ENABLED=true without METRICS_TOKEN: GET \/metrics is open/),
      ]);
    });

    it('outside production, DOCS_ENABLED=false and METRICS_ENABLED=false turn them off', () => {
      const { config } = loadConfig({ DOCS_ENABLED: 'false', METRICS_ENABLED: '0' });
      expect(config).toMatchObject({ docsEnabled: false, metricsEnabled: false });
    });

    it('refuses METRICS_TOKEN with METRICS_ENABLED=false, and values that are not booleans', () => {
      expect(problemsOf({ METRICS_TOKEN: 't', METRICS_ENABLED: 'false' })).toEqual([
        'METRICS_TOKEN is set but METRICS_ENABLED is false: unset one of them',
      ]);
      expect(problemsOf({ DOCS_ENABLED: 'maybe', METRICS_ENABLED: 'on' })).toEqual([
        'DOCS_ENABLED must be true or false (got "maybe")',
        'METRICS_ENABLED must be true or false (got "on")',
      ]);
    });
  });
});
