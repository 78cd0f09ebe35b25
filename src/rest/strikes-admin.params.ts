import { STORABLE_TEXT_PATTERN } from '../audit/audit-event.schema.js';
import { parseLimit, unknownParams } from '../common/query-params.js';
import { ValidationFailedException } from '../common/schema-validation.pipe.js';

export interface UnblockBody {
  reason: string;
}

export const unblockSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['reason'],
  properties: {
    reason: {
      type: 'string',
      minLength: 1,
      maxLength: 1024,
      // recorded as it is: text the record format holds, or a 400 (never a 500 after the check)
      pattern: STORABLE_TEXT_PATTERN,
      description: 'text without NUL, unpaired surrogates or Unicode noncharacters',
      example: 'reviewed with the user',
    },
  },
} as const;

/** `status`, `limit` and `cursor` of GET /admin/strikes. */
export function parseCounterListParams(params: Record<string, unknown>) {
  const errors = unknownParams(params, ['status', 'limit', 'cursor']);
  const { status, cursor } = params;
  if (status !== undefined && status !== 'active' && status !== 'blocked') {
    errors.push({ path: 'status', message: 'must be active or blocked' });
  }
  const limit = parseLimit(params, 'limit', errors);
  let after: string | undefined;
  if (cursor !== undefined) {
    after =
      typeof cursor === 'string' && /^[A-Za-z0-9_-]{1,200}$/.test(cursor)
        ? Buffer.from(cursor, 'base64url').toString('utf8')
        : undefined;
    if (!after || after.includes('\u0000') || !after.isWellFormed())
      errors.push({ path: 'cursor', message: 'is not a cursor this API returned' });
  }
  if (errors.length) throw new ValidationFailedException(errors);
  return { status: status as 'active' | 'blocked' | undefined, limit, after };
}
