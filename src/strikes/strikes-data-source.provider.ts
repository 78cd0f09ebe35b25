import { type FactoryProvider } from '@nestjs/common';
import { type DataSource } from 'typeorm';
import { AuditService } from '../audit/audit.service.js';
import { STRIKEGUARD_DATA_SOURCE } from '../common/data-source.provider.js';
import { requireAudit } from './strikes-setup.error.js';

/** The DataSource of the strikes providers: the one AuditModule resolved. */
export const STRIKES_DATA_SOURCE = Symbol.for('strikeguard:strikes-data-source');

/**
 * Optional injections, so that a missing AuditModule (which provides the DataSource) gets the
 * message that says to add it, not Nest's "can't resolve dependencies".
 */
export const strikesDataSourceProvider: FactoryProvider<DataSource> = {
  provide: STRIKES_DATA_SOURCE,
  inject: [
    { token: STRIKEGUARD_DATA_SOURCE, optional: true },
    { token: AuditService, optional: true },
  ],
  useFactory: (dataSource: DataSource | undefined, audit: AuditService | undefined) => {
    requireAudit(audit);
    return dataSource!;
  },
};
