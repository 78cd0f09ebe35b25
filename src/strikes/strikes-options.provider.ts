import { type FactoryProvider } from '@nestjs/common';
import { STRIKES_MODULE_OPTIONS } from './strikes.module-definition.js';
import {
  type ResolvedStrikesOptions,
  resolveStrikesOptions,
  type StrikesModuleOptions,
} from './strikes.options.js';

/** The resolved options (defaults filled in, ranges checked) every strikes provider injects. */
export const STRIKES_OPTIONS = Symbol.for('strikeguard:strikes-options');

export const strikesOptionsProvider: FactoryProvider<ResolvedStrikesOptions> = {
  provide: STRIKES_OPTIONS,
  inject: [STRIKES_MODULE_OPTIONS],
  useFactory: (options: StrikesModuleOptions) => resolveStrikesOptions(options ?? {}),
};
