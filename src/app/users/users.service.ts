import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { type DataSource } from 'typeorm';
import { PasswordHasher } from '../auth/password-hasher.js';
import { type Role, type UserEntity } from './user.entity.js';
import { UsersRepository } from './users.repository.js';
import { AuditService, StrikesService } from '../../index.js';

/** Creating and finding users. */
@Injectable()
export class UsersService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly users: UsersRepository,
    private readonly hasher: PasswordHasher,
    private readonly audit: AuditService,
    private readonly strikes: StrikesService,
  ) {}

  /**
   * Creates a user in one transaction with its audit record and its strike counter: no user can
   * exist without a counter.
   */
  async create(username: string, password: string, role: Role = 'user'): Promise<UserEntity> {
    const passwordHash = await this.hasher.hash(password);
    return this.dataSource.transaction(async (manager) => {
      const user = await this.users.insert(manager, { username, passwordHash, role });
      await this.audit.record(
        {
          type: 'user.registered',
          userId: user.id,
          entityType: 'user',
          targetId: user.id,
          details: { role },
        },
        { manager },
      );
      await this.strikes.enroll(user.id, manager);
      return user;
    });
  }

  /** Grants a role; audited with the previous one. Null for an unknown user. */
  async setRole(id: string, role: Role): Promise<UserEntity | null> {
    return this.dataSource.transaction(async (manager) => {
      const changed = await this.users.updateRole(manager, id, role);
      if (!changed) return null;
      await this.audit.record(
        {
          type: 'user.role_changed',
          userId: id,
          entityType: 'user',
          targetId: id,
          details: { from: changed.previousRole, to: role },
        },
        { manager },
      );
      return changed.user;
    });
  }

  findByUsername(username: string): Promise<UserEntity | null> {
    return this.users.findByUsername(username);
  }

  /** The user of a login name, normalised as the login throttle keys it (see the repository). */
  findByLoginName(normalized: string): Promise<UserEntity | null> {
    return this.users.findByLoginName(normalized);
  }

  findById(id: string): Promise<UserEntity | null> {
    return this.users.findById(id);
  }
}
