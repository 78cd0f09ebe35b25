import { type DataSource } from 'typeorm';

/** Arbitrary constant: the advisory lock that serialises migrations between instances. */
const MIGRATION_LOCK = 7_310_942_001;

/**
 * Runs pending migrations. On a shared server several instances may start at once, so they take
 * turns on an advisory lock; the embedded database has one connection and one process, no lock.
 */
export async function runMigrations(dataSource: DataSource, embedded: boolean): Promise<void> {
  if (embedded) {
    await dataSource.runMigrations({ transaction: 'each' });
    return;
  }
  const lock = dataSource.createQueryRunner();
  await lock.connect();
  try {
    await lock.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    await dataSource.runMigrations({ transaction: 'each' });
  } finally {
    await lock.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
    await lock.release();
  }
}
