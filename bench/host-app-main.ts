// host_overhead's two sides (issue 13): a host app shaped like the README's samples — a
// passport-jwt guard and one TypeORM repository lookup per request — with strikeguard
// (STRIKEGUARD=on: AuditModule, StrikesModule's interceptor and filter, StrikeGuard on the route)
// and without it (STRIKEGUARD=off). Same code otherwise, same database (the bench's: its users
// table and strikeguard's tables exist), same tokens (`sub`, `sv`).
// Environment: PORT, DATABASE_URL, JWT_SECRET, STRIKEGUARD, AUDIT_LOG_DIR (with STRIKEGUARD=on).
import 'reflect-metadata';
import {
  Controller,
  type DynamicModule,
  Get,
  Module,
  Req,
  UnauthorizedException,
  UseGuards,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AuthGuard, PassportModule } from '@nestjs/passport';
import { InjectRepository, TypeOrmModule } from '@nestjs/typeorm';
import { Column, Entity, PrimaryColumn, type Repository } from 'typeorm';
import { AuditModule, StrikeGuard, StrikesModule } from '../src/index.js';
import { BenchHealthController } from './lib/bench-health.controller.js';
import { BenchJwtStrategy } from './lib/bench-jwt.strategy.js';

const withStrikeguard = process.env.STRIKEGUARD === 'on';

@Entity({ name: 'users' })
class Account {
  @PrimaryColumn({ type: 'uuid' })
  id!: string;

  @Column({ type: 'text' })
  username!: string;
}

// The guards the route runs: the host's JWT guard, then (with strikeguard) its session check.
const guards = withStrikeguard ? [AuthGuard('jwt'), StrikeGuard] : [AuthGuard('jwt')];

@Controller('me')
class MeController {
  constructor(@InjectRepository(Account) private readonly accounts: Repository<Account>) {}

  @Get()
  @UseGuards(...guards)
  async me(@Req() request: { user: { id: string } }) {
    const account = await this.accounts.findOneBy({ id: request.user.id });
    if (!account) throw new UnauthorizedException('no such account');
    return { id: account.id, username: account.username };
  }
}

@Module({})
class HostModule {
  static forRoot(): DynamicModule {
    return {
      module: HostModule,
      imports: [
        TypeOrmModule.forRoot({
          type: 'postgres',
          url: process.env.DATABASE_URL,
          entities: [Account],
          poolSize: 10,
        }),
        TypeOrmModule.forFeature([Account]),
        PassportModule,
        ...(withStrikeguard
          ? [
              AuditModule.forRoot({ logDir: process.env.AUDIT_LOG_DIR ?? './var/host-audit' }),
              StrikesModule.forRoot({
                principalOf: (request) => {
                  const user = (request as { user?: { id: string; sv: number } }).user;
                  return user ? { userId: user.id, sessionVersion: user.sv } : null;
                },
              }),
            ]
          : []),
      ],
      controllers: [MeController, BenchHealthController],
      providers: [BenchJwtStrategy],
    };
  }
}

const app = await NestFactory.create(HostModule.forRoot(), { logger: ['error', 'warn'] });
// Stopped with SIGTERM by the bench: closed properly (a --cpu-prof profile is written on exit).
process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
await app.listen(Number(process.env.PORT), '127.0.0.1');
