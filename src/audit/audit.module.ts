import { type MiddlewareConsumer, Module, type NestModule } from '@nestjs/common';
import { auditContextMiddleware } from './audit-context.js';
import { AuditConfigurableModule } from './audit.module-definition.js';
import { AuditService } from './audit.service.js';
import { AuditedInterceptor } from './audited.interceptor.js';

/**
 * The audit trail: `AuditModule.forRoot({ logDir })` (or `forRootAsync`) in a Nest app that has a
 * TypeORM DataSource. Exports AuditService; fills actor, IP, method and path from each request.
 */
@Module({
  providers: [AuditService, AuditedInterceptor],
  exports: [AuditService, AuditedInterceptor],
})
export class AuditModule extends AuditConfigurableModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(auditContextMiddleware).forRoutes('*path');
  }
}
