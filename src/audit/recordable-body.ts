import { MAX_DETAILS_BYTES } from './audit-event.schema.js';
import { cleanText, storableText } from '../common/storable-text.js';

/** Deepest nesting of a recorded request body; anything deeper is replaced by TOO_DEEP. */
export const MAX_BODY_DEPTH = 32;
export const TOO_DEEP = `[TRUNCATED: nested deeper than ${MAX_BODY_DEPTH} levels]`;
/** Most paths `bodyCleaned` lists (then "... and N more"), each at most MAX_NOTED_PATH long. */
const MAX_NOTED = 10;
const MAX_NOTED_PATH = 128;

interface Path {
  parent: Path | null;
  key: string | number;
}

interface Walk {
  cleaned: string[];
  count: number;
  truncated: boolean;
}

/**
 * The `details` of a record that holds a request body, always fit for a record whatever the body:
 * text the format rejects (NUL, unpaired surrogates) becomes U+FFFD, non-finite numbers and
 * bigints become strings, values JSON has no form for are dropped as JSON.stringify drops them,
 * nesting past MAX_BODY_DEPTH is cut, secrets are redacted (`redact`), and a body that would take
 * `details` past 64 kB is replaced by the longest prefix of its JSON text that fits. The record
 * says what happened: `bodyCleaned` lists the paths changed, `bodyTruncated: true` marks a cut,
 * `bodyBytes` gives the size of the whole body when it was shortened. Keys such as `__proto__`
 * stay members.
 */
export function bodyDetails(
  body: unknown,
  redact: (value: unknown) => unknown,
  base: Record<string, unknown>,
): Record<string, unknown> {
  const walk: Walk = { cleaned: [], count: 0, truncated: false };
  const recordable = redact(clean(body, null, 0, walk)) ?? null;
  const details: Record<string, unknown> = { ...base, body: recordable };
  if (walk.count > 0) {
    details.bodyCleaned =
      walk.count > MAX_NOTED
        ? [...walk.cleaned, `... and ${walk.count - MAX_NOTED} more`]
        : walk.cleaned;
  }
  if (walk.truncated) details.bodyTruncated = true;
  if (Buffer.byteLength(JSON.stringify(details)) <= MAX_DETAILS_BYTES) return details;

  const text = JSON.stringify(recordable);
  details.bodyTruncated = true;
  details.bodyBytes = Buffer.byteLength(text);
  details.body = '';
  details.body = prefixFitting(
    text,
    MAX_DETAILS_BYTES - Buffer.byteLength(JSON.stringify(details)),
  );
  return details;
}

/** A copy of `value` as JSON can hold it and the record format accepts it (see bodyDetails). */
function clean(value: unknown, path: Path | null, depth: number, walk: Walk): unknown {
  switch (typeof value) {
    case 'string': {
      const text = cleanText(value);
      if (text !== value) note(walk, path);
      return text;
    }
    case 'number':
      if (Number.isFinite(value)) return value;
      note(walk, path);
      return String(value); // 1e400 parses as Infinity: "Infinity"
    case 'bigint':
      note(walk, path);
      return value.toString();
    case 'boolean':
      return value;
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
  }
  if (value === null) return null;
  if (depth >= MAX_BODY_DEPTH) {
    walk.truncated = true;
    return TOO_DEEP;
  }
  // Array.from visits holes too (as undefined, then null), as JSON.stringify does.
  if (Array.isArray(value))
    return Array.from(value, (v, i) => clean(v, { parent: path, key: i }, depth + 1, walk) ?? null);
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) {
    note(walk, path);
    return `[binary: ${value.byteLength} bytes]`;
  }
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function') {
    try {
      return clean(toJSON.call(value), path, depth + 1, walk);
    } catch {
      note(walk, path);
      return '[unserialisable]';
    }
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as object)) {
    let key = cleanText(k);
    if (key !== k || Object.hasOwn(out, key)) {
      // Two keys the same once cleaned ("a\u0000" and "a\uFFFD"): both kept, the later renamed.
      while (Object.hasOwn(out, key)) key = `${key}~`;
      note(walk, { parent: path, key });
    }
    const copy = clean(v, { parent: path, key }, depth + 1, walk);
    if (copy === undefined) continue;
    // Defined, not assigned: a "__proto__" member stays a member.
    Object.defineProperty(out, key, {
      value: copy,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

function note(walk: Walk, path: Path | null): void {
  walk.count++;
  if (walk.cleaned.length < MAX_NOTED)
    walk.cleaned.push(storableText(pathText(path), MAX_NOTED_PATH));
}

function pathText(path: Path | null): string {
  const segments: string[] = [];
  for (let p = path; p; p = p.parent)
    segments.push(typeof p.key === 'number' ? `[${p.key}]` : `.${p.key}`);
  return `body${segments.reverse().join('')}`;
}

/**
 * The longest prefix of `text` whose JSON string form takes at most `room` bytes of UTF-8 beyond
 * its quotes, never splitting a surrogate pair. `text` is JSON.stringify output: well-formed.
 */
function prefixFitting(text: string, room: number): string {
  let used = 0;
  let i = 0;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    let units = 1;
    let bytes = 3;
    if (c === 0x22 || c === 0x5c)
      bytes = 2; // \" and \\
    else if (c < 0x20)
      bytes = [8, 9, 10, 12, 13].includes(c) ? 2 : 6; // \n or \u0001
    else if (c < 0x80) bytes = 1;
    else if (c < 0x800) bytes = 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      units = 2; // a pair: 4 bytes of UTF-8
      bytes = 4;
    }
    if (used + bytes > room) break;
    used += bytes;
    i += units;
  }
  return text.slice(0, i);
}
