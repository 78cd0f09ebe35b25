import { type INestApplication } from '@nestjs/common';
import fs from 'node:fs';
import { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, type AppConfig } from '../../src/app/config/app-config.js';
import { createApp } from '../../src/app/create-app.js';
import { request } from './http.js';
import { PASSWORD, registerAndLogin, uniqueUsername } from './service-process.js';

export const TEST_JWT_SECRET = 'test-secret-0123456789abcdef0123456789abcdef';

export interface TestApp {
  app: INestApplication;
  base: string;
  config: AppConfig;
  /** The audit log directory (a fresh temp dir unless AUDIT_LOG_DIR was given). */
  auditDir: string;
  close(): Promise<void>;
}

export const ADMIN = { username: 'root-admin', password: 'Adm1n-Passw0rd!x' };

/**
 * Starts the reference service in-process on a random port, against `databaseUrl`, through the
 * same createApp() as `npm start`: real migrations, real HTTP stack.
 */
export async function startTestApp(
  databaseUrl: string,
  env: Record<string, string> = {},
): Promise<TestApp> {
  const auditDir =
    env.AUDIT_LOG_DIR ?? path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sg-audit-')), 'audit');
  const { config } = loadConfig({
    JWT_SECRET: TEST_JWT_SECRET,
    LOG_LEVEL: 'silent',
    DATABASE_URL: databaseUrl,
    AUDIT_LOG_FSYNC: 'false',
    // A generated checkpoint signing key goes next to the audit directory, not the checkout's data/.
    DATA_DIR: path.join(path.dirname(auditDir), 'data'),
    ...env,
    AUDIT_LOG_DIR: auditDir,
  });
  const app = await createApp(config, {
    url: databaseUrl,
    poolSize: config.databasePoolSize,
    queryTimeoutMs: config.databaseQueryTimeoutMs,
    embedded: false,
  });
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  return { app, base: `http://127.0.0.1:${port}`, config, auditDir, close: () => app.close() };
}

/** A username no other test uses. */
export const uniqueName = uniqueUsername;

export { PASSWORD };

/** Registers and logs in a fresh user. */
export const newUser = registerAndLogin;

/** Logs in the ADMIN account (start the app with adminEnv()). */
export async function adminToken(base: string): Promise<string> {
  const res = await request(base, 'POST', '/auth/login', { body: ADMIN });
  if (res.status !== 200) throw new Error(`admin login failed: ${res.status} ${res.text}`);
  return res.body.accessToken;
}

/** Environment that creates the ADMIN account at start. */
export function adminEnv(): Record<string, string> {
  return { ADMIN_USERNAME: ADMIN.username, ADMIN_PASSWORD: ADMIN.password };
}
