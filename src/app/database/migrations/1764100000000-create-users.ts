import { type MigrationInterface, type QueryRunner } from 'typeorm';

/** Users of the reference service: case-insensitive unique names, argon2id hashes, a role. */
export class CreateUsers1764100000000 implements MigrationInterface {
  name = 'CreateUsers1764100000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE users (
        id            uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
        username      text        NOT NULL CHECK (username ~ '^[A-Za-z0-9._-]{3,64}$'),
        password_hash text        NOT NULL,
        role          text        NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'auditor', 'admin')),
        status        text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
        created_at    timestamptz NOT NULL DEFAULT now(),
        updated_at    timestamptz NOT NULL DEFAULT now()
      )`);
    // The unique index, not a prior SELECT, is what makes two racing registrations yield one 409.
    await db.query(`CREATE UNIQUE INDEX users_username_lower_key ON users (lower(username))`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE users`);
  }
}
