import { execFile } from 'node:child_process';
import fs from 'node:fs';
import pg from 'pg';
import { serviceMigrations } from '../../src/app/database/migrations/index.js';
import { request } from '../support/http.js';
import {
  createTestDatabase,
  describeWithPostgres,
  query,
  type TestDatabase,
} from '../support/postgres.js';
import {
  PASSWORD,
  PROJECT_ROOT,
  registerAndLogin,
  spawnService,
  startService,
  uniqueUsername,
  waitUntilHealthy,
  type ServiceProcess,
} from '../support/service-process.js';

/** The advisory lock key the service takes around its migrations (src/app/database/migrate.ts). */
const MIGRATION_LOCK = '7310942001';

const MIGRATION_NAMES = serviceMigrations.map((Migration) => new Migration().name).sort();

async function migrationRows(url: string): Promise<string[]> {
  const rows = await query<{ name: string }>(url, 'SELECT name FROM migrations');
  return rows.map((r) => r.name).sort();
}

async function tableExists(url: string, table: string): Promise<boolean> {
  const [row] = await query<{ t: string | null }>(url, 'SELECT to_regclass($1)::text AS t', [
    `public.${table}`,
  ]);
  return row.t !== null;
}

/** Runs the TypeORM migration CLI on the compiled data source, as `npm run migration:run` does. */
function migrationCli(
  databaseUrl: string | undefined,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.DATABASE_URL;
  if (databaseUrl) env.DATABASE_URL = databaseUrl;
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['node_modules/typeorm/cli.js', 'migration:run', '-d', 'dist/ormconfig.js'],
      { cwd: PROJECT_ROOT, env, timeout: 30_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

describe('the compiled service refuses a bad configuration', () => {
  it('exits non-zero, naming every bad variable on stderr', async () => {
    const svc = await spawnService({
      env: {
        NODE_ENV: 'production',
        JWT_SECRET: undefined,
        PORT: 'abc',
        DATABASE_URL: 'mysql://db/app',
        DATABASE_POOL_SIZE: '1',
        JWT_TTL: 'forever',
        LOG_LEVEL: 'loud',
        TRUST_PROXY: 'true',
        ADMIN_USERNAME: 'admin',
        ADMIN_PASSWORD: undefined,
      },
    });
    const exit = await svc.waitForExit(30_000);
    expect(exit.code).not.toBe(0);
    expect(exit.code).not.toBeNull();
    const stderr = svc.stderr();
    expect(stderr).toMatch(/invalid configuration/);
    for (const pattern of [
      /JWT_SECRET is not set: with NODE_ENV=production/,
      /PORT must be an integer from 0 to 65535 \(got "abc"\)/,
      /DATABASE_URL must be a postgres:\/\//,
      /DATABASE_POOL_SIZE must be an integer .*\(got "1"\)/,
      /JWT_TTL must be a duration .*\(got "forever"\)/,
      /LOG_LEVEL must be one of .*\(got "loud"\)/,
      /TRUST_PROXY=true would trust every hop.*a hop count from 1 to 10.*loopback, linklocal, uniquelocal/,
      /ADMIN_USERNAME and ADMIN_PASSWORD must be set together/,
    ]) {
      expect(stderr).toMatch(pattern);
    }
    expect(svc.output()).not.toContain('listening on');
    // it stopped before touching anything: no embedded database was created
    expect(fs.existsSync(svc.dataDir)).toBe(false);
  });

  it('the migration CLI without DATABASE_URL fails saying DATABASE_URL is needed', async () => {
    const res = await migrationCli(undefined);
    expect(res.code).not.toBe(0);
    expect(res.stdout + res.stderr).toMatch(
      /DATABASE_URL is not set: the migration CLI needs a PostgreSQL server/,
    );
  });
});

describeWithPostgres('the compiled service on PostgreSQL (DATABASE_URL)', () => {
  const databases: TestDatabase[] = [];
  const freshDatabase = async () => {
    const db = await createTestDatabase('svc');
    databases.push(db);
    return db;
  };
  afterAll(async () => {
    for (const db of databases) await db.drop();
  });

  describe('one process', () => {
    let db: TestDatabase;
    let svc: ServiceProcess;
    beforeAll(async () => {
      db = await freshDatabase();
      svc = await startService({ env: { DATABASE_URL: db.url } });
    });
    afterAll(async () => {
      await svc?.stop();
    });

    it('serves /health, migrates the database and uses no embedded database', async () => {
      const res = await request(svc.base, 'GET', '/health');
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ status: 'ok', checks: { database: 'ok' } });
      expect(await migrationRows(db.url)).toEqual(MIGRATION_NAMES);
      expect(svc.output()).not.toContain('PGlite');
      // DATA_DIR holds no database, only the checkpoint signing key generated without AUDIT_SIGNING_KEY.
      expect(fs.readdirSync(svc.dataDir)).toEqual(['audit-signing.key']);
    });

    it('registers, logs in and answers /me, storing the user in DATABASE_URL', async () => {
      const username = uniqueUsername('carol');
      const reg = await request(svc.base, 'POST', '/auth/register', {
        body: { username, password: PASSWORD },
      });
      expect(reg.status).toBe(201);
      const login = await request(svc.base, 'POST', '/auth/login', {
        body: { username, password: PASSWORD },
      });
      expect(login.status).toBe(200);
      const me = await request(svc.base, 'GET', '/me', { token: login.body.accessToken });
      expect(me.status).toBe(200);
      expect(me.body).toEqual({ id: reg.body.id, username, role: 'user' });
      const rows = await query(db.url, 'SELECT id FROM users WHERE username = $1', [username]);
      expect(rows).toEqual([{ id: reg.body.id }]);
    });

    it('stops on SIGTERM with exit code 0', async () => {
      expect(await svc.stop('SIGTERM')).toEqual({ code: 0, signal: null });
      expect(svc.output()).toContain('SIGTERM received, shutting down');
    });
  });

  it('starts two processes at the same moment on a fresh database: they take turns on the migration lock, both serve, each migration runs once', async () => {
    const db = await freshDatabase();
    // The test holds the service's advisory lock first, so both processes are sure to queue on it
    // together; released, they race for it.
    const holder = new pg.Client({ connectionString: db.url });
    await holder.connect();
    let services: ServiceProcess[];
    try {
      await holder.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
      services = await Promise.all([
        spawnService({ env: { DATABASE_URL: db.url } }),
        spawnService({ env: { DATABASE_URL: db.url } }),
      ]);
      // The services poll the lock (pg_try_advisory_lock): wait until both sessions are polling
      // it, then a little longer; while the test holds it neither may migrate or serve, and
      // neither gives up.
      const polling = async () => {
        const [row] = await query<{ n: number }>(
          db.url,
          `SELECT count(*)::int AS n FROM pg_stat_activity
           WHERE datname = current_database() AND pid <> pg_backend_pid()
             AND query LIKE '%pg_try_advisory_lock%'`,
        );
        return row.n;
      };
      const deadline = Date.now() + 30_000;
      while ((await polling()) < 2) {
        for (const s of services) {
          if (s.exit()) throw new Error(`a service exited while waiting:\n${s.tail()}`);
        }
        if (Date.now() > deadline) {
          throw new Error('the services never tried the migration lock (pg_try_advisory_lock)');
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      await new Promise((resolve) => setTimeout(resolve, 500)); // a few more polls each
      for (const s of services) {
        if (s.exit()) throw new Error(`a service exited while waiting:\n${s.tail()}`);
      }
      expect(await tableExists(db.url, 'migrations')).toBe(false); // nothing ran yet
      for (const s of services) {
        await expect(fetch(`${s.base}/health`)).rejects.toThrow(); // not listening yet
      }
    } finally {
      await holder.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => {});
      await holder.end();
    }

    await Promise.all(services.map((s) => waitUntilHealthy(s)));
    expect(await migrationRows(db.url)).toEqual(MIGRATION_NAMES);
    expect(await tableExists(db.url, 'users')).toBe(true);

    // one database, one JWT_SECRET: a user and a token from one process work on the other
    const [a, b] = services;
    const user = await registerAndLogin(a.base);
    const me = await request(b.base, 'GET', '/me', { token: user.token });
    expect(me.status).toBe(200);
    expect(me.body.id).toBe(user.id);
    const login = await request(b.base, 'POST', '/auth/login', {
      body: { username: user.username, password: PASSWORD },
    });
    expect(login.status).toBe(200);

    for (const s of services) expect(await s.stop()).toEqual({ code: 0, signal: null });
  });

  it('runs the migrations alone with the CLI on DATABASE_URL (npm run migration:run)', async () => {
    const db = await freshDatabase();
    const first = await migrationCli(db.url);
    expect(first).toMatchObject({ code: 0 });
    expect(await tableExists(db.url, 'users')).toBe(true);
    expect(await migrationRows(db.url)).toEqual(MIGRATION_NAMES);

    const again = await migrationCli(db.url);
    expect(again.code).toBe(0);
    expect(await migrationRows(db.url)).toEqual(MIGRATION_NAMES);
  });
});
