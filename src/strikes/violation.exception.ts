import { HttpException, HttpStatus } from '@nestjs/common';

/**
 * Thrown anywhere to charge the authenticated user a strike of `weight`; answered 403 with
 * `reason: "violation"`.
 */
export class ViolationException extends HttpException {
  constructor(
    readonly violation: string,
    readonly weight = 1,
  ) {
    super(
      {
        statusCode: HttpStatus.FORBIDDEN,
        error: 'Forbidden',
        message: violation,
        reason: 'violation',
      },
      HttpStatus.FORBIDDEN,
    );
    if (!Number.isSafeInteger(weight) || weight < 1)
      throw new Error('ViolationException: weight must be a positive integer');
    this.name = this.constructor.name;
  }
}
