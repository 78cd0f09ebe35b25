import { Module, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import fs from 'node:fs';
import { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { externalEvent, readAuditLog } from '../support/audit-files.js';
import { request } from '../support/http.js';
import {
  createTestDatabase,
  describeWithPostgres,
  query,
  type TestDatabase,
} from '../support/postgres.js';
import { adminEnv, adminToken, newUser, startTestApp, type TestApp } from '../support/test-app.js';
import { AuditModule, strikeguardMigrations } from '../../src/index.js';
import { AuditApiModule } from '../../src/rest/index.js';

/** An event as JSON text, `extra` spliced in before the closing brace (so names can repeat). */
const eventText = (extra = '') => JSON.stringify(externalEvent()).replace(/}$/, `${extra}}`);
/** An event as JSON text whose details are the JSON text `details`. */
const withDetails = (details: string) =>
  JSON.stringify(externalEvent({ details: 'X' })).replace('"X"', details);

const rowCount = async (url: string) =>
  (await query<{ n: number }>(url, 'SELECT count(*)::int AS n FROM audit_events'))[0].n;

describeWithPostgres(
  'POST /audit/events takes only input a verifier can reproduce (I-JSON)',
  () => {
    let db: TestDatabase;
    let svc: TestApp;
    let admin: string;

    beforeAll(async () => {
      db = await createTestDatabase('ijson');
      svc = await startTestApp(db.url, adminEnv());
      admin = await adminToken(svc.base);
    });
    afterAll(async () => {
      await svc?.close();
      await db?.drop();
    });

    const post = (body: string | Buffer, contentType = 'application/json') =>
      fetch(`${svc.base}/audit/events`, {
        method: 'POST',
        headers: { authorization: `Bearer ${admin}`, 'content-type': contentType },
        body,
      }).then(async (res) => ({ status: res.status, body: (await res.json()) as any }));

    /** A 400 listing exactly `paths`, and nothing written: no row, no log line. */
    const expectRejected = async (body: string | Buffer, paths: string[], message?: RegExp) => {
      const [rows, lines] = [await rowCount(db.url), readAuditLog(svc.auditDir).length];
      const res = await post(body);
      expect(res.status).toBe(400);
      expect(res.body.errors.map((e: { path: string }) => e.path)).toEqual(paths);
      if (message) expect(res.body.errors[0].message).toMatch(message);
      expect(await rowCount(db.url)).toBe(rows);
      expect(readAuditLog(svc.auditDir)).toHaveLength(lines);
    };

    it.each([
      ['a top-level field', eventText(',"userId":"someone-else"'), ['userId']],
      ['a details member', withDetails('{"k":1,"k":2}'), ['details.k']],
      [
        'a name spelt with an escape',
        withDetails('{"currency":"EUR","\\u0063urrency":"USD"}'),
        ['details.currency'],
      ],
      [
        'a deep member, in a batch',
        `[${withDetails('{}')},${withDetails('{"a":[{"x":1},{"x":2,"y":{"z":0,"z":0}}]}')}]`,
        ['[1].details.a[1].y.z'],
      ],
      ['the empty name', withDetails('{"":1,"":2}'), ['details']],
      ['three times', withDetails('{"k":1,"k":2,"k":3}'), ['details.k', 'details.k']],
    ])('rejects a repeated member name (%s) with 400 listing its path', async (_, text, paths) => {
      await expectRejected(text, paths, /repeated member name/);
    });

    it('accepts what only looks like a repeated name: siblings, prefixes, quotes inside strings', async () => {
      const details =
        '{"k":1,"k2":2,"list":[{"k":1},{"k":2}],"s":"\\",\\"k\\":1,{\\"k\\":","k\\"":3}';
      const res = await post(withDetails(details));
      expect(res.status).toBe(201);
      const record = (
        await request(svc.base, 'GET', `/audit/events/${res.body.ids[0]}`, { token: admin })
      ).body;
      expect(record.details).toEqual(JSON.parse(details));
    });

    it.each([
      ['U+FFFE in a value', eventText().replace('"Lyon"', '"Ly\\ufffeon"'), ['location']],
      [
        'U+FFFF raw, in a details value',
        eventText().replace('"EUR"', '"EUR\uffff"'),
        ['details.currency'],
      ],
      ['U+FDD0 in a details key', eventText().replace('"amount"', '"\\ufdd0"'), ['details.\ufdd0']],
      [
        'U+10FFFF in the description',
        eventText().replace('"invoice paid"', '"\\udbff\\udfff"'),
        ['description'],
      ],
    ])('rejects a noncharacter (%s) with 400', async (_, text, paths) => {
      await expectRejected(text, paths, /noncharacter/);
    });

    it.each([
      '2026-03-01T10:15:30+05',
      '2026-03-01T10:15:30+0500',
      '2026-03-01 10:15:30Z',
      '2016-12-31T23:59:60Z',
      '2026-03-01T10:15Z',
    ])('rejects occurredAt %s (not RFC 3339, or a leap second)', async (occurredAt) => {
      await expectRejected(
        JSON.stringify(externalEvent({ occurredAt })),
        ['occurredAt'],
        /RFC 3339/,
      );
    });

    it('accepts an RFC 3339 offset with a colon and a lower-case t and z', async () => {
      const res = await post(
        JSON.stringify([
          externalEvent({ occurredAt: '2026-03-01T10:15:30+05:00' }),
          externalEvent({ occurredAt: '2026-03-01t10:15:30.25z' }),
        ]),
      );
      expect(res.status).toBe(201);
      const times = [];
      for (const id of res.body.ids)
        times.push(
          (await request(svc.base, 'GET', `/audit/events/${id}`, { token: admin })).body.occurredAt,
        );
      expect(times).toEqual(['2026-03-01T05:15:30.000Z', '2026-03-01T10:15:30.250Z']);
    });

    it('rejects bytes that are not UTF-8 (they would be recorded as U+FFFD)', async () => {
      const [head, tail] = eventText().split('Lyon');
      const bad = Buffer.concat([
        Buffer.from(`${head}Ly`),
        Buffer.from([0xff]),
        Buffer.from(`on${tail}`),
      ]);
      await expectRejected(bad, [''], /UTF-8/);
    });

    it('refuses JSON in another charset with 415, writing nothing', async () => {
      const rows = await rowCount(db.url);
      const res = await post(
        Buffer.from(eventText(), 'utf16le'),
        'application/json; charset=utf-16le',
      );
      expect(res.status).toBe(415);
      expect(res.body.message).toMatch(/UTF-8/);
      expect(await rowCount(db.url)).toBe(rows);
    });

    it('refuses an unblock reason the record could not hold with 400, not 500', async () => {
      const user = await newUser(svc.base);
      for (const reason of ['a\u0000b', 'a\ufffeb']) {
        const res = await request(svc.base, 'POST', `/admin/strikes/${user.id}/unblock`, {
          token: admin,
          body: { reason },
        });
        expect(res.status).toBe(400);
        expect(res.body.errors[0].path).toBe('reason');
      }
    });
  },
);

describeWithPostgres(
  'the audit API in a host app: the JSON text is checked whatever parses it',
  () => {
    let db: TestDatabase;
    const apps: INestApplication[] = [];

    beforeAll(async () => {
      db = await createTestDatabase('ijson_host');
    });
    afterAll(async () => {
      for (const app of apps) await app.close();
      await db?.drop();
    });

    async function host(rawBody: boolean): Promise<string> {
      const logDir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sg-ijson-')), 'audit');
      @Module({
        imports: [
          TypeOrmModule.forRoot({
            type: 'postgres',
            url: db.url,
            migrations: strikeguardMigrations,
            migrationsRun: true,
          }),
          AuditModule.forRoot({ logDir, fsync: false, logFile: `audit-${apps.length}.log` }),
          AuditApiModule.register({ authorize: () => true }),
        ],
      })
      class HostModule {}
      const app = await NestFactory.create(HostModule, { logger: false, rawBody });
      apps.push(app);
      await app.listen(0, '127.0.0.1');
      return `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
    }

    it('with Nest rawBody: true, a repeated name is a 400 and a clean event a 201', async () => {
      const base = await host(true);
      const dup = await request(base, 'POST', '/audit/events', {
        body: eventText(',"type":"other"'),
      });
      expect(dup.status).toBe(400);
      expect(dup.body.errors).toEqual([
        { path: 'type', message: expect.stringMatching(/repeated member name/) },
      ]);
      expect((await request(base, 'POST', '/audit/events', { body: eventText() })).status).toBe(
        201,
      );
    });

    it('without a raw body, refuses every submission with 503 naming the fix, and writes nothing', async () => {
      const base = await host(false);
      const rows = await rowCount(db.url);
      for (const body of [eventText(), eventText(',"type":"other"')]) {
        const res = await request(base, 'POST', '/audit/events', { body });
        expect(res.status).toBe(503);
        expect(res.body.message).toMatch(/rawBody: true/);
      }
      expect(await rowCount(db.url)).toBe(rows);
      expect((await request(base, 'GET', '/audit/verify')).body).toMatchObject({ ok: true });
    });
  },
);
