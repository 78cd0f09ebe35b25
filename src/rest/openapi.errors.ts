import { applyDecorators } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional, ApiResponse } from './openapi.decorators.js';

/** One invalid field of a request (`errors` of a 400). */
export class StrikeguardFieldError {
  @ApiProperty({ description: 'the field: a JSON path such as `details.amount`, or a parameter' })
  path!: string;

  @ApiProperty({ example: 'is required' })
  message!: string;
}

/**
 * The error body of every refusal: `{statusCode, error, message}`, plus `reason` on the module's
 * own refusals and `errors` on validation failures. One component (`StrikeguardError`) in the
 * OpenAPI document, shared by the REST modules and a host's routes that use `ApiErrors`.
 */
export class StrikeguardError {
  @ApiProperty({ type: 'integer', example: 403 })
  statusCode!: number;

  @ApiProperty({ description: 'the HTTP status text', example: 'Forbidden' })
  error!: string;

  @ApiProperty({ example: 'this account is blocked; an administrator must unblock it' })
  message!: string;

  @ApiPropertyOptional({
    description:
      'why the module refused: `account_blocked`, `session_terminated`, `database_unavailable`, ' +
      '`audit_log_unavailable`, `overloaded`, `principal_unmappable`',
    example: 'account_blocked',
  })
  reason?: string;

  @ApiPropertyOptional({
    type: [StrikeguardFieldError],
    description: 'every invalid field, on a 400 validation failure',
  })
  errors?: StrikeguardFieldError[];
}

/** Statuses `ApiErrors` documents, with what they mean unless the route says more. */
export const ERROR_DESCRIPTIONS = {
  400: 'invalid input: every invalid field is listed in `errors`; nothing was done',
  401: 'no valid credentials, or `reason: "session_terminated"` (a token of an ended session)',
  403: '`reason: "account_blocked"`, or not allowed (a user refused so is charged a strike)',
  404: 'not found',
  409: 'conflict',
  413: 'request body too large',
  415: 'request body is not JSON',
  429: 'too many requests; try again after `Retry-After` seconds',
  503:
    'the database or the audit log is unavailable (the module fails closed), or ' +
    '`reason: "overloaded"`: try again after `Retry-After` seconds',
} as const;

export type ErrorStatus = keyof typeof ERROR_DESCRIPTIONS;

const RETRY_AFTER = {
  'Retry-After': {
    description: 'seconds to wait before trying again (on `overloaded` and throttled answers)',
    schema: { type: 'integer', minimum: 1 },
  },
};

/**
 * Documents error responses with the shared `StrikeguardError` body: `ApiErrors(401, 403)`, or
 * `ApiErrors({ 404: 'no such record' })` to say what a status means on this route.
 */
export function ApiErrors(
  ...statuses: (ErrorStatus | Partial<Record<ErrorStatus, string>>)[]
): MethodDecorator & ClassDecorator {
  const wanted = new Map<ErrorStatus, string>();
  for (const s of statuses) {
    if (typeof s === 'number') wanted.set(s, ERROR_DESCRIPTIONS[s]);
    else
      for (const [k, v] of Object.entries(s))
        wanted.set(Number(k) as ErrorStatus, v ?? ERROR_DESCRIPTIONS[Number(k) as ErrorStatus]);
  }
  return applyDecorators(
    ...[...wanted].map(([status, description]) =>
      ApiResponse({
        status,
        description,
        type: StrikeguardError,
        ...(status === 503 || status === 429 ? { headers: RETRY_AFTER } : {}),
      }),
    ),
  );
}
