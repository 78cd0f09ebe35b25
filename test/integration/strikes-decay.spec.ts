import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type INestApplicationContext } from '@nestjs/common';
import { StrikesService, type StrikesModuleOptions } from '../../src/index.js';
import { resolveStrikesOptions } from '../../src/strikes/strikes.options.js';
import {
  createTestDatabase,
  describeWithPostgres,
  query,
  type TestDatabase,
} from '../support/postgres.js';
import { startStrikeguard } from '../support/strikeguard-imports.js';

const HOUR = 3600_000;
const T0 = Date.parse('2026-12-01T00:00:00.000Z');

/**
 * Decay (issue 12): strikes older than decayAfter stop counting toward the block, exactly and
 * atomically, reckoned in a test clock both "instances" share (two apps, two DataSources, one
 * database).
 */
describeWithPostgres('strike decay with a test clock, on two instances', () => {
  let db: TestDatabase;
  let dir: string;
  let now = T0;
  const apps: INestApplicationContext[] = [];
  let a: StrikesService;
  let b: StrikesService;
  const options: StrikesModuleOptions = {
    terminateAt: 3,
    blockAt: 12,
    decayAfter: '1h',
    clock: () => new Date(now),
  };

  const start = async (name: string) => {
    const app = await startStrikeguard(db.url, path.join(dir, name), options);
    apps.push(app);
    return app.get(StrikesService);
  };
  const enroll = async (userId: string) => {
    await query(db.url, `INSERT INTO strike_counters (user_id) VALUES ($1)`, [userId]);
  };
  const strikes = async (service: StrikesService, userId: string, n: number) => {
    for (let i = 0; i < n; i++) await service.recordViolation(userId);
  };
  const events = (userId: string) =>
    query<{ type: string; details: Record<string, any> }>(
      db.url,
      `SELECT type, details FROM audit_events WHERE user_id = $1 AND type IN
         ('strike.recorded', 'session.terminated', 'account.blocked') ORDER BY id`,
      [userId],
    );

  beforeAll(async () => {
    db = await createTestDatabase('sg_decay');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sg-decay-'));
    a = await start('a');
    b = await start('b');
  });

  afterAll(async () => {
    for (const app of apps) await app.close();
    await db?.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('strikes exactly decayAfter old no longer count; a millisecond younger, they block', async () => {
    await enroll('outside');
    await enroll('inside');
    now = T0;
    await strikes(a, 'outside', 11);
    await strikes(b, 'inside', 11);
    now = T0 + HOUR; // the 11 are exactly an hour old: out of the window
    const out = await a.recordViolation('outside');
    expect(out).toMatchObject({
      blocked: false,
      counter: {
        blocker: 1,
        total: 12,
        status: 'active',
        oldestCountedAt: new Date(T0 + HOUR).toISOString(),
      },
    });
    now = T0 + HOUR - 1;
    const inside = await b.recordViolation('inside');
    expect(inside).toMatchObject({
      blocked: true,
      counter: { blocker: 12, total: 12, status: 'blocked' },
    });
    expect(inside.counter.oldestCountedAt).toBe(new Date(T0).toISOString());
    // The admin view reckons the window when read: an hour on, the blocked account's strikes
    // have left it too (it stays blocked: decay ends counting, not blocks).
    now = T0 + 3 * HOUR;
    expect(await a.find('inside')).toMatchObject({
      blocker: 0,
      total: 12,
      status: 'blocked',
      oldestCountedAt: null,
    });
    expect(await a.find('outside')).toMatchObject({ blocker: 0, total: 12 });
  });

  it('strikes racing on both instances across the boundary stay exact: one block, floor(n / 3) terminations', async () => {
    await enroll('racer');
    now = T0;
    await strikes(a, 'racer', 5); // these leave the window before the race
    now = T0 + HOUR / 2;
    await strikes(b, 'racer', 6); // these stay in it
    now = T0 + HOUR; // the first 5 are out, the 6 are in (11 together: no block yet)
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) => (i % 2 ? a : b).recordViolation('racer')),
    );
    expect(results.filter((r) => r.blocked)).toHaveLength(1);
    expect(results.filter((r) => r.terminated)).toHaveLength(10); // 11 + 30 = 41: 13, 3 before
    const blocked = results.find((r) => r.blocked)!;
    expect(blocked.counter.blocker).toBe(12);
    const counter = (await a.find('racer'))!;
    expect(counter).toMatchObject({
      blocker: 36,
      total: 41,
      count: 41 % 3,
      status: 'blocked',
      oldestCountedAt: new Date(T0 + HOUR / 2).toISOString(),
    });
    const recorded = await events('racer');
    const raced = recorded.filter((e) => e.type === 'strike.recorded').slice(11);
    // Each racing strike built on the previous one: the blockers it saw are 7..36, once each.
    expect(raced.map((e) => e.details.blocker as number).sort((x, y) => x - y)).toEqual(
      Array.from({ length: 30 }, (_, i) => 7 + i),
    );
    expect(recorded.filter((e) => e.type === 'account.blocked')).toHaveLength(1);
    expect(recorded.filter((e) => e.type === 'session.terminated')).toHaveLength(13);
    for (const e of raced) expect(e.details.total).toBeGreaterThan(11);
  });

  it('an admin unblock empties the window; strikes before it never count again', async () => {
    now = T0 + HOUR;
    const counter = await a.unblock('racer', 'admin-1', 'reviewed');
    expect(counter).toMatchObject({
      blocker: 0,
      total: 41,
      status: 'active',
      oldestCountedAt: null,
    });
    const next = await b.recordViolation('racer');
    expect(next).toMatchObject({ blocked: false, counter: { blocker: 1, total: 42 } });
  });

  it('rejects a decayAfter or blockFor that is not a duration, naming it', () => {
    expect(() => resolveStrikesOptions({ decayAfter: '30 days' })).toThrow(
      /decayAfter must be a duration from 1s to 3650d/,
    );
    expect(() => resolveStrikesOptions({ blockFor: 0 })).toThrow(/blockFor must be a duration/);
    expect(resolveStrikesOptions({ decayAfter: '30d', blockFor: 900 })).toMatchObject({
      decayAfter: 30 * 86_400,
      blockFor: 900,
      permanentAfter: 3,
      mode: 'enforce',
    });
    expect(() => resolveStrikesOptions({ mode: 'audit' as never })).toThrow(
      /mode must be "enforce" or "monitor"/,
    );
  });
});
