import { type MigrationInterface, type QueryRunner } from 'typeorm';

/** Tokens issued by admins to other systems (scopes audit:write, audit:read), revocable. */
export class CreateServiceTokens1764100002000 implements MigrationInterface {
  name = 'CreateServiceTokens1764100002000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE service_tokens (
        id          uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
        name        text        NOT NULL CHECK (name ~ '^[A-Za-z0-9 ._:-]{1,64}$'),
        scopes      text[]      NOT NULL,
        created_by  uuid        NOT NULL REFERENCES users (id),
        created_at  timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now()),
        expires_at  timestamptz NOT NULL,
        revoked_at  timestamptz,
        revoked_by  uuid        REFERENCES users (id)
      )`);
    await db.query(
      `CREATE INDEX service_tokens_created_idx ON service_tokens (created_at DESC, id DESC)`,
    );
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE service_tokens`);
  }
}
