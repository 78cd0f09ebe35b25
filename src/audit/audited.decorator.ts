import { applyDecorators, SetMetadata, UseInterceptors } from '@nestjs/common';
import { AuditedInterceptor } from './audited.interceptor.js';

export const AUDITED_KEY = 'strikeguard:audited';

/** What `@Audited()` records about each call. */
export interface AuditedOptions {
  /** Event type; default `<entityType>.<action>`, e.g. `invoice.update`. */
  type?: string;
  /** Entity type; default the controller name without `Controller`, lower-case. */
  entityType?: string;
  /** Route parameter holding the target id (e.g. `id`). */
  targetParam?: string;
  /**
   * Record the request body, with secret-looking keys redacted (default false). Whatever it holds,
   * the call is recorded: text the record format rejects becomes U+FFFD, non-finite numbers become
   * strings, nesting past 32 levels and a body that would take `details` past 64 kB are cut;
   * `details.bodyCleaned` lists the paths changed, `details.bodyTruncated` marks a cut.
   */
  includeBody?: boolean;
}

/**
 * Records every call of a controller or handler in the audit trail: its CRUD action (from the HTTP
 * method), route, target id, and outcome (success, or failure with the status). The record is
 * committed before the response leaves.
 */
export const Audited = (options: AuditedOptions = {}) =>
  applyDecorators(SetMetadata(AUDITED_KEY, options), UseInterceptors(AuditedInterceptor));
