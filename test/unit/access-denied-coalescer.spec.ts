import { jest } from '@jest/globals';
import { Test } from '@nestjs/testing';
import { AuditService } from '../../src/audit/audit.service.js';
import { type AuditEvent } from '../../src/audit/audit-record.js';
import {
  AccessDeniedCoalescer,
  type DeniedToken,
} from '../../src/strikes/access-denied.coalescer.js';
import { STRIKES_OPTIONS } from '../../src/strikes/strikes-options.provider.js';
import { resolveStrikesOptions } from '../../src/strikes/strikes.options.js';

type Hold = (events: AuditEvent[]) => Promise<void> | void;

async function coalescer(options: { windows?: number; hold?: Hold } = {}) {
  const recorded: AuditEvent[] = [];
  const calls: AuditEvent[][] = [];
  const recordMany = jest.fn(async (events: AuditEvent[]) => {
    calls.push(events);
    await options.hold?.(events);
    recorded.push(...events);
    return [];
  });
  const audit = { recordMany, record: async (e: AuditEvent) => (await recordMany([e]))[0] };
  const moduleRef = await Test.createTestingModule({
    providers: [
      AccessDeniedCoalescer,
      { provide: AuditService, useValue: audit },
      {
        provide: STRIKES_OPTIONS,
        useValue: resolveStrikesOptions({ accessDeniedWindows: options.windows }),
      },
    ],
  }).compile();
  return { denials: moduleRef.get(AccessDeniedCoalescer), recorded, calls, moduleRef };
}

const token = (iat: number | null = 1000, userId = 'u1', sessionVersion = 0): DeniedToken => ({
  userId,
  sessionVersion,
  issuedAt: iat,
});
const counts = (events: AuditEvent[]) => events.map((e) => (e.details as { count: number }).count);
const total = (events: AuditEvent[]) => counts(events).reduce((a, b) => a + b, 0);
/** Lets the background flush (started on setImmediate) run to its end. */
const settle = async () => {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
};
const deferred = () => {
  let release!: () => void;
  const promise = new Promise<void>((resolve) => (release = resolve));
  return { promise, release };
};

describe('access.denied coalescing', () => {
  beforeEach(() =>
    jest.useFakeTimers({ now: new Date('2026-12-01T00:00:00Z'), doNotFake: ['setImmediate'] }),
  );
  afterEach(() => jest.useRealTimers());

  it('records the first refusal of a token at once and counts the rest of the minute', async () => {
    const { denials, recorded, moduleRef } = await coalescer();
    for (let i = 0; i < 50; i++) await denials.denied(token(), 'session_terminated');
    expect(recorded).toHaveLength(1);
    expect(recorded[0]).toMatchObject({ type: 'access.denied', details: { count: 1 } });
    jest.advanceTimersByTime(70_000); // the sweeper closes windows older than a minute
    await settle();
    expect(recorded).toHaveLength(2);
    expect(recorded[1]).toMatchObject({ details: { count: 49, coalesced: true } });
    await moduleRef.close();
  });

  it('keeps tokens (user, session version, issue time) and reasons apart', async () => {
    const { denials, recorded, moduleRef } = await coalescer();
    await denials.denied(token(1000), 'session_terminated');
    await denials.denied(token(1001), 'session_terminated');
    await denials.denied(token(1000, 'u2'), 'session_terminated');
    await denials.denied(token(1000, 'u1', 1), 'session_terminated');
    await denials.denied(token(1000), 'account_blocked');
    await denials.denied(token(1000), 'session_terminated'); // the first one again: counted
    expect(recorded).toHaveLength(5);
    expect(recorded.map((e) => e.threat)).toEqual(['low', 'low', 'low', 'low', 'medium']);
    expect(new Set(recorded.map((e) => (e.details as { token: string }).token)).size).toBe(5);
    await moduleRef.close();
  });

  it('without an issue time, keys on the user, the session version and the reason', async () => {
    const { denials, recorded, moduleRef } = await coalescer();
    for (let i = 0; i < 10; i++) await denials.denied(token(null), 'session_terminated');
    await denials.denied(token(null, 'u1', 1), 'session_terminated');
    expect(recorded).toHaveLength(2);
    await moduleRef.close();
    expect(counts(recorded)).toEqual([1, 1, 9]);
  });

  it('starts a new window once the minute is over; the old count is recorded in the background', async () => {
    const { denials, recorded, moduleRef } = await coalescer();
    await denials.denied(token(), 'session_terminated');
    await denials.denied(token(), 'session_terminated');
    jest.setSystemTime(new Date('2026-12-01T00:01:01Z'));
    await denials.denied(token(), 'session_terminated');
    await settle();
    expect(counts(recorded)).toEqual([1, 1, 1]);
    expect(recorded[1].details).toMatchObject({ count: 1 }); // the new window's first refusal
    expect(recorded[2].details).toMatchObject({
      coalesced: true,
      since: '2026-12-01T00:00:00.000Z',
    });
    await moduleRef.close();
  });

  it('flushes pending counts at shutdown: nothing counted is lost', async () => {
    const { denials, recorded, moduleRef } = await coalescer();
    await denials.denied(token(), 'account_blocked');
    await denials.denied(token(), 'account_blocked');
    await moduleRef.close();
    expect(recorded).toHaveLength(2);
    expect(total(recorded)).toBe(2);
  });

  it('keeps at most accessDeniedWindows open, closing the oldest, and records them batched', async () => {
    const { denials, recorded, calls, moduleRef } = await coalescer({ windows: 3 });
    for (let t = 0; t < 20; t++) {
      for (let i = 0; i < 5; i++) await denials.denied(token(t), 'session_terminated');
      expect(denials.openWindows).toBeLessThanOrEqual(3);
    }
    await settle();
    await moduleRef.close();
    // 20 first refusals, each alone; the 80 repeats in far fewer appends than windows.
    const coalescedCalls = calls.filter((c) => c.some((e) => (e.details as any).coalesced));
    expect(coalescedCalls.length).toBeLessThan(20);
    expect(Math.max(...coalescedCalls.map((c) => c.length))).toBeGreaterThan(1);
    expect(total(recorded)).toBe(100);
    expect(recorded.filter((e) => (e.details as any).coalesced)).toHaveLength(20);
  });

  it('never makes a refusal wait for a flush of other windows', async () => {
    const gate = deferred();
    const { denials, recorded, moduleRef } = await coalescer({
      windows: 2,
      hold: (events) =>
        events.some((e) => (e.details as any).coalesced) ? gate.promise : undefined,
    });
    for (let t = 0; t < 10; t++) {
      await denials.denied(token(t), 'session_terminated');
      await denials.denied(token(t), 'session_terminated');
      await settle();
    }
    // Every call above returned although the flush of the closed windows is still held.
    expect(denials.openWindows).toBe(2);
    expect(denials.pendingWindows).toBeGreaterThan(0);
    expect(total(recorded)).toBe(10);
    gate.release();
    await moduleRef.close();
    expect(total(recorded)).toBe(20);
  });

  it('counts a refusal whose own record failed in the coalesced record, and rethrows', async () => {
    let fail = true;
    const { denials, recorded, moduleRef } = await coalescer({
      hold: () => {
        if (fail) throw new Error('audit log unavailable');
      },
    });
    await expect(denials.denied(token(), 'session_terminated')).rejects.toThrow('unavailable');
    await denials.denied(token(), 'session_terminated');
    fail = false;
    await moduleRef.close();
    expect(recorded).toHaveLength(1);
    expect(recorded[0].details).toMatchObject({ count: 2, coalesced: true });
  });

  it('retries a failed flush: counts survive an audit outage', async () => {
    let fail = false;
    const { denials, recorded, moduleRef } = await coalescer({
      hold: (events) => {
        if (fail && events.some((e) => (e.details as any).coalesced)) throw new Error('down');
      },
    });
    for (let i = 0; i < 4; i++) await denials.denied(token(), 'session_terminated');
    fail = true;
    jest.advanceTimersByTime(70_000);
    await settle();
    expect(denials.pendingWindows).toBe(1);
    fail = false;
    jest.advanceTimersByTime(10_000); // the next sweep retries
    await settle();
    expect(denials.pendingWindows).toBe(0);
    expect(counts(recorded)).toEqual([1, 3]);
    await moduleRef.close();
  });
});
