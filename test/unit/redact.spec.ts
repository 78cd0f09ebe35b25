import { resolveAuditOptions } from '../../src/audit/audit.options.js';
import { DEFAULT_REDACT_KEYS, REDACTED, redact } from '../../src/audit/redact.js';

const keys = DEFAULT_REDACT_KEYS;

describe('redact', () => {
  it('replaces the values of secret-looking keys, by substring and whatever the case', () => {
    expect(
      redact(
        {
          username: 'ada',
          password: 'p',
          newPassword: 'p2',
          PASSWD: 'p3',
          client_secret: 's',
          accessToken: 't',
          Authorization: 'Bearer x',
          cookie: 'c',
          'X-ApiKey': 'k',
          api_key: 'k2',
          privateKey: 'pk',
          private_key: 'pk2',
          credentials: { user: 'u', pass: 'p' },
          note: 'the password is in the vault', // values are not searched
        },
        keys,
      ),
    ).toEqual({
      username: 'ada',
      password: REDACTED,
      newPassword: REDACTED,
      PASSWD: REDACTED,
      client_secret: REDACTED,
      accessToken: REDACTED,
      Authorization: REDACTED,
      cookie: REDACTED,
      'X-ApiKey': REDACTED,
      api_key: REDACTED,
      privateKey: REDACTED,
      private_key: REDACTED,
      credentials: REDACTED, // the whole subtree, not only its members
      note: 'the password is in the vault',
    });
  });

  it('walks nested objects and arrays, keeping everything else as it was', () => {
    const input = {
      items: [{ sku: 'a', token: 't' }, 'plain', 3, null, [{ secret: 1 }]],
      nested: { deeper: { apiKey: 'k', keep: true } },
      n: 1.5,
      b: false,
      z: null,
    };
    expect(redact(input, keys)).toEqual({
      items: [{ sku: 'a', token: REDACTED }, 'plain', 3, null, [{ secret: REDACTED }]],
      nested: { deeper: { apiKey: REDACTED, keep: true } },
      n: 1.5,
      b: false,
      z: null,
    });
  });

  it('returns a copy: the input is left untouched', () => {
    const input = { password: 'p', list: [{ token: 't' }] };
    const copy = JSON.parse(JSON.stringify(input));
    const out = redact(input, keys) as typeof input;
    expect(input).toEqual(copy);
    expect(out).not.toBe(input);
    expect(out.list).not.toBe(input.list);
  });

  it('passes through values that are not objects', () => {
    for (const v of ['password', 42, true, null, undefined]) expect(redact(v, keys)).toBe(v);
  });

  it('redacts (never recurses without end) past 32 levels, cycles included', () => {
    let deep: Record<string, unknown> = { leaf: 'x' };
    for (let i = 0; i < 40; i++) deep = { d: deep };
    let node = redact(deep, keys) as Record<string, unknown>;
    let levels = 0;
    while (node && typeof node === 'object') {
      node = node.d as Record<string, unknown>;
      levels++;
    }
    expect(levels).toBe(33);
    expect(node).toBe(REDACTED);

    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    expect(() => JSON.stringify(redact(cyclic, keys))).not.toThrow();
  });

  it('keeps a "__proto__" member a member (redacted inside), never the copy\'s prototype', () => {
    const body = JSON.parse('{"__proto__": {"password": "p", "isAdmin": true}, "a": 1}');
    const out = redact(body, keys) as Record<string, unknown>;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.keys(out)).toEqual(['__proto__', 'a']);
    expect(JSON.stringify(out)).toBe(
      '{"__proto__":{"password":"[REDACTED]","isAdmin":true},"a":1}',
    );
    expect((out as { isAdmin?: unknown }).isAdmin).toBeUndefined();
    expect(({} as { isAdmin?: unknown }).isAdmin).toBeUndefined();
  });

  it('uses the configured keys, lower-cased by the options (AuditModule redactKeys)', () => {
    const { redactKeys } = resolveAuditOptions({ logDir: '/tmp/x', redactKeys: ['SSN', 'Pin'] });
    expect(redactKeys).toEqual(['ssn', 'pin']);
    expect(
      redact({ userSSN: '1', PIN: '2', password: 'kept: not configured' }, redactKeys),
    ).toEqual({ userSSN: REDACTED, PIN: REDACTED, password: 'kept: not configured' });
    expect(resolveAuditOptions({ logDir: '/tmp/x' }).redactKeys).toEqual(DEFAULT_REDACT_KEYS);
  });
});
