import { Module } from '@nestjs/common';
import { AccessDeniedCoalescer } from './access-denied.coalescer.js';
import { StrikeGuard } from './strike.guard.js';
import { StrikesExceptionFilter } from './strikes-exception.filter.js';
import { StrikesInterceptor } from './strikes.interceptor.js';
import { StrikesConfigurableModule } from './strikes.module-definition.js';
import { StrikesService } from './strikes.service.js';

/**
 * Per-user strike counters: `StrikesModule.forRoot({ terminateAt, blockAt, … })`. Needs a TypeORM
 * DataSource and AuditModule. Use StrikeGuard after authentication, and StrikesExceptionFilter
 * (or StrikesService.chargeForException) so that guards' 403s count too.
 */
@Module({
  providers: [
    StrikesService,
    StrikeGuard,
    StrikesInterceptor,
    StrikesExceptionFilter,
    AccessDeniedCoalescer,
  ],
  exports: [
    StrikesService,
    StrikeGuard,
    StrikesInterceptor,
    StrikesExceptionFilter,
    AccessDeniedCoalescer,
  ],
})
export class StrikesModule extends StrikesConfigurableModule {}
