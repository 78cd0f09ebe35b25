import { type FactoryProvider } from '@nestjs/common';
import { ALERTS_MODULE_OPTIONS } from './alerts.module-definition.js';
import {
  type AlertsModuleOptions,
  type ResolvedAlertsOptions,
  resolveAlertsOptions,
} from './alerts.options.js';

/** The resolved options (defaults filled in, every value checked) the alert providers inject. */
export const ALERTS_OPTIONS = Symbol.for('strikeguard:alerts-options');

export const alertsOptionsProvider: FactoryProvider<ResolvedAlertsOptions> = {
  provide: ALERTS_OPTIONS,
  inject: [ALERTS_MODULE_OPTIONS],
  useFactory: (options: AlertsModuleOptions) =>
    resolveAlertsOptions(options ?? ({} as AlertsModuleOptions)),
};
