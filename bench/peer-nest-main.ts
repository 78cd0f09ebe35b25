// peer_nest's baseline (issue 13): a plain Nest 12 app doing what the reference service's
// GET /me does, written the way a careful team would by hand: passport-jwt verifying the same
// HS256 tokens with a KeyObject secret, then one primary-key lookup with `pg` (a named,
// prepared statement). No strikes, no audit, no per-request logger or metrics.
// Environment: PORT, DATABASE_URL, JWT_SECRET.
import 'reflect-metadata';
import { Controller, Get, Module, Req, UnauthorizedException, UseGuards } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AuthGuard, PassportModule } from '@nestjs/passport';
import pg from 'pg';
import { BenchHealthController } from './lib/bench-health.controller.js';
import { BenchJwtStrategy } from './lib/bench-jwt.strategy.js';

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 });

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

@Module({
  imports: [PassportModule],
  controllers: [MeController, BenchHealthController],
  providers: [BenchJwtStrategy],
})
class PeerModule {}

const app = await NestFactory.create(PeerModule, { logger: ['error', 'warn'] });
await app.listen(Number(process.env.PORT), '127.0.0.1');
