import { ConfigurableModuleBuilder } from '@nestjs/common';
import { type TransparencyLogModuleOptions } from './transparency.options.js';

export const {
  ConfigurableModuleClass: TransparencyConfigurableModule,
  MODULE_OPTIONS_TOKEN: TRANSPARENCY_MODULE_OPTIONS,
} = new ConfigurableModuleBuilder<TransparencyLogModuleOptions>({ moduleName: 'TransparencyLog' })
  .setClassMethodName('forRoot')
  .setExtras({ isGlobal: true }, (definition, extras) => ({
    ...definition,
    global: extras.isGlobal,
  }))
  .build();
