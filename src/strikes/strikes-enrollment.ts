import { type DataSource } from 'typeorm';
import { type StrikesService } from './strikes.service.js';

/** Where a host keeps its users: the table and its id column (default `users`.`id`). */
export interface UsersTable {
  /** Table name, optionally schema-qualified: `users`, `auth.accounts`. */
  table?: string;
  /** The id column (any type; counters key on its text form). */
  idColumn?: string;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/;

/** Thrown when the users table named for a backfill does not exist or is not a plain identifier. */
export class UsersTableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = this.constructor.name;
  }
}

/** `"schema"."table"` from `schema.table`, every part checked to be a plain SQL identifier. */
function quoted(name: string, what: string): string {
  const parts = name.split('.');
  if (parts.length > 2 || !parts.every((p) => IDENTIFIER.test(p))) {
    throw new UsersTableError(
      `${what} "${name}" must be a plain SQL identifier (letters, digits, _; optionally schema.table)`,
    );
  }
  return parts.map((p) => `"${p}"`).join('.');
}

/**
 * Creates the counters of users that have none (a backfill: `strikeguard strikes enroll-missing`,
 * or at start); answers how many were created. Hosts whose users live elsewhere name the table,
 * or collect the ids themselves and call `StrikesService.enrollMany(ids)`.
 */
export async function enrollMissing(
  dataSource: DataSource,
  strikes: StrikesService,
  users: UsersTable = {},
): Promise<number> {
  const tableName = users.table ?? 'users';
  const table = quoted(tableName, 'users table');
  const id = quoted(users.idColumn ?? 'id', 'id column');
  const [found] = await dataSource.query(`SELECT to_regclass($1) AS oid`, [table]);
  if (!found?.oid) {
    throw new UsersTableError(
      `there is no table ${tableName} to enroll users from: name your users table and its id column ` +
        `(CLI: --users-table T --id-column C), or call StrikesService.enrollMany(ids) from your app`,
    );
  }
  const missing: { id: string }[] = await dataSource.query(
    `SELECT u.${id}::text AS id FROM ${table} u
     WHERE NOT EXISTS (SELECT 1 FROM strike_counters c WHERE c.user_id = u.${id}::text)
     ORDER BY u.${id}`,
  );
  return strikes.enrollMany(missing.map((m) => m.id));
}
