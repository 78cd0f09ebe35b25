import { type Provider } from '@nestjs/common';
import { type DataSource } from 'typeorm';
import { dataSourceProvider, STRIKEGUARD_DATA_SOURCE } from '../common/data-source.provider.js';
import { AuditLogFile } from './audit-log-file.js';
import { AuditStore } from './audit-store.js';
import { AuditVerifier } from './audit-verifier.js';
import { AuditWriter } from './audit-writer.js';
import { AUDIT_MODULE_OPTIONS } from './audit.module-definition.js';
import {
  AUDIT_OPTIONS,
  type AuditModuleOptions,
  type ResolvedAuditOptions,
  resolveAuditOptions,
} from './audit.options.js';

/**
 * The collaborators of AuditService, one provider each, so that a test (or a host) can replace
 * any of them with `overrideProvider(token)`. The classes stay plain (no Nest decorators): the CLI
 * and the benchmarks construct AuditStore and AuditVerifier directly.
 */
export const auditProviders: Provider[] = [
  {
    provide: AUDIT_OPTIONS,
    inject: [AUDIT_MODULE_OPTIONS],
    useFactory: (options: AuditModuleOptions): ResolvedAuditOptions => resolveAuditOptions(options),
  },
  dataSourceProvider(AUDIT_MODULE_OPTIONS, (options: AuditModuleOptions) => options.dataSource),
  {
    provide: AuditStore,
    inject: [STRIKEGUARD_DATA_SOURCE],
    useFactory: (dataSource: DataSource) => new AuditStore(dataSource),
  },
  {
    provide: AuditLogFile,
    inject: [AUDIT_OPTIONS],
    useFactory: (options: ResolvedAuditOptions) =>
      new AuditLogFile({
        dir: options.logDir,
        fileName: options.logFile,
        maxBytes: options.logMaxBytes,
        fsync: options.fsync,
      }),
  },
  {
    provide: AuditWriter,
    inject: [STRIKEGUARD_DATA_SOURCE, AuditStore, AuditLogFile, AUDIT_OPTIONS],
    useFactory: (
      dataSource: DataSource,
      store: AuditStore,
      file: AuditLogFile,
      options: ResolvedAuditOptions,
    ) =>
      new AuditWriter(
        dataSource,
        store,
        file,
        options.instanceId,
        options.maxBatchEvents,
        options.maxPendingEvents,
      ),
  },
  {
    provide: AuditVerifier,
    inject: [STRIKEGUARD_DATA_SOURCE, AUDIT_OPTIONS],
    useFactory: (dataSource: DataSource, options: ResolvedAuditOptions) =>
      new AuditVerifier(dataSource, options.verifyChunkSize),
  },
];
