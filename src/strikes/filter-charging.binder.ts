import { type ArgumentsHost, type ExceptionFilter, Injectable, Logger } from '@nestjs/common';
import { EXCEPTION_FILTERS_METADATA, FILTER_CATCH_EXCEPTIONS } from '@nestjs/common/constants.js';
import { ApplicationConfig, ModulesContainer } from '@nestjs/core';
import { type Request } from 'express';
import { StrikesExceptionFilter } from './strikes-exception.filter.js';
import { StrikesInterceptor } from './strikes.interceptor.js';
import { StrikesService } from './strikes.service.js';

const WRAPPED = Symbol('strikeguard:charging-filter');

type Filter = ExceptionFilter & { [WRAPPED]?: true };

/**
 * Makes charging independent of which exception filter wins. Nest hands an exception to exactly
 * one filter; a host's own catch-all registered after strikeguard's would otherwise swallow
 * guards' 403s uncounted, and strikeguard's winning would hide the host's error bodies. So, once
 * every filter exists and before routes are built, each host filter is wrapped to charge first
 * and then render as it always did, and strikeguard's own catch-all delegates to the host's
 * global filters it stands in front of. The interceptor is moved first among global ones, so
 * the session is checked right after the last guard, before any host interceptor runs.
 */
@Injectable()
export class FilterChargingBinder {
  private readonly logger = new Logger('Strikes');

  constructor(
    private readonly modules: ModulesContainer,
    private readonly config: ApplicationConfig,
    private readonly strikes: StrikesService,
    private readonly filter: StrikesExceptionFilter,
    private readonly interceptor: StrikesInterceptor,
  ) {}

  bind(): void {
    const globals = this.config.getGlobalFilters() as Filter[];
    // Nest tries the last registered global filter first: those registered before ours are
    // the ones ours hides. Ours delegates to them, in the order Nest would have tried them.
    const ours = globals.lastIndexOf(this.filter);
    this.filter.delegates = globals
      .slice(0, Math.max(0, ours))
      .filter((f) => !(f instanceof StrikesExceptionFilter))
      .reverse();
    for (const filter of this.hostFilters(globals)) this.wrap(filter);
    const interceptors = this.config.getGlobalInterceptors();
    const at = interceptors.indexOf(this.interceptor);
    if (at > 0) interceptors.unshift(...interceptors.splice(at, 1));
  }

  /** Every filter instance of the app: global, APP_FILTER, and `@UseFilters` on controllers. */
  private *hostFilters(globals: Filter[]): Iterable<Filter> {
    yield* globals;
    for (const module of this.modules.values()) {
      for (const wrapper of module.injectables.values()) {
        const instance = wrapper.isDependencyTreeStatic() ? wrapper.instance : null;
        if (isFilter(instance)) yield instance;
      }
      for (const wrapper of module.controllers.values()) {
        const type = wrapper.metatype as (new (...args: never[]) => object) | null;
        if (!type?.prototype) continue;
        const targets: object[] = [type];
        for (const name of Object.getOwnPropertyNames(type.prototype)) {
          const method = Object.getOwnPropertyDescriptor(type.prototype, name)?.value;
          if (typeof method === 'function') targets.push(method);
        }
        for (const target of targets) {
          const declared: unknown[] = Reflect.getMetadata(EXCEPTION_FILTERS_METADATA, target) ?? [];
          for (const f of declared) if (isFilter(f)) yield f;
        }
      }
    }
  }

  private wrap(filter: Filter): void {
    if (filter[WRAPPED] || filter instanceof StrikesExceptionFilter) return;
    const original = filter.catch.bind(filter);
    const strikes = this.strikes;
    filter.catch = function chargeThenCatch(exception: unknown, host: ArgumentsHost) {
      if (host.getType() !== 'http') return original(exception, host);
      const request = host.switchToHttp().getRequest<Request>();
      const toRender = strikes.chargeForException(exception, request);
      // Synchronous when there is nothing to charge: the host's filter runs as it always did.
      if (!(toRender instanceof Promise)) return original(toRender, host);
      return toRender.then((e) => original(e, host));
    };
    filter[WRAPPED] = true;
    this.logger.debug(`charging before ${filter.constructor.name} renders`);
  }
}

function isFilter(value: unknown): value is Filter {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { catch?: unknown }).catch === 'function' &&
    Reflect.hasMetadata(FILTER_CATCH_EXCEPTIONS, (value as object).constructor)
  );
}
