import { parseLimit, unknownParams } from '../common/query-params.js';
import { ValidationFailedException } from '../common/schema-validation.pipe.js';

/** A positive record id from a path or query parameter, or a 400 naming the parameter. */
export function parseId(raw: unknown, name: string): number {
  const n = typeof raw === 'string' && /^[1-9]\d{0,14}$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n))
    throw new ValidationFailedException([{ path: name, message: 'must be a positive integer id' }]);
  return n;
}

/** `count` of GET /audit/events/recent: 1-1000, default 100; no other parameter. */
export function parseCount(params: Record<string, unknown>): number {
  const errors = unknownParams(params, ['count']);
  const count = parseLimit(params, 'count', errors);
  if (errors.length) throw new ValidationFailedException(errors);
  return count;
}

/** `fromId` / `toId` of GET /audit/verify. */
export function parseRange(params: Record<string, unknown>): { fromId?: number; toId?: number } {
  const unknown = unknownParams(params, ['fromId', 'toId']);
  if (unknown.length) throw new ValidationFailedException(unknown);
  const fromId = params.fromId === undefined ? undefined : parseId(params.fromId, 'fromId');
  const toId = params.toId === undefined ? undefined : parseId(params.toId, 'toId');
  if (fromId !== undefined && toId !== undefined && fromId > toId) {
    throw new ValidationFailedException([
      { path: 'fromId', message: 'must not be greater than toId' },
    ]);
  }
  return { fromId, toId };
}
