import { Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import {
  AuditModule,
  LoginThrottleModule,
  StrikeGuard,
  StrikesModule,
  strikeguardMigrations,
} from 'strikeguard';
import { StrikesAdminModule } from 'strikeguard/rest';
import { AdminOnlyGuard } from './auth/admin-only.guard.js';
import { AppController } from './app.controller.js';
import { AuthModule } from './auth/auth.module.js';
import { HostExceptionFilter } from './http/host-exception.filter.js';
import { CreateUsers1700000000000 } from './users/create-users.migration.js';
import { User } from './users/user.entity.js';
import { UsersModule } from './users/users.module.js';

/**
 * The root module: the database (05-sql-typeorm), strikeguard wired here as its README says —
 * TypeORM, AuditModule, StrikesModule and StrikeGuard as a global guard — and the host's own
 * catch-all filter. Authentication lives in AuthModule, with its own global guard (19-auth-jwt).
 */
@Module({
  imports: [
    TypeOrmModule.forRoot({
      type: 'postgres',
      url: process.env.DATABASE_URL,
      entities: [User],
      migrations: [CreateUsers1700000000000, ...strikeguardMigrations],
      migrationsRun: true,
      synchronize: false,
    }),
    AuditModule.forRoot({ logDir: process.env.AUDIT_LOG_DIR ?? './var/audit' }),
    StrikesModule.forRoot({}),
    // Login throttling, keyed with a secret of the host's (here its JWT secret: the library
    // derives its own keys from it).
    LoginThrottleModule.forRoot({ secret: process.env.JWT_SECRET ?? '' }),
    // strikeguard's admin endpoints, behind the host's global auth guard and its own role check.
    StrikesAdminModule.register({ guards: [AdminOnlyGuard] }),
    UsersModule,
    AuthModule,
  ],
  controllers: [AppController],
  providers: [
    AdminOnlyGuard,
    { provide: APP_GUARD, useClass: StrikeGuard },
    { provide: APP_FILTER, useClass: HostExceptionFilter },
  ],
})
export class AppModule {}
