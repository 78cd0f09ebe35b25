import { jest } from '@jest/globals';
import { Test } from '@nestjs/testing';
import { AuditService } from '../../src/audit/audit.service.js';
import { type AuditEvent } from '../../src/audit/audit-record.js';
import { AccessDeniedCoalescer } from '../../src/strikes/access-denied.coalescer.js';

async function coalescer() {
  const recorded: AuditEvent[] = [];
  const audit = { record: jest.fn(async (e: AuditEvent) => recorded.push(e)) };
  const moduleRef = await Test.createTestingModule({
    providers: [AccessDeniedCoalescer, { provide: AuditService, useValue: audit }],
  }).compile();
  return { denials: moduleRef.get(AccessDeniedCoalescer), recorded, moduleRef };
}

describe('access.denied coalescing', () => {
  beforeEach(() => jest.useFakeTimers({ now: new Date('2026-12-01T00:00:00Z') }));
  afterEach(() => jest.useRealTimers());

  it('records the first refusal of a token at once and counts the rest of the minute', async () => {
    const { denials, recorded, moduleRef } = await coalescer();
    for (let i = 0; i < 50; i++) await denials.denied('tok', 'u1', 'session_terminated');
    expect(recorded).toHaveLength(1);
    expect(recorded[0]).toMatchObject({ type: 'access.denied', details: { count: 1 } });
    jest.advanceTimersByTime(70_000); // the sweeper flushes windows older than a minute
    await Promise.resolve();
    expect(recorded).toHaveLength(2);
    expect(recorded[1]).toMatchObject({ details: { count: 49, coalesced: true } });
    await moduleRef.close();
  });

  it('keeps tokens and reasons apart', async () => {
    const { denials, recorded, moduleRef } = await coalescer();
    await denials.denied('a', 'u1', 'session_terminated');
    await denials.denied('b', 'u1', 'session_terminated');
    await denials.denied('a', 'u1', 'account_blocked');
    expect(recorded).toHaveLength(3);
    expect(recorded.map((e) => e.threat)).toEqual(['low', 'low', 'medium']);
    await moduleRef.close();
  });

  it('starts a new window once the minute is over, flushing the old count first', async () => {
    const { denials, recorded, moduleRef } = await coalescer();
    await denials.denied('t', 'u1', 'session_terminated');
    await denials.denied('t', 'u1', 'session_terminated');
    jest.setSystemTime(new Date('2026-12-01T00:01:01Z'));
    await denials.denied('t', 'u1', 'session_terminated');
    expect(recorded.map((e) => (e.details as { count: number }).count)).toEqual([1, 1, 1]);
    expect(recorded[1].details).toMatchObject({ coalesced: true });
    await moduleRef.close();
  });

  it('flushes pending counts at shutdown: nothing counted is lost', async () => {
    const { denials, recorded, moduleRef } = await coalescer();
    await denials.denied('t', 'u1', 'account_blocked');
    await denials.denied('t', 'u1', 'account_blocked');
    await moduleRef.close();
    expect(recorded).toHaveLength(2);
  });
});
