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
  /** Record the request body, with secret-looking keys redacted (default false). */
  includeBody?: boolean;
}

/**
 * Records every call of a controller or handler in the audit trail: its CRUD action (from the HTTP
 * method), route, target id, and outcome (success, or failure with the status). The record is
 * committed before the response leaves.
 */
export const Audited = (options: AuditedOptions = {}) =>
  applyDecorators(SetMetadata(AUDITED_KEY, options), UseInterceptors(AuditedInterceptor));
