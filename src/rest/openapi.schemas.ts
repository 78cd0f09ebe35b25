import { auditEventFieldsSchema } from '../audit/audit-event.schema.js';
import { AUDIT_OUTCOMES, AUDIT_THREATS } from '../audit/audit-record.js';

/**
 * Schemas of the REST modules' bodies for the OpenAPI document, in OpenAPI 3.1 form (JSON Schema
 * 2020-12: `type: ["string", "null"]`). Declare 3.1.0 in your document
 * (`new DocumentBuilder().setOpenAPIVersion('3.1.0')`), or pass it through `toOpenApi30`.
 */

const text = (maxLength: number) => ({ type: ['string', 'null'], maxLength });
const instant = { type: 'string', format: 'date-time', example: '2026-12-01T12:00:00.000Z' };
const sha256 = { type: 'string', pattern: '^[0-9a-f]{64}$' };

/**
 * A submitted event's fields, minus `$schema` (not an OpenAPI keyword). `GET /audit/schema` has
 * every rule; its `$ref`s would not resolve inside this document.
 */
export const submittedEventSchema = Object.fromEntries(
  Object.entries(auditEventFieldsSchema).filter(([key]) => key !== '$schema'),
);

/** `POST /audit/events`: one event, or an array of up to 1,000. */
export const submissionSchema = {
  oneOf: [
    submittedEventSchema,
    { type: 'array', items: submittedEventSchema, minItems: 1, maxItems: 1000 },
  ],
};

/** A record of the audit trail, as the API returns it. */
export const auditRecordSchema = {
  type: 'object',
  additionalProperties: false,
  required: [
    'id',
    'occurredAt',
    'type',
    'userId',
    'actorId',
    'outcome',
    'threat',
    'ip',
    'method',
    'path',
    'entityType',
    'targetId',
    'location',
    'description',
    'details',
    'prevHash',
    'hash',
  ],
  properties: {
    id: { type: 'integer', minimum: 1, description: 'increasing in chain order, without gaps' },
    occurredAt: instant,
    type: { type: 'string', pattern: '^[a-z0-9_.-]{1,128}$' },
    userId: { type: 'string', maxLength: 128 },
    actorId: { ...text(128), description: 'who acted, from the authenticated principal' },
    outcome: { enum: [...AUDIT_OUTCOMES] },
    threat: { enum: [...AUDIT_THREATS] },
    ip: text(256),
    method: text(256),
    path: text(256),
    entityType: text(256),
    targetId: text(256),
    location: text(256),
    description: text(4096),
    details: { type: ['object', 'null'] },
    prevHash: { ...sha256, description: "the previous record's hash; 64 zeros for the first" },
    hash: { ...sha256, description: 'SHA-256 of the RFC 8785 canonical JSON of the rest' },
  },
};

/** `{items, nextCursor}`: `nextCursor` is null on the last page. */
export const pageSchema = (items: object) => ({
  type: 'object',
  additionalProperties: false,
  required: ['items', 'nextCursor'],
  properties: {
    items: { type: 'array', items },
    nextCursor: { type: ['string', 'null'], description: 'opaque; null on the last page' },
  },
});

/** `{ids}` of a submission, in submission order. */
export const submittedIdsSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['ids'],
  properties: { ids: { type: 'array', items: { type: 'integer', minimum: 1 } } },
};

/** What a verification found. */
export const verifyResultSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['ok', 'checked'],
  properties: {
    ok: { type: 'boolean' },
    checked: { type: 'integer', minimum: 0, description: 'records checked' },
    firstInvalidId: { type: 'integer', description: 'the first record that does not hold' },
    reason: { type: 'string', description: 'why it does not hold' },
  },
};

/** A user's strike counter as the admin API shows it. */
export const strikeCounterSchema = {
  type: 'object',
  additionalProperties: false,
  required: [
    'userId',
    'count',
    'blocker',
    'total',
    'status',
    'simulatedBlock',
    'blockedAt',
    'blockedUntil',
    'timedBlocks',
    'oldestCountedAt',
    'lastViolationAt',
  ],
  properties: {
    userId: { type: 'string', maxLength: 128 },
    count: { type: 'integer', minimum: 0, description: 'strikes since the last termination' },
    blocker: {
      type: 'integer',
      minimum: 0,
      description:
        'strikes that count toward the block: since the last unblock, and (with decay) within the window',
    },
    total: { type: 'integer', minimum: 0, description: 'every strike, for ever' },
    status: {
      enum: ['active', 'blocked'],
      description: '`blocked` while a real block holds (a timed block that has ended is `active`)',
    },
    simulatedBlock: {
      type: 'boolean',
      description: 'monitor mode would have blocked the account (blockedAt, blockedUntil)',
    },
    blockedAt: { ...instant, type: ['string', 'null'] },
    blockedUntil: {
      ...instant,
      type: ['string', 'null'],
      description: "a timed block's end; null: until an admin unblocks, or not blocked",
    },
    timedBlocks: {
      type: 'integer',
      minimum: 0,
      description: 'timed blocks so far (after permanentAfter of them, the next is permanent)',
    },
    oldestCountedAt: {
      ...instant,
      type: ['string', 'null'],
      description: 'with decay: the oldest strike still counted in `blocker`; else null',
    },
    lastViolationAt: { ...instant, type: ['string', 'null'] },
  },
};

/** `GET /audit/schema`: a JSON Schema document. */
export const jsonSchemaDocumentSchema = {
  type: 'object',
  description: 'a JSON Schema (draft-07) of a submitted event',
};

const LOGIN_LANES = ['account', 'account_device', 'account_source', 'hard', 'source'];

/** A login-throttle block: until when, `"infinity"` for a hard stop, null when not blocked. */
const blockedUntil = {
  type: ['string', 'null'],
  description: 'ISO-8601 end of the block; `"infinity"`: until cleared; null: not blocked',
  example: '2026-12-01T12:00:00.000Z',
};

/** One lane of a user's login throttle. */
export const loginLaneSchema = {
  type: 'object',
  additionalProperties: false,
  required: [
    'lane',
    'source',
    'deviceId',
    'failures',
    'windowStart',
    'lastFailureAt',
    'blockedUntil',
  ],
  properties: {
    lane: {
      enum: LOGIN_LANES,
      description:
        '`account_source`, `account_device`: consecutive failures from one source or device; ' +
        '`account`, `source`: failures in a window; `hard`: consecutive untrusted failures',
    },
    source: { ...text(64), description: 'IPv4 address or IPv6 /64 of `account_source`' },
    deviceId: { type: ['string', 'null'], format: 'uuid', description: 'of `account_device`' },
    failures: { type: 'integer', minimum: 0 },
    windowStart: instant,
    lastFailureAt: { ...instant, type: ['string', 'null'] },
    blockedUntil,
  },
};

/** `GET /admin/login-throttle/users/:userId`. */
export const loginThrottleStatusSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['userId', 'failures', 'blockedUntil', 'lanes', 'trustedDevices'],
  properties: {
    userId: { type: 'string', maxLength: 128 },
    failures: {
      type: 'integer',
      minimum: 0,
      description: 'consecutive untrusted failures (what the hard stop counts)',
    },
    blockedUntil: { ...blockedUntil, description: 'when the last blocking lane ends' },
    lanes: { type: 'array', items: loginLaneSchema },
    trustedDevices: { type: 'integer', minimum: 0 },
  },
};

const cleared = {
  cleared: { type: 'integer', minimum: 0, description: 'lanes deleted' },
  lifted: {
    type: 'array',
    items: { enum: LOGIN_LANES },
    description: 'the lanes among them that were blocking',
  },
};

/** `DELETE /admin/login-throttle/users/:userId`. */
export const loginClearedUserSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['userId', 'cleared', 'lifted'],
  properties: { userId: { type: 'string', maxLength: 128 }, ...cleared },
};

/** `DELETE /admin/login-throttle/sources/:ip`. */
export const loginClearedSourceSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['source', 'cleared', 'lifted'],
  properties: {
    source: { type: 'string', maxLength: 64, description: 'IPv4 address or IPv6 /64' },
    ...cleared,
  },
};

/** A source of login failures (all accounts), as `GET /admin/login-throttle/sources` lists it. */
export const loginSourceSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['source', 'failures', 'windowStart', 'blockedUntil'],
  properties: {
    source: {
      type: 'string',
      maxLength: 64,
      description: 'IPv4 address, IPv6 /64 (`2001:db8:0:0::/64`), or `unknown`',
    },
    failures: { type: 'integer', minimum: 0, description: 'failures in the current window' },
    windowStart: instant,
    blockedUntil,
  },
};
