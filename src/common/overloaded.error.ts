/** Which in-memory queue refused the work. */
export type OverloadedQueue = 'violations' | 'audit';

/**
 * Thrown (or rejected with) when a bounded in-memory queue is full: the work was refused before it
 * was accepted, so nothing of it was acknowledged or lost. Try again after `retryAfterSeconds`.
 */
export class OverloadedError extends Error {
  constructor(
    readonly queue: OverloadedQueue,
    readonly limit: number,
    readonly retryAfterSeconds = 1,
  ) {
    super(
      queue === 'violations'
        ? `too many violations waiting to be recorded (limit ${limit}); try again in ${retryAfterSeconds} s`
        : `too many audit events waiting to be written (limit ${limit}); try again in ${retryAfterSeconds} s`,
    );
    this.name = this.constructor.name;
  }
}
