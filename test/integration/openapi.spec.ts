import { request } from '../support/http.js';
import {
  createTestDatabase,
  describeWithPostgres,
  type TestDatabase,
} from '../support/postgres.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

describeWithPostgres('OpenAPI document and UI', () => {
  let db: TestDatabase;
  let svc: TestApp;

  beforeAll(async () => {
    db = await createTestDatabase('openapi');
    svc = await startTestApp(db.url);
  });
  afterAll(async () => {
    await svc?.close();
    await db?.drop();
  });

  it('serves the UI at /docs', async () => {
    const res = await request(svc.base, 'GET', '/docs');
    expect(res.status).toBe(200);
    expect(res.text).toContain('swagger');
  });

  it('documents every route of the contract, admin routes included', async () => {
    const { body } = await request(svc.base, 'GET', '/docs-json');
    const paths = Object.keys(body.paths);
    for (const p of [
      '/auth/register',
      '/auth/login',
      '/auth/logout',
      '/me',
      '/health',
      '/admin/strikes',
      '/admin/strikes/{userId}',
      '/admin/strikes/{userId}/unblock',
      '/admin/users/{userId}/role',
      '/auth/service-tokens',
      '/audit/events',
      '/audit/events/recent',
      '/audit/events/{id}',
      '/audit/schema',
      '/audit/verify',
      '/audit/verify/{id}',
    ]) {
      expect(paths).toContain(p);
    }
    expect(body.components.securitySchemes.bearer).toBeDefined();
  });
});
