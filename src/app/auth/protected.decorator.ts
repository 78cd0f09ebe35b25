import { applyDecorators, UseGuards } from '@nestjs/common';
import { ApiBearerAuth } from '@nestjs/swagger';
import { type Role } from '../users/user.entity.js';
import { JwtAuthGuard } from './jwt-auth.guard.js';
import { Roles } from './roles.decorator.js';
import { RolesGuard } from './roles.guard.js';
import { StrikeGuard } from '../../index.js';
import { ApiErrors } from '../../rest/index.js';

/**
 * A route for authenticated callers: JWT first, then the strike guard (blocked account, terminated
 * session), then the role check, whose 403 is a violation charged by the exception filter.
 */
export function Protected(...roles: Role[]) {
  return applyDecorators(
    UseGuards(JwtAuthGuard, StrikeGuard, RolesGuard),
    ...(roles.length ? [Roles(...roles)] : []),
    ApiBearerAuth(),
    ApiErrors(
      { 401: 'no valid token, or `reason: "session_terminated"`' },
      { 403: '`reason: "account_blocked"`, or a role the caller lacks (charged a strike)' },
      503,
    ),
  );
}
