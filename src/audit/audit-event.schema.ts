import { AUDIT_OUTCOMES, AUDIT_THREATS } from './audit-record.js';
import { NONCHARACTER_CLASS } from '../common/storable-text.js';

/** Largest `details`, serialised. */
export const MAX_DETAILS_BYTES = 64 * 1024;
/** Most events in one submission. */
export const MAX_BATCH = 1000;
/** Deepest nesting of an event: the event is level 0, `details` 1, its members 2, and so on. */
export const MAX_DEPTH = 64;

/**
 * Text the record format holds (ECMA-262 with the u flag, as ajv compiles patterns): no NUL, no
 * unpaired surrogate, no noncharacter — I-JSON (RFC 7493), which RFC 8785 requires.
 */
export const STORABLE_TEXT_PATTERN = `^[^\\u0000\\uD800-\\uDFFF${NONCHARACTER_CLASS}]*$`;

/**
 * RFC 3339 `date-time`, years 1970-9999: seconds required, no leap second (JavaScript dates have
 * none), offset `Z` or `±hh:mm` (RFC 3339 has no `+05` or `+0500`). The calendar (30 February) is
 * checked by `format: "date-time"`.
 */
export const OCCURRED_AT_PATTERN =
  '^(19[7-9]\\d|[2-9]\\d{3})-(0[1-9]|1[0-2])-(0[1-9]|[12]\\d|3[01])[Tt]([01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(\\.\\d+)?([Zz]|[+-]([01]\\d|2[0-3]):[0-5]\\d)$';

const OCCURRED_AT_DESCRIPTION =
  'RFC 3339 date-time with an offset (Z or ±hh:mm), from 1970-01-01T00:00:00Z to ' +
  '9999-12-31T23:59:59.999Z once the offset is applied; stored as YYYY-MM-DDTHH:mm:ss.sssZ; ' +
  'default now';

const DETAILS_DESCRIPTION =
  'event-specific JSON object, or null; at most 64 kB (65,536 bytes of UTF-8) serialised as ' +
  'JSON.stringify writes it; nested at most 64 levels (the event is level 0, details 1); text ' +
  'without NUL, unpaired surrogates or noncharacters; finite numbers';

/**
 * What this schema cannot express, and the service checks: the 64 kB of `details`; an
 * `occurredAt` whose offset takes it out of 1970-9999 (`1970-01-01T00:30:00+01:00`); and, in the
 * JSON text itself, member names repeated in one object (`{"k":1,"k":2}`) and text that is not
 * UTF-8 — a record must be exactly what was sent (I-JSON, RFC 7493).
 */
const SCHEMA_DESCRIPTION =
  'One event submitted to POST /audit/events (or an array of 1 to 1,000). Checked by the ' +
  'service and not expressible here: details at most 64 kB serialised; occurredAt within ' +
  '1970-9999 once its offset is applied; the JSON text must be UTF-8 and repeat no member name ' +
  'within an object (I-JSON, RFC 7493).';

/** One level of `details` content: levels 2 to MAX_DEPTH, the last holding no members. */
function contentLevel(level: number) {
  const next = { $ref: `#/definitions/detailsLevel${level + 1}` };
  return {
    type: ['object', 'array', 'string', 'number', 'boolean', 'null'],
    allOf: [{ $ref: '#/definitions/storableValue' }],
    propertyNames: { $ref: '#/definitions/storableText' },
    ...(level < MAX_DEPTH
      ? { items: next, additionalProperties: next }
      : { maxItems: 0, maxProperties: 0 }),
  };
}

/** Shared by every level (draft-07 ignores keywords beside a $ref, hence allOf). */
const contentRules = {
  storableText: { type: 'string', pattern: STORABLE_TEXT_PATTERN },
  storableValue: {
    type: ['object', 'array', 'string', 'number', 'boolean', 'null'],
    description: 'text the record format holds; a finite number (1e400 is not one)',
    pattern: STORABLE_TEXT_PATTERN,
    minimum: -Number.MAX_VALUE,
    maximum: Number.MAX_VALUE,
  },
};

/**
 * The event's fields: with `content`, also the rules on text, numbers and nesting that the
 * validator checks with its own scan (one message per problem) rather than with ajv.
 */
function eventSchema(content: boolean) {
  const text = content ? { pattern: STORABLE_TEXT_PATTERN } : {};
  const nullableString = (maxLength: number) => ({
    type: ['string', 'null'],
    maxLength,
    ...text,
  });
  return {
    title: 'strikeguard audit event',
    description: SCHEMA_DESCRIPTION,
    type: 'object',
    additionalProperties: false,
    required: ['type', 'userId', 'entityType', 'ip', 'location', 'description'],
    properties: {
      type: {
        type: 'string',
        pattern: '^[a-z0-9_.-]{1,128}$',
        description: '1-128 characters of a-z, 0-9, "_", "." or "-"',
      },
      userId: {
        type: 'string',
        minLength: 1,
        maxLength: 128,
        ...text,
        description: 'the user the event is about (an id, never a username)',
      },
      occurredAt: {
        type: 'string',
        ...(content ? { pattern: OCCURRED_AT_PATTERN, format: 'date-time' } : {}),
        description: OCCURRED_AT_DESCRIPTION,
      },
      outcome: { enum: [...AUDIT_OUTCOMES], description: 'default success' },
      threat: { enum: [...AUDIT_THREATS], description: 'default none' },
      entityType: nullableString(256),
      targetId: nullableString(256),
      ip: nullableString(256),
      location: nullableString(256),
      description: nullableString(4096),
      details: {
        type: ['object', 'null'],
        ...(content
          ? {
              propertyNames: { $ref: '#/definitions/storableText' },
              additionalProperties: { $ref: '#/definitions/detailsLevel2' },
            }
          : {}),
        description: DETAILS_DESCRIPTION,
      },
    },
  };
}

const levels = Array.from({ length: MAX_DEPTH - 1 }, (_, i) => i + 2);

/**
 * JSON Schema of an event submitted to the audit API (served at GET /audit/schema): everything the
 * service checks that JSON Schema can express, the rest in `description`s. The store sets `id`,
 * `actorId`, `prevHash` and `hash`; any field not listed here is rejected.
 */
export const auditEventSchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  ...eventSchema(true),
  definitions: {
    ...contentRules,
    ...Object.fromEntries(levels.map((l) => [`detailsLevel${l}`, contentLevel(l)])),
  },
};

/**
 * The event's fields without the rules on text, numbers, nesting and occurredAt's form: what the
 * validator hands ajv (it checks the rest itself, with clearer messages) and what the OpenAPI
 * document shows (no `$ref` into this schema's own definitions). GET /audit/schema has it all.
 */
export const auditEventFieldsSchema = eventSchema(false);
