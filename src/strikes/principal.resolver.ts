import { Inject, Injectable, Logger } from '@nestjs/common';
import { type Request } from 'express';
import { metrics } from '../common/metrics.js';
import { STRIKES_OPTIONS } from './strikes-options.provider.js';
import { PrincipalUnmappableError, type ResolvedStrikesOptions } from './strikes.options.js';
import { UnmappablePrincipalException } from './unmappable-principal.exception.js';
import { kindOf, userKeyOrNull } from './user-id.js';

/** A request's user in the engine's one form: the text key, the session version, the issue time. */
export interface ResolvedPrincipal {
  userId: string;
  sessionVersion: number;
  issuedAt: number | null;
}

const RESOLVED = Symbol('strikeguard:principal');
const MAX_LOGGED_CAUSES = 100;

type ResolvingRequest = Request & {
  user?: unknown;
  [RESOLVED]?: { user: unknown; principal: ResolvedPrincipal | null };
};

/**
 * Maps `request.user` to a principal through `principalOf`, checking what it answers. An
 * authenticated request that cannot be mapped is refused (503) or, if so configured, let through
 * as anonymous — either way logged once per cause and counted, never silently.
 */
@Injectable()
export class PrincipalResolver {
  private readonly logger = new Logger('Strikes');
  private readonly logged = new Set<string>();

  constructor(@Inject(STRIKES_OPTIONS) private readonly options: ResolvedStrikesOptions) {}

  /** The request's principal; null when anonymous or a service. Throws UnmappablePrincipalException. */
  resolve(request: Request): ResolvedPrincipal | null {
    const req = request as ResolvingRequest;
    // Asked by the guard, the interceptor and the filter: once per `request.user` value (an auth
    // guard running after StrikeGuard sets it later).
    const memo = req[RESOLVED];
    if (memo && memo.user === req.user) return memo.principal;
    const principal = this.map(req);
    req[RESOLVED] = { user: req.user, principal };
    return principal;
  }

  private map(request: ResolvingRequest): ResolvedPrincipal | null {
    let raw: unknown;
    try {
      raw = this.options.principalOf(request);
    } catch (error) {
      const cause =
        error instanceof PrincipalUnmappableError
          ? error.cause
          : `principalOf threw ${(error as Error)?.name ?? 'an error'}: ${(error as Error)?.message ?? String(error)}`;
      return this.unmappable(cause);
    }
    if (raw === null || raw === undefined) return null;
    if (typeof raw !== 'object')
      return this.unmappable(`principalOf answered a ${typeof raw}, not a principal`);
    const p = raw as Record<string, unknown>;
    const userId = userKeyOrNull(p.userId);
    if (userId === null)
      return this.unmappable(`the user id is ${kindOf(p.userId)}, not a string or an integer`);
    const sessionVersion = toVersion(p.sessionVersion);
    if (sessionVersion === null)
      return this.unmappable(
        `the session version (sv) is ${kindOf(p.sessionVersion)}, not an integer >= 0`,
      );
    // A host's principalOf may leave the issue time out: the token's own `iat` names it then.
    const issuedAt = issueTime(p.issuedAt) ?? issueTimeOf(request.user);
    return { userId, sessionVersion, issuedAt };
  }

  private unmappable(cause: string): null {
    metrics.unmappablePrincipals.inc({ policy: this.options.unmappablePrincipal });
    if (!this.logged.has(cause) && this.logged.size < MAX_LOGGED_CAUSES) {
      this.logged.add(cause);
      this.logger.error(
        `an authenticated request has a user strikeguard cannot map (${cause}); ` +
          (this.options.unmappablePrincipal === 'refuse'
            ? 'such requests are refused with 503. '
            : 'such requests pass UNPROTECTED (unmappablePrincipal: "anonymous"). ') +
          'Fix: let request.user carry id (or sub) as a string or an integer and sv as an integer, ' +
          'or pass StrikesModule.forRoot({ principalOf: (request) => ({ userId, sessionVersion }) })',
      );
    }
    if (this.options.unmappablePrincipal === 'anonymous') return null;
    throw new UnmappablePrincipalException(cause);
  }
}

function issueTime(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

function issueTimeOf(user: unknown): number | null {
  if (typeof user !== 'object' || user === null) return null;
  const u = user as { iat?: unknown; issuedAt?: unknown };
  return issueTime(u.iat) ?? issueTime(u.issuedAt);
}

function toVersion(value: unknown): number | null {
  if (value === undefined) return 0;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  if (typeof value === 'string' && /^\d{1,15}$/.test(value)) return Number(value);
  return null;
}
