import { type ArgumentsHost, Catch, type ExceptionFilter, Injectable } from '@nestjs/common';
import { FILTER_CATCH_EXCEPTIONS } from '@nestjs/common/constants.js';
import { BaseExceptionFilter } from '@nestjs/core';
import { type Request } from 'express';
import { StrikesService } from './strikes.service.js';

/**
 * StrikesModule installs it globally as the catch-all of last resort: it charges violations
 * (guards' 403s included) and hands the exception to the host's own filter that would have
 * caught it (so the host's error bodies stay as they are), or renders it as Nest does. Host
 * filters that win over it charge too: the module wraps them at start (see FilterChargingBinder).
 */
@Catch()
@Injectable()
export class StrikesExceptionFilter extends BaseExceptionFilter {
  /** The host's global filters this one stands in front of, in Nest's order (set at start). */
  delegates: ExceptionFilter[] = [];

  constructor(private readonly strikes: StrikesService) {
    super();
  }

  override async catch(exception: unknown, host: ArgumentsHost): Promise<unknown> {
    const toRender =
      host.getType() === 'http'
        ? await this.strikes.chargeForException(
            exception,
            host.switchToHttp().getRequest<Request>(),
          )
        : exception;
    const delegate = this.delegates.find((f) => catches(f, toRender));
    if (delegate) return delegate.catch(toRender, host);
    return super.catch(toRender, host);
  }
}

/** Whether a filter's `@Catch(...)` takes this exception (no types: it takes everything). */
export function catches(filter: ExceptionFilter, exception: unknown): boolean {
  const types: (new (...args: never[]) => unknown)[] =
    Reflect.getMetadata(FILTER_CATCH_EXCEPTIONS, filter.constructor) ?? [];
  return types.length === 0 || types.some((t) => exception instanceof t);
}
