import { applyDecorators, SetMetadata, type Type } from '@nestjs/common';

export const NO_STRIKES_KEY = 'strikeguard:no-strikes';
export const STRIKE_ON_KEY = 'strikeguard:strike-on';

/** One `@StrikeOn` rule. */
export interface StrikeOnRule {
  exception: Type<unknown>;
  weight: number;
  reason: string;
  /** Counted, never enforced: its crossings are recorded as simulated. */
  monitor: boolean;
}

/** Nothing that happens in this controller or handler counts as a violation. */
export const NoStrikes = () => SetMetadata(NO_STRIKES_KEY, true);

/**
 * Exceptions of this type thrown by this controller or handler charge the user `weight` strikes.
 * Stack several for several types. `monitor: true`: counted, but a termination or block it causes
 * is only recorded (`details.simulated: true`), as in monitor mode.
 */
export function StrikeOn(
  exception: Type<unknown>,
  options: { weight?: number; reason?: string; monitor?: boolean } = {},
) {
  const rule: StrikeOnRule = {
    exception,
    weight: options.weight ?? 1,
    reason: options.reason ?? exception.name,
    monitor: options.monitor ?? false,
  };
  if (!Number.isSafeInteger(rule.weight) || rule.weight < 1)
    throw new Error('@StrikeOn: weight must be a positive integer');
  if (typeof rule.monitor !== 'boolean') throw new Error('@StrikeOn: monitor must be a boolean');
  return applyDecorators(
    (target: object, key?: string | symbol, descriptor?: PropertyDescriptor) => {
      const holder = descriptor ? descriptor.value : target;
      const rules: StrikeOnRule[] = Reflect.getMetadata(STRIKE_ON_KEY, holder) ?? [];
      Reflect.defineMetadata(STRIKE_ON_KEY, [...rules, rule], holder);
    },
  );
}
