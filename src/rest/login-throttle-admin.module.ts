import { Module } from '@nestjs/common';
import { LoginThrottleAdminController } from './login-throttle-admin.controller.js';
import { RestAccessGuard } from './rest-access.guard.js';
import { restModuleDefinition } from './rest-module.factory.js';

const { ConfigurableModuleClass, accessProvider } = restModuleDefinition('LoginThrottleAdmin');

/**
 * The admin REST endpoints of the login throttle (`GET` and `DELETE
 * /admin/login-throttle/users/:userId`, `GET /admin/login-throttle/sources`, `DELETE
 * /admin/login-throttle/sources/:ip`), mounted by a host with its own authorisation:
 * `LoginThrottleAdminModule.register({ guards: [...], authorize })`. Needs LoginThrottleModule and
 * AuditModule. Prefix the paths with Nest's RouterModule if you like.
 */
@Module({
  controllers: [LoginThrottleAdminController],
  providers: [accessProvider, RestAccessGuard],
})
export class LoginThrottleAdminModule extends ConfigurableModuleClass {}
