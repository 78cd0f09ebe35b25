import { DataSource } from 'typeorm';
import {
  type AuditReader,
  auditReader,
  type AuditRecord,
  type LogFileShare,
  type Page as AuditPage,
  parseAuditQuery,
  type VerifyResult,
} from '../index.js';
import { CliError } from './cli-error.js';

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

  private constructor(private readonly dataSource: DataSource) {
    this.reader = auditReader(dataSource);
  }

  static async connect(url: string): Promise<DatabaseSource> {
    const dataSource = new DataSource({
      type: 'postgres',
      url,
      poolSize: 2,
      applicationName: 'strikeguard-cli',
    });
    try {
      await dataSource.initialize();
    } catch (error) {
      throw new CliError(`cannot connect to DATABASE_URL: ${(error as Error).message}`);
    }
    return new DatabaseSource(dataSource);
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
    return this.dataSource.destroy();
  }
}

/**
 * Through a running service's API with a token (role admin or auditor, or scope audit:read): the
 * way to reach the embedded database, which serves only the service process.
 */
export class HttpSource implements AuditSource {
  constructor(
    private readonly baseUrl: string,
    private readonly token: string,
  ) {}

  search(params: Record<string, string>): Promise<Page> {
    return this.get(`/audit/events?${new URLSearchParams(params)}`);
  }

  verify(range: { fromId?: number; toId?: number }): Promise<VerifyResult> {
    const qs = new URLSearchParams();
    if (range.fromId !== undefined) qs.set('fromId', String(range.fromId));
    if (range.toId !== undefined) qs.set('toId', String(range.toId));
    return this.get(`/audit/verify${qs.size ? `?${qs}` : ''}`);
  }

  async close(): Promise<void> {}

  private async get<T>(path: string): Promise<T> {
    let res: Response;
    try {
      res = await fetch(new URL(path, this.baseUrl), {
        headers: { authorization: `Bearer ${this.token}` },
      });
    } catch (error) {
      throw new CliError(
        `cannot reach ${this.baseUrl}: ${(error as Error & { cause?: Error }).cause?.message ?? (error as Error).message}`,
      );
    }
    const body = (await res.json().catch(() => null)) as
      (T & { message?: string; errors?: { path: string; message: string }[] }) | null;
    if (!res.ok) {
      const details = body?.errors?.map((e) => `${e.path} ${e.message}`).join('; ');
      throw new CliError(
        `${res.status} from ${path.split('?')[0]}: ${details ?? body?.message ?? res.statusText}`,
      );
    }
    return body as T;
  }
}
