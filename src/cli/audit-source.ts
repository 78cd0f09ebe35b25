import type pg from 'pg';
import {
  type AuditReader,
  auditReader,
  type AuditRecord,
  type LogFileShare,
  type Page as AuditPage,
  parseAuditQuery,
  poolDataSource,
  type VerifyResult,
} from '../reader.js';
import { connectDatabase } from './cli-database.js';
import { malformed, ServiceClient } from './service-client.js';

/** A page of records, newest first, as the HTTP API answers. */
export type Page = AuditPage<AuditRecord>;

/** Where the CLI reads the audit trail: the database directly, or a running service over HTTP. */
export interface AuditSource {
  search(params: Record<string, string>): Promise<Page>;
  verify(
    range: { fromId?: number; toId?: number },
    share: LogFileShare | null,
    onProgress: (n: number) => void,
  ): Promise<VerifyResult>;
  close(): Promise<void>;
}

/** Straight to PostgreSQL (DATABASE_URL): the CLI works when no service or admin is available. */
export class DatabaseSource implements AuditSource {
  private readonly reader: AuditReader;

  private constructor(private readonly pool: pg.Pool) {
    this.reader = auditReader(poolDataSource(pool));
  }

  static async connect(url: string): Promise<DatabaseSource> {
    return new DatabaseSource(await connectDatabase(url));
  }

  search(params: Record<string, string>): Promise<Page> {
    return this.reader.search(parseAuditQuery(params));
  }

  verify(
    range: { fromId?: number; toId?: number },
    share: LogFileShare | null,
    onProgress: (n: number) => void,
  ) {
    return this.reader.verify(range, share, onProgress);
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}

/**
 * Through a running service's API with a token (role admin or auditor, or scope audit:read): the
 * way to reach the embedded database, which serves only the service process.
 */
export class HttpSource implements AuditSource {
  private readonly client: ServiceClient;

  constructor(baseUrl: string, token: string) {
    this.client = new ServiceClient(baseUrl, token);
  }

  search(params: Record<string, string>): Promise<Page> {
    const path = `/audit/events?${new URLSearchParams(params)}`;
    return this.client.json(path).then((body) => {
      const page = body as Page;
      if (!Array.isArray(page.items)) throw malformed(path, 'a body without an items array');
      return page;
    });
  }

  verify(range: { fromId?: number; toId?: number }): Promise<VerifyResult> {
    const qs = new URLSearchParams();
    if (range.fromId !== undefined) qs.set('fromId', String(range.fromId));
    if (range.toId !== undefined) qs.set('toId', String(range.toId));
    const path = `/audit/verify${qs.size ? `?${qs}` : ''}`;
    return this.client.json(path).then((body) => {
      if (typeof (body as VerifyResult).ok !== 'boolean')
        throw malformed(path, 'a body without a boolean ok');
      return body as VerifyResult;
    });
  }

  async close(): Promise<void> {}
}
