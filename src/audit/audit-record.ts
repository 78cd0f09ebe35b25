/** How an event turned out. */
export type AuditOutcome = 'success' | 'failure' | 'denied';
/** How much the event matters to the security team. */
export type AuditThreat = 'none' | 'low' | 'medium' | 'high';

export const AUDIT_OUTCOMES: readonly AuditOutcome[] = ['success', 'failure', 'denied'];
export const AUDIT_THREATS: readonly AuditThreat[] = ['none', 'low', 'medium', 'high'];

/**
 * One record of the audit trail, exactly as the table, the log file and the API show it.
 * `hash` is the SHA-256 of the RFC 8785 canonical JSON of every other field.
 */
export interface AuditRecord {
  id: number;
  occurredAt: string;
  type: string;
  userId: string;
  actorId: string | null;
  outcome: AuditOutcome;
  threat: AuditThreat;
  ip: string | null;
  method: string | null;
  path: string | null;
  entityType: string | null;
  targetId: string | null;
  location: string | null;
  description: string | null;
  details: Record<string, unknown> | null;
  prevHash: string;
  hash: string;
}

/**
 * What a caller records. The store sets `id`, `prevHash` and `hash`; inside a request the actor,
 * IP, method and path come from the request context unless given here.
 */
export interface AuditEvent {
  type: string;
  userId: string;
  occurredAt?: string | Date;
  actorId?: string | null;
  outcome?: AuditOutcome;
  threat?: AuditThreat;
  ip?: string | null;
  method?: string | null;
  path?: string | null;
  entityType?: string | null;
  targetId?: string | null;
  location?: string | null;
  description?: string | null;
  details?: Record<string, unknown> | null;
}

/** A record before the store has placed it in the chain. */
export type UnchainedRecord = Omit<AuditRecord, 'id' | 'prevHash' | 'hash'>;

/** The `prevHash` of the first record. */
export const GENESIS_HASH = '0'.repeat(64);
