import { request } from '../support/http.js';
import {
  createTestDatabase,
  describeWithPostgres,
  type TestDatabase,
} from '../support/postgres.js';
import { newUser, startTestApp, type TestApp } from '../support/test-app.js';

const value = (text: string, name: string) => {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line ? Number(line.split(' ').pop()) : NaN;
};

describeWithPostgres('GET /metrics', () => {
  let db: TestDatabase;
  let svc: TestApp;

  beforeAll(async () => {
    db = await createTestDatabase('metrics');
    svc = await startTestApp(db.url, { METRICS_TOKEN: 'metrics-secret-token' });
  });
  afterAll(async () => {
    await svc?.close();
    await db?.drop();
  });

  const scrape = (token?: string) => request(svc.base, 'GET', '/metrics', { token });

  it('refuses a scrape without the token, or with a wrong one', async () => {
    expect((await scrape()).status).toBe(401);
    expect((await scrape('metrics-secret-toke')).status).toBe(401);
  });

  it('counts strikes, terminations and audit appends in Prometheus format', async () => {
    const before = (await scrape('metrics-secret-token')).text;
    const user = await newUser(svc.base);
    for (let i = 0; i < 3; i++)
      await request(svc.base, 'GET', '/admin/strikes', { token: user.token });
    const res = await scrape('metrics-secret-token');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/plain/);
    expect(
      value(res.text, 'strikeguard_strikes_total') - value(before, 'strikeguard_strikes_total'),
    ).toBe(3);
    expect(
      value(res.text, 'strikeguard_sessions_terminated_total') -
        value(before, 'strikeguard_sessions_terminated_total'),
    ).toBe(1);
    expect(value(res.text, 'strikeguard_audit_appends_total')).toBeGreaterThan(
      value(before, 'strikeguard_audit_appends_total'),
    );
    expect(res.text).toContain('strikeguard_audit_append_duration_seconds_bucket');
  });
});
