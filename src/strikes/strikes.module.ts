import { type MiddlewareConsumer, Module, type NestModule } from '@nestjs/common';
import { APP_FILTER, APP_INTERCEPTOR } from '@nestjs/core';
import { AccessDeniedCoalescer } from './access-denied.coalescer.js';
import { BlockExpirySweeper } from './block-expiry.sweeper.js';
import { FilterChargingBinder } from './filter-charging.binder.js';
import { PrincipalResolver } from './principal.resolver.js';
import { SessionGate } from './session.gate.js';
import { SessionStateCache } from './session-state.cache.js';
import { StrikeCounterStore } from './strike-counter.store.js';
import { StrikeGuard } from './strike.guard.js';
import { StrikesExceptionFilter } from './strikes-exception.filter.js';
import { STRIKES_OPTIONS, strikesOptionsProvider } from './strikes-options.provider.js';
import { StrikesInterceptor } from './strikes.interceptor.js';
import { strikesDataSourceProvider } from './strikes-data-source.provider.js';
import { StrikesConfigurableModule } from './strikes.module-definition.js';
import { StrikesService } from './strikes.service.js';

/**
 * Per-user strike counters: `StrikesModule.forRoot({ terminateAt, blockAt, … })` next to
 * `AuditModule.forRoot(…)` and TypeORM. It installs its own global interceptor (the session
 * check after every guard, charging handlers' violations) and a catch-all filter, and makes every
 * other exception filter charge before it renders: no registration order can switch it off.
 * Add `StrikeGuard` (global or per controller) to refuse dead sessions before other guards run.
 * It works on the DataSource AuditModule resolved (`AuditModule.forRoot({ dataSource })`).
 */
@Module({
  providers: [
    strikesOptionsProvider,
    strikesDataSourceProvider,
    StrikeCounterStore,
    SessionStateCache,
    PrincipalResolver,
    AccessDeniedCoalescer,
    SessionGate,
    StrikesService,
    BlockExpirySweeper,
    StrikeGuard,
    StrikesInterceptor,
    StrikesExceptionFilter,
    FilterChargingBinder,
    { provide: APP_INTERCEPTOR, useExisting: StrikesInterceptor },
    { provide: APP_FILTER, useExisting: StrikesExceptionFilter },
  ],
  exports: [
    STRIKES_OPTIONS,
    StrikesService,
    StrikeGuard,
    StrikesInterceptor,
    StrikesExceptionFilter,
    SessionGate,
    PrincipalResolver,
    AccessDeniedCoalescer,
  ],
})
export class StrikesModule extends StrikesConfigurableModule implements NestModule {
  constructor(private readonly binder: FilterChargingBinder) {
    super();
  }

  /** Runs once every provider exists and before Nest builds the routes' filter chains. */
  configure(_consumer: MiddlewareConsumer): void {
    this.binder.bind();
  }
}
