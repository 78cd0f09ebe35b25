import {
  type CallHandler,
  type ExecutionContext,
  Injectable,
  type NestInterceptor,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { type Request } from 'express';
import { catchError, defer, from, type Observable, switchMap, throwError } from 'rxjs';
import { SessionGate } from './session.gate.js';
import { StrikesService } from './strikes.service.js';
import { captureRoutePolicy } from './violation-policy.js';

/**
 * Runs after every guard (StrikesModule installs it globally, first in line): refuses a dead
 * session that StrikeGuard could not see yet (an auth guard that ran after it), then charges
 * violations thrown by the handler (ViolationException, `@StrikeOn` types, 403s) before any
 * exception filter sees them. Guards' exceptions are charged on the exception path.
 */
@Injectable()
export class StrikesInterceptor implements NestInterceptor {
  constructor(
    private readonly strikes: StrikesService,
    private readonly gate: SessionGate,
    private readonly reflector: Reflector,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'http') return next.handle();
    captureRoutePolicy(context, this.reflector);
    const request = context.switchToHttp().getRequest<Request>();
    let live: true | Promise<true>;
    try {
      live = this.gate.check(request);
    } catch (refusal) {
      return throwError(() => refusal);
    }
    const handled = (): Observable<unknown> =>
      next
        .handle()
        .pipe(
          catchError((error: unknown) =>
            defer(async () => this.strikes.chargeForException(error, request)).pipe(
              switchMap((toThrow) => throwError(() => toThrow)),
            ),
          ),
        );
    return live === true ? handled() : from(live).pipe(switchMap(handled));
  }
}
