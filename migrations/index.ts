import { CreateUsers1764100000000 } from './1764100000000-create-users.js';
import { CreateAuditEvents1764100001000 } from './1764100001000-create-audit-events.js';
import { CreateServiceTokens1764100002000 } from './1764100002000-create-service-tokens.js';
import { CreateStrikeCounters1764100003000 } from './1764100003000-create-strike-counters.js';

/** The library's own tables (audit trail, strike counters): what a host app adds to its migrations. */
export const libraryMigrations = [
  CreateAuditEvents1764100001000,
  CreateStrikeCounters1764100003000,
];

/** Every migration of the reference service, in order. Listed explicitly: no file globbing. */
export const migrations = [
  CreateUsers1764100000000,
  CreateAuditEvents1764100001000,
  CreateServiceTokens1764100002000,
  CreateStrikeCounters1764100003000,
];
