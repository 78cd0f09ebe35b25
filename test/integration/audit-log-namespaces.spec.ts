import fs from 'node:fs';
import path from 'node:path';
import { verifyLogDirectory } from '../../src/index.js';
import { externalEvent } from '../support/audit-files.js';
import { request } from '../support/http.js';
import {
  createTestDatabase,
  describeWithPostgres,
  query,
  type TestDatabase,
} from '../support/postgres.js';
import {
  PID_NAMESPACE,
  type ServiceProcess,
  spawnService,
  startService,
  tempDir,
} from '../support/service-process.js';
import { ADMIN, adminEnv } from '../support/test-app.js';

/**
 * Issue 9, item 5: two service instances in containers sharing a volume. Each runs as pid 1 of
 * its own PID namespace (`unshare --pid`), both pointed at one AUDIT_LOG_DIR and AUDIT_LOG_FILE.
 * With a pid-file lock the second saw "pid 1" (itself) in the lock, took it as stale, and both
 * wrote the file: lines interleaved and the chain never verified again.
 */

const canUnshare = process.getuid?.() === 0 && fs.existsSync('/usr/bin/unshare');
const describeNamespaces = canUnshare ? describeWithPostgres : describe.skip;

/** The lines of a file; throws on a torn (unterminated) last line. */
function linesOf(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  if (text !== '' && !text.endsWith('\n')) throw new Error(`${file} ends with a torn line`);
  return text.split('\n').slice(0, -1);
}

const tableIds = async (url: string) =>
  (await query<{ id: number }>(url, 'SELECT id::int AS id FROM audit_events ORDER BY id')).map(
    (r) => r.id,
  );

describeNamespaces('two instances in separate PID namespaces on one log file', () => {
  let db: TestDatabase;
  beforeEach(async () => {
    db = await createTestDatabase('auditns');
  });
  afterEach(async () => {
    await db?.drop();
  });

  /** Each instance has its own working dir (DATA_DIR); they share `auditDir`. */
  function instance(auditDir: string, env: Record<string, string> = {}) {
    return {
      wrap: PID_NAMESPACE,
      dir: tempDir('sg-ns-'),
      env: {
        DATABASE_URL: db.url,
        AUDIT_LOG_DIR: auditDir,
        AUDIT_LOG_FSYNC: 'false',
        LOG_LEVEL: 'warn',
        ...env,
      },
    };
  }

  async function login(svc: ServiceProcess): Promise<string> {
    const res = await request(svc.base, 'POST', '/auth/login', { body: ADMIN });
    if (res.status !== 200) throw new Error(`admin login: ${res.status} ${res.text}`);
    return res.body.accessToken;
  }

  /** Posts events one after another until `stop()`; resolves the statuses. */
  function keepPosting(svc: ServiceProcess, token: string) {
    let running = true;
    const statuses: number[] = [];
    const done = (async () => {
      for (let i = 0; running; i++) {
        const res = await request(svc.base, 'POST', '/audit/events', {
          token,
          body: i % 5 === 4 ? [externalEvent(), externalEvent()] : externalEvent(),
        }).catch(() => ({ status: 0 })); // 0: no answer
        statuses.push(res.status);
        if (res.status === 0) return;
      }
    })();
    return {
      async stop() {
        running = false;
        await done;
        return statuses;
      },
    };
  }

  /** The file holds the table's records, whole, once each, in id order; both verifiers agree. */
  async function expectOneWritersFile(auditDir: string, svc: ServiceProcess, token: string) {
    const lines = linesOf(path.join(auditDir, 'audit.log'));
    expect(lines.map((l) => JSON.parse(l).id)).toEqual(await tableIds(db.url));
    const res = await request(svc.base, 'GET', '/audit/verify', { token });
    expect(res.body).toEqual({ ok: true, checked: lines.length });
    expect(await verifyLogDirectory(auditDir)).toEqual({ ok: true, checked: lines.length });
  }

  it('refuses the second while the first is alive, naming the fix; no line of it reaches the file', async () => {
    const auditDir = path.join(tempDir('sg-ns-shared-'), 'audit');
    const first = await startService(instance(auditDir, adminEnv()));
    const token = await login(first);
    const lockFile = path.join(auditDir, '.audit.log.lock');
    const lockBefore = fs.readFileSync(lockFile, 'utf8');

    const writer = keepPosting(first, token);
    const second = await spawnService(instance(auditDir));
    const exit = await second.waitForExit(30_000).finally(() => writer.stop());
    const statuses = await writer.stop();

    expect(exit.code).not.toBe(0);
    expect(second.output()).toContain(`the audit log file ${path.join(auditDir, 'audit.log')}`);
    expect(second.output()).toMatch(/process 1 on .* \(another PID namespace or host\)/);
    expect(second.output()).toMatch(/AUDIT_LOG_FILE/);
    expect(second.output()).not.toContain('listening on');
    expect(statuses.length).toBeGreaterThan(0);
    expect(statuses.filter((s) => s !== 201)).toEqual([]);

    // The first goes on, the file is its alone, and it still holds its lock (same nonce).
    expect((await request(first.base, 'GET', '/health')).status).toBe(200);
    await expectOneWritersFile(auditDir, first, token);
    const holder = JSON.parse(lockBefore);
    expect(holder).toMatchObject({ pid: 1 }); // pid 1 of its namespace, like the second
    expect(JSON.parse(fs.readFileSync(lockFile, 'utf8')).nonce).toBe(holder.nonce);
  }, 90_000);

  it('takes over the lock of a writer SIGKILLed in another namespace once its heartbeat stopped', async () => {
    const auditDir = path.join(tempDir('sg-ns-shared-'), 'audit');
    const first = await startService(instance(auditDir, adminEnv()));
    const token = await login(first);
    for (let i = 0; i < 5; i++) {
      const res = await request(first.base, 'POST', '/audit/events', {
        token,
        body: externalEvent(),
      });
      expect(res.status).toBe(201);
    }
    const lockFile = path.join(auditDir, '.audit.log.lock');
    const stale = fs.readFileSync(lockFile, 'utf8');
    expect(await first.kill()).toMatchObject({ signal: 'SIGKILL' });
    await new Promise((resolve) => setTimeout(resolve, 200)); // --kill-child: its pid 1 dies too
    expect(fs.readFileSync(lockFile, 'utf8')).toBe(stale); // left behind, naming pid 1

    const second = await startService(instance(auditDir));
    // Not by its pid (1, like its own), but because the line stopped changing.
    expect(second.output()).toMatch(
      /took over the lock of .*audit\.log from process 1 on .*: its heartbeat had stopped/,
    );
    expect(JSON.parse(fs.readFileSync(lockFile, 'utf8')).nonce).not.toBe(JSON.parse(stale).nonce);
    const token2 = await login(second);
    expect(
      (
        await request(second.base, 'POST', '/audit/events', {
          token: token2,
          body: externalEvent(),
        })
      ).status,
    ).toBe(201);
    await expectOneWritersFile(auditDir, second, token2);
  }, 90_000);
});
