import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type AppConfig } from './app-config.js';

/** The file the service keeps its throttle secret in when none is configured (outside production). */
export const SECRET_FILE = 'login-throttle.key';

/**
 * The login throttle's secret: LOGIN_THROTTLE_SECRET; else JWT_SECRET when it was set (the library
 * derives its own keys from it); else, outside production, one kept in DATA_DIR (0600), so that
 * counts and trusted devices survive a restart even while the JWT secret is random per run.
 */
export function loginThrottleSecret(config: AppConfig): string | Buffer {
  if (config.loginThrottle.secret) return config.loginThrottle.secret;
  if (config.jwtSecretFromEnv) return config.jwtSecret;
  const file = path.join(config.dataDir, SECRET_FILE);
  try {
    const kept = readFileSync(file);
    if (kept.length >= 32) return kept;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const secret = randomBytes(48);
  writeFileSync(file, secret, { mode: 0o600, flag: 'w' });
  return secret;
}
