import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { type DataSource, type EntityManager } from 'typeorm';
import { UserEntity, type Role } from './user.entity.js';
import { UUID } from '../../index.js';

/** Raised when a username is already taken (case-insensitively). */
export class UsernameTakenError extends Error {
  constructor(username: string) {
    super(`username "${username}" is already taken`);
    this.name = this.constructor.name;
  }
}

const UNIQUE_VIOLATION = '23505';

/** Every query on `users`, so services hold only logic. */
@Injectable()
export class UsersRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /**
   * Inserts a user inside the caller's transaction. The unique index on lower(username) decides
   * between racing registrations; the loser gets UsernameTakenError, never a duplicate.
   */
  async insert(
    manager: EntityManager,
    user: { username: string; passwordHash: string; role?: Role },
  ): Promise<UserEntity> {
    try {
      const rows: UserEntity[] = await manager.query(
        `INSERT INTO users (username, password_hash, role) VALUES ($1, $2, $3)
         RETURNING id, username, role, status`,
        [user.username, user.passwordHash, user.role ?? 'user'],
      );
      return rows[0];
    } catch (error) {
      if ((error as { driverError?: { code?: string } }).driverError?.code === UNIQUE_VIOLATION) {
        throw new UsernameTakenError(user.username);
      }
      throw error;
    }
  }

  /** Sets a user's role; null when there is no such user (or the id is not a UUID). */
  async updateRole(
    manager: EntityManager,
    id: string,
    role: Role,
  ): Promise<{ user: UserEntity; previousRole: Role } | null> {
    if (!UUID.test(id)) return null;
    // TypeORM answers UPDATE … RETURNING with [rows, affected].
    const [rows] = await manager.query(
      `UPDATE users u SET role = $2, updated_at = now()
       FROM (SELECT id, role FROM users WHERE id = $1 FOR UPDATE) o
       WHERE u.id = o.id RETURNING u.id, u.username, u.role, u.status, o.role AS "previousRole"`,
      [id, role],
    );
    const row = rows[0];
    if (!row) return null;
    const { previousRole, ...user } = row;
    return { user, previousRole };
  }

  findByUsername(username: string): Promise<UserEntity | null> {
    return this.dataSource
      .getRepository(UserEntity)
      .createQueryBuilder('u')
      .where('lower(u.username) = lower(:username)', { username })
      .getOne();
  }

  /**
   * The user a login name names, already normalised (`defaultNormalizeAccount`: NFKC, lower case)
   * the way the login throttle keys it: compared as given, so no spelling finds a user under a
   * key of its own (PostgreSQL's lower() folds `İ` to `i`, JavaScript's does not).
   */
  findByLoginName(normalized: string): Promise<UserEntity | null> {
    if (normalized.includes('\u0000')) return Promise.resolve(null); // PostgreSQL text has no NUL
    return this.dataSource
      .getRepository(UserEntity)
      .createQueryBuilder('u')
      .where('lower(u.username) = :normalized', { normalized })
      .getOne();
  }

  /**
   * One primary-key read in plain SQL: it runs on every authenticated request (GET /me), where
   * the query builder cost more than the query itself.
   */
  async findById(id: string): Promise<UserEntity | null> {
    if (!UUID.test(id)) return null;
    const [row] = (await this.dataSource.query(
      `SELECT id, username, password_hash AS "passwordHash", role, status,
              created_at AS "createdAt", updated_at AS "updatedAt"
         FROM users WHERE id = $1`,
      [id],
    )) as UserEntity[];
    return row ? Object.assign(new UserEntity(), row) : null;
  }
}
