import { Module } from '@nestjs/common';
import { ALERTS_OPTIONS, alertsOptionsProvider } from './alerts-options.provider.js';
import { AlertsConfigurableModule } from './alerts.module-definition.js';
import { AlertsService } from './alerts.service.js';

/**
 * Security-team alerts: `AlertsModule.forRoot({ url, secret, … })` next to `AuditModule.forRoot`.
 * Audit records of the alert types (blocks, terminations, unblocks, login lockouts, failed
 * verifications) are POSTed to the webhook, signed (Standard Webhooks), at least once and in
 * order, from the audit table in the background; a receiver that is down delays them, never loses
 * them, and never slows a request. One instance delivers at a time. Needs strikeguardMigrations.
 */
@Module({
  providers: [alertsOptionsProvider, AlertsService],
  exports: [ALERTS_OPTIONS, AlertsService],
})
export class AlertsModule extends AlertsConfigurableModule {}
