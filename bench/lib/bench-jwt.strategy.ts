import { createSecretKey } from 'node:crypto';
import { Injectable, UnauthorizedException } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import { ExtractJwt, Strategy } from 'passport-jwt';

/**
 * The JWT check of the bench's hand-written apps (peer_nest, host_overhead), as a careful team
 * writes it: passport-jwt verifying the bench's HS256 tokens (JWT_SECRET) with a KeyObject.
 */
@Injectable()
export class BenchJwtStrategy extends PassportStrategy(Strategy, 'jwt') {
  constructor() {
    super({
      jwtFromRequest: ExtractJwt.fromAuthHeaderAsBearerToken(),
      secretOrKey: createSecretKey(Buffer.from(process.env.JWT_SECRET ?? '')) as unknown as Buffer,
      algorithms: ['HS256'],
    });
  }

  validate(payload: { sub?: unknown; sv?: unknown }): { id: string; sv: number } {
    if (typeof payload.sub !== 'string') throw new UnauthorizedException('no subject');
    return { id: payload.sub, sv: typeof payload.sv === 'number' ? payload.sv : 0 };
  }
}
