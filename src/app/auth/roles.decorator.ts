import { SetMetadata } from '@nestjs/common';
import { type Role } from '../users/user.entity.js';

export const ROLES_KEY = 'strikeguard:roles';

/** Only callers with one of these roles may use the route (checked by RolesGuard). */
export const Roles = (...roles: Role[]) => SetMetadata(ROLES_KEY, roles);
