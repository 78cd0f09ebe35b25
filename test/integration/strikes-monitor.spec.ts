import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type INestApplicationContext } from '@nestjs/common';
import {
  StrikeRefusalException,
  StrikesService,
  type StrikesModuleOptions,
} from '../../src/index.js';
import {
  createTestDatabase,
  describeWithPostgres,
  query,
  type TestDatabase,
} from '../support/postgres.js';
import { startStrikeguard } from '../support/strikeguard-imports.js';

/**
 * Monitor mode in a host app (issue 12): a monitored rule in enforce mode, and switching a whole
 * deployment from monitor to enforce, which blocks nobody by itself.
 */
describeWithPostgres('monitor mode and monitored rules, in-process', () => {
  let db: TestDatabase;
  let dir: string;
  const apps: INestApplicationContext[] = [];
  const start = async (name: string, options: StrikesModuleOptions) => {
    const app = await startStrikeguard(db.url, path.join(dir, name), options);
    apps.push(app);
    return app.get(StrikesService);
  };
  const enroll = (userId: string) =>
    query(db.url, `INSERT INTO strike_counters (user_id) VALUES ($1)`, [userId]);
  const crossings = (userId: string) =>
    query<{ type: string; simulated: boolean | null }>(
      db.url,
      `SELECT type, (details->>'simulated')::boolean AS simulated FROM audit_events
        WHERE user_id = $1 AND type IN ('session.terminated', 'account.blocked') ORDER BY id`,
      [userId],
    );

  beforeAll(async () => {
    db = await createTestDatabase('sg_monitor');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sg-monitor-'));
  });
  afterAll(async () => {
    for (const app of apps) await app.close();
    await db?.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('switching from monitor to enforce blocks nobody by itself; the next enforced strike at the threshold does', async () => {
    const monitor = await start('monitor', { mode: 'monitor' });
    await enroll('switcher');
    for (let i = 0; i < 12; i++) await monitor.recordViolation('switcher');
    expect(await monitor.find('switcher')).toMatchObject({
      status: 'active',
      simulatedBlock: true,
      blocker: 12,
      sessionVersion: 0,
    });
    await expect(monitor.loginClaims('switcher')).resolves.toEqual({ sv: 0 });

    const enforce = await start('enforce', {});
    // Nothing changed by the switch: the account logs in with the same session version.
    await expect(enforce.loginClaims('switcher')).resolves.toEqual({ sv: 0 });
    const next = await enforce.recordViolation('switcher');
    expect(next).toMatchObject({ blocked: true, simulated: false });
    expect(next.counter).toMatchObject({ status: 'blocked', simulatedBlock: false, blocker: 13 });
    await expect(enforce.loginClaims('switcher')).rejects.toBeInstanceOf(StrikeRefusalException);
    expect(await crossings('switcher')).toEqual([
      { type: 'session.terminated', simulated: true },
      { type: 'session.terminated', simulated: true },
      { type: 'session.terminated', simulated: true },
      { type: 'session.terminated', simulated: true },
      { type: 'account.blocked', simulated: true },
      { type: 'account.blocked', simulated: null },
    ]);
  });

  it('a monitored violation in enforce mode counts like the others, and only its own crossings are simulated', async () => {
    const enforce = await start('enforce-mixed', {});
    await enroll('mixed');
    await enforce.recordViolation('mixed');
    await enforce.recordViolation('mixed');
    const third = await enforce.recordViolation('mixed', 1, 'new_rule', { monitor: true });
    expect(third).toMatchObject({ terminated: true, simulated: true });
    expect(third.counter).toMatchObject({ count: 0, sessionVersion: 0 }); // tokens keep working
    for (let i = 0; i < 3; i++) await enforce.recordViolation('mixed');
    const sixth = (await enforce.find('mixed'))!;
    expect(sixth).toMatchObject({ count: 0, sessionVersion: 1, blocker: 6 });
    expect(await crossings('mixed')).toEqual([
      { type: 'session.terminated', simulated: true },
      { type: 'session.terminated', simulated: null },
    ]);
    await expect(
      enforce.recordViolation('mixed', 1, 'x', { monitor: 'yes' as never }),
    ).rejects.toThrow(/monitor must be a boolean/);
  });
});
