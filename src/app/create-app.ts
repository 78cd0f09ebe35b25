import { type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { type NestExpressApplication } from '@nestjs/platform-express';
import { Logger } from 'nestjs-pino';
import { AppModule } from './app.module.js';
import { type AppConfig } from './config/app-config.js';
import { type DatabaseConnection } from './database/data-source-options.js';
import { jsonBody } from './http/json-body.js';
import { useSecurityHeaders } from './http/security-headers.js';
import { DOCS_PATH, setUpOpenApi } from './openapi/openapi.js';

/** Builds the reference service (used by main.ts and by the tests, so both run the same stack). */
export async function createApp(
  config: AppConfig,
  db: DatabaseConnection,
): Promise<INestApplication> {
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config, db), {
    bodyParser: false,
    bufferLogs: true,
  });
  app.useLogger(app.get(Logger));
  app.set('trust proxy', config.trustProxy);
  app.disable('x-powered-by');
  // First: every response after this point carries the headers, body-parser refusals included.
  useSecurityHeaders(app, config.docsEnabled ? DOCS_PATH : null);
  const auditBodyLimit = { method: 'POST', path: '/audit/events', limit: 2 * 1024 * 1024 };
  for (const handler of jsonBody([auditBodyLimit])) app.use(handler);
  // Off by default with NODE_ENV=production (DOCS_ENABLED): /docs, /docs-json and /docs-yaml 404.
  if (config.docsEnabled) setUpOpenApi(app);
  return app;
}
