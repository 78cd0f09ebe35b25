import { AUDIT_OUTCOMES, AUDIT_THREATS } from './audit-record.js';

const nullableString = (maxLength: number) => ({
  type: ['string', 'null'],
  maxLength,
});

/**
 * JSON Schema of an event submitted to the audit API (served at GET /audit/schema). The store
 * sets `id`, `actorId`, `prevHash` and `hash`; any field not listed here is rejected.
 */
export const auditEventSchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  title: 'strikeguard audit event',
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
      description: 'the user the event is about (an id, never a username)',
    },
    occurredAt: {
      type: 'string',
      format: 'date-time',
      description: 'ISO-8601 with a UTC offset; stored as YYYY-MM-DDTHH:mm:ss.sssZ; default now',
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
      description: 'event-specific JSON object, at most 64 kB serialised',
    },
  },
} as const;

/** Largest `details`, serialised. */
export const MAX_DETAILS_BYTES = 64 * 1024;
/** Most events in one submission. */
export const MAX_BATCH = 1000;
