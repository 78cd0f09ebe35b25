import { type Request } from 'express';
import { PrincipalResolver } from '../../src/strikes/principal.resolver.js';
import { resolveStrikesOptions, type StrikesPrincipal } from '../../src/strikes/strikes.options.js';

const resolver = (principalOf?: (request: Request) => StrikesPrincipal | null) =>
  new PrincipalResolver(resolveStrikesOptions({ principalOf }));
const requestWith = (user: unknown) => ({ user }) as unknown as Request;

describe('PrincipalResolver: the issue time that keys access.denied coalescing', () => {
  it('reads iat (a host payload) or issuedAt (the reference service) by default', () => {
    expect(resolver().resolve(requestWith({ sub: 'u1', sv: 2, iat: 1700 }))).toEqual({
      userId: 'u1',
      sessionVersion: 2,
      issuedAt: 1700,
    });
    expect(resolver().resolve(requestWith({ id: 'u1', issuedAt: 1800 }))?.issuedAt).toBe(1800);
  });

  it("takes the token's iat when a host's principalOf leaves the issue time out", () => {
    const r = resolver((req) => ({ userId: (req as any).user.uid, sessionVersion: 0 }));
    expect(r.resolve(requestWith({ uid: 7, iat: 1900 }))).toEqual({
      userId: '7',
      sessionVersion: 0,
      issuedAt: 1900,
    });
  });

  it('answers null without any issue time (never a header spelling instead)', () => {
    const req = {
      user: { sub: 'u1' },
      headers: { authorization: 'Bearer abc junk' },
    } as unknown as Request;
    expect(resolver().resolve(req)?.issuedAt).toBeNull();
    expect(resolver().resolve(requestWith({ sub: 'u1', iat: 'soon' }))?.issuedAt).toBeNull();
  });
});
