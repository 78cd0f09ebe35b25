import { type FactoryProvider } from '@nestjs/common';
import { LOGIN_THROTTLE_MODULE_OPTIONS } from './login-throttle.module-definition.js';
import {
  type LoginThrottleModuleOptions,
  type ResolvedLoginThrottleOptions,
  resolveLoginThrottleOptions,
} from './login-throttle.options.js';

/** The resolved options (defaults filled in, ranges checked) every throttle provider injects. */
export const LOGIN_THROTTLE_OPTIONS = Symbol.for('strikeguard:login-throttle-options');

export const loginThrottleOptionsProvider: FactoryProvider<ResolvedLoginThrottleOptions> = {
  provide: LOGIN_THROTTLE_OPTIONS,
  inject: [LOGIN_THROTTLE_MODULE_OPTIONS],
  useFactory: (options: LoginThrottleModuleOptions) =>
    resolveLoginThrottleOptions(options ?? ({} as LoginThrottleModuleOptions)),
};
