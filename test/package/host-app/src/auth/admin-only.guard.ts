import {
  type CanActivate,
  type ExecutionContext,
  ForbiddenException,
  Injectable,
} from '@nestjs/common';
import { UsersService } from '../users/users.service.js';
import { type TokenPayload } from './auth.service.js';

/** Who may use strikeguard's admin REST module here: admins, by the host's own users table. */
@Injectable()
export class AdminOnlyGuard implements CanActivate {
  constructor(private readonly users: UsersService) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const { user } = context.switchToHttp().getRequest<{ user?: TokenPayload }>();
    const found = user ? await this.users.findById(user.sub) : null;
    if (found?.role !== 'admin')
      throw new ForbiddenException('strike administration needs the role admin');
    return true;
  }
}
