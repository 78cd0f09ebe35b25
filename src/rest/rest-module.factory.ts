import { ConfigurableModuleBuilder, type Provider } from '@nestjs/common';
import { checkAccessOptions, type RestAccessOptions } from './rest-access.js';
import { REST_ACCESS } from './rest-access.guard.js';

/**
 * `register(options)` / `registerAsync(...)` for a REST module, and the provider that checks the
 * options once and hands them to its RestAccessGuard.
 */
export function restModuleDefinition(moduleName: string) {
  const { ConfigurableModuleClass, MODULE_OPTIONS_TOKEN } =
    new ConfigurableModuleBuilder<RestAccessOptions>({ moduleName }).build();
  const accessProvider: Provider = {
    provide: REST_ACCESS,
    inject: [MODULE_OPTIONS_TOKEN],
    useFactory: (options: RestAccessOptions) => {
      checkAccessOptions(`${moduleName}Module`, options);
      return options;
    },
  };
  return { ConfigurableModuleClass, accessProvider };
}
