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
    // Polled, not blocking: a wait longer than the query timeout must not fail the start.
    while (!(await lock.query('SELECT pg_try_advisory_lock($1) AS ok', [MIGRATION_LOCK]))[0].ok) {
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    await dataSource.runMigrations({ transaction: 'each' });
  } finally {
    await lock.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
    await lock.release();
  }
}
