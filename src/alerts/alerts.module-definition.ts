import { ConfigurableModuleBuilder } from '@nestjs/common';
import { type AlertsModuleOptions } from './alerts.options.js';

export const {
  ConfigurableModuleClass: AlertsConfigurableModule,
  MODULE_OPTIONS_TOKEN: ALERTS_MODULE_OPTIONS,
} = new ConfigurableModuleBuilder<AlertsModuleOptions>({ moduleName: 'Alerts' })
  .setClassMethodName('forRoot')
  .setExtras({ isGlobal: true }, (definition, extras) => ({
    ...definition,
    global: extras.isGlobal,
  }))
  .build();
