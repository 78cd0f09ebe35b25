import {
  AuditQueryInvalidError,
  auditQuerySql,
  DEFAULT_LIMIT,
  encodeCursor,
  MAX_LIMIT,
  parseAuditQuery,
} from '../../src/audit/audit-query.js';

/** The errors parseAuditQuery answers `params` with (fails the test if it accepts them). */
function errorsOf(params: unknown): { path: string; message: string }[] {
  let thrown: unknown;
  try {
    parseAuditQuery(params as Record<string, unknown>);
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(AuditQueryInvalidError);
  return (thrown as AuditQueryInvalidError).errors;
}

const pathsOf = (params: unknown) => errorsOf(params).map((e) => e.path);

const TEXT = ['type', 'userId', 'actorId', 'entityType', 'ip', 'location'] as const;

describe('parseAuditQuery', () => {
  it('no parameters: the newest records, the default limit', () => {
    expect(parseAuditQuery({})).toEqual({ limit: DEFAULT_LIMIT });
  });

  it('takes every parameter', () => {
    const q = parseAuditQuery({
      type: 'user.login',
      userId: 'u-1',
      actorId: 'admin',
      entityType: 'invoice',
      ip: '203.0.113.7',
      location: 'Lyon',
      outcome: 'failure',
      threat: 'high',
      from: '2025-05-01',
      to: '2025-05-02T10:00:00.000+02:00',
      limit: '25',
      cursor: encodeCursor(42),
      'details.amount': '12.5',
      'details.currency': 'EUR',
      'details.card.brand': 'visa',
      'details.ok': 'true',
      'details.none': 'null',
    });
    expect(q).toEqual({
      type: 'user.login',
      userId: 'u-1',
      actorId: 'admin',
      entityType: 'invoice',
      ip: '203.0.113.7',
      location: 'Lyon',
      outcome: 'failure',
      threat: 'high',
      from: '2025-05-01T00:00:00.000Z',
      to: '2025-05-02T08:00:00.001Z', // the given millisecond included
      limit: 25,
      beforeId: 42,
      details: { amount: 12.5, currency: 'EUR', card: { brand: 'visa' }, ok: true, none: null },
    });
  });

  it('a `to` date covers the whole day; the last representable instant is "infinity"', () => {
    expect(parseAuditQuery({ to: '2025-05-01' }).to).toBe('2025-05-02T00:00:00.000Z');
    expect(parseAuditQuery({ to: '9999-12-31' }).to).toBe('infinity');
    expect(parseAuditQuery({ from: '0001-01-01' }).from).toBe('0001-01-01T00:00:00.000Z');
  });

  it.each(TEXT)('%s: 1-256 characters, no NUL, well-formed', (name) => {
    expect(parseAuditQuery({ [name]: 'x'.repeat(256) })[name]).toHaveLength(256);
    for (const bad of ['', 'x'.repeat(257), 'x'.repeat(1 << 20), 'a\u0000b', '\ud800', 'a\udfffb'])
      expect(pathsOf({ [name]: bad })).toEqual([name]);
  });

  it('outcome and threat: one of their values only', () => {
    for (const outcome of ['success', 'failure', 'denied'])
      expect(parseAuditQuery({ outcome }).outcome).toBe(outcome);
    for (const threat of ['none', 'low', 'medium', 'high'])
      expect(parseAuditQuery({ threat }).threat).toBe(threat);
    for (const bad of ['', 'SUCCESS', 'success ', 'maybe', "success' OR '1'='1"]) {
      expect(errorsOf({ outcome: bad })).toEqual([
        { path: 'outcome', message: 'must be one of success, failure, denied' },
      ]);
      expect(pathsOf({ threat: bad })).toEqual(['threat']);
    }
  });

  it.each(['from', 'to'])('%s: dates and date-times that exist, years 1-9999', (name) => {
    for (const bad of [
      'yesterday',
      '2025-13-01',
      '2025-02-30',
      '2025-02-30T00:00:00Z', // V8 would read this as March 1st
      '2025-04-31T12:00:00+02:00',
      '2025-05-01T00:00:00', // no offset: ambiguous
      '2025-05-01T25:00:00Z',
      '2025-05-01T00:00:00+24:00',
      '0000-01-01',
      '10000-01-01',
      '-2025-05-01',
      '2025-05-01T00:00:00Z; DROP TABLE audit_events',
      ' 2025-05-01',
      '1746057600000',
    ])
      expect(pathsOf({ [name]: bad })).toEqual([name]);
  });

  it('from must be before to', () => {
    expect(errorsOf({ from: '2025-05-02', to: '2025-05-01' })).toEqual([
      { path: 'from', message: 'must be before to' },
    ]);
    expect(pathsOf({ from: '2025-05-01T00:00:00Z', to: '2025-04-30T23:59:59.999Z' })).toEqual([
      'from',
    ]);
  });

  it('limit: an integer from 1 to 1000', () => {
    expect(parseAuditQuery({ limit: '1' }).limit).toBe(1);
    expect(parseAuditQuery({ limit: String(MAX_LIMIT) }).limit).toBe(MAX_LIMIT);
    expect(parseAuditQuery({ limit: '0000010' }).limit).toBe(10);
    for (const bad of [
      '0',
      '-1',
      '1001',
      '99999999',
      '9'.repeat(400),
      '1.5',
      '1e3',
      '0x10',
      ' 5',
      '5 ',
      '+5',
      'Infinity',
      'NaN',
      '',
      '1; DROP TABLE audit_events',
    ])
      expect(errorsOf({ limit: bad })).toEqual([
        { path: 'limit', message: `must be an integer from 1 to ${MAX_LIMIT}` },
      ]);
  });

  it('cursor: only what the API returned', () => {
    expect(parseAuditQuery({ cursor: encodeCursor(1) }).beforeId).toBe(1);
    const b64 = (s: string) => Buffer.from(s).toString('base64url');
    for (const bad of [
      '',
      'abc',
      b64('id:'),
      b64('id:-1'),
      b64('id:1.5'),
      b64('id:1e3'),
      b64('id:1234567890123456'), // beyond a safe id
      b64('ID:1'),
      b64('id:1 '),
      b64("id:1' OR '1'='1"),
      Buffer.from('id:1').toString('base64'), // "=" padding is not base64url
      'A'.repeat(65),
    ])
      expect(pathsOf({ cursor: bad })).toEqual(['cursor']);
  });

  it('details.*: keys of 1-64 safe characters, at most 8 levels, values as data', () => {
    expect(parseAuditQuery({ 'details.a-b_C9': 'x' }).details).toEqual({ 'a-b_C9': 'x' });
    expect(parseAuditQuery({ [`details.${'k'.repeat(64)}`]: '1' }).details).toEqual({
      ['k'.repeat(64)]: 1,
    });
    expect(parseAuditQuery({ 'details.n': '1e400' }).details).toEqual({ n: '1e400' }); // not Infinity
    expect(parseAuditQuery({ 'details.s': '"quoted"' }).details).toEqual({ s: '"quoted"' });
    expect(parseAuditQuery({ 'details.o': '{"a":1}' }).details).toEqual({ o: '{"a":1}' });
    for (const bad of [
      'details.',
      'details..a',
      'details.a.',
      `details.${'k'.repeat(65)}`,
      'details.a b',
      'details.a$',
      "details.a'",
      `details.${Array(9).fill('a').join('.')}`,
    ])
      expect(pathsOf({ [bad]: 'x' })).toEqual([bad.length > 64 ? `${bad.slice(0, 64)}…` : bad]);
    expect(parseAuditQuery({ [`details.${Array(8).fill('a').join('.')}`]: 'x' }).details).toEqual({
      a: { a: { a: { a: { a: { a: { a: { a: 'x' } } } } } } },
    });
  });

  it('prototype keys are data, never the prototype of anything', () => {
    const q = parseAuditQuery({
      'details.__proto__.polluted': 'yes',
      'details.constructor.prototype.polluted': 'yes',
    });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype.hasOwnProperty.call(q.details, '__proto__')).toBe(true);
    expect(JSON.stringify(q.details)).toBe(
      '{"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}}}',
    );
    // and they go into the SQL as one bound JSON parameter
    expect(auditQuerySql(q)).toEqual({
      where: 'WHERE details @> $1::jsonb',
      params: [JSON.stringify(q.details)],
    });
  });

  it('prototype names as parameters are unknown parameters', () => {
    const params = JSON.parse('{"__proto__": "x", "constructor": "x", "prototype": "x"}');
    params.hasOwnProperty = 'x';
    params.toString = 'x';
    expect(errorsOf(params)).toEqual(
      ['__proto__', 'constructor', 'prototype', 'hasOwnProperty', 'toString'].map((path) => ({
        path,
        message: 'is not a known query parameter',
      })),
    );
    expect(Object.getPrototypeOf(parseAuditQuery(Object.create(null)))).toBe(Object.prototype);
  });

  it('a value given twice (an array), or not a string, is refused by name', () => {
    for (const bad of [['a', 'b'], ['a'], [], 42, true, null, undefined, { a: '1' }])
      for (const name of [
        ...TEXT,
        'outcome',
        'threat',
        'from',
        'to',
        'limit',
        'cursor',
        'details.a',
      ])
        expect(errorsOf({ [name]: bad })).toEqual([
          { path: name, message: 'must be given once, as a plain value' },
        ]);
  });

  it('reports every bad parameter at once, and unknown ones', () => {
    expect(
      errorsOf({ limit: '0', outcome: 'x', cursor: 'x', sort: 'id', 'details.a b': '1' }),
    ).toEqual([
      { path: 'limit', message: `must be an integer from 1 to ${MAX_LIMIT}` },
      { path: 'outcome', message: 'must be one of success, failure, denied' },
      { path: 'cursor', message: 'is not a cursor this API returned' },
      { path: 'sort', message: 'is not a known query parameter' },
      {
        path: 'details.a b',
        message: 'details keys are 1-64 characters of A-Z, a-z, 0-9, "_" or "-", dot-separated',
      },
    ]);
  });

  it('names a hostile parameter name readably: escaped, cut at 64 characters', () => {
    const long = 'n'.repeat(100_000);
    const [error] = errorsOf({ [long]: 'x' });
    expect(error.path).toBe(`${'n'.repeat(64)}…`);
    expect(errorsOf({ 'a\u0000\nb': 'x' })[0].path).toBe('a\\u0000\\nb');
    const e = (() => {
      try {
        parseAuditQuery({ [long]: 'x' });
      } catch (error) {
        return error as Error;
      }
    })();
    expect(e!.message.length).toBeLessThan(200);
  });

  it('params that are not a readable object: AuditQueryInvalidError, not a TypeError', () => {
    const throwing = Object.defineProperty({}, 'limit', {
      enumerable: true,
      get() {
        throw new Error('boom');
      },
    });
    for (const bad of [null, undefined, 'limit=10', 42, [['limit', '10']], throwing])
      expect(errorsOf(bad)).toEqual([
        { path: 'query', message: 'must be an object of query parameters' },
      ]);
  });
});
