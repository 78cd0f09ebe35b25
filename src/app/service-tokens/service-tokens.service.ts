import { Injectable, NotFoundException } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { InjectDataSource } from '@nestjs/typeorm';
import { type DataSource } from 'typeorm';
import { SERVICE_TOKEN_TYPE } from '../auth/principal.js';
import { ServiceTokensRepository, type ServiceTokenRow } from './service-tokens.repository.js';
import { AuditService } from '../../index.js';

/** Issuing, listing and revoking tokens for other systems; issuing and revoking are audited. */
@Injectable()
export class ServiceTokensService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly tokens: ServiceTokensRepository,
    private readonly jwt: JwtService,
    private readonly audit: AuditService,
  ) {}

  async issue(adminId: string, name: string, scopes: string[], ttlSeconds: number) {
    const row = await this.dataSource.transaction(async (manager) => {
      const created = await this.tokens.insert(manager, {
        name,
        scopes,
        createdBy: adminId,
        ttlSeconds,
      });
      await this.audit.record(
        {
          type: 'service_token.issued',
          userId: adminId,
          entityType: 'service_token',
          targetId: created.id,
          description: `service token "${name}" issued`,
          details: { name, scopes, expiresAt: created.expiresAt },
        },
        { manager },
      );
      return created;
    });
    const token = await this.jwt.signAsync(
      { sub: `svc:${row.id}`, typ: SERVICE_TOKEN_TYPE, scopes },
      { expiresIn: ttlSeconds, jwtid: row.id },
    );
    return { ...row, token };
  }

  async revoke(adminId: string, id: string): Promise<ServiceTokenRow> {
    return this.dataSource.transaction(async (manager) => {
      const row = await this.tokens.revoke(manager, id, adminId);
      if (!row) throw new NotFoundException(`no service token ${id}`);
      await this.audit.record(
        {
          type: 'service_token.revoked',
          userId: adminId,
          entityType: 'service_token',
          targetId: id,
          description: `service token "${row.name}" revoked`,
          details: { name: row.name },
        },
        { manager },
      );
      return row;
    });
  }

  list(limit: number, before?: { createdAt: string; id: string }) {
    return this.tokens.list(limit, before);
  }

  isActive(id: string): Promise<boolean> {
    return this.tokens.isActive(id);
  }
}
