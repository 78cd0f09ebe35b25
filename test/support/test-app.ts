import { type INestApplication } from '@nestjs/common';
import { type AddressInfo } from 'node:net';
import { loadConfig, type AppConfig } from '../../src/app/config/app-config.js';
import { createApp } from '../../src/app/create-app.js';
import { request } from './http.js';

export const TEST_JWT_SECRET = 'test-secret-0123456789abcdef0123456789abcdef';

export interface TestApp {
  app: INestApplication;
  base: string;
  config: AppConfig;
  close(): Promise<void>;
}

/**
 * Starts the reference service in-process on a random port, against `databaseUrl`, through the
 * same createApp() as `npm start`: real migrations, real HTTP stack.
 */
export async function startTestApp(
  databaseUrl: string,
  env: Record<string, string> = {},
): Promise<TestApp> {
  const { config } = loadConfig({
    JWT_SECRET: TEST_JWT_SECRET,
    LOG_LEVEL: 'silent',
    DATABASE_URL: databaseUrl,
    ...env,
  });
  const app = await createApp(config, {
    url: databaseUrl,
    poolSize: config.databasePoolSize,
    embedded: false,
  });
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  return { app, base: `http://127.0.0.1:${port}`, config, close: () => app.close() };
}

let counter = 0;

/** A username no other test uses. */
export function uniqueName(prefix = 'user'): string {
  return `${prefix}${Date.now().toString(36)}${(counter++).toString(36)}`;
}

export const PASSWORD = 'correct-horse-battery';

/** Registers and logs in a fresh user. */
export async function newUser(
  base: string,
  prefix = 'user',
): Promise<{ id: string; username: string; token: string }> {
  const username = uniqueName(prefix);
  const reg = await request(base, 'POST', '/auth/register', {
    body: { username, password: PASSWORD },
  });
  if (reg.status !== 201) throw new Error(`register failed: ${reg.status} ${reg.text}`);
  const login = await request(base, 'POST', '/auth/login', {
    body: { username, password: PASSWORD },
  });
  if (login.status !== 200) throw new Error(`login failed: ${login.status} ${login.text}`);
  return { id: reg.body.id, username, token: login.body.accessToken };
}
