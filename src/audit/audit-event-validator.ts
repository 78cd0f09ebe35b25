import { type ValidateFunction } from 'ajv';
import {
  auditEventFieldsSchema,
  MAX_BATCH,
  MAX_DEPTH,
  MAX_DETAILS_BYTES,
  OCCURRED_AT_PATTERN,
} from './audit-event.schema.js';
import { type AuditEvent } from './audit-record.js';
import { ajv, type FieldError, join, toFieldErrors } from '../common/field-errors.js';
import { unstorableReason } from '../common/storable-text.js';

/** An event that breaks the record format; `errors` lists every problem with its path. */
export class AuditEventInvalidError extends Error {
  constructor(readonly errors: FieldError[]) {
    super(
      `invalid audit event: ${errors.map((e) => `${e.path || 'event'} ${e.message}`).join('; ')}`,
    );
    this.name = this.constructor.name;
  }
}

// ajv checks the fields; text, numbers, nesting and occurredAt are checked by checkEvent below, to
// the same rules as the published schema (GET /audit/schema), with one clear message per problem.
const submitted = ajv.compile<AuditEvent>(auditEventFieldsSchema);

/** What code may record: the service fills actor, method and path; fewer fields are required. */
const internal = ajv.compile<AuditEvent>({
  ...auditEventFieldsSchema,
  required: ['type', 'userId'],
  properties: {
    ...auditEventFieldsSchema.properties,
    actorId: { type: ['string', 'null'], maxLength: 256 },
    method: { type: ['string', 'null'], maxLength: 256 },
    path: { type: ['string', 'null'], maxLength: 256 },
    occurredAt: {},
  },
});

const EARLIEST = Date.parse('1970-01-01T00:00:00.000Z');
const LATEST = Date.parse('9999-12-31T23:59:59.999Z');
const OCCURRED_AT = new RegExp(OCCURRED_AT_PATTERN);

/**
 * Validates a submission to the audit API: one event or an array of 1 to 1,000. Returns every
 * problem (all-or-nothing: one bad event rejects the batch).
 */
export function validateSubmission(body: unknown): { events: AuditEvent[]; errors: FieldError[] } {
  if (Array.isArray(body)) {
    if (body.length === 0 || body.length > MAX_BATCH) {
      return {
        events: [],
        errors: [{ path: '', message: `must hold 1 to ${MAX_BATCH} events (got ${body.length})` }],
      };
    }
    const errors = body.flatMap((event, i) => checkEvent(submitted, event, `[${i}]`));
    return { events: body as AuditEvent[], errors };
  }
  if (body === null || typeof body !== 'object') {
    return {
      events: [],
      errors: [{ path: '', message: 'must be an event object or an array of events' }],
    };
  }
  return { events: [body as AuditEvent], errors: checkEvent(submitted, body, '') };
}

/** Validates an event recorded from code; throws AuditEventInvalidError listing the problems. */
export function assertValidEvent(event: AuditEvent): void {
  const errors = checkEvent(internal, event, '');
  if (errors.length) throw new AuditEventInvalidError(errors);
}

function checkEvent(
  validate: ValidateFunction<AuditEvent>,
  event: unknown,
  prefix: string,
): FieldError[] {
  if (event === null || typeof event !== 'object' || Array.isArray(event)) {
    return [{ path: prefix, message: 'must be an event object' }];
  }
  const errors = validate(event) ? [] : toFieldErrors(validate.errors ?? [], prefix);
  const e = event as Record<string, unknown>;
  scanStrings(e, prefix, errors);
  if (
    e.occurredAt !== undefined &&
    !(e.occurredAt instanceof Date) &&
    occurredAtMillis(e.occurredAt) === null
  ) {
    if (!errors.some((x) => x.path === join(prefix, 'occurredAt'))) {
      errors.push({
        path: join(prefix, 'occurredAt'),
        message:
          'must be an RFC 3339 date-time with seconds and an offset (Z or ±hh:mm, e.g. ' +
          '2026-03-01T10:15:30.5+02:00), no leap second, from 1970 to 9999 in UTC',
      });
    }
  }
  // Sized only once known to be shallow: serialising a deeper value could overflow the stack.
  const tooDeep = errors.some((x) => x.message.startsWith('is nested too deeply'));
  if (e.details && typeof e.details === 'object' && !tooDeep) {
    const size = Buffer.byteLength(JSON.stringify(e.details));
    if (size > MAX_DETAILS_BYTES) {
      errors.push({
        path: join(prefix, 'details'),
        message: `must be at most ${MAX_DETAILS_BYTES} bytes serialised (got ${size})`,
      });
    }
  }
  return errors;
}

/**
 * Milliseconds of a submitted occurredAt, or null when it is not an RFC 3339 date-time (offset `Z`
 * or `±hh:mm`, seconds, no leap second, a real calendar day) from 1970 to 9999 once in UTC.
 */
export function occurredAtMillis(value: unknown): number | null {
  if (typeof value !== 'string' || !OCCURRED_AT.test(value)) return null;
  // Fixed positions from here: YYYY-MM-DDTHH:mm:ss[.fraction](Z|±hh:mm)
  const n = (from: number, to: number) => Number(value.slice(from, to));
  const [year, month, day] = [n(0, 4), n(5, 7), n(8, 10)];
  if (day > daysInMonth(year, month)) return null;
  const fraction = /^\.(\d+)/.exec(value.slice(19))?.[1] ?? '';
  const zone = value.slice(19 + (fraction ? fraction.length + 1 : 0));
  const offset =
    zone === 'Z' || zone === 'z'
      ? 0
      : (zone[0] === '-' ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6)));
  const ms =
    Date.UTC(
      year,
      month - 1,
      day,
      n(11, 13),
      n(14, 16),
      n(17, 19),
      Number(fraction.padEnd(3, '0').slice(0, 3)),
    ) -
    offset * 60_000;
  return ms >= EARLIEST && ms <= LATEST ? ms : null;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/**
 * NUL, unpaired UTF-16 surrogates and noncharacters cannot be stored (PostgreSQL refuses the
 * first two; I-JSON, which RFC 8785 requires, excludes all three) and have no business in
 * evidence: reject them anywhere, keys of `details` included. So are non-finite numbers and
 * nesting past MAX_DEPTH levels.
 */
function scanStrings(value: unknown, path: string, errors: FieldError[], depth = 0): void {
  if (depth > MAX_DEPTH) {
    errors.push({ path, message: `is nested too deeply (more than ${MAX_DEPTH} levels)` });
    return;
  }
  if (typeof value === 'number') {
    // 1e400 parses as Infinity: JSON (and RFC 8785) cannot represent it.
    if (!Number.isFinite(value)) errors.push({ path, message: 'must be a finite number' });
  } else if (typeof value === 'string') {
    const reason = unstorableReason(value);
    if (reason) errors.push({ path, message: reason });
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => scanStrings(v, `${path}[${i}]`, errors, depth + 1));
  } else if (value && typeof value === 'object' && !(value instanceof Date)) {
    for (const [k, v] of Object.entries(value)) {
      const p = join(path, k);
      const reason = unstorableReason(k);
      if (reason) errors.push({ path: p, message: `key ${reason}` });
      scanStrings(v, p, errors, depth + 1);
    }
  }
}
