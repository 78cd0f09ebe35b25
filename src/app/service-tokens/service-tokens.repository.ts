import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { type DataSource, type EntityManager } from 'typeorm';

/** A service token as listed to admins (the token itself is shown once, at issue). */
export interface ServiceTokenRow {
  id: string;
  name: string;
  scopes: string[];
  createdBy: string;
  createdAt: string;
  expiresAt: string;
  revokedAt: string | null;
}

const SELECT = `id, name, scopes, created_by AS "createdBy",
  to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "createdAt",
  to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "expiresAt",
  to_char(revoked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "revokedAt"`;

/** Every query on `service_tokens`. */
@Injectable()
export class ServiceTokensRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async insert(
    manager: EntityManager,
    token: { name: string; scopes: string[]; createdBy: string; ttlSeconds: number },
  ): Promise<ServiceTokenRow> {
    const [row] = await manager.query(
      `INSERT INTO service_tokens (name, scopes, created_by, expires_at)
       VALUES ($1, $2, $3, now() + make_interval(secs => $4)) RETURNING ${SELECT}`,
      [token.name, token.scopes, token.createdBy, token.ttlSeconds],
    );
    return row;
  }

  /** Marks a token revoked; null when it does not exist. Revoking twice keeps the first time. */
  async revoke(manager: EntityManager, id: string, by: string): Promise<ServiceTokenRow | null> {
    // TypeORM answers an UPDATE … RETURNING with [rows, affected].
    const [rows] = await manager.query(
      `UPDATE service_tokens SET revoked_at = coalesce(revoked_at, now()), revoked_by = coalesce(revoked_by, $2)
       WHERE id = $1 RETURNING ${SELECT}`,
      [id, by],
    );
    return rows[0] ?? null;
  }

  /** True when the token exists, is not revoked and has not expired. */
  async isActive(id: string): Promise<boolean> {
    const rows = await this.dataSource.query(
      `SELECT 1 FROM service_tokens WHERE id = $1 AND revoked_at IS NULL AND expires_at > now()`,
      [id],
    );
    return rows.length > 0;
  }

  /** Newest first, keyset-paged on (created_at, id). */
  async list(
    limit: number,
    before?: { createdAt: string; id: string },
  ): Promise<ServiceTokenRow[]> {
    const params: unknown[] = [limit];
    let where = '';
    if (before) {
      params.push(before.createdAt, before.id);
      where = `WHERE (created_at, id) < ($2::timestamptz, $3::uuid)`;
    }
    return this.dataSource.query(
      `SELECT ${SELECT} FROM service_tokens ${where} ORDER BY created_at DESC, id DESC LIMIT $1`,
      params,
    );
  }
}
