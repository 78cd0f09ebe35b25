import { ConfigurableModuleBuilder } from '@nestjs/common';
import { type LoginThrottleModuleOptions } from './login-throttle.options.js';

export const {
  ConfigurableModuleClass: LoginThrottleConfigurableModule,
  MODULE_OPTIONS_TOKEN: LOGIN_THROTTLE_MODULE_OPTIONS,
} = new ConfigurableModuleBuilder<LoginThrottleModuleOptions>({ moduleName: 'LoginThrottle' })
  .setClassMethodName('forRoot')
  .setExtras({ isGlobal: true }, (definition, extras) => ({
    ...definition,
    global: extras.isGlobal,
  }))
  .build();
