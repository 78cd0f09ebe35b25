import { request } from '../support/http.js';
import { createTestDatabase, describeWithPostgres, query } from '../support/postgres.js';
import { PASSWORD, startTestApp, type TestApp, uniqueName } from '../support/test-app.js';

const ADMIN_PASSWORD = 'admin-password-0123456789';

describeWithPostgres('the ADMIN_USERNAME account created at start', () => {
  /** Apps and databases of the current test, closed and dropped after it (apps first). */
  let cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const step of cleanup.reverse()) await step();
    cleanup = [];
  });

  async function freshDatabase(): Promise<string> {
    const db = await createTestDatabase('admin');
    cleanup.push(() => db.drop());
    return db.url;
  }

  async function start(url: string, env: Record<string, string> = {}): Promise<TestApp> {
    const svc = await startTestApp(url, env);
    cleanup.push(() => svc.close());
    return svc;
  }

  const adminEnv = (username: string, password = ADMIN_PASSWORD) => ({
    ADMIN_USERNAME: username,
    ADMIN_PASSWORD: password,
  });

  const login = (svc: TestApp, username: string, password: string) =>
    request(svc.base, 'POST', '/auth/login', { body: { username, password } });

  async function whoAmI(svc: TestApp, username: string, password: string) {
    const res = await login(svc, username, password);
    if (res.status !== 200) throw new Error(`login failed: ${res.status} ${res.text}`);
    return request(svc.base, 'GET', '/me', { token: res.body.accessToken });
  }

  const accounts = (url: string, username: string) =>
    query<{ id: string; role: string; password_hash: string }>(
      url,
      'SELECT id, role, password_hash FROM users WHERE lower(username) = lower($1)',
      [username],
    );

  it('creates the admin, who can log in and whose /me shows role admin', async () => {
    const url = await freshDatabase();
    const admin = uniqueName('root');

    const svc = await start(url, adminEnv(admin));

    const me = await whoAmI(svc, admin, ADMIN_PASSWORD);
    expect(me.status).toBe(200);
    expect(me.body).toEqual({ id: expect.any(String), username: admin, role: 'admin' });
  });

  it('lets a second instance on the same database start without duplicating the admin', async () => {
    const url = await freshDatabase();
    const admin = uniqueName('root');
    await start(url, adminEnv(admin));
    const [before] = await accounts(url, admin);

    const second = await start(url, adminEnv(admin));

    expect(await accounts(url, admin)).toEqual([before]);
    expect((await whoAmI(second, admin, ADMIN_PASSWORD)).body.role).toBe('admin');
  });

  it('creates one admin when two instances start on an empty database at the same time', async () => {
    const url = await freshDatabase();
    const admin = uniqueName('root');

    const [a, b] = await Promise.all([start(url, adminEnv(admin)), start(url, adminEnv(admin))]);

    const rows = await accounts(url, admin);
    expect(rows).toHaveLength(1);
    expect(rows[0].role).toBe('admin');
    expect((await whoAmI(a, admin, ADMIN_PASSWORD)).body.id).toBe(rows[0].id);
    expect((await whoAmI(b, admin, ADMIN_PASSWORD)).body.id).toBe(rows[0].id);
  });

  it('does not change the password of an existing admin when ADMIN_PASSWORD changes', async () => {
    const url = await freshDatabase();
    const admin = uniqueName('root');
    await start(url, adminEnv(admin));

    const restarted = await start(url, adminEnv(admin, 'a-different-admin-password'));

    expect((await login(restarted, admin, ADMIN_PASSWORD)).status).toBe(200);
    expect((await login(restarted, admin, 'a-different-admin-password')).status).toBe(401);
  });

  it.each([
    ['the same name', (name: string) => name],
    ['the same name in another case', (name: string) => name.toUpperCase()],
  ])(
    'leaves a plain user who registered %s first a user, with their own password',
    async (_, adminName) => {
      const url = await freshDatabase();
      const plain = await start(url);
      const username = uniqueName('squat');
      const reg = await request(plain.base, 'POST', '/auth/register', {
        body: { username, password: PASSWORD },
      });
      expect(reg.status).toBe(201);
      const before = await accounts(url, username);

      const svc = await start(url, adminEnv(adminName(username)));

      expect(await accounts(url, username)).toEqual(before);
      const me = await whoAmI(svc, username, PASSWORD);
      expect(me.body).toEqual({ id: reg.body.id, username, role: 'user' });
      expect((await login(svc, adminName(username), ADMIN_PASSWORD)).status).toBe(401);
    },
  );
});
