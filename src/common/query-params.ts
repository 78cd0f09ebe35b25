import { type FieldError } from './field-errors.js';
import { ValidationFailedException } from './schema-validation.pipe.js';
import { isStorableText } from './storable-text.js';

/** The parameters that are not in `allowed`, each reported by name. */
export function unknownParams(params: Record<string, unknown>, allowed: string[]): FieldError[] {
  return Object.keys(params)
    .filter((k) => !allowed.includes(k))
    .map((k) => ({ path: k, message: 'is not a known query parameter' }));
}

/** An integer 1-1000 (default 100) from `params[name]`; a problem is pushed onto `errors`. */
export function parseLimit(
  params: Record<string, unknown>,
  name: string,
  errors: FieldError[],
): number {
  const raw = params[name];
  if (raw === undefined) return 100;
  const n = typeof raw === 'string' && /^\d{1,4}$/.test(raw) ? Number(raw) : 0;
  if (n < 1 || n > 1000) errors.push({ path: name, message: 'must be an integer from 1 to 1000' });
  return n;
}

/** Lower-case or upper-case UUID text (PostgreSQL's uuid type reads both). */
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A user id from a path parameter (as the counters and records store it), or a 400. */
export function checkUserId(userId: string): string {
  if (userId.length > 128 || !isStorableText(userId)) {
    throw new ValidationFailedException([
      { path: 'userId', message: 'must be a user id of at most 128 characters' },
    ]);
  }
  return userId;
}
