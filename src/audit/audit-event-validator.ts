import { type ValidateFunction } from 'ajv';
import { auditEventSchema, MAX_BATCH, MAX_DETAILS_BYTES } from './audit-event.schema.js';
import { type AuditEvent } from './audit-record.js';
import { ajv, type FieldError, join, toFieldErrors } from '../common/field-errors.js';

/** An event that breaks the record format; `errors` lists every problem with its path. */
export class AuditEventInvalidError extends Error {
  constructor(readonly errors: FieldError[]) {
    super(
      `invalid audit event: ${errors.map((e) => `${e.path || 'event'} ${e.message}`).join('; ')}`,
    );
    this.name = this.constructor.name;
  }
}

const submitted = ajv.compile<AuditEvent>(auditEventSchema);

/** What code may record: the service fills actor, method and path; fewer fields are required. */
const internal = ajv.compile<AuditEvent>({
  ...auditEventSchema,
  $schema: undefined,
  required: ['type', 'userId'],
  properties: {
    ...auditEventSchema.properties,
    actorId: { type: ['string', 'null'], maxLength: 256 },
    method: { type: ['string', 'null'], maxLength: 256 },
    path: { type: ['string', 'null'], maxLength: 256 },
    occurredAt: {},
  },
});

const EARLIEST = Date.parse('1970-01-01T00:00:00.000Z');
const LATEST = Date.parse('9999-12-31T23:59:59.999Z');

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
        message: 'must be an ISO-8601 date-time with a UTC offset, from 1970 to 9999',
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

/** Milliseconds of a submitted occurredAt, or null when it is not a usable date-time. */
export function occurredAtMillis(value: unknown): number | null {
  if (
    typeof value !== 'string' ||
    !/^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})$/.test(value)
  ) {
    return null;
  }
  const ms = Date.parse(value);
  return Number.isFinite(ms) && ms >= EARLIEST && ms <= LATEST ? ms : null;
}

/**
 * NUL and unpaired UTF-16 surrogates cannot be stored (PostgreSQL text and jsonb refuse them) and
 * have no business in evidence: reject them anywhere, keys of `details` included.
 */
function scanStrings(value: unknown, path: string, errors: FieldError[], depth = 0): void {
  if (depth > 64) {
    errors.push({ path, message: 'is nested too deeply (more than 64 levels)' });
    return;
  }
  if (typeof value === 'number') {
    // 1e400 parses as Infinity: JSON (and RFC 8785) cannot represent it.
    if (!Number.isFinite(value)) errors.push({ path, message: 'must be a finite number' });
  } else if (typeof value === 'string') {
    if (value.includes('\u0000'))
      errors.push({ path, message: 'must not contain a NUL character' });
    else if (!value.isWellFormed())
      errors.push({ path, message: 'must be well-formed Unicode (no lone surrogates)' });
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => scanStrings(v, `${path}[${i}]`, errors, depth + 1));
  } else if (value && typeof value === 'object' && !(value instanceof Date)) {
    for (const [k, v] of Object.entries(value)) {
      const p = join(path, k);
      if (k.includes('\u0000') || !k.isWellFormed())
        errors.push({ path: p, message: 'key must not contain NUL or lone surrogates' });
      scanStrings(v, p, errors, depth + 1);
    }
  }
}
