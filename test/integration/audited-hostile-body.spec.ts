import {
  Body,
  Controller,
  ForbiddenException,
  Module,
  Param,
  Put,
  type INestApplication,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { type NestExpressApplication } from '@nestjs/platform-express';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Audited, validateSubmission } from '../../src/index.js';
import { AuditApiModule } from '../../src/rest/index.js';
import { request } from '../support/http.js';
import { auditImports } from '../support/strikeguard-imports.js';
import {
  createTestDatabase,
  describeWithPostgres,
  query,
  type TestDatabase,
} from '../support/postgres.js';

/** What the handlers changed: the change a record must never be missing for. */
const applied = new Map<string, unknown>();

@Controller('documents')
class DocumentsController {
  @Put(':id')
  @Audited({ targetParam: 'id', includeBody: true })
  update(@Param('id') id: string, @Body() body: unknown) {
    if (id.startsWith('locked-')) throw new ForbiddenException('document is locked');
    applied.set(id, body);
    return { id, saved: true };
  }
}

const nested = (depth: number, open: string, close: string, leaf: string) =>
  open.repeat(depth) + leaf + close.repeat(depth);

/** Hostile bodies, as the JSON text a client sends (escapes reach the handler decoded). */
const HOSTILE: [string, string][] = [
  ['a NUL in a string', '{"note":"a\\u0000b","n":1}'],
  ['a NUL in a key', '{"a\\u0000":1}'],
  ['a lone high surrogate', '{"note":"\\ud800x"}'],
  ['lone surrogates in a key and its value', '{"\\udc00":"\\udbff"}'],
  [
    'noncharacters (U+FFFE, U+FFFF, U+FDD0, U+10FFFF)',
    '{"\\ufdd0":"\\ufffe\\uffff\\udbff\\udfff"}',
  ],
  ['two keys that are the same once cleaned', '{"a\\u0000":1,"a\\ufffd":2}'],
  ['1e400 and -1e400', '{"amount":1e400,"neg":-1e400,"list":[1,1e400]}'],
  ['over 64 kB', JSON.stringify({ blob: 'x'.repeat(70_000) })],
  [
    'over 64 kB of escapes and astral characters',
    JSON.stringify({ b: '"\\\u0001😀é'.repeat(9_000) }),
  ],
  ['1,000 NULs', JSON.stringify(Array.from({ length: 1000 }, (_, i) => `${i}\u0000`))],
  ['objects nested 70 deep', nested(70, '{"a":', '}', '1')],
  ['arrays nested 70 deep', nested(70, '[', ']', '"leaf"')],
  ['a "__proto__" member', '{"__proto__":{"isAdmin":true},"a":1}'],
  [
    'everything at once',
    `{"deep":${nested(40, '{"k\\u0000":', '}', '1e400')},"big":"${'\\ud800'.repeat(30_000)}"}`,
  ],
];

describeWithPostgres('@Audited with includeBody: a hostile body never costs its record', () => {
  let db: TestDatabase;
  let app: INestApplication;
  let base: string;

  beforeAll(async () => {
    db = await createTestDatabase('audited_hostile');
    const logDir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sg-hostile-')), 'audit');
    @Module({
      imports: [
        ...auditImports(db.url, logDir),
        AuditApiModule.register({ authorize: () => true }),
      ],
      controllers: [DocumentsController],
    })
    class HostModule {}
    const host = await NestFactory.create<NestExpressApplication>(HostModule, { logger: false });
    host.useBodyParser('json', { limit: '2mb' });
    app = host;
    await app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  const recordsOf = (targetId: string) =>
    query<any>(
      db.url,
      `SELECT id, type, user_id AS "userId", outcome, threat, entity_type AS "entityType",
              target_id AS "targetId", ip, location, description, details
         FROM audit_events WHERE target_id = $1 ORDER BY id`,
      [targetId],
    );

  /** The stored record holds only what the published format accepts. */
  const expectValid = (record: any) => {
    const { id: _id, ...event } = record;
    expect(validateSubmission(event).errors).toEqual([]);
    expect(Buffer.byteLength(JSON.stringify(record.details))).toBeLessThanOrEqual(64 * 1024);
  };

  it.each(HOSTILE)(
    'with %s: the change happened, its record exists, validates and verifies, the client gets the handler answer',
    async (_, text) => {
      const id = randomUUID();
      const res = await request(base, 'PUT', `/documents/${id}`, { body: text });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ id, saved: true });
      expect(applied.has(id)).toBe(true);
      const records = await recordsOf(id);
      expect(records).toHaveLength(1);
      const [record] = records;
      expect(record).toMatchObject({
        type: 'documents.update',
        outcome: 'success',
        details: { action: 'update', route: 'PUT /documents/:id', status: 200 },
      });
      expect(record.details).toHaveProperty('body');
      expectValid(record);
      const one = await request(base, 'GET', `/audit/verify/${record.id}`);
      expect(one.body).toMatchObject({ ok: true });
    },
  );

  it('says what it cleaned: U+FFFD for NUL and lone surrogates, strings for 1e400, both colliding keys kept', async () => {
    const put = async (text: string) => {
      const id = randomUUID();
      expect((await request(base, 'PUT', `/documents/${id}`, { body: text })).status).toBe(200);
      return (await recordsOf(id))[0].details;
    };
    expect(await put('{"note":"a\\u0000b","n":1}')).toMatchObject({
      body: { note: 'a\uFFFDb', n: 1 },
      bodyCleaned: ['body.note'],
    });
    expect(await put('{"\\udc00":"\\udbff"}')).toMatchObject({
      body: { '\uFFFD': '\uFFFD' },
      bodyCleaned: ['body.\uFFFD', 'body.\uFFFD'],
    });
    expect(await put('{"a\\u0000":1,"a\\ufffd":2}')).toMatchObject({
      body: { 'a\uFFFD': 1, 'a\uFFFD~': 2 },
      bodyCleaned: ['body.a\uFFFD', 'body.a\uFFFD~'],
    });
    const numbers = await put('{"amount":1e400,"neg":-1e400,"list":[1,1e400]}');
    expect(numbers).toMatchObject({
      body: { amount: 'Infinity', neg: '-Infinity', list: [1, 'Infinity'] },
      bodyCleaned: ['body.amount', 'body.neg', 'body.list[1]'],
    });
    expect(numbers).not.toHaveProperty('bodyTruncated');
    const many = await put(JSON.stringify(Array.from({ length: 1000 }, (_, i) => `${i}\u0000`)));
    expect(many.bodyCleaned).toHaveLength(11);
    expect(many.bodyCleaned[10]).toBe('... and 990 more');
    expect(many.body[999]).toBe('999\uFFFD');
  });

  it('cuts a body over 64 kB to the longest prefix of its JSON that fits, and marks it', async () => {
    const id = randomUUID();
    const sent = { blob: 'x'.repeat(70_000) };
    await request(base, 'PUT', `/documents/${id}`, { body: sent });
    const { details } = (await recordsOf(id))[0];
    expect(details.bodyTruncated).toBe(true);
    expect(details.bodyBytes).toBe(Buffer.byteLength(JSON.stringify(sent)));
    expect(typeof details.body).toBe('string');
    expect(JSON.stringify(sent).startsWith(details.body)).toBe(true);
    // as long as it can be: one more character would not fit
    expect(Buffer.byteLength(JSON.stringify(details))).toBe(64 * 1024);
  });

  it('cuts nesting past 32 levels with a marker, and marks the body truncated', async () => {
    const id = randomUUID();
    await request(base, 'PUT', `/documents/${id}`, { body: nested(70, '{"a":', '}', '1') });
    const { details } = (await recordsOf(id))[0];
    expect(details.bodyTruncated).toBe(true);
    let node = details.body;
    let levels = 0;
    while (node && typeof node === 'object') {
      node = node.a;
      levels++;
    }
    expect(levels).toBe(32);
    expect(node).toBe('[TRUNCATED: nested deeper than 32 levels]');
  });

  it('keeps a "__proto__" member as data, in the table and through the hash', async () => {
    const id = randomUUID();
    await request(base, 'PUT', `/documents/${id}`, {
      body: '{"__proto__":{"isAdmin":true,"password":"p"},"a":1}',
    });
    const [record] = await recordsOf(id);
    // jsonb orders members by length: compare as sets
    expect(Object.keys(record.details.body).sort()).toEqual(['__proto__', 'a']);
    expect(Object.getOwnPropertyDescriptor(record.details.body, '__proto__')?.value).toEqual({
      isAdmin: true,
      password: '[REDACTED]',
    });
    expect(record.details.body.isAdmin).toBeUndefined();
  });

  it('records a refused call with a hostile body as a failure, and keeps the refusal', async () => {
    const id = `locked-${randomUUID()}`;
    const res = await request(base, 'PUT', `/documents/${id}`, {
      body: '{"note":"\\u0000","n":1e400}',
    });
    expect(res.status).toBe(403);
    const [record] = await recordsOf(id);
    expect(record).toMatchObject({
      outcome: 'failure',
      details: { status: 403, body: { note: '\uFFFD', n: 'Infinity' } },
    });
    expectValid(record);
    expect(applied.has(id)).toBe(false);
  });

  it('leaves a chain that verifies as a whole', async () => {
    const res = await request(base, 'GET', '/audit/verify');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ ok: true });
  });
});
