import { Injectable, UnauthorizedException } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { type Request } from 'express';
import { LoginThrottleService, StrikesService } from 'strikeguard';
import { passwordMatches, UsersService } from '../users/users.service.js';

/** What the host's tokens carry: its integer user id, strikeguard's session version, the name. */
export interface TokenPayload {
  sub: number;
  sv: number;
  username: string;
}

@Injectable()
export class AuthService {
  constructor(
    private readonly usersService: UsersService,
    private readonly jwtService: JwtService,
    private readonly strikes: StrikesService,
    private readonly throttle: LoginThrottleService,
  ) {}

  async register(username: string, password: string): Promise<{ id: number; username: string }> {
    const user = await this.usersService.create(username, password);
    return { id: user.id, username: user.username };
  }

  async signIn(
    request: Request,
    username: string,
    password: string,
  ): Promise<{ access_token: string; device_token: string | null }> {
    // strikeguard's login throttle: admitted before the password is checked (429 when not).
    const attempt = await this.throttle.admit(request, username);
    const user = await this.usersService.findByUsername(username);
    if (!user || !passwordMatches(password, user.passwordHash)) {
      await attempt.failed(user?.id ?? null);
      throw new UnauthorizedException();
    }
    // The login gate: the claims a token must carry, or the account_blocked refusal.
    const { sv } = await this.strikes.loginClaims(user.id);
    const { deviceToken } = await attempt.succeeded(user.id);
    const payload: TokenPayload = { sub: user.id, sv, username: user.username };
    return { access_token: await this.jwtService.signAsync(payload), device_token: deviceToken };
  }
}
