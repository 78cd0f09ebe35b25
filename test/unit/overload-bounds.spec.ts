import { resolveAuditOptions } from '../../src/audit/audit.options.js';
import { OverloadedError } from '../../src/common/overloaded.error.js';
import { OverloadedException, sendRetryAfter } from '../../src/common/overloaded.exception.js';
import { resolveStrikesOptions } from '../../src/strikes/strikes.options.js';

describe('queue bounds: options and the 503 they answer with', () => {
  it('defaults: 512 pending violations, 10,000 pending audit events', () => {
    expect(resolveStrikesOptions({}).maxPendingViolations).toBe(512);
    expect(resolveAuditOptions({ logDir: '/tmp/x' }).maxPendingEvents).toBe(10_000);
  });

  it('refuses bounds that are not positive integers, naming the option', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      expect(() => resolveStrikesOptions({ maxPendingViolations: bad })).toThrow(
        /maxPendingViolations must be a positive integer/,
      );
      expect(() => resolveAuditOptions({ logDir: '/tmp/x', maxPendingEvents: bad })).toThrow(
        /maxPendingEvents must be a positive integer/,
      );
    }
  });

  it('renders 503 reason overloaded, and sets Retry-After on a response not yet sent', () => {
    const error = new OverloadedError('violations', 512);
    expect(error.message).toMatch(/limit 512.*try again in 1 s/);
    const exception = OverloadedException.from(error, 'refused; try again later');
    expect(exception.getStatus()).toBe(503);
    expect(exception.getResponse()).toEqual({
      statusCode: 503,
      error: 'Service Unavailable',
      message: 'refused; try again later',
      reason: 'overloaded',
    });
    const headers: Record<string, string> = {};
    const response = { headersSent: false, setHeader: (k: string, v: string) => (headers[k] = v) };
    sendRetryAfter(response, 0.2);
    expect(headers).toEqual({ 'Retry-After': '1' });
    const calls: string[] = [];
    sendRetryAfter({ headersSent: true, setHeader: (k: string) => calls.push(k) }, 1);
    expect(calls).toEqual([]);
    expect(() => sendRetryAfter(undefined, 1)).not.toThrow();
  });
});
