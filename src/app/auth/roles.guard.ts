import {
  type CanActivate,
  type ExecutionContext,
  ForbiddenException,
  Injectable,
  UnauthorizedException,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { type Request } from 'express';
import { type Role } from '../users/user.entity.js';
import { UsersRepository } from '../users/users.repository.js';
import { type Principal } from './principal.js';
import { ROLES_KEY } from './roles.decorator.js';

/**
 * Checks the caller's current role in the database (not a claim in the token), so a role taken
 * away takes effect at once. Runs after JwtAuthGuard.
 */
@Injectable()
export class RolesGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly users: UsersRepository,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const roles = this.reflector.getAllAndOverride<Role[] | undefined>(ROLES_KEY, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (!roles?.length) return true;
    const request = context.switchToHttp().getRequest<Request & { user?: Principal }>();
    const principal = request.user;
    if (!principal) throw new UnauthorizedException('authentication required');
    const user = await this.users.findById(principal.id);
    if (!user) throw new UnauthorizedException('the user of this token no longer exists');
    if (!roles.includes(user.role)) {
      throw new ForbiddenException(`this route requires the role ${roles.join(' or ')}`);
    }
    return true;
  }
}
