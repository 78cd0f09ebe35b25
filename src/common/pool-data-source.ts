import { type DataSource } from 'typeorm';

/** What a pg Pool (or Client) offers that the readers need. */
export interface PgQueryable {
  query(sql: string, params?: unknown[]): Promise<{ rows: unknown[] }>;
}

/**
 * A pg Pool as the DataSource of the read-only parts of the library (auditReader,
 * TransparencyReader): they only call `query()` and `manager.query()`, which answer the rows of a
 * SELECT as TypeORM does. For tools that must start fast (the CLI), without TypeORM's start-up;
 * nothing that writes, locks or uses entities may be given it.
 */
export function poolDataSource(pool: PgQueryable): DataSource {
  const query = async (sql: string, params?: unknown[]) => (await pool.query(sql, params)).rows;
  return { query, manager: { query } } as unknown as DataSource;
}
