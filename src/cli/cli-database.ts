import pg from 'pg';
import { CliError } from './cli-error.js';

/**
 * A small pg pool on DATABASE_URL for the CLI's read commands (no TypeORM: they start in a
 * fraction of the time), checked with one round trip so a bad URL is said at once.
 */
export async function connectDatabase(url: string): Promise<pg.Pool> {
  const pool = new pg.Pool({ connectionString: url, max: 2, application_name: 'strikeguard-cli' });
  // An idle connection the server drops must not crash the CLI as an unhandled 'error' event.
  pool.on('error', () => {});
  try {
    await pool.query('SELECT 1');
  } catch (error) {
    await pool.end().catch(() => {});
    throw new CliError(`cannot connect to DATABASE_URL: ${(error as Error).message}`);
  }
  return pool;
}
