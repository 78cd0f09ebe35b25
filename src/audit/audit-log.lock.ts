import path from 'node:path';
import {
  acquireInstanceLock,
  describeLockHolder,
  type InstanceLock,
} from '../common/instance-lock.js';

/** Heartbeat of the log file's single-writer lock (see src/common/instance-lock.ts). */
export interface LogLockTiming {
  /** Default 2 s. */
  heartbeatMs?: number;
  /** Default 10 s: how long a start waits out a lock left by a writer that died elsewhere. */
  staleAfterMs?: number;
}

/**
 * Claims `dir/fileName` for this process: one writer per log file, whatever PID namespace or host
 * the others run in (containers sharing a volume). A dotfile, so tools that read every audit*
 * file in the directory see only records.
 */
export function lockLogFile(
  dir: string,
  fileName: string,
  timing: LogLockTiming,
  onLost: (error: Error) => void,
): Promise<InstanceLock> {
  const logFile = path.join(dir, fileName);
  return acquireInstanceLock(path.join(dir, `.${fileName}.lock`), {
    ...timing,
    onLost,
    describeHolder: (holder) =>
      `the audit log file ${logFile} is written by ${describeLockHolder(holder)}; ` +
      'give each instance its own log file (AUDIT_LOG_FILE in the reference service, ' +
      'the logFile option of AuditModule)',
  });
}
