import { Injectable, UnauthorizedException } from '@nestjs/common';
import { AuthGuard } from '@nestjs/passport';
import { InvalidTokenClaimsError } from './jwt.strategy.js';

/** Requires a valid bearer token; every refusal is a 401 that says what was wrong with it. */
@Injectable()
export class JwtAuthGuard extends AuthGuard('jwt') {
  override handleRequest<T>(error: unknown, user: T, info: unknown): T {
    if (user && !error) return user;
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
