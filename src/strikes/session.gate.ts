import { Inject, Injectable, ServiceUnavailableException } from '@nestjs/common';
import { type Request } from 'express';
import { metrics } from '../common/metrics.js';
import { AccessDeniedCoalescer } from './access-denied.coalescer.js';
import { type ResolvedPrincipal, PrincipalResolver } from './principal.resolver.js';
import { SessionStateCache } from './session-state.cache.js';
import { type SessionState } from './strike-counter.store.js';
import { STRIKES_OPTIONS } from './strikes-options.provider.js';
import { type ResolvedStrikesOptions } from './strikes.options.js';
import { type RefusalReason, StrikeRefusalException } from './strike-refusal.exception.js';

const CHECKED = Symbol('strikeguard:session-checked');

type GateRequest = Request & { [CHECKED]?: string };

/**
 * The one place that lets a session through or refuses it: a blocked account (403
 * `account_blocked`), then a token older than the session version (401 `session_terminated`).
 * StrikeGuard asks where it is placed; the interceptor asks again after every guard (an auth guard
 * that runs after StrikeGuard has set the user by then); the exception path asks before charging,
 * so a dead session is never charged. Synchronous when the state is cached.
 */
@Injectable()
export class SessionGate {
  constructor(
    private readonly principals: PrincipalResolver,
    private readonly states: SessionStateCache,
    private readonly denials: AccessDeniedCoalescer,
    @Inject(STRIKES_OPTIONS) private readonly options: ResolvedStrikesOptions,
  ) {}

  /**
   * True when the request may go on (anonymous, a service, or a live session); throws (or
   * rejects with) StrikeRefusalException, UnmappablePrincipalException or a 503.
   */
  check(request: Request, principal = this.principals.resolve(request)): true | Promise<true> {
    if (!principal) return true;
    const req = request as GateRequest;
    const key = `${principal.userId}\u0000${principal.sessionVersion}`;
    if (req[CHECKED] === key) return true;
    let state: ReturnType<SessionStateCache['read']>;
    try {
      state = this.states.read(principal.userId);
    } catch (error) {
      return this.unavailable(error);
    }
    if (!(state instanceof Promise)) return this.decide(req, key, principal, state);
    return state.then(
      (s) => this.decide(req, key, principal, s),
      (error: unknown) => this.unavailable(error),
    );
  }

  /** Blocked first, then a token older than the session version. */
  private decide(
    request: GateRequest,
    key: string,
    principal: ResolvedPrincipal,
    state: SessionState | null,
  ): true | Promise<never> {
    // No counter (a user the host never enrolled): nothing to refuse; the first violation enrolls.
    if (state?.status === 'blocked') return this.refuse(request, principal, 'account_blocked');
    if (state && principal.sessionVersion < state.sessionVersion)
      return this.refuse(request, principal, 'session_terminated');
    request[CHECKED] = key;
    return true;
  }

  private unavailable(error: unknown): true {
    if (!this.options.failClosed) return true;
    throw new ServiceUnavailableException(
      {
        statusCode: 503,
        error: 'Service Unavailable',
        message: 'cannot check the session: database unavailable, try again later',
        reason: 'database_unavailable',
      },
      { cause: error },
    );
  }

  private async refuse(
    request: Request,
    principal: ResolvedPrincipal,
    reason: RefusalReason,
  ): Promise<never> {
    metrics.accessDenied.inc({ reason });
    // Per verified token (user, session version, issue time), not per header spelling.
    const token =
      principal.issuedAt !== null
        ? `${principal.userId}\u0000${principal.sessionVersion}\u0000${principal.issuedAt}`
        : (request.headers.authorization ?? `${principal.userId}:anonymous`);
    await this.denials.denied(token, principal.userId, reason);
    throw new StrikeRefusalException(reason);
  }
}
