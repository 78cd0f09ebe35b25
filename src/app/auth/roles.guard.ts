import {
  type CanActivate,
  type ExecutionContext,
  ForbiddenException,
  Injectable,
  UnauthorizedException,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { type Request } from 'express';
import { UsersRepository } from '../users/users.repository.js';
import { type Principal } from './principal.js';
import { routeAccess } from './route-access.js';

/**
 * Checks a user's current role in the database (not a claim in the token), so a role taken away
 * takes effect at once; checks a service token's scopes. Runs after JwtAuthGuard.
 */
@Injectable()
export class RolesGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly users: UsersRepository,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const { roles, scopes } = routeAccess(this.reflector, context);
    const principal = context.switchToHttp().getRequest<Request & { user?: Principal }>().user;
    if (!principal) throw new UnauthorizedException('authentication required');
    if (principal.kind === 'service') {
      if (scopes?.some((s) => principal.scopes.includes(s))) return true;
      throw new ForbiddenException(
        scopes?.length
          ? `this route requires a service token with the scope ${scopes.join(' or ')}`
          : 'service tokens cannot use this route',
      );
    }
    if (!roles?.length) return true;
    const user = await this.users.findById(principal.id);
    if (!user) throw new UnauthorizedException('the user of this token no longer exists');
    if (!roles.includes(user.role)) {
      throw new ForbiddenException(`this route requires the role ${roles.join(' or ')}`);
    }
    return true;
  }
}
