import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import path from 'node:path';
import { parseBoolean, parseDuration, parseInteger } from './env-values.js';
import { parseStrikesPolicy, type StrikesPolicyConfig } from './strikes-policy-config.js';
import { type AlertsConfig, parseAlerts } from './alerts-config.js';
import { type LoginThrottleConfig, parseLoginThrottle } from './login-throttle-config.js';
import { parseTransparency, type TransparencyConfig } from './transparency-config.js';
import { parseTrustProxy, type TrustProxy } from './trust-proxy.js';

/** Validated configuration of the reference service, read once from the environment at start. */
export interface AppConfig {
  port: number;
  /** Listen address (an IP address or a host name); null: every interface (`::`, or `0.0.0.0`). */
  host: string | null;
  /** Unset: the embedded PGlite database in `dataDir`. */
  databaseUrl: string | null;
  /** Connections to a PostgreSQL server (the embedded database always uses one). */
  databasePoolSize: number;
  /** Milliseconds before an unanswered query fails with 503. */
  databaseQueryTimeoutMs: number;
  dataDir: string;
  jwtSecret: string;
  /** Seconds a token stays valid. */
  jwtTtl: number;
  auditLogDir: string;
  auditLogFile: string;
  auditLogMaxBytes: number;
  auditLogFsync: boolean;
  /** Audit events waiting to be written before further ones get 503 overloaded. */
  auditMaxPendingEvents: number;
  /** Names this instance's share of the audit table; default `<hostname>/<AUDIT_LOG_FILE>`. */
  auditInstanceId: string | undefined;
  admin: { username: string; password: string } | null;
  logLevel: string;
  production: boolean;
  strikes: {
    terminateAt: number;
    blockAt: number;
    /** Dead tokens whose access.denied refusals are coalesced at once. */
    accessDeniedWindows: number;
    /** Violations waiting to be committed before further ones get 503 overloaded. */
    maxPendingViolations: number;
  } & StrikesPolicyConfig;
  /** Whether GET /metrics exists (default: outside production, or when METRICS_TOKEN is set). */
  metricsEnabled: boolean;
  /** Bearer token GET /metrics requires; null: metrics are open (bind them privately). */
  metricsToken: string | null;
  /** Whether /docs and /docs-json are served (default: outside production only). */
  docsEnabled: boolean;
  /** Proxies whose X-Forwarded-For is honoured (Express `trust proxy`); false: none. */
  trustProxy: TrustProxy;
  /** Whether JWT_SECRET came from the environment (else it is random for this run). */
  jwtSecretFromEnv: boolean;
  loginThrottle: LoginThrottleConfig;
  transparency: TransparencyConfig;
  /** The security team's alert webhook (ALERT_WEBHOOK_*); null when ALERT_WEBHOOK_URL is unset. */
  alerts: AlertsConfig | null;
}

/** Thrown when the environment holds values the service cannot start with; lists every problem. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = this.constructor.name;
  }
}

export const USERNAME_PATTERN = '^[A-Za-z0-9._-]{3,64}$';
export const PASSWORD_MIN = 12;
export const PASSWORD_MAX = 256;
const MIN_SECRET_BYTES = 32;
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/**
 * Reads and validates the environment. Every bad value is reported at once, each with what was
 * expected, so an operator fixes the whole environment in one go.
 */
export function loadConfig(env: NodeJS.ProcessEnv): { config: AppConfig; warnings: string[] } {
  const problems: string[] = [];
  const warnings: string[] = [];
  const production = env.NODE_ENV === 'production';

  const port = parseInteger(env, 'PORT', 3000, 0, 65535, problems);
  const host = parseHost(env.HOST, problems);
  const databaseUrl = parseDatabaseUrl(env.DATABASE_URL, problems);
  const databasePoolSize = parseInteger(env, 'DATABASE_POOL_SIZE', 10, 2, 200, problems);
  const databaseQueryTimeoutMs = parseInteger(
    env,
    'DATABASE_QUERY_TIMEOUT_MS',
    5000,
    100,
    600_000,
    problems,
  );
  const jwtTtl = parseDuration(env, 'JWT_TTL', 15 * 60, problems);

  // A secret that is set is used as given, so a short one is refused in every environment; only
  // an unset one outside production is replaced (for this run) by a random one.
  let jwtSecret = env.JWT_SECRET ?? '';
  const secretBytes = Buffer.byteLength(jwtSecret);
  const strongSecret = `at least ${MIN_SECRET_BYTES} random bytes (e.g. \`openssl rand -base64 48\`)`;
  if (jwtSecret && secretBytes < MIN_SECRET_BYTES) {
    problems.push(
      `JWT_SECRET is shorter than ${MIN_SECRET_BYTES} bytes (${secretBytes}): set it to ${strongSecret}, or unset it outside production for a random secret per run`,
    );
  } else if (!jwtSecret && production) {
    problems.push(`JWT_SECRET is not set: with NODE_ENV=production set it to ${strongSecret}`);
  } else if (!jwtSecret) {
    warnings.push(
      'JWT_SECRET is not set: using a random secret for this run only; tokens will not survive a restart or work across instances',
    );
    jwtSecret = randomBytes(48).toString('base64');
  }

  const admin = parseAdmin(env, problems);

  const logLevel = env.LOG_LEVEL ?? 'info';
  if (!LOG_LEVELS.includes(logLevel)) {
    problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')} (got "${logLevel}")`);
  }
  const trustProxy = parseTrustProxy(env.TRUST_PROXY, problems);
  const terminateAt = parseInteger(env, 'STRIKES_TERMINATE_AT', 3, 1, 1_000_000, problems);
  const blockAt = parseInteger(env, 'STRIKES_BLOCK_AT', 12, 1, 1_000_000, problems);
  const maxPendingViolations = parseInteger(
    env,
    'STRIKES_MAX_PENDING_VIOLATIONS',
    512,
    1,
    1_000_000,
    problems,
  );
  const accessDeniedWindows = parseInteger(
    env,
    'STRIKES_ACCESS_DENIED_WINDOWS',
    10_000,
    1,
    1_000_000,
    problems,
  );
  const auditLogFile = env.AUDIT_LOG_FILE || 'audit.log';
  if (!/^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/.test(auditLogFile)) {
    problems.push(
      `AUDIT_LOG_FILE must be a plain file name of letters, digits, ".", "_" or "-" (got "${auditLogFile}")`,
    );
  }
  const auditLogMaxBytes = parseInteger(
    env,
    'AUDIT_LOG_MAX_BYTES',
    100 * 1024 * 1024,
    4096,
    Number.MAX_SAFE_INTEGER,
    problems,
  );
  const auditLogFsync = parseBoolean(env, 'AUDIT_LOG_FSYNC', true, problems);
  const auditMaxPendingEvents = parseInteger(
    env,
    'AUDIT_MAX_PENDING_EVENTS',
    10_000,
    1,
    10_000_000,
    problems,
  );
  const auditInstanceId = env.AUDIT_INSTANCE_ID || undefined;
  if (auditInstanceId !== undefined && !/^[\x21-\x7e]{1,128}$/.test(auditInstanceId)) {
    problems.push('AUDIT_INSTANCE_ID must be 1-128 printable ASCII characters without spaces');
  }

  const docsEnabled = parseBoolean(env, 'DOCS_ENABLED', !production, problems);
  const metricsToken = env.METRICS_TOKEN || null;
  const metricsEnabled = parseBoolean(
    env,
    'METRICS_ENABLED',
    !production || !!metricsToken,
    problems,
  );
  if (metricsToken && !metricsEnabled) {
    problems.push('METRICS_TOKEN is set but METRICS_ENABLED is false: unset one of them');
  } else if (production && metricsEnabled && !metricsToken) {
    warnings.push(
      'METRICS_ENABLED=true without METRICS_TOKEN: GET /metrics is open to anyone who can reach the service; set METRICS_TOKEN or bind HOST to a private address',
    );
  }

  const jwtSecretFromEnv = !!env.JWT_SECRET;
  const loginThrottle = parseLoginThrottle(env, problems, warnings);
  const transparency = parseTransparency(env, production, problems);
  const alerts = parseAlerts(env, production, problems);
  const strikesPolicy = parseStrikesPolicy(env, problems);

  if (problems.length > 0) throw new ConfigError(problems);
  return {
    config: {
      port,
      host,
      databaseUrl,
      databasePoolSize,
      databaseQueryTimeoutMs,
      dataDir: path.resolve(env.DATA_DIR || './data'),
      jwtSecret,
      jwtTtl,
      auditLogDir: path.resolve(env.AUDIT_LOG_DIR || './var/audit'),
      auditLogFile,
      auditLogMaxBytes,
      auditLogFsync,
      auditMaxPendingEvents,
      auditInstanceId,
      admin,
      logLevel,
      production,
      trustProxy,
      strikes: {
        terminateAt,
        blockAt,
        accessDeniedWindows,
        maxPendingViolations,
        ...strikesPolicy,
      },
      metricsEnabled,
      metricsToken,
      docsEnabled,
      jwtSecretFromEnv,
      loginThrottle,
      transparency,
      alerts,
    },
    warnings,
  };
}

/** An IP address, or a host name the resolver will look up (`localhost`, `api.internal`). */
function parseHost(raw: string | undefined, problems: string[]): string | null {
  if (raw === undefined || raw === '') return null;
  const host = raw.replace(/^\[(.*)\]$/, '$1'); // [::1] as in a URL
  const hostName =
    /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
  if (isIP(host) || hostName.test(host)) return host;
  problems.push(
    `HOST must be an IP address (127.0.0.1, ::1, 0.0.0.0, ::) or a host name (got "${raw}"); unset it to listen on every interface`,
  );
  return null;
}

function parseDatabaseUrl(raw: string | undefined, problems: string[]): string | null {
  if (raw === undefined || raw === '') return null;
  try {
    const url = new URL(raw);
    if (url.protocol === 'postgres:' || url.protocol === 'postgresql:') return raw;
  } catch {
    // reported below
  }
  problems.push(
    'DATABASE_URL must be a postgres:// or postgresql:// URL (unset it to use the embedded database)',
  );
  return null;
}

function parseAdmin(env: NodeJS.ProcessEnv, problems: string[]): AppConfig['admin'] {
  const username = env.ADMIN_USERNAME ?? '';
  const password = env.ADMIN_PASSWORD ?? '';
  if (!username && !password) return null;
  if (!username || !password) {
    problems.push('ADMIN_USERNAME and ADMIN_PASSWORD must be set together (or both left unset)');
    return null;
  }
  let ok = true;
  if (!new RegExp(USERNAME_PATTERN).test(username)) {
    problems.push('ADMIN_USERNAME must be 3-64 characters of A-Z, a-z, 0-9, ".", "_" or "-"');
    ok = false;
  }
  if (password.length < PASSWORD_MIN || password.length > PASSWORD_MAX) {
    problems.push(`ADMIN_PASSWORD must be ${PASSWORD_MIN}-${PASSWORD_MAX} characters long`);
    ok = false;
  }
  return ok ? { username, password } : null;
}
