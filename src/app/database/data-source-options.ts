import { type DataSourceOptions } from 'typeorm';
import { serviceMigrations } from './migrations/index.js';
import { UserEntity } from '../users/user.entity.js';

export interface DatabaseConnection {
  url: string;
  /** Connections in the pool; the embedded database serves exactly one. */
  poolSize: number;
  /** A query unanswered this long fails (a silent network partition must not hang requests). */
  queryTimeoutMs?: number;
  embedded: boolean;
}

/** The one TypeORM configuration, shared by the service and `ormconfig.ts` (migration CLI). */
export function dataSourceOptions(db: DatabaseConnection): DataSourceOptions {
  return {
    type: 'postgres',
    url: db.url,
    entities: [UserEntity],
    migrations: serviceMigrations,
    migrationsTableName: 'migrations',
    synchronize: false,
    migrationsRun: false,
    logging: false,
    poolSize: db.poolSize,
    applicationName: 'strikeguard',
    extra: {
      max: db.poolSize,
      // Fail fast instead of queueing requests forever when the database is unreachable.
      connectionTimeoutMillis: 5000,
      // …and the same for a query on a connection that went silent (no RST in a partition).
      query_timeout: db.queryTimeoutMs ?? 10_000,
      // The embedded server accepts one client: keep that connection rather than re-dialling.
      idleTimeoutMillis: db.embedded ? 0 : 30_000,
      keepAlive: true,
    },
  };
}
