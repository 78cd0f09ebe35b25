import { request, type TestResponse } from '../support/http.js';
import {
  createTestDatabase,
  describeWithPostgres,
  query,
  type TestDatabase,
} from '../support/postgres.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { newUser, PASSWORD, startTestApp, type TestApp, uniqueName } from '../support/test-app.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls /health until it answers 200; returns how long that took, or throws after `withinMs`. */
async function waitUntilHealthy(base: string, withinMs: number): Promise<number> {
  const start = Date.now();
  for (;;) {
    const res = await request(base, 'GET', '/health').catch(() => undefined);
    if (res?.status === 200) return Date.now() - start;
    if (Date.now() - start > withinMs) {
      throw new Error(`/health still answers ${res?.status} ${res?.text} after ${withinMs} ms`);
    }
    await sleep(100);
  }
}

/** The response, or a string saying there was none in time (the request is left running). */
function answerWithin(ms: number, pending: Promise<TestResponse>): Promise<TestResponse | string> {
  return Promise.race([pending, sleep(ms).then(() => `no answer within ${ms} ms`)]);
}

const unavailable = { statusCode: 503, error: 'Service Unavailable', message: expect.any(String) };

describeWithPostgres('the service while its database is unreachable', () => {
  let db: TestDatabase;
  let proxy: TcpProxy;
  let svc: TestApp;
  let user: { id: string; username: string; token: string };

  beforeAll(async () => {
    db = await createTestDatabase('outage');
    proxy = new TcpProxy();
    const through = new URL(db.url);
    through.hostname = '127.0.0.1';
    through.port = String(await proxy.start());
    svc = await startTestApp(through.toString());
    user = await newUser(svc.base);
  });
  afterAll(async () => {
    await svc?.close();
    await proxy?.close();
    await db?.drop();
  });

  // Every test starts from a healthy service, whatever the one before it did to the link.
  afterEach(async () => {
    proxy.restore();
    await waitUntilHealthy(svc.base, 10_000);
  });

  it('answers /health 200 while the database is reachable (control)', async () => {
    const res = await request(svc.base, 'GET', '/health');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'ok', checks: { database: 'ok' } });
  });

  describe('when connections are cut and new ones refused', () => {
    beforeEach(() => proxy.cut('refuse'));

    it('answers /health 503 with the reason', async () => {
      const res = await request(svc.base, 'GET', '/health');
      expect(res.status).toBe(503);
      expect(res.body).toEqual({
        ...unavailable,
        message: expect.stringContaining('database'),
        reason: 'database_unavailable',
      });
    });

    it('answers POST /auth/login 503, not 500', async () => {
      const res = await request(svc.base, 'POST', '/auth/login', {
        body: { username: user.username, password: PASSWORD },
      });
      expect(res.status).toBe(503);
      expect(res.body).toEqual(unavailable);
    });

    it('answers POST /auth/register 503, not 500, and creates no account', async () => {
      const username = uniqueName('outage');
      const res = await request(svc.base, 'POST', '/auth/register', {
        body: { username, password: PASSWORD },
      });
      expect(res.status).toBe(503);
      expect(res.body).toEqual(unavailable);
      const rows = await query(db.url, 'SELECT 1 FROM users WHERE username = $1', [username]);
      expect(rows).toEqual([]);
    });

    it('never answers GET /me with a valid token 200 or 500, but 503 (or 401)', async () => {
      const res = await request(svc.base, 'GET', '/me', { token: user.token });
      expect([401, 503]).toContain(res.status);
      expect(res.body).toMatchObject({ statusCode: res.status, message: expect.any(String) });
    });
  });

  describe('when connections are cut and new ones stall', () => {
    beforeEach(async () => {
      proxy.cut('stall');
      await sleep(300); // the pool notices its closed connections: what follows must connect anew
    });

    it('answers /health 503 within its 2 s probe timeout', async () => {
      const start = Date.now();
      const res = await request(svc.base, 'GET', '/health');
      expect(res.status).toBe(503);
      expect(res.body).toMatchObject({ ...unavailable, reason: 'database_unavailable' });
      expect(Date.now() - start).toBeLessThan(3500);
    });

    it('answers login and register 503 and /me 503 or 401 once the pool gives up connecting', async () => {
      const [login, register, me] = await Promise.all([
        request(svc.base, 'POST', '/auth/login', {
          body: { username: user.username, password: PASSWORD },
        }),
        request(svc.base, 'POST', '/auth/register', {
          body: { username: uniqueName('stall'), password: PASSWORD },
        }),
        request(svc.base, 'GET', '/me', { token: user.token }),
      ]);
      expect([login.status, register.status]).toEqual([503, 503]);
      expect([401, 503]).toContain(me.status);
    });
  });

  describe('when the network drops every packet, on open connections too (a partition)', () => {
    beforeEach(() => proxy.cut('blackhole'));

    it('answers /health 503 within its 2 s probe timeout', async () => {
      const res = await answerWithin(3500, request(svc.base, 'GET', '/health'));
      expect(res).toMatchObject({ status: 503, body: unavailable });
    });

    // A query on an open pooled connection must time out (DATABASE_QUERY_TIMEOUT_MS), so the
    // request fails closed with 503 instead of hanging until the link comes back.
    it('answers GET /me with a valid token 503 (or 401) within 8 s rather than hanging', async () => {
      const res = await answerWithin(8000, request(svc.base, 'GET', '/me', { token: user.token }));
      expect([401, 503]).toContain(typeof res === 'string' ? res : res.status);
    });
  });

  describe('after the link comes back', () => {
    it('recovers by itself from refused connections: /health 200 within a few seconds, login works', async () => {
      proxy.cut('refuse');
      expect((await request(svc.base, 'GET', '/health')).status).toBe(503);

      proxy.restore();

      expect(await waitUntilHealthy(svc.base, 5000)).toBeLessThan(5000);
      const login = await request(svc.base, 'POST', '/auth/login', {
        body: { username: user.username, password: PASSWORD },
      });
      expect(login.status).toBe(200);
      const me = await request(svc.base, 'GET', '/me', { token: login.body.accessToken });
      expect(me.body).toEqual({ id: user.id, username: user.username, role: 'user' });
    });

    it('recovers by itself from stalled connections: /health 200 within a few seconds, login works', async () => {
      proxy.cut('stall');
      await sleep(300);
      expect((await request(svc.base, 'GET', '/health')).status).toBe(503);

      proxy.restore();

      expect(await waitUntilHealthy(svc.base, 5000)).toBeLessThan(5000);
      const login = await request(svc.base, 'POST', '/auth/login', {
        body: { username: user.username, password: PASSWORD },
      });
      expect(login.status).toBe(200);
    });
  });
});
