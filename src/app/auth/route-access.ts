import { type ExecutionContext } from '@nestjs/common';
import { type Reflector } from '@nestjs/core';
import { permissionOf, type StrikeguardPermission } from '../../rest/index.js';
import { type Role } from '../users/user.entity.js';
import { type ServiceScope } from './principal.js';
import { ROLES_KEY, SCOPES_KEY } from './roles.decorator.js';

/** Who may use what the library's REST modules do, in this service's roles and scopes. */
const BY_PERMISSION: Record<StrikeguardPermission, { roles: Role[]; scopes: ServiceScope[] }> = {
  'strikes:read': { roles: ['admin'], scopes: [] },
  'strikes:unblock': { roles: ['admin'], scopes: [] },
  'audit:read': { roles: ['admin', 'auditor'], scopes: ['audit:read'] },
  'audit:write': { roles: ['admin'], scopes: ['audit:write'] },
  'login-throttle:read': { roles: ['admin'], scopes: [] },
  'login-throttle:clear': { roles: ['admin'], scopes: [] },
};

/** The roles and scopes a route admits: its `@Roles`/`@Scopes`, or its library permission. */
export function routeAccess(
  reflector: Reflector,
  context: ExecutionContext,
): { roles?: Role[]; scopes?: string[] } {
  const permission = permissionOf(context, reflector);
  if (permission) return BY_PERMISSION[permission];
  const targets = [context.getHandler(), context.getClass()];
  return {
    roles: reflector.getAllAndOverride<Role[] | undefined>(ROLES_KEY, targets),
    scopes: reflector.getAllAndOverride<string[] | undefined>(SCOPES_KEY, targets),
  };
}
