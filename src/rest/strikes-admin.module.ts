import { Module } from '@nestjs/common';
import { RestAccessGuard } from './rest-access.guard.js';
import { restModuleDefinition } from './rest-module.factory.js';
import { StrikesAdminController } from './strikes-admin.controller.js';

const { ConfigurableModuleClass, accessProvider } = restModuleDefinition('StrikesAdmin');

/**
 * The admin REST endpoints of the strike counters (`GET /admin/strikes`, `GET
 * /admin/strikes/:userId`, `POST /admin/strikes/:userId/unblock`), mounted by a host with its own
 * authorisation: `StrikesAdminModule.register({ guards: [...], authorize })`. Needs StrikesModule
 * and AuditModule. Prefix the paths with Nest's RouterModule if you like.
 */
@Module({
  controllers: [StrikesAdminController],
  providers: [accessProvider, RestAccessGuard],
})
export class StrikesAdminModule extends ConfigurableModuleClass {}
