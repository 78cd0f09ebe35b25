import canonicalize from 'canonicalize';
import fc from 'fast-check';
import { createHash, createHmac, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import pg from 'pg';
import { externalEvent } from '../support/audit-files.js';
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
  startTestApp,
  TEST_JWT_SECRET,
  type TestApp,
} from '../support/test-app.js';

/**
 * Fuzzing suite (issue 5): property-based tests that throw generated audit submissions, query
 * strings, headers and tokens at the reference service (in-process, real PostgreSQL, real HTTP).
 *
 * Properties, for every case: never a 5xx; a rejected submission writes nothing (row count and log
 * file size unchanged); an accepted one reads back (API, table, file) as what was sent, with
 * occurredAt normalised and the defaults filled in.
 *
 * One run is deterministic: FUZZ_SEED (default below) seeds every property; fast-check prints the
 * seed and the counterexample path on failure, so `FUZZ_SEED=<seed>` replays it. FUZZ_SCALE=<k>
 * multiplies every property's number of runs (for a longer soak).
 */

const SEED = Number(process.env.FUZZ_SEED ?? 20261125);
const SCALE = Number(process.env.FUZZ_SCALE ?? 1);
/**
 * FUZZ_SKIP_KNOWN=1 leaves out the inputs of the bugs already found (see "minimal reproducers"
 * below), so a run can look past them until they are fixed. Off by default: the properties must
 * fail while those bugs are there.
 */
const SKIP_KNOWN = process.env.FUZZ_SKIP_KNOWN === '1';
const unlessKnown = <T>(...items: T[]): T[] => (SKIP_KNOWN ? [] : items);
const canonical = canonicalize as unknown as (v: unknown) => string;

/** Cases each property runs; their sum is what one run of this file exercises. */
const RUNS = {
  validSubmissions: 700,
  brokenSubmissions: 1600,
  arbitrarySubmissions: 700,
  eventsQueries: 1500,
  strikesQueries: 700,
  pathParams: 400,
  filters: 200,
  headers: 2800,
  tokens: 1600,
};
const TOTAL_CASES = Object.values(RUNS).reduce((a, b) => a + b, 0);
const runs = (n: number) => Math.max(1, Math.round(n * SCALE));
const params = (n: number) => ({ seed: SEED, numRuns: runs(n) });

const FIELDS =
  'id occurredAt type userId actorId outcome threat ip method path entityType targetId location description details prevHash hash'
    .split(' ')
    .sort();
const SUBMITTABLE =
  'type userId occurredAt outcome threat entityType targetId ip location description details'.split(
    ' ',
  );
const REQUIRED = ['type', 'userId', 'entityType', 'ip', 'location', 'description'];
const OUTCOMES = ['success', 'failure', 'denied'];
const THREATS = ['none', 'low', 'medium', 'high'];

// ---------------------------------------------------------------------------------------------
// Rendering bodies. Some bodies cannot be built as JS values and stringified here: numbers JSON
// has and JS has not (1e400), nesting deeper than JSON.stringify's stack, multi-MB strings that
// would flood a counterexample. A `Raw` stands in for such a piece of JSON text; it prints as its
// label in fast-check's reports.

class Raw {
  constructor(
    readonly label: string,
    readonly text: () => string,
  ) {}
  [fc.toStringMethod](): string {
    return `Raw(${this.label})`;
  }
  toString(): string {
    return `Raw(${this.label})`;
  }
}

const nested = (depth: number, leaf = '1') => '['.repeat(depth) + leaf + ']'.repeat(depth);

/** JSON text of `value`, every Raw replaced by its text. */
function render(value: unknown): string {
  const raws: Raw[] = [];
  const json = JSON.stringify(value, (_key, v: unknown) => {
    if (v instanceof Raw) {
      raws.push(v);
      return `\u0001RAW${raws.length - 1}\u0001`;
    }
    return v;
  });
  return raws.length
    ? json.replace(/"\\u0001RAW(\d+)\\u0001"/g, (_m, i: string) => raws[Number(i)].text())
    : json;
}

/** `a` + `b` as the API writes error paths (mirrors DESIGN §3's `errors[].path`). */
function joinPath(base: string, key: string): string {
  if (!key) return base;
  if (/^\d+$/.test(key)) return `${base}[${key}]`;
  if (!base) return key;
  return key.startsWith('[') ? `${base}${key}` : `${base}.${key}`;
}

// ---------------------------------------------------------------------------------------------
// Strings.

/** Characters that break naive serialisers, line splitters, logs and terminals. */
const EDGE_CHARS = [
  ...'\u2028 \u2029 \u0085 \ufeff \u200b \u200d \u202e \u00a0 \u007f \u0001 \u001b'.split(' '),
  ...'\t \n \r \r\n " \\ / \' < & % $ { } %00 \\u0000 \\ud800'.split(' '),
  ...'😀 👨‍👩‍👧 🏳️‍🌈 e\u0301 \ufffd \ufdcf \ufdf0 \u{10fffd} \u{1d11e} ß İ 中 ﷺ \u0600'.split(' '),
];
/**
 * What must never be stored: NUL, unpaired surrogates and noncharacters (I-JSON, which RFC 8785
 * requires, excludes the last two).
 */
const POISON = [
  ...['\u0000', '\ud800', '\udbff', '\udc00', '\udfff', '\udc00\ud800', 'x\ud83d'],
  ...['\ufffe', '\uffff', '\ufdd0', '\ufdef', '\u{1fffe}', '\u{10ffff}'],
];
const NONCHARACTER =
  /[\ufdd0-\ufdef\ufffe\uffff\u{1fffe}\u{1ffff}\u{2fffe}\u{2ffff}\u{3fffe}\u{3ffff}\u{4fffe}\u{4ffff}\u{5fffe}\u{5ffff}\u{6fffe}\u{6ffff}\u{7fffe}\u{7ffff}\u{8fffe}\u{8ffff}\u{9fffe}\u{9ffff}\u{afffe}\u{affff}\u{bfffe}\u{bffff}\u{cfffe}\u{cffff}\u{dfffe}\u{dffff}\u{efffe}\u{effff}\u{ffffe}\u{fffff}\u{10fffe}\u{10ffff}]/u;
/** True when the record format cannot hold `s`. */
const unstorable = (s: string) => s.includes('\u0000') || !s.isWellFormed() || NONCHARACTER.test(s);

const cleanChar = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 1 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }) },
  {
    weight: 1,
    arbitrary: fc
      .string({ unit: 'binary', minLength: 1, maxLength: 1 })
      .filter((c) => !unstorable(c)),
  },
  { weight: 2, arbitrary: fc.constantFrom(...EDGE_CHARS) },
);
const anyChar = fc.oneof(
  { weight: 12, arbitrary: cleanChar },
  { weight: 1, arbitrary: fc.constantFrom(...POISON) },
);

const codePoints = (s: string) => [...s].length;
const clip = (s: string, max: number) => (codePoints(s) <= max ? s : [...s].slice(0, max).join(''));

/** Well-formed text without NUL, of min..max code points (JSON Schema lengths count code points). */
function text(min: number, max: number): fc.Arbitrary<string> {
  return fc.oneof(
    {
      weight: 12,
      arbitrary: fc
        .string({ unit: cleanChar, minLength: min, maxLength: Math.min(max, 20) })
        .map((s) => clip(s, max)),
    },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        'a'.repeat(max),
        '😀'.repeat(max),
        `${'a'.repeat(max - 1)}😀`,
        '\u2028'.repeat(max),
      ),
    },
  );
}
const nullableText = (max: number) =>
  fc.oneof({ weight: 1, arbitrary: fc.constant(null) }, { weight: 5, arbitrary: text(0, max) });

/** `s` with `bad` inserted at a position `at` picks (which may itself split a surrogate pair). */
const inject = (s: string, bad: string, at: number) => {
  const i = s.length ? at % (s.length + 1) : 0;
  return s.slice(0, i) + bad + s.slice(i);
};

/**
 * `s` with `bad` inserted, still holding a NUL or an unpaired surrogate: an inserted half can pair
 * up with the half of a pair it split, so then one more lone surrogate goes at the end.
 */
const poisoned = (s: string, bad: string, at: number) => {
  const out = inject(s, bad, at);
  return unstorable(out) ? out : `${out}\ud800`;
};

// ---------------------------------------------------------------------------------------------
// occurredAt: generated from its parts, so the expected normalisation is computed independently
// of the service (and of Date.parse, which accepts more than ISO-8601).

interface Stamp {
  text: string;
  /** The normalised `YYYY-MM-DDTHH:mm:ss.sssZ`, or null when out of range (must be rejected). */
  expected: string | null;
}

const EARLIEST = 0;
const LATEST = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
const pad = (n: number, w = 2) => String(n).padStart(w, '0');
const daysIn = (y: number, m: number) =>
  [
    31,
    y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 29 : 28,
    31,
    30,
    31,
    30,
    31,
    31,
    30,
    31,
    30,
    31,
  ][m - 1];

const stampArb: fc.Arbitrary<Stamp> = fc
  .record({
    y: fc.oneof(
      { weight: 6, arbitrary: fc.integer({ min: 1970, max: 2100 }) },
      { weight: 1, arbitrary: fc.integer({ min: 1970, max: 9999 }) },
      { weight: 1, arbitrary: fc.constantFrom(1970, 9999, 2000, 2024, 2100) },
    ),
    mo: fc.integer({ min: 1, max: 12 }),
    d: fc.integer({ min: 1, max: 31 }),
    h: fc.integer({ min: 0, max: 23 }),
    mi: fc.integer({ min: 0, max: 59 }),
    s: fc.integer({ min: 0, max: 59 }),
    frac: fc.oneof(fc.constant(''), fc.stringMatching(/^\.\d{1,9}$/)),
    sep: fc.constantFrom('T', 'T', 'T', 't', ' '),
    zone: fc.oneof(
      fc.constantFrom('Z', 'Z', 'z'),
      fc.record({
        sign: fc.constantFrom(1, -1),
        oh: fc.integer({ min: 0, max: 23 }),
        om: fc.integer({ min: 0, max: 59 }),
        colon: fc.constantFrom(true, true, true, false),
      }),
    ),
  })
  .map(({ y, mo, d, h, mi, s, frac, sep, zone }) => {
    const day = Math.min(d, daysIn(y, mo));
    let offsetMin = 0;
    let zoneText: string;
    if (typeof zone === 'string') zoneText = zone;
    else {
      offsetMin = zone.sign * (zone.oh * 60 + zone.om);
      zoneText = `${zone.sign > 0 ? '+' : '-'}${pad(zone.oh)}${zone.colon ? ':' : ''}${pad(zone.om)}`;
    }
    const ms = Number(`${frac.slice(1)}000`.slice(0, 3));
    const utc = Date.UTC(y, mo - 1, day, h, mi, s, ms) - offsetMin * 60_000;
    // RFC 3339: "T" (or "t") between date and time, a colon in the offset
    const rfc3339 = sep !== ' ' && (typeof zone === 'string' || zone.colon);
    return {
      text: `${pad(y, 4)}-${pad(mo)}-${pad(day)}${sep}${pad(h)}:${pad(mi)}:${pad(s)}${frac}${zoneText}`,
      expected: rfc3339 && utc >= EARLIEST && utc <= LATEST ? new Date(utc).toISOString() : null,
    };
  });

/** The normalised form of a submitted occurredAt, parsed here without Date.parse; null if invalid. */
function expectedOccurredAt(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  const m =
    /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/.exec(
      value,
    );
  if (!m) return null;
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number);
  const [oh, om] = [Number(m[10] ?? 0), Number(m[11] ?? 0)];
  if (mo < 1 || mo > 12 || d < 1 || d > daysIn(y, mo) || h > 23 || mi > 59 || s > 59) return null;
  if (oh > 23 || om > 59) return null;
  const ms = Number(`${(m[7] ?? '.').slice(1)}000`.slice(0, 3));
  const offset = (m[9] === '-' ? -1 : 1) * (oh * 60 + om);
  const utc = Date.UTC(y, mo - 1, d, h, mi, s, ms) - offset * 60_000;
  return utc >= EARLIEST && utc <= LATEST ? new Date(utc).toISOString() : null;
}

// ---------------------------------------------------------------------------------------------
// details.

const detailsKey = fc.oneof(
  { weight: 6, arbitrary: text(0, 16) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '__proto__',
      'constructor',
      'prototype',
      'toString',
      '',
      'a.b',
      '$ref',
      '\u2028',
      'id',
      'hash',
    ),
  },
);
const jsonLeaf = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(0, -0, 1e21, 1e-7, 5e-324, Number.MAX_VALUE, 2 ** 53 + 2, 0.1, -1.5e-300),
  text(0, 24),
);
const { value: jsonValue } = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { maxDepth: 4, depthSize: 'small' },
    jsonLeaf,
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(detailsKey, tie('value'), { maxKeys: 4 }),
  ),
}));
const nestObject = (depth: number, leaf: unknown): unknown => {
  let v = leaf;
  for (let i = 0; i < depth; i++) v = i % 2 ? [v] : { k: v };
  return v;
};
const validDetails = fc.oneof(
  { weight: 10, arbitrary: fc.dictionary(detailsKey, jsonValue, { maxKeys: 6 }) },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 1, max: 60 }).map((depth) => ({ deep: nestObject(depth, 'x') })),
  },
  {
    // exactly at the 64 kB limit (65,536 bytes serialised), in one- and two-byte characters
    weight: 1,
    arbitrary: fc.constantFrom({ blob: 'x'.repeat(65_525) }, { blob: 'é'.repeat(32_762) }),
  },
);

// ---------------------------------------------------------------------------------------------
// Events.

interface GeneratedEvent {
  event: Record<string, unknown>;
  /** False when the event must be rejected (an occurredAt out of 1970-9999). */
  valid: boolean;
}

function eventArb(small: boolean): fc.Arbitrary<GeneratedEvent> {
  const t = (max: number) => (small ? nullableText(Math.min(max, 40)) : nullableText(max));
  return fc
    .record(
      {
        type: fc.stringMatching(/^[a-z0-9_.-]{1,128}$/),
        userId: small ? text(1, 40) : text(1, 128),
        occurredAt: stampArb,
        outcome: fc.constantFrom(...OUTCOMES),
        threat: fc.constantFrom(...THREATS),
        entityType: t(256),
        targetId: t(256),
        ip: t(256),
        location: t(256),
        description: t(4096),
        details: small
          ? fc.oneof(fc.constant(null), fc.dictionary(detailsKey, jsonLeaf, { maxKeys: 3 }))
          : fc.oneof(
              { weight: 1, arbitrary: fc.constant(null) },
              { weight: 4, arbitrary: validDetails },
            ),
      },
      { requiredKeys: REQUIRED as any },
    )
    .map((e) => {
      const stamp = e.occurredAt as Stamp | undefined;
      const event: Record<string, unknown> = { ...e };
      if (stamp) event.occurredAt = stamp.text;
      return { event, valid: !stamp || stamp.expected !== null };
    });
}
const validEvent = eventArb(false);
const smallValidEvent = eventArb(true).filter((g) => g.valid);

interface Broken {
  event: Record<string, unknown> | Raw;
  /** The error path the 400 must name, when it is a plain one. */
  path: string | null;
  why: string;
}

const withField = (e: Record<string, unknown>, field: string, value: unknown) => {
  const out: Record<string, unknown> = { ...e };
  Object.defineProperty(out, field, {
    value,
    enumerable: true,
    writable: true,
    configurable: true,
  });
  return out;
};
const without = (e: Record<string, unknown>, field: string) => {
  const out = { ...e };
  delete out[field];
  return out;
};
const WRONG = [0, 1.5, -1, true, false, [], ['x'], {}, { a: 1 }];
const BAD_STAMPS = [
  'yesterday',
  '',
  ' ',
  '2026-01-01',
  '2026-01-01T10:00:00',
  '2026-01-01T10:00Z',
  '2026-01-01T10:00:00+02',
  '2026-01-01T10:00:00+0200',
  '2026-01-01 10:00:00Z',
  '2026-01-01T10:00:00,5Z',
  '2026-01-01T10:00:00.Z',
  ' 2026-01-01T10:00:00Z',
  '2026-01-01T10:00:00Z ',
  '2026-02-30T10:00:00Z',
  '2025-02-29T10:00:00Z',
  '2026-13-01T10:00:00Z',
  '2026-00-10T10:00:00Z',
  '2026-01-01T24:00:00Z',
  '2026-01-01T23:60:00Z',
  '2016-12-31T23:59:60Z',
  '2026-01-01T10:00:00+24:00',
  '2026-01-01T10:00:00+01:60',
  '1969-12-31T23:59:59.999Z',
  '1970-01-01T00:00:00+00:01',
  '10000-01-01T00:00:00Z',
  '+010000-01-01T00:00:00Z',
  '0000-01-01T00:00:00Z',
  '9999-12-31T23:59:59.999-00:01',
  '２０２６-01-01T10:00:00Z',
  '2026-01-01T10:00:00Z\u0000',
  'Thu, 01 Jan 2026 10:00:00 GMT',
  '1767261600000',
];

const brokenEvent: fc.Arbitrary<Broken> = fc.oneof(
  // a field of the wrong JSON type
  fc
    .tuple(smallValidEvent, fc.constantFrom(...SUBMITTABLE), fc.constantFrom(...WRONG, null, 's'))
    .filter(([, f, v]) => {
      if (v === null) return ['type', 'userId', 'outcome', 'threat', 'occurredAt'].includes(f);
      if (typeof v === 'string') return f === 'details';
      if (f === 'details') return typeof v !== 'object' || Array.isArray(v);
      return true;
    })
    .map(([g, f, v]) => ({
      event: withField(g.event, f, v),
      path: f,
      why: `${f} = ${JSON.stringify(v)}`,
    })),
  // a required field missing
  fc.tuple(smallValidEvent, fc.constantFrom(...REQUIRED)).map(([g, f]) => ({
    event: without(g.event, f),
    path: f,
    why: `no ${f}`,
  })),
  // one code point too long (in one- or two-unit characters)
  fc
    .tuple(
      smallValidEvent,
      fc.constantFrom<[string, number]>(
        ['type', 128],
        ['userId', 128],
        ['entityType', 256],
        ['targetId', 256],
        ['ip', 256],
        ['location', 256],
        ['description', 4096],
      ),
      fc.constantFrom('a', '😀', 'é'),
    )
    .map(([g, [f, max], c]) => ({
      event: withField(g.event, f, (f === 'type' ? 'a' : c).repeat(max + 1)),
      path: f,
      why: `${f} of ${max + 1} code points`,
    })),
  // a type outside [a-z0-9_.-]{1,128}
  fc
    .tuple(
      smallValidEvent,
      fc.constantFrom(
        '',
        'A',
        'Ext.Login',
        'a b',
        'é',
        'a/b',
        'a\n',
        '😀',
        'a;drop',
        ' a',
        'a\u2028',
      ),
    )
    .map(([g, v]) => ({ event: withField(g.event, 'type', v), path: 'type', why: 'bad type' })),
  fc.tuple(smallValidEvent, fc.constantFrom('', [])).map(([g, v]) => ({
    event: withField(g.event, 'userId', v),
    path: 'userId',
    why: 'empty userId',
  })),
  fc
    .tuple(
      smallValidEvent,
      fc.constantFrom('outcome', 'threat'),
      fc.constantFrom('', 'Success', 'NONE', 'ok', 'critical', 'success ', 'none\u0000'),
    )
    .map(([g, f, v]) => ({ event: withField(g.event, f, v), path: f, why: `${f} = ${v}` })),
  // reserved and unknown fields
  fc
    .tuple(
      smallValidEvent,
      fc.constantFrom(
        'id',
        'actorId',
        'prevHash',
        'hash',
        'method',
        'path',
        'instanceId',
        'recordedAt',
        'user_id',
        'Type',
        'constructor',
        '__proto__',
        'toString',
      ),
      fc.constantFrom(null, 1, 'x', '0'.repeat(64), {}),
    )
    .map(([g, f, v]) => ({ event: withField(g.event, f, v), path: f, why: `reserved ${f}` })),
  fc
    .tuple(
      smallValidEvent,
      fc
        .string({ unit: anyChar, minLength: 1, maxLength: 10 })
        .filter((k) => !SUBMITTABLE.includes(k)),
    )
    .map(([g, k]) => ({
      event: withField(g.event, k, 'v'),
      path: /^[A-Za-z_$][\w$]*$/.test(k) ? k : null,
      why: 'unknown field',
    })),
  // NUL and lone surrogates in a field, in details values and in details keys
  fc
    .tuple(
      smallValidEvent,
      fc.constantFrom('userId', 'entityType', 'ip', 'location', 'description', 'targetId'),
      fc.constantFrom(...POISON),
      fc.nat(),
    )
    .map(([g, f, bad, at]) => ({
      event: withField(
        g.event,
        f,
        poisoned(typeof g.event[f] === 'string' ? (g.event[f] as string) : 'x', bad, at),
      ),
      path: f,
      why: `poisoned ${f}`,
    })),
  fc
    .tuple(
      smallValidEvent,
      fc.constantFrom(...POISON),
      fc.integer({ min: 0, max: 5 }),
      fc.boolean(),
    )
    .map(([g, bad, depth, inKey]) => ({
      event: withField(
        g.event,
        'details',
        nestObject(depth, inKey ? { [`k${bad}`]: 1 } : { ok: ['fine', `v${bad}`] }),
      ),
      path: null,
      why: 'poison in details',
    })),
  // occurredAt that is not a usable ISO-8601 date-time with an offset, in 1970-9999
  fc.tuple(smallValidEvent, fc.constantFrom(...BAD_STAMPS)).map(([g, v]) => ({
    event: withField(g.event, 'occurredAt', v),
    path: 'occurredAt',
    why: `occurredAt ${JSON.stringify(v)}`,
  })),
  // details one byte over 64 kB serialised
  fc
    .tuple(
      smallValidEvent,
      fc.constantFrom({ blob: 'x'.repeat(65_526) }, { blob: 'é'.repeat(32_763) }),
    )
    .map(([g, d]) => ({
      event: withField(g.event, 'details', d),
      path: 'details',
      why: 'details > 64 kB',
    })),
  // nesting deeper than the 64 levels allowed: moderately, and far deeper (as raw JSON text)
  fc.tuple(smallValidEvent, fc.integer({ min: 66, max: 1500 })).map(([g, depth]) => ({
    event: withField(g.event, 'details', nestObject(depth, 'x')),
    path: null,
    why: `details nested ${depth} deep`,
  })),
  ...unlessKnown(
    fc.tuple(smallValidEvent, fc.integer({ min: 1500, max: 400_000 })).map(([g, depth]) => ({
      event: withField(g.event, 'details', {
        deep: new Raw(`nested(${depth})`, () => nested(depth)),
      }),
      path: null,
      why: `details nested ${depth} deep (raw)`,
    })),
    // numbers JSON can write and I-JSON / RFC 8785 cannot represent
    fc
      .tuple(smallValidEvent, fc.constantFrom('1e400', '-1e400', '1e309', '123e456'), fc.boolean())
      .map(([g, n, inArray]) => ({
        event: withField(g.event, 'details', {
          x: inArray ? [1, new Raw(n, () => n)] : new Raw(n, () => n),
        }),
        path: null,
        why: `details number ${n}`,
      })),
  ),
);

interface Submission {
  body: unknown;
  /** Raw JSON text to send instead of rendering `body`. */
  text?: string;
  expected: number[];
  paths: string[];
  why: string;
}

const NOT_EVENTS: [string, string[]][] = [
  ['42', []],
  ['"event"', []],
  ['true', []],
  ['null', []],
  ['[]', ['']],
  ['[[]]', ['[0]']],
  ['[null]', ['[0]']],
  ['[42]', ['[0]']],
  ['{}', REQUIRED],
  ['[{}]', REQUIRED.map((f) => `[0].${f}`)],
  ['', []],
  [' ', []],
  ['{', []],
  ['{"type":}', []],
  ['[1,]', []],
  ['{"a":1,}', []],
  ['NaN', []],
  ['\u2028', []],
  ['{"type":"a"} {"type":"b"}', []],
  ["{'type':'a'}", []],
];

const brokenSubmission: fc.Arbitrary<Submission> = fc.oneof(
  {
    weight: 8,
    arbitrary: brokenEvent.map((b) => ({
      body: b.event,
      expected: [400],
      paths: b.path === null ? [] : [b.path],
      why: b.why,
    })),
  },
  {
    weight: 4,
    arbitrary: fc
      .tuple(
        fc.array(smallValidEvent, { maxLength: 4 }),
        brokenEvent,
        fc.array(smallValidEvent, { maxLength: 4 }),
      )
      .map(([pre, b, post]) => ({
        body: [...pre.map((g) => g.event), b.event, ...post.map((g) => g.event)],
        expected: [400],
        paths: b.path === null ? [] : [joinPath(`[${pre.length}]`, b.path)],
        why: `batch, [${pre.length}]: ${b.why}`,
      })),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(...NOT_EVENTS).map(([t, paths]) => ({
      body: undefined,
      text: t,
      expected: [400],
      paths,
      why: `body ${JSON.stringify(t)}`,
    })),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(1001, 1500).map((n) => ({
      body: Array.from({ length: n }, () => ({
        type: 't',
        userId: 'u',
        entityType: null,
        ip: null,
        location: null,
        description: null,
      })),
      expected: [400],
      paths: [''],
      why: `${n} events`,
    })),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(2 * 1024 * 1024 + 1, 3_000_000).map((n) => ({
      body: externalEvent({ description: new Raw(`"x" * ${n}`, () => `"${'x'.repeat(n)}"`) }),
      expected: [413],
      paths: [],
      why: `body over 2 MiB (${n})`,
    })),
  },
);

const validSubmission: fc.Arbitrary<Submission> = fc
  .oneof(
    { weight: 12, arbitrary: validEvent.map((g) => ({ body: g.event, gens: [g] })) },
    {
      weight: 6,
      arbitrary: fc
        .array(validEvent, { minLength: 1, maxLength: 5 })
        .map((gs) => ({ body: gs.map((g) => g.event), gens: gs })),
    },
    {
      weight: 1,
      arbitrary: fc
        .array(eventArb(true), { minLength: 40, maxLength: 50 })
        .map((gs) => ({ body: gs.map((g) => g.event), gens: gs })),
    },
  )
  .map(({ body, gens }) => {
    const valid = gens.every((g) => g.valid);
    return {
      body,
      expected: valid ? [201] : [400],
      paths: [],
      why: valid ? 'valid' : 'occurredAt out of range',
    };
  });

// Anything at all that looks like JSON: what must hold is only "no 5xx, and written iff 201".
const anyJson = fc.jsonValue({ maxDepth: 3, stringUnit: anyChar });
/** A field's value as anything JSON can say, or as one of the values the field takes. */
const looseValue = fc.oneof(
  { weight: 3, arbitrary: anyJson },
  { weight: 1, arbitrary: fc.constantFrom(...BAD_STAMPS, ...OUTCOMES, ...THREATS) },
  { weight: 1, arbitrary: stampArb.map((s) => s.text) },
  { weight: 1, arbitrary: fc.dictionary(detailsKey, anyJson, { maxKeys: 3 }) },
);
/** A valid event with 0-3 fields replaced by anything, maybe a field dropped or one added. */
const looseEvent = fc
  .tuple(
    eventArb(true),
    fc.array(fc.tuple(fc.constantFrom(...SUBMITTABLE), looseValue), { maxLength: 2 }),
    fc.oneof(
      { weight: 5, arbitrary: fc.constant(null) },
      { weight: 1, arbitrary: fc.constantFrom(...REQUIRED) },
    ),
    fc.oneof(
      { weight: 5, arbitrary: fc.constant(null) },
      { weight: 1, arbitrary: fc.tuple(fc.string({ unit: anyChar, maxLength: 8 }), anyJson) },
    ),
  )
  .map(([g, replaced, dropped, added]) => {
    let e = g.event;
    for (const [f, v] of replaced) e = withField(e, f, v);
    if (dropped !== null) e = without(e, dropped);
    if (added !== null) e = withField(e, added[0], added[1]);
    return e;
  });
const JSONISH = [
  '{',
  '}',
  '[',
  ']',
  '"',
  ':',
  ',',
  '1',
  '-',
  'e',
  '.',
  'a',
  '\\',
  'u',
  '0',
  ' ',
  'null',
  'true',
  '"type"',
  '"userId"',
  '\u2028',
  '\ud800',
];
const arbitrarySubmission: fc.Arbitrary<Submission> = fc.oneof(
  {
    weight: 4,
    arbitrary: looseEvent.map((e) => ({ body: e, expected: [], paths: [], why: 'loose event' })),
  },
  {
    weight: 2,
    arbitrary: fc
      .array(looseEvent, { minLength: 1, maxLength: 4 })
      .map((es) => ({ body: es, expected: [], paths: [], why: 'loose batch' })),
  },
  {
    weight: 1,
    arbitrary: anyJson.map((v) => ({ body: v, expected: [], paths: [], why: 'any JSON' })),
  },
  {
    weight: 1,
    arbitrary: fc
      .string({ unit: fc.constantFrom(...JSONISH), maxLength: 40 })
      .map((t) => ({ body: undefined, text: t, expected: [], paths: [], why: 'JSON-ish text' })),
  },
);

// ---------------------------------------------------------------------------------------------
// Query strings.

const JUNK_PERCENT =
  '% %Z %G0 %2 %E0%A4 %C0%AE %FF %00 %ED%A0%80 %F4%90%80%80 %25 %26 %3D %23 %u0041 + %2B %20'.split(
    ' ',
  );
const b64 = (s: string) => Buffer.from(s).toString('base64url');
const INJECTIONS = [
  "' OR '1'='1",
  '1; DROP TABLE audit_events;--',
  "details->>'a'",
  '%',
  '_',
  '\\',
  '$1',
  '::jsonb',
  '{"a":1}',
  '[1]',
  'null',
  'true',
  '1e400',
  '-1e400',
  '-0',
  'NaN',
  'Infinity',
  ' 1',
  '0x10',
  '1e3',
  '9'.repeat(30),
  '-1',
  '0',
  '1',
  '1000',
  '1001',
  '2026-01-01',
  '0000-01-01',
  '0001-01-01',
  '9999-12-31',
  '2026-02-30',
  '275760-09-13',
  '2026-01-01T00:00:00Z',
  '0001-01-01T00:00:00+01:00',
  '0000-12-31T23:00:00Z',
  '9999-12-31T23:59:59.999Z',
  '9999-12-31T23:59:59.999-01:00',
  '1970-01-01T00:00:00.000000001Z',
  b64('id:1'),
  b64('id:0'),
  b64('id:999999999999999'),
  b64('id:-1'),
  b64('id:1e3'),
  b64("' OR 1=1--"),
  b64('\u0000'),
  Buffer.from([0xff, 0xfe, 0xed, 0xa0, 0x80]).toString('base64url'),
  'A'.repeat(64),
  'A'.repeat(201),
  'active',
  'blocked',
  '<script>alert(1)</script>',
  '${jndi:ldap://x/a}',
  '../../etc/passwd',
  '\u0000',
  '\ud800',
  '😀',
  'x'.repeat(300),
];
const EVENT_KEYS =
  "type userId actorId entityType ip location outcome threat from to limit cursor details.a details.code details.a.b details.__proto__ details.constructor details. details..a details.a'b details count status order sort __proto__ constructor type[] limit[0] details[a]".split(
    ' ',
  );
const STRIKES_KEYS = 'status limit cursor status[] userId sort __proto__ offset'.split(' ');

interface Param {
  key: string;
  value: string;
  mode: 'encode' | 'raw' | 'junk';
  junk: string;
  at: number;
}

/** Dates as the from/to filters take them, years 0000-9999 and beyond, edges favoured. */
const queryDate = fc
  .record({
    y: fc.oneof(
      fc.integer({ min: 0, max: 9999 }),
      fc.constantFrom(...(SKIP_KNOWN ? [1, 1970, 9998] : [0, 1, 1969, 1970, 9999, 10000])),
    ),
    mo: fc.integer({ min: 0, max: 13 }),
    d: fc.integer({ min: 0, max: 32 }),
    time: fc.option(
      fc.record({
        h: fc.integer({ min: 0, max: 24 }),
        mi: fc.integer({ min: 0, max: 60 }),
        s: fc.integer({ min: 0, max: 60 }),
        frac: fc.constantFrom('', '.5', '.999', '.123456789'),
        zone: fc.constantFrom('Z', '+00:00', '+01:00', '-01:00', '+23:59', '-23:59', '+24:00'),
      }),
    ),
  })
  .filter(({ y, time }) => !SKIP_KNOWN || (y > 1 && y < 9999) || time === null)
  .map(
    ({ y, mo, d, time }) =>
      `${pad(y, 4)}-${pad(mo)}-${pad(d)}` +
      (time ? `T${pad(time.h)}:${pad(time.mi)}:${pad(time.s)}${time.frac}${time.zone}` : ''),
  );
const typedParam = fc.oneof(
  fc.tuple(fc.constantFrom('from', 'to'), queryDate),
  fc.tuple(
    fc.constantFrom('limit', 'count'),
    fc.oneof(
      fc.integer({ min: -2, max: 1002 }).map(String),
      fc.constantFrom('1.0', '1e2', '01', '+1', ' 1', '0x1'),
    ),
  ),
  fc.tuple(
    fc.constant('cursor'),
    fc.oneof(
      fc.bigInt({ min: -1n, max: 10n ** 17n }).map((n) => b64(`id:${n}`)),
      fc.string({ unit: 'binary', maxLength: 20 }).map(b64),
    ),
  ),
  fc.tuple(
    fc.constantFrom('outcome', 'threat', 'status'),
    fc.constantFrom(...OUTCOMES, ...THREATS, 'active', 'blocked', 'Active', ''),
  ),
);

const paramArb = (keys: string[]) =>
  fc.record({
    key: fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom(...keys) },
      { weight: 1, arbitrary: fc.string({ unit: anyChar, maxLength: 10 }) },
      { weight: 1, arbitrary: fc.stringMatching(/^details(\.[A-Za-z0-9_'-]{1,6}){1,9}$/) },
    ),
    value: fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom(...INJECTIONS) },
      { weight: 3, arbitrary: fc.string({ unit: anyChar, maxLength: 24 }) },
      { weight: 1, arbitrary: stampArb.map((s) => s.text) },
      { weight: 1, arbitrary: fc.integer().map(String) },
      { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }).map(b64) },
    ),
    mode: fc.constantFrom<Param['mode']>('encode', 'encode', 'encode', 'raw', 'junk'),
    junk: fc.constantFrom(...JUNK_PERCENT),
    at: fc.nat(),
  });

/** `key=value` as sent: percent-encoded, raw (the URL parser encodes what it must), or with junk. */
function renderParam(p: Param): string {
  const k = p.mode === 'encode' ? encodeURIComponent(p.key.toWellFormed()) : p.key;
  const v = p.mode === 'encode' ? encodeURIComponent(p.value.toWellFormed()) : p.value;
  const pair = `${k}=${v}`;
  return p.mode === 'junk' ? inject(pair, p.junk, p.at) : pair;
}

const queryArb = (keys: string[]) =>
  fc.oneof(
    {
      weight: 8,
      arbitrary: fc
        .array(
          fc.oneof(
            { weight: 3, arbitrary: paramArb(keys) },
            {
              weight: 1,
              arbitrary: fc
                .tuple(typedParam, fc.constantFrom<Param['mode']>('encode', 'raw'))
                .map(([[key, value], mode]): Param => ({ key, value, mode, junk: '', at: 0 })),
            },
          ),
          { maxLength: 5 },
        )
        .map((ps) => ps.map(renderParam).join('&')),
    },
    {
      weight: 1,
      arbitrary: fc.string({
        unit: fc.constantFrom(
          '&',
          '=',
          '%',
          '?',
          '#',
          'a',
          '1',
          '.',
          '[',
          ']',
          ';',
          ' ',
          '+',
          ...JUNK_PERCENT,
        ),
        maxLength: 30,
      }),
    },
  );

// ---------------------------------------------------------------------------------------------
// HTTP. `send` is support/http.ts's request() on node:http with keep-alive: over 10,000 cases
// fetch() costs a good part of the run. The URL goes through the WHATWG parser first, so a path
// is percent-encoded exactly as fetch() would send it.

const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });

interface Sent {
  status: number;
  text: string;
  body: any;
}

function send(
  base: string,
  method: string,
  path: string,
  options: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<Sent> {
  const url = new URL(path, base);
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let body: Buffer | undefined;
  if (options.body !== undefined) {
    const text = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
    body = Buffer.from(text, 'utf8');
    headers['content-type'] ??= 'application/json';
    headers['content-length'] = String(body.length);
  }
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        method,
        path: url.pathname + url.search,
        headers,
        agent,
      },
      (res) => {
        answered = true;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            parsed = undefined;
          }
          resolve({ status: res.statusCode ?? 0, text, body: parsed });
        });
      },
    );
    // A server that answers (413, say) before it has read the whole body may close the socket
    // under our write: the answer counts, the write error does not.
    req.on('error', (error) => {
      if (!answered) reject(error);
    });
    req.end(body);
  });
}

// Raw HTTP, for headers node:http and fetch() refuse to send.

interface RawResponse {
  statuses: number[];
  text: string;
  timedOut: boolean;
}

function rawHttp(port: number, bytes: Buffer): Promise<RawResponse> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      socket.destroy();
    }, 5_000);
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('latin1');
      const statuses = [...text.matchAll(/HTTP\/1\.[01] (\d{3})/g)].map((m) => Number(m[1]));
      resolve({ statuses, text, timedOut });
    });
    socket.write(bytes);
  });
}

// ---------------------------------------------------------------------------------------------
// JWTs.

const b64json = (text: string) => Buffer.from(text, 'utf8').toString('base64url');
const hmac = (alg: 'sha256' | 'sha384' | 'sha512', input: string, key = TEST_JWT_SECRET) =>
  createHmac(alg, key).update(input).digest('base64url');
/** A token from raw header and payload JSON text, signed HS256 with the service's key unless told. */
function jwt(
  header: string,
  payload: string,
  sign: (input: string) => string = (i) => hmac('sha256', i),
): string {
  const input = `${b64json(header)}.${b64json(payload)}`;
  return `${input}.${sign(input)}`;
}

// ---------------------------------------------------------------------------------------------

describeWithPostgres('fuzz: generated submissions, queries, headers and tokens', () => {
  let db: TestDatabase;
  let svc: TestApp;
  let admin: string;
  let adminId: string;
  let client: pg.Client;
  let logFile: string;
  const tally: Record<string, Record<number, number>> = {};
  const count = (property: string, status: number) => {
    tally[property] ??= {};
    tally[property][status] = (tally[property][status] ?? 0) + 1;
  };

  beforeAll(async () => {
    db = await createTestDatabase('fuzz');
    svc = await startTestApp(db.url, adminEnv());
    admin = await adminToken(svc.base);
    adminId = (await send(svc.base, 'GET', '/me', { token: admin })).body.id;
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
    logFile = path.join(svc.auditDir, 'audit.log');
    // Some counters to list, some records to search.
    for (let i = 0; i < 3; i++) await newUser(svc.base, 'fuzzed');
    const seeded = await send(svc.base, 'POST', '/audit/events', {
      token: admin,
      body: Array.from({ length: 300 }, (_, i) =>
        externalEvent({
          type: `fuzz.seed.${i % 7}`,
          userId: `user-${i % 13}`,
          outcome: OUTCOMES[i % 3],
          threat: THREATS[i % 4],
          occurredAt: new Date(
            Date.UTC(1970 + ((i * 37) % 8000), i % 12, 1 + (i % 28)),
          ).toISOString(),
          details: { a: i % 5, code: String(i % 3), n: { b: i % 2 === 0 }, list: [i % 4] },
        }),
      ),
    });
    if (seeded.status !== 201) throw new Error(`seeding failed: ${seeded.status} ${seeded.text}`);
  }, 60_000);

  afterAll(async () => {
    console.info(
      `fuzz suite (FUZZ_SEED=${SEED}, FUZZ_SCALE=${SCALE}): ${runs(TOTAL_CASES)} cases planned; statuses per property: ${JSON.stringify(tally)}`,
    );
    await client?.end();
    agent.destroy();
    await svc?.close();
    await db?.drop();
  });

  /**
   * What a request may have written: the chain head and the highest id (both O(1) to read), and
   * the log file's size. Ids are contiguous (the last test checks it with a full count), so the
   * highest id is the row count.
   */
  const state = async () => {
    const { rows } = await client.query(
      `SELECT (SELECT last_id FROM audit_chain_head)::int AS head,
              coalesce((SELECT max(id) FROM audit_events), 0)::int AS rows`,
    );
    return {
      rows: rows[0].rows as number,
      head: rows[0].head as number,
      bytes: fs.statSync(logFile).size,
    };
  };

  /** The API record an accepted event must read back as (occurredAt checked apart). */
  const expectedRecord = (e: Record<string, any>, id: number) => ({
    id,
    type: e.type,
    userId: e.userId,
    actorId: adminId,
    outcome: e.outcome ?? 'success',
    threat: e.threat ?? 'none',
    ip: e.ip,
    method: 'POST',
    path: '/audit/events',
    entityType: e.entityType,
    targetId: e.targetId ?? null,
    location: e.location,
    description: e.description,
    details: e.details ?? null,
  });

  /**
   * Sends one submission and checks the properties: never 5xx; the expected status when the case
   * says; 4xx writes nothing; 201 reads back (API, table, file) as sent.
   */
  async function checkSubmission(name: string, s: Submission): Promise<void> {
    const bodyText = s.text !== undefined ? s.text.toWellFormed() : render(s.body);
    const before = await state();
    const t0 = Date.now();
    const res = await send(svc.base, 'POST', '/audit/events', {
      token: admin,
      body: bodyText,
      headers: { 'content-type': 'application/json' },
    });
    const t1 = Date.now();
    count(name, res.status);
    const ctx = `${s.why}; ${res.status} ${res.text.slice(0, 300)}`;
    if (res.status >= 500) throw new Error(`5xx: ${ctx}`);
    if (s.expected.length && !s.expected.includes(res.status))
      throw new Error(`expected ${s.expected.join('/')}: ${ctx}`);
    const after = await state();

    if (res.status !== 201) {
      if (after.rows !== before.rows || after.head !== before.head || after.bytes !== before.bytes)
        throw new Error(
          `rejected, yet written: rows ${before.rows} -> ${after.rows}, file ${before.bytes} -> ${after.bytes} bytes: ${ctx}`,
        );
      if (res.status === 400) {
        expect(res.body).toMatchObject({ statusCode: 400, error: 'Bad Request' });
        const reported = (res.body.errors ?? []).map((e: { path: string }) => e.path);
        for (const p of s.paths)
          if (!reported.includes(p))
            throw new Error(`400 does not name ${JSON.stringify(p)}: ${ctx}`);
      }
      return;
    }

    // Accepted: exactly these records were appended, and they read back as sent.
    const sent = JSON.parse(bodyText);
    const events: Record<string, any>[] = Array.isArray(sent) ? sent : [sent];
    const ids: number[] = res.body.ids;
    expect(ids).toHaveLength(events.length);
    ids.forEach((id, i) => expect(id).toBe(ids[0] + i));
    expect(after.rows).toBe(before.rows + events.length);

    const page = await send(svc.base, 'GET', `/audit/events?limit=${events.length}`, {
      token: admin,
    });
    expect(page.status).toBe(200);
    const records: Record<string, any>[] = [...page.body.items].reverse();
    expect(records.map((r) => r.id)).toEqual(ids);

    const fd = fs.openSync(logFile, 'r');
    const buf = Buffer.alloc(after.bytes - before.bytes);
    fs.readSync(fd, buf, 0, buf.length, before.bytes);
    fs.closeSync(fd);
    const lines = buf.toString('utf8').split('\n');
    expect(lines.pop()).toBe('');
    expect(lines).toHaveLength(events.length);

    records.forEach((record, i) => {
      const e = events[i];
      expect(Object.keys(record).sort()).toEqual(FIELDS);
      const { occurredAt, prevHash, hash, ...rest } = record;
      // Compared as canonical JSON: key order aside, byte for byte (a `constructor` key in details
      // trips jest's own type check, and -0 is 0 in JSON).
      expect(canonical(rest)).toBe(canonical(expectedRecord(e, ids[i])));
      if (e.occurredAt !== undefined) {
        const normalised = expectedOccurredAt(e.occurredAt);
        if (normalised === null)
          throw new Error(
            `accepted occurredAt ${JSON.stringify(e.occurredAt)} the model rejects: ${ctx}`,
          );
        expect(occurredAt).toBe(normalised);
      } else {
        expect(occurredAt).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
        const ms = Date.parse(occurredAt);
        expect(ms).toBeGreaterThanOrEqual(t0);
        expect(ms).toBeLessThanOrEqual(t1);
      }
      if (i > 0) expect(prevHash).toBe(records[i - 1].hash);
      const { hash: _h, ...unhashed } = record;
      expect(createHash('sha256').update(canonical(unhashed), 'utf8').digest('hex')).toBe(hash);
      // The file line is the record, byte for byte.
      expect(lines[i]).toBe(canonical(record));
    });
  }

  const checkList = (
    name: string,
    res: { status: number; text: string; body: any },
    qs: string,
  ) => {
    count(name, res.status);
    if (res.status >= 500)
      throw new Error(`5xx for ?${qs}: ${res.status} ${res.text.slice(0, 300)}`);
    if (res.status === 200) {
      expect(Array.isArray(res.body.items)).toBe(true);
      expect(res.body.nextCursor === null || typeof res.body.nextCursor === 'string').toBe(true);
    } else {
      expect(res.status).toBe(400);
    }
  };

  it(`GET /audit/events: never 5xx for any query string (${RUNS.eventsQueries} cases)`, async () => {
    await fc.assert(
      fc.asyncProperty(queryArb(EVENT_KEYS), async (qs) => {
        const res = await send(svc.base, 'GET', `/audit/events?${qs}`, { token: admin });
        checkList('eventsQuery', res, qs);
      }),
      params(RUNS.eventsQueries),
    );
  }, 300_000);

  it(`GET /admin/strikes: never 5xx for any query string (${RUNS.strikesQueries} cases)`, async () => {
    await fc.assert(
      fc.asyncProperty(queryArb(STRIKES_KEYS), async (qs) => {
        const res = await send(svc.base, 'GET', `/admin/strikes?${qs}`, { token: admin });
        checkList('strikesQuery', res, qs);
        if (res.status === 200) {
          const statuses = new URLSearchParams(qs).getAll('status');
          for (const c of res.body.items) {
            expect(Object.keys(c).sort()).toEqual([
              'blockedAt',
              'blockedUntil',
              'blocker',
              'count',
              'lastViolationAt',
              'oldestCountedAt',
              'simulatedBlock',
              'status',
              'timedBlocks',
              'total',
              'userId',
            ]);
            if (statuses.length === 1) expect(c.status).toBe(statuses[0]);
          }
        }
      }),
      params(RUNS.strikesQueries),
    );
  }, 300_000);

  it(`never 5xx for any path parameter of the read routes (${RUNS.pathParams} cases)`, async () => {
    const segment = fc.oneof(
      fc.constantFrom(...INJECTIONS).map((v) => encodeURIComponent(v.toWellFormed())),
      fc.string({ unit: anyChar, maxLength: 20 }).map((v) => encodeURIComponent(v.toWellFormed())),
      fc
        .tuple(
          fc.string({ unit: 'grapheme-ascii', maxLength: 8 }),
          fc.constantFrom(...JUNK_PERCENT),
          fc.nat(),
        )
        .map(([s, j, at]) => inject(encodeURIComponent(s), j, at)),
      fc.constantFrom(
        '%00',
        '%ED%A0%80',
        '%FF',
        'a'.repeat(129),
        'a'.repeat(300),
        '..',
        '.',
        '%2e%2e',
        '1',
        '9007199254740993',
      ),
    );
    const route = fc.constantFrom(
      (s: string) => `/audit/events/${s}`,
      (s: string) => `/audit/verify/${s}`,
      (s: string) => `/admin/strikes/${s}`,
      (s: string) => `/audit/events/recent?count=${s}`,
      // one record when valid: verifying the whole chain each time would dominate the run
      (s: string) => `/audit/verify?fromId=${s}&toId=${s}`,
      (s: string) => `/audit/verify?toId=1&fromId=${s}`,
    );
    await fc.assert(
      fc.asyncProperty(route, segment, async (to, s) => {
        const p = to(s);
        const res = await send(svc.base, 'GET', p, { token: admin });
        count('pathParams', res.status);
        if (res.status >= 500)
          throw new Error(`5xx for ${p}: ${res.status} ${res.text.slice(0, 300)}`);
      }),
      params(RUNS.pathParams),
    );
  }, 300_000);

  it(`GET /audit/events filters return only matching records (${RUNS.filters} cases)`, async () => {
    const KEYS = ['a', 'code', ...unlessKnown('__proto__'), 'constructor', 'n'];
    const VALUES = [
      '1',
      '1.0',
      '-0',
      '0',
      'true',
      'null',
      'x',
      '"x"',
      ...unlessKnown('1e400', '-1e400'),
      '1e2',
      ' 1',
    ];
    // Records over those keys and values, in known places.
    const seed = KEYS.flatMap((k) =>
      [1, 0, true, null, 'x', '1', 100, { b: 1 }].map((v) =>
        externalEvent({
          type: 'fuzz.filter',
          details: JSON.parse(`{${JSON.stringify(k)}:${JSON.stringify(v)}}`),
        }),
      ),
    );
    expect(
      (await send(svc.base, 'POST', '/audit/events', { token: admin, body: seed })).status,
    ).toBe(201);
    const at = (details: unknown, keys: string[]) => {
      let v: any = details;
      for (const k of keys) {
        if (v === null || typeof v !== 'object' || !Object.hasOwn(v, k)) return undefined;
        v = v[k];
      }
      return v;
    };
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...KEYS), fc.constantFrom(...VALUES), async (key, value) => {
        const res = await send(
          svc.base,
          'GET',
          `/audit/events?type=fuzz.filter&details.${key}=${encodeURIComponent(value)}&limit=1000`,
          { token: admin },
        );
        count('filters', res.status);
        expect(res.status).toBe(200);
        let wanted: unknown = value;
        try {
          const parsed = JSON.parse(value);
          if (parsed === null || typeof parsed === 'number' || typeof parsed === 'boolean')
            wanted = parsed;
        } catch {
          // a string
        }
        for (const r of res.body.items) {
          const got = at(r.details, [key]);
          const matches = got === wanted || (Array.isArray(got) && got.includes(wanted));
          if (!matches)
            throw new Error(
              `details.${key}=${value} returned record ${r.id} with details ${JSON.stringify(r.details)}`,
            );
        }
      }),
      params(RUNS.filters),
    );
  }, 120_000);

  // ---- headers --------------------------------------------------------------------------------

  it(`never 5xx for any Authorization, Content-Type or other header; written iff 201 (${RUNS.headers} cases)`, async () => {
    const latin1 = fc.string({
      unit: fc.integer({ min: 0x20, max: 0xff }).map((c) => String.fromCharCode(c)),
      maxLength: 40,
    });
    const control = fc.string({
      unit: fc.integer({ min: 0, max: 0x1f }).map((c) => String.fromCharCode(c)),
      minLength: 1,
      maxLength: 3,
    });
    const authorization = fc.oneof(
      fc.constantFrom(
        `Bearer ${admin}`,
        `bearer ${admin}`,
        `BEARER ${admin}`,
        `Bearer  ${admin}`,
        `Bearer ${admin} `,
        `Bearer\t${admin}`,
        ` Bearer ${admin}`,
        `Bearer ${admin}x`,
        `Bearer ${admin.slice(0, -1)}`,
        `Bearer ${admin}.${admin}`,
        `Bearer ${admin}, Bearer ${admin}`,
        `Token ${admin}`,
        admin,
        `Basic ${Buffer.from('root-admin:Adm1n-Passw0rd!x').toString('base64')}`,
        'Bearer',
        'Bearer ',
        '',
        'Bearer null',
        'Bearer undefined',
        'Bearer ..',
        'Bearer a.b.c',
        `Bearer ${'a'.repeat(8_000)}`,
        `Bearer ${'a'.repeat(20_000)}`,
        `Bearer ${admin}\u00ff`,
      ),
      latin1.map((s) => `Bearer ${s}`),
      latin1,
    );
    const contentType = fc.oneof(
      fc.constantFrom(
        'application/json',
        'application/json; charset=utf-8',
        'application/json;charset=UTF-8',
        'APPLICATION/JSON',
        'application/json; charset=utf-16',
        'application/json; charset=latin1',
        'application/json; charset=koi8-r',
        'application/json; charset=',
        'application/json; charset="utf-8"',
        'application/json; boundary=x',
        'application/merge-patch+json',
        'application/vnd.api+json',
        'text/plain',
        'text/json',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
        'application/xml',
        '',
        '*/*',
        'application/',
        ';;;',
        'application/json, text/plain',
      ),
      latin1,
    );
    const header = fc.oneof(
      fc.tuple(fc.constant('Authorization'), authorization),
      fc.tuple(fc.constant('Content-Type'), contentType),
      fc.tuple(
        fc.constantFrom('Content-Encoding'),
        fc.constantFrom('gzip', 'deflate', 'br', 'identity', 'x-garbage', 'gzip, gzip', ''),
      ),
      fc.tuple(
        fc.constant('Transfer-Encoding'),
        fc.constantFrom('chunked', 'gzip', 'chunked, chunked', 'identity', 'x'),
      ),
      fc.tuple(fc.constant('Expect'), fc.constantFrom('100-continue', 'x')),
      fc.tuple(
        fc.constantFrom(
          'X-Forwarded-For',
          'X-Request-Id',
          'Accept',
          'Accept-Charset',
          'Origin',
          'Cookie',
          'Range',
          'If-None-Match',
          'Host',
        ),
        latin1,
      ),
      fc.tuple(fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 12 }), latin1),
      fc.tuple(
        fc.constantFrom('X-A', 'Bad Name', 'X:Y', 'X\u00e9', ''),
        fc.tuple(latin1, control, latin1).map(([a, c, b]) => a + c + b),
      ),
    );
    const requestArb = fc.record({
      route: fc.constantFrom(
        'POST /audit/events',
        'POST /audit/events',
        'GET /audit/events?limit=1',
        'GET /me',
      ),
      auth: fc.option(authorization, { nil: undefined, freq: 5 }),
      type: fc.option(contentType, { nil: undefined, freq: 5 }),
      headers: fc.array(header, { maxLength: 4 }),
      length: fc.constantFrom('exact', 'exact', 'exact', 'short', 'none', 'chunked'),
    });

    await fc.assert(
      fc.asyncProperty(requestArb, async (r) => {
        const [method, target] = r.route.split(' ');
        const marker = randomUUID();
        const body =
          method === 'POST'
            ? JSON.stringify(externalEvent({ type: 'fuzz.header', description: marker }))
            : '';
        const lines = [`${method} ${target} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close'];
        if (r.auth !== undefined) lines.push(`Authorization: ${r.auth}`);
        if (r.type !== undefined) lines.push(`Content-Type: ${r.type}`);
        for (const [name, value] of r.headers) lines.push(`${name}: ${value}`);
        const bytes = Buffer.from(body, 'utf8');
        let payload = bytes;
        if (method === 'POST') {
          if (r.length === 'exact') lines.push(`Content-Length: ${bytes.length}`);
          else if (r.length === 'short')
            lines.push(`Content-Length: ${Math.floor(bytes.length / 2)}`);
          else if (r.length === 'chunked') {
            lines.push('Transfer-Encoding: chunked');
            payload = Buffer.concat([
              Buffer.from(`${bytes.length.toString(16)}\r\n`),
              bytes,
              Buffer.from('\r\n0\r\n\r\n'),
            ]);
          }
        }
        // A fuzzed `Transfer-Encoding: chunked` on a request without a body: end the (empty) chunked
        // body, or the server rightly waits for it.
        if (
          method === 'GET' &&
          r.headers.some(([n, v]) => n === 'Transfer-Encoding' && /chunked$/.test(v))
        )
          payload = Buffer.from('0\r\n\r\n');
        const before = await state();
        const res = await rawHttp(
          Number(new URL(svc.base).port),
          Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), payload]),
        );
        for (const s of res.statuses) count('headers', s);
        const ctx = `${JSON.stringify(res.text.slice(0, 400))}`;
        if (res.timedOut) throw new Error(`no answer within 5 s: ${ctx}`);
        if (res.statuses.length === 0)
          throw new Error(`connection closed without a response: ${ctx}`);
        if (res.statuses.some((s) => s >= 500)) throw new Error(`5xx: ${ctx}`);
        const after = await state();
        const created = res.statuses.filter((s) => s === 201).length;
        if (after.rows - before.rows !== created)
          throw new Error(
            `${after.rows - before.rows} row(s) written for ${created} 201(s): ${ctx}`,
          );
        if (created) {
          const [row] = (
            await client.query('SELECT description FROM audit_events ORDER BY id DESC LIMIT 1')
          ).rows;
          expect(row.description).toBe(marker);
        }
        if (res.statuses.some((s) => s >= 200 && s < 300)) {
          const sent = [
            r.auth,
            ...r.headers.filter(([n]) => /^authorization$/i.test(n)).map(([, v]) => v),
          ];
          if (!sent.some((a) => a !== undefined && a.includes(admin)))
            throw new Error(`2xx without the admin token: ${ctx}`);
        }
      }),
      params(RUNS.headers),
    );
  }, 300_000);

  // ---- tokens ---------------------------------------------------------------------------------

  it(`never 5xx and never through for random, mutated, unsigned or re-signed tokens (${RUNS.tokens} cases)`, async () => {
    const now = () => Math.floor(Date.now() / 1000);
    const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const b64char = fc.constantFrom(...B64.split(''));
    const [h, p, sig] = admin.split('.');
    const legitClaims = () => ({ sub: adminId, sv: 0, iat: now(), exp: now() + 600 });

    interface TokenCase {
      token: string;
      /** May this token be let through (a token the service itself could have issued)? */
      mayPass: boolean;
      why: string;
    }
    const claimMutations: [
      string,
      (c: Record<string, unknown>) => string | Record<string, unknown>,
      boolean,
    ][] = [
      ['legit', (c) => c, true],
      ['extra claim', (c) => ({ ...c, role: 'admin', scopes: ['audit:write'] }), true],
      ['no exp', ({ exp: _e, ...c }) => c, false],
      ['expired', (c) => ({ ...c, exp: now() - 10 }), false],
      ['exp string', (c) => ({ ...c, exp: String(c.exp) }), false],
      ['exp null', (c) => ({ ...c, exp: null }), false],
      ...unlessKnown<
        [string, (c: Record<string, unknown>) => string | Record<string, unknown>, boolean]
      >(
        ['exp 1e400', (c) => JSON.stringify(c).replace(/"exp":\d+/, '"exp":1e400'), false],
        ['sub in upper case', (c) => ({ ...c, sub: String(c.sub).toUpperCase() }), false],
      ),
      ['exp -1e400', (c) => JSON.stringify(c).replace(/"exp":\d+/, '"exp":-1e400'), false],
      ['exp 1e20', (c) => ({ ...c, exp: 1e20 }), true],
      ['no iat', ({ iat: _i, ...c }) => c, false],
      ['iat string', (c) => ({ ...c, iat: 'now' }), false],
      ['nbf future', (c) => ({ ...c, nbf: now() + 3600 }), false],
      ['no sub', ({ sub: _s, ...c }) => c, false],
      ['sub number', (c) => ({ ...c, sub: 1 }), false],
      ['sub not a uuid', (c) => ({ ...c, sub: 'root-admin' }), false],
      ['sub unknown uuid', (c) => ({ ...c, sub: '00000000-0000-4000-8000-000000000000' }), false],
      ['sub injection', (c) => ({ ...c, sub: "' OR 1=1--" }), false],
      ['sub with NUL', (c) => ({ ...c, sub: `${adminId}\u0000` }), false],
      ['sv -1', (c) => ({ ...c, sv: -1 }), false],
      ['sv 1.5', (c) => ({ ...c, sv: 1.5 }), false],
      ['sv string', (c) => ({ ...c, sv: '0' }), false],
      ['sv huge', (c) => ({ ...c, sv: 2 ** 60 }), false],
      ['no sv', ({ sv: _v, ...c }) => c, false],
      [
        'service type, bad jti',
        (c) => ({ ...c, typ: 'service', jti: 'x', scopes: ['audit:write'] }),
        false,
      ],
      [
        'service type, unknown jti',
        (c) => {
          const jti = randomUUID();
          return {
            ...c,
            typ: 'service',
            sub: `svc:${jti}`,
            jti,
            scopes: ['audit:write', 'audit:read'],
          };
        },
        false,
      ],
      ['another typ', (c) => ({ ...c, typ: 'svc' }), true],
      [
        'service type, scopes string',
        (c) => ({ ...c, typ: 'service', scopes: 'audit:write' }),
        false,
      ],
      ['payload array', () => '[1,2]', false],
      ...unlessKnown<[string, () => string, boolean]>(['payload null', () => 'null', false]),
      ['payload string', () => '"x"', false],
      ['payload number', () => '42', false],
      ['payload not JSON', () => '{"sub":', false],
      ['payload __proto__', (c) => `{"__proto__":{"exp":1},${JSON.stringify(c).slice(1)}`, true],
      ['payload deep', () => nested(5000, '{}'), false],
    ];
    const HEADERS: [string, string, (input: string) => string, boolean][] = [
      ['HS256', '{"alg":"HS256","typ":"JWT"}', (i) => hmac('sha256', i), true],
      ['HS256 no typ', '{"alg":"HS256"}', (i) => hmac('sha256', i), true],
      ['HS384', '{"alg":"HS384","typ":"JWT"}', (i) => hmac('sha384', i), false],
      ['HS512', '{"alg":"HS512","typ":"JWT"}', (i) => hmac('sha512', i), false],
      ['none', '{"alg":"none","typ":"JWT"}', () => '', false],
      ['None', '{"alg":"None","typ":"JWT"}', () => '', false],
      ['none, signed', '{"alg":"none","typ":"JWT"}', (i) => hmac('sha256', i), false],
      ['RS256 with the HMAC key', '{"alg":"RS256","typ":"JWT"}', (i) => hmac('sha256', i), false],
      ['no alg', '{"typ":"JWT"}', (i) => hmac('sha256', i), false],
      ['alg array', '{"alg":["HS256"]}', (i) => hmac('sha256', i), false],
      ['crit', '{"alg":"HS256","crit":["exp"]}', (i) => hmac('sha256', i), true],
      ['kid path', '{"alg":"HS256","kid":"../../../dev/null"}', (i) => hmac('sha256', i), true],
      ['jku', '{"alg":"HS256","jku":"http://127.0.0.1:1/keys"}', (i) => hmac('sha256', i), true],
      [
        'wrong key',
        '{"alg":"HS256","typ":"JWT"}',
        (i) => hmac('sha256', i, 'another-secret-0123456789abcdef0123456789'),
        false,
      ],
      ['empty key', '{"alg":"HS256","typ":"JWT"}', (i) => hmac('sha256', i, ''), false],
      ['header not JSON', '{"alg":', (i) => hmac('sha256', i), false],
      ['header array', '["HS256"]', (i) => hmac('sha256', i), false],
      ['header null', 'null', (i) => hmac('sha256', i), false],
    ];
    const forged = fc
      .tuple(fc.constantFrom(...HEADERS), fc.constantFrom(...claimMutations))
      .map(([[hn, header, sign, okHeader], [cn, mutate, okClaims]]): TokenCase => {
        const claims = mutate(legitClaims());
        const payload = typeof claims === 'string' ? claims : JSON.stringify(claims);
        return {
          token: jwt(header, payload, sign),
          mayPass: okHeader && okClaims,
          why: `${hn} / ${cn}`,
        };
      });
    const mutated = fc
      .tuple(fc.constantFrom('flip', 'delete', 'insert', 'truncate', 'append'), fc.nat(), b64char)
      .map(([op, at, c]): TokenCase => {
        const i = at % admin.length;
        const token =
          op === 'flip'
            ? admin.slice(0, i) +
              (admin[i] === c ? (c === 'A' ? 'B' : 'A') : c) +
              admin.slice(i + 1)
            : op === 'delete'
              ? admin.slice(0, i) + admin.slice(i + 1)
              : op === 'insert'
                ? admin.slice(0, i) + c + admin.slice(i)
                : op === 'truncate'
                  ? admin.slice(0, i)
                  : admin + c.repeat(1 + (at % 3));
        return { token, mayPass: token === admin, why: `${op} at ${i}` };
      });
    const shuffled = fc
      .constantFrom(
        `${p}.${h}.${sig}`,
        `${h}.${sig}.${p}`,
        `${sig}.${p}.${h}`,
        `${h}.${h}.${sig}`,
        `${h}.${p}`,
        `${h}.${p}.`,
        `${h}.${p}..${sig}`,
        `${h}.${p}.${sig}.${sig}`,
        `.${p}.${sig}`,
        `${h}..${sig}`,
        `${h}.${p}.${sig}=`,
        `${h}=.${p}.${sig}`,
        `${h}.${p}.${Buffer.from(sig, 'base64url').toString('base64')}`,
        `${h}.${p}.${sig.toLowerCase()}`,
        admin.toUpperCase(),
        `${h}.${b64json('{"sub":"x"}')}.${sig}`,
        '..',
        '.',
      )
      .map((token): TokenCase => ({ token, mayPass: false, why: 'segments' }));
    const random = fc
      .oneof(
        fc.string({ unit: fc.constantFrom(...`${B64}.=+/`.split('')), maxLength: 300 }),
        fc
          .tuple(
            fc.string({ unit: b64char, maxLength: 60 }),
            fc.string({ unit: b64char, maxLength: 120 }),
            fc.string({ unit: b64char, maxLength: 60 }),
          )
          .map((s) => s.join('.')),
        fc.string({
          unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)),
          maxLength: 100,
        }),
      )
      .map((token): TokenCase => ({ token, mayPass: false, why: 'random' }));
    const tokenArb = fc.oneof(
      { weight: 3, arbitrary: forged },
      { weight: 3, arbitrary: mutated },
      { weight: 1, arbitrary: shuffled },
      { weight: 2, arbitrary: random },
    );

    await fc.assert(
      fc.asyncProperty(tokenArb, async ({ token, mayPass, why }) => {
        const before = await state();
        const post = await send(svc.base, 'POST', '/audit/events', {
          body: externalEvent({ type: 'fuzz.token' }),
          headers: { authorization: `Bearer ${token}` },
        });
        const me = await send(svc.base, 'GET', '/me', {
          headers: { authorization: `Bearer ${token}` },
        });
        const after = await state();
        for (const r of [post, me]) count('tokens', r.status);
        const ctx = `${why}: POST ${post.status} ${post.text.slice(0, 200)} / me ${me.status} ${me.text.slice(0, 200)}`;
        if ([post, me].some((r) => r.status >= 500)) throw new Error(`5xx for ${ctx}`);
        if (!mayPass && [post, me].some((r) => r.status < 300))
          throw new Error(`let through: ${ctx}`);
        if (!mayPass) {
          for (const r of [post, me]) if (r.status !== 401) throw new Error(`not 401: ${ctx}`);
        }
        const written = after.rows - before.rows;
        if (written !== (post.status === 201 ? 1 : 0))
          throw new Error(`${written} row(s) written: ${ctx}`);
      }),
      params(RUNS.tokens),
    );
  }, 300_000);

  // ---- submissions (last among the properties: the records they write make every later read
  // bigger) ----------------------------------------------------------------------------------

  it(`accepts valid-looking submissions and reads them back exactly (${RUNS.validSubmissions} cases)`, async () => {
    await fc.assert(
      fc.asyncProperty(validSubmission, (s) => checkSubmission('valid', s)),
      params(RUNS.validSubmissions),
    );
  }, 300_000);

  it(`rejects broken submissions with 400/413, naming the field, writing nothing (${RUNS.brokenSubmissions} cases)`, async () => {
    await fc.assert(
      fc.asyncProperty(brokenSubmission, (s) => checkSubmission('broken', s)),
      params(RUNS.brokenSubmissions),
    );
  }, 300_000);

  it(`never answers 5xx to arbitrary JSON; written iff 201 (${RUNS.arbitrarySubmissions} cases)`, async () => {
    await fc.assert(
      fc.asyncProperty(arbitrarySubmission, (s) => checkSubmission('arbitrary', s)),
      params(RUNS.arbitrarySubmissions),
    );
  }, 300_000);

  // ---- minimal reproducers of what the properties found (kept as plain tests) ----------------

  describe('minimal reproducers', () => {
    const valid = () => ({
      type: 'fuzz.min',
      userId: 'u',
      entityType: null,
      ip: null,
      location: null,
      description: null,
    });
    const postText = (text: string) =>
      send(svc.base, 'POST', '/audit/events', {
        token: admin,
        body: text,
        headers: { 'content-type': 'application/json' },
      });

    it.each([
      ['{"x":1e400}', '{"x":1e400}'],
      ['{"x":[-1e400]}', '{"x":[-1e400]}'],
      ['{"deep":[[[…]]]} 5,000 levels', `{"deep":${nested(5000)}}`],
      ['{"deep":[[[…]]]} 100,000 levels', `{"deep":${nested(100_000)}}`],
    ])('rejects details %s with 400, writing nothing', async (_label, details) => {
      const before = await state();
      const body = render({ ...valid(), details: new Raw('details', () => details) });
      const res = await postText(body);
      expect({ status: res.status, body: res.body }).toMatchObject({
        status: 400,
        body: { statusCode: 400 },
      });
      expect(await state()).toEqual(before);
    });

    // Concurrent submissions share one append transaction: one that cannot be hashed must not take
    // the others down with it.
    it('keeps valid submissions that share a write batch with an unrepresentable number', async () => {
      const bad = render({ ...valid(), details: { x: new Raw('1e400', () => '1e400') } });
      const results = await Promise.all([
        ...Array.from({ length: 20 }, () => postText(JSON.stringify(valid()))),
        postText(bad),
        ...Array.from({ length: 20 }, () => postText(JSON.stringify(valid()))),
      ]);
      const statuses = results.map((r) => r.status);
      statuses.splice(20, 1);
      expect(statuses).toEqual(Array(40).fill(201));
    });

    it.each([
      'to=9999-12-31',
      'to=9999-12-31T23:59:59.999Z',
      'from=0000-01-01',
      'to=0000-01-01',
      'from=0001-01-01T00:00:00%2B01:00',
      'from=9999-12-31T23:59:59.999-01:00',
    ])('answers GET /audit/events?%s with 200 or 400, never 500', async (qs) => {
      const res = await send(svc.base, 'GET', `/audit/events?${qs}`, { token: admin });
      expect([200, 400]).toContain(res.status);
    });

    it.each([
      ['__proto__', '1'],
      ['a', '1e400'],
    ])('honours the filter details.%s=%s (no record matches)', async (key, value) => {
      await send(svc.base, 'POST', '/audit/events', {
        token: admin,
        body: [
          externalEvent({ type: 'fuzz.min.filter', details: { a: null } }),
          externalEvent({ type: 'fuzz.min.filter', details: { other: 1 } }),
        ],
      });
      const res = await send(
        svc.base,
        'GET',
        `/audit/events?type=fuzz.min.filter&details.${key}=${value}`,
        { token: admin },
      );
      expect(res.status).toBe(200);
      expect(res.body.items.map((r: { details: unknown }) => r.details)).toEqual([]);
    });

    it.each([
      ['NUL', '%00'],
      ['of 300 characters', 'a'.repeat(300)],
    ])(
      "answers GET /admin/strikes/:userId with a userId %s with the route's own 400 (naming userId)",
      async (_label, param) => {
        const res = await send(svc.base, 'GET', `/admin/strikes/${param}`, { token: admin });
        expect(res.status).toBe(400);
        expect(res.body.errors.map((e: { path: string }) => e.path)).toEqual(['userId']);
      },
    );

    it('answers 401, not 500, to a correctly signed token whose payload is null', async () => {
      const token = jwt('{"alg":"HS256","typ":"JWT"}', 'null');
      const res = await send(svc.base, 'GET', '/me', { token });
      expect(res.status).toBe(401);
    });

    it('refuses a token whose exp is 1e400 (it would never expire)', async () => {
      const iat = Math.floor(Date.now() / 1000);
      const token = jwt(
        '{"alg":"HS256","typ":"JWT"}',
        `{"sub":"${adminId}","sv":0,"iat":${iat},"exp":1e400}`,
      );
      const res = await send(svc.base, 'GET', '/me', { token });
      expect(res.status).toBe(401);
    });

    it('refuses a session-terminated user whose token spells the id in upper case', async () => {
      const user = await newUser(svc.base, 'upper');
      expect((await send(svc.base, 'POST', '/auth/logout', { token: user.token })).status).toBe(
        204,
      );
      // Tokens the service's key signed for the ended session (sv 0; the logout made it 1).
      const forge = (sub: string) =>
        jwt(
          '{"alg":"HS256","typ":"JWT"}',
          JSON.stringify({
            sub,
            sv: 0,
            iat: Math.floor(Date.now() / 1000),
            exp: Math.floor(Date.now() / 1000) + 600,
          }),
        );
      const me = async (token: string) => {
        const res = await send(svc.base, 'GET', '/me', { token });
        return `${res.status} ${res.body?.reason ?? res.body?.username}`;
      };
      expect(await me(forge(user.id))).toBe('401 session_terminated');
      // The users table matches an upper-case uuid, the strike counters do not: such a subject is
      // refused outright (401), so it can never slip past the session check.
      expect(await me(forge(user.id.toUpperCase()))).toMatch(/^401 /);
    });
  });

  it('leaves a chain that verifies, table and file agreeing line for line', async () => {
    const verify = await send(svc.base, 'GET', '/audit/verify', { token: admin });
    expect(verify.body).toEqual({ ok: true, checked: expect.any(Number) });
    const [{ n, max }] = await query<{ n: number; max: number }>(
      db.url,
      'SELECT count(*)::int AS n, max(id)::int AS max FROM audit_events',
    );
    expect({ n, checked: verify.body.checked }).toEqual({ n: max, checked: max });
    const text = fs.readFileSync(logFile, 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    const lines = text.slice(0, -1).split('\n');
    expect(lines).toHaveLength(n);
    // Every line is the API's record, byte for byte.
    const differing: number[] = [];
    let cursor: string | null = null;
    let seen = 0;
    do {
      const page: any = await send(
        svc.base,
        'GET',
        `/audit/events?limit=1000${cursor ? `&cursor=${cursor}` : ''}`,
        { token: admin },
      );
      for (const record of page.body.items) {
        seen++;
        if (lines[record.id - 1] !== canonical(record)) differing.push(record.id);
      }
      cursor = page.body.nextCursor;
    } while (cursor);
    expect({ seen, differing: differing.slice(0, 20) }).toEqual({ seen: n, differing: [] });
  }, 120_000);
});
