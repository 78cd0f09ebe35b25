import { HttpException, HttpStatus } from '@nestjs/common';

/** The one body of every throttled attempt, whatever the account and whichever lane. */
export const THROTTLED_MESSAGE = 'too many login attempts, try again later';

/**
 * 429 with `Retry-After`: the attempt was refused before its password was looked at. The body
 * names no account, no lane and no lock, so it tells a guesser nothing about the account.
 */
export class LoginThrottledException extends HttpException {
  /** Whole seconds, at least 1, until an attempt may be admitted again. */
  readonly retryAfterSeconds: number;

  constructor(retryAfterSeconds: number) {
    super(
      { statusCode: 429, error: 'Too Many Requests', message: THROTTLED_MESSAGE },
      HttpStatus.TOO_MANY_REQUESTS,
    );
    this.retryAfterSeconds = Math.max(1, Math.ceil(retryAfterSeconds));
  }
}

/** Thrown by the service for a login name or source it cannot count (not a string, say). */
export class LoginAttemptInvalidError extends Error {
  constructor(message: string) {
    super(message);
    this.name = this.constructor.name;
  }
}
