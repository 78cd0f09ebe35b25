// peer_nest's baseline (issue 13): a plain Nest 12 app doing what the reference service's
// GET /me does, written the way a careful team would by hand: passport-jwt verifying the same
// HS256 tokens with a KeyObject secret, then one primary-key lookup with `pg` (a named,
// prepared statement). No strikes, no audit, no per-request logger or metrics.
// Environment: PORT, DATABASE_URL, JWT_SECRET.
import 'reflect-metadata';
import { createSecretKey } from 'node:crypto';
import {
  Controller,
  Get,
  Injectable,
  Module,
  Req,
  UnauthorizedException,
  UseGuards,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AuthGuard, PassportModule, PassportStrategy } from '@nestjs/passport';
import { ExtractJwt, Strategy } from 'passport-jwt';
import pg from 'pg';

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 });

@Injectable()
class JwtStrategy extends PassportStrategy(Strategy, 'jwt') {
  constructor() {
    super({
      jwtFromRequest: ExtractJwt.fromAuthHeaderAsBearerToken(),
      secretOrKey: createSecretKey(Buffer.from(process.env.JWT_SECRET ?? '')) as unknown as Buffer,
      algorithms: ['HS256'],
    });
  }

  validate(payload: { sub?: unknown }): { id: string } {
    if (typeof payload.sub !== 'string') throw new UnauthorizedException('no subject');
    return { id: payload.sub };
  }
}

@Controller('me')
class MeController {
  @Get()
  @UseGuards(AuthGuard('jwt'))
  async me(@Req() request: { user: { id: string } }) {
    const { rows } = await pool.query({
      name: 'peer-me',
      text: 'SELECT id, username, role FROM users WHERE id = $1',
      values: [request.user.id],
    });
    if (rows.length === 0) throw new UnauthorizedException('no such user');
    return rows[0];
  }
}

@Controller('health')
class HealthController {
  @Get()
  health() {
    return { status: 'ok' };
  }
}

@Module({
  imports: [PassportModule],
  controllers: [MeController, HealthController],
  providers: [JwtStrategy],
})
class PeerModule {}

const app = await NestFactory.create(PeerModule, { logger: ['error', 'warn'] });
await app.listen(Number(process.env.PORT), '127.0.0.1');
