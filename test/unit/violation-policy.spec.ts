import {
  ConflictException,
  type ExecutionContext,
  ForbiddenException,
  NotFoundException,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { type Request } from 'express';
import { NoStrikes, StrikeOn } from '../../src/strikes/strikes.decorators.js';
import { StrikeRefusalException } from '../../src/strikes/strike-refusal.exception.js';
import {
  resolveStrikesOptions,
  type StrikesModuleOptions,
} from '../../src/strikes/strikes.options.js';
import { UnmappablePrincipalException } from '../../src/strikes/unmappable-principal.exception.js';
import { ViolationException } from '../../src/strikes/violation.exception.js';
import { captureRoutePolicy, violationOf } from '../../src/strikes/violation-policy.js';

class EditConflict extends ConflictException {}
class Scraping extends Error {}

class Docs {
  plain() {}
  @StrikeOn(Scraping, { reason: 'watched_scraping', monitor: true })
  watched() {}

  @StrikeOn(EditConflict, { weight: 3, reason: 'edit_conflict' })
  edit() {}
  @NoStrikes()
  exempt() {}
}

@StrikeOn(Scraping, { weight: 2, reason: 'class_rule' })
class Marked {
  any() {}
}

const reflector = new Reflector();
const user = { userId: 'u1' };

function requestFor(controller: object, handler: string, options: StrikesModuleOptions = {}) {
  const request = {} as Request;
  const context = {
    getHandler: () => (controller as Record<string, unknown>)[handler],
    getClass: () => (controller as { constructor: unknown }).constructor,
    switchToHttp: () => ({ getRequest: () => request }),
  } as unknown as ExecutionContext;
  captureRoutePolicy(context, reflector);
  const resolved = resolveStrikesOptions(options);
  return (exception: unknown, principal: { userId: string } | null = user) =>
    violationOf(exception, request, principal, resolved);
}

describe('what counts as a violation', () => {
  it('a ViolationException charges its own weight and reason', () => {
    expect(requestFor(new Docs(), 'plain')(new ViolationException('tampering', 4))).toEqual({
      userId: 'u1',
      weight: 4,
      reason: 'tampering',
      monitor: false,
    });
  });

  it('a 403 on an authenticated request charges forbiddenWeight, a 404 nothing', () => {
    expect(requestFor(new Docs(), 'plain')(new ForbiddenException())).toMatchObject({ weight: 1 });
    expect(requestFor(new Docs(), 'plain')(new NotFoundException())).toBeNull();
    expect(
      requestFor(new Docs(), 'plain', { forbiddenWeight: 0 })(new ForbiddenException()),
    ).toBeNull();
  });

  it("a route's @StrikeOn rule wins over the module-wide rules", () => {
    const charge = requestFor(new Docs(), 'edit', {
      violations: [{ exception: EditConflict, weight: 9 }],
    });
    expect(charge(new EditConflict())).toEqual({
      userId: 'u1',
      weight: 3,
      reason: 'edit_conflict',
      monitor: false,
    });
  });

  it('a controller-level @StrikeOn applies to its handlers; module rules default to weight 1', () => {
    expect(requestFor(new Marked(), 'any')(new Scraping())).toMatchObject({ weight: 2 });
    expect(
      requestFor(new Docs(), 'plain', { violations: [{ exception: Scraping }] })(new Scraping()),
    ).toEqual({ userId: 'u1', weight: 1, reason: 'Scraping', monitor: false });
  });

  it('a rule marked monitor says so, per route and module-wide', () => {
    expect(
      requestFor(new Docs(), 'plain', { violations: [{ exception: Scraping, monitor: true }] })(
        new Scraping(),
      ),
    ).toMatchObject({ monitor: true });
    expect(requestFor(new Docs(), 'watched')(new Scraping())).toEqual({
      userId: 'u1',
      weight: 1,
      reason: 'watched_scraping',
      monitor: true,
    });
    expect(() =>
      requestFor(new Docs(), 'plain', {
        violations: [{ exception: Scraping, monitor: 'yes' as never }],
      }),
    ).toThrow(/violations\[0\]\.monitor must be a boolean/);
  });

  it('@NoStrikes exempts the route, even from ViolationException', () => {
    expect(requestFor(new Docs(), 'exempt')(new ViolationException('x'))).toBeNull();
  });

  it("the module's own refusals and anonymous requests are never charged", () => {
    const charge = requestFor(new Docs(), 'plain');
    expect(charge(new StrikeRefusalException('account_blocked'))).toBeNull();
    expect(charge(new UnmappablePrincipalException('no id'))).toBeNull();
    expect(charge(new ForbiddenException(), null)).toBeNull();
  });

  it('is decided once per request: a filter asking after the interceptor gets null', () => {
    const charge = requestFor(new Docs(), 'plain');
    expect(charge(new ForbiddenException())).not.toBeNull();
    expect(charge(new ForbiddenException())).toBeNull();
  });
});
