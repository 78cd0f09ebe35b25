import { SERVICE_SCOPES } from '../auth/principal.js';

export interface IssueServiceTokenBody {
  name: string;
  scopes: string[];
  /** Seconds, or a duration such as `90d`, `12h`; default 30 days, at most 365 days. */
  ttl?: number | string;
}

export const issueServiceTokenSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'scopes'],
  properties: {
    name: {
      type: 'string',
      pattern: '^[A-Za-z0-9 ._:-]{1,64}$',
      description: '1-64 characters of letters, digits, space, ".", "_", ":" or "-"',
      example: 'billing-service',
    },
    scopes: {
      type: 'array',
      minItems: 1,
      uniqueItems: true,
      items: { enum: [...SERVICE_SCOPES] },
      example: ['audit:write'],
    },
    ttl: {
      type: ['integer', 'string'],
      description: 'seconds, or a number with s, m, h or d; default 30d, at most 365d',
      example: '90d',
    },
  },
} as const;

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };
export const DEFAULT_SERVICE_TOKEN_TTL = 30 * 86400;
export const MAX_SERVICE_TOKEN_TTL = 365 * 86400;

/** Seconds of a ttl, or null when it is not a duration from 1 s to 365 days. */
export function parseTtl(ttl: number | string | undefined): number | null {
  if (ttl === undefined) return DEFAULT_SERVICE_TOKEN_TTL;
  let seconds: number;
  if (typeof ttl === 'number') seconds = ttl;
  else {
    const m = /^(\d{1,9})([smhd]?)$/.exec(ttl);
    seconds = m ? Number(m[1]) * UNITS[m[2] || 's'] : NaN;
  }
  return Number.isSafeInteger(seconds) && seconds >= 1 && seconds <= MAX_SERVICE_TOKEN_TTL
    ? seconds
    : null;
}
