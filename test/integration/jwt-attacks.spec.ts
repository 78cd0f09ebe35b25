import jwt from 'jsonwebtoken';
import { createHmac, generateKeyPairSync, randomUUID } from 'node:crypto';
import { request } from '../support/http.js';
import {
  createTestDatabase,
  describeWithPostgres,
  type TestDatabase,
} from '../support/postgres.js';
import { newUser, startTestApp, TEST_JWT_SECRET, type TestApp } from '../support/test-app.js';

/** What an attacker knows: their own token and id, and the id of another real user. */
interface Victim {
  id: string;
  token: string;
  otherUserId: string;
}

const now = () => Math.floor(Date.now() / 1000);
const b64url = (value: object | string | Buffer) =>
  Buffer.from(
    typeof value === 'object' && !Buffer.isBuffer(value) ? JSON.stringify(value) : value,
  ).toString('base64url');

/** A JWT assembled by hand: any header, any payload, the signature the caller computes. */
function handMade(
  header: object,
  payload: object,
  sign: (input: string) => string = () => '',
): string {
  const input = `${b64url(header)}.${b64url(payload)}`;
  return `${input}.${sign(input)}`;
}

const hmac256 = (secret: string | Buffer) => (input: string) =>
  createHmac('sha256', secret).update(input).digest('base64url');

/** A token the service itself would issue, except for what a case overrides. */
const claims = (sub: string) => ({ sub, sv: 0, iat: now(), exp: now() + 900 });

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const RSA_PUBLIC_PEM = rsa.publicKey.export({ type: 'spki', format: 'pem' }) as string;

describeWithPostgres('GET /me against forged, broken and misplaced tokens', () => {
  let db: TestDatabase;
  let svc: TestApp;
  let victim: Victim;

  beforeAll(async () => {
    db = await createTestDatabase('jwt');
    svc = await startTestApp(db.url);
    const attacker = await newUser(svc.base, 'attacker');
    const other = await newUser(svc.base, 'other');
    victim = { id: attacker.id, token: attacker.token, otherUserId: other.id };
  });
  afterAll(async () => {
    await svc?.close();
    await db?.drop();
  });

  const unauthorized = (message: string) => ({ statusCode: 401, error: 'Unauthorized', message });
  const MISSING = 'missing bearer token in the Authorization header';
  const BAD_SIGNATURE = 'token signature is invalid';
  const BAD_ALGORITHM = 'token algorithm is not allowed';

  it('answers 200 with the user for the token the service issued (control)', async () => {
    const res = await request(svc.base, 'GET', '/me', { token: victim.token });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ id: victim.id, username: expect.any(String), role: 'user' });
  });

  it('answers 200 for a token built the same way as the forgeries below (control)', async () => {
    const token = jwt.sign(claims(victim.id), TEST_JWT_SECRET, { algorithm: 'HS256' });
    const res = await request(svc.base, 'GET', '/me', { token });
    expect(res.status).toBe(200);
    expect(res.body.id).toBe(victim.id);
  });

  it('answers 200 for a hand-made HS256 token with a plain header (control for crit)', async () => {
    const token = handMade(
      { alg: 'HS256', typ: 'JWT' },
      claims(victim.id),
      hmac256(TEST_JWT_SECRET),
    );
    const res = await request(svc.base, 'GET', '/me', { token });
    expect(res.status).toBe(200);
    expect(res.body.id).toBe(victim.id);
  });

  // RFC 7515 §4.1.11: a recipient must reject a JWS whose `crit` lists an extension it does not
  // understand; this service understands none, and an empty or non-list `crit` is invalid too.
  // Each is signed with the right key and would otherwise be accepted (see the control above).
  it.each<[string, Record<string, unknown>]>([
    ['an unknown extension it names', { crit: ['exp-v2'], 'exp-v2': 1 }],
    ['the unencoded-payload extension (RFC 7797 b64)', { crit: ['b64'], b64: true }],
    [
      'an extension named by URI',
      { crit: ['https://example.com/ext'], 'https://example.com/ext': 'x' },
    ],
    ['a registered header name (forbidden in crit)', { crit: ['alg'] }],
    ['an extension it does not even carry', { crit: ['nonce'] }],
    ['an empty list', { crit: [] }],
    ['a string instead of a list', { crit: 'exp-v2', 'exp-v2': 1 }],
    ['null', { crit: null }],
  ])('refuses a signed token whose crit header is %s: 401', async (_, extra) => {
    const token = handMade(
      { alg: 'HS256', typ: 'JWT', ...extra },
      claims(victim.id),
      hmac256(TEST_JWT_SECRET),
    );
    const res = await request(svc.base, 'GET', '/me', { token });
    expect(res.status).toBe(401);
    expect(res.body).toEqual(
      unauthorized('token has critical header parameters (crit) this service does not understand'),
    );
  });

  it.each<[string, string, Record<string, string>]>([
    ['no Authorization header', MISSING, {}],
    ['"Bearer" with an empty token', MISSING, { authorization: 'Bearer ' }],
    ['another scheme ("Basic")', MISSING, { authorization: 'Basic dXNlcjpwYXNz' }],
  ])('refuses a request with %s: 401 "%s"', async (_, message, headers) => {
    const res = await request(svc.base, 'GET', '/me', { headers });
    expect(res.status).toBe(401);
    expect(res.body).toEqual(unauthorized(message));
  });

  it('ignores a valid token passed as ?access_token= instead of in the header', async () => {
    const res = await request(svc.base, 'GET', `/me?access_token=${victim.token}`);
    expect(res.status).toBe(401);
    expect(res.body).toEqual(unauthorized(MISSING));
  });

  it.each<[string, string, (v: Victim) => string]>([
    ['a garbage token', 'token is malformed', () => 'not-a-jwt'],
    ['three segments of garbage', 'token is malformed', () => 'abc.def.ghi'],
    [
      'alg "none", unsigned, naming a real user',
      BAD_SIGNATURE,
      (v) => handMade({ alg: 'none', typ: 'JWT' }, claims(v.id)),
    ],
    [
      'alg "NONE", unsigned, naming a real user',
      BAD_SIGNATURE,
      (v) => handMade({ alg: 'NONE', typ: 'JWT' }, claims(v.id)),
    ],
    [
      'alg "none" with the signature of a valid token left on',
      BAD_ALGORITHM,
      (v) => handMade({ alg: 'none', typ: 'JWT' }, claims(v.id), () => v.token.split('.')[2]),
    ],
    [
      'HS256 signed with another secret',
      BAD_SIGNATURE,
      (v) =>
        jwt.sign(claims(v.id), 'another-secret-0123456789abcdef01234567', { algorithm: 'HS256' }),
    ],
    [
      'HS512 signed with the right secret',
      BAD_ALGORITHM,
      (v) => jwt.sign(claims(v.id), TEST_JWT_SECRET, { algorithm: 'HS512' }),
    ],
    [
      'HS384 signed with the right secret',
      BAD_ALGORITHM,
      (v) => jwt.sign(claims(v.id), TEST_JWT_SECRET, { algorithm: 'HS384' }),
    ],
    [
      'RS256 signed with an RSA private key',
      BAD_ALGORITHM,
      (v) => jwt.sign(claims(v.id), rsa.privateKey, { algorithm: 'RS256' }),
    ],
    [
      'HS256 signed with an RSA public key PEM as the secret (key confusion)',
      BAD_SIGNATURE,
      (v) => handMade({ alg: 'HS256', typ: 'JWT' }, claims(v.id), hmac256(RSA_PUBLIC_PEM)),
    ],
    [
      'a valid token whose sub was changed to another real user, signature kept',
      BAD_SIGNATURE,
      (v) => {
        const [header, , signature] = v.token.split('.');
        const forged = { ...jwt.decode(v.token, { json: true }), sub: v.otherUserId };
        return `${header}.${b64url(forged)}.${signature}`;
      },
    ],
    [
      'a valid token with one character of its signature changed',
      BAD_SIGNATURE,
      (v) => {
        const [header, payload, signature] = v.token.split('.');
        const flipped = (signature[0] === 'A' ? 'B' : 'A') + signature.slice(1);
        return `${header}.${payload}.${flipped}`;
      },
    ],
    [
      'the right key, expired a minute ago',
      'token has expired',
      (v) =>
        jwt.sign({ sub: v.id, iat: now() - 960, exp: now() - 60 }, TEST_JWT_SECRET, {
          algorithm: 'HS256',
        }),
    ],
    [
      'the right key but no exp',
      'token has no expiry',
      (v) => jwt.sign({ sub: v.id }, TEST_JWT_SECRET, { algorithm: 'HS256' }),
    ],
    [
      'the right key but no iat',
      'token has no issue time',
      (v) =>
        jwt.sign({ sub: v.id }, TEST_JWT_SECRET, {
          algorithm: 'HS256',
          expiresIn: 900,
          noTimestamp: true,
        }),
    ],
    [
      'the right key but a sub that is not a UUID',
      'token subject is not a user id',
      () => jwt.sign(claims('admin'), TEST_JWT_SECRET, { algorithm: 'HS256' }),
    ],
    [
      'the right key but a numeric sub',
      'token subject is not a user id',
      () => jwt.sign({ ...claims(''), sub: 1 }, TEST_JWT_SECRET, { algorithm: 'HS256' }),
    ],
    [
      'the right key and a UUID sub of no user',
      'the user of this token no longer exists',
      () => jwt.sign(claims(randomUUID()), TEST_JWT_SECRET, { algorithm: 'HS256' }),
    ],
  ])('refuses %s: 401 "%s"', async (_, message, forge) => {
    const res = await request(svc.base, 'GET', '/me', { token: forge(victim) });
    expect(res.status).toBe(401);
    expect(res.body).toEqual(unauthorized(message));
  });
});
