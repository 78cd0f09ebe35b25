import { ValidationFailedException } from '../http/schema-validation.pipe.js';

/** A positive record id from a path or query parameter, or a 400 naming the parameter. */
export function parseId(raw: unknown, name: string): number {
  const n = typeof raw === 'string' && /^[1-9]\d{0,14}$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n))
    throw new ValidationFailedException([{ path: name, message: 'must be a positive integer id' }]);
  return n;
}

/** `count` of GET /audit/events/recent: 1-1000, default 100; no other parameter. */
export function parseCount(params: Record<string, unknown>): number {
  const unknown = Object.keys(params).filter((k) => k !== 'count');
  if (unknown.length) {
    throw new ValidationFailedException(
      unknown.map((k) => ({ path: k, message: 'is not a known query parameter' })),
    );
  }
  if (params.count === undefined) return 100;
  const n =
    typeof params.count === 'string' && /^\d{1,4}$/.test(params.count) ? Number(params.count) : NaN;
  if (!(n >= 1 && n <= 1000))
    throw new ValidationFailedException([
      { path: 'count', message: 'must be an integer from 1 to 1000' },
    ]);
  return n;
}

/** `fromId` / `toId` of GET /audit/verify. */
export function parseRange(params: Record<string, unknown>): { fromId?: number; toId?: number } {
  const unknown = Object.keys(params).filter((k) => k !== 'fromId' && k !== 'toId');
  if (unknown.length) {
    throw new ValidationFailedException(
      unknown.map((k) => ({ path: k, message: 'is not a known query parameter' })),
    );
  }
  const fromId = params.fromId === undefined ? undefined : parseId(params.fromId, 'fromId');
  const toId = params.toId === undefined ? undefined : parseId(params.toId, 'toId');
  if (fromId !== undefined && toId !== undefined && fromId > toId) {
    throw new ValidationFailedException([
      { path: 'fromId', message: 'must not be greater than toId' },
    ]);
  }
  return { fromId, toId };
}
