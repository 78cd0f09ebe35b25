import { Inject, Injectable } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import { ExtractJwt, Strategy } from 'passport-jwt';
import { APP_CONFIG } from '../config/app-config.provider.js';
import { type AppConfig } from '../config/app-config.js';
import { JWT_ALGORITHM, jwtKey } from './jwt-keys.js';
import { ServiceTokensRepository } from '../service-tokens/service-tokens.repository.js';
import { type Principal, SERVICE_TOKEN_TYPE, type ServicePrincipal } from './principal.js';
import { UUID } from '../../index.js';

/** A user id exactly as issued: a lower-case UUID (the strike counters key on the text). */
const USER_ID = new RegExp(UUID.source);

/** What jsonwebtoken hands over with `complete: true`, once the signature is verified. */
interface VerifiedToken {
  header: Record<string, unknown>;
  payload: Record<string, unknown> | string;
}

/** Thrown from `validate` for a token that verified but does not carry what we require. */
export class InvalidTokenClaimsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = this.constructor.name;
  }
}

@Injectable()
export class JwtStrategy extends PassportStrategy(Strategy, 'jwt') {
  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    private readonly serviceTokens: ServiceTokensRepository,
  ) {
    super({
      jwtFromRequest: ExtractJwt.fromAuthHeaderAsBearerToken(),
      // passport-jwt's typings say string | Buffer; jsonwebtoken accepts a KeyObject (see jwt-keys).
      secretOrKey: jwtKey(config.jwtSecret) as unknown as Buffer,
      algorithms: [JWT_ALGORITHM],
      ignoreExpiration: false,
      // The header too, for `crit` (jsonwebtoken ignores it).
      jsonWebTokenOptions: { complete: true },
    });
  }

  /**
   * The signature and expiry are checked already; the header must not name critical extensions
   * (RFC 7515 §4.1.11: this service understands none), and the payload must carry `exp`, `iat`
   * and a subject: a user id, or `svc:<id>` for a service token that is still active.
   */
  async validate(token: VerifiedToken): Promise<Principal> {
    if (token?.header && Object.hasOwn(token.header, 'crit')) {
      throw new InvalidTokenClaimsError(
        'token has critical header parameters (crit) this service does not understand',
      );
    }
    const payload = token?.payload;
    if (!payload || typeof payload !== 'object')
      throw new InvalidTokenClaimsError('token is malformed');
    // Safe integers: `exp: 1e400` parses as Infinity and would never expire.
    if (!Number.isSafeInteger(payload.exp))
      throw new InvalidTokenClaimsError('token has no expiry');
    if (!Number.isSafeInteger(payload.iat)) {
      throw new InvalidTokenClaimsError('token has no issue time');
    }
    if (payload.typ === SERVICE_TOKEN_TYPE) return this.servicePrincipal(payload);
    // Lower case only, as issued: the strike counters are keyed by the exact text of the id.
    if (typeof payload.sub !== 'string' || !USER_ID.test(payload.sub)) {
      throw new InvalidTokenClaimsError('token subject is not a user id');
    }
    if (!Number.isSafeInteger(payload.sv) || (payload.sv as number) < 0) {
      throw new InvalidTokenClaimsError('token has no session version');
    }
    return {
      kind: 'user',
      id: payload.sub,
      issuedAt: payload.iat as number,
      sessionVersion: payload.sv as number,
    };
  }

  private async servicePrincipal(payload: Record<string, unknown>): Promise<ServicePrincipal> {
    const id = typeof payload.jti === 'string' ? payload.jti : '';
    const scopes = payload.scopes;
    if (!UUID.test(id) || payload.sub !== `svc:${id}`) {
      throw new InvalidTokenClaimsError('service token subject is malformed');
    }
    if (!Array.isArray(scopes) || !scopes.every((s) => typeof s === 'string')) {
      throw new InvalidTokenClaimsError('service token scopes are malformed');
    }
    if (!(await this.serviceTokens.isActive(id))) {
      throw new InvalidTokenClaimsError('service token has been revoked or has expired');
    }
    return { kind: 'service', id, actorId: payload.sub, scopes, issuedAt: payload.iat as number };
  }
}
