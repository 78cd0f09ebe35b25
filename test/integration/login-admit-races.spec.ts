import { createHmac } from 'node:crypto';
import pg from 'pg';
import { DataSource } from 'typeorm';
import { strikeguardMigrations } from '../../src/index.js';
import {
  createTestDatabase,
  describeWithPostgres,
  type TestDatabase,
} from '../support/postgres.js';

/**
 * strikeguard_login_admit under real concurrency, straight on PostgreSQL: 24 connections admit
 * attempts on overlapping lanes (a few accounts × a few sources, so every attempt shares lanes
 * with others, some of them new and some existing). What must hold: no deadlock (PostgreSQL's
 * own counter for the database stays put: the store would retry one, so a test of the HTTP path
 * could not see it), every admitted attempt charged to each of its 4 lanes exactly once, and no
 * lane admitting past its limit however many attempts race for it.
 */
describeWithPostgres('strikeguard_login_admit under racing connections', () => {
  let db: TestDatabase;
  let pool: pg.Pool;

  beforeAll(async () => {
    db = await createTestDatabase('sg_login_races');
    const ds = await new DataSource({
      type: 'postgres',
      url: db.url,
      migrations: strikeguardMigrations,
      migrationsRun: true,
    }).initialize();
    await ds.destroy();
    // A statement that waits on a lock for 20 s fails with the lock it waited on, instead of the
    // test timing out and its database being dropped under the connections still in flight.
    pool = new pg.Pool({ connectionString: db.url, max: 24, options: '-c lock_timeout=20000' });
    // A connection the server ends while it sits idle in the pool is reported by the next check,
    // with what the server said, rather than as an unhandled 'error' event.
    pool.on('error', (error) => idleErrors.push(error));
  });

  const idleErrors: Error[] = [];
  afterEach(() => {
    const errors = idleErrors.splice(0);
    expect(errors.map((e) => `${(e as { code?: string }).code ?? ''} ${e.message}`)).toEqual([]);
  });

  afterAll(async () => {
    await pool?.end();
    await db?.drop();
  });

  const account = (name: string) => createHmac('sha256', 'races').update(name).digest();
  // free, base, max wait, account limit / window, source limit / window, hard limit, retention
  const admit = (
    acct: Buffer,
    source: string,
    limits: [number, string, string, number, string, number, string, number, string],
  ) =>
    pool
      .query<{ admitted: boolean; blocking: string[] }>(
        `SELECT admitted, blocking FROM strikeguard_login_admit($1, $2, NULL, $3, $4::interval,
           $5::interval, $6, $7::interval, $8, $9::interval, $10, $11::interval)`,
        [acct, source, ...limits],
      )
      .then((r) => r.rows[0]);
  const deadlocks = async () =>
    Number(
      (
        await pool.query<{ n: string }>(
          `SELECT deadlocks::text AS n FROM pg_stat_database WHERE datname = current_database()`,
        )
      ).rows[0].n,
    );
  const inParallel = async <T>(n: number, width: number, task: (i: number) => Promise<T>) => {
    const out: T[] = new Array(n);
    let next = 0;
    await Promise.all(
      Array.from({ length: width }, async () => {
        for (let i = next++; i < n; i = next++) out[i] = await task(i);
      }),
    );
    return out;
  };

  it('2,400 attempts on 6 accounts × 5 sources: no deadlock, every admission charged to its 4 lanes', async () => {
    const before = await deadlocks();
    const accounts = Array.from({ length: 6 }, (_, i) => account(`user-${i}`));
    const sources = Array.from({ length: 5 }, (_, i) => `203.0.113.${i + 1}`);
    const roomy: Parameters<typeof admit>[2] = [
      1_000_000,
      '30 seconds',
      '1 hour',
      1_000_000,
      '1 hour',
      1_000_000,
      '1 day',
      1_000_000,
      '1 day',
    ];
    // Attempt i picks its lanes so that neighbours in flight overlap on some lanes and not others.
    const results = await inParallel(2400, 24, (i) =>
      admit(accounts[(i * 7) % 6], sources[(i * 3 + (i >> 4)) % 5], roomy),
    );
    expect(results.every((r) => r.admitted)).toBe(true);
    const { rows } = await pool.query<{ lane: string; n: string; rows: string }>(
      `SELECT lane, sum(failures)::text AS n, count(*)::text AS rows FROM login_throttle GROUP BY lane ORDER BY lane`,
    );
    expect(rows).toEqual([
      { lane: 'account', n: '2400', rows: '6' },
      { lane: 'account_source', n: '2400', rows: '30' },
      { lane: 'hard', n: '2400', rows: '6' },
      { lane: 'source', n: '2400', rows: '5' },
    ]);
    expect(await deadlocks()).toBe(before);
  });

  it('400 racing attempts on one account from 40 fresh sources admit exactly the account limit', async () => {
    const before = await deadlocks();
    const acct = account('victim');
    const limits: Parameters<typeof admit>[2] = [
      1_000_000,
      '30 seconds',
      '1 hour',
      20, // account: 20 per hour
      '1 hour',
      1_000_000,
      '1 day',
      1_000_000,
      '1 day',
    ];
    const results = await inParallel(400, 24, (i) =>
      admit(acct, `198.51.100.${(i % 40) + 1}`, limits),
    );
    expect(results.filter((r) => r.admitted)).toHaveLength(20);
    expect(results.filter((r) => !r.admitted).every((r) => r.blocking.includes('account'))).toBe(
      true,
    );
    // Refused attempts charged nothing: the account lane holds the 20 admitted.
    const { rows } = await pool.query<{ failures: number }>(
      `SELECT failures FROM login_throttle WHERE lane = 'account' AND key = $1`,
      [acct.toString('hex')],
    );
    expect(rows).toEqual([{ failures: 20 }]);
    expect(await deadlocks()).toBe(before);
  });

  it('a blocked source refuses a spray of new account names without adding a row', async () => {
    const limits: Parameters<typeof admit>[2] = [
      1_000_000,
      '30 seconds',
      '1 hour',
      1_000_000,
      '1 hour',
      3, // source: 3 per day
      '1 day',
      1_000_000,
      '1 day',
    ];
    const source = '192.0.2.77';
    for (let i = 0; i < 3; i++)
      expect((await admit(account(`s-${i}`), source, limits)).admitted).toBe(true);
    const count = async () =>
      Number(
        (await pool.query<{ n: string }>(`SELECT count(*)::text AS n FROM login_throttle`)).rows[0]
          .n,
      );
    const rowsBefore = await count();
    const sprayed = await inParallel(200, 24, (i) => admit(account(`spray-${i}`), source, limits));
    expect(sprayed.every((r) => !r.admitted && r.blocking.includes('source'))).toBe(true);
    expect(await count()).toBe(rowsBefore);
  });
});
