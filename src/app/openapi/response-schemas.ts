import { ROLES } from '../users/user.entity.js';
import { SERVICE_SCOPES } from '../auth/principal.js';

/** Response bodies of the service's own routes, for its OpenAPI 3.1 document. */

const instant = { type: 'string', format: 'date-time', example: '2026-12-01T12:00:00.000Z' };
const uuid = { type: 'string', format: 'uuid' };

export const registeredSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'username'],
  properties: { id: uuid, username: { type: 'string', example: 'alice' } },
};

export const accessTokenSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['accessToken', 'expiresIn', 'deviceToken'],
  properties: {
    accessToken: { type: 'string', description: 'an HS256 JWT: send it as `Bearer <token>`' },
    expiresIn: { type: 'integer', minimum: 1, description: 'seconds' },
    deviceToken: {
      type: ['string', 'null'],
      description:
        'this device, trusted for this account: send it as `X-Device-Token` on later logins ' +
        '(browsers get it as the `sg_device` cookie too); null when LOGIN_THROTTLE=false',
    },
  },
};

export const userSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'username', 'role'],
  properties: {
    id: uuid,
    username: { type: 'string', example: 'alice' },
    role: { enum: [...ROLES] },
  },
};

const nullableInstant = { ...instant, type: ['string', 'null'] };

export const healthSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['status', 'checks', 'transparencyLog'],
  properties: {
    status: {
      enum: ['ok', 'degraded'],
      description:
        '`degraded`: the transparency log cannot sign or a witness did not cosign (see `transparencyLog`), or the alert webhook is failing or behind (see `alerts`)',
    },
    checks: {
      type: 'object',
      additionalProperties: false,
      required: ['database', 'auditLog', 'transparencyLog'],
      properties: {
        database: { enum: ['ok'] },
        auditLog: { enum: ['ok'] },
        transparencyLog: { enum: ['ok', 'degraded'] },
        alerts: { enum: ['ok', 'degraded'], description: 'only with ALERT_WEBHOOK_URL' },
      },
    },
    transparencyLog: {
      type: 'object',
      description:
        "this instance's view of the Merkle tree and its checkpoints (from its last pass)",
      additionalProperties: false,
      required: [
        'healthy',
        'signing',
        'passes',
        'treeSize',
        'chainSize',
        'checkpoint',
        'witnesses',
      ],
      properties: {
        healthy: { type: 'boolean' },
        signing: {
          enum: ['ok', 'refused'],
          description:
            "`refused`: the tree does not extend the checkpoint published in AUDIT_LOG_DIR (history was rewritten, or the files are another log's); nothing is signed until resolved",
        },
        passes: {
          enum: ['ok', 'failing'],
          description: '`failing`: the last integration or signing pass failed (see the log)',
        },
        treeSize: {
          type: ['integer', 'null'],
          description: 'records in the tree; null before the first pass',
        },
        chainSize: {
          type: ['integer', 'null'],
          description: 'records in the chain at the last pass',
        },
        checkpoint: {
          type: ['object', 'null'],
          additionalProperties: false,
          required: ['size', 'signedAt'],
          properties: { size: { type: 'integer' }, signedAt: instant },
        },
        witnesses: {
          type: 'array',
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['name', 'cosignedSize', 'ok'],
            properties: {
              name: { type: 'string', description: "the witness key's name" },
              cosignedSize: { type: ['integer', 'null'] },
              ok: {
                type: 'boolean',
                description: 'false: it did not cosign the latest checkpoint',
              },
            },
          },
        },
      },
    },
    alerts: {
      type: 'object',
      description: "only with ALERT_WEBHOOK_URL: this instance's view of the alert delivery",
      additionalProperties: false,
      required: [
        'destination',
        'role',
        'healthy',
        'cursor',
        'lag',
        'oldestPendingAt',
        'lastSuccessAt',
        'lastError',
        'consecutiveFailures',
        'nextAttemptAt',
      ],
      properties: {
        destination: { type: 'string' },
        role: {
          enum: ['starting', 'delivering', 'standby', 'stopped'],
          description: '`delivering`: this instance holds the lease; `standby`: another does',
        },
        healthy: { type: 'boolean' },
        cursor: { type: 'integer', description: 'id of the last alert the receiver acknowledged' },
        lag: { type: 'integer', description: 'alerts not yet acknowledged (counted up to 10,000)' },
        oldestPendingAt: nullableInstant,
        lastSuccessAt: nullableInstant,
        lastError: { type: ['string', 'null'] },
        consecutiveFailures: { type: 'integer' },
        nextAttemptAt: nullableInstant,
      },
    },
  },
};

const serviceTokenProperties = {
  id: uuid,
  name: { type: 'string', example: 'billing-service' },
  scopes: { type: 'array', items: { enum: [...SERVICE_SCOPES] } },
  createdBy: { ...uuid, description: 'the admin who issued it' },
  createdAt: instant,
  expiresAt: instant,
  revokedAt: { ...instant, type: ['string', 'null'] },
};
const serviceTokenRequired = Object.keys(serviceTokenProperties);

export const serviceTokenSchema = {
  type: 'object',
  additionalProperties: false,
  required: serviceTokenRequired,
  properties: serviceTokenProperties,
};

export const issuedServiceTokenSchema = {
  type: 'object',
  additionalProperties: false,
  required: [...serviceTokenRequired, 'token'],
  properties: {
    ...serviceTokenProperties,
    token: { type: 'string', description: 'the bearer token; shown only in this response' },
  },
};
