import { type MiddlewareConsumer, Module, type NestModule } from '@nestjs/common';
import { STRIKEGUARD_DATA_SOURCE } from '../common/data-source.provider.js';
import { auditContextMiddleware } from './audit-context.js';
import { AuditConfigurableModule } from './audit.module-definition.js';
import { AUDIT_OPTIONS } from './audit.options.js';
import { auditProviders } from './audit.providers.js';
import { AuditService } from './audit.service.js';
import { AuditedInterceptor } from './audited.interceptor.js';

/**
 * The audit trail: `AuditModule.forRoot({ logDir })` (or `forRootAsync`) in a Nest app that has a
 * TypeORM DataSource (`dataSource: "<name>"` picks one of several). Exports AuditService, the
 * resolved options (AUDIT_OPTIONS) and the DataSource strikeguard uses (STRIKEGUARD_DATA_SOURCE);
 * fills actor, IP, method and path from each request.
 */
@Module({
  providers: [...auditProviders, AuditService, AuditedInterceptor],
  exports: [AuditService, AuditedInterceptor, AUDIT_OPTIONS, STRIKEGUARD_DATA_SOURCE],
})
export class AuditModule extends AuditConfigurableModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(auditContextMiddleware).forRoutes('*path');
  }
}
