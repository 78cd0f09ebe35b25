import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { type Request } from 'express';
import { SessionGate } from './session.gate.js';
import { captureRoutePolicy } from './violation-policy.js';

/**
 * Refuses a blocked account (403 `account_blocked`) and then a terminated session (401
 * `session_terminated`), from an in-memory state kept exact across instances (no database round
 * trip). Place it anywhere — global in any module, before or after your auth guard, or per
 * controller: where it runs before authentication, the module's interceptor checks after every
 * guard, and the exception path checks before charging, so a dead session never gets through.
 */
@Injectable()
export class StrikeGuard implements CanActivate {
  constructor(
    private readonly gate: SessionGate,
    private readonly reflector: Reflector,
  ) {}

  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    if (context.getType() !== 'http') return true;
    captureRoutePolicy(context, this.reflector);
    return this.gate.check(context.switchToHttp().getRequest<Request>());
  }
}
