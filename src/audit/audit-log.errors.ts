/** The log file cannot be written: the audit trail fails closed (503) until it can. */
export class AuditLogUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = this.constructor.name;
  }
}
