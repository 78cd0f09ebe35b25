// The REST modules of strikeguard (`strikeguard/rest`): admin endpoints and the audit API, for a
// host to mount behind its own authorisation. With @nestjs/swagger installed they are described
// in the host's OpenAPI document.
export { StrikesAdminModule } from './strikes-admin.module.js';
export { AuditApiModule } from './audit-api.module.js';
export { LoginThrottleAdminModule } from './login-throttle-admin.module.js';
export { TransparencyApiModule } from './transparency-api.module.js';
export {
  permissionOf,
  PERMISSION_KEY,
  RequirePermission,
  type RestAccessOptions,
  RestAccessOptionsError,
  type StrikeguardPermission,
} from './rest-access.js';
export { RestAccessGuard } from './rest-access.guard.js';
export {
  ApiErrors,
  ERROR_DESCRIPTIONS,
  type ErrorStatus,
  StrikeguardError,
  StrikeguardFieldError,
} from './openapi.errors.js';
export { toOpenApi30 } from './openapi-30.js';
export { pageSchema } from './openapi.schemas.js';
