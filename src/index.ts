// The public API of the strikeguard library. The reference service (src/app) is not part of it.
export { libraryMigrations as strikeguardMigrations } from '../migrations/index.js';

export { AuditModule } from './audit/audit.module.js';
export { AuditService, type RecordOptions } from './audit/audit.service.js';
export {
  AUDIT_OPTIONS,
  type AuditModuleOptions,
  type ResolvedAuditOptions,
} from './audit/audit.options.js';
export { DataSourceNotFoundError, STRIKEGUARD_DATA_SOURCE } from './common/data-source.provider.js';
export { Audited, type AuditedOptions } from './audit/audited.decorator.js';
export { AuditedInterceptor } from './audit/audited.interceptor.js';
export { type AuditOutcome, type AuditThreat, GENESIS_HASH } from './audit/audit-record.js';
export { auditEventSchema } from './audit/audit-event.schema.js';
export { AuditEventInvalidError, validateSubmission } from './audit/audit-event-validator.js';
export { AuditLogUnavailableError } from './audit/audit-log-file.js';
export {
  AuditLogForeignError,
  AuditMigrationsMissingError,
  type ChainMismatch,
} from './audit/audit-startup.errors.js';
export { type AuditQuery } from './audit/audit-query.js';
export { AuditVerificationBusyError, HEAVY_VERIFY_RECORDS } from './audit/audit-verify.gate.js';
export { canonicalJson } from './audit/jcs.js';
export { type ActorResolver } from './audit/audit-context.js';

export { StrikesModule } from './strikes/strikes.module.js';
export { StrikesSetupError } from './strikes/strikes-setup.error.js';
export {
  StrikesService,
  type StrikesTokenClaims,
  type ViolationResult,
} from './strikes/strikes.service.js';
export { enrollMissing, type UsersTable, UsersTableError } from './strikes/strikes-enrollment.js';
export { SessionGate } from './strikes/session.gate.js';
export { PrincipalResolver, type ResolvedPrincipal } from './strikes/principal.resolver.js';
export { UnmappablePrincipalException } from './strikes/unmappable-principal.exception.js';
export { STRIKES_OPTIONS } from './strikes/strikes-options.provider.js';
export { InvalidUserIdError, type UserId, userKey } from './strikes/user-id.js';
export { StrikeGuard } from './strikes/strike.guard.js';
export { StrikesInterceptor } from './strikes/strikes.interceptor.js';
export { StrikesExceptionFilter } from './strikes/strikes-exception.filter.js';
export { ViolationException } from './strikes/violation.exception.js';
export { StrikeRefusalException, type RefusalReason } from './strikes/strike-refusal.exception.js';
export { StrikeOn, NoStrikes, type StrikeOnRule } from './strikes/strikes.decorators.js';
export {
  type StrikesModuleOptions,
  type StrikesPrincipal,
  type ResolvedStrikesOptions,
  type UnmappablePrincipalPolicy,
  type ViolationRule,
  PrincipalUnmappableError,
  StrikesOptionsError,
  defaultPrincipalOf,
} from './strikes/strikes.options.js';
export { type StrikeCounter } from './strikes/strike-counter.store.js';

// Helpers the REST modules are built with, for a host's own routes in the same shapes.
export { type FieldError } from './common/field-errors.js';
export {
  SchemaValidationPipe,
  ValidationFailedException,
} from './common/schema-validation.pipe.js';
export { checkUserId, parseLimit, unknownParams, UUID } from './common/query-params.js';
export { toPage } from './common/page.js';
export { isDatabaseUnavailable } from './common/database-errors.js';
export {
  type InstanceLockOptions,
  type LockHolder,
  type LockTakeover,
  InstanceLock,
  InstanceLockLostError,
  acquireInstanceLock,
  describeLockHolder,
} from './common/instance-lock.js';
export { OverloadedError, type OverloadedQueue } from './common/overloaded.error.js';
export { OverloadedException, sendRetryAfter } from './common/overloaded.exception.js';

export { LoginThrottleModule } from './login/login-throttle.module.js';
export {
  LoginThrottleService,
  MAX_ACCOUNT_LENGTH,
  type LoginAttemptKeys,
  type LoginThrottleStatus,
} from './login/login-throttle.service.js';
export { type LoginAdmission, type LoginSuccess } from './login/login-admission.js';
export {
  LoginThrottledException,
  LoginAttemptInvalidError,
  THROTTLED_MESSAGE,
} from './login/login-throttled.exception.js';
export {
  type LoginThrottleModuleOptions,
  type ResolvedLoginThrottleOptions,
  LoginThrottleOptionsError,
  defaultNormalizeAccount,
} from './login/login-throttle.options.js';
export { LOGIN_THROTTLE_OPTIONS } from './login/login-throttle-options.provider.js';
export {
  type LoginLane,
  type LoginLaneState,
  type SourceState,
} from './login/login-throttle.store.js';
export { sourceOf } from './login/login-source.js';
export { DEVICE_TOKEN_HEADER } from './login/device-cookie.js';

export { emptyRoot, HASH_SIZE } from './transparency/merkle.js';
export {
  decodeBase64,
  isKeyName,
  keyIdOf,
  NoteKeyError,
  type NoteKeyType,
  type NoteSigner,
} from './transparency/note-keys.js';
export {
  MAX_NOTE_BYTES,
  MAX_NOTE_SIGNATURES,
  type NoteSignature,
  type ParsedNote,
  signatureLine,
  SignedNoteError,
} from './transparency/signed-note.js';
export { type Checkpoint, CheckpointFormatError, isOrigin } from './transparency/checkpoint.js';
export { cosignedMessage, CosignatureError } from './transparency/cosignature.js';
export { TransparencyLogModule } from './transparency/transparency.module.js';
export {
  type TransparencyHealth,
  TransparencyLogService,
  type TransparencyStatus,
} from './transparency/transparency-log.service.js';
export { type ConsistencyProof, type InclusionProof } from './transparency/transparency-reader.js';
export {
  type ResolvedTransparencyOptions,
  TRANSPARENCY_OPTIONS,
  type TransparencyLogModuleOptions,
  TransparencyOptionsError,
  type WitnessOptions,
} from './transparency/transparency.options.js';
export { ForkGuardError, type SignedCheckpoint } from './transparency/checkpoint-signer.js';
export { WitnessError } from './transparency/witness-client.js';
export { ProofRangeError } from './transparency/tree-proofs.js';
export {
  MAX_ADD_CHECKPOINT_BYTES,
  type WitnessAnswer,
  type WitnessedLog,
} from './transparency/witness.js';
export {
  TLOG_PROOF_HEADER,
  type TlogProof,
  TlogProofError,
  type TlogProofVerdict,
} from './transparency/tlog-proof.js';
export { AlertsModule } from './alerts/alerts.module.js';
export { AlertsService } from './alerts/alerts.service.js';
export { ALERTS_OPTIONS } from './alerts/alerts-options.provider.js';
export {
  type AlertsModuleOptions,
  type ResolvedAlertsOptions,
  AlertsOptionsError,
  DEFAULT_ALERT_TYPES,
  isLoopbackUrl,
  resolveAlertsOptions,
} from './alerts/alerts.options.js';
export { AlertsSetupError } from './alerts/alerts-setup.errors.js';
export {
  AlertDispatcher,
  type AlertsLogger,
  type AlertsStatus,
} from './alerts/alert-dispatcher.js';
export {
  WebhookNotifier,
  type WebhookDelivery,
  type WebhookNotifierOptions,
  alertBody,
  alertMessageId,
} from './alerts/webhook-notifier.js';
export {
  DEFAULT_WEBHOOK_TOLERANCE_SECONDS,
  type VerifyWebhookOptions,
  type WebhookHeaders,
  type WebhookMessage,
  WebhookSecretError,
  WebhookVerificationError,
  parseWebhookSecret,
  signWebhook,
  verifyWebhook,
  webhookSignature,
} from './alerts/standard-webhooks.js';
// Everything the Nest-free entry has (strikeguard/reader): readers, verifiers, proofs, witness.
export * from './reader.js';
