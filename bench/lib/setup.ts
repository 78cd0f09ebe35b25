import { JwtService } from '@nestjs/jwt';
import pg from 'pg';
import { DataSource } from 'typeorm';
import { dataSourceOptions } from '../../src/app/database/data-source-options.js';
import { runMigrations } from '../../src/app/database/migrate.js';

/** The server the benchmarks run on; each run creates (and drops) a database of its own there. */
export const BENCH_DATABASE_URL =
  process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** 48 bytes: the service and the bench sign and verify tokens with it. */
export const BENCH_JWT_SECRET = 'strikeguard-bench-secret-0123456789abcdef012345';

export interface BenchDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

async function adminQuery(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: BENCH_DATABASE_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** A fresh, empty database on the bench server. */
export async function createBenchDatabase(): Promise<BenchDatabase> {
  const name = `strikeguard_bench_${Date.now().toString(36)}_${process.pid}`;
  await adminQuery(`CREATE DATABASE ${name}`);
  const url = new URL(BENCH_DATABASE_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    drop: () => adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}

/** Runs the service's migrations (the compiled ones, as the service would). */
export async function migrate(url: string): Promise<void> {
  const dataSource = await new DataSource(
    dataSourceOptions({ url, poolSize: 2, embedded: false }),
  ).initialize();
  try {
    await runMigrations(dataSource, false);
  } finally {
    await dataSource.destroy();
  }
}

export interface BenchUsers {
  /** Plain users (role `user`), each with a strike counter. */
  users: { id: string; token: string }[];
  admin: { id: string; token: string };
}

/**
 * Users straight in the tables (argon2 hashing a thousand passwords through /auth/register would
 * take minutes and measure nothing of interest), each with its strike counter, and tokens minted
 * with the service's secret in the shape AuthService signs them: `{sub, sv}` plus iat/exp.
 */
export async function createUsers(client: pg.ClientBase, count: number): Promise<BenchUsers> {
  const { rows } = await client.query<{ id: string; role: string }>(
    `INSERT INTO users (username, password_hash, role)
     SELECT 'bench-user-' || g, 'unusable', 'user' FROM generate_series(1, $1::int) g
     UNION ALL SELECT 'bench-admin', 'unusable', 'admin'
     RETURNING id::text, role`,
    [count],
  );
  await client.query(`INSERT INTO strike_counters (user_id) SELECT id::text FROM users`);
  const jwt = new JwtService({
    secret: BENCH_JWT_SECRET,
    signOptions: { algorithm: 'HS256', expiresIn: 4 * 3600 },
  });
  const sign = (id: string) => ({ id, token: jwt.sign({ sub: id, sv: 0 }) });
  return {
    users: rows.filter((r) => r.role === 'user').map((r) => sign(r.id)),
    admin: sign(rows.find((r) => r.role === 'admin')!.id),
  };
}
