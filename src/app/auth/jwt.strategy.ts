import { Inject, Injectable } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import { ExtractJwt, Strategy } from 'passport-jwt';
import { APP_CONFIG } from '../config/app-config.provider.js';
import { type AppConfig } from '../config/app-config.js';
import { JWT_ALGORITHM, jwtKey } from './jwt-keys.js';
import { type UserPrincipal } from './principal.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Thrown from `validate` for a token that verified but does not carry what we require. */
export class InvalidTokenClaimsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = this.constructor.name;
  }
}

@Injectable()
export class JwtStrategy extends PassportStrategy(Strategy, 'jwt') {
  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    super({
      jwtFromRequest: ExtractJwt.fromAuthHeaderAsBearerToken(),
      // passport-jwt's typings say string | Buffer; jsonwebtoken accepts a KeyObject (see jwt-keys).
      secretOrKey: jwtKey(config.jwtSecret) as unknown as Buffer,
      algorithms: [JWT_ALGORITHM],
      ignoreExpiration: false,
    });
  }

  /** The signature and expiry are checked; a token must also carry `exp`, `iat` and a user id. */
  validate(payload: Record<string, unknown>): UserPrincipal {
    if (typeof payload.exp !== 'number') throw new InvalidTokenClaimsError('token has no expiry');
    if (typeof payload.iat !== 'number')
      throw new InvalidTokenClaimsError('token has no issue time');
    if (typeof payload.sub !== 'string' || !UUID.test(payload.sub)) {
      throw new InvalidTokenClaimsError('token subject is not a user id');
    }
    return { kind: 'user', id: payload.sub, issuedAt: payload.iat };
  }
}
