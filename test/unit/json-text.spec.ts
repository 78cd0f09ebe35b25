import fc from 'fast-check';
import { jsonTextErrors, repeatedMembers } from '../../src/audit/json-text.js';
import { join } from '../../src/common/field-errors.js';

/** `name` as JSON text with every UTF-16 unit escaped (\u0061 for "a"). */
const escaped = (name: string) =>
  `"${Array.from({ length: name.length }, (_, i) => `\\u${name.charCodeAt(i).toString(16).padStart(4, '0')}`).join('')}"`;

describe('repeatedMembers', () => {
  it('finds none in any JSON.stringify output, compact or indented', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(repeatedMembers(JSON.stringify(value))).toEqual([]);
        expect(repeatedMembers(JSON.stringify(value, null, 2))).toEqual([]);
      }),
      { numRuns: 500 },
    );
  });

  it('finds a repeated name however it is spelt, at its path, at any depth', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 2 }), { minKeys: 1, maxKeys: 4 }),
        fc.boolean(),
        fc.nat(3),
        (object, escape, depth) => {
          const [name] = Object.keys(object);
          const spelt = escape ? escaped(name) : JSON.stringify(name);
          let text = `{${spelt}:null,${JSON.stringify(object).slice(1)}`;
          const segments: string[] = [];
          for (let i = 0; i < depth; i++) {
            text = i % 2 ? `[1,${text}]` : `{"a":1,"b":${text}}`;
            segments.unshift(i % 2 ? '[1]' : 'b');
          }
          const path = segments.reduce(join, '');
          const errors = repeatedMembers(text);
          expect(errors).toHaveLength(1);
          expect(errors[0].path).toBe(join(path, name));
          expect(errors[0].message).toMatch(/repeated member name/);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('lists at most 100, then says how many more', () => {
    const text = `{${Array.from({ length: 250 }, () => '"k":1').join(',')}}`;
    const errors = repeatedMembers(text);
    expect(errors).toHaveLength(101);
    expect(errors[100]).toEqual({ path: '', message: 'and 149 more repeated member names' });
  });
});

describe('jsonTextErrors', () => {
  it('refuses bytes that are not UTF-8', () => {
    expect(jsonTextErrors(Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]))).toEqual([
      { path: '', message: 'must be JSON text in UTF-8 (I-JSON, RFC 7493)' },
    ]);
    expect(jsonTextErrors(Buffer.from('{"é":"😀"}'))).toEqual([]);
  });
});
