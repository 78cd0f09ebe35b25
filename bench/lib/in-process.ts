import { type DynamicModule, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import pg from 'pg';
import { RateLimiterPostgres } from 'rate-limiter-flexible';
import { DataSource } from 'typeorm';
import { dataSourceOptions } from '../../src/app/database/data-source-options.js';
import { AuditModule } from '../../src/audit/audit.module.js';
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
