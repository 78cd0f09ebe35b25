import {
  type CanActivate,
  type ExecutionContext,
  ForbiddenException,
  Injectable,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { UsersService } from '../users/users.service.js';
import { type TokenPayload } from './auth.service.js';
import { ROLES_KEY } from './roles.decorator.js';

/** The host's authorization: the user's role, from its own table. A 403 for everyone else. */
@Injectable()
export class RolesGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly users: UsersService,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const required = this.reflector.getAllAndOverride<string[] | undefined>(ROLES_KEY, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (!required?.length) return true;
    const { user } = context.switchToHttp().getRequest<{ user?: TokenPayload }>();
    const found = user ? await this.users.findById(user.sub) : null;
    if (!found || !required.includes(found.role)) {
      throw new ForbiddenException(`this area needs the role ${required.join(' or ')}`);
    }
    return true;
  }
}
