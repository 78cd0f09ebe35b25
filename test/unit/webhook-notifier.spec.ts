import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { type AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { type AuditRecord } from '../../src/audit/audit-record.js';
import { alertMessageId, WebhookNotifier } from '../../src/alerts/webhook-notifier.js';

const SECRET = `whsec_${randomBytes(32).toString('base64')}`;

const record: AuditRecord = {
  id: 41,
  occurredAt: '2026-12-01T12:00:00.000Z',
  type: 'account.blocked',
  userId: '42',
  actorId: null,
  outcome: 'success',
  threat: 'high',
  ip: null,
  method: null,
  path: null,
  entityType: 'strike_counter',
  targetId: '42',
  location: null,
  description: null,
  details: { blocker: 12, blockAt: 12 },
  prevHash: 'a'.repeat(64),
  hash: '0123456789abcdef'.repeat(4),
};

/** A local server: each path answers as its name says; every request it saw is kept. */
let server: http.Server;
let base: string;
const seen: { path: string; headers: http.IncomingHttpHeaders; body: string }[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ path: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString() });
      if (req.url === '/ok') res.writeHead(200).end('thanks');
      else if (req.url === '/moved') res.writeHead(302, { location: '/ok' }).end();
      else if (req.url === '/busy') res.writeHead(503, { 'retry-after': '7' }).end();
      else if (req.url === '/gone') res.writeHead(410).end();
      else if (req.url === '/slow') setTimeout(() => res.writeHead(200).end(), 1000);
      else res.writeHead(404).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});
beforeEach(() => {
  seen.length = 0;
});

const send = (path: string, timeoutMs = 2000) =>
  new WebhookNotifier({ url: base + path, secret: SECRET, timeoutMs }).send(record);

describe('WebhookNotifier', () => {
  it('POSTs the record signed, as Standard Webhooks receivers verify it', async () => {
    expect(await send('/ok')).toMatchObject({ ok: true, status: 200 });
    const [req] = seen;
    expect(req.headers['webhook-id']).toBe('sg_41_0123456789abcdef');
    expect(alertMessageId(record)).toBe('sg_41_0123456789abcdef');
    expect(new Webhook(SECRET).verify(req.body, req.headers as Record<string, string>)).toEqual({
      type: 'account.blocked',
      timestamp: '2026-12-01T12:00:00.000Z',
      data: record,
    });
  });

  it('does not follow a redirect: the signed alert goes to the configured URL only', async () => {
    expect(await send('/moved')).toMatchObject({
      ok: false,
      status: 302,
      kind: 'status',
      error: expect.stringMatching(/redirects are not followed/),
    });
    expect(seen.map((r) => r.path)).toEqual(['/moved']);
  });

  it("reports a receiver's Retry-After, and says what a 410 means", async () => {
    expect(await send('/busy')).toMatchObject({ ok: false, status: 503, retryAfterMs: 7000 });
    expect(await send('/gone')).toMatchObject({
      ok: false,
      status: 410,
      error: expect.stringMatching(/410 Gone.*kept and retried/),
    });
  });

  it('fails a request unanswered within the timeout, and a refused connection, without throwing', async () => {
    expect(await send('/slow', 200)).toMatchObject({
      ok: false,
      status: null,
      kind: 'timeout',
      error: 'no answer within 200 ms',
    });
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const refused = await new WebhookNotifier({
      url: `http://127.0.0.1:${port}/`,
      secret: SECRET,
    }).send(record);
    expect(refused).toMatchObject({
      ok: false,
      status: null,
      kind: 'connection',
      error: 'cannot connect: ECONNREFUSED',
    });
  });

  it('refuses a bad secret when it is built, not at the first alert', () => {
    expect(() => new WebhookNotifier({ url: base, secret: 'hunter2' })).toThrow(/whsec_/);
  });
});
