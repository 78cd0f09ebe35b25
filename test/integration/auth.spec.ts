import {
  createTestDatabase,
  describeWithPostgres,
  query,
  type TestDatabase,
} from '../support/postgres.js';
import { request } from '../support/http.js';
import { newUser, PASSWORD, startTestApp, type TestApp, uniqueName } from '../support/test-app.js';

describeWithPostgres('registration, login and /me on PostgreSQL', () => {
  let db: TestDatabase;
  let svc: TestApp;

  beforeAll(async () => {
    db = await createTestDatabase('auth');
    svc = await startTestApp(db.url);
  });
  afterAll(async () => {
    await svc?.close();
    await db?.drop();
  });

  it('registers a user, logs in and returns the user from /me', async () => {
    const username = uniqueName('alice');
    const reg = await request(svc.base, 'POST', '/auth/register', {
      body: { username, password: PASSWORD },
    });
    expect(reg.status).toBe(201);
    expect(reg.body).toEqual({ id: expect.stringMatching(/^[0-9a-f-]{36}$/), username });

    const login = await request(svc.base, 'POST', '/auth/login', {
      body: { username, password: PASSWORD },
    });
    expect(login.status).toBe(200);
    expect(login.body).toEqual({
      accessToken: expect.any(String),
      expiresIn: 900,
      deviceToken: expect.stringMatching(/^sgd1\./),
    });

    const me = await request(svc.base, 'GET', '/me', { token: login.body.accessToken });
    expect(me.status).toBe(200);
    expect(me.body).toEqual({ id: reg.body.id, username, role: 'user' });
  });

  it('stores an argon2id hash, never the password', async () => {
    const user = await newUser(svc.base);
    const [row] = await query<{ password_hash: string }>(
      db.url,
      'SELECT password_hash FROM users WHERE id = $1',
      [user.id],
    );
    expect(row.password_hash).toMatch(/^\$argon2id\$v=19\$/);
    expect(row.password_hash).not.toContain(PASSWORD);
  });

  it('answers 409 for a taken username, whatever its case', async () => {
    const user = await newUser(svc.base);
    const again = await request(svc.base, 'POST', '/auth/register', {
      body: { username: user.username.toUpperCase(), password: PASSWORD },
    });
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ statusCode: 409, error: 'Conflict' });
  });

  it('gives two concurrent registrations of one name one 201 and one 409', async () => {
    const username = uniqueName('race');
    for (let round = 0; round < 5; round++) {
      const name = `${username}r${round}`;
      const results = await Promise.all(
        [0, 1].map(() =>
          request(svc.base, 'POST', '/auth/register', {
            body: { username: name, password: PASSWORD },
          }),
        ),
      );
      expect(results.map((r) => r.status).sort()).toEqual([201, 409]);
      const rows = await query(db.url, 'SELECT id FROM users WHERE lower(username) = lower($1)', [
        name,
      ]);
      expect(rows).toHaveLength(1);
    }
  });

  it('lists every invalid field in a 400 and writes nothing', async () => {
    const before = await query<{ n: number }>(db.url, 'SELECT count(*)::int AS n FROM users');
    const res = await request(svc.base, 'POST', '/auth/register', {
      body: { username: 'a!', password: 'short', admin: true },
    });
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual(
      expect.arrayContaining([
        { path: 'username', message: expect.stringContaining('3-64 characters') },
        { path: 'password', message: expect.any(String) },
        { path: 'admin', message: 'is not an allowed field' },
      ]),
    );
    const after = await query<{ n: number }>(db.url, 'SELECT count(*)::int AS n FROM users');
    expect(after[0].n).toBe(before[0].n);
  });

  it.each([
    ['a missing body', undefined],
    ['an array', [1, 2]],
    ['a number for the username', { username: 42, password: PASSWORD }],
    ['a password over 256 characters', { username: 'longpass', password: 'x'.repeat(257) }],
    ['a NUL in the username', { username: 'nul\u0000name', password: PASSWORD }],
  ])('rejects %s with 400', async (_, body) => {
    const res = await request(svc.base, 'POST', '/auth/register', {
      body: body === undefined ? undefined : body,
      headers: { 'content-type': 'application/json' },
    });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({
      statusCode: 400,
      error: 'Bad Request',
      message: expect.any(String),
    });
  });

  it('rejects malformed JSON with 400, a non-JSON body with 415 and an oversized body with 413', async () => {
    const malformed = await request(svc.base, 'POST', '/auth/register', { body: '{"username":' });
    expect(malformed.status).toBe(400);
    expect(malformed.body.message).toMatch(/not valid JSON/);

    const text = await request(svc.base, 'POST', '/auth/register', {
      body: 'username=a',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(text.status).toBe(415);

    const big = await request(svc.base, 'POST', '/auth/register', {
      body: { username: 'big', password: 'x'.repeat(200 * 1024) },
    });
    expect(big.status).toBe(413);
    expect(big.body).toMatchObject({ statusCode: 413, error: 'Payload Too Large' });
  });

  it('answers 401 with the same message for an unknown user and a wrong password', async () => {
    const user = await newUser(svc.base);
    const wrong = await request(svc.base, 'POST', '/auth/login', {
      body: { username: user.username, password: 'not-the-password' },
    });
    const unknown = await request(svc.base, 'POST', '/auth/login', {
      body: { username: uniqueName('ghost'), password: PASSWORD },
    });
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    expect(unknown.body).toEqual(wrong.body);
  });

  it('spends comparable time on an unknown user and a wrong password', async () => {
    const user = await newUser(svc.base);
    const time = async (username: string) => {
      const start = process.hrtime.bigint();
      await request(svc.base, 'POST', '/auth/login', {
        body: { username, password: 'not-the-password' },
      });
      return Number(process.hrtime.bigint() - start) / 1e6;
    };
    const known: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 6; i++) {
      known.push(await time(user.username));
      unknown.push(await time(uniqueName('ghost')));
    }
    const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    // Both pay an argon2id verification; without the decoy hash the unknown user answers ~10x faster.
    expect(median(unknown)).toBeGreaterThan(median(known) * 0.5);
  });

  it('logs in case-insensitively', async () => {
    const user = await newUser(svc.base);
    const res = await request(svc.base, 'POST', '/auth/login', {
      body: { username: user.username.toUpperCase(), password: PASSWORD },
    });
    expect(res.status).toBe(200);
  });
});
