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
