import { type DynamicModule, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import pg from 'pg';
import { RateLimiterPostgres } from 'rate-limiter-flexible';
import { DataSource } from 'typeorm';
import { dataSourceOptions } from '../../src/app/database/data-source-options.js';
import { AuditModule } from '../../src/audit/audit.module.js';
import { AuditService } from '../../src/audit/audit.service.js';
import { TransparencyLogService } from '../../src/transparency/transparency-log.service.js';
import { TransparencyLogModule } from '../../src/transparency/transparency.module.js';
import { LoginThrottleModule } from '../../src/login/login-throttle.module.js';
import { type LoginThrottleModuleOptions } from '../../src/login/login-throttle.options.js';
import { LoginThrottleService } from '../../src/login/login-throttle.service.js';
import { StrikesModule } from '../../src/strikes/strikes.module.js';
import { StrikesService } from '../../src/strikes/strikes.service.js';

/** The pool size the reference service uses by default (DATABASE_POOL_SIZE). */
export const POOL_SIZE = 10;

/** The in-process instance's share of the audit table. */
export const IN_PROCESS_INSTANCE = 'bench-in-process';

/** A host application of the library: TypeORM, AuditModule and StrikesModule, nothing else. */
@Module({})
class InProcessStrikesModule {
  static forRoot(
    url: string,
    logDir: string,
    thresholds: { terminateAt: number; blockAt: number },
  ): DynamicModule {
    return {
      module: InProcessStrikesModule,
      imports: [
        TypeOrmModule.forRoot(dataSourceOptions({ url, poolSize: POOL_SIZE, embedded: false })),
        AuditModule.forRoot({ logDir, instanceId: IN_PROCESS_INSTANCE }),
        StrikesModule.forRoot(thresholds),
      ],
    };
  }
}

export interface InProcessStrikes {
  strikes: StrikesService;
  dataSource: DataSource;
  close(): Promise<void>;
}

export async function startInProcessStrikes(
  url: string,
  logDir: string,
  thresholds: { terminateAt: number; blockAt: number },
): Promise<InProcessStrikes> {
  const app = await NestFactory.createApplicationContext(
    InProcessStrikesModule.forRoot(url, logDir, thresholds),
    { logger: ['error', 'warn'] },
  );
  await app.init();
  return {
    strikes: app.get(StrikesService),
    dataSource: app.get(DataSource),
    close: () => app.close(),
  };
}

export interface Peer {
  consume(key: string): Promise<unknown>;
  close(): Promise<void>;
}

/**
 * rate-limiter-flexible's PostgreSQL store: one upsert per consume() on its own table, a pool of
 * the same size as the service's, points high enough that no key is ever refused.
 */
export async function startPeer(url: string): Promise<Peer> {
  const pool = new pg.Pool({ connectionString: url, max: POOL_SIZE });
  const limiter = await new Promise<RateLimiterPostgres>((resolve, reject) => {
    const created: RateLimiterPostgres = new RateLimiterPostgres(
      {
        storeClient: pool,
        storeType: 'pool',
        tableName: 'bench_rate_limits',
        points: 1_000_000_000,
        duration: 0,
      },
      (error?: Error) => (error ? reject(error) : resolve(created)),
    );
  });
  return {
    consume: (key) => limiter.consume(key),
    close: () => pool.end(),
  };
}

/** The in-process login host's share of the audit table (it records nothing in the loop). */
export const LOGIN_INSTANCE = 'bench-login';

/**
 * Limits of the login_throttle figure: every one at the top of its range, so that nothing is
 * throttled during the run (an admission at a limit would be a 429, and the run fails on it).
 */
export const LOGIN_LIMITS = {
  freeAttempts: 1000,
  accountLimit: 1_000_000,
  sourceLimit: 1_000_000,
  hardLimit: 1_000_000,
} as const satisfies Partial<LoginThrottleModuleOptions>;

/** Windows of the login lanes (the library's defaults); the peer's limiters use the same. */
export const LOGIN_WINDOWS = {
  accountWindowSeconds: 3600,
  sourceWindowSeconds: 86_400,
  retentionSeconds: 86_400,
};

/** A host application of the login throttle: TypeORM, AuditModule and LoginThrottleModule. */
@Module({})
class InProcessLoginModule {
  static forRoot(url: string, logDir: string): DynamicModule {
    return {
      module: InProcessLoginModule,
      imports: [
        TypeOrmModule.forRoot(dataSourceOptions({ url, poolSize: POOL_SIZE, embedded: false })),
        AuditModule.forRoot({ logDir, instanceId: LOGIN_INSTANCE }),
        LoginThrottleModule.forRoot({
          secret: 'strikeguard-bench-login-secret-0123456789abcdef',
          ...LOGIN_LIMITS,
          ...LOGIN_WINDOWS,
        }),
      ],
    };
  }
}

export interface InProcessLogin {
  login: LoginThrottleService;
  dataSource: DataSource;
  close(): Promise<void>;
}

export async function startInProcessLogin(url: string, logDir: string): Promise<InProcessLogin> {
  const app = await NestFactory.createApplicationContext(
    InProcessLoginModule.forRoot(url, logDir),
    { logger: ['error', 'warn'] },
  );
  await app.init();
  return {
    login: app.get(LoginThrottleService),
    dataSource: app.get(DataSource),
    close: () => app.close(),
  };
}

export interface LoginPeer {
  /** rate-limiter-flexible's login recipe, one attempt: the 4 lanes' limiters consumed at once. */
  attempt(account: string, source: string): Promise<unknown>;
  /** One consume() per attempt (the account + source limiter only), for information. */
  single(account: string, source: string): Promise<unknown>;
  close(): Promise<void>;
}

/**
 * rate-limiter-flexible's PostgreSQL store as its login-protection recipe uses it: one limiter
 * (and, by its default `tableName = keyPrefix`, one table) per lane, each consume() one upsert
 * in its own transaction. Points high enough that no key is ever refused; durations as the
 * library's lanes (consecutive lanes: the retention; windowed lanes: their window).
 */
export async function startLoginPeer(url: string): Promise<LoginPeer> {
  const pool = new pg.Pool({ connectionString: url, max: POOL_SIZE });
  const limiter = (keyPrefix: string, duration: number) =>
    new Promise<RateLimiterPostgres>((resolve, reject) => {
      const created: RateLimiterPostgres = new RateLimiterPostgres(
        { storeClient: pool, storeType: 'pool', keyPrefix, points: 1_000_000_000, duration },
        (error?: Error) => (error ? reject(error) : resolve(created)),
      );
    });
  const account = await limiter('login_fail_account', LOGIN_WINDOWS.accountWindowSeconds);
  const accountSource = await limiter(
    'login_fail_consecutive_account_source',
    LOGIN_WINDOWS.retentionSeconds,
  );
  const hard = await limiter('login_fail_consecutive_account', LOGIN_WINDOWS.retentionSeconds);
  const source = await limiter('login_fail_source_per_day', LOGIN_WINDOWS.sourceWindowSeconds);
  return {
    attempt: (a, s) =>
      Promise.all([
        account.consume(a),
        accountSource.consume(`${a}_${s}`),
        hard.consume(a),
        source.consume(s),
      ]),
    single: (a, s) => accountSource.consume(`${a}_${s}`),
    close: () => pool.end(),
  };
}

export const TREE_INSTANCE = 'bench-tree';

@Module({})
class InProcessAuditModule {
  static forRoot(url: string, logDir: string, signingKey: string | null): DynamicModule {
    return {
      module: InProcessAuditModule,
      imports: [
        TypeOrmModule.forRoot(dataSourceOptions({ url, poolSize: POOL_SIZE, embedded: false })),
        AuditModule.forRoot({ logDir, instanceId: TREE_INSTANCE }),
        // The service's schedule: integrate every 200 ms, a checkpoint at most every 10 s.
        ...(signingKey ? [TransparencyLogModule.forRoot({ origin: TREE_ORIGIN, signingKey })] : []),
      ],
    };
  }
}

export const TREE_ORIGIN = 'bench.strikeguard/audit';

export interface InProcessAudit {
  audit: AuditService;
  /** Catches the tree up with the chain (what earlier runs appended); no-op without the tree. */
  catchUp(): Promise<void>;
  close(): Promise<void>;
}

/** AuditModule in-process, with the transparency log (`signingKey`) or without it (null). */
export async function startInProcessAudit(
  url: string,
  logDir: string,
  signingKey: string | null,
): Promise<InProcessAudit> {
  const app = await NestFactory.createApplicationContext(
    InProcessAuditModule.forRoot(url, logDir, signingKey),
    { logger: ['error', 'warn'] },
  );
  await app.init();
  return {
    audit: app.get(AuditService),
    catchUp: async () => {
      if (signingKey) await app.get(TransparencyLogService).integrate();
    },
    close: () => app.close(),
  };
}
