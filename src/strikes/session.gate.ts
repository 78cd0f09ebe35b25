import { Inject, Injectable, ServiceUnavailableException } from '@nestjs/common';
import { type Request } from 'express';
import { metrics } from '../common/metrics.js';
import { AccessDeniedCoalescer } from './access-denied.coalescer.js';
import { type ResolvedPrincipal, PrincipalResolver } from './principal.resolver.js';
import { SessionStateCache } from './session-state.cache.js';
import { type SessionState } from './strike-counter.store.js';
import { STRIKES_OPTIONS } from './strikes-options.provider.js';
import { clockMs, type ResolvedStrikesOptions } from './strikes.options.js';
import { type RefusalReason, StrikeRefusalException } from './strike-refusal.exception.js';

const CHECKED = Symbol('strikeguard:session-checked');

/** What the gate answered for this request's principal: asked again, it answers the same. */
type GateRequest = Request & { [CHECKED]?: { key: string; refusal: unknown } };

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
    const earlier = req[CHECKED];
    // The guard, the interceptor and the exception path all ask: one database read (or timeout)
    // and one access.denied record per request, not three.
    if (earlier?.key === key) {
      if (earlier.refusal === null) return true;
      throw earlier.refusal;
    }
    const settle = (refusal: unknown) => (req[CHECKED] = { key, refusal });
    try {
      const state = this.states.read(principal.userId);
      if (!(state instanceof Promise)) return this.decide(principal, state, settle);
      return state.then(
        (s) => this.decide(principal, s, settle),
        (error: unknown) => this.unavailable(error, settle),
      );
    } catch (error) {
      return this.unavailable(error, settle);
    }
  }

  /** Blocked first, then a token older than the session version. */
  private decide(
    principal: ResolvedPrincipal,
    state: SessionState | null,
    settle: (refusal: unknown) => void,
  ): true | Promise<never> {
    // No counter (a user the host never enrolled): nothing to refuse; the first violation enrolls.
    let reason: RefusalReason | null = null;
    if (isBlocked(state, this.options)) reason = 'account_blocked';
    else if (state && principal.sessionVersion < state.sessionVersion)
      reason = 'session_terminated';
    if (!reason) {
      settle(null);
      return true;
    }
    const refusal = new StrikeRefusalException(reason);
    settle(refusal);
    return this.refuse(principal, refusal);
  }

  private unavailable(error: unknown, settle: (refusal: unknown) => void): true {
    if (!this.options.failClosed) {
      settle(null);
      return true;
    }
    const refusal = new ServiceUnavailableException(
      {
        statusCode: 503,
        error: 'Service Unavailable',
        message: 'cannot check the session: database unavailable, try again later',
        reason: 'database_unavailable',
      },
      { cause: error },
    );
    settle(refusal);
    throw refusal;
  }

  private async refuse(
    principal: ResolvedPrincipal,
    refusal: StrikeRefusalException,
  ): Promise<never> {
    const reason = refusal.reason;
    metrics.accessDenied.inc({ reason });
    // Per verified token (user, session version, issue time), never per header spelling.
    await this.denials.denied(principal, reason);
    throw refusal;
  }
}

/**
 * A real block that holds now: a timed one ends at its `blockedUntil` on every instance at once
 * (a comparison with the clock, no message needed); the sweeper records it soon after.
 */
export function isBlocked(
  state: SessionState | null,
  options: Pick<ResolvedStrikesOptions, 'clock'>,
): boolean {
  if (state?.status !== 'blocked') return false;
  return state.blockedUntil === null || clockMs(options) < state.blockedUntil;
}
