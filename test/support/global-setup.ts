import pg from 'pg';

/**
 * Probes the PostgreSQL server once for the whole run. Suites that need it are skipped when it is
 * unreachable so `npm test` still passes anywhere — except under CI=true, where that is a failure.
 */
export default async function globalSetup(): Promise<void> {
  const url = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    process.env.SG_TEST_POSTGRES = 'up';
  } catch (error) {
    process.env.SG_TEST_POSTGRES = 'down';
    const message =
      `\n\n*** PostgreSQL is not reachable at ${url} (${(error as Error).message}).\n` +
      '*** Every suite that needs it is SKIPPED. Start it, or set TEST_DATABASE_URL.\n\n';
    if (process.env.CI === 'true')
      throw new Error(`${message}CI=true: skipped suites are a failure.`, { cause: error });
    console.warn(message);
  } finally {
    await client.end().catch(() => undefined);
  }
}
