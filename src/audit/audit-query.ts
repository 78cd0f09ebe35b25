import { AUDIT_OUTCOMES, AUDIT_THREATS } from './audit-record.js';
import { type FieldError } from '../common/field-errors.js';

/** A validated search of the audit trail. */
export interface AuditQuery {
  type?: string;
  userId?: string;
  actorId?: string;
  entityType?: string;
  ip?: string;
  location?: string;
  outcome?: string;
  threat?: string;
  /** Inclusive lower bound on occurredAt (ISO string). */
  from?: string;
  /** Exclusive upper bound on occurredAt (ISO string). */
  to?: string;
  /** `details @> {…}` */
  details?: Record<string, unknown>;
  limit: number;
  /** Return records with ids below this one (keyset paging, newest first). */
  beforeId?: number;
}

/** A query parameter the API does not accept; the message names it. */
export class AuditQueryInvalidError extends Error {
  constructor(readonly errors: FieldError[]) {
    super(`invalid query: ${errors.map((e) => `${e.path} ${e.message}`).join('; ')}`);
    this.name = this.constructor.name;
  }
}

export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 1000;
export const TEXT_FILTERS = ['type', 'userId', 'actorId', 'entityType', 'ip', 'location'] as const;
const DETAILS_KEY = /^details\.([A-Za-z0-9_-]{1,64}(\.[A-Za-z0-9_-]{1,64}){0,7})$/;

/** Parses GET /audit/events query parameters; every bad one is reported by name. */
export function parseAuditQuery(params: Record<string, unknown>): AuditQuery {
  const errors: FieldError[] = [];
  const query: AuditQuery = { limit: DEFAULT_LIMIT };
  for (const [name, raw] of entriesOf(params)) {
    const path = printableName(name);
    if (typeof raw !== 'string') {
      errors.push({ path, message: 'must be given once, as a plain value' });
      continue;
    }
    if (raw.includes('\u0000') || !raw.isWellFormed()) {
      errors.push({ path, message: 'must not contain NUL or invalid characters' });
      continue;
    }
    if ((TEXT_FILTERS as readonly string[]).includes(name)) {
      if (raw.length < 1 || raw.length > 256)
        errors.push({ path, message: 'must be 1-256 characters' });
      else query[name as (typeof TEXT_FILTERS)[number]] = raw;
    } else if (name === 'outcome' || name === 'threat') {
      const allowed: readonly string[] = name === 'outcome' ? AUDIT_OUTCOMES : AUDIT_THREATS;
      if (!allowed.includes(raw))
        errors.push({ path, message: `must be one of ${allowed.join(', ')}` });
      else query[name] = raw;
    } else if (name === 'from' || name === 'to') {
      const bound = parseBound(raw, name === 'to');
      if (bound === null)
        errors.push({ path, message: 'must be an ISO-8601 date-time or a YYYY-MM-DD date' });
      else query[name] = bound;
    } else if (name === 'limit') {
      const n = /^\d{1,7}$/.test(raw) ? Number(raw) : NaN;
      if (!(n >= 1 && n <= MAX_LIMIT))
        errors.push({ path, message: `must be an integer from 1 to ${MAX_LIMIT}` });
      else query.limit = n;
    } else if (name === 'cursor') {
      const id = decodeCursor(raw);
      if (id === null) errors.push({ path, message: 'is not a cursor this API returned' });
      else query.beforeId = id;
    } else if (DETAILS_KEY.test(name)) {
      const keys = name.split('.').slice(1);
      let value: unknown = parseDetailsValue(raw);
      for (const key of keys.reverse()) value = dataObject(key, value);
      query.details = mergeDeep(query.details ?? {}, value as Record<string, unknown>);
    } else if (name.startsWith('details.')) {
      errors.push({
        path,
        message: 'details keys are 1-64 characters of A-Z, a-z, 0-9, "_" or "-", dot-separated',
      });
    } else {
      errors.push({ path, message: 'is not a known query parameter' });
    }
  }
  if (query.from && query.to && query.from >= query.to) {
    errors.push({ path: 'from', message: 'must be before to' });
  }
  if (errors.length) throw new AuditQueryInvalidError(errors);
  return query;
}

/** The parameters, or AuditQueryInvalidError when `params` is not a readable plain object. */
function entriesOf(params: unknown): [string, unknown][] {
  try {
    if (params !== null && typeof params === 'object' && !Array.isArray(params))
      return Object.entries(params);
  } catch {
    // a getter that throws
  }
  throw new AuditQueryInvalidError([
    { path: 'query', message: 'must be an object of query parameters' },
  ]);
}

/** A parameter or field name fit for an error: control characters escaped, at most 64 shown. */
export function printableName(name: string): string {
  const shown = JSON.stringify(name.length > 64 ? `${name.slice(0, 64)}…` : name);
  return shown.slice(1, -1);
}

/** `to` given as a date covers that whole UTC day: the bound becomes the next midnight. */
function parseBound(raw: string, isUpper: boolean): string | null {
  if (/^\d{4}-\d{2}-\d{2}$/.test(raw)) {
    const ms = Date.parse(`${raw}T00:00:00.000Z`);
    if (!Number.isFinite(ms) || new Date(ms).toISOString().slice(0, 10) !== raw) return null;
    return timeBound(isUpper ? ms + 86_400_000 : ms);
  }
  const t = dateTimeMillis(raw);
  if (t === null) return null;
  // An upper bound given to the millisecond includes that millisecond. Records are stored to the
  // millisecond: a lower bound finer than that starts at the next one.
  return timeBound(isUpper ? t.ms + 1 : t.subMillis ? t.ms + 1 : t.ms);
}

const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T\d{2}:\d{2}(:\d{2}(\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})$/;

/**
 * An ISO-8601 date-time with an offset: its millisecond (rounded down) and whether it said more
 * than that; null when it is not one. A day the calendar lacks is refused (V8 reads 02-30 as 03-01,
 * PostgreSQL refuses it).
 */
export function dateTimeMillis(raw: string): { ms: number; subMillis: boolean } | null {
  const m = DATE_TIME.exec(raw);
  if (!m) return null;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1) return null;
  const ms = Date.parse(raw);
  if (!Number.isFinite(ms)) return null;
  return { ms, subMillis: m[6] !== undefined && /[1-9]/.test(m[6].slice(3)) };
}

const FIRST = Date.parse('0001-01-01T00:00:00.000Z');
const AFTER_LAST = Date.parse('9999-12-31T23:59:59.999Z') + 1;

/** Years 1 to 9999 as PostgreSQL reads them; the instant after 9999 is "infinity". */
export function timeBound(ms: number): string | null {
  if (ms < FIRST || ms > AFTER_LAST) return null;
  return ms === AFTER_LAST ? 'infinity' : new Date(ms).toISOString();
}

/** A value that parses as a JSON number, boolean or null matches that; anything else a string. */
function parseDetailsValue(raw: string): unknown {
  try {
    const parsed: unknown = JSON.parse(raw);
    if (parsed === null || typeof parsed === 'boolean') return parsed;
    if (typeof parsed === 'number' && Number.isFinite(parsed)) return parsed;
  } catch {
    // a plain string
  }
  return raw;
}

function mergeDeep(
  a: Record<string, unknown>,
  b: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = Object.create(null);
  for (const [k, v] of Object.entries(a)) set(out, k, v);
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    set(
      out,
      k,
      prev && typeof prev === 'object' && v && typeof v === 'object'
        ? mergeDeep(prev as Record<string, unknown>, v as Record<string, unknown>)
        : v,
    );
  }
  return out;
}

/** `{key: value}` as data: a key such as `__proto__` is an ordinary member, never a prototype. */
function dataObject(key: string, value: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = Object.create(null);
  set(out, key, value);
  return out;
}

function set(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, {
    value,
    enumerable: true,
    writable: true,
    configurable: true,
  });
}

/** Cursors are opaque to clients: base64url of `id:<n>`. */
export function encodeCursor(id: number): string {
  return Buffer.from(`id:${id}`).toString('base64url');
}

function decodeCursor(raw: string): number | null {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(raw)) return null;
  const m = /^id:(\d{1,15})$/.exec(Buffer.from(raw, 'base64url').toString('utf8'));
  return m ? Number(m[1]) : null;
}

/** The WHERE clause and parameters of a query (values are always bound, never interpolated). */
export function auditQuerySql(query: AuditQuery): { where: string; params: unknown[] } {
  const clauses: string[] = [];
  const params: unknown[] = [];
  const add = (sql: string, value: unknown) => {
    params.push(value);
    clauses.push(sql.replace('?', `$${params.length}`));
  };
  if (query.type !== undefined) add('type = ?', query.type);
  if (query.userId !== undefined) add('user_id = ?', query.userId);
  if (query.actorId !== undefined) add('actor_id = ?', query.actorId);
  if (query.entityType !== undefined) add('entity_type = ?', query.entityType);
  if (query.ip !== undefined) add('ip = ?', query.ip);
  if (query.location !== undefined) add('location = ?', query.location);
  if (query.outcome !== undefined) add('outcome = ?', query.outcome);
  if (query.threat !== undefined) add('threat = ?', query.threat);
  if (query.from !== undefined) add('occurred_at >= ?::timestamptz', query.from);
  if (query.to !== undefined) add('occurred_at < ?::timestamptz', query.to);
  if (query.details !== undefined) add('details @> ?::jsonb', JSON.stringify(query.details));
  if (query.beforeId !== undefined) add('id < ?', query.beforeId);
  return { where: clauses.length ? `WHERE ${clauses.join(' AND ')}` : '', params };
}
