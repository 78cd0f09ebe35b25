import { CreateAuditEvents1764100001000 } from './1764100001000-create-audit-events.js';
import { CreateStrikeCounters1764100003000 } from './1764100003000-create-strike-counters.js';
import { CreateLoginThrottle1764100004000 } from './1764100004000-create-login-throttle.js';
import { CreateTransparencyLog1764100005000 } from './1764100005000-create-transparency-log.js';
import { CreateAlertCursor1764100006000 } from './1764100006000-create-alert-cursor.js';
import { StrikePolicy1764100007000 } from './1764100007000-strike-policy.js';

/**
 * The library's own tables (audit trail, strike counters and their policy, login throttle, transparency log, alert cursors), in order: what a host app adds to its
 * migrations (`strikeguardMigrations` in the public entry). They reference no table of the host:
 * counters key on the text form of the host's user id, whatever its type.
 */
export const libraryMigrations = [
  CreateAuditEvents1764100001000,
  CreateStrikeCounters1764100003000,
  CreateLoginThrottle1764100004000,
  CreateTransparencyLog1764100005000,
  CreateAlertCursor1764100006000,
  StrikePolicy1764100007000,
];
