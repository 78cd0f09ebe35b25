import { metrics } from '../common/metrics.js';
import { type LogReadStats } from './audit-log-reader.js';
import { type VerifyResult } from './audit-verifier.js';

/**
 * The whole chain, or a range of more records than this, is a heavy verification: one at a time
 * per instance. One record, or a short range, reads a few rows and a few lines of the log file
 * (see offsetBefore) and runs freely.
 */
export const HEAVY_VERIFY_RECORDS = 1000;

/**
 * A heavy verification is already running on this instance. `retryAfterSeconds`: when it should
 * be done, from its pace so far. The REST module answers 429 with `Retry-After`.
 */
export class AuditVerificationBusyError extends Error {
  constructor(readonly retryAfterSeconds: number) {
    super(
      `another verification of the whole chain (or of more than ${HEAVY_VERIFY_RECORDS} records) ` +
        `is running on this instance; retry in ${retryAfterSeconds} s`,
    );
    this.name = this.constructor.name;
  }
}

type Range = { fromId?: number; toId?: number };
type Run = (onProgress: (checked: number) => void, stats: LogReadStats) => Promise<VerifyResult>;

/** Pace assumed before a running verification has reported progress (records per second). */
const ASSUMED_PACE = 50_000;

/**
 * Lets one heavy verification run at a time, and counts what verifications read. Refusing
 * (rather than queueing) keeps no request, connection or memory waiting behind a verification
 * that may take minutes, and a caller that can wait is told how long.
 */
export class VerificationGate {
  private current: { started: number; total: number; checked: number } | null = null;

  /** Runs `run`; a heavy one throws AuditVerificationBusyError at once while another runs. */
  async verify(range: Range, headId: () => Promise<number>, run: Run): Promise<VerifyResult> {
    const stats: LogReadStats = { bytes: 0, lines: 0 };
    try {
      const whole = range.fromId === undefined && range.toId === undefined;
      const from = Math.max(1, range.fromId ?? 1);
      const total = Math.max(0, (range.toId ?? (await headId())) - from + 1);
      const result =
        whole || total > HEAVY_VERIFY_RECORDS
          ? await this.alone(total, (progress) => run(progress, stats))
          : await run(() => undefined, stats);
      metrics.verifications.inc({ result: result.ok ? 'ok' : 'failed' });
      return result;
    } catch (error) {
      if (error instanceof AuditVerificationBusyError) metrics.verificationsRefused.inc();
      throw error;
    } finally {
      metrics.verifyLogBytes.inc(stats.bytes);
      metrics.verifyLogLines.inc(stats.lines);
    }
  }

  private async alone<T>(total: number, work: (progress: (n: number) => void) => Promise<T>) {
    // Checked and set with no await in between: of two callers, exactly one gets through.
    if (this.current) throw new AuditVerificationBusyError(retryAfter(this.current));
    const current = { started: performance.now(), total, checked: 0 };
    this.current = current;
    try {
      return await work((checked) => (current.checked = checked));
    } finally {
      this.current = null;
    }
  }
}

/** Seconds until the running verification should be done, from its pace so far (1 to 300). */
function retryAfter(c: { started: number; total: number; checked: number }): number {
  const elapsed = (performance.now() - c.started) / 1000;
  const left = Math.max(0, c.total - c.checked);
  const seconds = c.checked > 0 ? (elapsed * left) / c.checked : left / ASSUMED_PACE;
  return Math.min(300, Math.max(1, Math.ceil(seconds)));
}
