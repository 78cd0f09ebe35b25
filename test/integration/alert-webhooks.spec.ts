import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Webhook } from 'standardwebhooks';
import { verifyWebhook } from '../../src/index.js';
import { externalEvent } from '../support/audit-files.js';
import { responseChecker } from '../support/openapi.js';
import { request } from '../support/http.js';
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
  PASSWORD,
  startTestApp,
  type TestApp,
} from '../support/test-app.js';
import { startService } from '../support/service-process.js';
import { type ReceivedRequest, WebhookReceiver } from '../support/webhook-receiver.js';

const SECRET = `whsec_${randomBytes(32).toString('base64')}`;
const ALERT_TYPES = [
  'account.blocked',
  'session.terminated',
  'account.unblocked',
  'auth.lockout_started',
  'audit.verification_failed',
];

/** The service's alert settings, every interval short (a 500 ms timeout, 50 ms polls). */
const alertEnv = (url: string) => ({
  ALERT_WEBHOOK_URL: url,
  ALERT_WEBHOOK_SECRET: SECRET,
  ALERT_WEBHOOK_TIMEOUT: '500ms',
  ALERT_WEBHOOK_POLL_INTERVAL: '50ms',
  ALERT_WEBHOOK_RETRY_MAX: '200ms',
  ALERT_WEBHOOK_LEASE: '2s',
});

const auditIds = (requests: ReceivedRequest[]) => requests.map((r) => r.json.data.id as number);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Ids of the alert records in the table, in id order: what the receiver must get. */
async function alertIds(url: string): Promise<number[]> {
  const rows = await query<{ id: number }>(
    url,
    'SELECT id::int FROM audit_events WHERE type = ANY($1) ORDER BY id',
    [ALERT_TYPES],
  );
  return rows.map((r) => r.id);
}

async function waitForHealth(
  base: string,
  check: (body: any) => boolean,
  what: string,
): Promise<any> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const res = await request(base, 'GET', '/health');
    if (res.status === 200 && check(res.body)) return res.body;
    if (Date.now() > deadline)
      throw new Error(`/health never showed ${what}; last: ${res.status} ${res.text}`);
    await sleep(25);
  }
}

describeWithPostgres('alert webhooks of the reference service (ALERT_WEBHOOK_URL)', () => {
  let db: TestDatabase;
  let receiver: WebhookReceiver;

  beforeEach(async () => {
    db = await createTestDatabase('alerthooks');
    receiver = await WebhookReceiver.start();
  });
  afterEach(async () => {
    await receiver?.close();
    await db?.drop();
  });

  it('gets every alert of the real flows exactly once, in order, signed, after being down for a while; /health shows it degraded meanwhile', async () => {
    const svc: TestApp = await startTestApp(db.url, { ...adminEnv(), ...alertEnv(receiver.url) });
    try {
      const admin = await adminToken(svc.base);
      const probe = (token: string) => request(svc.base, 'GET', '/admin/strikes', { token });
      const login = (username: string, password = PASSWORD) =>
        request(svc.base, 'POST', '/auth/login', { body: { username, password } });
      expect((await request(svc.base, 'GET', '/health')).body).toMatchObject({
        status: 'ok',
        checks: { database: 'ok', auditLog: 'ok', alerts: 'ok' },
        alerts: { destination: 'default', role: 'delivering', healthy: true },
      });

      // Up: three probes terminate mallory's session.
      const mallory = await newUser(svc.base, 'mallory');
      for (let i = 0; i < 3; i++) expect((await probe(mallory.token)).status).toBe(403);
      await receiver.waitFor((r) => r.acknowledged().length === 1);

      // Down (connection refused): nine more probes block the account.
      await receiver.down();
      let token = (await login(mallory.username)).body.accessToken;
      for (let strike = 4; strike <= 12; strike++) {
        expect((await probe(token)).status).toBe(403);
        if (strike % 3 === 0 && strike < 12)
          token = (await login(mallory.username)).body.accessToken;
      }
      const down = await waitForHealth(
        svc.base,
        // Three more terminations and the block wait (the status is at most a poll old).
        (b) => b.alerts.consecutiveFailures >= 2 && b.alerts.lag === 4,
        'refused deliveries of 4 alerts',
      );
      const fits = await responseChecker((await request(svc.base, 'GET', '/docs-json')).body);
      expect(fits('GET', '/health', 200, down)).toEqual([]);
      expect(down).toMatchObject({
        status: 'degraded',
        checks: { database: 'ok', auditLog: 'ok', alerts: 'degraded' },
        alerts: { healthy: false, lastError: 'cannot connect: ECONNREFUSED', lag: 4 },
      });

      // Back, but failing (500): an admin unblocks; a guesser locks bob's login out.
      await receiver.up();
      receiver.mode = 'fail';
      const unblocked = await request(svc.base, 'POST', `/admin/strikes/${mallory.id}/unblock`, {
        token: admin,
        body: { reason: 'verified by phone' },
      });
      expect(unblocked.status).toBe(200);
      const bob = await newUser(svc.base, 'bob');
      for (let i = 0; i < 5; i++)
        expect((await login(bob.username, 'wrong-password-123')).status).toBe(401);
      await waitForHealth(svc.base, (b) => b.alerts.lastError === 'HTTP 500', 'a 500');

      // Slower than the timeout: someone edits a log line, and a verification finds it.
      receiver.mode = 'slow';
      receiver.slowMs = 1500;
      const logFile = path.join(svc.auditDir, 'audit.log');
      const lines = fs.readFileSync(logFile, 'utf8').split('\n');
      const victim = lines.findIndex((l) => l.includes('"strike.recorded"'));
      lines[victim] = lines[victim].replace('"strike.recorded"', '"strike.forgiven"');
      fs.writeFileSync(logFile, lines.join('\n')); // same inode: the service keeps appending
      const verdict = await request(svc.base, 'GET', '/audit/verify', { token: admin });
      expect(verdict.body).toMatchObject({ ok: false, reason: expect.stringMatching(/log file/) });
      await waitForHealth(
        svc.base,
        (b) => /no answer within 500 ms/.test(b.alerts.lastError ?? ''),
        'a timeout',
      );
      expect(receiver.acknowledged()).toHaveLength(1);

      // Up for good: everything that waited arrives, once each, in audit-id order.
      receiver.mode = 'ok';
      const expected = await alertIds(db.url);
      await receiver.waitFor((r) => r.acknowledged().length >= expected.length, 20_000);
      await sleep(300);
      const acknowledged = receiver.acknowledged();
      expect(auditIds(acknowledged)).toEqual(expected);
      expect(new Set(acknowledged.map((r) => r.json.type))).toEqual(new Set(ALERT_TYPES));
      expect(acknowledged.filter((r) => r.json.type === 'session.terminated')).toHaveLength(4);
      // Every request of the outage carried the alert that was next: none was skipped.
      const firstAttempts = receiver.requests.filter((r) => !r.acknowledged);
      expect(new Set(auditIds(firstAttempts))).toEqual(new Set([expected[1]]));

      for (const req of acknowledged) {
        const headers = req.headers as Record<string, string>;
        expect(verifyWebhook(SECRET, headers, req.body).id).toBe(
          `sg_${req.json.data.id}_${req.json.data.hash.slice(0, 16)}`,
        );
        expect(new Webhook(SECRET).verify(req.body, headers)).toEqual(req.json);
        const record = await request(svc.base, 'GET', `/audit/events/${req.json.data.id}`, {
          token: admin,
        });
        expect(req.json).toEqual({
          type: record.body.type,
          timestamp: record.body.occurredAt,
          data: record.body,
        });
      }
      const failure = acknowledged.find((r) => r.json.type === 'audit.verification_failed')!;
      expect(failure.json.data).toMatchObject({
        userId: 'system',
        threat: 'high',
        details: { firstInvalidId: verdict.body.firstInvalidId },
      });
      const recovered = await waitForHealth(svc.base, (b) => b.status === 'ok', 'recovery');
      expect(fits('GET', '/health', 200, recovered)).toEqual([]);
      const scraped = (await request(svc.base, 'GET', '/metrics')).text;
      const sample = (name: string) =>
        Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(scraped)?.[1] ?? NaN);
      expect(sample('strikeguard_alerts_lag\\{destination="default"\\}')).toBe(0);
      expect(
        sample('strikeguard_alerts_delivered_total\\{destination="default"\\}'),
      ).toBeGreaterThanOrEqual(expected.length);
      expect(
        sample('strikeguard_alerts_failures_total\\{destination="default",kind="connection"\\}'),
      ).toBeGreaterThanOrEqual(2);
      expect(recovered).toMatchObject({
        checks: { alerts: 'ok' },
        alerts: { healthy: true, lag: 0, consecutiveFailures: 0, cursor: expected.at(-1) },
      });
    } finally {
      await svc.close();
    }
  });

  it('after the deliverer is killed mid-request, its successor resends only that alert (same webhook-id), then goes on in order', async () => {
    const env = { DATABASE_URL: db.url, ...adminEnv(), ...alertEnv(receiver.url) };
    const first = await startService({ env });
    const admin = await adminToken(first.base);
    const submit = async (base: string, token: string, types: string[]) => {
      const res = await request(base, 'POST', '/audit/events', {
        token,
        body: types.map((type, i) => externalEvent({ type, userId: `user-${i}`, threat: 'high' })),
      });
      expect(res.status).toBe(201);
      return res.body.ids as number[];
    };

    receiver.mode = 'hold';
    const before = await submit(first.base, admin, [
      'account.blocked',
      'ext.payment',
      'session.terminated',
      'auth.lockout_started',
    ]);
    await receiver.waitFor((r) => r.requests.length === 1);
    await first.kill(); // SIGKILL while the receiver holds the first alert
    receiver.release();
    receiver.mode = 'ok';

    const second = await startService({ env });
    const secondAdmin = await adminToken(second.base);
    const after = await submit(second.base, secondAdmin, ['account.unblocked']);
    const expected = [before[0], before[2], before[3], after[0]];
    // The dead holder's lease (2 s) lapses, then the new process takes over from the cursor.
    await receiver.waitFor((r) => r.acknowledged().length >= 4, 15_000);
    await sleep(300);

    expect(auditIds(receiver.requests)).toEqual([before[0], ...expected]);
    expect(receiver.requests[0].headers['webhook-id']).toBe(
      receiver.requests[1].headers['webhook-id'],
    );
    expect(auditIds(receiver.acknowledged())).toEqual(expected);
    const health = (await request(second.base, 'GET', '/health')).body;
    expect(health.alerts).toMatchObject({ role: 'delivering', cursor: after[0], lag: 0 });
    expect(second.output()).toMatch(/took over from .* whose lease lapsed/);
    await second.stop();
  });

  it('nothing is sent for types outside ALERT_WEBHOOK_TYPES; the service refuses half a configuration', async () => {
    const svc = await startTestApp(db.url, {
      ...adminEnv(),
      ...alertEnv(receiver.url),
      ALERT_WEBHOOK_TYPES: 'ext.payment',
    });
    try {
      const admin = await adminToken(svc.base);
      const user = await newUser(svc.base);
      for (let i = 0; i < 3; i++)
        await request(svc.base, 'GET', '/admin/strikes', { token: user.token });
      const res = await request(svc.base, 'POST', '/audit/events', {
        token: admin,
        body: externalEvent({ type: 'ext.payment' }),
      });
      expect(res.status).toBe(201);
      await receiver.waitFor((r) => r.acknowledged().length >= 1);
      await sleep(300);
      expect(auditIds(receiver.requests)).toEqual(res.body.ids);
    } finally {
      await svc.close();
    }
    await expect(startTestApp(db.url, { ALERT_WEBHOOK_URL: receiver.url })).rejects.toThrow(
      /ALERT_WEBHOOK_SECRET is required with ALERT_WEBHOOK_URL/,
    );
  });
});
