import { ConfigurableModuleBuilder } from '@nestjs/common';
import { type StrikesModuleOptions } from './strikes.options.js';

export const {
  ConfigurableModuleClass: StrikesConfigurableModule,
  MODULE_OPTIONS_TOKEN: STRIKES_MODULE_OPTIONS,
} = new ConfigurableModuleBuilder<StrikesModuleOptions>({ moduleName: 'Strikes' })
  .setClassMethodName('forRoot')
  .setExtras({ isGlobal: true }, (definition, extras) => ({
    ...definition,
    global: extras.isGlobal,
  }))
  .build();
