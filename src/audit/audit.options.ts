import os from 'node:os';
import path from 'node:path';
import { type ActorResolver, defaultActorOf } from './audit-context.js';
import { CHECKPOINT_FILE_NAMES } from './audit-log.files.js';
import { DEFAULT_REDACT_KEYS } from './redact.js';

/** Options of AuditModule.forRoot / forRootAsync. */
export interface AuditModuleOptions {
  /** Directory of the restricted log file (created 0700). */
  logDir: string;
  /** Name of this instance's log file (default `audit.log`); instances on one host need their own. */
  logFile?: string;
  /** Rotate the log file at this size (default 100 MiB). */
  logMaxBytes?: number;
  /** fdatasync each batch before acknowledging it (default true). */
  fsync?: boolean;
  /** Names this instance's share of the table (default `<hostname>:<logDir>/<logFile>`). */
  instanceId?: string;
  /** Who is acting in a request. */
  actorOf?: ActorResolver;
  /** Most events one append transaction takes (default 2,000). */
  maxBatchEvents?: number;
  /**
   * Most events `record()` / `recordMany()` (outside a caller's transaction) have accepted and not
   * yet acknowledged — queued, in a transaction or waiting for the fsync (default 10,000). Past it
   * they reject at once with OverloadedError (503 `overloaded` with `Retry-After` over HTTP):
   * memory stays bounded under load, and nothing refused was ever acknowledged. Records inside a
   * caller's transaction are not queued here.
   */
  maxPendingEvents?: number;
  /** Rows read per query while verifying (default 5,000). */
  verifyChunkSize?: number;
  /** Body keys `@Audited({ includeBody: true })` redacts (substring, case-insensitive). */
  redactKeys?: string[];
  /**
   * Name of the TypeORM DataSource that holds the strikeguard tables, when the host has several
   * (`TypeOrmModule.forRoot({ name })`); default: the default DataSource.
   */
  dataSource?: string;
}

/** The options with every default filled in: what the audit providers inject (`AUDIT_OPTIONS`). */
export type ResolvedAuditOptions = Required<Omit<AuditModuleOptions, 'dataSource'>> & {
  dataSource: string | undefined;
};

/** Injection token of the resolved options (`resolveAuditOptions` runs once, in its provider). */
export const AUDIT_OPTIONS = Symbol.for('strikeguard:audit-options');

export function resolveAuditOptions(options: AuditModuleOptions): ResolvedAuditOptions {
  const logFile = options.logFile ?? 'audit.log';
  if (!/^[A-Za-z0-9._-]{1,128}$/.test(logFile) || logFile.startsWith('.')) {
    throw new Error(
      `audit logFile "${logFile}" must be a plain file name of letters, digits, ".", "_" or "-"`,
    );
  }
  if (CHECKPOINT_FILE_NAMES.includes(logFile))
    throw new Error(
      `audit logFile "${logFile}" is the name of the transparency log's checkpoint file: choose another name`,
    );
  const maxPendingEvents = options.maxPendingEvents ?? 10_000;
  if (!Number.isSafeInteger(maxPendingEvents) || maxPendingEvents < 1)
    throw new Error(`audit maxPendingEvents must be a positive integer (got ${maxPendingEvents})`);
  return {
    logDir: options.logDir,
    logFile,
    logMaxBytes: options.logMaxBytes ?? 100 * 1024 * 1024,
    fsync: options.fsync ?? true,
    instanceId: options.instanceId ?? defaultInstanceId(options.logDir, logFile),
    actorOf: options.actorOf ?? defaultActorOf,
    maxBatchEvents: options.maxBatchEvents ?? 2000,
    maxPendingEvents,
    verifyChunkSize: options.verifyChunkSize ?? 5000,
    redactKeys: (options.redactKeys ?? DEFAULT_REDACT_KEYS).map((k) => k.toLowerCase()),
    dataSource: options.dataSource,
  };
}

/** Host and file path: two instances can only share it by sharing the file, which the lock refuses. */
export function defaultInstanceId(logDir: string, logFile: string): string {
  return `${os.hostname()}:${path.join(path.resolve(logDir), logFile)}`;
}
