import { Module } from '@nestjs/common';
import { AUDIT_OPTIONS, type ResolvedAuditOptions } from '../audit/audit.options.js';
import {
  TRANSPARENCY_MODULE_OPTIONS,
  TransparencyConfigurableModule,
} from './transparency.module-definition.js';
import {
  resolveTransparencyOptions,
  TRANSPARENCY_OPTIONS,
  type TransparencyLogModuleOptions,
} from './transparency.options.js';
import { TransparencyLogService } from './transparency-log.service.js';

/**
 * The transparency log over the audit chain: `TransparencyLogModule.forRoot({ origin,
 * signingKey, witnesses })` next to AuditModule (whose DataSource and logDir it uses). Exports
 * TransparencyLogService; mount `TransparencyApiModule` (strikeguard/rest) for its HTTP routes.
 */
@Module({
  providers: [
    {
      provide: TRANSPARENCY_OPTIONS,
      inject: [TRANSPARENCY_MODULE_OPTIONS, AUDIT_OPTIONS],
      useFactory: (options: TransparencyLogModuleOptions, audit: ResolvedAuditOptions) =>
        resolveTransparencyOptions(options, audit.logDir),
    },
    TransparencyLogService,
  ],
  exports: [TransparencyLogService, TRANSPARENCY_OPTIONS],
})
export class TransparencyLogModule extends TransparencyConfigurableModule {}
