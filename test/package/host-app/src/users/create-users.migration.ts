import { type MigrationInterface, type QueryRunner } from 'typeorm';

/** The host's own users table: its schema, its integer ids. */
export class CreateUsers1700000000000 implements MigrationInterface {
  name = 'CreateUsers1700000000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE users (
        id            serial PRIMARY KEY,
        username      text   NOT NULL UNIQUE,
        password_hash text   NOT NULL,
        role          text   NOT NULL DEFAULT 'user'
      )`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE users`);
  }
}
