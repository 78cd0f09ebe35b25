import { ConflictException, Inject, Injectable, UnauthorizedException } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { APP_CONFIG } from '../config/app-config.provider.js';
import { type AppConfig } from '../config/app-config.js';
import { UsernameTakenError } from '../users/users.repository.js';
import { UsersService } from '../users/users.service.js';
import { PasswordHasher } from './password-hasher.js';
import { type Request } from 'express';
import {
  AuditService,
  defaultNormalizeAccount,
  LoginThrottleService,
  StrikeRefusalException,
  StrikesService,
} from '../../index.js';

/** Same words for an unknown user and a wrong password: a guesser learns nothing. */
const BAD_CREDENTIALS = 'invalid username or password';

@Injectable()
export class AuthService {
  constructor(
    private readonly users: UsersService,
    private readonly hasher: PasswordHasher,
    private readonly jwt: JwtService,
    private readonly audit: AuditService,
    private readonly strikes: StrikesService,
    private readonly throttle: LoginThrottleService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async register(username: string, password: string): Promise<{ id: string; username: string }> {
    try {
      const user = await this.users.create(username, password);
      return { id: user.id, username: user.username };
    } catch (error) {
      if (error instanceof UsernameTakenError) throw new ConflictException(error.message);
      throw error;
    }
  }

  /**
   * Admitted by the login throttle before any password hash is computed (429 when throttled: the
   * password is then not checked at all), settled after. The same 401 for an unknown user, a
   * wrong password and a disabled account; the event is keyed by user id when the account exists
   * (the attempted name is never recorded: users type passwords into the name field).
   */
  async login(
    request: Request,
    username: string,
    password: string,
  ): Promise<{ accessToken: string; expiresIn: number; deviceToken: string | null }> {
    const attempt = await this.throttle.admit(request, username);
    // Looked up under exactly the name the throttle counted: no spelling gets lanes of its own.
    const user = await this.users.findByLoginName(defaultNormalizeAccount(username));
    const valid = await this.hasher.verify(user?.passwordHash ?? null, password);
    if (!user || !valid || user.status !== 'active') {
      await attempt.failed(
        user?.id ?? null,
        !user ? 'unknown_user' : !valid ? 'wrong_password' : `account_${user.status}`,
      );
      throw new UnauthorizedException(BAD_CREDENTIALS);
    }
    // Only now, after a correct password, may the answer reveal that the account is blocked.
    let claims;
    try {
      claims = await this.strikes.loginClaims(user.id);
    } catch (error) {
      if (error instanceof StrikeRefusalException) {
        // The password was right, but the account may not log in: no device is trusted.
        await attempt.failed(user.id, `account_${error.reason}`);
        await this.audit.record({
          type: 'auth.login_refused',
          userId: user.id,
          outcome: 'denied',
          threat: 'medium',
          entityType: 'user',
          targetId: user.id,
          details: { reason: error.reason },
        });
      }
      throw error;
    }
    const { deviceToken } = await attempt.succeeded(user.id);
    const accessToken = await this.jwt.signAsync({ sub: user.id, ...claims });
    await this.audit.record({
      type: 'auth.login',
      userId: user.id,
      actorId: user.id,
      entityType: 'user',
      targetId: user.id,
    });
    return { accessToken, expiresIn: this.config.jwtTtl, deviceToken };
  }

  /** Ends every session of the user: each token issued before is refused from now on. */
  async logout(userId: string): Promise<void> {
    await this.strikes.endSessions(userId, {
      type: 'auth.logout',
      entityType: 'user',
      targetId: userId,
      description: 'all sessions ended by the user',
    });
  }
}
