import { type INestApplicationContext, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { register } from 'prom-client';
import { Webhook } from 'standardwebhooks';
import {
  AlertsModule,
  type AlertsModuleOptions,
  AlertsService,
  AlertsSetupError,
  AuditModule,
  type AuditRecord,
  AuditService,
  verifyWebhook,
} from '../../src/index.js';
import {
  createTestDatabase,
  describeWithPostgres,
  query,
  type TestDatabase,
} from '../support/postgres.js';
import { auditImports } from '../support/strikeguard-imports.js';
import { type ReceivedRequest, WebhookReceiver } from '../support/webhook-receiver.js';

const SECRET = `whsec_${randomBytes(32).toString('base64')}`;
/** Short everything: a test waits tens of milliseconds where an operator's service waits seconds. */
const FAST = {
  pollIntervalMs: 50,
  retryBaseMs: 50,
  retryMaxMs: 200,
  timeoutMs: 500,
  // Long enough that a stalled test machine never lets it lapse under a live deliverer.
  leaseMs: 5000,
} satisfies Partial<AlertsModuleOptions>;

interface Host {
  app: INestApplicationContext;
  audit: AuditService;
  alerts: AlertsService;
  close(): Promise<void>;
}

const logDir = () => path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sg-alerts-')), 'audit');

/** A host app: TypeORM with the library's migrations, AuditModule and AlertsModule. */
async function startHost(url: string, alerts: AlertsModuleOptions): Promise<Host> {
  @Module({ imports: [...auditImports(url, logDir()), AlertsModule.forRoot(alerts)] })
  class HostModule {}
  const app = await NestFactory.createApplicationContext(HostModule, { logger: false });
  await app.init();
  return {
    app,
    audit: app.get(AuditService),
    alerts: app.get(AlertsService),
    close: () => app.close(),
  };
}

const alert = (type: string, userId = 'u-1') => ({ type, userId, threat: 'high' as const });

/** What a receiver sees of one request: the audit id it carries, and its webhook-id. */
const ids = (requests: ReceivedRequest[]) => requests.map((r) => r.json.data.id as number);

async function metricValue(name: string, labels: Record<string, string>): Promise<number> {
  const metric = await register.getSingleMetric(name)!.get();
  return metric.values
    .filter((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))
    .reduce((sum, v) => sum + v.value, 0);
}

async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describeWithPostgres('AlertsModule: audit records of the alert types, to a webhook', () => {
  let db: TestDatabase;
  let receiver: WebhookReceiver;
  const hosts: Host[] = [];
  const host = async (options: Partial<AlertsModuleOptions> = {}) => {
    const h = await startHost(db.url, { url: receiver.url, secret: SECRET, ...FAST, ...options });
    hosts.push(h);
    return h;
  };

  beforeEach(async () => {
    db = await createTestDatabase('alerts');
    receiver = await WebhookReceiver.start();
  });
  afterEach(async () => {
    for (const h of hosts.splice(0)) await h.close().catch(() => undefined);
    await receiver?.close();
    await db?.drop();
  });

  it('POSTs each alert once, in id order, signed, the audit record as data; nothing else', async () => {
    const h = await host();
    const recorded: AuditRecord[] = [];
    for (const type of [
      'account.blocked',
      'strike.recorded',
      'session.terminated',
      'user.registered',
      'account.unblocked',
      'auth.login_failed',
      'auth.lockout_started',
      'audit.verification_failed',
    ])
      recorded.push(await h.audit.record(alert(type)));
    const alerts = recorded.filter(
      (r) => !['strike.recorded', 'user.registered', 'auth.login_failed'].includes(r.type),
    );

    await receiver.waitFor((r) => r.acknowledged().length >= alerts.length);
    await new Promise((resolve) => setTimeout(resolve, 5 * FAST.pollIntervalMs));
    expect(ids(receiver.requests)).toEqual(alerts.map((r) => r.id));
    for (const [i, req] of receiver.requests.entries()) {
      const record = (await h.audit.findById(alerts[i].id))!;
      expect(req.json).toEqual({ type: record.type, timestamp: record.occurredAt, data: record });
      expect(req.headers['content-type']).toBe('application/json');
      expect(req.headers['webhook-id']).toBe(`sg_${record.id}_${record.hash.slice(0, 16)}`);
      expect(verifyWebhook(SECRET, req.headers as Record<string, string>, req.body).id).toBe(
        req.headers['webhook-id'],
      );
      expect(new Webhook(SECRET).verify(req.body, req.headers as Record<string, string>)).toEqual(
        req.json,
      );
    }
    expect(h.alerts.status()).toMatchObject({
      destination: 'default',
      role: 'delivering',
      healthy: true,
      cursor: alerts.at(-1)!.id,
      lag: 0,
      consecutiveFailures: 0,
      lastError: null,
    });
  });

  it('keeps every alert while the receiver refuses, fails and times out; each arrives once, in order, when it is back', async () => {
    const h = await host();
    const failuresBefore = await metricValue('strikeguard_alerts_failures_total', {});
    const recorded: AuditRecord[] = [];
    const record = async (type: string) => recorded.push(await h.audit.record(alert(type)));

    await receiver.down(); // connection refused
    await record('account.blocked');
    await record('session.terminated');
    await until(
      () => h.alerts.status().consecutiveFailures >= 2 && h.alerts.status().lag === 2,
      'refused attempts, both alerts waiting',
    );
    expect(h.alerts.status()).toMatchObject({
      healthy: false,
      lastError: 'cannot connect: ECONNREFUSED',
      lag: 2,
      cursor: 0,
    });

    await receiver.up();
    receiver.mode = 'fail'; // 500
    await record('auth.lockout_started');
    await until(() => h.alerts.status().lastError === 'HTTP 500', 'a 500');
    receiver.mode = 'slow'; // answers after the 500 ms timeout
    receiver.slowMs = 1500;
    await until(
      () => /no answer within 500 ms/.test(h.alerts.status().lastError ?? ''),
      'a timeout',
    );
    await record('account.unblocked');
    expect(h.alerts.status()).toMatchObject({ healthy: false, lag: expect.any(Number) });
    // Every attempt so far was for the first alert: a failed one is never skipped.
    expect(new Set(ids(receiver.requests))).toEqual(new Set([recorded[0].id]));
    expect(receiver.acknowledged()).toEqual([]);

    receiver.mode = 'ok';
    await receiver.waitFor((r) => r.acknowledged().length >= 4, 10_000);
    await new Promise((resolve) => setTimeout(resolve, 5 * FAST.pollIntervalMs));
    expect(ids(receiver.acknowledged())).toEqual(recorded.map((r) => r.id));
    expect(h.alerts.status()).toMatchObject({
      healthy: true,
      lag: 0,
      consecutiveFailures: 0,
      cursor: recorded.at(-1)!.id,
    });
    const [row] = await query(
      db.url,
      'SELECT last_id::int, failures, last_error FROM alert_cursors',
    );
    expect(row).toEqual({ last_id: recorded.at(-1)!.id, failures: 0, last_error: null });
    expect(await metricValue('strikeguard_alerts_failures_total', {})).toBeGreaterThan(
      failuresBefore + 3,
    );
    expect(
      await metricValue('strikeguard_alerts_failures_total', { kind: 'timeout' }),
    ).toBeGreaterThanOrEqual(1);
  });

  it('delivers from one instance at a time; when it stops, a standby goes on from its cursor', async () => {
    const a = await host();
    const b = await host();
    await until(
      () =>
        [a, b]
          .map((h) => h.alerts.status().role)
          .sort()
          .join() === 'delivering,standby',
      'one deliverer and one standby',
    );
    const [leader, standby] = a.alerts.status().role === 'delivering' ? [a, b] : [b, a];
    const recorded: AuditRecord[] = [];
    for (let i = 0; i < 5; i++)
      recorded.push(await standby.audit.record(alert('account.blocked', `u-${i}`)));
    await receiver.waitFor((r) => r.acknowledged().length >= 5);

    await leader.close(); // drains, then gives the lease up
    for (let i = 5; i < 8; i++)
      recorded.push(await standby.audit.record(alert('session.terminated', `u-${i}`)));
    await receiver.waitFor((r) => r.acknowledged().length >= 8);
    await new Promise((resolve) => setTimeout(resolve, 5 * FAST.pollIntervalMs));

    expect(ids(receiver.requests)).toEqual(recorded.map((r) => r.id));
    expect(receiver.maxConcurrent).toBe(1);
    expect(standby.alerts.status()).toMatchObject({
      role: 'delivering',
      cursor: recorded.at(-1)!.id,
    });
  });

  it('on shutdown lets the request in flight finish and saves its cursor: no resend after a restart', async () => {
    const h = await host();
    receiver.mode = 'hold';
    const first = await h.audit.record(alert('account.blocked'));
    await receiver.waitFor((r) => r.requests.length === 1);
    const closing = h.close();
    hosts.splice(hosts.indexOf(h), 1);
    await new Promise((resolve) => setTimeout(resolve, 200));
    receiver.release();
    await closing;
    expect(receiver.acknowledged()).toHaveLength(1);
    const [row] = await query(db.url, 'SELECT last_id::int, holder FROM alert_cursors');
    expect(row).toEqual({ last_id: first.id, holder: null });

    receiver.mode = 'ok';
    const again = await host();
    const second = await again.audit.record(alert('account.unblocked'));
    await receiver.waitFor((r) => r.acknowledged().length >= 2);
    await new Promise((resolve) => setTimeout(resolve, 5 * FAST.pollIntervalMs));
    expect(ids(receiver.requests)).toEqual([first.id, second.id]);
  });

  it('a new destination starts at the chain head ("now") or at the first record ("beginning")', async () => {
    const seed = await host({ name: 'seed', url: 'http://127.0.0.1:9/unused' });
    const before = await seed.audit.record(alert('account.blocked'));
    await seed.close();
    hosts.splice(hosts.indexOf(seed), 1);

    const h = await host({ name: 'from-now' });
    const after = await h.audit.record(alert('account.blocked'));
    await receiver.waitFor((r) => r.acknowledged().length >= 1);
    await h.close();
    hosts.splice(hosts.indexOf(h), 1);
    expect(ids(receiver.requests)).toEqual([after.id]);

    await host({ name: 'from-beginning', startAt: 'beginning' });
    await receiver.waitFor((r) => r.acknowledged().length >= 3);
    expect(ids(receiver.requests)).toEqual([after.id, before.id, after.id]);
    const rows = await query(
      db.url,
      'SELECT destination, last_id::int FROM alert_cursors ORDER BY destination',
    );
    expect(rows).toEqual([
      { destination: 'from-beginning', last_id: after.id },
      { destination: 'from-now', last_id: after.id },
      { destination: 'seed', last_id: before.id - 1 },
    ]);
  });

  it('refuses to start without AuditModule, and without the migration, saying what to add', async () => {
    @Module({ imports: [AlertsModule.forRoot({ url: receiver.url, secret: SECRET })] })
    class WithoutAudit {}
    const failure = await NestFactory.createApplicationContext(WithoutAudit, {
      logger: false,
      abortOnError: false,
    }).then(
      () => null,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(AlertsSetupError);
    expect((failure as Error).message).toMatch(
      /AlertsModule needs AuditModule .*: add AuditModule\.forRoot/,
    );

    // The audit migration alone (as before this version): alert_cursors is missing.
    await host({}).then((h) => h.close()); // runs every migration once
    hosts.length = 0;
    await query(db.url, 'DROP TABLE alert_cursors');
    @Module({
      imports: [
        TypeOrmModule.forRoot({ type: 'postgres', url: db.url }),
        AuditModule.forRoot({ logDir: logDir(), fsync: false }),
        AlertsModule.forRoot({ url: receiver.url, secret: SECRET }),
      ],
    })
    class WithoutMigration {}
    await expect(
      NestFactory.createApplicationContext(WithoutMigration, {
        logger: false,
        abortOnError: false,
      }),
    ).rejects.toThrow(/alert_cursors does not exist .*Add strikeguardMigrations/);
  });
});
