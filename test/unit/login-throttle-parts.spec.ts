import { presentedDeviceTokens, deviceCookie } from '../../src/login/device-cookie.js';
import { signDeviceToken, verifyDeviceToken } from '../../src/login/device-token.js';
import { LoginKeys } from '../../src/login/login-keys.js';
import { sourceOf } from '../../src/login/login-source.js';
import {
  LoginThrottleOptionsError,
  defaultNormalizeAccount,
  resolveLoginThrottleOptions,
} from '../../src/login/login-throttle.options.js';
import { loadConfig } from '../../src/app/config/app-config.js';

const SECRET = Buffer.alloc(32, 1);

describe('sources', () => {
  it.each([
    ['203.0.113.9', '203.0.113.9'],
    ['::ffff:203.0.113.9', '203.0.113.9'],
    ['::ffff:cb00:7109', '203.0.113.9'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:DB8:1:2::ffff', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['::', '0:0:0:0::/64'],
    ['2001:db8:1:2:3:4:1.2.3.4', '2001:db8:1:2::/64'],
  ])('%s counts as %s', (address, source) => {
    expect(sourceOf(address)).toBe(source);
  });

  it.each([
    '',
    'localhost',
    '1.2.3',
    '999.1.1.1',
    "1.2.3.4'; DROP TABLE x",
    'a'.repeat(100),
    '::g',
  ])('is null for %j', (address) => {
    expect(sourceOf(address)).toBeNull();
  });

  it('is null for what is not a string', () => {
    expect(sourceOf(42 as never)).toBeNull();
    expect(sourceOf({} as never)).toBeNull();
  });
});

describe('account keys', () => {
  const keys = new LoginKeys(SECRET, defaultNormalizeAccount);

  it('are one per normalised name, 32 bytes, and depend on the secret', () => {
    expect(keys.account('Alice')).toEqual(keys.account('alice'));
    expect(keys.account('ａｌｉｃｅ')).toEqual(keys.account('alice')); // NFKC: fullwidth letters
    expect(keys.account('alice')).toHaveLength(32);
    expect(keys.account('alice')).not.toEqual(keys.account('alice2'));
    const other = new LoginKeys(Buffer.alloc(32, 2), defaultNormalizeAccount);
    expect(other.account('alice')).not.toEqual(keys.account('alice'));
  });
});

describe('device tokens', () => {
  const keys = new LoginKeys(SECRET, defaultNormalizeAccount);
  const alice = keys.account('alice');
  const id = '0f8fad5b-d9cb-469f-a165-70867728950e';
  const token = signDeviceToken(keys.deviceKey, id, alice);

  it('verify for the account they were issued for', () => {
    expect(token).toMatch(/^sgd1\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/);
    expect(verifyDeviceToken(keys.deviceKey, token, alice)).toBe(id);
  });

  it('are nothing for another account, another key, or a changed byte', () => {
    expect(verifyDeviceToken(keys.deviceKey, token, keys.account('bob'))).toBeNull();
    const other = new LoginKeys(Buffer.alloc(32, 2), defaultNormalizeAccount);
    expect(verifyDeviceToken(other.deviceKey, token, alice)).toBeNull();
    for (const i of [5, 20, token.length - 3]) {
      const flipped = token.slice(0, i) + (token[i] === 'A' ? 'B' : 'A') + token.slice(i + 1);
      expect(verifyDeviceToken(keys.deviceKey, flipped, alice)).toBeNull();
    }
  });

  it.each([
    null,
    undefined,
    42,
    '',
    'sgd1..',
    'x'.repeat(10_000),
    `${token} `,
    `sgd2${token.slice(4)}`,
  ])('are nothing for %j', (value) => {
    expect(verifyDeviceToken(keys.deviceKey, value, alice)).toBeNull();
  });

  it('are read from the header first, then from every cookie of that name', () => {
    const read = (headers: Record<string, string>) =>
      presentedDeviceTokens({ headers }, 'sg_device');
    expect(read({ 'x-device-token': 'h' })).toEqual(['h']);
    expect(read({ cookie: 'a=1; sg_device=c; b=2' })).toEqual(['c']);
    expect(read({ 'x-device-token': 'junk', cookie: 'sg_device=x; sg_device=y' })).toEqual([
      'junk',
      'x',
      'y',
    ]);
    expect(read({ cookie: 'xsg_device=c' })).toEqual([]);
    expect(read({})).toEqual([]);
    expect(read({ cookie: 'sg_device=' + 'x'.repeat(500) })).toEqual([]);
    expect(read({ cookie: Array(50).fill('sg_device=t').join('; ') })).toHaveLength(4);
  });

  it('go into a cookie that scripts and other sites never see', () => {
    expect(
      deviceCookie('t', {
        name: 'sg_device',
        secure: true,
        path: '/auth/login',
        maxAgeSeconds: 60,
      }),
    ).toBe('sg_device=t; Path=/auth/login; Max-Age=60; HttpOnly; SameSite=Strict; Secure');
  });
});

describe('LoginThrottleModule options', () => {
  it('fill in the defaults of the issue', () => {
    expect(resolveLoginThrottleOptions({ secret: SECRET })).toMatchObject({
      enabled: true,
      freeAttempts: 5,
      backoffBaseSeconds: 30,
      maxWaitSeconds: 3600,
      accountLimit: 20,
      accountWindowSeconds: 3600,
      sourceLimit: 100,
      sourceWindowSeconds: 86_400,
      hardLimit: 100,
      deviceCookie: { name: 'sg_device', secure: true, path: null },
    });
  });

  it('refuse a missing or short secret and bad numbers, listing every problem', () => {
    let error: unknown;
    try {
      resolveLoginThrottleOptions({
        secret: 'short',
        freeAttempts: 0,
        backoffBaseSeconds: 7200,
        maxWaitSeconds: 3600,
        deviceCookie: { name: 'bad name;' },
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(LoginThrottleOptionsError);
    const problems = (error as LoginThrottleOptionsError).problems;
    expect(problems).toEqual([
      'secret is 5 bytes; it needs at least 32',
      'freeAttempts must be an integer from 1 to 1000 (got 0)',
      'backoffBaseSeconds must not be longer than maxWaitSeconds',
      'deviceCookie.name is not a cookie name: "bad name;"',
    ]);
    expect(() => resolveLoginThrottleOptions({} as never)).toThrow(/secret is required/);
  });
});

describe('the service environment (LOGIN_*)', () => {
  const base = { JWT_SECRET: 'j'.repeat(32) };

  it('reads every setting, durations with units', () => {
    const { config } = loadConfig({
      ...base,
      LOGIN_FREE_ATTEMPTS: '3',
      LOGIN_BACKOFF_BASE: '2m',
      LOGIN_MAX_WAIT: '2h',
      LOGIN_ACCOUNT_LIMIT: '50',
      LOGIN_SOURCE_WINDOW: '2d',
      LOGIN_DEVICE_TTL: '365d',
      LOGIN_DEVICE_COOKIE_SECURE: 'false',
    });
    expect(config.loginThrottle).toMatchObject({
      enabled: true,
      secret: null,
      freeAttempts: 3,
      backoffBaseSeconds: 120,
      maxWaitSeconds: 7200,
      accountLimit: 50,
      sourceWindowSeconds: 172_800,
      deviceTtlSeconds: 365 * 86_400,
      deviceCookie: { secure: false },
    });
  });

  it('refuses bad values, naming each', () => {
    expect(() =>
      loadConfig({
        ...base,
        LOGIN_THROTTLE: 'maybe',
        LOGIN_THROTTLE_SECRET: 'short',
        LOGIN_FREE_ATTEMPTS: '0',
        LOGIN_BACKOFF_BASE: '2h',
        LOGIN_MAX_WAIT: '1h',
      }),
    ).toThrow(
      /LOGIN_THROTTLE must be true or false[\s\S]*LOGIN_THROTTLE_SECRET is shorter than 32 bytes[\s\S]*LOGIN_FREE_ATTEMPTS must be an integer from 1 to 1000[\s\S]*LOGIN_BACKOFF_BASE must not be longer than LOGIN_MAX_WAIT/,
    );
  });

  it('warns when the throttle is switched off', () => {
    const { config, warnings } = loadConfig({ ...base, LOGIN_THROTTLE: 'false' });
    expect(config.loginThrottle.enabled).toBe(false);
    expect(warnings.join('\n')).toMatch(/login attempts are not throttled/);
  });
});
