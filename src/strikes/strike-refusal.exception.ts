import { HttpException, HttpStatus } from '@nestjs/common';

export type RefusalReason = 'account_blocked' | 'session_terminated';

/** The module's own refusal of a blocked account (403) or a terminated session (401): never a violation. */
export class StrikeRefusalException extends HttpException {
  constructor(readonly reason: RefusalReason) {
    super(
      reason === 'account_blocked'
        ? {
            statusCode: 403,
            error: 'Forbidden',
            message: 'this account is blocked; an administrator must unblock it',
            reason,
          }
        : {
            statusCode: 401,
            error: 'Unauthorized',
            message: 'this session was terminated; log in again',
            reason,
          },
      reason === 'account_blocked' ? HttpStatus.FORBIDDEN : HttpStatus.UNAUTHORIZED,
    );
    this.name = this.constructor.name;
  }
}
