import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { type DataSource } from 'typeorm';
import { AuditService } from '../../audit/audit.service.js';
import { PasswordHasher } from '../auth/password-hasher.js';
import { type Role, type UserEntity } from './user.entity.js';
import { UsersRepository } from './users.repository.js';

/** Creating and finding users. */
@Injectable()
export class UsersService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly users: UsersRepository,
    private readonly hasher: PasswordHasher,
    private readonly audit: AuditService,
  ) {}

  /**
   * Creates a user in one transaction: everything that must exist with a user (its strike counter,
   * its audit record) joins this transaction, so no user can exist without them.
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
      return user;
    });
  }

  findByUsername(username: string): Promise<UserEntity | null> {
    return this.users.findByUsername(username);
  }

  findById(id: string): Promise<UserEntity | null> {
    return this.users.findById(id);
  }
}
