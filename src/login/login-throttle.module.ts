import { Module } from '@nestjs/common';
import {
  loginThrottleOptionsProvider,
  LOGIN_THROTTLE_OPTIONS,
} from './login-throttle-options.provider.js';
import { LoginThrottleConfigurableModule } from './login-throttle.module-definition.js';
import { LoginThrottleService } from './login-throttle.service.js';
import { LoginThrottleStore } from './login-throttle.store.js';
import { ThrottledEventsCoalescer } from './throttled-events.coalescer.js';

/**
 * Login abuse protection: `LoginThrottleModule.forRoot({ secret, … })` next to
 * `AuditModule.forRoot(…)`; a host's login handler uses `LoginThrottleService` (admit before the
 * password is checked, settle after). It works on the DataSource AuditModule resolved and needs
 * `strikeguardMigrations`.
 */
@Module({
  providers: [
    loginThrottleOptionsProvider,
    LoginThrottleStore,
    ThrottledEventsCoalescer,
    LoginThrottleService,
  ],
  exports: [LOGIN_THROTTLE_OPTIONS, LoginThrottleService],
})
export class LoginThrottleModule extends LoginThrottleConfigurableModule {}
