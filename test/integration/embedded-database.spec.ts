import fs from 'node:fs';
import path from 'node:path';
import { request } from '../support/http.js';
import {
  PASSWORD,
  SERVICE_JWT_SECRET,
  spawnService,
  startService,
  uniqueUsername,
  type ServiceProcess,
} from '../support/service-process.js';

// No PostgreSQL server here: without DATABASE_URL the compiled service runs PGlite in DATA_DIR.
// PGlite needs ~5-10 s to create a database and ~3 s to open one, so the tests share processes
// and run in order: each one continues from the state the previous one left (so the restarted
// processes live until the end of the file, not of the test that started them).

/** The lock the service holds while it owns DATA_DIR (see embedded-database.ts): its pid. */
const lockFile = (svc: ServiceProcess) => path.join(svc.dataDir, 'strikeguard.lock');
const readLock = (svc: ServiceProcess) =>
  String(JSON.parse(fs.readFileSync(lockFile(svc), 'utf8')).pid);

/** The embedded database, with DATABASE_URL removed even if the test runner has one. */
const EMBEDDED = { DATABASE_URL: undefined, JWT_SECRET: SERVICE_JWT_SECRET };

async function login(base: string, username: string) {
  return request(base, 'POST', '/auth/login', { body: { username, password: PASSWORD } });
}

describe('the compiled service on the embedded database (PGlite)', () => {
  let svc: ServiceProcess;
  let alice: { id: string; username: string; token: string };

  beforeAll(async () => {
    svc = await startService({ env: EMBEDDED, healthTimeoutMs: 90_000 });
  }, 120_000);
  afterAll(async () => {
    await svc?.stop();
  }, 30_000);

  it('serves /health with 200 from a DATA_DIR it created 0700', async () => {
    const res = await request(svc.base, 'GET', '/health');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'ok', checks: { database: 'ok' } });
    expect(svc.output()).toContain(`embedded PostgreSQL (PGlite) in ${svc.dataDir}`);
    expect(fs.statSync(svc.dataDir).mode & 0o777).toBe(0o700);
    expect(readLock(svc)).toBe(String(svc.pid));
  });

  it('registers, logs in and answers /me', async () => {
    const username = uniqueUsername('alice');
    const reg = await request(svc.base, 'POST', '/auth/register', {
      body: { username, password: PASSWORD },
    });
    expect(reg.status).toBe(201);
    expect(reg.body).toEqual({ id: expect.stringMatching(/^[0-9a-f-]{36}$/), username });

    const res = await login(svc.base, username);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      accessToken: expect.any(String),
      expiresIn: 900,
      deviceToken: expect.stringMatching(/^sgd1\./),
    });

    const me = await request(svc.base, 'GET', '/me', { token: res.body.accessToken });
    expect(me.status).toBe(200);
    expect(me.body).toEqual({ id: reg.body.id, username, role: 'user' });
    alice = { id: reg.body.id, username, token: res.body.accessToken };
  });

  it('gives two concurrent registrations of one name one 201 and one 409 (pool of one)', async () => {
    for (let round = 0; round < 3; round++) {
      const username = uniqueUsername(`race${round}`);
      const results = await Promise.all(
        [username, username.toUpperCase()].map((name) =>
          request(svc.base, 'POST', '/auth/register', {
            body: { username: name, password: PASSWORD },
          }),
        ),
      );
      expect(results.map((r) => r.status).sort()).toEqual([201, 409]);
      expect((await login(svc.base, username)).status).toBe(200);
    }
  });

  it('refuses a second process on the same DATA_DIR, naming it, and the first keeps serving', async () => {
    const second = await spawnService({ dir: svc.dir, env: EMBEDDED });
    const exit = await second.waitForExit(30_000);
    expect(exit.code).not.toBe(0);
    expect(exit.code).not.toBeNull();
    expect(second.stderr()).toContain(
      `the embedded database in ${svc.dataDir} is in use by process ${svc.pid}`,
    );
    expect(second.output()).not.toContain('listening on');

    // the refused process must neither take nor remove the lock of the running one
    expect(readLock(svc)).toBe(String(svc.pid));
    expect((await request(svc.base, 'GET', '/health')).status).toBe(200);
    const me = await request(svc.base, 'GET', '/me', { token: alice.token });
    expect(me.status).toBe(200);
    expect(me.body.username).toBe(alice.username);
  });

  it('keeps users across SIGTERM and a restart; a token survives with the same JWT_SECRET', async () => {
    const exit = await svc.stop('SIGTERM');
    expect(exit).toEqual({ code: 0, signal: null });
    expect(svc.output()).toContain('SIGTERM received, shutting down');
    expect(fs.existsSync(lockFile(svc))).toBe(false); // released on a clean stop

    svc = await startService({ dir: svc.dir, env: EMBEDDED, lifetime: 'file' });
    expect(readLock(svc)).toBe(String(svc.pid));

    const res = await login(svc.base, alice.username);
    expect(res.status).toBe(200);
    const me = await request(svc.base, 'GET', '/me', { token: alice.token }); // issued before
    expect(me.status).toBe(200);
    expect(me.body).toEqual({ id: alice.id, username: alice.username, role: 'user' });
  });

  it('takes over the stale lock of a SIGKILLed process and keeps what it had committed', async () => {
    const bob = uniqueUsername('bob');
    const reg = await request(svc.base, 'POST', '/auth/register', {
      body: { username: bob, password: PASSWORD },
    });
    expect(reg.status).toBe(201);

    const killed = svc;
    expect(await killed.kill()).toEqual({ code: null, signal: 'SIGKILL' });
    expect(readLock(killed)).toBe(String(killed.pid)); // stale: its holder is gone

    // Without JWT_SECRET this run signs with a random key: old tokens die, with a warning.
    svc = await startService({
      dir: killed.dir,
      env: { ...EMBEDDED, JWT_SECRET: undefined },
      lifetime: 'file',
    });
    expect(readLock(svc)).toBe(String(svc.pid));
    expect(svc.stderr()).toMatch(/warning: JWT_SECRET is not set/);

    expect((await login(svc.base, bob)).status).toBe(200);
    const fresh = await login(svc.base, alice.username);
    expect(fresh.status).toBe(200);
    expect((await request(svc.base, 'GET', '/me', { token: fresh.body.accessToken })).status).toBe(
      200,
    );
    expect((await request(svc.base, 'GET', '/me', { token: alice.token })).status).toBe(401);
  });
});
