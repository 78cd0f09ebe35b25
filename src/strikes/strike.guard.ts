import {
  type CanActivate,
  type ExecutionContext,
  Injectable,
  ServiceUnavailableException,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { type Request } from 'express';
import { metrics } from '../common/metrics.js';
import { type SessionState } from './strike-counter.store.js';
import { type StrikesPrincipal } from './strikes.options.js';
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

  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    captureRoutePolicy(context, this.reflector);
    const request = context.switchToHttp().getRequest<Request>();
    const principal = this.strikes.options.principalOf(request);
    if (!principal) return true;
    // The common case stays synchronous: the state is in memory, the session is fine.
    const cached = this.strikes.cache.get(principal.userId);
    if (cached) return this.decide(request, principal, cached);
    return this.strikes.sessionState(principal.userId).then(
      (state) => (state ? this.decide(request, principal, state) : true),
      (error: unknown) => {
        if (!this.strikes.options.failClosed) return true;
        throw new ServiceUnavailableException(
          {
            message: 'cannot check the session: database unavailable, try again later',
            reason: 'database_unavailable',
          },
          { cause: error },
        );
      },
    );
  }

  /** Blocked first, then a token older than the session version. */
  private decide(
    request: Request,
    principal: StrikesPrincipal,
    state: SessionState,
  ): boolean | Promise<never> {
    if (state.status === 'blocked')
      return this.refuse(request, principal.userId, 'account_blocked');
    if (principal.sessionVersion < state.sessionVersion) {
      return this.refuse(request, principal.userId, 'session_terminated');
    }
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
