import {
  type ExecutionContext,
  ForbiddenException,
  HttpException,
  Injectable,
  UnauthorizedException,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuthGuard } from '@nestjs/passport';
import { InvalidTokenClaimsError } from './jwt.strategy.js';
import { type Principal } from './principal.js';
import { routeAccess } from './route-access.js';
import { isDatabaseUnavailable } from '../../index.js';

/**
 * Requires a valid bearer token; every refusal is a 401 that says what was wrong with it. A
 * service token is accepted only on routes that name scopes (`@Scopes`).
 */
@Injectable()
export class JwtAuthGuard extends AuthGuard('jwt') {
  constructor(private readonly reflector: Reflector) {
    super();
  }

  override async canActivate(context: ExecutionContext): Promise<boolean> {
    try {
      await super.canActivate(context);
    } catch (error) {
      // A token jsonwebtoken chokes on (a signed `null` payload) is still only a bad token.
      if (error instanceof HttpException || isDatabaseUnavailable(error)) throw error;
      throw new UnauthorizedException('token is malformed');
    }
    const principal = context.switchToHttp().getRequest<{ user: Principal }>().user;
    if (principal.kind === 'service') {
      const { scopes } = routeAccess(this.reflector, context);
      if (!scopes?.length) throw new ForbiddenException('service tokens cannot use this route');
    }
    return true;
  }

  override handleRequest<T>(error: unknown, user: T, info: unknown): T {
    if (user && !error) return user;
    // The database is down (checking a service token): let the filter answer 503. Anything else
    // that went wrong with a token is a refusal: fail closed with 401.
    if (error && isDatabaseUnavailable(error)) throw error;
    throw new UnauthorizedException(describeFailure(error ?? info));
  }
}

function describeFailure(reason: unknown): string {
  if (reason instanceof InvalidTokenClaimsError) return reason.message;
  const name = (reason as Error | undefined)?.name;
  const message = (reason as Error | undefined)?.message ?? '';
  if (name === 'TokenExpiredError') return 'token has expired';
  if (name === 'NotBeforeError') return 'token is not valid yet';
  if (/no auth token/i.test(message)) return 'missing bearer token in the Authorization header';
  if (/invalid algorithm/i.test(message)) return 'token algorithm is not allowed';
  if (/signature/i.test(message)) return 'token signature is invalid';
  return 'token is malformed';
}
