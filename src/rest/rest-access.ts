import { type CanActivate, type ExecutionContext, SetMetadata, type Type } from '@nestjs/common';
import { type Reflector } from '@nestjs/core';
import { type Request } from 'express';

/** What a route of the REST modules does, for the host's authorisation to decide on. */
export type StrikeguardPermission =
  | 'strikes:read'
  | 'strikes:unblock'
  | 'audit:read'
  | 'audit:write'
  | 'login-throttle:read'
  | 'login-throttle:clear';

/**
 * How a host protects the REST modules it mounts: its own guards (authentication first, then
 * StrikeGuard and its role checks; they can read the route's permission with `permissionOf`), and
 * or a predicate. At least one is required — the modules never serve anyone by default. A
 * predicate answering false is a 403 (a violation, charged like any other).
 */
export interface RestAccessOptions {
  /** Guards run in order before every route (resolved from the app's providers, else created). */
  guards?: Type<CanActivate>[];
  /** Decides once the guards passed; `request.user` is whatever they set. */
  authorize?: (request: Request, permission: StrikeguardPermission) => boolean | Promise<boolean>;
}

export const PERMISSION_KEY = 'strikeguard:permission';

/** Marks a route with the permission it needs. */
export const RequirePermission = (permission: StrikeguardPermission) =>
  SetMetadata(PERMISSION_KEY, permission);

/** The permission the route being served needs, or undefined outside the REST modules. */
export function permissionOf(
  context: ExecutionContext,
  reflector: Reflector,
): StrikeguardPermission | undefined {
  return reflector.getAllAndOverride<StrikeguardPermission | undefined>(PERMISSION_KEY, [
    context.getHandler(),
    context.getClass(),
  ]);
}

/** Thrown at start for REST module options that would serve everyone or cannot work. */
export class RestAccessOptionsError extends Error {
  constructor(moduleName: string, message: string) {
    super(`${moduleName}: ${message}`);
    this.name = this.constructor.name;
  }
}

/** Checks the options once, at start: no authorisation means no module. */
export function checkAccessOptions(moduleName: string, options: RestAccessOptions): void {
  const guards = options?.guards ?? [];
  if (!Array.isArray(guards) || guards.some((g) => typeof g !== 'function'))
    throw new RestAccessOptionsError(moduleName, 'guards must be an array of guard classes');
  if (options?.authorize !== undefined && typeof options.authorize !== 'function')
    throw new RestAccessOptionsError(moduleName, 'authorize must be a function');
  if (guards.length === 0 && !options?.authorize)
    throw new RestAccessOptionsError(
      moduleName,
      'pass your authorisation: register({ guards: [YourAuthGuard, StrikeGuard, YourRolesGuard] }) ' +
        'and/or register({ authorize: (request, permission) => … }); these routes are never open by default',
    );
}
