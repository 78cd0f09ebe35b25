import net from 'node:net';
import { request } from '../support/http.js';
import {
  createTestDatabase,
  describeWithPostgres,
  query,
  type TestDatabase,
} from '../support/postgres.js';
import {
  adminEnv,
  adminToken,
  newUser,
  PASSWORD,
  startTestApp,
  type TestApp,
} from '../support/test-app.js';

/** What the reverse proxy in front of the service saw: it appends this to X-Forwarded-For. */
const CLIENT = '203.0.113.9';

/** One raw HTTP/1.1 request (for header bytes fetch() refuses to send); answers the status. */
function rawRequest(port: number, head: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.setTimeout(5_000, () => socket.destroy(new Error('no answer within 5 s')));
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => {
      const status = /^HTTP\/1\.1 (\d{3})/.exec(Buffer.concat(chunks).toString('latin1'));
      if (status) resolve(Number(status[1]));
      else reject(new Error('connection closed without a response'));
    });
    socket.write(head);
  });
}

/**
 * The attacker is a logged-in user who controls every header it sends; the service trusts only
 * the loopback hop (the test client stands in for the reverse proxy).
 */
describeWithPostgres('X-Forwarded-For from the attacker side (TRUST_PROXY=loopback)', () => {
  let db: TestDatabase;
  let svc: TestApp;
  let admin: string;
  let port: number;

  beforeAll(async () => {
    db = await createTestDatabase('proxy');
    svc = await startTestApp(db.url, { ...adminEnv(), TRUST_PROXY: 'loopback' });
    admin = await adminToken(svc.base);
    port = Number(new URL(svc.base).port);
  });
  afterAll(async () => {
    await svc?.close();
    await db?.drop();
  });

  const recorded = (userId: string, typePattern: string) =>
    query<{ type: string; ip: string | null; method: string | null; path: string | null }>(
      db.url,
      'SELECT type, ip, method, path FROM audit_events WHERE user_id = $1 AND type LIKE $2 ORDER BY id',
      [userId, typePattern],
    );

  /** A probe of an admin route (a violation) carrying `xff`, sent byte for byte. */
  const probe = (token: string, xff: Buffer | string, target = '/admin/strikes') =>
    rawRequest(
      port,
      Buffer.concat([
        Buffer.from(
          `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n` +
            `Authorization: Bearer ${token}\r\nX-Forwarded-For: `,
          'latin1',
        ),
        typeof xff === 'string' ? Buffer.from(xff, 'latin1') : xff,
        Buffer.from('\r\n\r\n', 'latin1'),
      ]),
    );

  const longChain = Array.from({ length: 300 }, (_, i) => `10.${i >> 8}.${i & 255}.1`).join(', ');
  const cases: [string, Buffer | string, string | null][] = [
    ['a 307-character value', 'a'.repeat(307), null],
    ['a 307-character spoofed chain before the real hop', `${'9'.repeat(292)}, ${CLIENT}`, CLIENT],
    ['a spoofed leftmost hop', `6.6.6.6, ${CLIENT}`, CLIENT],
    ['markup', '<script>alert(1)</script>', null],
    ['UTF-8 bytes (unicode)', Buffer.from('é☃\u{1F600}, ï»¿', 'utf8'), null],
    ['an IPv6 address with a 300-character zone index', `fe80::1%${'z'.repeat(300)}`, null],
    ['an empty chain (the socket address)', ' , , ,', '127.0.0.1'],
    ['300 hops ending with the real one', `${longChain}, ${CLIENT}`, CLIENT],
    ['an IPv6 client', `6.6.6.6, 2001:db8::7`, '2001:db8::7'],
  ];

  it.each(cases)(
    'with %s, every strike is recorded, the session ends at the third and the ip is the hop the proxy saw',
    async (_, xff, ip) => {
      const user = await newUser(svc.base);
      const statuses = [];
      for (let i = 0; i < 3; i++) statuses.push(await probe(user.token, xff));
      expect(statuses).toEqual([403, 403, 403]); // never 503: the strike was recorded
      const me = await request(svc.base, 'GET', '/me', { token: user.token });
      expect(me.status).toBe(401);
      expect(me.body.reason).toBe('session_terminated');
      const events = await recorded(user.id, 's%');
      expect(events.map((e) => e.type)).toEqual([
        'strike_counter.created',
        'strike.recorded',
        'strike.recorded',
        'strike.recorded',
        'session.terminated',
      ]);
      for (const e of events.slice(1)) {
        expect(e).toEqual({ type: e.type, ip, method: 'GET', path: '/admin/strikes' });
      }
    },
  );

  it('records a 400-character path cut to 256, and still ends the session at the third strike', async () => {
    const user = await newUser(svc.base);
    const target = `/admin/strikes/${'%E2%98%83'.repeat(43)}x`;
    for (let i = 0; i < 3; i++) expect(await probe(user.token, CLIENT, target)).toBe(403);
    expect((await request(svc.base, 'GET', '/me', { token: user.token })).status).toBe(401);
    const strikes = await recorded(user.id, 'strike.recorded');
    expect(strikes).toHaveLength(3);
    for (const s of strikes) {
      expect(s.ip).toBe(CLIENT);
      expect(s.path!.length).toBe(256);
      expect(target.startsWith(s.path!.slice(0, 253))).toBe(true);
    }
  });

  it('refuses a NUL in the header at the HTTP layer (400): nothing charged, nothing recorded', async () => {
    const user = await newUser(svc.base);
    const before = await recorded(user.id, '%');
    expect(await probe(user.token, Buffer.from(`6.6.6.6\u0000, ${CLIENT}`, 'latin1'))).toBe(400);
    expect(await recorded(user.id, '%')).toEqual(before);
  });

  it.each([
    ['a 307-character value', 'a'.repeat(307), null],
    ['200 characters of garbage before a hop', `${'x'.repeat(200)}, ${CLIENT}`, CLIENT],
    ['a spoofed leftmost hop', `6.6.6.6, ${CLIENT}`, CLIENT],
    ['markup', '"><img src=x>', null],
  ])('logins never store a non-IP: %s', async (_, xff, ip) => {
    const user = await newUser(svc.base);
    const headers = { 'x-forwarded-for': xff };
    const ok = await request(svc.base, 'POST', '/auth/login', {
      body: { username: user.username, password: PASSWORD },
      headers,
    });
    expect(ok.status).toBe(200);
    const bad = await request(svc.base, 'POST', '/auth/login', {
      body: { username: user.username, password: 'wrong-password-123' },
      headers,
    });
    expect(bad.status).toBe(401);
    const logins = await recorded(user.id, 'auth.login%');
    // newUser's own login came from the test client, with no X-Forwarded-For: the socket address.
    expect(logins.map((l) => [l.type, l.ip])).toEqual([
      ['auth.login', '127.0.0.1'],
      ['auth.login', ip],
      ['auth.login_failed', ip],
    ]);
  });

  it('leaves a chain that verifies', async () => {
    const res = await request(svc.base, 'GET', '/audit/verify', { token: admin });
    expect(res.body).toMatchObject({ ok: true });
  });
});
