import { Module } from '@nestjs/common';
import { AuditEventsController } from './audit-events.controller.js';
import { AuditVerifyController } from './audit-verify.controller.js';
import { RestAccessGuard } from './rest-access.guard.js';
import { restModuleDefinition } from './rest-module.factory.js';

const { ConfigurableModuleClass, accessProvider } = restModuleDefinition('AuditApi');

/**
 * The audit trail over HTTP (`POST/GET /audit/events`, `/audit/events/recent`,
 * `/audit/events/:id`, `/audit/schema`, `/audit/verify`, `/audit/verify/:id`), mounted by a host
 * with its own authorisation: `AuditApiModule.register({ guards: [...], authorize })`. Needs
 * AuditModule. Cap request bodies (the reference service allows 2 MiB on POST /audit/events).
 */
@Module({
  controllers: [AuditEventsController, AuditVerifyController],
  providers: [accessProvider, RestAccessGuard],
})
export class AuditApiModule extends ConfigurableModuleClass {}
