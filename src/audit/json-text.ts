import { isUtf8 } from 'node:buffer';
import { type FieldError, join } from '../common/field-errors.js';

/** Most repeated member names listed in one answer (then one line says how many more). */
const MAX_LISTED = 100;

interface Frame {
  parent: Frame | null;
  /** Where this container sits in its parent: a member name or an index. */
  at: string | number;
  /** Member names seen so far; null in an array. */
  names: Set<string> | null;
  /** In an object, true where a member name comes next. */
  expectName: boolean;
  /** The current member's name (object) or element index (array). */
  name: string;
  index: number;
}

/**
 * What a JSON text holds that JSON.parse silently loses, so that the record would differ from what
 * was sent and no verifier could reproduce it from the submission: bytes that are not UTF-8
 * (decoded to U+FFFD) and member names repeated within one object (JSON.parse keeps the last).
 * I-JSON (RFC 7493), which RFC 8785 requires, forbids both. `raw` is the body as received, which
 * JSON.parse (after UTF-8 decoding) accepted.
 */
export function jsonTextErrors(raw: Buffer): FieldError[] {
  if (!isUtf8(raw)) return [{ path: '', message: 'must be JSON text in UTF-8 (I-JSON, RFC 7493)' }];
  return repeatedMembers(raw.toString('utf8'));
}

/** Every member name repeated within one object of `text` (valid JSON), at its path. */
export function repeatedMembers(text: string): FieldError[] {
  const errors: FieldError[] = [];
  let repeated = 0;
  let top = null as Frame | null;
  // One pass over the characters; strings are skipped whole, paths are built only for errors.
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      const end = closingQuote(text, i);
      if (top?.names && top.expectName) {
        const raw = text.slice(i + 1, end);
        const name: string = raw.includes('\\') ? JSON.parse(text.slice(i, end + 1)) : raw;
        if (top.names.has(name)) {
          if (++repeated <= MAX_LISTED)
            errors.push({
              path: join(pathOf(top), name),
              message:
                'is a repeated member name: each name may appear once per object ' +
                '(I-JSON, RFC 7493; JSON.parse would keep only the last)',
            });
        } else top.names.add(name);
        top.name = name;
        top.expectName = false;
      }
      i = end;
    } else if (c === 0x7b || c === 0x5b) {
      const object = c === 0x7b;
      top = {
        parent: top,
        at: top ? (top.names ? top.name : top.index) : '',
        names: object ? new Set() : null,
        expectName: object,
        name: '',
        index: 0,
      };
    } else if (c === 0x7d || c === 0x5d) {
      top = top?.parent ?? null;
    } else if (c === 0x2c && top) {
      if (top.names) top.expectName = true;
      else top.index++;
    }
  }
  if (repeated > MAX_LISTED)
    errors.push({ path: '', message: `and ${repeated - MAX_LISTED} more repeated member names` });
  return errors;
}

/** The path of a container, as the validator writes paths (`details.a[1].b`). */
function pathOf(frame: Frame): string {
  const steps: (string | number)[] = [];
  for (let f: Frame | null = frame; f?.parent; f = f.parent) steps.push(f.at);
  return steps
    .reverse()
    .reduce<string>((p, s) => (typeof s === 'number' ? `${p}[${s}]` : join(p, s)), '');
}

/** Index of the quote that closes the string opened at `start` (one not escaped by a backslash). */
function closingQuote(text: string, start: number): number {
  for (let j = start + 1; ;) {
    const q = text.indexOf('"', j);
    if (q < 0) return text.length;
    let backslashes = 0;
    while (text[q - 1 - backslashes] === '\\') backslashes++;
    if (backslashes % 2 === 0) return q;
    j = q + 1;
  }
}
