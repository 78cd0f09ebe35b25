import fc from 'fast-check';
import { validateSubmission } from '../../src/audit/audit-event-validator.js';
import { bodyDetails, MAX_BODY_DEPTH, TOO_DEEP } from '../../src/audit/recordable-body.js';
import { DEFAULT_REDACT_KEYS, redact } from '../../src/audit/redact.js';
import { canonicalJson } from '../../src/audit/jcs.js';

const BASE = { action: 'update', route: 'PUT /documents/:id', status: 200 };
const details = (body: unknown, base: Record<string, unknown> = BASE) =>
  bodyDetails(body, (v) => redact(v, DEFAULT_REDACT_KEYS), base);

/** The details are accepted by the published record format and have a canonical form. */
function expectRecordable(d: Record<string, unknown>): void {
  const event = {
    type: 'documents.update',
    userId: 'u',
    entityType: null,
    ip: null,
    location: null,
    description: null,
    details: d,
  };
  expect(validateSubmission(event).errors).toEqual([]);
  expect(() => canonicalJson(d)).not.toThrow();
  expect(Buffer.byteLength(JSON.stringify(d))).toBeLessThanOrEqual(64 * 1024);
}

describe('bodyDetails', () => {
  it('leaves an ordinary body as it is, redacted, with no markers', () => {
    const d = details({ amount: 10, password: 'p', items: [{ sku: 'a' }] });
    expect(d).toEqual({
      ...BASE,
      body: { amount: 10, password: '[REDACTED]', items: [{ sku: 'a' }] },
    });
  });

  it('gives values JSON has no form for the form JSON.stringify gives them, and says so where it changed them', () => {
    const when = new Date('2024-05-01T10:00:00.000Z');
    const sparse = [1, , 3]; // eslint-disable-line no-sparse-arrays
    const d = details({
      big: 12345678901234567890n,
      bytes: Buffer.from('abc'),
      when,
      invalidDate: new Date('x'),
      fn: () => 1,
      undef: undefined,
      list: [undefined, () => 1, NaN],
      sparse,
      bad: {
        toJSON() {
          throw new Error('no');
        },
      },
    });
    expect(d.body).toEqual({
      big: '12345678901234567890',
      bytes: '[binary: 3 bytes]',
      when: '2024-05-01T10:00:00.000Z',
      invalidDate: null,
      list: [null, null, 'NaN'],
      sparse: [1, null, 3],
      bad: '[unserialisable]',
    });
    expect(d.bodyCleaned).toEqual(['body.big', 'body.bytes', 'body.list[2]', 'body.bad']);
    expectRecordable(d);
  });

  it('cuts cycles and deep nesting at 32 levels', () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    const d = details(cyclic);
    expect(d.bodyTruncated).toBe(true);
    let node = d.body as Record<string, unknown>;
    for (let i = 0; i < MAX_BODY_DEPTH; i++) node = node.self as Record<string, unknown>;
    expect(node).toBe(TOO_DEEP);
    expectRecordable(d);
  });

  it('cuts a body at exactly 64 kB of details whatever its characters cost in JSON', () => {
    const unit = fc.constantFrom(
      'x',
      '"',
      '\\',
      '\n',
      '\u0001',
      'é',
      '€',
      '😀',
      '\u0000',
      '\ud800',
    );
    fc.assert(
      fc.property(
        fc.array(unit, { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 66_000, max: 200_000 }),
        fc.string({ maxLength: 1024 }),
        (units, length, route) => {
          const pattern = units.join('');
          const blob = pattern.repeat(Math.ceil(length / pattern.length));
          const d = details({ blob }, { ...BASE, route });
          expectRecordable(d);
          expect(d.bodyTruncated).toBe(true);
          const size = Buffer.byteLength(JSON.stringify(d));
          // the longest prefix that fits: the next character (at most 6 bytes) would not
          expect(size).toBeGreaterThan(64 * 1024 - 6);
          const whole = JSON.stringify({
            blob: blob.replaceAll('\u0000', '\uFFFD').toWellFormed(),
          });
          expect(whole.startsWith(d.body as string)).toBe(true);
          expect(d.bodyBytes).toBe(Buffer.byteLength(whole));
        },
      ),
      { numRuns: 60 },
    );
  });

  it('any value a host could hand it becomes details the format accepts', () => {
    fc.assert(
      fc.property(
        fc.anything({
          maxDepth: 40,
          withBigInt: true,
          withDate: true,
          withTypedArray: true,
          withSparseArray: true,
          withNullPrototype: true,
          withObjectString: true,
          withBoxedValues: true,
          withMap: true,
          withSet: true,
          // any UTF-16 code unit: NUL and lone surrogates included, in keys too
          stringUnit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)),
        }),
        (body) => expectRecordable(details(body)),
      ),
      { numRuns: 300 },
    );
  });
});
