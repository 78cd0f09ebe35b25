import { type AuditService } from '../audit/audit.service.js';

/** Thrown at start when a required part of strikeguard is missing; the message says what to add. */
export class StrikesSetupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = this.constructor.name;
  }
}

/** The AuditService every strike is recorded through, or the error that says how to add it. */
export function requireAudit(audit: AuditService | undefined): AuditService {
  if (audit) return audit;
  throw new StrikesSetupError(
    'StrikesModule needs AuditModule (every strike is an audit record): add ' +
      'AuditModule.forRoot({ logDir: "./var/audit" }) to the imports of your root module',
  );
}
