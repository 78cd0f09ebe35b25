import { type ExecutionContext, HttpException, HttpStatus } from '@nestjs/common';
import { type Reflector } from '@nestjs/core';
import { type Request } from 'express';
import { StrikeRefusalException } from './strike-refusal.exception.js';
import { NO_STRIKES_KEY, STRIKE_ON_KEY, type StrikeOnRule } from './strikes.decorators.js';
import { type ResolvedStrikesOptions } from './strikes.options.js';
import { UnmappablePrincipalException } from './unmappable-principal.exception.js';
import { ViolationException } from './violation.exception.js';

/** What the route says about strikes, captured where the handler is known (guard, interceptor). */
interface RoutePolicy {
  noStrikes: boolean;
  rules: StrikeOnRule[];
}

const ROUTE_POLICY = Symbol('strikeguard:route-policy');
const policies = new WeakMap<object, WeakMap<object, RoutePolicy>>();
const CHARGED = Symbol('strikeguard:charged');

type PolicyRequest = Request & { [ROUTE_POLICY]?: RoutePolicy; [CHARGED]?: true };

/** A violation to charge: who, how much, why. */
export interface Violation {
  userId: string;
  weight: number;
  reason: string;
  /** The rule is monitored: its crossings are simulated (the module's mode may say so too). */
  monitor: boolean;
}

/**
 * Remembers the route's `@NoStrikes` / `@StrikeOn` metadata on the request: an exception filter
 * for a guard's exception no longer knows which handler was meant.
 */
export function captureRoutePolicy(context: ExecutionContext, reflector: Reflector): void {
  const request = context.switchToHttp().getRequest<PolicyRequest>();
  if (request[ROUTE_POLICY]) return;
  // Metadata never changes: read it once per controller and handler, not once per request.
  const handler = context.getHandler();
  const controller = context.getClass();
  let byHandler = policies.get(controller);
  if (!byHandler) policies.set(controller, (byHandler = new WeakMap()));
  let policy = byHandler.get(handler);
  if (!policy) {
    const targets = [handler, controller];
    policy = {
      noStrikes: reflector.getAllAndOverride<boolean>(NO_STRIKES_KEY, targets) ?? false,
      rules: targets.flatMap(
        (t) => (Reflect.getMetadata(STRIKE_ON_KEY, t) as StrikeOnRule[] | undefined) ?? [],
      ),
    };
    byHandler.set(handler, policy);
  }
  request[ROUTE_POLICY] = policy;
}

/**
 * The violation an exception amounts to, or null. Decided once per request (a guard, an
 * interceptor and a filter may all ask): the first asker gets the answer, the others null.
 */
export function violationOf(
  exception: unknown,
  request: Request,
  principal: { userId: string } | null,
  options: ResolvedStrikesOptions,
): Violation | null {
  const req = request as PolicyRequest;
  if (req[CHARGED]) return null;
  // Anonymous requests and service tokens are never charged: nobody can lock out a victim.
  if (!principal) return null;
  if (exception instanceof StrikeRefusalException) return null;
  if (exception instanceof UnmappablePrincipalException) return null;
  const policy = req[ROUTE_POLICY];
  if (policy?.noStrikes) return null;
  const found = match(exception, policy?.rules ?? [], options);
  if (!found) return null;
  req[CHARGED] = true;
  return { userId: principal.userId, ...found };
}

function match(
  exception: unknown,
  rules: StrikeOnRule[],
  options: ResolvedStrikesOptions,
): { weight: number; reason: string; monitor: boolean } | null {
  if (exception instanceof ViolationException)
    return { weight: exception.weight, reason: exception.violation, monitor: false };
  for (const rule of rules) {
    if (exception instanceof rule.exception)
      return { weight: rule.weight, reason: rule.reason, monitor: rule.monitor };
  }
  for (const rule of options.violations) {
    if (exception instanceof rule.exception) {
      return {
        weight: rule.weight ?? 1,
        reason: rule.reason ?? rule.exception.name,
        monitor: rule.monitor ?? false,
      };
    }
  }
  if (
    options.forbiddenWeight > 0 &&
    exception instanceof HttpException &&
    exception.getStatus() === HttpStatus.FORBIDDEN
  ) {
    return { weight: options.forbiddenWeight, reason: 'forbidden', monitor: false };
  }
  return null;
}
