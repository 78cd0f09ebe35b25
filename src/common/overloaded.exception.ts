import { ServiceUnavailableException } from '@nestjs/common';
import { type OverloadedError } from './overloaded.error.js';

/**
 * 503 `reason: "overloaded"` with a `Retry-After`: a bounded queue was full, the request was
 * refused before anything of it was accepted. `retryAfterSeconds` is there for the filter that
 * renders it; `sendRetryAfter` sets the header on the response up front, so any filter keeps it.
 */
export class OverloadedException extends ServiceUnavailableException {
  readonly reason = 'overloaded';
  readonly retryAfterSeconds: number;

  constructor(message: string, retryAfterSeconds = 1, options: { cause?: unknown } = {}) {
    super(
      { statusCode: 503, error: 'Service Unavailable', message, reason: 'overloaded' },
      { cause: options.cause },
    );
    this.retryAfterSeconds = retryAfterSeconds;
  }

  static from(error: OverloadedError, message = error.message): OverloadedException {
    return new OverloadedException(message, error.retryAfterSeconds, { cause: error });
  }
}

/** Sets `Retry-After` on an Express response (or `request.res`) whose headers are not sent yet. */
export function sendRetryAfter(response: unknown, seconds: number): void {
  const res = response as
    { headersSent?: boolean; setHeader?: (name: string, value: string) => void } | undefined;
  if (res && !res.headersSent && typeof res.setHeader === 'function')
    res.setHeader('Retry-After', String(Math.max(1, Math.ceil(seconds))));
}
