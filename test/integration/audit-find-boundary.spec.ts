import { type INestApplicationContext, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { jest } from '@jest/globals';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type DataSource } from 'typeorm';
import { AuditStore } from '../../src/audit/audit-store.js';
import {
  type AuditQuery,
  AuditQueryInvalidError,
  AuditService,
  STRIKEGUARD_DATA_SOURCE,
} from '../../src/index.js';
import {
  createTestDatabase,
  describeWithPostgres,
  query,
  type TestDatabase,
} from '../support/postgres.js';
import { auditImports } from '../support/strikeguard-imports.js';

/**
 * AuditService.find takes an AuditQuery object from code, not only from parseAuditQuery: a host
 * can hand it anything at run time. Every field is checked before any SQL is sent, and the limit
 * is a bound parameter (it used to be interpolated into the statement).
 */

const circular: Record<string, unknown> = { a: 1 };
circular.self = circular;
let deep: Record<string, unknown> = { leaf: 1 };
for (let i = 0; i < 40; i++) deep = { d: deep };
const throwingGetter = Object.defineProperty({ limit: 10 }, 'type', {
  enumerable: true,
  get() {
    throw new Error('boom');
  },
});
const hostileKeys = new Proxy(
  { limit: 10 },
  {
    ownKeys() {
      throw new Error('boom');
    },
  },
);
/** A value that is valid when first read and hostile afterwards. */
let reads = 0;
const flipping = Object.defineProperty({}, 'limit', {
  enumerable: true,
  get: () => (reads++ === 0 ? 5 : '1; DROP TABLE audit_events --'),
});

const TEXT = ['type', 'userId', 'actorId', 'entityType', 'ip', 'location'];
const BAD_TEXT: unknown[] = [
  '',
  'x'.repeat(257),
  'a\u0000b',
  '\ud800',
  42,
  true,
  ['a'],
  { toString: () => 'a' },
  null,
  Symbol('s'),
];

/** [field the error must name, the query]: each must throw AuditQueryInvalidError, send nothing. */
const HOSTILE: [string, unknown][] = [
  ...TEXT.flatMap((field) =>
    BAD_TEXT.map((v): [string, unknown] => [field, { limit: 10, [field]: v }]),
  ),
  ...['maybe', 1, ['success'], null, "success' OR '1'='1"].map((v): [string, unknown] => [
    'outcome',
    { limit: 10, outcome: v },
  ]),
  ...['severe', 0, ['none'], null].map((v): [string, unknown] => [
    'threat',
    { limit: 10, threat: v },
  ]),
  ...(['from', 'to'] as const).flatMap((field) =>
    [
      'yesterday',
      '2025-02-30T00:00:00Z',
      '2025-05-01',
      "2025-05-01T00:00:00Z'::timestamptz OR true --",
      '0000-01-01T00:00:00Z',
      '2025-05-01T00:00:00+24:00',
      '-infinity',
      0,
      new Date(),
      null,
      ['2025-05-01T00:00:00Z'],
    ].map((v): [string, unknown] => [field, { limit: 10, [field]: v }]),
  ),
  ...[
    [],
    'x',
    null,
    1,
    { a: 1n },
    { a: undefined },
    circular,
    { a: 'x\u0000' },
    { 'a\u0000': 1 },
    { a: Infinity },
    { a: new Date() },
    new Map([['a', 1]]),
    Object.create({ a: 1 }),
    deep,
    { big: 'x'.repeat(70_000) },
    { many: new Array(100_000) },
  ].map((v): [string, unknown] => ['details', { limit: 10, details: v }]),
  ...[
    undefined,
    0,
    -1,
    1001,
    1.5,
    NaN,
    Infinity,
    Number.MAX_SAFE_INTEGER,
    '10',
    '1; DROP TABLE audit_events',
    '(SELECT 1)',
    10n,
    null,
    [10],
    { valueOf: () => 10 },
  ].map((v): [string, unknown] => ['limit', { limit: v }]),
  ...[-1, 1.5, NaN, 2 ** 53, '5', '1 OR 1=1', [1], null, 5n].map((v): [string, unknown] => [
    'beforeId',
    { limit: 10, beforeId: v },
  ]),
  ['cursor', { limit: 10, cursor: 'aWQ6MQ' }],
  ['__proto__', JSON.parse('{"limit": 10, "__proto__": {"limit": "1; DROP"}}')],
  ['constructor', { limit: 10, constructor: 'x' }],
  ['type', throwingGetter],
  ['query', hostileKeys],
  ['query', null],
  ['query', 'limit=10'],
  ['query', [{ limit: 10 }]],
  ['query', 42],
];

describeWithPostgres('AuditService.find at its boundary', () => {
  let db: TestDatabase;
  let app: INestApplicationContext;
  let audit: AuditService;
  let dataSource: DataSource;
  let logDir: string;

  beforeAll(async () => {
    db = await createTestDatabase('find');
    logDir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sg-find-')), 'audit');
    @Module({
      imports: [...auditImports(db.url, logDir)],
    })
    class HostModule {}
    app = await NestFactory.createApplicationContext(HostModule, { logger: false });
    await app.init();
    audit = app.get(AuditService);
    dataSource = app.get(STRIKEGUARD_DATA_SOURCE);
    for (const ms of [0, 1, 2])
      await audit.record({
        type: 'find.test',
        userId: 'u1',
        occurredAt: new Date(Date.UTC(2025, 4, 1, 12, 0, 0, ms)).toISOString(),
        details: { n: ms, nested: { k: 'v' } },
      });
  });
  afterAll(async () => {
    await app?.close();
    await db?.drop();
    fs.rmSync(path.dirname(logDir), { recursive: true, force: true });
  });

  /** Runs `work` and returns the SQL statements it sent through the DataSource. */
  async function statementsOf(work: () => Promise<unknown>): Promise<unknown[][]> {
    const spy = jest.spyOn(dataSource, 'query');
    try {
      await work();
      return spy.mock.calls;
    } finally {
      spy.mockRestore();
    }
  }

  it.each(HOSTILE.map(([field, q], i) => [i, field, q]))(
    'hostile query #%i: AuditQueryInvalidError naming %s, no SQL sent',
    async (_i, field, q) => {
      let thrown: unknown;
      const sent = await statementsOf(async () => {
        try {
          await audit.find(q as AuditQuery);
        } catch (error) {
          thrown = error;
        }
      });
      expect(thrown).toBeInstanceOf(AuditQueryInvalidError);
      const paths = (thrown as AuditQueryInvalidError).errors.map((e) => e.path);
      // the field itself, or a member of it (details.a, details.d.d…)
      expect(paths.map((p) => p.replace(/[.[].*$/, ''))).toContain(field);
      expect((thrown as Error).message).toContain(field);
      expect(sent).toEqual([]);
    },
  );

  it.each([0, -1, 1.5, NaN, Infinity, 2 ** 53, '1', '1; DROP TABLE audit_events', null, {}])(
    'findById(%p): AuditQueryInvalidError, no SQL sent',
    async (id) => {
      let thrown: unknown;
      const sent = await statementsOf(async () => {
        try {
          await audit.findById(id as number);
        } catch (error) {
          thrown = error;
        }
      });
      expect(thrown).toBeInstanceOf(AuditQueryInvalidError);
      expect(sent).toEqual([]);
    },
  );

  it('reads each field once: a getter cannot turn hostile after the check', async () => {
    reads = 0;
    const sent = await statementsOf(() => audit.find(flipping as AuditQuery));
    expect(reads).toBe(1);
    expect(sent).toHaveLength(1);
    expect(sent[0][1]).toEqual([6]); // limit + 1, bound
  });

  it('binds the limit as a parameter', async () => {
    const sent = await statementsOf(() => audit.find({ limit: 2, type: 'find.test' }));
    expect(sent).toHaveLength(1);
    const [sql, params] = sent[0] as [string, unknown[]];
    expect(sql).toMatch(/LIMIT \$2\s*$/);
    expect(sql).not.toMatch(/LIMIT \d/);
    expect(params).toEqual(['find.test', 3]);
  });

  it('valid queries still answer: paging, details, bounds rounded to the stored millisecond', async () => {
    const first = await audit.find({ limit: 2, type: 'find.test' });
    expect(first.items.map((r) => r.details?.n)).toEqual([2, 1]);
    expect(first.nextCursor).not.toBeNull();
    const all = await audit.find({ limit: 10, type: 'find.test' });
    const second = await audit.find({
      limit: 2,
      type: 'find.test',
      beforeId: all.items[1].id,
    });
    expect(second.items.map((r) => r.details?.n)).toEqual([0]);
    const byDetails = await audit.find({ limit: 10, details: { n: 1, nested: { k: 'v' } } });
    expect(byDetails.items.map((r) => r.details?.n)).toEqual([1]);
    const proto = await audit.find({ limit: 10, details: JSON.parse('{"__proto__": {"x": 1}}') });
    expect(proto.items).toEqual([]);
    expect(({} as Record<string, unknown>).x).toBeUndefined();

    // from inclusive, to exclusive
    const t = (ms: number, extra = '') =>
      new Date(Date.UTC(2025, 4, 1, 12, 0, 0, ms)).toISOString().replace('Z', `${extra}Z`);
    const ns = async (q: Partial<AuditQuery>) =>
      (await audit.find({ limit: 10, type: 'find.test', ...q })).items.map((r) => r.details?.n);
    expect(await ns({ from: t(1), to: t(2) })).toEqual([1]);
    // 100 µs past records 0 and 2: PostgreSQL reads that exactly, and so must find()
    const [from, to] = [t(0, '1'), t(2, '1')];
    expect(await ns({ from, to })).toEqual([2, 1]);
    const direct = await query<{ n: number }>(
      db.url,
      `SELECT (details->>'n')::int AS n FROM audit_events WHERE type = 'find.test'
         AND occurred_at >= $1 AND occurred_at < $2 ORDER BY id DESC`,
      [from, to],
    );
    expect(direct.map((r) => r.n)).toEqual([2, 1]);
    // finer than PostgreSQL's microsecond: the exact meaning (record 0 lies before the bound)
    expect(await ns({ from: t(0, '0001') })).toEqual([2, 1]);
    expect(await ns({ from: '2025-05-01T14:00:00.001+02:00' })).toEqual([2, 1]);
    expect(await ns({ to: 'infinity' })).toEqual([2, 1, 0]);
  });

  it('AuditStore.search (the CLI path) checks the query too', async () => {
    const store = app.get(AuditStore);
    await expect(store.search({ limit: '1; DROP TABLE audit_events' } as never)).rejects.toThrow(
      AuditQueryInvalidError,
    );
    const [{ n }] = await query<{ n: number }>(
      db.url,
      'SELECT count(*)::int AS n FROM audit_events',
    );
    expect(n).toBe(3);
  });
});
