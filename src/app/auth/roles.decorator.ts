import { SetMetadata } from '@nestjs/common';
import { type ServiceScope } from './principal.js';
import { type Role } from '../users/user.entity.js';

export const ROLES_KEY = 'strikeguard:roles';
export const SCOPES_KEY = 'strikeguard:scopes';

/** Only users with one of these roles may use the route (checked by RolesGuard). */
export const Roles = (...roles: Role[]) => SetMetadata(ROLES_KEY, roles);

/**
 * Service tokens with one of these scopes may use the route too. Routes without it refuse
 * service tokens altogether.
 */
export const Scopes = (...scopes: ServiceScope[]) => SetMetadata(SCOPES_KEY, scopes);
