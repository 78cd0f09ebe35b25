import { type DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { JwtModule } from '@nestjs/jwt';
import { PassportModule } from '@nestjs/passport';
import { TypeOrmModule } from '@nestjs/typeorm';
import { LoggerModule } from 'nestjs-pino';
import { DataSource } from 'typeorm';
import {
  AlertsModule,
  AuditModule,
  LoginThrottleModule,
  StrikeGuard,
  StrikesModule,
  TransparencyLogModule,
} from '../index.js';
import { auditSigningKey } from './config/audit-signing-key.js';
import { loginThrottleSecret } from './config/login-throttle-secret.js';
import {
  AuditApiModule,
  LoginThrottleAdminModule,
  StrikesAdminModule,
  TransparencyApiModule,
} from '../rest/index.js';
import { MetricsController } from './metrics/metrics.controller.js';
import { AdminUsersController } from './admin/admin-users.controller.js';
import { StrikesEnrollmentService } from './admin/strikes-enrollment.service.js';
import { AuthController } from './auth/auth.controller.js';
import { AuthService } from './auth/auth.service.js';
import { JWT_ALGORITHM } from './auth/jwt-keys.js';
import { JwtStrategy } from './auth/jwt.strategy.js';
import { JwtAuthGuard } from './auth/jwt-auth.guard.js';
import { PasswordHasher } from './auth/password-hasher.js';
import { RolesGuard } from './auth/roles.guard.js';
import { APP_CONFIG } from './config/app-config.provider.js';
import { type AppConfig } from './config/app-config.js';
import { dataSourceOptions, type DatabaseConnection } from './database/data-source-options.js';
import { runMigrations } from './database/migrate.js';
import { HealthController } from './health/health.controller.js';
import { AllExceptionsFilter } from './http/all-exceptions.filter.js';
import { MeController } from './me/me.controller.js';
import { ServiceTokensController } from './service-tokens/service-tokens.controller.js';
import { ServiceTokensRepository } from './service-tokens/service-tokens.repository.js';
import { ServiceTokensService } from './service-tokens/service-tokens.service.js';
import { AdminBootstrapService } from './users/admin-bootstrap.service.js';
import { UsersRepository } from './users/users.repository.js';
import { UsersService } from './users/users.service.js';

/** The reference service: strikeguard hosted in a small app with users and JWT auth. */
@Module({})
export class AppModule {
  static forRoot(config: AppConfig, db: DatabaseConnection): DynamicModule {
    const requestLogging = config.logLevel === 'debug' || config.logLevel === 'trace';
    return {
      module: AppModule,
      imports: [
        LoggerModule.forRoot({
          pinoHttp: {
            level: config.logLevel,
            redact: [
              'req.headers.authorization',
              'req.headers.cookie',
              'req.headers["x-device-token"]',
            ],
            // One line per request at debug; errors and warnings are logged where they happen.
            autoLogging: requestLogging,
          },
          // Without request lines, no per-request child logger either: the middleware would
          // build one on every request for nothing (the app logs through Nest's Logger).
          ...(requestLogging ? {} : { forRoutes: [] }),
        }),
        TypeOrmModule.forRootAsync({
          useFactory: () => ({ ...dataSourceOptions(db), retryAttempts: 5, retryDelay: 2000 }),
          dataSourceFactory: async (options) => {
            const dataSource = await new DataSource(options!).initialize();
            await runMigrations(dataSource, db.embedded);
            return dataSource;
          },
        }),
        AuditModule.forRoot({
          logDir: config.auditLogDir,
          logFile: config.auditLogFile,
          logMaxBytes: config.auditLogMaxBytes,
          fsync: config.auditLogFsync,
          maxPendingEvents: config.auditMaxPendingEvents,
          instanceId: config.auditInstanceId,
        }),
        StrikesModule.forRoot({
          terminateAt: config.strikes.terminateAt,
          blockAt: config.strikes.blockAt,
          mode: config.strikes.mode,
          decayAfter: config.strikes.decayAfter,
          blockFor: config.strikes.blockFor,
          permanentAfter: config.strikes.permanentAfter,
          accessDeniedWindows: config.strikes.accessDeniedWindows,
          maxPendingViolations: config.strikes.maxPendingViolations,
          // One process owns the embedded database: no other instance to tell about changes.
          sharedDatabase: !db.embedded,
          // Batches in flight each hold a connection: leave room in the pool for requests.
          concurrency: Math.max(1, Math.min(4, db.poolSize - 2)),
        }),
        LoginThrottleModule.forRoot({
          ...config.loginThrottle,
          secret: loginThrottleSecret(config),
        }),
        TransparencyLogModule.forRoot({
          origin: config.transparency.origin,
          signingKey: auditSigningKey(config, (m) => console.warn(`strikeguard: warning: ${m}`)),
          previousKeys: config.transparency.previousKeys,
          checkpointIntervalMs: config.transparency.checkpointIntervalMs,
          witnesses: config.transparency.witnesses,
        }),
        // ALERT_WEBHOOK_URL: the security team's webhook, fed from the audit table in the background.
        ...(config.alerts ? [AlertsModule.forRoot(config.alerts)] : []),
        // The library's REST modules, behind this service's own authentication and roles.
        StrikesAdminModule.register({ guards: [JwtAuthGuard, StrikeGuard, RolesGuard] }),
        LoginThrottleAdminModule.register({ guards: [JwtAuthGuard, StrikeGuard, RolesGuard] }),
        AuditApiModule.register({ guards: [JwtAuthGuard, StrikeGuard, RolesGuard] }),
        TransparencyApiModule.register({ guards: [JwtAuthGuard, StrikeGuard, RolesGuard] }),
        PassportModule,
        JwtModule.register({
          secret: config.jwtSecret,
          signOptions: { algorithm: JWT_ALGORITHM, expiresIn: config.jwtTtl },
          verifyOptions: { algorithms: [JWT_ALGORITHM] },
        }),
      ],
      controllers: [
        AuthController,
        MeController,
        HealthController,
        ServiceTokensController,
        AdminUsersController,
        // METRICS_ENABLED (off with NODE_ENV=production unless METRICS_TOKEN is set): off, it 404s.
        ...(config.metricsEnabled ? [MetricsController] : []),
      ],
      providers: [
        { provide: APP_CONFIG, useValue: config },
        { provide: APP_FILTER, useClass: AllExceptionsFilter },
        StrikesEnrollmentService,
        PasswordHasher,
        UsersRepository,
        UsersService,
        AuthService,
        JwtStrategy,
        JwtAuthGuard,
        RolesGuard,
        ServiceTokensRepository,
        ServiceTokensService,
        AdminBootstrapService,
      ],
    };
  }
}
