import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The server the integration suites use; each suite gets a database of its own on it. */
export const TEST_DATABASE_URL =
  process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** Set by the global setup: whether TEST_DATABASE_URL answered. */
export const postgresAvailable = process.env.SG_TEST_POSTGRES === 'up';

/**
 * `describe` for suites that need the PostgreSQL server. Without one they are skipped (the global
 * setup has already said so loudly); with CI=true the global setup fails the run instead.
 */
export const describeWithPostgres = postgresAvailable ? describe : describe.skip;

export interface TestDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

/** Creates an empty database for one suite; `drop()` removes it and everything connected to it. */
export async function createTestDatabase(prefix = 'sg'): Promise<TestDatabase> {
  const name =
    `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`.toLowerCase();
  await adminQuery(`CREATE DATABASE ${name}`);
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    drop: () => adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}

/** Runs one statement on the server's maintenance database. */
export async function adminQuery(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** Runs a query against a suite's database and returns its rows. */
export async function query<T = Record<string, unknown>>(
  url: string,
  sql: string,
  params: unknown[] = [],
): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql, params)).rows as T[];
  } finally {
    await client.end();
  }
}
