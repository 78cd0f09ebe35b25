import { request } from '../support/http.js';
import { documentedStatuses, openApiErrors, responseChecker } from '../support/openapi.js';
import {
  createTestDatabase,
  describeWithPostgres,
  type TestDatabase,
} from '../support/postgres.js';
import { adminEnv, adminToken, newUser, startTestApp, type TestApp } from '../support/test-app.js';

/** Every route with the statuses it really answers (a protected route: 401, 403 and 503 too). */
const CONTRACT: Record<string, string[]> = {
  'POST /auth/register': ['201', '400', '409', '413', '415', '503'],
  'POST /auth/login': ['200', '400', '401', '403', '413', '415', '429', '503'],
  'POST /auth/logout': ['204', '401', '403', '503'],
  'GET /me': ['200', '401', '403', '503'],
  'GET /health': ['200', '503'],
  'GET /metrics': ['200', '401'],
  'POST /auth/service-tokens': ['201', '400', '401', '403', '413', '415', '503'],
  'GET /auth/service-tokens': ['200', '400', '401', '403', '503'],
  'DELETE /auth/service-tokens/{id}': ['200', '400', '401', '403', '404', '503'],
  'PUT /admin/users/{userId}/role': ['200', '400', '401', '403', '404', '413', '415', '503'],
  'GET /admin/strikes': ['200', '400', '401', '403', '503'],
  'GET /admin/strikes/{userId}': ['200', '400', '401', '403', '404', '503'],
  'POST /admin/strikes/{userId}/unblock': ['200', '400', '401', '403', '404', '413', '415', '503'],
  'GET /admin/login-throttle/users/{userId}': ['200', '400', '401', '403', '503'],
  'DELETE /admin/login-throttle/users/{userId}': ['200', '400', '401', '403', '503'],
  'GET /admin/login-throttle/sources': ['200', '400', '401', '403', '503'],
  'DELETE /admin/login-throttle/sources/{ip}': ['200', '400', '401', '403', '503'],
  'POST /audit/events': ['201', '400', '401', '403', '413', '415', '503'],
  'GET /audit/events': ['200', '400', '401', '403', '503'],
  'GET /audit/events/recent': ['200', '400', '401', '403', '503'],
  'GET /audit/events/{id}': ['200', '400', '401', '403', '404', '503'],
  'GET /audit/schema': ['200', '401', '403', '503'],
  'GET /audit/verify': ['200', '400', '401', '403', '429', '503'],
  'GET /audit/verify/{id}': ['200', '400', '401', '403', '404', '503'],
  'GET /audit/log/checkpoint': ['200', '400', '401', '403', '404'],
  'GET /audit/log/key': ['200', '400', '401', '403'],
  'GET /audit/log/proof/inclusion': ['200', '400', '401', '403', '404'],
  'GET /audit/log/proof/consistency': ['200', '400', '401', '403', '404'],
};

describeWithPostgres('OpenAPI document and UI', () => {
  let db: TestDatabase;
  let svc: TestApp;
  let document: Record<string, any>;

  beforeAll(async () => {
    db = await createTestDatabase('openapi');
    svc = await startTestApp(db.url, adminEnv());
    document = (await request(svc.base, 'GET', '/docs-json')).body;
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

  it('documents every route of the contract, admin routes included', () => {
    const paths = Object.keys(document.paths);
    for (const key of Object.keys(CONTRACT)) expect(paths).toContain(key.split(' ')[1]);
    expect(document.components.securitySchemes.bearer).toBeDefined();
  });

  it('is a valid OpenAPI 3.1 document (@apidevtools/swagger-parser)', async () => {
    expect(document.openapi).toBe('3.1.0');
    expect(await openApiErrors(document)).toEqual([]);
  });

  it('gives every route its real status codes, errors in the shared StrikeguardError body', () => {
    expect(documentedStatuses(document)).toEqual(CONTRACT);
    for (const [path, operations] of Object.entries<any>(document.paths)) {
      for (const [method, operation] of Object.entries<any>(operations)) {
        for (const [status, response] of Object.entries<any>(operation.responses)) {
          const where = `${method.toUpperCase()} ${path} ${status}`;
          expect([where, response.description]).toEqual([where, expect.any(String)]);
          if (status === '204') expect([where, response.content]).toEqual([where, undefined]);
          else expect([where, response.content]).toEqual([where, expect.any(Object)]);
          if (Number(status) >= 400)
            expect([where, response.content['application/json'].schema]).toEqual([
              where,
              { $ref: '#/components/schemas/StrikeguardError' },
            ]);
          if (status === '503')
            expect([where, response.headers?.['Retry-After']]).toEqual([where, expect.any(Object)]);
        }
      }
    }
    expect(document.components.schemas.StrikeguardError.required).toEqual([
      'statusCode',
      'error',
      'message',
    ]);
  });

  it('answers what it documents: real responses fit the documented schemas', async () => {
    const fits = await responseChecker(document);
    // The checker itself: a body that is not what the route documents does not fit.
    expect(fits('GET', '/me', 200, { id: 'x', username: 'y' })).not.toEqual([]);
    expect(fits('GET', '/me', 401, { statusCode: 401 })).not.toEqual([]);
    const admin = await adminToken(svc.base);
    const user = await newUser(svc.base);
    const check = async (
      method: string,
      route: string,
      documented: string,
      expected: number,
      options: Parameters<typeof request>[3] = {},
    ) => {
      const res = await request(svc.base, method, route, options);
      expect([method, route, res.status]).toEqual([method, route, expected]);
      const body = res.status === 204 ? undefined : (res.body ?? res.text);
      expect([method, route, fits(method, documented, res.status, body)]).toEqual([
        method,
        route,
        [],
      ]);
      return res;
    };
    const name = `u${Date.now().toString(36)}`;
    const credentials = { username: name, password: 'long-enough-password' };
    const registered = await check('POST', '/auth/register', '/auth/register', 201, {
      body: credentials,
    });
    await check('POST', '/auth/register', '/auth/register', 409, { body: credentials });
    await check('POST', '/auth/register', '/auth/register', 400, { body: { username: 'x' } });
    await check('POST', '/auth/register', '/auth/register', 413, {
      body: { username: 'x'.repeat(200 * 1024), password: 'p' },
    });
    await check('POST', '/auth/register', '/auth/register', 415, {
      body: 'name=x',
      headers: { 'content-type': 'text/plain' },
    });
    const login = await check('POST', '/auth/login', '/auth/login', 200, { body: credentials });
    await check('POST', '/auth/login', '/auth/login', 401, {
      body: { ...credentials, password: 'wrong-password-x' },
    });
    const token = login.body.accessToken;
    await check('GET', '/me', '/me', 200, { token });
    await check('GET', '/health', '/health', 200);
    await check('GET', '/metrics', '/metrics', 200);
    await check('GET', '/admin/strikes', '/admin/strikes', 403, { token: user.token });
    await check('GET', '/admin/strikes?status=blocked', '/admin/strikes', 200, { token: admin });
    await check('GET', '/admin/strikes?bogus=1', '/admin/strikes', 400, { token: admin });
    await check('GET', `/admin/strikes/${user.id}`, '/admin/strikes/{userId}', 200, {
      token: admin,
    });
    await check('GET', '/admin/strikes/nobody', '/admin/strikes/{userId}', 404, { token: admin });
    await check(
      'POST',
      `/admin/strikes/${user.id}/unblock`,
      '/admin/strikes/{userId}/unblock',
      200,
      { token: admin, body: { reason: 'documented' } },
    );
    // The login throttle: lanes made by the wrong password above, then cleared.
    const lanes = await check(
      'GET',
      `/admin/login-throttle/users/${registered.body.id}`,
      '/admin/login-throttle/users/{userId}',
      200,
      { token: admin },
    );
    expect(lanes.body.lanes.length).toBeGreaterThan(0);
    await check(
      'GET',
      `/admin/login-throttle/users/${'x'.repeat(129)}`,
      '/admin/login-throttle/users/{userId}',
      400,
      { token: admin },
    );
    await check('GET', '/admin/login-throttle/sources', '/admin/login-throttle/sources', 200, {
      token: admin,
    });
    await check(
      'GET',
      '/admin/login-throttle/sources?throttled=maybe',
      '/admin/login-throttle/sources',
      400,
      { token: admin },
    );
    await check(
      'DELETE',
      '/admin/login-throttle/sources/127.0.0.1',
      '/admin/login-throttle/sources/{ip}',
      200,
      { token: admin },
    );
    await check(
      'DELETE',
      '/admin/login-throttle/sources/nowhere',
      '/admin/login-throttle/sources/{ip}',
      400,
      { token: admin },
    );
    await check(
      'DELETE',
      `/admin/login-throttle/users/${registered.body.id}`,
      '/admin/login-throttle/users/{userId}',
      200,
      { token: admin },
    );
    await check(
      'DELETE',
      `/admin/login-throttle/users/${registered.body.id}`,
      '/admin/login-throttle/users/{userId}',
      403,
      { token }, // not an admin (the other user's token died with its unblock)
    );
    await check(
      'PUT',
      `/admin/users/${registered.body.id}/role`,
      '/admin/users/{userId}/role',
      200,
      {
        token: admin,
        body: { role: 'auditor' },
      },
    );
    const issued = await check('POST', '/auth/service-tokens', '/auth/service-tokens', 201, {
      token: admin,
      body: { name: 'docs-check', scopes: ['audit:write'], ttl: '1d' },
    });
    await check('GET', '/auth/service-tokens', '/auth/service-tokens', 200, { token: admin });
    await check(
      'DELETE',
      `/auth/service-tokens/${issued.body.id}`,
      '/auth/service-tokens/{id}',
      200,
      { token: admin },
    );
    const submitted = await check('POST', '/audit/events', '/audit/events', 201, {
      token: admin,
      body: {
        type: 'docs.check',
        userId: 'customer-1',
        entityType: 'invoice',
        ip: null,
        location: null,
        description: null,
      },
    });
    await check('POST', '/audit/events', '/audit/events', 400, { token: admin, body: {} });
    await check('GET', '/audit/events?limit=5', '/audit/events', 200, { token: admin });
    await check('GET', '/audit/events/recent?count=3', '/audit/events/recent', 200, {
      token: admin,
    });
    const id = submitted.body.ids[0];
    await check('GET', `/audit/events/${id}`, '/audit/events/{id}', 200, { token: admin });
    await check('GET', '/audit/events/999999999', '/audit/events/{id}', 404, { token: admin });
    await check('GET', '/audit/events/x', '/audit/events/{id}', 400, { token: admin });
    await check('GET', '/audit/schema', '/audit/schema', 200, { token: admin });
    await check('GET', `/audit/verify?fromId=1&toId=${id}`, '/audit/verify', 200, {
      token: admin,
    });
    await check('GET', `/audit/verify/${id}`, '/audit/verify/{id}', 200, { token: admin });
    await check('POST', '/auth/logout', '/auth/logout', 204, { token });
    await check('GET', '/me', '/me', 401, { token });
  });
});
