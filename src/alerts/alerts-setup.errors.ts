/** Thrown at start when AlertsModule cannot run; each message says what to add or fix. */
export class AlertsSetupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = this.constructor.name;
  }
}

export function auditModuleMissing(): AlertsSetupError {
  return new AlertsSetupError(
    'AlertsModule needs AuditModule (alerts are read from the audit table): add ' +
      'AuditModule.forRoot({ logDir: "./var/audit" }) to the imports of your root module',
  );
}

export function alertMigrationMissing(database: string): AlertsSetupError {
  return new AlertsSetupError(
    `strikeguard: the table alert_cursors does not exist in database "${database}": the ` +
      'strikeguard migrations have not all run there. Add strikeguardMigrations to your TypeORM ' +
      'migrations — TypeOrmModule.forRoot({ …, migrations: [...yours, ...strikeguardMigrations], ' +
      'migrationsRun: true }) — or run them (typeorm migration:run) before starting',
  );
}
