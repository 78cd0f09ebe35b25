import { MAX_DETAILS_BYTES } from './audit-event.schema.js';
import {
  type AuditQuery,
  AuditQueryInvalidError,
  dateTimeMillis,
  MAX_LIMIT,
  printableName,
  TEXT_FILTERS,
  timeBound,
} from './audit-query.js';
import { AUDIT_OUTCOMES, AUDIT_THREATS } from './audit-record.js';
import { type FieldError, join } from '../common/field-errors.js';

const FIELDS = new Set<string>([
  ...TEXT_FILTERS,
  'outcome',
  'threat',
  'from',
  'to',
  'details',
  'limit',
  'beforeId',
]);
const MAX_DEPTH = 32;

/**
 * Checks an AuditQuery built by code (AuditService.find, AuditStore.search): it may not come from
 * parseAuditQuery, and TypeScript's types are gone at run time. Every field is read once and
 * checked for type and range; the result is a fresh copy of the checked values only (a getter
 * cannot answer differently later). Every bad field is reported in one AuditQueryInvalidError;
 * nothing else is ever thrown.
 */
export function checkAuditQuery(input: unknown): AuditQuery {
  if (input === null || typeof input !== 'object' || Array.isArray(input))
    throw new AuditQueryInvalidError([{ path: 'query', message: 'must be an object' }]);
  const errors: FieldError[] = [];
  const query: AuditQuery = { limit: 0 };
  const source = input as Record<string, unknown>;
  for (const key of ownKeys(source, errors)) {
    if (!FIELDS.has(key))
      errors.push({ path: printableName(key), message: 'is not a field of AuditQuery' });
  }
  const read = (field: string): unknown => {
    try {
      return source[field];
    } catch {
      errors.push({ path: field, message: 'cannot be read' });
      return undefined;
    }
  };
  for (const field of TEXT_FILTERS) {
    const value = read(field);
    if (value === undefined) continue;
    if (typeof value !== 'string' || value.length < 1 || value.length > 256)
      errors.push({ path: field, message: 'must be a string of 1-256 characters' });
    else if (!storable(value))
      errors.push({ path: field, message: 'must not contain NUL or invalid characters' });
    else query[field] = value;
  }
  for (const [field, allowed] of [
    ['outcome', AUDIT_OUTCOMES],
    ['threat', AUDIT_THREATS],
  ] as const) {
    const value = read(field);
    if (value === undefined) continue;
    if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value))
      errors.push({ path: field, message: `must be one of ${allowed.join(', ')}` });
    else query[field] = value;
  }
  for (const field of ['from', 'to'] as const) {
    const value = read(field);
    if (value === undefined) continue;
    const bound = checkBound(value);
    if (bound === null) {
      errors.push({
        path: field,
        message: 'must be an ISO-8601 date-time with an offset (years 1-9999) or "infinity"',
      });
    } else query[field] = bound;
  }
  const details = read('details');
  if (details !== undefined) {
    let copy: unknown;
    try {
      copy = checkDetails(details, 'details', errors, 0);
    } catch {
      errors.push({ path: 'details', message: 'cannot be read' });
    }
    if (copy !== undefined) {
      const size = Buffer.byteLength(JSON.stringify(copy));
      if (size > MAX_DETAILS_BYTES)
        errors.push({ path: 'details', message: `must be at most ${MAX_DETAILS_BYTES} bytes` });
      else query.details = copy as Record<string, unknown>;
    }
  }
  const limit = read('limit');
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT)
    errors.push({ path: 'limit', message: `must be an integer from 1 to ${MAX_LIMIT}` });
  else query.limit = limit;
  const beforeId = read('beforeId');
  if (beforeId !== undefined) {
    if (typeof beforeId !== 'number' || !Number.isSafeInteger(beforeId) || beforeId < 0)
      errors.push({ path: 'beforeId', message: 'must be a non-negative integer (a record id)' });
    else query.beforeId = beforeId;
  }
  if (errors.length) throw new AuditQueryInvalidError(errors);
  return query;
}

function ownKeys(source: object, errors: FieldError[]): string[] {
  try {
    return Object.keys(source);
  } catch {
    errors.push({ path: 'query', message: 'cannot be read' });
    return [];
  }
}

/** NUL and lone surrogates: PostgreSQL text and jsonb refuse them. */
function storable(value: string): boolean {
  return !value.includes('\u0000') && value.isWellFormed();
}

/**
 * "infinity", or a date-time normalised to the millisecond. Records are stored to the
 * millisecond, so rounding a finer bound up keeps the same records for both an inclusive lower
 * and an exclusive upper bound (exactly: PostgreSQL itself would round a bound finer than a
 * microsecond to the nearest one).
 */
function checkBound(value: unknown): string | null {
  if (value === 'infinity') return value;
  if (typeof value !== 'string') return null;
  const t = dateTimeMillis(value);
  const bound = t && timeBound(t.subMillis ? t.ms + 1 : t.ms);
  return bound === 'infinity' ? null : bound;
}

/** A copy of a `details` filter made of JSON values only (null-prototype objects: data). */
function checkDetails(value: unknown, path: string, errors: FieldError[], depth: number): unknown {
  if (depth > MAX_DEPTH) {
    errors.push({ path, message: `is nested too deeply (more than ${MAX_DEPTH} levels)` });
    return undefined;
  }
  if (depth === 0 && (value === null || typeof value !== 'object' || Array.isArray(value))) {
    errors.push({ path, message: 'must be an object' });
    return undefined;
  }
  if (value === null || typeof value === 'boolean') return value;
  if (typeof value === 'number') {
    if (Number.isFinite(value)) return value;
    errors.push({ path, message: 'must be a finite number' });
    return undefined;
  }
  if (typeof value === 'string') {
    if (value.length > MAX_DETAILS_BYTES) {
      errors.push({ path, message: `must be at most ${MAX_DETAILS_BYTES} characters` });
      return undefined;
    }
    if (storable(value)) return value;
    errors.push({ path, message: 'must not contain NUL or invalid characters' });
    return undefined;
  }
  if (Array.isArray(value)) {
    if (value.length > MAX_DETAILS_BYTES) {
      errors.push({ path, message: `must have at most ${MAX_DETAILS_BYTES} items` });
      return undefined;
    }
    return Array.from(value).map((v, i) => checkDetails(v, `${path}[${i}]`, errors, depth + 1));
  }
  if (typeof value === 'object' && isPlainObject(value)) {
    const out: Record<string, unknown> = Object.create(null);
    for (const [key, v] of Object.entries(value)) {
      const p = join(path, printableName(key));
      if (!storable(key)) errors.push({ path: p, message: 'key must not contain NUL' });
      else
        Object.defineProperty(out, key, {
          value: checkDetails(v, p, errors, depth + 1),
          enumerable: true,
          writable: true,
          configurable: true,
        });
    }
    return out;
  }
  errors.push({ path, message: depth === 0 ? 'must be an object' : 'must be a JSON value' });
  return undefined;
}

function isPlainObject(value: object): boolean {
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === null || proto === Object.prototype;
}
