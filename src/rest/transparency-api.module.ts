import { Module } from '@nestjs/common';
import { RestAccessGuard } from './rest-access.guard.js';
import { restModuleDefinition } from './rest-module.factory.js';
import { TransparencyLogController } from './transparency-log.controller.js';

const { ConfigurableModuleClass, accessProvider } = restModuleDefinition('TransparencyApi');

/**
 * The transparency log over HTTP (`GET /audit/log/checkpoint`, `/audit/log/key`,
 * `/audit/log/proof/inclusion`, `/audit/log/proof/consistency`), permission `audit:read`,
 * mounted with the host's authorisation: `TransparencyApiModule.register({ guards, authorize })`.
 * Needs TransparencyLogModule.
 */
@Module({
  controllers: [TransparencyLogController],
  providers: [accessProvider, RestAccessGuard],
})
export class TransparencyApiModule extends ConfigurableModuleClass {}
