import {
  type CallHandler,
  type ExecutionContext,
  Injectable,
  type NestInterceptor,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { type Request } from 'express';
import { catchError, from, type Observable, switchMap, throwError } from 'rxjs';
import { StrikesService } from './strikes.service.js';
import { captureRoutePolicy } from './violation-policy.js';

/**
 * Charges violations thrown by handlers (ViolationException, `@StrikeOn` types, 403s) before any
 * exception filter sees them. A guard's exception never reaches an interceptor: the exception
 * filter (or StrikesService.chargeForException in your own filter) covers those.
 */
@Injectable()
export class StrikesInterceptor implements NestInterceptor {
  constructor(
    private readonly strikes: StrikesService,
    private readonly reflector: Reflector,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    captureRoutePolicy(context, this.reflector);
    const request = context.switchToHttp().getRequest<Request>();
    return next
      .handle()
      .pipe(
        catchError((error: unknown) =>
          from(this.strikes.chargeForException(error, request)).pipe(
            switchMap((toThrow) => throwError(() => toThrow)),
          ),
        ),
      );
  }
}
