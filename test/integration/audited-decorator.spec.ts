import {
  Body,
  Controller,
  ForbiddenException,
  Get,
  Module,
  Param,
  Post,
  Put,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import fs from 'node:fs';
import { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { DataSource } from 'typeorm';
import { Audited, AuditModule, strikeguardMigrations } from '../../src/index.js';
import { request } from '../support/http.js';
import {
  createTestDatabase,
  describeWithPostgres,
  query,
  type TestDatabase,
} from '../support/postgres.js';

@Controller('invoices')
@Audited({ targetParam: 'id' })
class InvoicesController {
  @Get(':id')
  read(@Param('id') id: string) {
    return { id };
  }

  @Put(':id')
  @Audited({ targetParam: 'id', includeBody: true })
  update(@Param('id') id: string, @Body() body: unknown) {
    return { id, body };
  }

  @Post(':id/void')
  @Audited({ type: 'invoice.voided', targetParam: 'id' })
  void(@Param('id') id: string) {
    if (id === 'locked') throw new ForbiddenException('invoice is locked');
    return { id };
  }
}

describeWithPostgres('@Audited in a host app that imports only the library', () => {
  let db: TestDatabase;
  let app: Awaited<ReturnType<typeof NestFactory.create>>;
  let base: string;

  beforeAll(async () => {
    db = await createTestDatabase('audited');
    const logDir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sg-host-')), 'audit');
    @Module({
      imports: [
        TypeOrmModule.forRootAsync({
          useFactory: () => ({ type: 'postgres', url: db.url, migrations: strikeguardMigrations }),
          dataSourceFactory: async (options) => {
            const ds = await new DataSource(options!).initialize();
            await ds.runMigrations();
            return ds;
          },
        }),
        AuditModule.forRoot({ logDir, fsync: false }),
      ],
      controllers: [InvoicesController],
    })
    class HostModule {}
    app = await NestFactory.create(HostModule, { logger: false });
    await app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  const lastEvent = async () =>
    (
      await query<any>(
        db.url,
        'SELECT type, user_id, outcome, entity_type, target_id, details, method, path FROM audit_events ORDER BY id DESC LIMIT 1',
      )
    )[0];

  it('records a read with its CRUD action, route and target', async () => {
    expect((await request(base, 'GET', '/invoices/inv-1')).status).toBe(200);
    expect(await lastEvent()).toEqual({
      type: 'invoices.read',
      user_id: 'anonymous',
      outcome: 'success',
      entity_type: 'invoices',
      target_id: 'inv-1',
      details: { action: 'read', route: 'GET /invoices/:id', status: 200 },
      method: 'GET',
      path: '/invoices/inv-1',
    });
  });

  it('records the body only when asked, with secrets redacted', async () => {
    const before = await query<any>(db.url, 'SELECT count(*)::int AS n FROM audit_events');
    await request(base, 'PUT', '/invoices/inv-2', {
      body: { amount: 10, password: 'hunter2', nested: { apiToken: 'abc' } },
    });
    const after = await query<any>(db.url, 'SELECT count(*)::int AS n FROM audit_events');
    expect(after[0].n).toBe(before[0].n + 1); // on the class and the handler: still one record
    const event = await lastEvent();
    expect(event.type).toBe('invoices.update');
    expect(event.details.body).toEqual({
      amount: 10,
      password: '[REDACTED]',
      nested: { apiToken: '[REDACTED]' },
    });
  });

  it('records a failure with its status and keeps the error response', async () => {
    const res = await request(base, 'POST', '/invoices/locked/void');
    expect(res.status).toBe(403);
    expect(await lastEvent()).toMatchObject({
      type: 'invoice.voided',
      outcome: 'failure',
      details: { action: 'create', status: 403 },
    });
  });
});
