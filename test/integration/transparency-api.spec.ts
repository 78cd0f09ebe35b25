import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import {
  CHECKPOINT_FILE,
  generateNoteKey,
  leafHash,
  openNote,
  parseCheckpoint,
  parseVerifierKey,
  verifyConsistency,
  TransparencyLogService,
  verifyInclusion,
} from '../../src/index.js';
import { externalEvent } from '../support/audit-files.js';
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
import { rewriteHistory } from '../support/rewrite-history.js';

const ORIGIN = 'api.test/audit';
const b64 = (s: string) => Buffer.from(s, 'base64');

/** The transparency log as the reference service serves it (issue 11). */
describeWithPostgres('GET /audit/log/* on the reference service', () => {
  let db: TestDatabase;
  let svc: TestApp;
  let admin: string;
  const key = generateNoteKey(ORIGIN);
  const env = () => ({
    ...adminEnv(),
    AUDIT_LOG_ORIGIN: ORIGIN,
    AUDIT_SIGNING_KEY: key.signerKey,
    AUDIT_CHECKPOINT_INTERVAL: '1s',
  });
  const get = (p: string, token: string | null = admin) =>
    request(svc.base, 'GET', p, { token: token ?? undefined });
  /** The checkpoint served once it covers at least `size` records. */
  const checkpointOf = async (size: number) => {
    for (let i = 0; i < 100; i++) {
      const res = await get('/audit/log/checkpoint');
      if (res.status === 200) {
        const c = parseCheckpoint(openNote(res.text, [parseVerifierKey(key.verifierKey)]).text);
        if (c.size >= size) return { ...c, res };
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`no checkpoint of ${size} records within 10 s`);
  };

  beforeAll(async () => {
    db = await createTestDatabase('sg_tlog_api');
    svc = await startTestApp(db.url, env());
    admin = await adminToken(svc.base);
  });

  afterAll(async () => {
    await svc?.close();
    await db?.drop();
  });

  it('serves the verifier key, and a signed checkpoint (no-store) that covers new records within seconds', async () => {
    const keyRes = await get('/audit/log/key');
    expect(keyRes.status).toBe(200);
    expect(keyRes.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(keyRes.text).toBe(`${key.verifierKey}\n`);
    for (let i = 0; i < 30; i++)
      expect(
        (
          await request(svc.base, 'POST', '/audit/events', {
            token: admin,
            body: externalEvent({ userId: `u${i}` }),
          })
        ).status,
      ).toBe(201);
    const { size } = await query<{ size: string }>(
      db.url,
      `SELECT last_id::text AS size FROM audit_chain_head`,
    ).then((r) => ({ size: Number(r[0].size) }));
    const c = await checkpointOf(size);
    expect(c.origin).toBe(ORIGIN);
    expect(c.res.headers.get('cache-control')).toBe('no-store');
    expect(c.res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(fs.readFileSync(path.join(svc.auditDir, CHECKPOINT_FILE), 'utf8')).toBe(c.res.text);
    // /health and the metrics show the tree and the checkpoint (this instance's last pass).
    let health = await request(svc.base, 'GET', '/health');
    for (let i = 0; i < 50 && (health.body.transparencyLog?.checkpoint?.size ?? 0) < c.size; i++) {
      await new Promise((r) => setTimeout(r, 100));
      health = await request(svc.base, 'GET', '/health');
    }
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({
      status: 'ok',
      checks: { transparencyLog: 'ok' },
      transparencyLog: {
        healthy: true,
        signing: 'ok',
        passes: 'ok',
        checkpoint: { size: expect.any(Number), signedAt: expect.any(String) },
        witnesses: [],
      },
    });
    expect(health.body.transparencyLog.checkpoint.size).toBeGreaterThanOrEqual(c.size);
    expect(health.body.transparencyLog.treeSize).toBeGreaterThanOrEqual(c.size);
    const text = (await request(svc.base, 'GET', '/metrics')).text;
    const metric = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
    expect(metric('strikeguard_transparency_checkpoint_size')).toBeGreaterThanOrEqual(c.size);
    expect(metric('strikeguard_transparency_tree_size')).toBeGreaterThanOrEqual(c.size);
    expect(metric('strikeguard_transparency_signing_refused')).toBe(0);
    expect(
      Date.now() / 1000 - metric('strikeguard_transparency_checkpoint_timestamp_seconds'),
    ).toBeLessThan(60);
  });

  it('proves every record included in the served checkpoint, and two checkpoints consistent', async () => {
    const first = await checkpointOf(1);
    const rows = await query<{ id: string; hash: string }>(
      db.url,
      `SELECT id::text, hash FROM audit_events WHERE id <= $1 ORDER BY id`,
      [first.size],
    );
    for (const r of rows) {
      const res = await get(`/audit/log/proof/inclusion?id=${r.id}`);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ index: Number(r.id) - 1, size: first.size });
      expect(b64(res.body.leafHash)).toEqual(leafHash(Buffer.from(r.hash, 'hex')));
      verifyInclusion(
        res.body.index,
        res.body.size,
        b64(res.body.leafHash),
        res.body.proof.map(b64),
        first.root,
      );
    }
    await newUser(svc.base, 'grower'); // more records
    const second = await checkpointOf(first.size + 1);
    const res = await get(`/audit/log/proof/consistency?from=${first.size}&to=${second.size}`);
    expect(res.status).toBe(200);
    verifyConsistency(first.size, second.size, res.body.proof.map(b64), first.root, second.root);
  });

  it('answers 401 without a token, 403 to a plain user, and lets an auditor read', async () => {
    expect((await get('/audit/log/checkpoint', null)).status).toBe(401);
    // Each 403 is a strike: a plain user is refused three times, then the third strike ends its session.
    const user = await newUser(svc.base, 'plain');
    for (const p of ['/audit/log/checkpoint', '/audit/log/key', '/audit/log/proof/inclusion?id=1'])
      expect([p, (await get(p, user.token)).status]).toEqual([p, 403]);
    expect((await get('/audit/log/proof/consistency?from=1&to=2', user.token)).status).toBe(401);
    const auditor = await newUser(svc.base, 'auditor');
    await query(db.url, `UPDATE users SET role = 'auditor' WHERE id = $1`, [auditor.id]);
    const fresh = await request(svc.base, 'POST', '/auth/login', {
      body: { username: auditor.username, password: PASSWORD },
    });
    expect(
      (await get('/audit/log/checkpoint', fresh.body.accessToken ?? auditor.token)).status,
    ).toBe(200);
  });

  it('answers hostile parameters 400 naming the parameter, ranges outside the tree 404, never 500', async () => {
    const cases: [string, number, RegExp][] = [
      ['/audit/log/proof/inclusion', 400, /id/],
      ['/audit/log/proof/inclusion?id=0', 400, /id/],
      ['/audit/log/proof/inclusion?id=-1', 400, /id/],
      ['/audit/log/proof/inclusion?id=1e3', 400, /id/],
      ['/audit/log/proof/inclusion?id=1%27%20OR%201=1', 400, /id/],
      ['/audit/log/proof/inclusion?id=1&id=2', 400, /id/],
      ['/audit/log/proof/inclusion?id=5&size=4', 400, /greater than size/],
      ['/audit/log/proof/inclusion?id=1&size=99999999999', 404, /holds/],
      ['/audit/log/proof/inclusion?id=99999999', 404, /not in the tree/],
      ['/audit/log/proof/inclusion?id=1&extra=1', 400, /extra/],
      ['/audit/log/proof/consistency?from=3&to=2', 400, /from/],
      ['/audit/log/proof/consistency?from=1', 400, /to/],
      ['/audit/log/proof/consistency?from=1&to=99999999999', 404, /holds/],
      ['/audit/log/checkpoint?x=1', 400, /x/],
      ['/audit/log/key?x=1', 400, /x/],
    ];
    for (const [p, status, message] of cases) {
      const res = await get(p);
      expect([p, res.status]).toEqual([p, status]);
      expect([p, JSON.stringify(res.body)]).toEqual([p, expect.stringMatching(message)]);
    }
  });

  it('after the database owner rewrites record 10 and restarts the service, it refuses to sign and says why', async () => {
    const before = await checkpointOf(1);
    await svc.close();
    const sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
    try {
      await rewriteHistory(sql, 10, svc.auditDir);
    } finally {
      await sql.end();
    }
    svc = await startTestApp(db.url, { ...env(), AUDIT_LOG_DIR: svc.auditDir });
    admin = await adminToken(svc.base); // a new record: the tree would grow
    await new Promise((r) => setTimeout(r, 2500));
    expect((await svc.app.get(TransparencyLogService).status()).signingError).toMatch(
      /is not an extension of the published checkpoint .*history before it was rewritten/,
    );
    // The operator sees it without a token: /health degraded (no paths or roots in it), a metric.
    const health = await request(svc.base, 'GET', '/health');
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({
      status: 'degraded',
      checks: { database: 'ok', auditLog: 'ok', transparencyLog: 'degraded' },
      transparencyLog: { healthy: false, signing: 'refused', checkpoint: { size: before.size } },
    });
    expect(health.text).not.toContain(svc.auditDir);
    expect((await request(svc.base, 'GET', '/metrics')).text).toMatch(
      /^strikeguard_transparency_signing_refused 1$/m,
    );
    // The served checkpoint is still the one from before the rewrite: nothing new was signed.
    const after = await get('/audit/log/checkpoint');
    expect(after.text).toBe(before.res.text);
    const rows = await query<{ n: string }>(
      db.url,
      `SELECT count(*)::text AS n FROM audit_checkpoints WHERE size > $1`,
      [before.size],
    );
    expect(rows[0].n).toBe('0');
  });
});
