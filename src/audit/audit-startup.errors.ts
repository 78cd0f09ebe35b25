/** The errors AuditModule refuses to start with: each says what is wrong and how to fix it. */

/** The tables the strikeguard migrations create are missing from the database. */
export class AuditMigrationsMissingError extends Error {
  constructor(
    readonly missing: string[],
    database: string,
  ) {
    super(
      `strikeguard: the audit table(s) ${missing.join(', ')} do not exist in database "${database}": ` +
        'the strikeguard migrations have not run there. Add strikeguardMigrations to your TypeORM ' +
        'migrations — TypeOrmModule.forRoot({ …, migrations: [...yours, ...strikeguardMigrations], ' +
        'migrationsRun: true }) — or run them (typeorm migration:run) before starting ' +
        '(import { strikeguardMigrations } from "strikeguard")',
    );
    this.name = this.constructor.name;
  }
}

/** What a log directory's last record was compared with in the table. */
export interface ChainMismatch {
  /** The last record of this instance's files: where, its id and hash (null: not a record). */
  found: { file: string; id: number | null; hash: string | null };
  /** What the table holds: its last id (0: empty) and, at the found id, that record's hash. */
  expected: { database: string; lastId: number; hashAtId: string | null };
}

/**
 * The log directory holds records of another audit chain (another database, say): appending
 * this chain's records to it would leave files no verifier accepts, so the module refuses to
 * start and writes nothing to them.
 */
export class AuditLogForeignError extends Error {
  constructor(
    readonly dir: string,
    readonly mismatch: ChainMismatch,
  ) {
    super(
      `refusing the audit log directory ${dir}: ${describe(mismatch)}. This log directory ` +
        'belongs to another audit chain (another database?): point AUDIT_LOG_DIR / AuditModule ' +
        'logDir at a new directory, or move its files away',
    );
    this.name = this.constructor.name;
  }
}

const prefix = (hash: string) => `${hash.slice(0, 12)}…`;

function describe({ found, expected }: ChainMismatch): string {
  if (found.id === null || found.hash === null)
    return `the last line of ${found.file} is not an audit record (expected a record of database "${expected.database}")`;
  const what = `its last record (in ${found.file}) is id ${found.id}, hash ${prefix(found.hash)}`;
  const table = `the audit_events table of database "${expected.database}"`;
  if (expected.lastId === 0) return `${what}, but ${table} is empty`;
  if (found.id > expected.lastId)
    return `${what}, beyond the last record of ${table}, id ${expected.lastId}`;
  if (expected.hashAtId === null) return `${what}, but ${table} has no record ${found.id}`;
  return `${what}, but record ${found.id} of ${table} has hash ${prefix(expected.hashAtId)}`;
}
