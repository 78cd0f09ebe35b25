import { type DataSource } from 'typeorm';
import { type Page } from '../common/page.js';
import { type AuditQuery } from './audit-query.js';
import { type AuditRecord } from './audit-record.js';
import { AuditStore } from './audit-store.js';
import { AuditVerifier, type LogFileShare, type VerifyResult } from './audit-verifier.js';

/** Searching and verifying an audit trail on a DataSource, without a Nest app. */
export interface AuditReader {
  /** Newest first, as `GET /audit/events` answers; the query is validated like AuditService.find. */
  search(query: AuditQuery): Promise<Page<AuditRecord>>;
  /** Recomputes hashes and links (all, or an id range); with `share`, cross-checks those files. */
  verify(
    range: { fromId?: number; toId?: number },
    share?: LogFileShare | null,
    onProgress?: (checked: number) => void,
  ): Promise<VerifyResult>;
}

/**
 * For scripts and the security team's CLI: read-only access to the chain on any DataSource
 * (no log file is opened, no lock taken, nothing written).
 */
export function auditReader(
  dataSource: DataSource,
  options: { verifyChunkSize?: number } = {},
): AuditReader {
  const store = new AuditStore(dataSource);
  const verifier = new AuditVerifier(dataSource, options.verifyChunkSize ?? 5000);
  return {
    search: (query) => store.search(query),
    verify: (range, share = null, onProgress) => verifier.verify(range, share, onProgress),
  };
}
