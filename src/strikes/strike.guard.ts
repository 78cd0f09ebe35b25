import {
  type CanActivate,
  type ExecutionContext,
  Injectable,
  ServiceUnavailableException,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { type Request } from 'express';
import { metrics } from '../audit/metrics.js';
import { AccessDeniedCoalescer } from './access-denied.coalescer.js';
import { type RefusalReason, StrikeRefusalException } from './strike-refusal.exception.js';
import { StrikesService } from './strikes.service.js';
import { captureRoutePolicy } from './violation-policy.js';

/**
 * Refuses a blocked account (403 `account_blocked`) and then a terminated session (401
 * `session_terminated`). Put it right after authentication. The state comes from an in-memory
 * cache kept exact across instances, so a request costs no database round trip.
 */
@Injectable()
export class StrikeGuard implements CanActivate {
  constructor(
    private readonly strikes: StrikesService,
    private readonly reflector: Reflector,
    private readonly denials: AccessDeniedCoalescer,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    captureRoutePolicy(context, this.reflector);
    const request = context.switchToHttp().getRequest<Request>();
    const principal = this.strikes.options.principalOf(request);
    if (!principal) return true;
    let state;
    try {
      state = await this.strikes.sessionState(principal.userId);
    } catch (error) {
      if (!this.strikes.options.failClosed) return true;
      throw new ServiceUnavailableException(
        {
          message: 'cannot check the session: database unavailable, try again later',
          reason: 'database_unavailable',
        },
        { cause: error },
      );
    }
    if (!state) return true;
    if (state.status === 'blocked')
      return this.refuse(request, principal.userId, 'account_blocked');
    if (principal.sessionVersion < state.sessionVersion)
      return this.refuse(request, principal.userId, 'session_terminated');
    return true;
  }

  private async refuse(request: Request, userId: string, reason: RefusalReason): Promise<never> {
    metrics.accessDenied.inc({ reason });
    await this.denials.denied(
      request.headers.authorization ?? `${userId}:anonymous`,
      userId,
      reason,
    );
    throw new StrikeRefusalException(reason);
  }
}
