import { type INestApplicationContext, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import { jest } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DataSource } from 'typeorm';
import {
  AuditModule,
  AuditService,
  type StrikeCounter,
  StrikesModule,
  type StrikesModuleOptions,
  StrikesService,
  strikeguardMigrations,
  type ViolationResult,
} from '../../src/index.js';
import {
  createTestDatabase,
  describeWithPostgres,
  query,
  type TestDatabase,
} from '../support/postgres.js';

type Hook = (userId: string, counter: StrikeCounter) => void;

/** One "instance" of a host app: its own DataSource, audit log file, strike batching and cache. */
interface Instance {
  app: INestApplicationContext;
  strikes: StrikesService;
  audit: AuditService;
  dataSource: DataSource;
  onSessionTerminated: jest.Mock<Hook>;
  onBlocked: jest.Mock<Hook>;
}

async function startInstance(url: string, async: boolean, extra: StrikesModuleOptions) {
  const logDir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sg-strikes-svc-')), 'audit');
  const onSessionTerminated = jest.fn<Hook>();
  const onBlocked = jest.fn<Hook>();
  const options: StrikesModuleOptions = {
    terminateAt: 3,
    blockAt: 12,
    onSessionTerminated,
    onBlocked,
    ...extra,
  };
  @Module({
    imports: [
      TypeOrmModule.forRootAsync({
        useFactory: () => ({ type: 'postgres', url, migrations: strikeguardMigrations }),
        dataSourceFactory: async (o) => {
          const ds = await new DataSource(o!).initialize();
          await ds.runMigrations();
          return ds;
        },
      }),
      AuditModule.forRoot({ logDir, fsync: false }),
      async
        ? StrikesModule.forRootAsync({ useFactory: () => options })
        : StrikesModule.forRoot(options),
    ],
  })
  class HostModule {}
  const app = await NestFactory.createApplicationContext(HostModule, { logger: false });
  await app.init();
  return {
    app,
    strikes: app.get(StrikesService),
    audit: app.get(AuditService),
    dataSource: app.get(DataSource),
    onSessionTerminated,
    onBlocked,
  } satisfies Instance;
}

describeWithPostgres('StrikesService.recordViolation under concurrency', () => {
  let db: TestDatabase;
  let a: Instance;
  let b: Instance;

  beforeAll(async () => {
    db = await createTestDatabase('strikes_svc');
    a = await startInstance(db.url, false, {});
    // A second instance on the same database, configured with forRootAsync and small batches.
    b = await startInstance(db.url, true, { maxBatch: 7 });
  });
  afterAll(async () => {
    await a?.app.close();
    await b?.app.close();
    await db?.drop();
  });

  const newUsers = async (n: number) => {
    const ids = Array.from({ length: n }, (_, i) => `u${i}-${randomBytes(5).toString('hex')}`);
    await a.dataSource.transaction(async (manager) => {
      for (const id of ids) await a.strikes.enroll(id, manager);
    });
    return ids;
  };
  const counter = async (userId: string) =>
    (
      await query<{ count: number; blocker: number; status: string; session_version: number }>(
        db.url,
        'SELECT count, blocker, status, session_version FROM strike_counters WHERE user_id = $1',
        [userId],
      )
    )[0];
  /** Events per type for each user. */
  const typeCounts = async (userIds: string[]) => {
    const rows = await query<{ user_id: string; type: string; n: number }>(
      db.url,
      `SELECT user_id, type, count(*)::int AS n FROM audit_events WHERE user_id = ANY($1)
       GROUP BY user_id, type`,
      [userIds],
    );
    const out = new Map<string, Record<string, number>>(userIds.map((id) => [id, {}]));
    for (const r of rows) out.get(r.user_id)![r.type] = r.n;
    return out;
  };
  /** The `blocker` each strike.recorded of a user saw, in chain order. */
  const blockersSeen = async (userId: string) =>
    (
      await query<{ b: number }>(
        db.url,
        `SELECT (details->>'blocker')::int AS b FROM audit_events
         WHERE user_id = $1 AND type = 'strike.recorded' ORDER BY id`,
        [userId],
      )
    ).map((r) => r.b);
  const hookCalls = (hook: jest.Mock<Hook>, id: string) =>
    hook.mock.calls.filter(([userId]) => userId === id).length;
  const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);
  const tally = (results: ViolationResult[]) => ({
    terminated: results.filter((r) => r.terminated).length,
    blocked: results.filter((r) => r.blocked).length,
  });

  it('100 concurrent weight-1 violations of one user: blocker 100, 33 terminations, one block', async () => {
    const [id] = await newUsers(1);
    const started = Date.now();
    const results = await Promise.all(range(100).map(() => a.strikes.recordViolation(id)));
    const elapsed = Date.now() - started;

    expect(tally(results)).toEqual({ terminated: 33, blocked: 1 });
    expect(await counter(id)).toEqual({
      count: 1, // 100 - 33 × 3
      blocker: 100,
      status: 'blocked',
      session_version: 33, // one bump per termination; the 12th strike's block shares its bump
    });
    expect((await typeCounts([id])).get(id)).toEqual({
      'strike_counter.created': 1,
      'strike.recorded': 100,
      'session.terminated': 33,
      'account.blocked': 1,
    });
    // Every strike built on the one before it: no lost or duplicated increment.
    expect(await blockersSeen(id)).toEqual(range(100));
    // The block is recorded with the 12th strike, right after its termination.
    const [blocked] = await query<{ details: any }>(
      db.url,
      `SELECT details FROM audit_events WHERE user_id = $1 AND type = 'account.blocked'`,
      [id],
    );
    expect(blocked.details).toEqual({ blocker: 12, blockAt: 12 });
    expect(hookCalls(a.onSessionTerminated, id)).toBe(33);
    expect(hookCalls(a.onBlocked, id)).toBe(1);
    expect(elapsed).toBeLessThan(10_000);
  });

  it('500 concurrent violations spread over 25 users: every counter exact', async () => {
    const ids = await newUsers(25);
    const results = await Promise.all(
      range(500).map((i) => a.strikes.recordViolation(ids[i % 25], 1, `probe-${i}`)),
    );
    expect(tally(results)).toEqual({ terminated: 25 * 6, blocked: 25 });
    const counts = await typeCounts(ids);
    for (const id of ids) {
      expect({ id, ...(await counter(id)) }).toEqual({
        id,
        count: 2,
        blocker: 20,
        status: 'blocked',
        session_version: 6,
      });
      expect({ id, ...counts.get(id) }).toEqual({
        id,
        'strike_counter.created': 1,
        'strike.recorded': 20,
        'session.terminated': 6,
        'account.blocked': 1,
      });
      expect(hookCalls(a.onBlocked, id)).toBe(1);
    }
  });

  it('two instances racing on the same users: counters and events still exact', async () => {
    const [hot, ...spread] = await newUsers(11);
    const jobs: Promise<ViolationResult>[] = [];
    // 240 on one user, alternating instances, and 10 users × 30 spread over both.
    for (let i = 0; i < 240; i++) jobs.push((i % 2 ? a : b).strikes.recordViolation(hot));
    for (let i = 0; i < 300; i++) {
      jobs.push((i % 3 ? b : a).strikes.recordViolation(spread[i % 10]));
    }
    const results = await Promise.all(jobs);
    expect(tally(results)).toEqual({ terminated: 80 + 10 * 10, blocked: 11 });

    expect(await counter(hot)).toEqual({
      count: 0,
      blocker: 240,
      status: 'blocked',
      session_version: 80,
    });
    expect(await blockersSeen(hot)).toEqual(range(240));
    const counts = await typeCounts([hot, ...spread]);
    expect(counts.get(hot)).toEqual({
      'strike_counter.created': 1,
      'strike.recorded': 240,
      'session.terminated': 80,
      'account.blocked': 1,
    });
    for (const id of spread) {
      expect({ id, ...(await counter(id)) }).toEqual({
        id,
        count: 0,
        blocker: 30,
        status: 'blocked',
        session_version: 10,
      });
      expect({ id, ...counts.get(id) }).toEqual({
        id,
        'strike_counter.created': 1,
        'strike.recorded': 30,
        'session.terminated': 10,
        'account.blocked': 1,
      });
      expect(hookCalls(a.onBlocked, id) + hookCalls(b.onBlocked, id)).toBe(1);
    }
    // One chain for both instances: it verifies, with each instance's file.
    expect(await a.audit.verify()).toMatchObject({ ok: true });
    expect(await b.audit.verify()).toMatchObject({ ok: true });
  });

  it('weights are charged in full under concurrency; a crossing is seen once', async () => {
    const [id] = await newUsers(1);
    // 30 × weight 2 (= 60) and 15 × weight 1 (= 15), racing on both instances.
    const jobs = [
      ...range(30).map((i) => (i % 2 ? a : b).strikes.recordViolation(id, 2)),
      ...range(15).map((i) => (i % 2 ? b : a).strikes.recordViolation(id, 1)),
    ];
    const results = await Promise.all(jobs);
    expect(await counter(id)).toMatchObject({ blocker: 75, status: 'blocked' });
    expect(tally(results).blocked).toBe(1);
    const terminations = tally(results).terminated;
    expect((await typeCounts([id])).get(id)).toEqual({
      'strike_counter.created': 1,
      'strike.recorded': 45,
      'session.terminated': terminations,
      'account.blocked': 1,
    });
    expect((await counter(id)).session_version).toBe(terminations);
  });

  it('refuses a weight that is not a positive integer, and records nothing', async () => {
    const [id] = await newUsers(1);
    for (const weight of [0, -1, 1.5, Number.NaN]) {
      await expect(a.strikes.recordViolation(id, weight)).rejects.toThrow('positive integer');
    }
    expect(await counter(id)).toMatchObject({ count: 0, blocker: 0 });
  });

  it('a user charged without enrollment is enrolled on the spot (safety net), once', async () => {
    const id = `late-${randomBytes(5).toString('hex')}`;
    await Promise.all(range(4).map((i) => (i % 2 ? a : b).strikes.recordViolation(id)));
    expect(await counter(id)).toMatchObject({ count: 1, blocker: 4, status: 'active' });
    expect((await typeCounts([id])).get(id)).toEqual({
      'strike_counter.created': 1,
      'strike.recorded': 4,
      'session.terminated': 1,
    });
  });

  it('one violation whose event is invalid does not drop the violations batched with it', async () => {
    const [first, bad, innocent] = await newUsers(3);
    // The first call starts a batch; the next two queue up and are committed together.
    const running = a.strikes.recordViolation(first);
    const [badResult, innocentResult] = await Promise.allSettled([
      a.strikes.recordViolation(bad, 1, 'x'.repeat(5000)),
      a.strikes.recordViolation(innocent, 1, 'probe'),
    ]);
    await running;
    // The innocent user's strike has nothing wrong with it: it must be recorded.
    expect(innocentResult).toMatchObject({ status: 'fulfilled' });
    expect(await counter(innocent)).toMatchObject({ blocker: 1 });
    // And the violation with an over-long reason is a violation all the same.
    expect(badResult).toMatchObject({ status: 'fulfilled' });
    expect(await counter(bad)).toMatchObject({ blocker: 1 });
  });
});
