import { isStorableText } from '../common/storable-text.js';

/** A user id as a host has it: text, an integer column, or a bigint. */
export type UserId = string | number | bigint;

/** Thrown for a user id strikeguard cannot key a counter on. */
export class InvalidUserIdError extends TypeError {
  constructor(id: unknown) {
    super(
      `strikeguard: a user id must be a non-empty string of at most 128 characters (no NUL, ` +
        `unpaired surrogate or noncharacter), a safe ` +
        `integer or a bigint (got ${describe(id)})`,
    );
    this.name = this.constructor.name;
  }
}

/**
 * The one text form counters, events and caches key on: `42`, `42n` and `"42"` are the same user,
 * so a host with integer ids and one with text ids both work, whichever form reaches the engine.
 */
export function userKey(id: unknown): string {
  if (typeof id === 'string') {
    if (id.length > 0 && id.length <= 128 && isStorableText(id)) return id;
  } else if (typeof id === 'number') {
    if (Number.isSafeInteger(id)) return String(id);
  } else if (typeof id === 'bigint') {
    const text = id.toString();
    if (text.length <= 128) return text;
  }
  throw new InvalidUserIdError(id);
}

/** The key, or null when `id` is not a usable user id. */
export function userKeyOrNull(id: unknown): string | null {
  try {
    return userKey(id);
  } catch {
    return null;
  }
}

/**
 * What kind of value this is, for messages that are logged once per cause: types, never values,
 * so a hostile request cannot make every cause new.
 */
export function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'missing';
  if (typeof value === 'number') {
    if (Number.isSafeInteger(value)) return 'an integer';
    if (Number.isInteger(value)) return 'an integer beyond 2^53';
    return Number.isFinite(value) ? 'a non-integer number' : 'not finite';
  }
  return Array.isArray(value) ? 'an array' : `a ${typeof value}`;
}

/** The value itself where it is short and safe to show (for an error thrown to the caller). */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return value.length > 40 ? 'a long string' : JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean')
    return `${typeof value} ${String(value)}`;
  return Array.isArray(value) ? 'an array' : typeof value;
}
